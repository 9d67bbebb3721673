"""The digest on Discord, end to end: discord.py's real bot and app-command tree against the
local fake Discord (REST + gateway); the assertions are on what went over the wire."""

from __future__ import annotations

import asyncio
import contextlib
import re
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

import bot.digest.scheduler as scheduler_module
from bot.digest.scheduler import DigestScheduler
from bot.discord.bot import CiteBot, endpoints
from bot.discord.digest import DiscordPoster
from bot.service import AnswerService
from bot.settings import Settings
from bot.state import QuestionRecord, StateStore
from index.keypoints import key_points
from tests.fakes.discord_server import DEFAULT_TOKEN, FakeDiscord, running_client

UTC = UTC
EPHEMERAL = 64
NO_PINGS = {"parse": []}
CALLBACK = re.compile(r"/interactions/\d+/[^/]+/callback")
ORIGINAL = re.compile(r"/webhooks/\d+/[^/]+/messages/@original")
ARTICLE = "ft-xi-central-asia-2023"
NINE_LONDON_SUMMER = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


class QuickBot(CiteBot):
    async def before_identify_hook(self, shard_id, *, initial=False):
        return  # discord.py waits 5 s between shards' IDENTIFY; the fake needs no pause


@pytest.fixture
def state(tmp_path):
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield store
    store.close()


@pytest_asyncio.fixture
async def fake():
    async with FakeDiscord(token=DEFAULT_TOKEN, allowed_privileged_intents=0) as server:
        yield server


@pytest.fixture
def bob(fake):
    """A member of the server with no Manage Server permission."""
    user = fake.add_user("bob")
    fake.add_member(fake.guild_id, user)
    return user


@pytest.fixture
def settings(fake):
    return Settings(
        DISCORD_TOKEN=DEFAULT_TOKEN,
        DISCORD_API_URL=fake.rest_base,
        DISCORD_GATEWAY_URL=fake.gateway_url,
    )


@contextlib.asynccontextmanager
async def running(settings, service, before_start=None):
    with endpoints(settings):
        bot = QuickBot(service, settings=settings, guild_ready_timeout=0.3)
        if before_start is not None:
            before_start(bot)
        async with running_client(bot, DEFAULT_TOKEN):
            yield bot


@pytest_asyncio.fixture
async def bot(settings, fake_index, state):
    async with running(settings, AnswerService(fake_index, state)) as started:
        yield started


async def digest(fake, sub, options=None, **kwargs):
    option = {"type": 1, "name": sub}
    if options:
        option["options"] = [
            {"type": 5 if isinstance(v, bool) else 3, "name": k, "value": v}
            for k, v in options.items()
        ]
    payload = fake.interaction_create_slash("digest", [option], **kwargs)
    await fake.dispatch("INTERACTION_CREATE", payload)
    return payload


async def callback_for(fake, payload):
    for _ in range(3):
        found = [r for r in await fake.wait_for("POST", CALLBACK) if payload["token"] in r.path]
        if found:
            return found[0].json
        await fake.wait_for("POST", CALLBACK, count=len(fake.calls("POST", CALLBACK)) + 1)
    raise AssertionError("no callback for the interaction")


async def edited(fake, payload):
    for _ in range(5):
        found = [r for r in fake.calls("PATCH", ORIGINAL) if payload["token"] in r.path]
        if found:
            return found[0].json
        await fake.wait_for("PATCH", ORIGINAL, count=len(fake.calls("PATCH", ORIGINAL)) + 1)
    raise AssertionError("no edit of the original response")


def channel_posts(fake):
    return fake.calls("POST", f"/channels/{fake.text_channel_id}/messages")


