"""Posting exactly once: on time, after a restart, with two schedulers racing on one store, and
catching up a run missed while down. Posts go through slack_sdk to the local fake Slack Web API
and are counted there; "now" is always a fixed datetime, nothing sleeps."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from slack_sdk.web.async_client import AsyncWebClient

from bot.digest.schedule import Schedule
from bot.digest.scheduler import DigestRunner, DigestScheduler
from bot.service import AnswerService
from bot.slack.digest import SlackPoster
from bot.state import QuestionRecord, StateStore
from tests.fakes.slack_api import FakeSlackWebAPI

UTC = UTC
TOKEN = "xoxb-test"
ENABLED = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)  # London is on UTC in January


def day(d: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, 1, d, hour, minute, tzinfo=UTC)


@pytest.fixture
def fake():
    with FakeSlackWebAPI(token=TOKEN) as server:
        yield server


@pytest.fixture
def stores(tmp_path):
    """Open state stores on one SQLite file: each is what another process (a restart, a replica)
    would open."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    opened: list[StateStore] = []

    def open_store() -> StateStore:
        opened.append(StateStore(url))
        return opened[-1]

    yield open_store
    for store in opened:
        store.close()


@pytest_asyncio.fixture
async def client(fake):
    yield AsyncWebClient(token=TOKEN, base_url=fake.base_url)


@pytest.fixture
def make_runner(fake_index, client):
    def make(store: StateStore) -> DigestRunner:
        return DigestRunner(fake_index, store, [SlackPoster(client)])

    return make


def subscribe(store, channel="C1", at=ENABLED, **options):
    store.set_digest(
        "slack",
        channel,
        enabled=True,
        at_time="09:00",
        timezone_name="Europe/London",
        at=at,
        **options,
    )


def ask(store, question, at, channel="C1", answered=True):
    store.record_question(
        QuestionRecord("slack", channel, "U1", question, answered, "Rmb26bn" if answered else ""),
        at=at,
    )


def posts(fake, channel=None):
    return [
        b for b in fake.calls("chat.postMessage", ok_only=True) if channel in (None, b["channel"])
    ]


def shown_text(body) -> str:
    return "\n".join(
        block["text"]["text"] for block in body["blocks"] if isinstance(block.get("text"), dict)
    )


# --- on time, once ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_posted_once_at_its_time_and_not_again_after_a_restart(fake, stores, make_runner):
    store = stores()
    subscribe(store, at=day(13, 12))  # switched on after the 13th's run
    runner = make_runner(store)

    assert await runner.run_due(day(14, 8, 59)) == []  # not yet
    [result] = await runner.run_due(day(14, 9, 0))
    assert (result.status, result.slot) == ("posted", "2026-01-14")
    assert await runner.run_due(day(14, 9, 1)) == []

    # A restart: a new process, a new store connection, the same database.
    restarted = make_runner(stores())
    assert await restarted.run_due(day(14, 9, 30)) == []
    [body] = posts(fake)
    assert body["channel"] == "C1" and body["blocks"][0]["type"] == "header"
    assert "Xi Jinping pushes Central Asian defence co-operation plan" in shown_text(body)
    [run] = store.digest_runs("slack", "C1")
    assert (run["status"], run["message"], run["window_end"]) == ("posted", result.message, day(14))

    # The next day's digest starts where this one ended: a question, and no old article.
    ask(store, "How much did Xi pledge?", day(14, 15))
    [tomorrow] = await restarted.run_due(day(15, 9, 0))
    assert tomorrow.status == "posted"
    assert (tomorrow.digest.since, tomorrow.digest.asked, tomorrow.digest.documents) == (
        day(14),
        1,
        (),
    )
    assert len(posts(fake)) == 2


@pytest.mark.asyncio
async def test_two_schedulers_racing_on_one_store_post_each_digest_once(fake, stores, make_runner):
    channels = [f"C{n}" for n in range(6)]
    setup = stores()
    for channel in channels:
        subscribe(setup, channel)
    now = day(14, 9, 0)
    replicas = [DigestScheduler(runner=make_runner(stores()), clock=lambda: now) for _ in range(2)]

    first, second = await asyncio.gather(*(replica.refresh() for replica in replicas))

    assert sorted(b["channel"] for b in posts(fake)) == channels  # each once, none twice
    posted = [r for r in first + second if r.status == "posted"]
    assert sorted(r.channel for r in posted) == channels
    assert all(r.status in ("posted", "taken") for r in first + second)
    # Again, now that every run is recorded: nothing more.
    assert await replicas[0].refresh() == [] and await replicas[1].refresh() == []
    assert len(posts(fake)) == len(channels)


def test_claiming_a_run_is_atomic_across_connections(stores):
    claimants = [stores() for _ in range(8)]
    barrier = threading.Barrier(len(claimants))
    won: list[int | None] = [None] * len(claimants)

    def claim(n: int) -> None:
        barrier.wait()
        won[n] = claimants[n].claim_digest_run("slack", "C1", "2026-01-14", kind="scheduled")

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(len(claimants))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len([w for w in won if w is not None]) == 1


# --- catching up --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_run_missed_while_down_is_posted_once_within_the_grace_window(
    fake, stores, make_runner
):
    store = stores()
    subscribe(store)
    runner = make_runner(store)
    # Down from before 09:00; back five hours later.
    [late] = await runner.run_due(day(14, 14, 0))
    assert (late.status, late.slot) == ("posted", "2026-01-14")
    assert await runner.run_due(day(14, 14, 1)) == []
    assert await make_runner(stores()).run_due(day(14, 14, 59)) == []
    assert len(posts(fake)) == 1


