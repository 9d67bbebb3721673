"""Documents from Discord, end to end: discord.py's real bot, cogs and app-command tree against
the local fake Discord (REST, gateway and attachment CDN) and a real HTTP server on 127.0.0.1 for
links; assertions on what went over the wire and on the index."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import pytest_asyncio

from bot.discord.bot import CiteBot, endpoints
from bot.service import AnswerService
from bot.settings import Settings
from bot.state import StateStore
from tests.chat_documents import (
    LIGHTHOUSE,
    LIGHTHOUSE_FACT,
    ORCHARD_FACT,
    ORCHARD_HTML,
    DocumentServer,
)
from tests.fakes.discord_server import DEFAULT_TOKEN, FakeDiscord, running_client
from tests.test_discord_bot import CALLBACK, ORIGINAL, pings_nobody

EPHEMERAL = 64
CONFIGURED_ADMIN = 4242


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
        server.other_channel = server.add_text_channel(server.guild_id, "garden")
        yield server


@pytest_asyncio.fixture
async def docs():
    async with DocumentServer() as server:
        yield server


@pytest.fixture
def bob(fake):
    """A member of the server without Manage Server."""
    user = fake.add_user("bob")
    fake.add_member(fake.guild_id, user)
    return user


@pytest.fixture
def settings(fake):
    return Settings(
        DISCORD_TOKEN=DEFAULT_TOKEN,
        DISCORD_API_URL=fake.rest_base,
        DISCORD_GATEWAY_URL=fake.gateway_url,
        fetch_allow_private=True,
        admin_ids=[str(CONFIGURED_ADMIN)],
    )


@pytest.fixture
def service(fake_index, state):
    return AnswerService(fake_index, state)


@contextlib.asynccontextmanager
async def citebot(settings, service):
    with endpoints(settings):
        running = QuickBot(service, settings=settings, guild_ready_timeout=0.3)
        async with running_client(running, DEFAULT_TOKEN):
            yield running


@pytest_asyncio.fixture
async def bot(settings, service):
    async with citebot(settings, service) as running:
        yield running


async def command(fake, name, options=None, *, resolved=None, **kwargs):
    payload = fake.interaction_create_slash(name, options, resolved=resolved, **kwargs)
    await fake.dispatch("INTERACTION_CREATE", payload)
    return payload


async def subcommand(fake, group, sub, options=None, **kwargs):
    option = {"type": 1, "name": sub}
    if options:
        option["options"] = [{"type": 3, "name": k, "value": v} for k, v in options.items()]
    return await command(fake, group, [option], **kwargs)


async def reply(fake, payload) -> dict:
    """What the person saw: the edit of a deferred response, or an immediate message."""
    for _ in range(400):
        edits = [r for r in fake.calls("PATCH", ORIGINAL) if payload["token"] in r.path]
        if edits:
            return edits[0].json
        callbacks = [r for r in fake.calls("POST", CALLBACK) if payload["token"] in r.path]
        if callbacks and callbacks[0].json["type"] == 4:
            return callbacks[0].json["data"]
        await asyncio.sleep(0.025)
    raise AssertionError("no reply to the interaction")


def shown(message: dict) -> str:
    parts = [message.get("content") or ""]
    parts += [e.get("description") or "" for e in message.get("embeds") or []]
    return "\n".join(parts)


async def add_attachment(fake, filename, data, content_type=None, **kwargs):
    attachment = fake.make_attachment(filename, data, content_type)
    options = [{"type": 11, "name": "file", "value": attachment["id"]}]
    return await command(
        fake, "add", options, resolved={"attachments": {attachment["id"]: attachment}}, **kwargs
    )


async def ask(fake, question, **kwargs) -> str:
    return shown(await reply(fake, await command(fake, "ask", {"question": question}, **kwargs)))


def index_state(index):
    pointer = index.home / "index" / "CURRENT"
    return sorted(d.doc_id for d in index.documents()), pointer.read_text()


# --- adding ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_owner_adds_an_attachment_and_the_next_question_is_answered_from_it(
    fake, bot, fake_index
):
    payload = await add_attachment(fake, "lighthouse.md", LIGHTHOUSE.encode(), "text/markdown")
    [callback] = [r for r in await fake.wait_for("POST", CALLBACK) if payload["token"] in r.path]
    assert callback.json["type"] == 5 and callback.json["data"]["flags"] & EPHEMERAL  # deferred
    added = await reply(fake, payload)
    assert "Added **The Tern Point lighthouse** to `default`: 4 passages" in shown(added)
    assert "A key point (paragraph" in shown(added) and pings_nobody(added["allowed_mentions"])

    assert LIGHTHOUSE_FACT in await ask(fake, LIGHTHOUSE_FACT)


@pytest.mark.asyncio
async def test_the_owner_adds_a_link(fake, bot, docs, fake_index):
    url = docs.put("orchard", ORCHARD_HTML, "text/html")
    added = await reply(fake, await command(fake, "add", {"url": url}))
    assert f"Added [Quince orchard notes](<{url}>) to `default`" in shown(added)
    assert ORCHARD_FACT in await ask(fake, ORCHARD_FACT)


@pytest.mark.asyncio
async def test_a_member_without_manage_server_is_refused(fake, bot, bob, docs, fake_index):
    before = index_state(fake_index)
    url = docs.put("orchard", ORCHARD_HTML, "text/html")
    for payload in (
        await command(fake, "add", {"url": url}, user=bob),
        await command(fake, "forget", {"doc": "ft-xi-central-asia-2023"}, user=bob),
        await subcommand(fake, "collection", "use", {"names": "garden"}, user=bob),
    ):
        assert "only members with the **Manage Server** permission" in shown(await reply(fake, payload))
    assert docs.hits == [] and index_state(fake_index) == before


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "filename, data, reason",
    [
        ("huge.txt", b"word " * 300, "too large (1,500 bytes; the limit is 1,048)"),
        ("tool.exe", b"MZ\x90\x00", "unsupported file type '.exe'"),
        ("empty.txt", b"\n\n", "empty file"),
        ("broken.pdf", b"%PDF-1.4 garbage", "unreadable PDF"),
    ],
)
async def test_bad_attachments_are_refused_and_the_index_is_unchanged(
    fake, service, fake_index, filename, data, reason
):
    small = Settings(
        DISCORD_TOKEN=DEFAULT_TOKEN, DISCORD_API_URL=fake.rest_base,
        DISCORD_GATEWAY_URL=fake.gateway_url, max_document_mb=0.001,
    )
    async with citebot(small, service):
        before = index_state(fake_index)
        refused = shown(await reply(fake, await add_attachment(fake, filename, data)))
        assert refused.startswith(f"Couldn't add '{filename}': {reason}")
        assert index_state(fake_index) == before


# --- collections ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_channel_never_quotes_another_collection(fake, bot, state, fake_index):
    """Every sentence of the garden channel's document, asked in the general channel (and the
    general channel's, asked in garden): not one quote crosses over."""
    garden = int(fake.other_channel["id"])
    done = await reply(fake, await subcommand(fake, "collection", "use", {"names": "garden"},
                                              channel_id=garden))
    assert "now sees `garden`" in shown(done)
    attachment_payload = await add_attachment(fake, "orchard.html", ORCHARD_HTML.encode(),
                                              channel_id=garden)
    assert "to `garden`" in shown(await reply(fake, attachment_payload))

    orchard = next(d for d in fake_index.documents() if d.collection == "garden")
    xi = next(d for d in fake_index.documents() if d.collection == "default")
    orchard_sentences = [orchard.text[s.start:s.end] for s in fake_index._snapshot.sentences
                         if s.doc_id == orchard.doc_id]
    for sentence in orchard_sentences:
        answer = await ask(fake, sentence)
        assert orchard.title not in answer and sentence not in answer
    for paragraph in range(1, min(len(xi.paragraphs), 8) + 1):
        answer = await ask(fake, xi.paragraph_text(paragraph)[:300], channel_id=garden)
        assert xi.title not in answer
    assert orchard_sentences and ORCHARD_FACT in await ask(fake, ORCHARD_FACT, channel_id=garden)

    listing = shown(await reply(fake, await command(fake, "sources", channel_id=garden)))
    assert orchard.title in listing and xi.title not in listing


