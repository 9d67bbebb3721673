"""CiteBot installed to a person's account on Discord: ``/ask`` and ``/sources`` used in a server
CiteBot is not a member of are answered as the interaction's own reply, from the DM collections
only — never from a collection bound to a channel. discord.py's real bot and app-command tree
talk to the local fake Discord; the tests read the interaction callback and the edit of the
original response as they went over the wire."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import pytest_asyncio

from bot.discord.bot import CiteBot, endpoints
from bot.service import AnswerService
from bot.settings import Settings
from bot.state import StateStore
from index.embedders import HashingEmbedder
from index.engine import CiteIndex
from tests.chat_documents import LIGHTHOUSE
from tests.conftest import CORPUS
from tests.fakes.discord_server import DEFAULT_TOKEN, FakeDiscord, running_client
from tests.fakes.discord_user_install import foreign_guild, user_install_slash
from tests.test_discord_bot import (
    CALLBACK,
    EPHEMERAL,
    MESSAGES,
    NO_PINGS_FROM_WEBHOOK,
    ORIGINAL,
    PLEDGE,
    for_token,
    question_id_of,
)

LIGHTHOUSE_TITLE = "The Tern Point lighthouse"
ARTICLE_TITLE = "Xi Jinping pushes Central Asian defence co-operation plan"
KETTLE = "# Office kettle rules\n\nDescale the office kettle every Friday with citric acid.\n"
LIGHTHOUSE_QUESTION = "Who built the Tern Point lighthouse?"


class QuickBot(CiteBot):
    async def before_identify_hook(self, shard_id, *, initial=False):
        return


@pytest.fixture
def index(tmp_path):
    # The heuristic reader: which documents answer is the point here, not the reader.
    index = CiteIndex(tmp_path / "home", embedder=HashingEmbedder(), corpus=CORPUS, reader=None)
    index.warm_up()
    index.add_bytes(
        LIGHTHOUSE.encode(), name="lighthouse.md", source="lighthouse.md", collection="lighthouse"
    )
    index.add_bytes(KETTLE.encode(), name="kettle.md", source="kettle.md", collection="handbook")
    return index


@pytest.fixture
def state(tmp_path):
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield store
    store.close()


@pytest_asyncio.fixture
async def fake():
    # Discord sends a bot no events about a server it is not in, its own replies there included.
    async with FakeDiscord(
        token=DEFAULT_TOKEN, allowed_privileged_intents=0, echo_own_messages=False
    ) as server:
        yield server


@pytest_asyncio.fixture
async def bot(fake, index, state):
    settings = Settings(
        DISCORD_TOKEN=DEFAULT_TOKEN,
        DISCORD_API_URL=fake.rest_base,
        DISCORD_GATEWAY_URL=fake.gateway_url,
    )
    service = AnswerService(index, state)
    service.dm_collections = ("handbook",)  # what CITEBOT_DM_COLLECTIONS=handbook sets
    with endpoints(settings):
        running = QuickBot(service, settings=settings, guild_ready_timeout=0.3)
        async with running_client(running, DEFAULT_TOKEN):
            yield running


@contextlib.contextmanager
def nothing_else_sent(fake):
    """No message may go to a channel directly: only the interaction's own reply can reach it."""
    before = len(fake.calls("POST", MESSAGES))
    yield
    assert len(fake.calls("POST", MESSAGES)) == before


async def answered(fake, payload):
    """The callback and the PATCH of @original for this interaction (others may be in flight)."""
    for _ in range(1000):
        callbacks = for_token(fake.calls("POST", CALLBACK), payload)
        edits = for_token(fake.calls("PATCH", ORIGINAL), payload)
        if callbacks and edits:
            return callbacks[0], edits[0]
        await asyncio.sleep(0.01)
    raise AssertionError(f"no answer; saw {[str(r) for r in fake.requests]}")


def shown(edit) -> str:
    embeds = edit.json.get("embeds") or []
    return " ".join([edit.json.get("content") or ""] + [e.get("description", "") for e in embeds])