# --- /digest on | off | status ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_server_owner_switches_the_digest_on_at_0900_london(fake, bot, state):
    payload = await digest(fake, "on", {"time": "09:00", "timezone": "Europe/London"})
    reply = await callback_for(fake, payload)

    assert reply["type"] == 4 and reply["data"]["flags"] == EPHEMERAL
    assert "every day at **09:00 Europe/London**" in reply["data"]["content"]
    assert re.search(r"<t:\d+:f>", reply["data"]["content"])  # shown in each reader's zone
    assert reply["data"]["allowed_mentions"] == NO_PINGS
    settings = state.digest_settings("discord", str(fake.text_channel_id))
    assert (settings.enabled, settings.at_time, settings.timezone) == (
        True,
        "09:00",
        "Europe/London",
    )

    status = await callback_for(fake, await digest(fake, "status"))
    assert "The daily digest is on in this channel" in status["data"]["content"]
    off = await callback_for(fake, await digest(fake, "off"))
    assert "the daily digest is off" in off["data"]["content"]
    assert not state.digest_settings("discord", str(fake.text_channel_id)).enabled


@pytest.mark.asyncio
async def test_a_member_without_manage_server_is_refused(fake, bot, bob, state):
    for sub, options in (
        ("on", {"time": "09:00", "timezone": "Europe/London"}),
        ("now", None),
        ("preview", None),
        ("off", None),
    ):
        reply = await callback_for(fake, await digest(fake, sub, options, user=bob))
        assert reply["data"]["flags"] == EPHEMERAL
        assert "Only members with the **Manage Server** permission" in reply["data"]["content"]
    assert state.digest_settings("discord", str(fake.text_channel_id)) is None
    assert channel_posts(fake) == []
    status = await callback_for(fake, await digest(fake, "status", user=bob))
    assert "not set up yet" in status["data"]["content"]


@pytest.mark.asyncio
async def test_an_admin_id_may_without_the_permission(fake, bob, settings, fake_index, state):
    settings = settings.model_copy(update={"admin_ids": [bob["id"]]})
    async with running(settings, AnswerService(fake_index, state)):
        reply = await callback_for(
            fake, await digest(fake, "on", {"time": "7pm", "timezone": "utc"}, user=bob)
        )
    assert "every day at **19:00 UTC**" in reply["data"]["content"]


@pytest.mark.asyncio
async def test_bad_input_is_explained_and_time_zones_are_suggested(fake, bot, state):
    reply = await callback_for(
        fake, await digest(fake, "on", {"time": "09:00", "timezone": "Mars/Olympus"})
    )
    assert "Mars/Olympus is not a time zone" in reply["data"]["content"]
    assert state.digest_settings("discord", str(fake.text_channel_id)) is None

    typing = fake.interaction_create_slash(
        "digest",
        [
            {
                "type": 1,
                "name": "on",
                "options": [{"type": 3, "name": "timezone", "value": "new_y", "focused": True}],
            }
        ],
        type=4,
    )
    await fake.dispatch("INTERACTION_CREATE", typing)
    suggestions = await callback_for(fake, typing)
    assert suggestions["type"] == 8
    assert {"name": "America/New_York", "value": "America/New_York"} in suggestions["data"][
        "choices"
    ]


# --- now, preview, and the schedule --------------------------------------------------------------


@pytest.mark.asyncio
async def test_now_posts_the_digest_to_the_channel_without_pinging_anyone(
    fake, bot, state, fake_index
):
    channel = str(fake.text_channel_id)
    state.record_question(
        QuestionRecord(
            "discord", channel, "1", "@everyone <@&112233445566778899> what is in Xi'an?", False, ""
        )
    )
    payload = await digest(fake, "now")
    assert (await callback_for(fake, payload))["type"] == 5  # "thinking…", privately
    assert "Posted the digest" in (await edited(fake, payload))["content"]

    [post] = channel_posts(fake)
    assert post.status == 200 and post.json["allowed_mentions"] == NO_PINGS
    [embed] = post.json["embeds"]
    assert embed["title"].startswith("📰 CiteBot digest · ")
    for point in key_points(fake_index.snapshot(), ARTICLE):
        assert f"*(paragraph {point.paragraph})*" in embed["description"]
    [unanswered] = [f for f in embed["fields"] if f["name"].startswith("Not answered")]
    assert "@\u200beveryone" in unanswered["value"] and "what is in Xi'an?" in unanswered["value"]
    assert (
        "@everyone" not in unanswered["value"]
        and "<@&112233445566778899>" not in unanswered["value"]
    )
    assert post.response["mentions"] == [] and post.response["mention_roles"] == []
    [run] = state.digest_runs("discord", channel)
    assert (run["status"], run["message"]) == ("posted", post.response["id"])


