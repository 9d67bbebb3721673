"""``citebot serve slack`` in Socket Mode: the real serve() path (settings → service → bolt app →
AsyncSocketModeHandler) against the local fake Web API and Socket Mode WebSocket."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from bot.serve import serve
from bot.settings import Settings
from bot.slack.app import check_settings
from bot.slack.clients import SlackSettingsError
from tests.fakes.slack_api import FakeSlackWebAPI, app_mention_event, event_callback, slash_command
from tests.fakes.slack_socket import FakeSlackSocketMode


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.asyncio
async def test_serve_in_socket_mode_answers_a_mention_and_acks_every_envelope(isolated_home):
    with FakeSlackWebAPI(token="xoxb-test") as fake, FakeSlackSocketMode(fake) as sock:
        port = _free_port()
        settings = Settings(
            home=isolated_home,
            embedder="hashing",
            port=port,
            slack_bot_token="xoxb-test",
            slack_app_token="xapp-test",
            slack_api_url=fake.base_url,
        )
        assert settings.effective_slack_mode == "socket"
        stop = asyncio.Event()
        server = asyncio.create_task(serve(settings, only="slack", stop=stop))
        try:
            await sock.wait_connected(timeout=20)  # after the index is built and warmed
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{port}/healthz") as health,
            ):
                assert health.status == 200 and (await health.json())["status"] == "ok"

            envelope = event_callback(
                app_mention_event(
                    "<@UBOT> Rmb26bn financing support", "C1", "U1", "1710000000.000200"
                )
            )
            event_ack = sock.push_event(envelope)
            assert await sock.wait_for_ack(event_ack, timeout=5) == {"envelope_id": event_ack}
            [post] = await fake.wait_for("chat.postMessage", timeout=10, ok_only=True)
            assert post["channel"] == "C1" and post["thread_ts"] == "1710000000.000200"
            assert "paragraph 6" in post["text"]

            # The same event again, as Slack retries it over Socket Mode: acked, not re-answered.
            retry_ack = sock.push_event(envelope, retry_attempt=1, retry_reason="timeout")
            await sock.wait_for_ack(retry_ack, timeout=5)

            empty = sock.push_slash_command(
                slash_command("/ask", "", "U1", "C1", fake.response_url())
            )
            ack = await sock.wait_for_ack(empty, timeout=5)
            assert "Usage: `/ask QUESTION`" in ack["payload"]["text"]
            await asyncio.sleep(0.3)
            assert len(fake.calls("chat.postMessage", ok_only=True)) == 1
        finally:
            stop.set()
            await asyncio.wait_for(server, timeout=10)
        [opened] = fake.requests_for("apps.connections.open")
        assert opened.headers["authorization"] == "Bearer xapp-test"


@pytest.mark.asyncio
async def test_serve_in_http_mode_takes_signed_requests_on_slack_events(isolated_home):
    from tests.fakes.slack_api import sign_request, slash_command_form

    with FakeSlackWebAPI(token="xoxb-test") as fake:
        port = _free_port()
        settings = Settings(
            home=isolated_home,
            embedder="hashing",
            port=port,
            slack_bot_token="xoxb-test",
            slack_signing_secret="secret",
            slack_api_url=fake.base_url.rstrip("/"),
        )
        assert settings.effective_slack_mode == "http"
        stop = asyncio.Event()
        server = asyncio.create_task(serve(settings, only="slack", stop=stop))
        try:
            url = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession() as http:
                for _ in range(200):  # the port opens before the index is warmed
                    try:
                        async with http.get(f"{url}/healthz") as health:
                            if health.status == 200:
                                break
                    except aiohttp.ClientConnectionError:
                        pass
                    await asyncio.sleep(0.05)
                body = slash_command_form(
                    "/ask", "Rmb26bn financing support", "U1", "C1", fake.response_url()
                )
                async with http.post(
                    f"{url}/slack/events", data=body, headers=sign_request(body, "secret")
                ) as r:
                    assert r.status == 200
                async with http.post(
                    f"{url}/slack/events", data=body, headers=sign_request(body, "wrong")
                ) as r:
                    assert r.status == 401
            [answer] = await fake.wait_for("response_url", timeout=10)
            assert "paragraph 6" in answer["text"]
        finally:
            stop.set()
            await asyncio.wait_for(server, timeout=10)
        assert fake.requests_for("apps.connections.open") == []


def test_missing_settings_are_named(isolated_home):
    with pytest.raises(SlackSettingsError, match="SLACK_BOT_TOKEN"):
        check_settings(Settings(home=isolated_home))
    with pytest.raises(SlackSettingsError, match="SLACK_SIGNING_SECRET"):
        check_settings(Settings(home=isolated_home, slack_bot_token="xoxb-x"))
    with pytest.raises(SlackSettingsError, match="SLACK_APP_TOKEN"):
        check_settings(Settings(home=isolated_home, slack_bot_token="xoxb-x", slack_mode="socket"))
    check_settings(Settings(home=isolated_home, slack_bot_token="xoxb-x", slack_signing_secret="s"))
    check_settings(Settings(home=isolated_home, slack_bot_token="xoxb-x", slack_app_token="xapp-x"))


def test_cli_serve_slack_reports_a_missing_token(isolated_home, monkeypatch):
    from click.testing import CliRunner

    from bot.cli import main

    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_MODE"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["serve", "slack"])
    assert result.exit_code == 1
    assert "SLACK_BOT_TOKEN" in str(result.exception) or "SLACK_BOT_TOKEN" in result.output
