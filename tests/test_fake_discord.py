"""Proves tests/fakes/discord_server/ works with discord.py's real client over real sockets."""

from __future__ import annotations

import asyncio
import io
import re
import time

import discord
import pytest
import pytest_asyncio
from discord import app_commands
from discord.ext import commands

from tests.fakes.discord_server import (
    DEFAULT_TOKEN,
    FakeDiscord,
    Intents,
    point_discord_py_at,
    running_client,
)

MESSAGES = re.compile(r"/channels/\d+/messages")
CALLBACK = re.compile(r"/interactions/\d+/[^/]+/callback")
ORIGINAL = re.compile(r"/webhooks/\d+/[^/]+/messages/@original")

# on_ready waits guild_ready_timeout after the last GUILD_CREATE (2s by default); the fake
# sends every GUILD_CREATE right after READY, so a short wait is enough and keeps tests fast.
GUILD_READY_TIMEOUT = 0.3


def make_intents(*, message_content: bool = True, members: bool = False) -> discord.Intents:
    intents = discord.Intents.default()
    intents.message_content = message_content
    intents.members = members
    return intents


@pytest_asyncio.fixture
async def fake():
    async with FakeDiscord(token=DEFAULT_TOKEN) as server:
        with point_discord_py_at(server):
            yield server


@pytest.mark.asyncio
async def test_connect_identifies_and_fires_on_ready(fake: FakeDiscord):
    ready = asyncio.Event()
    intents = make_intents(members=True)
    client = discord.Client(intents=intents, guild_ready_timeout=GUILD_READY_TIMEOUT)

    @client.event
    async def on_ready():
        ready.set()

    async with running_client(client):
        await asyncio.wait_for(ready.wait(), 5)
        [identify] = fake.identifies
        assert identify.token == DEFAULT_TOKEN
        assert identify.intents == intents.value
        assert identify.intents & Intents.MESSAGE_CONTENT
        assert identify.shard is None
        assert identify.properties["browser"] == "discord.py"
        # discord.py asks for a compressed transport; the fake honoured it.
        assert identify.query["compress"] in ("zlib-stream", "zstd-stream")
        assert fake.connections[0].compression == identify.query["compress"]

        assert client.user.id == fake.bot_id
        assert client.application_id == fake.application_id
        guild = client.get_guild(fake.guild_id)
        assert guild is not None and guild.owner_id == int(fake.user["id"])
        # GUILD_CREATE carried every member, so discord.py needs no REQUEST_GUILD_MEMBERS.
        assert guild.chunked and guild.me is not None and guild.get_member(int(fake.user["id"])) is not None
        assert client.get_channel(fake.text_channel_id).name == "general"

        # login hit the REST API with the bot token before the gateway.
        assert [r.path for r in fake.requests[:2]] == ["/users/@me", "/oauth2/applications/@me"]
        assert fake.requests[0].headers["Authorization"] == f"Bot {DEFAULT_TOKEN}"
        await fake.wait_for_gateway_op(1)  # discord.py heartbeats as soon as HELLO arrives

    await fake.wait_for_disconnect()
    assert not fake.sessions[0].connected
    # discord.py's close() asks for 1000, but its poll loop usually closes the socket first with 4000.
    assert fake.connections[0].client_close_code in (1000, 4000)


