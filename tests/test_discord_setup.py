"""Setting CiteBot up on Discord through the CLI: the invite URL and an explicit command sync,
the latter against the local fake Discord."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import socket
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import pytest_asyncio
from click.testing import CliRunner

from bot.cli import main
from bot.discord.bot import application_id_from_token
from bot.serve import serve
from bot.settings import Settings, get_settings
from tests.fakes.discord_server import DEFAULT_TOKEN, FakeDiscord

APP_ID = 1107293145123684352
TOKEN = base64.b64encode(str(APP_ID).encode()).decode().rstrip("=") + ".GabcDE.not-a-real-secret"
# Bits from Discord's permissions table: VIEW_CHANNEL, SEND_MESSAGES, EMBED_LINKS,
# READ_MESSAGE_HISTORY, SEND_MESSAGES_IN_THREADS — and nothing else.
EXPECTED_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 14) | (1 << 16) | (1 << 38)
COMMANDS = {
    ("ask", 1), ("sources", 1), ("help", 1), ("digest", 1), ("Ask CiteBot", 3),
    ("add", 1), ("forget", 1), ("collection", 1),
}


def citebot(*args: str, env: dict[str, str]):
    get_settings.cache_clear()  # each invocation reads its own environment, like a new process
    return CliRunner().invoke(main, list(args), env=env)


def test_invite_prints_a_server_install_and_a_user_install_link():
    result = citebot("discord", "invite", env={"DISCORD_TOKEN": TOKEN})
    assert result.exit_code == 0, result.output
    server, user = (urlsplit(u) for u in re.findall(r"^https://\S+$", result.output, re.M))
    query = parse_qs(server.query)
    assert (server.netloc, server.path) == ("discord.com", "/oauth2/authorize")
    assert server.scheme == user.scheme == "https"
    assert query["client_id"] == [str(APP_ID)]
    assert query["scope"] == ["bot applications.commands"]
    assert int(query["permissions"][0]) == EXPECTED_PERMISSIONS
    assert query["integration_type"] == ["0"]  # a server install
    # A user install: the commands only, to the person's account — no bot, no permissions.
    assert (user.netloc, user.path) == ("discord.com", "/oauth2/authorize")
    assert parse_qs(user.query) == {
        "client_id": [str(APP_ID)], "scope": ["applications.commands"], "integration_type": ["1"]
    }
    assert "User Install" in result.output  # where to switch it on in the developer portal

    explicit = citebot("discord", "invite", "--client-id", "42", env={"DISCORD_TOKEN": ""})
    assert explicit.exit_code == 0 and explicit.output.count("client_id=42&") == 2


def test_invite_without_a_token_names_the_setting():
    result = citebot("discord", "invite", env={"DISCORD_TOKEN": ""})
    assert result.exit_code == 1 and "DISCORD_TOKEN" in result.output
    assert application_id_from_token("not-base64!.x.y") is None


@pytest_asyncio.fixture
async def fake():
    async with FakeDiscord(token=DEFAULT_TOKEN) as server:
        yield server


def env_for(fake: FakeDiscord) -> dict[str, str]:
    return {
        "DISCORD_TOKEN": DEFAULT_TOKEN,
        "DISCORD_API_URL": fake.rest_base,
        "DISCORD_GATEWAY_URL": fake.gateway_url,
    }


@pytest.mark.asyncio
async def test_sync_to_a_guild_registers_every_command_there(fake):
    # The CLI runs its own event loop, so it runs in a thread while the fake serves on this one.
    result = await asyncio.to_thread(
        citebot, "discord", "sync", "--guild", str(fake.guild_id), env=env_for(fake)
    )
    assert result.exit_code == 0, result.output

    [put] = fake.calls(
        "PUT", f"/applications/{fake.application_id}/guilds/{fake.guild_id}/commands"
    )
    assert put.status == 200
    assert {(c["name"], c.get("type", 1)) for c in put.json} == COMMANDS
    ask = next(c for c in put.json if c["name"] == "ask")
    options = {o["name"]: o for o in ask["options"]}
    assert options["question"]["required"] and options["question"]["max_length"] == 2000
    assert options["private"]["type"] == 5 and not options["private"].get("required")
    assert not fake.calls("PUT", f"/applications/{fake.application_id}/commands")  # nothing global
    assert not fake.connections  # syncing needs no gateway session
    assert result.output.startswith(f"Synced 8 commands to server {fake.guild_id}:")
    assert "/ask — " in result.output and "Ask CiteBot (message menu" in result.output


@pytest.mark.asyncio
async def test_sync_says_where_each_command_may_be_installed_and_used(fake):
    result = await asyncio.to_thread(citebot, "discord", "sync", env=env_for(fake))
    assert result.exit_code == 0, result.output
    [put] = fake.calls("PUT", f"/applications/{fake.application_id}/commands")
    sent = {c["name"]: c for c in put.json}
    # integration_types: 0 a server install, 1 a user install; contexts: 0 a server, 1 the
    # bot's DM, 2 a private channel (group DM).
    for name in ("ask", "sources", "help"):
        assert sent[name]["integration_types"] == [0, 1], name
        assert sent[name]["contexts"] == [0, 1, 2], name
    for name in ("add", "forget", "collection", "digest", "Ask CiteBot"):
        assert sent[name]["integration_types"] == [0], name
    # What Discord kept is what was sent.
    stored = {c["name"]: c for c in fake.global_commands}
    assert stored["ask"]["integration_types"] == [0, 1] and stored["ask"]["contexts"] == [0, 1, 2]
    assert stored["add"]["integration_types"] == [0]


@pytest.mark.asyncio
async def test_sync_globally_and_to_a_server_citebot_is_not_in(fake):
    result = await asyncio.to_thread(citebot, "discord", "sync", env=env_for(fake))
    assert result.exit_code == 0, result.output
    [put] = fake.calls("PUT", f"/applications/{fake.application_id}/commands")
    assert {(c["name"], c.get("type", 1)) for c in put.json} == COMMANDS
    assert "every server (global)" in result.output

    elsewhere = await asyncio.to_thread(
        citebot, "discord", "sync", "--guild", "1234", env=env_for(fake)
    )
    assert elsewhere.exit_code == 1 and "citebot discord invite" in elsewhere.output

    rejected = await asyncio.to_thread(
        citebot, "discord", "sync", env={**env_for(fake), "DISCORD_TOKEN": "wrong"}
    )
    assert rejected.exit_code == 1 and "DISCORD_TOKEN" in rejected.output


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.asyncio
async def test_serve_answers_reports_health_and_closes_everything_it_opened(fake):
    port = free_port()
    settings = Settings(
        DISCORD_TOKEN=DEFAULT_TOKEN,
        DISCORD_API_URL=fake.rest_base,
        DISCORD_GATEWAY_URL=fake.gateway_url,
        embedder="hashing",
        port=port,
    )
    serving = asyncio.create_task(
        serve(settings, only="discord")
    )  # what `citebot serve discord` runs
    try:
        await fake.wait_for_identify(timeout=30)
        await fake.send_message(f"<@{fake.bot_id}> Rmb26bn financing support")
        [reply] = await fake.wait_for("POST", re.compile(r"/channels/\d+/messages"))
        assert "Rmb26bn ($3.7bn)" in reply.json["embeds"][0]["description"]
        async with aiohttp.ClientSession() as http:
            for _ in range(
                100
            ):  # ready once discord.py has seen every server (guild_ready_timeout)
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    health = (response.status, await response.json())
                if health[0] == 200:
                    break
                assert health == (503, {"status": "starting"})
                await asyncio.sleep(0.1)
            assert health == (200, {"status": "ok"})
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
    await fake.wait_for_disconnect()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_serve_without_a_token_names_the_setting():
    result = citebot("serve", "discord", env={"DISCORD_TOKEN": ""})
    assert result.exit_code == 1 and "DISCORD_TOKEN" in result.output
