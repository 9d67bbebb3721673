"""Load: many questions at once through the real adapters, end to end over local wire fakes.

    python -m bench.load                       # 200 Slack events + 200 Discord interactions, real model
    python -m bench.load --slack 20 --discord 20 --embedder hashing --no-write   # a smoke run

Slack: signed ``event_callback`` app mentions POSTed all at once to ``/slack/events`` (the bot's
aiohttp server and bolt's HTTP path), answered through ``chat.postMessage`` on the fake Slack Web
API. Discord: ``/ask`` interactions dispatched all at once over the fake gateway to discord.py,
answered by editing each interaction's original response on the fake REST API. A question's
latency runs from the moment it is sent to the moment its answer reaches the fake's wire;
throughput is questions answered per second of the round's wall clock. Every question must be
answered exactly once, with no error or apology, or the run fails. Each platform runs the same
load twice, and the process's RSS after each round shows whether memory holds steady.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil

from bench import quality

ROOT = quality.ROOT
CORPUS = ROOT / "corpus"
HEADING = "## Load"
SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench"
# Questions that the bundled article answers, cycled so every asker has a real one.
QUESTIONS = (
    "how much did Xi pledge?",
    "where was the summit held?",
    "which countries attended the summit?",
    "what did Xi propose on defence?",
    "what pipeline was discussed?",
)
APOLOGY = ("went wrong", "Sorry")


@dataclass
class Round:
    platform: str
    sent: int
    label: str = ""  # "1", "2", … for load rounds; "alone" for one question at a time
    latencies: list[float] = field(default_factory=list)  # seconds, one per answered question
    wall: float = 0.0
    answered_once: int = 0
    problems: list[str] = field(default_factory=list)
    rss_after: int = 0

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.wall if self.wall > 0 else float("nan")

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) if self.latencies else float("nan")

    def check(self) -> None:
        """Raise unless every question was answered exactly once, with no error."""
        if self.problems or self.answered_once != self.sent:
            raise AssertionError(
                f"{self.platform}: {self.answered_once}/{self.sent} answered exactly once; "
                f"problems: {self.problems[:5]}"
            )


def rss() -> int:
    gc.collect()
    return psutil.Process().memory_info().rss


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- Slack: signed events to /slack/events --------------------------------------------------------


@contextlib.asynccontextmanager
async def slack_app(service, home: Path):
    """The bolt app behind the bot's aiohttp server on a local port, talking to a fake Slack."""
    from bot.settings import Settings
    from bot.slack.app import build_app
    from bot.slack.http import add_slack_routes
    from bot.web import make_web_app, start_web_app
    from tests.fakes.slack_api import FakeSlackWebAPI

    with FakeSlackWebAPI(token=TOKEN) as fake:
        settings = Settings(home=home, slack_bot_token=TOKEN, slack_signing_secret=SECRET,
                            slack_api_url=fake.base_url, rate_limit="0")
        web_app = make_web_app(lambda: True)
        add_slack_routes(web_app, build_app(settings, service))
        port = _free_port()
        runner = await start_web_app(web_app, port=port, host="127.0.0.1")
        try:
            yield fake, f"http://127.0.0.1:{port}/slack/events"
        finally:
            await runner.cleanup()


async def slack_round(fake, url: str, count: int, *, round_no: int, timeout: float) -> Round:
    import aiohttp

    from tests.fakes.slack_api import app_mention_event, event_callback, signed_json

    fake.clear()
    result = Round("slack", count)
    base = 1_720_000_000 + round_no * 10_000
    stamps = [f"{base + n}.000100" for n in range(count)]
    bodies = []
    for n, ts in enumerate(stamps):
        event = app_mention_event(f"<@UBOT> {QUESTIONS[n % len(QUESTIONS)]}", f"C{n % 7}",
                                  f"U{round_no}x{n}", ts)
        bodies.append(signed_json(event_callback(event, event_id=f"Ev{round_no}x{n}"), SECRET))
    sent_at: dict[str, float] = {}

    async def send(http, ts: str, body: bytes, headers: dict) -> None:
        sent_at[ts] = time.time()  # the fake stamps what it receives with time.time()
        async with http.post(url, data=body, headers=headers) as response:
            if response.status != 200:
                result.problems.append(f"/slack/events answered {response.status}")

    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.gather(*(send(http, ts, body, headers)
                               for ts, (body, headers) in zip(stamps, bodies, strict=True)))
        deadline = time.monotonic() + timeout
        while len(fake.requests_for("chat.postMessage", ok_only=True)) < count:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
    result.wall = time.perf_counter() - started
    await asyncio.sleep(0.3)  # a doubled answer would arrive now
    posts = fake.requests_for("chat.postMessage", ok_only=True)
    by_thread: dict[str, list] = {}
    for post in posts:
        by_thread.setdefault(post.body.get("thread_ts"), []).append(post)
    for ts in stamps:
        answers = by_thread.get(ts, [])
        if len(answers) == 1:
            text = json.dumps(answers[0].body, ensure_ascii=False)
            if any(word in text for word in APOLOGY):
                result.problems.append(f"apology in thread {ts}")
            result.answered_once += 1
            result.latencies.append(answers[0].at - sent_at[ts])
        else:
            result.problems.append(f"thread {ts} got {len(answers)} answers")
    failed = [r for r in fake.requests if not r.ok]
    result.problems += [f"{r.method} answered {r.status}" for r in failed]
    return result


