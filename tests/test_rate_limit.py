"""One person cannot crowd out the rest: CITEBOT_RATE_LIMIT refuses their questions past the limit
with a friendly reply (counted and logged), and a burst from one person waits in its own queue
instead of ahead of everyone else's questions."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from click.testing import CliRunner
from prometheus_client import REGISTRY

from bot.cli import main
from bot.ratelimit import RateLimited, parse_rate
from bot.runtime import open_service
from bot.service import PER_USER_IN_FLIGHT, AnswerService, Question
from bot.settings import Settings, get_settings
from bot.state import StateStore
from tests.test_slack_app import (  # noqa: F401  (fixtures: the real bolt app behind HTTP)
    QUESTION,
    fake,
    make_slack,
    mrkdwn,
    settings,
    state,
)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def store(tmp_path):
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield state
    state.close()


class CompletionOrder:
    """The real index, noting which question finished answering in which order."""

    def __init__(self, index):
        self._index = index
        self.finished: list[str] = []
        self._lock = threading.Lock()

    def __getattr__(self, name):
        return getattr(self._index, name)

    def ask(self, question: str, **kwargs):
        answer = self._index.ask(question, **kwargs)
        with self._lock:
            self.finished.append(question)
        return answer


# --- the setting ----------------------------------------------------------------------------------


def test_the_setting_reads_rates_and_switches_off(isolated_home, monkeypatch):
    assert Settings(home=isolated_home).rate_limit == "10/minute"
    for text, amount in (("10/minute", 10), ("5 per second", 5), ("100/hour", 100)):
        assert parse_rate(text).amount == amount
    for off in ("0", "", "  ", "off"):
        assert parse_rate(off) is None
        assert AnswerService(None, rate_limit=off).limiter is None

    monkeypatch.setenv("CITEBOT_RATE_LIMIT", "3/minute")
    monkeypatch.setenv("CITEBOT_EMBEDDER", "hashing")
    get_settings.cache_clear()
    service = open_service()
    try:
        assert service.limiter is not None and service.limiter.rate.amount == 3
    finally:
        service.state.close()


def test_a_wrong_rate_stops_start_up_with_one_line_naming_the_variable(isolated_home):
    get_settings.cache_clear()
    result = CliRunner().invoke(main, ["config", "check"], env={"CITEBOT_RATE_LIMIT": "lots"})
    assert result.exit_code != 0
    message = result.output + str(result.exception or "")
    assert "CITEBOT_RATE_LIMIT must be a rate like 10/minute" in message
    assert "Traceback" not in result.output


# --- the limit ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_over_the_limit_gets_a_friendly_reply_counted_and_logged(fake_index, store, caplog):
    service = AnswerService(fake_index, store, rate_limit="3/minute")
    before = sample("citebot_rate_limited_total", platform="slack")
    for _ in range(3):
        reply = await service.ask(Question("slack", "C1", "U1", QUESTION))
        assert reply.answer.answered
    caplog.clear()  # an earlier test may have left this logger at INFO: only the refusal counts
    with (
        caplog.at_level(logging.INFO, logger="citebot.questions"),
        pytest.raises(RateLimited) as refused,
    ):
        await service.ask(Question("slack", "C1", "U1", QUESTION))
    message = str(refused.value)
    assert "3 questions a minute" in message and "try again in" in message
    assert 1 <= refused.value.retry_in <= 60 and f"{refused.value.retry_in} seconds" in message
    assert sample("citebot_rate_limited_total", platform="slack") == before + 1
    assert [r.outcome for r in caplog.records if r.name == "citebot.questions"] == ["rate_limited"]

    # Others, and the same person on another platform, are counted apart.
    assert (await service.ask(Question("slack", "C1", "U2", QUESTION))).answer.answered
    assert (await service.ask(Question("discord", "C1", "U1", QUESTION))).answer.answered
    # A refused question is not recorded, and does not use up the person's allowance.
    assert len(_rows(store)) == 5


@pytest.mark.asyncio
async def test_a_flood_from_one_person_is_capped_and_the_others_are_answered(fake_index, store):
    service = AnswerService(fake_index, store, rate_limit="10/minute")
    flood = [service.ask(Question("slack", "C1", "UFLOOD", f"{QUESTION} {n}")) for n in range(30)]
    others = [service.ask(Question("slack", "C1", f"U{n}", QUESTION)) for n in range(5)]
    results = await asyncio.gather(*flood, *others, return_exceptions=True)
    flooded, answered = results[:30], results[30:]
    assert sum(isinstance(r, RateLimited) for r in flooded) == 20
    assert sum(not isinstance(r, BaseException) for r in flooded) == 10
    assert all(not isinstance(r, BaseException) and r.answer.answered for r in answered)


@pytest.mark.asyncio
async def test_a_burst_waits_in_its_senders_queue_not_ahead_of_everyone(fake_index, store):
    # No rate limit here: this is the second guard, for bursts the limit allows.
    index = CompletionOrder(fake_index)
    service = AnswerService(index, store, rate_limit="0")
    burst = [
        asyncio.create_task(service.ask(Question("slack", "C1", "UBURST", f"{QUESTION} {n}")))
        for n in range(40)
    ]
    await asyncio.sleep(0)  # every burst question has reached the service first
    other = await service.ask(Question("slack", "C2", "UOTHER", "Xi summit Central Asia"))
    assert other.answer.citations
    position = index.finished.index("Xi summit Central Asia")
    # The shared worker pool saw at most PER_USER_IN_FLIGHT burst questions before this one; the
    # rest were still waiting in the burst's own queue when it was answered.
    assert position <= 3 * PER_USER_IN_FLIGHT, index.finished[: position + 1]
    replies = await asyncio.gather(*burst)
    assert len(replies) == 40 and len(index.finished) == 41
    assert service._turns == {}  # nothing left behind per person


@pytest.mark.asyncio
async def test_slack_shows_the_limit_message_in_the_thread(make_slack):
    slack = await make_slack(lambda index, state: AnswerService(index, state, rate_limit="2/minute"))
    for _ in range(3):
        await slack.mention(QUESTION, user="UHASTY")
    posts = await slack.posts(3)
    shown = [mrkdwn(post) for post in posts]
    assert sum("paragraph 6" in text for text in shown) == 2
    [limited] = [text for text in shown if "try again in" in text]
    assert "2 questions a minute" in limited
    await slack.mention(QUESTION, user="UCALM")
    assert "paragraph 6" in mrkdwn((await slack.posts(4))[3])


def _rows(store: StateStore) -> list:
    import sqlalchemy as sa

    from bot.state import questions

    with store.engine.connect() as connection:
        return connection.execute(sa.select(questions.c.id)).all()