@pytest.mark.asyncio
async def test_message_create_reaches_on_message_and_reply_is_sent(fake: FakeDiscord):
    seen: list[discord.Message] = []
    client = discord.Client(intents=make_intents(), guild_ready_timeout=GUILD_READY_TIMEOUT)

    @client.event
    async def on_message(message: discord.Message):
        if message.author == client.user:
            return  # the fake echoes the bot's own messages, like Discord
        seen.append(message)
        await message.reply(f"you said: {message.content}", mention_author=False)

    async with running_client(client):
        sent = await fake.send_message(f"<@{fake.bot_id}> what is RAG?")
        [req] = await fake.wait_for("POST", MESSAGES)

        assert seen[0].content == f"<@{fake.bot_id}> what is RAG?"
        assert seen[0].guild.id == fake.guild_id
        assert client.user in seen[0].mentions
        assert req.path == f"/channels/{fake.text_channel_id}/messages"
        assert req.json["content"] == f"you said: <@{fake.bot_id}> what is RAG?"
        assert req.json["message_reference"]["message_id"] == int(sent["id"])
        assert req.json["message_reference"]["channel_id"] == fake.text_channel_id
        assert req.json["allowed_mentions"]["replied_user"] is False
        assert req.status == 200
        reply = req.response
        assert reply["type"] == 19 and reply["author"]["id"] == str(fake.bot_id)
        assert reply["referenced_message"]["id"] == sent["id"]
        # replied_user=False means Discord does not ping the author.
        assert reply["mentions"] == [] or all(u["id"] != fake.user["id"] for u in reply["mentions"])
        # The bot's reply came back over the gateway and on_message ignored it.
        await asyncio.sleep(0.05)
        assert len(seen) == 1
        assert [d["t"] for d in fake.dispatched if d["t"] == "MESSAGE_CREATE"] == ["MESSAGE_CREATE"] * 2


@pytest.mark.asyncio
async def test_slash_command_defers_then_edits_original_with_embed(fake: FakeDiscord):
    client = discord.Client(intents=make_intents(), guild_ready_timeout=GUILD_READY_TIMEOUT)
    tree = app_commands.CommandTree(client)
    got: list[str] = []

    @tree.command(name="ask", description="Ask CiteBot a question")
    async def ask(interaction: discord.Interaction, question: str):
        got.append(question)
        await interaction.response.defer(thinking=True)
        embed = discord.Embed(title="Answer", description=f"About {question} [1]")
        embed.add_field(name="Sources", value="[1] doc.pdf p.3")
        await interaction.edit_original_response(embed=embed)

    async with running_client(client):
        payload = fake.interaction_create_slash("ask", {"question": "retrieval"})
        await fake.dispatch("INTERACTION_CREATE", payload)
        [callback] = await fake.wait_for("POST", CALLBACK)
        [edit] = await fake.wait_for("PATCH", ORIGINAL)

        assert got == ["retrieval"]
        assert callback.path == f"/interactions/{payload['id']}/{payload['token']}/callback"
        assert callback.json == {"type": 5}
        assert callback.query.get("with_response") == "1"
        assert edit.path == f"/webhooks/{fake.application_id}/{payload['token']}/messages/@original"
        [embed] = edit.json["embeds"]
        assert embed["title"] == "Answer" and embed["fields"][0]["value"] == "[1] doc.pdf p.3"
        assert callback.at < edit.at
        # The deferred "thinking" message was replaced by the edit.
        assert edit.response["flags"] & 128 == 0 and edit.response["embeds"][0]["title"] == "Answer"

        # A second ack of the same interaction is rejected like Discord does.
        with pytest.raises(discord.HTTPException) as err:
            interaction = discord.Interaction(data=payload, state=client._connection)
            await interaction.response.send_message("again")
        assert err.value.code == 40060


@pytest.mark.asyncio
async def test_rate_limited_send_is_retried(fake: FakeDiscord):
    client = discord.Client(intents=make_intents(), guild_ready_timeout=GUILD_READY_TIMEOUT)
    async with running_client(client):
        fake.fail_next("POST", MESSAGES, status=429, retry_after=0.2)
        channel = client.get_channel(fake.text_channel_id)
        started = time.monotonic()
        message = await channel.send("hello after a 429")
        elapsed = time.monotonic() - started

        first, second = fake.calls("POST", MESSAGES)
        assert (first.status, second.status) == (429, 200)
        assert first.response == {"message": "You are being rate limited.", "retry_after": 0.2, "global": False}
        assert second.at - first.at >= 0.2 and elapsed >= 0.2
        assert second.json["content"] == "hello after a 429"
        assert message.id == int(second.response["id"])


