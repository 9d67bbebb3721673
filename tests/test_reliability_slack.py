"""Slack faults, over the wire: the Web API rate-limiting (429 + Retry-After) or failing (5xx)
for several calls in a row, and the Socket Mode connection cycled or dropped. Every answer is
delivered once it recovers, none lost, none doubled — counted on the fake Slack's records."""

from __future__ import annotations

import asyncio
import socket

import pytest

from bot.serve import serve
from bot.settings import Settings
from tests.fakes.slack_api import FakeSlackWebAPI, app_mention_event, event_callback
from tests.fakes.slack_socket import FakeSlackSocketMode
from tests.test_slack_app import (  # noqa: F401  (fixtures: the real bolt app behind HTTP)
    QUESTION,
    _questions,
    fake,
    make_slack,
    mrkdwn,
    settings,
    slack,
    state,
)


@pytest.mark.asyncio
async def test_a_run_of_429s_delays_the_answer_but_delivers_it_once(slack):
    slack.fake.fail_next("chat.postMessage", status=429, times=4, retry_after=0)
    ts = await slack.mention(QUESTION)
    [post] = await slack.fake.wait_for("chat.postMessage", 1, timeout=20, ok_only=True)
    attempts = slack.fake.requests_for("chat.postMessage")
    assert [a.status for a in attempts] == [429, 429, 429, 429, 200]
    assert all(a.body["blocks"] == attempts[-1].body["blocks"] for a in attempts)
    assert post["thread_ts"] == ts and "paragraph 6" in mrkdwn(post)
    await slack.quiet("chat.postMessage", 1)


@pytest.mark.asyncio
async def test_a_run_of_server_errors_delays_the_answers_but_loses_none(slack):
    # Three 500s, then Slack recovers; three questions were asked meanwhile.
    slack.fake.fail_next("chat.postMessage", status=500, times=3)
    asked = [await slack.mention(f"{QUESTION} {n}", user=f"U{n}") for n in range(3)]
    delivered = await slack.fake.wait_for("chat.postMessage", 3, timeout=30, ok_only=True)
    assert sorted(post["thread_ts"] for post in delivered) == sorted(asked)  # each once
    statuses = [a.status for a in slack.fake.requests_for("chat.postMessage")]
    assert statuses.count(500) == 3 and statuses.count(200) == 3
    assert not any("went wrong" in mrkdwn(post) for post in delivered)  # no apology needed
    await slack.quiet("chat.postMessage", 3)
    assert len(_questions(slack.state)) == 3


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.asyncio
async def test_socket_mode_reconnects_after_a_disconnect_or_a_dropped_socket(isolated_home):
    with FakeSlackWebAPI(token="xoxb-test") as fake, FakeSlackSocketMode(fake) as sock:
        settings = Settings(
            home=isolated_home, embedder="hashing", port=_free_port(),
            slack_bot_token="xoxb-test", slack_app_token="xapp-test",
            slack_api_url=fake.base_url, rate_limit="0",
        )
        stop = asyncio.Event()
        server = asyncio.create_task(serve(settings, only="slack", stop=stop))
        try:
            await sock.wait_connected(timeout=30)

            async def ask(n: int) -> None:
                event = app_mention_event(
                    f"<@UBOT> {QUESTION}", "C1", "U1", f"171000000{n}.000100"
                )
                envelope_id = sock.push_event(event_callback(event))
                await sock.wait_for_ack(envelope_id, timeout=10)
                posts = await fake.wait_for("chat.postMessage", n, timeout=10, ok_only=True)
                assert posts[-1]["thread_ts"] == f"171000000{n}.000100"

            async def reconnected(times: int) -> None:
                for _ in range(400):
                    if sock.connection_count > times and sock.connected:
                        return
                    await asyncio.sleep(0.05)
                raise AssertionError(f"still {sock.connection_count} connection(s) ever made")

            await ask(1)
            # Slack cycles the connection: it says so first, and the client opens a new one.
            sock.send_disconnect("refresh_requested")
            await reconnected(1)
            await ask(2)
            # The network drops the socket with no warning.
            sock.drop_connections()
            await reconnected(2)
            await ask(3)
            assert len(fake.requests_for("apps.connections.open")) >= 3
            await asyncio.sleep(0.3)
            assert len(fake.calls("chat.postMessage", ok_only=True)) == 3
        finally:
            stop.set()
            await asyncio.wait_for(server, timeout=15)
