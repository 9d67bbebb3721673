"""The three ways to start CiteBot — ``citebot serve``, ``citebot serve slack`` and ``citebot serve
discord`` — are one run path. Each, started as a real process against the local Slack and
Discord fakes, answers, reports /healthz the same way, logs as CITEBOT_LOG_FORMAT says, names a
wrong setting in one line, and on SIGTERM sends the answer still in flight before exiting 0."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time

import aiohttp
import pytest

from tests.fakes.discord_server import DEFAULT_TOKEN, FakeDiscord
from tests.fakes.slack_api import FakeSlackWebAPI, sign_request, slash_command_form
from tests.test_ops_serve import PLATFORM_VARIABLES, PROJECT_ROOT, free_port, wait_for_status

FORMS = {
    "serve": ("slack", "discord"),
    "serve slack": ("slack",),
    "serve discord": ("discord",),
}
SECRET = "signing-secret-for-tests"
CHANNEL_MESSAGES = re.compile(r"/channels/\d+/messages")
# Long enough to send SIGTERM and see /healthz turn 503 while the answer is still on its way.
HOLD_SECONDS = 6


def environment(isolated_home, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PLATFORM_VARIABLES}
    env.update(
        CITEBOT_HOME=str(isolated_home),
        CITEBOT_EMBEDDER="hashing",
        CITEBOT_PORT=str(port),
        PYTHONPATH=str(PROJECT_ROOT),
        # Both platforms are configured in every form: `serve slack` must leave Discord alone,
        # and `serve discord` Slack.
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=SECRET,
        DISCORD_TOKEN=DEFAULT_TOKEN,
        **extra,
    )
    return env


async def _collect(stream: asyncio.StreamReader, lines: list[str]) -> None:
    while line := await stream.readline():
        lines.append(line.decode())


async def _until(predicate, *, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def _question_lines(lines: list[str]) -> list[dict]:
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("message") == "question":
            records.append(record)
    return records


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.asyncio
async def test_each_form_answers_and_on_sigterm_sends_the_answer_in_flight_then_exits_0(
    form, tmp_path, isolated_home
):
    platforms = FORMS[form]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with FakeDiscord(token=DEFAULT_TOKEN) as discord_fake:
        with FakeSlackWebAPI(token="xoxb-test") as slack_fake:
            env = environment(
                isolated_home, port,
                CITEBOT_LOG_FORMAT="json",
                CITEBOT_SHUTDOWN_TIMEOUT="60",
                SLACK_API_URL=slack_fake.base_url,
                DISCORD_API_URL=discord_fake.rest_base,
                DISCORD_GATEWAY_URL=discord_fake.gateway_url,
            )
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", *form.split(),
                cwd=tmp_path, env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
            lines: list[str] = []
            reading = asyncio.create_task(_collect(process.stderr, lines))
            try:
                assert await wait_for_status(f"{base}/healthz", 200, within=120) == {"status": "ok"}

                # Each answer is held on its way out, so it is in flight when SIGTERM comes.
                slack_fake.set_delay("response_url", HOLD_SECONDS)
                discord_fake.set_delay("POST", CHANNEL_MESSAGES, HOLD_SECONDS)
                body = slash_command_form(
                    "/ask", "Rmb26bn financing support", "U1", "C1", slack_fake.response_url()
                )
                async with aiohttp.ClientSession() as http, http.post(
                    f"{base}/slack/events", data=body, headers=sign_request(body, SECRET)
                ) as response:
                    # Not served at all when Slack is not this form's platform.
                    assert response.status == (200 if "slack" in platforms else 404)
                if "discord" in platforms:
                    await discord_fake.send_message(
                        f"<@{discord_fake.bot_id}> Rmb26bn financing support"
                    )
                else:
                    assert discord_fake.identifies == []

                # Answered (the per-question line is written before the reply is sent) ...
                await _until(
                    lambda: len(_question_lines(lines)) == len(platforms),
                    within=30, what="the question log lines",
                )
                process.send_signal(signal.SIGTERM)
                # ... and stopping while the replies are still on the wire.
                assert await wait_for_status(f"{base}/healthz", 503) == {"status": "stopping"}
                assert slack_fake.calls("response_url") == []
                assert discord_fake.calls("POST", CHANNEL_MESSAGES) == []
                returncode = await asyncio.wait_for(process.wait(), timeout=60)
                await reading
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()

            assert returncode == 0, "".join(lines)
            if "slack" in platforms:
                [answer] = slack_fake.calls("response_url")
                assert "paragraph 6" in answer["text"]
            if "discord" in platforms:
                [reply] = discord_fake.calls("POST", CHANNEL_MESSAGES)
                assert reply.status == 200
                assert "Rmb26bn ($3.7bn)" in reply.json["embeds"][0]["description"]
            else:
                assert discord_fake.identifies == []
        if "discord" in platforms:
            await discord_fake.wait_for_disconnect()

    # CITEBOT_LOG_FORMAT=json: every line CiteBot and its libraries wrote is one JSON object, and
    # the libraries' chatter stays below INFO.
    records = [json.loads(line) for line in lines if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert not [r for r in records if r["logger"].startswith(("faiss", "bm25s"))]
    messages = [r["message"] for r in records]
    assert messages.index("stopping: no new questions") < messages.index("stopped")
    assert {r["platform"] for r in _question_lines(lines)} == set(platforms)
    assert all(r["outcome"] == "answered" for r in _question_lines(lines))
    assert not [r for r in records if r["level"] in ("ERROR", "CRITICAL")], messages


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        # Nothing listens there: the state store cannot be opened.
        ("CITEBOT_DATABASE_URL", "postgresql://citebot:pw@127.0.0.1:{closed}/citebot"),
        ("CITEBOT_LOG_LEVEL", "LOUD"),
    ],
)
def test_each_form_stops_on_a_wrong_setting_with_one_line_naming_it(
    form, variable, value, tmp_path, isolated_home
):
    closed = free_port()
    env = environment(isolated_home, free_port(), **{variable: value.format(closed=closed)})
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", *form.split()],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0], result.stderr
    assert lines[0].startswith("citebot: ")
    assert "xoxb-test" not in result.stderr and ":pw@" not in result.stderr