@pytest.mark.asyncio
async def test_server_error_and_empty_or_oversized_messages(fake: FakeDiscord):
    client = discord.Client(intents=make_intents(), guild_ready_timeout=GUILD_READY_TIMEOUT)
    async with running_client(client):
        channel = client.get_channel(fake.text_channel_id)
        with pytest.raises(discord.HTTPException) as err:
            await channel.send("x" * 2001)
        assert err.value.status == 400 and err.value.code == 50035
        with pytest.raises(discord.HTTPException) as err:
            await channel.send(embed=discord.Embed(description="y" * 4097))
        assert err.value.code == 50035
        fake.fail_next("GET", f"/channels/{fake.text_channel_id}", status=403, times=1)
        with pytest.raises(discord.Forbidden):
            await client.fetch_channel(fake.text_channel_id)
        # discord.py retries a 500 after sleeping 1s, then succeeds.
        fake.fail_next("GET", f"/channels/{fake.text_channel_id}", status=500, times=1)
        assert (await client.fetch_channel(fake.text_channel_id)).id == fake.text_channel_id
        assert [r.status for r in fake.calls("GET", f"/channels/{fake.text_channel_id}")] == [403, 500, 200]
        with pytest.raises(discord.NotFound):
            await client.http.request(discord.http.Route("GET", "/no/such/route"))
        assert fake.calls("GET", "/no/such/route")[0].response == {"message": "Unknown", "code": 0}


@pytest.mark.asyncio
async def test_gateway_drop_is_resumed_and_missed_events_replayed(fake: FakeDiscord):
    client = discord.Client(intents=make_intents(), guild_ready_timeout=GUILD_READY_TIMEOUT)
    got: list[str] = []
    resumed = asyncio.Event()

    @client.event
    async def on_message(message: discord.Message):
        got.append(message.content)

    @client.event
    async def on_resumed():
        resumed.set()

    async with running_client(client):
        await fake.send_message("before")
        await fake.disconnect_gateway(code=4000)
        await fake.send_message("while disconnected")  # queued on the session, replayed on RESUME
        [resume] = await fake.wait_for_resume()
        await asyncio.wait_for(resumed.wait(), 5)
        await fake.send_message("after")
        for _ in range(100):
            if len(got) == 3:
                break
            await asyncio.sleep(0.01)

        assert got == ["before", "while disconnected", "after"]
        assert resume.accepted and resume.replayed == 1
        assert resume.session_id == fake.identifies[0].session_id
        assert resume.connection_path == "/resume-gateway"  # discord.py used resume_gateway_url
        assert len(fake.identifies) == 1


@pytest.mark.asyncio
async def test_invalid_session_makes_client_identify_again_over_plain_text_frames():
    async with FakeDiscord(transport_compression=False) as fake, _pointed(fake):

        class Client(discord.Client):
            async def before_identify_hook(self, shard_id, *, initial=False):
                return  # the default sleeps 5s before any re-IDENTIFY

        client = Client(intents=make_intents(), guild_ready_timeout=GUILD_READY_TIMEOUT)
        readies = asyncio.Queue()

        @client.event
        async def on_ready():
            readies.put_nowait(True)

        async with running_client(client):
            await asyncio.wait_for(readies.get(), 5)
            await fake.invalidate_session(resumable=False)
            await fake.wait_for_identify(count=2)
            await asyncio.wait_for(readies.get(), 5)
            first, second = fake.identifies
            assert first.session_id != second.session_id
            assert fake.sessions[0].invalidated and not fake.sessions[1].invalidated
            assert all(c.compression is None for c in fake.connections)
            # After INVALID_SESSION discord.py goes back to DEFAULT_GATEWAY, not resume_gateway_url.
            assert second.connection_path == "/gateway"
            await fake.send_message("still alive")
            msg = await client.wait_for("message", timeout=5)
            assert msg.content == "still alive"
    from discord.http import Route

    assert Route.BASE == "https://discord.com/api/v10"  # point_discord_py_at restored it


