"""The digest on Slack, end to end: ``/digest`` through the real bolt app behind its HTTP route
(signed requests), and the digest itself posted through slack_sdk to the local fake Web API —
the assertions are on what went over the wire."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from bot.digest.scheduler import DigestScheduler
from bot.service import AnswerService
from bot.settings import Settings
from bot.slack.app import build_app
from bot.slack.digest import SlackPoster
from bot.slack.http import add_slack_routes
from bot.state import QuestionRecord, StateStore
from bot.web import make_web_app
from index.keypoints import key_points
from tests.fakes.slack_api import FakeSlackWebAPI, sign_request, slash_command_form, validate_blocks

SECRET = "test-signing-secret"
TOKEN = "xoxb-test"
UTC = UTC
ARTICLE = "ft-xi-central-asia-2023"
ZWSP = "\u200b"


class Slack:
    def __init__(self, fake: FakeSlackWebAPI, http: TestClient, state: StateStore, app):
        self.fake, self.http, self.state, self.app = fake, http, state, app
        self._replies = 0

    async def digest(self, text: str, *, user: str = "UBOSS", channel: str = "C1") -> dict:
        """Run ``/digest text``; the reply sent to the command's response URL."""
        body = slash_command_form("/digest", text, user, channel, self.fake.response_url())
        response = await self.http.post(
            "/slack/events", data=body, headers=sign_request(body, SECRET)
        )
        assert response.status == 200, await response.text()
        self._replies += 1
        return (await self.fake.wait_for("response_url", self._replies))[-1]


def texts(message: dict) -> str:
    parts = [message.get("text") or ""]
    for block in message.get("blocks") or []:
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        parts += [e["text"] for e in block.get("elements", []) if isinstance(e.get("text"), str)]
    return "\n".join(parts)


@pytest.fixture
def fake():
    with FakeSlackWebAPI(token=TOKEN) as server:
        yield server


@pytest.fixture
def state(tmp_path):
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield store
    store.close()


@pytest_asyncio.fixture
async def slack(fake, fake_index, state, isolated_home):
    settings = Settings(
        home=isolated_home,
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=fake.base_url,
        admin_ids=["UBOSS"],
    )
    app = build_app(settings, AnswerService(fake_index, state))
    web_app = make_web_app(lambda: True)
    add_slack_routes(web_app, app)
    http = TestClient(TestServer(web_app))
    await http.start_server()
    yield Slack(fake, http, state, app)
    await http.close()


# --- /digest on | off | status ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_an_admin_switches_the_digest_on_at_0900_london(slack):
    reply = await slack.digest("on 09:00 Europe/London")

    settings = slack.state.digest_settings("slack", "C1")
    assert (settings.enabled, settings.at_time, settings.timezone, settings.post_empty) == (
        True,
        "09:00",
        "Europe/London",
        False,
    )
    assert reply["response_type"] == "ephemeral"
    assert "every day at *09:00 Europe/London*" in texts(reply)
    assert "<!date^" in texts(reply)  # the next run, shown in each reader's own time zone

    status = await slack.digest("", user="U2")  # anyone may ask for the status
    assert "The daily digest is on in this channel" in texts(status)

    off = await slack.digest("off")
    assert "the daily digest is off" in texts(off)
    assert not slack.state.digest_settings("slack", "C1").enabled
    assert "The daily digest is off in this channel" in texts(await slack.digest("status"))


@pytest.mark.asyncio
async def test_a_workspace_admin_without_a_zone_gets_their_own(slack):
    slack.fake.set_user("UADMIN", is_admin=True, tz="America/New_York")
    reply = await slack.digest("on 7:30 always", user="UADMIN")
    settings = slack.state.digest_settings("slack", "C1")
    assert (settings.at_time, settings.timezone, settings.post_empty) == (
        "07:30",
        "America/New_York",
        True,
    )
    assert "07:30 America/New_York" in texts(reply) and "even on days with nothing new" in texts(
        reply
    )


@pytest.mark.asyncio
async def test_a_non_admin_is_refused_and_nothing_is_stored(slack):
    for sub in ("on 09:00 Europe/London", "now", "preview", "off"):
        reply = await slack.digest(sub, user="U2")
        assert "Only workspace admins and owners" in texts(reply)
    assert slack.state.digest_settings("slack", "C1") is None
    assert [b["user"] for b in slack.fake.calls("users.info")] == ["U2"] * 4
    assert slack.fake.calls("chat.postMessage") == []
    assert "not set up yet" in texts(await slack.digest("", user="U2"))