@pytest.mark.asyncio
async def test_a_run_missed_beyond_the_grace_window_is_skipped_and_the_next_covers_the_gap(
    fake, stores, make_runner
):
    store = stores()
    subscribe(store)
    runner = make_runner(store)
    [first] = await runner.run_due(day(13, 9, 0))
    assert first.status == "posted"
    ask(store, "How much did Xi pledge?", day(14, 8))  # asked the day the digest was missed

    [missed] = await runner.run_due(day(14, 15, 30))  # back 6.5 hours after 09:00
    assert (missed.status, missed.slot) == ("missed", "2026-01-14")
    assert await runner.run_due(day(14, 15, 31)) == []
    assert len(posts(fake)) == 1

    [next_day] = await runner.run_due(day(15, 9, 0))
    assert next_day.status == "posted" and next_day.digest.since == day(13)
    assert next_day.digest.asked == 1  # the gap is covered
    statuses = {r["slot"]: r["status"] for r in store.digest_runs("slack", "C1")}
    assert statuses == {"2026-01-13": "posted", "2026-01-14": "missed", "2026-01-15": "posted"}


@pytest.mark.asyncio
async def test_several_missed_days_come_to_one_digest(fake, stores, make_runner):
    store = stores()
    subscribe(store)
    runner = make_runner(store)
    await runner.run_due(day(10, 9, 0))  # before the subscription: nothing
    await runner.run_due(day(11, 9, 0))
    for d in (11, 12, 13):
        ask(store, f"Question asked on day {d}?", day(d, 18))

    [back] = await make_runner(stores()).run_due(day(14, 10, 0))  # down from the 11th to the 14th

    assert (back.status, back.slot) == ("posted", "2026-01-14")
    assert back.digest.since == day(11) and back.digest.asked == 3
    assert [b["channel"] for b in posts(fake)] == ["C1", "C1"]  # the 11th's, then one for the gap
    assert [r["slot"] for r in store.digest_runs("slack", "C1")] == ["2026-01-11", "2026-01-14"]


# --- failures and quiet days ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_failed_post_is_retried_and_posted_once(fake, stores, make_runner):
    store = stores()
    subscribe(store)
    runner = make_runner(store)
    fake.fail_next("chat.postMessage", status=200, body={"ok": False, "error": "not_in_channel"})

    [failed] = await runner.run_due(day(14, 9, 0))
    assert failed.status == "failed"
    assert store.digest_run("slack", "C1", "2026-01-14")["error"].startswith("SlackApiError")
    [retried] = await runner.run_due(day(14, 9, 1))
    assert retried.status == "posted" and retried.run_id == failed.run_id
    assert await runner.run_due(day(14, 9, 2)) == []
    assert len(posts(fake)) == 1
    assert store.digest_run("slack", "C1", "2026-01-14")["attempts"] == 2


@pytest.mark.asyncio
async def test_a_quiet_day_is_not_posted_unless_the_channel_asks_for_nothing_new(
    fake, stores, make_runner
):
    store = stores()
    subscribe(store, "C1")
    subscribe(store, "C2", post_empty=True)
    runner = make_runner(store)
    await runner.run_due(day(13, 9, 0))  # both post the article
    assert len(posts(fake)) == 2

    results = {r.channel: r.status for r in await runner.run_due(day(14, 9, 0))}
    assert results == {"C1": "empty", "C2": "posted"}
    [quiet] = posts(fake, "C2")[1:]
    assert "Nothing new since" in shown_text(quiet)
    assert len(posts(fake, "C1")) == 1


@pytest.mark.asyncio
async def test_posting_now_moves_the_start_of_the_next_digest(fake, stores, make_runner):
    store = stores()
    subscribe(store)
    runner = make_runner(store)
    manual = await runner.send_now("slack", "C1", day(14, 8, 0))
    assert manual.status == "posted" and manual.slot.startswith("manual:")

    [scheduled] = await runner.run_due(day(14, 9, 0))
    assert scheduled.status == "empty"  # the article was just shown and nothing was asked since
    assert scheduled.digest.since == day(14, 8, 0)
    assert len(posts(fake)) == 1


# --- the scheduler itself ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_scheduler_posts_at_start_up_keeps_a_job_per_channel_and_stops(
    fake, stores, fake_index, client
):
    store = stores()
    subscribe(store)
    # The clock says it is 09:00:30 on the 14th: the job for the channel is due.
    scheduler = DigestScheduler(
        service=AnswerService(fake_index, store),
        platforms={"slack": SlackPoster(client)},
        clock=lambda: day(14, 9, 0) + timedelta(seconds=30),
    )
    async with scheduler:
        assert scheduler.running
        [body] = await fake.wait_for("chat.postMessage", 1, ok_only=True)
        assert body["channel"] == "C1"
        [(channel, next_run)] = scheduler.next_runs().items()
        expected = Schedule.parse("09:00", "Europe/London").next_run(datetime.now(UTC))
        assert channel == ("slack", "C1") and abs(next_run - expected) < timedelta(seconds=5)

        store.set_digest("slack", "C1", enabled=False)
        assert await scheduler.refresh() == [] and scheduler.next_runs() == {}
    assert not scheduler.running and scheduler.next_runs() == {}
    assert len(posts(fake)) == 1