@pytest.mark.asyncio
async def test_autosharded_bot_uses_gateway_bot_shard_count(fake: FakeDiscord):
    fake.shard_count = 2
    second = fake.add_guild("Second Guild", owner_id=int(fake.user["id"]), shard=(1, 2))
    fake.add_text_channel(int(second["id"]), "questions")

    class Bot(commands.AutoShardedBot):
        async def before_identify_hook(self, shard_id, *, initial=False):
            return  # the default sleeps 5s before every non-initial IDENTIFY

    bot = Bot(command_prefix="!", intents=make_intents(), guild_ready_timeout=GUILD_READY_TIMEOUT)
    async with running_client(bot):
        assert sorted(i.shard for i in fake.identifies) == [(0, 2), (1, 2)]
        assert bot.shard_count == 2
        assert bot.get_guild(fake.guild_id).shard_id == 0
        assert bot.get_guild(int(second["id"])).shard_id == 1
        assert fake.calls("GET", "/gateway/bot")

        # Events for the second guild travel on shard 1's connection.
        got: asyncio.Queue[discord.Message] = asyncio.Queue()

        async def collect(message: discord.Message):
            got.put_nowait(message)

        bot.add_listener(collect, "on_message")
        channel_id = next(int(c["id"]) for c in fake.channels.values() if c.get("name") == "questions")
        await fake.send_message("on shard one", channel_id=channel_id)
        message = await asyncio.wait_for(got.get(), 5)
        assert message.guild.shard_id == 1
        assert fake.dispatched[-1]["shard"] == 1


@pytest.mark.asyncio
async def test_view_button_click_and_message_context_menu(fake: FakeDiscord):
    client = discord.Client(intents=make_intents(), guild_ready_timeout=GUILD_READY_TIMEOUT)
    tree = app_commands.CommandTree(client)
    clicks: list[int] = []

    class Feedback(discord.ui.View):
        @discord.ui.button(label="Helpful", custom_id="feedback:up")
        async def up(self, interaction: discord.Interaction, button: discord.ui.Button):
            clicks.append(interaction.user.id)
            await interaction.response.edit_message(content="thanks!", view=None)

    @tree.context_menu(name="Cite this")
    async def cite(interaction: discord.Interaction, message: discord.Message):
        await interaction.response.send_message(f"citing: {message.content}", ephemeral=True)

    async with running_client(client):
        await client.get_channel(fake.text_channel_id).send("answer", view=Feedback())
        [sent] = await fake.wait_for("POST", MESSAGES)
        assert sent.json["components"][0]["components"][0]["custom_id"] == "feedback:up"

        click = fake.interaction_create_component("feedback:up", message=int(sent.response["id"]))
        await fake.dispatch("INTERACTION_CREATE", click)
        [callback] = await fake.wait_for("POST", CALLBACK)
        assert callback.json["type"] == 7 and callback.json["data"]["content"] == "thanks!"
        assert callback.json["data"]["components"] == []
        assert clicks == [int(fake.user["id"])]
        assert fake.messages[int(sent.response["id"])]["content"] == "thanks!"

        target = fake.message_create("Transformers were introduced in 2017.")
        menu = fake.interaction_create_message_command("Cite this", target)
        await fake.dispatch("INTERACTION_CREATE", menu)
        callbacks = await fake.wait_for("POST", CALLBACK, count=2)
        assert callbacks[1].json["type"] == 4
        assert callbacks[1].json["data"]["content"] == "citing: Transformers were introduced in 2017."
        assert callbacks[1].json["data"]["flags"] == 64


