"""CiteBot on Discord, end to end: discord.py's real AutoShardedBot, cogs, app-command tree and
views talk to a local fake Discord (REST + gateway); the tests assert on what went over the wire
and on what the state store kept."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from bot.discord.bot import CiteBot, endpoints
from bot.discord.render import DESCRIPTION_LIMIT, EMBEDS_TOTAL_LIMIT, MAX_FIELDS
from bot.service import AnswerService
from bot.settings import Settings
from bot.state import StateStore
from index.embedders import HashingEmbedder
from index.engine import CiteIndex
from tests.conftest import CORPUS
from tests.fakes.discord_server import DEFAULT_TOKEN, FakeDiscord, Intents, running_client

MESSAGES = re.compile(r"/channels/\d+/messages")
CALLBACK = re.compile(r"/interactions/\d+/[^/]+/callback")
ORIGINAL = re.compile(r"/webhooks/\d+/[^/]+/messages/@original")
FOLLOWUP = re.compile(r"/webhooks/\d+/[^/]+")
VOTE = re.compile(r"citebot:vote:(up|down):(\d+)")
NO_PINGS = {"parse": [], "replied_user": False}  # what a reply sends
NO_PINGS_FROM_WEBHOOK = {"parse": []}  # interaction responses: there is no replied user


def pings_nobody(allowed_mentions) -> bool:
    return allowed_mentions in (NO_PINGS, NO_PINGS_FROM_WEBHOOK)


EPHEMERAL = 64

PLEDGE = "Rmb26bn financing support"  # paragraph 6 of the bundled article
PLEDGE_QUOTE = "Beijing would provide Rmb26bn ($3.7bn)"


class QuickBot(CiteBot):
    async def before_identify_hook(self, shard_id, *, initial=False):
        return  # discord.py sleeps 5 s before each extra shard's IDENTIFY; Discord allows it here


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_index(tmp_path_factory):
    """The fake_index recipe (bundled article, HashingEmbedder), built once for this module:
    these tests exercise the adapter, and asking never changes the index."""
    index = CiteIndex(
        tmp_path_factory.mktemp("discord-index"), embedder=HashingEmbedder(), corpus=CORPUS
    )
    index.warm_up()
    return index


@pytest.fixture
def state(tmp_path):
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield store
    store.close()


@pytest.fixture
def service(shared_index, state):
    return AnswerService(shared_index, state)


@pytest_asyncio.fixture
async def fake():
    # No privileged intent is enabled "in the developer portal": CiteBot must run without one.
    async with FakeDiscord(token=DEFAULT_TOKEN, allowed_privileged_intents=0) as server:
        yield server


@pytest.fixture
def settings(fake):
    return Settings(
        DISCORD_TOKEN=DEFAULT_TOKEN,
        DISCORD_API_URL=fake.rest_base,
        DISCORD_GATEWAY_URL=fake.gateway_url,
    )


@contextlib.asynccontextmanager
async def citebot(settings, service):
    with endpoints(settings):
        bot = QuickBot(service, settings=settings, guild_ready_timeout=0.3)
        async with running_client(bot, settings.discord_token.get_secret_value()):
            yield bot


@pytest_asyncio.fixture
async def bot(settings, service):
    async with citebot(settings, service) as running:
        yield running


async def slash(fake, name, options=None, **kwargs):
    payload = fake.interaction_create_slash(name, options, **kwargs)
    await fake.dispatch("INTERACTION_CREATE", payload)
    return payload


def for_token(requests, payload):
    return [r for r in requests if payload["token"] in r.path]


async def answered(fake, payload):
    """The callback and the PATCH of @original for one deferred interaction."""
    [callback] = for_token(await fake.wait_for("POST", CALLBACK), payload)
    for _ in range(500):
        edits = for_token(fake.calls("PATCH", ORIGINAL), payload)
        if edits:
            return callback, edits[0]
        await asyncio.sleep(0.01)
    raise AssertionError(f"no PATCH @original; saw {[str(r) for r in fake.requests]}")


def custom_ids(components):
    return [c["custom_id"] for row in components for c in row["components"]]


def question_id_of(components):
    ids = {int(VOTE.fullmatch(cid).group(2)) for cid in custom_ids(components)}
    [question_id] = ids
    return question_id


# --- slash commands -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_ask_defers_then_edits_the_original_response_with_the_cited_answer(fake, bot, state):
    payload = await slash(fake, "ask", {"question": PLEDGE})
    callback, edit = await answered(fake, payload)

    assert (
        callback.json["type"] == 5
        and not (callback.json.get("data") or {}).get("flags", 0) & EPHEMERAL
    )
    assert callback.at < edit.at and edit.status == 200
    [embed] = edit.json["embeds"]
    assert embed["title"] == PLEDGE
    assert PLEDGE_QUOTE in embed["description"]
    assert (
        "Xi Jinping pushes Central Asian defence co-operation plan*, paragraph 6"
        in embed["description"]
    )
    assert edit.json["allowed_mentions"] == NO_PINGS_FROM_WEBHOOK
    question_id = question_id_of(edit.json["components"])
    assert sorted(custom_ids(edit.json["components"])) == [
        f"citebot:vote:down:{question_id}",
        f"citebot:vote:up:{question_id}",
    ]
    record = state.question(question_id)
    assert record["question"] == PLEDGE and record["paragraph"] == 6 and record["answered"]
    assert record["platform"] == "discord" and record["channel"] == str(fake.text_channel_id)
    assert record["thread"] == payload["id"]
    # The "thinking…" message became the answer, visible to the channel.
    assert not edit.response["flags"] & EPHEMERAL and not edit.response["flags"] & 128


@pytest.mark.asyncio
async def test_ask_private_answers_ephemerally(fake, bot):
    payload = await slash(fake, "ask", {"question": PLEDGE, "private": True})
    callback, edit = await answered(fake, payload)
    assert callback.json["type"] == 5 and callback.json["data"]["flags"] == EPHEMERAL
    assert edit.response["flags"] & EPHEMERAL
    assert PLEDGE_QUOTE in edit.json["embeds"][0]["description"]
    # Ephemeral messages are never echoed to the channel over the gateway.
    assert not [d for d in fake.dispatched if d["t"] == "MESSAGE_CREATE"]


@pytest.mark.asyncio
async def test_a_question_outside_the_documents_says_so_with_the_closest_passage(fake, bot):
    payload = await slash(fake, "ask", {"question": "what is the capital of Peru volcano recipe"})
    _, edit = await answered(fake, payload)
    description = edit.json["embeds"][0]["description"]
    assert description.startswith("That isn't in the documents.")
    assert (
        "Closest passage, which does not answer it:" in description and "paragraph " in description
    )


@pytest.mark.asyncio
async def test_help_sources_and_digest(fake, bot):
    for name in ("help", "sources", "digest"):
        await slash(fake, name, [{"type": 1, "name": "status"}] if name == "digest" else None)
    callbacks = await fake.wait_for("POST", CALLBACK, count=3)
    by_name = {fake.interactions[int(c.path.split("/")[2])].command_name: c.json for c in callbacks}

    assert all(
        body["type"] == 4 and body["data"]["flags"] == EPHEMERAL for body in by_name.values()
    )
    assert "/ask question:" in by_name["help"]["data"]["embeds"][0]["description"]
    sources = by_name["sources"]["data"]["embeds"][0]["description"]
    assert "**1 document** indexed" in sources
    assert "Xi Jinping pushes Central Asian defence co-operation plan" in sources
    assert "not set up yet" in by_name["digest"]["data"]["content"]
    assert all(
        body["data"]["allowed_mentions"] == NO_PINGS_FROM_WEBHOOK for body in by_name.values()
    )


# --- messages -------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_mention_is_answered_as_a_reply_without_pinging(fake, bot):
    sent = await fake.send_message(f"<@{fake.bot_id}> {PLEDGE}")
    [reply] = await fake.wait_for("POST", MESSAGES)

    assert reply.path == f"/channels/{fake.text_channel_id}/messages" and reply.status == 200
    assert reply.json["message_reference"]["message_id"] == int(sent["id"])
    assert reply.json["message_reference"]["fail_if_not_exists"] is False
    assert reply.json["allowed_mentions"] == NO_PINGS
    [embed] = reply.json["embeds"]
    assert embed["title"] == PLEDGE  # the mention itself is not part of the question
    assert PLEDGE_QUOTE in embed["description"]
    assert reply.response["mentions"] == [] and reply.response["type"] == 19
    assert question_id_of(reply.json["components"])


@pytest.mark.asyncio
async def test_messages_not_addressed_to_citebot_are_left_alone(fake, bot):
    other = fake.add_user("bob")
    await fake.send_message(f"<@{other['id']}> {PLEDGE}")
    await fake.send_message(PLEDGE, author=fake.bot_user)  # its own echo
    await fake.send_message(f"<@{fake.bot_id}> {PLEDGE}")  # the only one to answer
    [reply] = await fake.wait_for("POST", MESSAGES)
    await asyncio.sleep(0.2)
    assert len(fake.calls("POST", MESSAGES)) == 1 and reply.json["embeds"][0]["title"] == PLEDGE


@pytest.mark.asyncio
async def test_a_reply_to_an_answer_is_asked_with_the_earlier_question_as_context(fake, bot, state):
    first = await fake.send_message(f"<@{fake.bot_id}> Tajikistan Afghanistan border")
    [answer] = await fake.wait_for("POST", MESSAGES)

    # A reply with its ping on (Discord lists the replied-to author in mentions).
    follow = await fake.send_message(
        "and why?",
        referenced_message=fake.messages[int(answer.response["id"])],
        mentions=[fake.bot_user],
    )
    second = (await fake.wait_for("POST", MESSAGES, count=2))[1]
    assert second.json["message_reference"]["message_id"] == int(follow["id"])
    assert "paragraph 14" in second.json["embeds"][0]["description"]
    record = state.question(question_id_of(second.json["components"]))
    assert record["question"] == "and why?" and record["thread"] == first["id"]

    # The same words, asked afresh, find something else: the context is what made the difference.
    await fake.send_message(f"<@{fake.bot_id}> and why?")
    fresh = (await fake.wait_for("POST", MESSAGES, count=3))[2]
    assert "paragraph 14" not in fresh.json["embeds"][0]["description"]

    # Deeper in the chain, the conversation is still the first message's.
    await fake.send_message(
        "and why?",
        referenced_message=fake.messages[int(second.response["id"])],
        mentions=[fake.bot_user],
    )
    third = (await fake.wait_for("POST", MESSAGES, count=4))[3]
    assert state.question(question_id_of(third.json["components"]))["thread"] == first["id"]


@pytest.mark.asyncio
async def test_a_reply_without_its_ping_gets_a_hint_when_its_text_is_hidden(fake, bot):
    await fake.send_message(f"<@{fake.bot_id}> {PLEDGE}")
    [answer] = await fake.wait_for("POST", MESSAGES)
    # No Message Content intent and no mention: Discord blanks the text, the reply still arrives.
    await fake.send_message(
        "and when?", referenced_message=fake.messages[int(answer.response["id"])], mentions=[]
    )
    hint = (await fake.wait_for("POST", MESSAGES, count=2))[1]
    assert "mention" in hint.json["content"] and hint.json["embeds"] == []
    assert hint.json["allowed_mentions"] == NO_PINGS


@pytest.mark.asyncio
async def test_a_direct_message_is_answered_in_the_dm(fake, bot):
    sent = await fake.send_message(PLEDGE, channel_id=fake.dm_channel_id)
    [reply] = await fake.wait_for("POST", MESSAGES)
    assert reply.path == f"/channels/{fake.dm_channel_id}/messages"
    assert reply.json["message_reference"]["message_id"] == int(sent["id"])
    assert PLEDGE_QUOTE in reply.json["embeds"][0]["description"]


@pytest.mark.asyncio
async def test_the_message_menu_answers_the_question_in_that_message(fake, bot, state):
    target = fake.message_create(f"Is the {PLEDGE} real?", author=fake.add_user("bob"))
    payload = fake.interaction_create_message_command("Ask CiteBot", target)
    await fake.dispatch("INTERACTION_CREATE", payload)
    callback, edit = await answered(fake, payload)
    assert callback.json["type"] == 5
    assert PLEDGE_QUOTE in edit.json["embeds"][0]["description"]
    record = state.question(question_id_of(edit.json["components"]))
    assert record["thread"] == target["id"] and record["question"] == f"Is the {PLEDGE} real?"


@pytest.mark.asyncio
async def test_user_text_never_pings_and_mention_text_is_neutralised(fake, bot):
    role_id, user_id = fake.snowflake(), fake.user["id"]
    question = f"@everyone @here <@&{role_id}> <@{user_id}> <@!{user_id}> {PLEDGE}"
    await fake.send_message(f"<@{fake.bot_id}> {question}", mention_everyone=True)
    payload = await slash(fake, "ask", {"question": question})
    [reply] = await fake.wait_for("POST", MESSAGES)
    _, edit = await answered(fake, payload)

    for request in (reply, edit):
        assert pings_nobody(request.json["allowed_mentions"])
        wire = json.dumps(request.json, ensure_ascii=False)
        for raw in ("@everyone", "@here", f"<@&{role_id}>", f"<@{user_id}>", f"<@!{user_id}>"):
            assert raw not in wire
        assert "@\u200beveryone" in request.json["embeds"][0]["title"]
        assert request.response["mentions"] == [] and request.response["mention_roles"] == []
        assert request.response["mention_everyone"] is False


# --- feedback -------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_feedback_buttons_still_work_after_a_restart(fake, settings, shared_index, tmp_path):
    database = f"sqlite:///{tmp_path / 'state.db'}"
    first_store = StateStore(database)
    async with citebot(settings, AnswerService(shared_index, first_store)):
        payload = await slash(fake, "ask", {"question": PLEDGE})
        _, edit = await answered(fake, payload)
    first_store.close()
    message_id = int(edit.response["id"])
    question_id = question_id_of(edit.json["components"])

    store = StateStore(database)
    try:
        async with citebot(settings, AnswerService(shared_index, store)):
            assert len(fake.identifies) == 2  # a new process, a new gateway session
            click = fake.interaction_create_component(
                f"citebot:vote:up:{question_id}", message=message_id
            )
            await fake.dispatch("INTERACTION_CREATE", click)
            [response] = for_token(await fake.wait_for("POST", CALLBACK, count=2), click)
            assert response.json["type"] == 4 and response.json["data"]["flags"] == EPHEMERAL
            assert "glad it helped" in response.json["data"]["content"]
            assert store.votes(question_id) == (1, 0)

            # One vote per person per answer: changing one's mind replaces the vote.
            click = fake.interaction_create_component(
                f"citebot:vote:down:{question_id}", message=message_id
            )
            await fake.dispatch("INTERACTION_CREATE", click)
            await fake.wait_for("POST", CALLBACK, count=3)
            assert store.votes(question_id) == (0, 1)

            # Once retention has dropped the record, a click is refused politely, not ignored.
            store.delete_questions_before(datetime.now(UTC) + timedelta(days=1))
            click = fake.interaction_create_component(
                f"citebot:vote:up:{question_id}", message=message_id
            )
            await fake.dispatch("INTERACTION_CREATE", click)
            [refused] = for_token(await fake.wait_for("POST", CALLBACK, count=4), click)
            assert "couldn't record" in refused.json["data"]["content"]
    finally:
        store.close()


# --- delivery -------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_rate_limited_send_is_retried(fake, bot):
    fake.fail_next("POST", MESSAGES, status=429, retry_after=0.2)
    await fake.send_message(f"<@{fake.bot_id}> {PLEDGE}")
    first, second = await fake.wait_for("POST", MESSAGES, count=2)
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.2
    assert first.json == second.json and PLEDGE_QUOTE in second.json["embeds"][0]["description"]


@pytest.mark.asyncio
async def test_a_rejected_send_is_retried_as_text_then_reported(fake, bot, caplog):
    fake.fail_next(
        "POST", MESSAGES, status=400, body={"message": "Invalid Form Body", "code": 50035}
    )
    await fake.send_message(f"<@{fake.bot_id}> {PLEDGE}")
    rejected, plain = await fake.wait_for("POST", MESSAGES, count=2)
    assert (rejected.status, plain.status) == (400, 200)
    assert plain.json["embeds"] == [] and PLEDGE_QUOTE in plain.json["content"]
    assert plain.json["allowed_mentions"] == NO_PINGS and custom_ids(plain.json["components"])

    fake.fail_next(
        "POST",
        MESSAGES,
        status=403,
        times=2,
        body={"message": "Missing Permissions", "code": 50013},
    )
    with caplog.at_level(logging.ERROR, logger="citebot.discord"):
        sent = await fake.send_message(f"<@{fake.bot_id}> {PLEDGE}")
        await fake.wait_for("POST", MESSAGES, count=4)
        for _ in range(100):
            if caplog.records:
                break
            await asyncio.sleep(0.01)
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert (
        f"reply to message {sent['id']}" in record.getMessage()
        and "could not be delivered" in record.getMessage()
    )


@pytest.mark.asyncio
async def test_an_internal_error_gets_a_short_apology(fake, settings, shared_index, state):
    class CrashingEmbedder(HashingEmbedder):
        def embed_query(self, text):
            raise RuntimeError("model crashed")

    broken = CiteIndex(shared_index.home, embedder=CrashingEmbedder(), corpus=CORPUS)
    async with citebot(settings, AnswerService(broken, state)):
        payload = await slash(fake, "ask", {"question": PLEDGE})
        _, edit = await answered(fake, payload)
        await fake.send_message(f"<@{fake.bot_id}> {PLEDGE}")
        [reply] = await fake.wait_for("POST", MESSAGES)
    for body in (edit.json, reply.json):
        assert body["content"].startswith("Sorry — something went wrong") and body["embeds"] == []


@pytest.mark.asyncio
async def test_an_unusable_question_gets_its_reason(fake, bot):
    await fake.send_message(f"<@{fake.bot_id}>")
    await fake.send_message(f"<@{fake.bot_id}> " + "why " * 600)
    usage, too_long = await fake.wait_for("POST", MESSAGES, count=2)
    assert "Ask me a question after the mention" in usage.json["content"]
    assert "2,000" in too_long.json["content"] or "2000" in too_long.json["content"]


# --- limits ---------------------------------------------------------------------------------------


FILLER = " and ".join(
    f"zorblax {w} quintessa"
    for w in ["flurbnik", "gastromel", "plimbus", "wexford", "tronvale", "ysterin"] * 70
)
# One sentence of ~13,000 characters: the quote is that whole sentence.
GIANT = (
    "The Zorblax Foundation said it would provide Rmb99bn in financing to Quintessa, "
    f"as agreed by {FILLER}."
)


@pytest.mark.asyncio
async def test_an_over_long_answer_is_kept_within_discords_limits(
    fake, settings, fake_index, state, tmp_path
):
    document = tmp_path / "giant.md"
    document.write_text(
        f"# Giant Survey\n\n{GIANT}\n\nThe Zorblax Foundation is based in Flurbnik.\n"
    )
    fake_index.add([document])
    # A channel where CiteBot may not embed: the same answer must fit as plain text.
    plain_channel = fake.add_text_channel(fake.guild_id, "no-embeds")
    plain_channel["permission_overwrites"] = [
        {"id": str(fake.guild_id), "type": 0, "allow": "0", "deny": str(1 << 14)}
    ]
    question = "how much financing did the Zorblax Foundation provide to Quintessa?"
    async with citebot(settings, AnswerService(fake_index, state)):
        payload = await slash(fake, "ask", {"question": question})
        _, edit = await answered(fake, payload)
        await fake.send_message(f"<@{fake.bot_id}> {question}", channel_id=int(plain_channel["id"]))
        [reply] = await fake.wait_for("POST", MESSAGES)

    assert edit.status == 200 and reply.status == 200  # the fake enforces Discord's limits too
    [embed] = edit.json["embeds"]
    description, fields = embed["description"], embed.get("fields", [])
    assert len(description) <= DESCRIPTION_LIMIT and len(fields) <= MAX_FIELDS
    total = (
        len(embed["title"])
        + len(description)
        + sum(len(f["name"]) + len(f["value"]) for f in fields)
    )
    assert total <= EMBEDS_TOTAL_LIMIT
    # The quote gave way, not the answer or the source line; it was cut between words (by the
    # index, which quotes at most 400 characters of an over-long sentence, marked with "…").
    assert description.startswith(
        "**Rmb99bn**\n\n> “The Zorblax Foundation said it would provide **Rmb99bn**"
    )
    assert description.endswith("…”\n— *Giant Survey*, paragraph 1")
    # The short answer is bold inside the quote; the words around it are the document's.
    cut = description.split("“", 1)[1].split("…”")[0].replace("**", "")
    assert GIANT.startswith(cut) and GIANT[len(cut)] == " " and len(cut) <= 400

    content = reply.json["content"]
    assert reply.json["embeds"] == [] and len(content) <= 2000
    assert content.startswith("**Rmb99bn**") and content.endswith(
        "…”\n— *Giant Survey*, paragraph 1"
    )


# --- intents and shards ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_no_privileged_intent_and_every_shard_answers(fake, settings, service):
    fake.shard_count = 2
    second = fake.add_guild("Second Guild", owner_id=int(fake.user["id"]), shard=(1, 2))
    channel = fake.add_text_channel(int(second["id"]), "questions")
    async with citebot(settings, service) as running:
        assert sorted(i.shard for i in fake.identifies) == [(0, 2), (1, 2)]
        assert all(i.intents & Intents.PRIVILEGED == 0 for i in fake.identifies)
        assert running.shard_count == 2
        await fake.send_message(f"<@{fake.bot_id}> {PLEDGE}", channel_id=int(channel["id"]))
        [reply] = await fake.wait_for("POST", MESSAGES)
        assert reply.path == f"/channels/{channel['id']}/messages"
        assert next(d["shard"] for d in fake.dispatched if d["t"] == "MESSAGE_CREATE") == 1


@pytest.mark.asyncio
async def test_closing_the_bot_unloads_what_its_cogs_loaded(settings, service):
    async with citebot(settings, service) as running:
        assert set(running.cogs) == {"Ask", "Feedback", "Sources", "Meta", "Digest", "Documents"}
        names = {command.name for command in running.tree.get_commands()}
        assert names == {
            "ask", "sources", "help", "digest", "Ask CiteBot", "add", "forget", "collection"
        }
    assert running.is_closed() and not running.cogs and not running.tree.get_commands()