@pytest.mark.asyncio
async def test_mistakes_are_explained(slack):
    assert "Mars/Olympus is not a time zone" in texts(await slack.digest("on 09:00 Mars/Olympus"))
    assert "25:00 is not a time of day" in texts(await slack.digest("on 25:00 UTC"))
    unknown = texts(await slack.digest("weekly <!channel>"))
    assert "/digest weekly" in unknown and "<!channel>" not in unknown
    assert "posted to channels" in texts(await slack.digest("on", channel="D1"))
    assert slack.state.digest_settings("slack", "C1") is None


# --- preview and now -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_preview_is_private_and_now_posts_to_the_channel(slack):
    preview = await slack.digest("preview")
    assert preview["response_type"] == "ephemeral" and validate_blocks(preview["blocks"]) == []
    assert preview["blocks"][0]["type"] == "header"
    assert "Xi Jinping pushes Central Asian defence co-operation plan" in texts(preview)
    assert (
        slack.fake.calls("chat.postMessage") == [] and slack.state.digest_runs("slack", "C1") == []
    )

    reply = await slack.digest("now")
    assert "Posted the digest" in texts(reply)
    [post] = slack.fake.calls("chat.postMessage", ok_only=True)
    assert post["channel"] == "C1" and post["unfurl_links"] is False
    assert post["blocks"][1:] == preview["blocks"][1:]  # the same digest (the header has the date)
    [run] = slack.state.digest_runs("slack", "C1")
    assert (run["kind"], run["status"], run["message"]) == (
        "manual",
        "posted",
        slack.fake.posted_messages("C1")[0]["ts"],
    )


# --- the scheduled digest over the wire ---------------------------------------------------------


@pytest.mark.asyncio
async def test_the_digest_is_posted_at_the_configured_time_with_exact_key_points_and_no_pings(
    slack, fake_index
):
    await slack.digest("on 09:00 Europe/London")
    # Summer: 09:00 in London is 08:00 UTC. Questions asked before the digest, one mischievous.
    nine = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    for text, answered in (
        ("How much did Xi pledge?", True),
        ("how much did Xi pledge", True),
        ("@channel @here who is <@U999>? & more", False),
    ):
        slack.state.record_question(
            QuestionRecord(
                "slack", "C1", "U1", text, answered, "Rmb26bn ($3.7bn)" if answered else ""
            ),
            at=nine - timedelta(hours=3),
        )
    clock = [nine - timedelta(minutes=1)]
    scheduler = DigestScheduler(
        service=AnswerService(fake_index, slack.state),
        platforms={"slack": SlackPoster(slack.app.client)},
        clock=lambda: clock[0],
    )
    # The switch-on happened "now" (real time); the schedule counts from it, so move it back.
    slack.state.set_digest(
        "slack",
        "C1",
        enabled=True,
        at_time="09:00",
        timezone_name="Europe/London",
        at=nine - timedelta(days=1),
    )

    assert await scheduler.refresh() == []  # 08:59 in London: not yet
    clock[0] = nine
    [result] = await scheduler.refresh()
    assert (result.status, result.slot) == ("posted", "2026-07-01")
    clock[0] = nine + timedelta(minutes=5)
    assert await scheduler.refresh() == []

    [post] = slack.fake.calls("chat.postMessage", ok_only=True)
    assert post["channel"] == "C1" and validate_blocks(post["blocks"]) == []
    assert post["blocks"][0]["text"]["text"] == "📰 CiteBot digest · Wednesday 1 July 2026"
    shown = texts(post)
    snapshot = fake_index.snapshot()
    for point in key_points(
        snapshot, ARTICLE
    ):  # each exactly as in the article, then its paragraph
        sentence = html.escape(point.text, quote=False)
        after = shown[shown.index(sentence) + len(sentence) :]
        assert after.removeprefix("”").startswith(f" _(paragraph {point.paragraph})_")
    assert "• “How much did Xi pledge?” ×2 — Rmb26bn ($3.7bn)" in shown
    # Echoed questions ping no one: no Slack markup survives, bare @names are broken.
    assert f"@{ZWSP}channel @{ZWSP}here who is &lt;@{ZWSP}U999&gt;? &amp; more" in shown
    assert "<!" not in shown and "<@" not in shown
    assert "*Not answered* (1)" in shown