@pytest.mark.asyncio
async def test_ask_in_a_server_citebot_is_not_in_answers_from_the_dm_collections_only(
    fake, bot, state
):
    guild_id, channel_id = foreign_guild(fake)
    # A binding for that channel (say, from when CiteBot was still a member there) and one for a
    # channel of CiteBot's own server: neither may answer a user install used there.
    state.bind_collection("discord", str(channel_id), "lighthouse")
    state.bind_collection("discord", str(fake.text_channel_id), "lighthouse")
    assert bot.get_guild(guild_id) is None and bot.get_guild(fake.guild_id) is not None

    with nothing_else_sent(fake):
        asked = {}
        for question in (LIGHTHOUSE_QUESTION, PLEDGE, "When is the office kettle descaled?"):
            payload = user_install_slash(
                fake, "ask", {"question": question}, guild_id=guild_id, channel_id=channel_id
            )
            await fake.dispatch("INTERACTION_CREATE", payload)
            asked[question] = await answered(fake, payload)

    for question, (callback, edit) in asked.items():
        # The interaction's own reply: deferred, then the "thinking…" message edited in place.
        assert callback.json["type"] == 5 and edit.status == 200
        assert edit.json["allowed_mentions"] == NO_PINGS_FROM_WEBHOOK
        assert LIGHTHOUSE_TITLE not in shown(edit) and "Margaret Ould" not in shown(edit), question
        assert ARTICLE_TITLE not in shown(edit) and "Rmb26bn" not in shown(edit), question
    _, kettle = asked["When is the office kettle descaled?"]
    assert "Office kettle rules" in shown(kettle) and "citric acid" in shown(kettle)
    record = state.question(question_id_of(kettle.json["components"]))
    assert record["channel"] == str(channel_id) and record["document"] == "kettle"

    # Control: the same question through CiteBot's own server install, in its bound channel.
    payload = await _slash(fake, "ask", {"question": LIGHTHOUSE_QUESTION})
    _, edit = await answered(fake, payload)
    assert LIGHTHOUSE_TITLE in shown(edit) and "Margaret Ould" in shown(edit)


@pytest.mark.asyncio
async def test_sources_in_a_server_citebot_is_not_in_lists_only_the_dm_collections(
    fake, bot, state
):
    guild_id, channel_id = foreign_guild(fake)
    state.bind_collection("discord", str(channel_id), "lighthouse")
    payload = user_install_slash(fake, "sources", guild_id=guild_id, channel_id=channel_id)
    await fake.dispatch("INTERACTION_CREATE", payload)
    await fake.wait_for("POST", CALLBACK)
    [callback] = for_token(fake.calls("POST", CALLBACK), payload)

    assert callback.json["type"] == 4 and callback.json["data"]["flags"] == EPHEMERAL
    listing = callback.json["data"]["embeds"][0]["description"]
    assert "**1 document** indexed" in listing and "Office kettle rules" in listing
    assert LIGHTHOUSE_TITLE not in listing and ARTICLE_TITLE not in listing


@pytest.mark.asyncio
async def test_a_user_install_in_citebots_own_server_without_its_install_sees_dm_collections(
    fake, bot, state
):
    # CiteBot is a member, but only the person's install authorised this use: the server's
    # channel bindings are for the server's install.
    state.bind_collection("discord", str(fake.text_channel_id), "lighthouse")
    payload = fake.interaction_create_slash("ask", {"question": LIGHTHOUSE_QUESTION})
    payload["authorizing_integration_owners"] = {"1": fake.user["id"]}
    await fake.dispatch("INTERACTION_CREATE", payload)
    _, edit = await answered(fake, payload)
    assert LIGHTHOUSE_TITLE not in shown(edit) and "Margaret Ould" not in shown(edit)


async def _slash(fake, name, options=None, **kwargs):
    payload = fake.interaction_create_slash(name, options, **kwargs)
    await fake.dispatch("INTERACTION_CREATE", payload)
    return payload