@pytest.mark.asyncio
async def test_attachment_download_and_file_upload(fake: FakeDiscord):
    client = discord.Client(intents=make_intents(), guild_ready_timeout=GUILD_READY_TIMEOUT)

    @client.event
    async def on_message(message: discord.Message):
        if message.author == client.user or not message.attachments:
            return
        data = await message.attachments[0].read()  # fetched from the fake's attachment URL
        await message.channel.send(
            f"indexed {message.attachments[0].filename} ({len(data)} bytes)",
            file=discord.File(io.BytesIO(data[::-1]), filename="reversed.bin"),
        )

    async with running_client(client):
        pdf = b"%PDF-1.4 fake pdf bytes"
        await fake.send_message("please index", attachments=[fake.make_attachment("paper.pdf", pdf)])
        [upload] = await fake.wait_for("POST", MESSAGES)
        assert upload.json["content"] == f"indexed paper.pdf ({len(pdf)} bytes)"  # from payload_json
        [file_part] = upload.files
        assert file_part.name == "files[0]" and file_part.filename == "reversed.bin"
        assert file_part.data == pdf[::-1]
        [att] = upload.response["attachments"]
        assert att["filename"] == "reversed.bin" and att["size"] == len(pdf)


@pytest.mark.asyncio
async def test_dm_and_message_content_intent_gating(fake: FakeDiscord):
    client = discord.Client(intents=make_intents(message_content=False), guild_ready_timeout=GUILD_READY_TIMEOUT)
    got = asyncio.Queue()

    @client.event
    async def on_message(message: discord.Message):
        if message.author != client.user:
            got.put_nowait(message)

    async with running_client(client):
        await fake.send_message("secret question")
        assert (await asyncio.wait_for(got.get(), 5)).content == ""  # no MESSAGE_CONTENT intent
        await fake.send_message(f"<@{fake.bot_id}> mentioned question")
        assert (await asyncio.wait_for(got.get(), 5)).content.endswith("mentioned question")
        await fake.send_message("in a DM", channel_id=fake.dm_channel_id)
        dm = await asyncio.wait_for(got.get(), 5)
        assert dm.content == "in a DM" and dm.guild is None

        user = await client.fetch_user(int(fake.user["id"]))
        await user.send("hello in DM")
        [create_dm] = await fake.wait_for("POST", "/users/@me/channels")
        assert create_dm.json == {"recipient_id": int(fake.user["id"])}
        [send] = await fake.wait_for("POST", f"/channels/{fake.dm_channel_id}/messages")
        assert send.json["content"] == "hello in DM"


@pytest.mark.asyncio
async def test_tree_sync_round_trips_and_privileged_intents_are_enforced():
    async with FakeDiscord(allowed_privileged_intents=0) as fake, _pointed(fake):
        client = discord.Client(intents=make_intents(), guild_ready_timeout=GUILD_READY_TIMEOUT)
        with pytest.raises(discord.PrivilegedIntentsRequired):
            async with running_client(client):
                pass
        assert fake.identifies[0].intents & Intents.MESSAGE_CONTENT

    async with FakeDiscord() as fake, _pointed(fake):
        client = discord.Client(intents=make_intents(message_content=False), guild_ready_timeout=GUILD_READY_TIMEOUT)
        tree = app_commands.CommandTree(client)

        @tree.command(name="ask", description="Ask CiteBot", guild=discord.Object(fake.guild_id))
        async def ask(interaction: discord.Interaction, question: str):
            await interaction.response.send_message(question)

        async with running_client(client):
            synced = await tree.sync(guild=discord.Object(fake.guild_id))
            assert [c.name for c in synced] == ["ask"] and synced[0].guild_id == fake.guild_id
            [put] = fake.calls("PUT", f"/applications/{fake.application_id}/guilds/{fake.guild_id}/commands")
            assert put.json[0]["options"][0]["name"] == "question"
            fetched = await tree.fetch_commands(guild=discord.Object(fake.guild_id))
            assert [c.id for c in fetched] == [c.id for c in synced]


class _pointed:
    """``async with`` adapter for the sync point_discord_py_at context manager."""

    def __init__(self, fake: FakeDiscord) -> None:
        self._cm = point_discord_py_at(fake)

    async def __aenter__(self):
        return self._cm.__enter__()

    async def __aexit__(self, *exc):
        return self._cm.__exit__(*exc)