# --- Discord: /ask interactions over the gateway --------------------------------------------------


@contextlib.asynccontextmanager
async def discord_bot(service):
    from bot.discord.bot import CiteBot, endpoints
    from bot.settings import Settings
    from tests.fakes.discord_server import DEFAULT_TOKEN, FakeDiscord, running_client

    class LoadBot(CiteBot):
        async def before_identify_hook(self, shard_id, *, initial=False):
            return  # discord.py waits 5 s between shards' IDENTIFY; the fake has no such limit

    async with FakeDiscord(token=DEFAULT_TOKEN, allowed_privileged_intents=0) as fake:
        settings = Settings(DISCORD_TOKEN=DEFAULT_TOKEN, DISCORD_API_URL=fake.rest_base,
                            DISCORD_GATEWAY_URL=fake.gateway_url, rate_limit="0")
        with endpoints(settings):
            bot = LoadBot(service, settings=settings, guild_ready_timeout=0.3)
            async with running_client(bot, DEFAULT_TOKEN, ready_timeout=60):
                yield fake


async def discord_round(fake, count: int, *, round_no: int, timeout: float) -> Round:
    fake.clear_requests()
    result = Round("discord", count)
    askers = [fake.add_user(f"asker-{round_no}-{n}") for n in range(count)]
    payloads = [
        fake.interaction_create_slash("ask", {"question": QUESTIONS[n % len(QUESTIONS)]},
                                      user=askers[n])
        for n in range(count)
    ]
    sent_at: dict[str, float] = {}

    async def send(payload: dict) -> None:
        sent_at[payload["token"]] = time.monotonic()  # the fake stamps with time.monotonic()
        await fake.dispatch("INTERACTION_CREATE", payload)

    def edits() -> list:
        return [r for r in fake.requests
                if r.method == "PATCH" and r.path.endswith("/messages/@original")]

    started = time.perf_counter()
    await asyncio.gather(*(send(p) for p in payloads))
    deadline = time.monotonic() + timeout
    while len([r for r in edits() if r.status == 200]) < count:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    result.wall = time.perf_counter() - started
    await asyncio.sleep(0.3)
    by_token: dict[str, list] = {}
    for request in edits():
        token = request.path.split("/")[3]
        by_token.setdefault(token, []).append(request)
    callbacks: dict[str, int] = {}
    for request in fake.requests:
        if request.method == "POST" and request.path.endswith("/callback"):
            token = request.path.split("/")[3]
            callbacks[token] = callbacks.get(token, 0) + 1
    for payload in payloads:
        token = payload["token"]
        answers = [r for r in by_token.get(token, []) if r.status == 200]
        if len(answers) != 1 or callbacks.get(token) != 1:
            result.problems.append(f"interaction {payload['id']}: {len(answers)} answers, "
                                   f"{callbacks.get(token, 0)} callbacks")
            continue
        body = answers[0].json
        if any(word in (body.get("content") or "") for word in APOLOGY) or not body.get("embeds"):
            result.problems.append(f"interaction {payload['id']} got no answer embed")
        result.answered_once += 1
        result.latencies.append(answers[0].at - sent_at[token])
    result.problems += [f"{r.method} {r.path} answered {r.status}"
                        for r in fake.requests if r.status >= 400]
    return result


# --- running it -----------------------------------------------------------------------------------


async def run_load(service, home: Path, *, slack: int, discord: int, rounds: int = 2,
                   timeout: float = 600, alone: int = 0) -> list[Round]:
    """``rounds`` rounds of ``slack`` events then ``discord`` interactions, each platform first
    asked ``alone`` questions one at a time (the latency with no load, to compare against)."""
    results: list[Round] = []
    await service.warm_up()
    if slack:
        async with slack_app(service, home) as (fake, url):
            results += await _rounds(
                lambda count, round_no: slack_round(fake, url, count, round_no=round_no,
                                                    timeout=timeout),
                "slack", slack, rounds, alone,
            )
    if discord:
        async with discord_bot(service) as fake:
            results += await _rounds(
                lambda count, round_no: discord_round(fake, count, round_no=round_no,
                                                      timeout=timeout),
                "discord", discord, rounds, alone,
            )
    return results