@pytest.mark.asyncio
async def test_an_admin_of_this_server_cannot_take_a_collection_in_use_elsewhere(
    fake, bot, fake_index
):
    fake_index.add_bytes(LIGHTHOUSE.encode(), name="lighthouse.md", source="chat:hr:lh", collection="hr")
    refused = await reply(fake, await subcommand(fake, "collection", "use", {"names": "hr"}))
    assert "The collection 'hr' belongs to other channels" in shown(refused)
    configured = fake.add_user("carol", id=CONFIGURED_ADMIN)
    fake.add_member(fake.guild_id, configured)
    allowed = await reply(
        fake, await subcommand(fake, "collection", "use", {"names": "hr"}, user=configured)
    )
    assert "now sees `hr`" in shown(allowed)
    # Once a channel of this server sees it, this server's admins may bind it elsewhere here.
    again = await reply(fake, await subcommand(fake, "collection", "use", {"names": "hr"},
                                               channel_id=int(fake.other_channel["id"])))
    assert "now sees `hr`" in shown(again)


@pytest.mark.asyncio
async def test_forget_and_the_collection_status(fake, bot, fake_index):
    status = await reply(fake, await subcommand(fake, "collection", "show"))
    assert "sees the shared `default` collection" in shown(status)
    missing = await reply(fake, await command(fake, "forget", {"doc": "nope"}))
    assert "No document 'nope' in this channel's collections" in shown(missing)
    gone = await reply(fake, await command(fake, "forget", {"doc": "ft-xi-central-asia-2023"}))
    assert "Forgot **Xi Jinping pushes Central Asian defence co-operation plan**" in shown(gone)
    assert fake_index.documents() == []


@pytest.mark.asyncio
async def test_direct_messages_see_the_dm_collections(fake, bot, service, fake_index):
    fake_index.add_bytes(LIGHTHOUSE.encode(), name="lighthouse.md", source="chat:staff:lh",
                         collection="staff")
    dm = fake.add_dm_channel(fake.user)
    in_dm = {"channel_id": int(dm["id"]), "guild_id": None}
    assert LIGHTHOUSE_FACT not in await ask(fake, LIGHTHOUSE_FACT, **in_dm)
    service.dm_collections = ("staff",)
    assert LIGHTHOUSE_FACT in await ask(fake, LIGHTHOUSE_FACT, **in_dm)
    assert LIGHTHOUSE_FACT not in await ask(fake, LIGHTHOUSE_FACT)  # the server channel: default
    listing = shown(await reply(fake, await command(fake, "sources", **in_dm)))
    assert "The Tern Point lighthouse" in listing and "Xi Jinping" not in listing
    # In a DM, Manage Server means nothing: only configured admins may add.
    url_refused = await reply(fake, await command(fake, "add", {"url": "https://example.com"}, **in_dm))
    assert "only members with the **Manage Server** permission" in shown(url_refused)
