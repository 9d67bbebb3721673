"""``citebot serve``: one process, one HTTP server (/healthz, /metrics, /slack/events), every
configured platform, a graceful SIGTERM. Run as a real subprocess and in-process against the
local fakes of Slack and Discord."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from prometheus_client import REGISTRY

from bot import serve as serving
from bot.runtime import open_service
from bot.service import Question, ShuttingDown
from bot.settings import Settings
from bot.state import QuestionRecord, StateStore, utcnow
from tests.fakes.discord_server import DEFAULT_TOKEN, FakeDiscord
from tests.fakes.slack_api import FakeSlackWebAPI, sign_request, slash_command_form
from tests.postgres import postgres_server, postgres_url  # noqa: F401  (fixtures)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PLATFORM_VARIABLES = (
    "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_MODE", "DISCORD_TOKEN",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def wait_for_status(url: str, status: int, *, within: float = 60) -> dict:
    """Poll ``url`` until it answers ``status``; connection refusals count as not yet."""
    deadline = time.monotonic() + within
    last = None
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url) as response:
                    last = response.status
                    if response.status == status:
                        return await response.json()
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never answered {status} (last: {last})")


# --- a real process ------------------------------------------------------------------------------


def old_and_new_records(url: str) -> tuple[int, int]:
    store = StateStore(url)
    try:
        record = QuestionRecord("slack", "C1", "U1", "q?", True, "a")
        old = store.record_question(record, at=utcnow() - timedelta(days=45))
        new = store.record_question(record)
        return old, new
    finally:
        store.close()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_serve_process_is_healthy_exports_metrics_applies_retention_and_exits_0_on_sigterm(
    request, tmp_path, isolated_home, database
):
    port = free_port()
    url = (
        f"sqlite:///{isolated_home / 'state.db'}" if database == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    isolated_home.mkdir(parents=True, exist_ok=True)
    old, new = old_and_new_records(url)
    env = {k: v for k, v in os.environ.items() if k not in PLATFORM_VARIABLES}
    env.update(
        CITEBOT_HOME=str(isolated_home),
        CITEBOT_EMBEDDER="hashing",
        CITEBOT_PORT=str(port),
        CITEBOT_DATABASE_URL=url,
        CITEBOT_RETENTION_DAYS="30",
        CITEBOT_LOG_FORMAT="json",
        PYTHONPATH=str(PROJECT_ROOT),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        health = asyncio.run(wait_for_status(f"http://127.0.0.1:{port}/healthz", 200))
        assert health == {"status": "ok"}
        metrics = asyncio.run(_get(f"http://127.0.0.1:{port}/metrics"))
        assert metrics[0] == 200 and metrics[1].startswith("text/plain")
        for name in ("citebot_questions_total", "citebot_answered_total", "citebot_refused_total",
                     "citebot_answer_latency_seconds", "citebot_feedback_total",
                     "citebot_errors_total"):
            assert f"# TYPE {name.removesuffix('_total')}" in metrics[2], name

        # Retention runs at start: the 45-day-old record goes, today's stays.
        deadline = time.monotonic() + 30
        store = StateStore(url, migrate=False)
        try:
            while store.question(old) is not None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert store.question(old) is None and store.question(new) is not None
        finally:
            store.close()

        # The index serve loaded answers a question from the CLI beside it.
        ask = subprocess.run(
            [sys.executable, "-m", "bot.cli", "ask", "--json", "Rmb26bn financing support"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )
        assert ask.returncode == 0, ask.stderr
        assert '"paragraph": 6' in ask.stdout

        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "no chat platform is configured" in stderr
    assert '"message": "stopped"' in stderr
    assert "retention: deleted 1 question records" in stderr


async def _get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, response.headers["Content-Type"], await response.text()


def test_serve_with_a_half_configured_platform_stops_with_one_line(tmp_path, isolated_home):
    env = {k: v for k, v in os.environ.items() if k not in PLATFORM_VARIABLES}
    env.update(CITEBOT_HOME=str(isolated_home), SLACK_BOT_TOKEN="xoxb-half-configured-secret",
               PYTHONPATH=str(PROJECT_ROOT))
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "SLACK_SIGNING_SECRET" in lines[0], result.stderr
    assert "xoxb-half-configured-secret" not in result.stderr + result.stdout


def test_serve_reports_a_busy_port_by_name(tmp_path, isolated_home):
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k not in PLATFORM_VARIABLES}
        env.update(CITEBOT_HOME=str(isolated_home), CITEBOT_EMBEDDER="hashing",
                   CITEBOT_PORT=str(port), PYTHONPATH=str(PROJECT_ROOT))
        result = subprocess.run(
            [sys.executable, "-m", "bot.cli", "serve"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 1
    assert f"citebot: cannot listen on port {port}" in result.stderr
    assert "CITEBOT_PORT" in result.stderr.strip().splitlines()[-1]


# --- both platforms on one server ----------------------------------------------------------------


@pytest_asyncio.fixture
async def discord_fake():
    async with FakeDiscord(token=DEFAULT_TOKEN) as server:
        yield server


@pytest.mark.asyncio
async def test_one_process_answers_on_slack_and_discord_through_one_port(
    isolated_home, discord_fake
):
    with FakeSlackWebAPI(token="xoxb-test") as slack:
        port = free_port()
        settings = Settings(
            home=isolated_home, embedder="hashing", port=port,
            slack_bot_token="xoxb-test", slack_signing_secret="secret",
            slack_api_url=slack.base_url,
            DISCORD_TOKEN=DEFAULT_TOKEN, DISCORD_API_URL=discord_fake.rest_base,
            DISCORD_GATEWAY_URL=discord_fake.gateway_url,
        )
        before = {p: sample("citebot_questions_total", platform=p) for p in ("slack", "discord")}
        answered = {p: sample("citebot_answered_total", platform=p) for p in ("slack", "discord")}
        stop = asyncio.Event()
        server = asyncio.create_task(serving.serve(settings, stop=stop))
        base = f"http://127.0.0.1:{port}"
        try:
            # Ready only once the index is loaded and Discord has seen every server.
            assert await wait_for_status(f"{base}/healthz", 200) == {"status": "ok"}
            body = slash_command_form(
                "/ask", "Rmb26bn financing support", "U1", "C1", slack.response_url()
            )
            async with aiohttp.ClientSession() as http, http.post(
                f"{base}/slack/events", data=body, headers=sign_request(body, "secret")
            ) as response:
                assert response.status == 200
            [slack_answer] = await slack.wait_for("response_url", timeout=10)
            assert "paragraph 6" in slack_answer["text"]

            await discord_fake.send_message(f"<@{discord_fake.bot_id}> Rmb26bn financing support")
            [reply] = await discord_fake.wait_for("POST", re.compile(r"/channels/\d+/messages"))
            assert "Rmb26bn ($3.7bn)" in reply.json["embeds"][0]["description"]

            status, _, text = await _get(f"{base}/metrics")
            assert status == 200
            for platform in ("slack", "discord"):
                assert sample("citebot_questions_total", platform=platform) == before[platform] + 1
                assert sample("citebot_answered_total", platform=platform) == answered[platform] + 1
                assert f'citebot_questions_total{{platform="{platform}"}}' in text
        finally:
            stop.set()
            await asyncio.wait_for(server, timeout=30)
        await discord_fake.wait_for_disconnect()
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            pass


# --- graceful shutdown ---------------------------------------------------------------------------


class HeldIndex:
    """Wraps the real index so one question can be held in flight until the test releases it."""

    def __init__(self, index):
        self._index = index
        self.entered = threading.Event()
        self.release = threading.Event()

    def __getattr__(self, name):
        return getattr(self._index, name)

    def ask(self, question, **kw):
        if question.startswith("HOLD "):
            self.entered.set()
            assert self.release.wait(timeout=60), "the test never released the question"
            question = question.removeprefix("HOLD ")
        return self._index.ask(question, **kw)


@pytest.mark.asyncio
async def test_sigterm_stops_new_questions_and_finishes_the_ones_in_flight(isolated_home):
    port = free_port()
    settings = Settings(
        home=isolated_home, embedder="hashing", port=port, shutdown_timeout=60,
        slack_bot_token="xoxb-test", slack_signing_secret="secret",
    )
    service = open_service(settings)
    held = HeldIndex(service.index)
    service.index = held
    stop = asyncio.Event()
    server = asyncio.create_task(serving.serve(settings, service=service, stop=stop))
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_for_status(f"{base}/healthz", 200)
        in_flight = asyncio.create_task(
            service.ask(Question("slack", "C1", "U1", "HOLD Rmb26bn financing support"))
        )
        assert await asyncio.to_thread(held.entered.wait, 30)

        os.kill(os.getpid(), signal.SIGTERM)  # what a container stop sends
        assert await wait_for_status(f"{base}/healthz", 503) == {"status": "stopping"}
        with pytest.raises(ShuttingDown, match="restarting"):
            await service.ask(Question("slack", "C1", "U2", "Rmb26bn financing support"))
        body = slash_command_form("/ask", "anything", "U1", "C1", "http://127.0.0.1:9/unused")
        async with aiohttp.ClientSession() as http, http.post(
            f"{base}/slack/events", data=body, headers=sign_request(body, "secret")
        ) as response:
            assert response.status == 503  # Slack retries it, on a replica that is up
        assert not server.done() and not in_flight.done()

        held.release.set()
        reply = await asyncio.wait_for(in_flight, timeout=30)
        assert reply.answer.answered and reply.question_id is not None
        await asyncio.wait_for(server, timeout=30)
    finally:
        held.release.set()
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server, timeout=30)
        service.state.close()
    assert stop.is_set()


@pytest.mark.asyncio
async def test_shutdown_gives_up_on_a_stuck_question_after_the_timeout(isolated_home, caplog):
    settings = Settings(home=isolated_home, embedder="hashing", port=free_port(),
                        shutdown_timeout=0.2)
    service = open_service(settings)
    held = HeldIndex(service.index)
    service.index = held
    stop = asyncio.Event()
    server = asyncio.create_task(serving.serve(settings, service=service, stop=stop))
    try:
        await wait_for_status(f"http://127.0.0.1:{settings.port}/healthz", 200)
        stuck = asyncio.create_task(service.ask(Question("slack", "C1", "U1", "HOLD Xi")))
        assert await asyncio.to_thread(held.entered.wait, 30)
        stop.set()
        with caplog.at_level("WARNING", logger="citebot.serve"):
            await asyncio.wait_for(server, timeout=30)
        assert "1 questions still in flight" in caplog.text
        assert not stuck.done()
    finally:
        held.release.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(stuck, timeout=30)
        service.state.close()


# --- the digest hook -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_digest_scheduler_is_started_and_stopped_with_serve(isolated_home, monkeypatch):
    import types

    events = []

    class DigestScheduler:
        def __init__(self, *, settings, service, platforms):
            events.append(("init", sorted(platforms)))

        async def start(self):
            events.append("start")

        def stop(self):  # plain methods are accepted too
            events.append("stop")

    module = types.ModuleType("bot.digest.scheduler")
    module.DigestScheduler = DigestScheduler
    monkeypatch.setitem(sys.modules, "bot.digest.scheduler", module)
    if "bot.digest" not in sys.modules:
        monkeypatch.setitem(sys.modules, "bot.digest", types.ModuleType("bot.digest"))

    settings = Settings(home=isolated_home, embedder="hashing", port=free_port(),
                        slack_bot_token="xoxb-test", slack_signing_secret="secret")
    stop = asyncio.Event()
    server = asyncio.create_task(serving.serve(settings, stop=stop))
    await wait_for_status(f"http://127.0.0.1:{settings.port}/healthz", 200)
    assert events == [("init", ["slack"]), "start"]
    stop.set()
    await asyncio.wait_for(server, timeout=30)
    assert events[-1] == "stop"