@pytest.mark.asyncio
async def test_preview_is_only_for_the_admin(fake, bot, state):
    payload = await digest(fake, "preview")
    callback = await callback_for(fake, payload)
    assert callback["type"] == 5 and callback["data"]["flags"] == EPHEMERAL
    preview = await edited(fake, payload)
    assert "only you can see this" in preview["content"]
    assert (
        "Xi Jinping pushes Central Asian defence co-operation plan"
        in preview["embeds"][0]["description"]
    )
    assert (
        channel_posts(fake) == [] and state.digest_runs("discord", str(fake.text_channel_id)) == []
    )


@pytest.mark.asyncio
async def test_the_bots_scheduler_posts_at_the_configured_time_once_and_stops_with_the_bot(
    fake, settings, fake_index, state, monkeypatch
):
    # The scheduler's first look runs as it starts: fix "now" before it, or between 09:00 and
    # 15:00 London time the real clock catches up today's run first and the test's slot is empty.
    monkeypatch.setattr(
        scheduler_module, "utc_now", lambda: NINE_LONDON_SUMMER - timedelta(seconds=1)
    )
    channel = str(fake.text_channel_id)
    state.set_digest(
        "discord",
        channel,
        enabled=True,
        at_time="09:00",
        timezone_name="Europe/London",
        at=NINE_LONDON_SUMMER - timedelta(days=1),
    )
    service = AnswerService(fake_index, state)
    async with running(settings, service) as started:
        # As `citebot serve` does: the bot's poster, handed to the one scheduler.
        scheduler = DigestScheduler(
            service=service, platforms={"discord": DiscordPoster(started)}
        )
        async with scheduler:
            assert scheduler is not None and scheduler.running
            # Its first look, made as it starts, has read the clock once the channel's job is
            # set: only then is moving the clock on the test's alone.
            for _ in range(500):
                if ("discord", channel) in scheduler.next_runs():
                    break
                await asyncio.sleep(0.01)
            scheduler.clock = lambda: NINE_LONDON_SUMMER - timedelta(seconds=1)
            assert await scheduler.refresh() == []
            scheduler.clock = lambda: NINE_LONDON_SUMMER
            [result] = await scheduler.refresh()
            assert (result.status, result.slot) == ("posted", "2026-07-01")
            assert await scheduler.refresh() == []
            assert ("discord", channel) in scheduler.next_runs()
    assert not scheduler.running
    [post] = channel_posts(fake)
    assert post.json["embeds"][0]["title"] == "📰 CiteBot digest · Wednesday 1 July 2026"


@pytest.mark.asyncio
async def test_a_scheduler_given_the_bot_by_citebot_serve_is_the_only_one(
    fake, settings, fake_index, state
):
    service = AnswerService(fake_index, state)
    outside: list[DigestScheduler] = []

    def hand_to_serve(bot):  # what bot.serve's digest hook builds before the bot logs in
        outside.append(DigestScheduler(service=service, platforms={"discord": DiscordPoster(bot)}))

    async with running(settings, service, before_start=hand_to_serve) as started:
        # The /digest cog keeps no scheduler of its own: serve's is the only one.
        cog = started.get_cog("Digest")
        assert not any(isinstance(value, DigestScheduler) for value in vars(cog).values())
        result = await outside[0].runner.send_now("discord", str(fake.text_channel_id))
        assert result.status == "posted"
    assert len(channel_posts(fake)) == 1