async def _rounds(one_round, platform: str, count: int, rounds: int, alone: int) -> list[Round]:
    results = []
    if alone:
        single = Round(platform, 0, label="alone")
        for n in range(alone):
            result = await one_round(1, 1000 + n)
            single.sent += result.sent
            single.answered_once += result.answered_once
            single.latencies += result.latencies
            single.problems += result.problems
            single.wall += result.wall
        single.rss_after = rss()
        results.append(single)
    for round_no in range(rounds):
        result = await one_round(count, round_no)
        result.label = str(round_no + 1)
        result.rss_after = rss()
        results.append(result)
    return results


def open_service(home: Path, embedder: str):
    from bot.service import AnswerService
    from bot.state import StateStore, default_database_url
    from index.embedders import HashingEmbedder, model_embedder
    from index.engine import CiteIndex

    home.mkdir(parents=True, exist_ok=True)
    model = HashingEmbedder() if embedder == "hashing" else model_embedder()  # the default encoder
    index = CiteIndex(home, embedder=model, corpus=CORPUS)
    return AnswerService(index, StateStore(default_database_url(home)))


def report(results: list[Round], *, embedder: str, rss_start: int) -> str:
    mib = 1024 * 1024
    cpu = platform.processor() or platform.machine()
    lines = [
        HEADING,
        "",
        f"`python -m bench.load`: every question sent at once, end to end through the real adapters "
        f"(bolt over HTTP, discord.py over the gateway) to local fakes of Slack and Discord; "
        f"embedder `{embedder}`, SQLite state, {os.cpu_count()} cores ({cpu}). Latency is from "
        "sending a question to its answer reaching the fake's wire; throughput is answers per "
        "second of the round's wall clock. Every question was answered exactly once, with no error.",
        "",
        "| platform | round | questions | p50 latency | p95 latency | throughput | RSS after |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        label = "one at a time" if r.label == "alone" else r.label
        throughput = "—" if r.label == "alone" else f"{r.throughput:.1f}/s"
        lines.append(
            f"| {r.platform} | {label} | {r.sent} | {r.percentile(50):.2f} s | "
            f"{r.percentile(95):.2f} s | {throughput} | {r.rss_after / mib:.0f} MiB |"
        )
    by_platform: dict[str, list[Round]] = {}
    for r in results:
        by_platform.setdefault(r.platform, []).append(r)
    lines.append("")
    for name, rounds in by_platform.items():
        loaded = [r for r in rounds if r.label != "alone"]
        single = next((r for r in rounds if r.label == "alone"), None)
        notes = []
        if single is not None and loaded:
            slowdown = loaded[-1].percentile(50) / single.percentile(50)
            notes.append(f"p50 under load is {slowdown:.0f}× the p50 of a question asked alone "
                         f"(all {loaded[-1].sent} arrive at once, so most of it is waiting in line)")
            one_by_one = 1 / float(np.mean(single.latencies))
            notes.append(f"throughput {loaded[-1].throughput / one_by_one:.1f}× that of answering "
                         f"one question at a time ({one_by_one:.1f}/s)")
        if len(loaded) >= 2:
            growth = (loaded[-1].rss_after - loaded[0].rss_after) / mib
            notes.append(f"RSS {growth:+.1f} MiB from the first load round to the last")
        if notes:
            lines.append(f"- {name}: " + "; ".join(notes) + ".")
    lines.append(f"- The process held {rss_start / mib:.0f} MiB with the model and index loaded, "
                 "before the first question.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[Round]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slack", type=int, default=200, help="Slack events per round")
    parser.add_argument("--discord", type=int, default=200, help="Discord interactions per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--alone", type=int, default=10,
                        help="questions asked one at a time first, per platform (the baseline)")
    parser.add_argument("--embedder", choices=("minilm", "hashing"), default="minilm")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    parser.add_argument("--benchmarks", type=Path, default=quality.BENCHMARKS)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="citebot-load-") as tmp:
        home = Path(tmp) / "home"
        service = open_service(home, args.embedder)
        service.index.warm_up()
        rss_start = rss()
        try:
            results = asyncio.run(run_load(service, home, slack=args.slack, discord=args.discord,
                                           rounds=args.rounds, alone=args.alone))
        finally:
            service.state.close()
    for result in results:
        result.check()
    section = report(results, embedder=args.embedder, rss_start=rss_start)
    print(section)
    if not args.no_write:
        quality.update_benchmarks(section, args.benchmarks, HEADING)
    return results


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
