"""What every chat adapter shares: a plain question in, an answer (and its record id) out.

Adapters (Slack, Discord, console) translate a platform event into :class:`Question`, call
:meth:`AnswerService.ask`, and render the :class:`Reply`. Answering runs in a worker thread so
the event loop keeps taking events; recording to the state store never blocks or breaks an
answer (a store outage is logged and the answer still goes out).

Two guards keep one person from crowding out the rest: ``CITEBOT_RATE_LIMIT`` refuses their
questions past the limit before any work is queued, and at most :data:`PER_USER_IN_FLIGHT` of a
person's questions are answered at once, the rest waiting in their own queue rather than the
shared worker pool's. Records the store could not take are kept (up to :data:`MAX_UNSAVED`) and
written again once it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, wait_exponential

from index.engine import DEFAULT_COLLECTION, CiteIndex
from index.errors import QuestionError
from index.models import Answer
from index.questions import visible_text

from . import logs, metrics
from .ratelimit import QuestionLimiter, RateLimited
from .state import QuestionRecord, StateStore, utcnow

log = logging.getLogger("citebot.service")

# Two per person: a follow-up can be answered while a slow first question is, yet a burst of
# twenty waits in its sender's own queue instead of taking every worker thread.
PER_USER_IN_FLIGHT = 2
# About a busy hour of questions; past that the oldest unsaved record is given up (and counted)
# rather than let an outage grow memory without bound.
MAX_UNSAVED = 1000


@dataclass(frozen=True)
class Question:
    platform: str  # "slack", "discord", "console"
    channel: str
    user: str
    text: str
    thread: str | None = None  # the platform's thread/conversation key, for follow-ups
    follow_up: bool = False  # asked in a thread CiteBot already answered: use its context
    direct: bool = False  # a direct message: it sees the DM collections (CITEBOT_DM_COLLECTIONS)
    # Whose collections answer when that is not ``channel``'s: Slack's assistant pane lives in a
    # DM with CiteBot but answers from the channel the person is looking at beside it.
    collections_from: str | None = None

    def __post_init__(self) -> None:
        # Zero-width, bidi and control characters change nothing a person sees, so they must not
        # change the answer, nor make an invisible message count as a question.
        object.__setattr__(self, "text", visible_text(self.text))


class ShuttingDown(QuestionError):
    """Asked after shutdown began. A QuestionError, so adapters show its message to the user."""

    def __init__(self) -> None:
        super().__init__("CiteBot is restarting; please ask again in a moment.")


@dataclass
class Reply:
    answer: Answer
    question_id: int | None  # the stored record, for feedback buttons; None if not stored


@dataclass
class _Unsaved:
    """A state write that failed, kept to be made again; ``write`` must be safe to repeat."""

    kind: str  # "question" or "vote", for the log
    write: Callable[..., Any]
    args: tuple
    kwargs: dict = field(default_factory=dict)


class AnswerService:
    # How long the background writer waits at most between attempts while the store is down;
    # any successful store call wakes it at once.
    unsaved_retry_max_wait = 30.0

    def __init__(
        self, index: CiteIndex, state: StateStore | None = None, *, rate_limit: str | None = None
    ):
        self.index = index
        self.state = state
        self.accepting = True
        self.limiter = QuestionLimiter.from_setting(rate_limit)
        # The tasks that asked (each adapter handles an event in a task of its own), so shutdown
        # can wait for the whole handler: the answer and the message that carries it.
        self._askers: set[asyncio.Task] = set()
        # (platform, user) -> [semaphore, questions holding or waiting for it]
        self._turns: dict[tuple[str, str], list] = {}
        self._unsaved: deque[_Unsaved] = deque()
        self._writer: asyncio.Task | None = None
        self._store_back: asyncio.Event | None = None

    async def warm_up(self) -> None:
        await asyncio.to_thread(self.index.warm_up)

    async def ask(self, question: Question) -> Reply:
        """Answer ``question``; raises :class:`index.errors.QuestionError` for unusable text
        (and :class:`ShuttingDown` once :meth:`drain` has begun). Counted and logged here."""
        if not self.accepting:
            logs.log_question(question.platform, "unavailable", 0.0)
            raise ShuttingDown()
        if self.limiter is not None:
            try:
                self.limiter.check(question.platform, question.user)
            except RateLimited:
                metrics.observe_question(question.platform, "rate_limited", 0.0)
                logs.log_question(question.platform, "rate_limited", 0.0)
                raise
        task = asyncio.current_task()
        if task is not None and task not in self._askers:
            self._askers.add(task)
            task.add_done_callback(self._askers.discard)
        started, outcome, reply = time.perf_counter(), "error", None
        metrics.IN_FLIGHT.inc()
        try:
            async with self._turn(question.platform, question.user):
                reply = await self._answer(question)
            outcome = "answered" if reply.answer.answered else "refused"
            metrics.observe_reader(question.platform, reply.answer.reader, reply.answer.llm_rejected)
            return reply
        except QuestionError:
            outcome = "invalid"
            raise
        finally:
            metrics.IN_FLIGHT.dec()
            seconds = time.perf_counter() - started
            metrics.observe_question(question.platform, outcome, seconds)
            logs.log_question(
                question.platform, outcome, seconds,
                answer=reply.answer if reply else None, text=question.text,
            )

    async def drain(self, timeout: float) -> int:
        """Stop taking questions, then wait up to ``timeout`` seconds for the handlers of those in
        flight to finish. Returns how many were still running when the wait ended."""
        self.accepting = False
        started = time.monotonic()
        pending = {t for t in self._askers if not t.done() and t is not asyncio.current_task()}
        if pending:
            _, pending = await asyncio.wait(pending, timeout=timeout)
        await self._last_write(max(1.0, timeout - (time.monotonic() - started)))
        return len(pending)

    @contextlib.asynccontextmanager
    async def _turn(self, platform: str, user: str):
        """Wait until fewer than PER_USER_IN_FLIGHT of this person's questions are answering."""
        key = (platform, user)
        turn = self._turns.get(key)
        if turn is None:
            turn = self._turns[key] = [asyncio.Semaphore(PER_USER_IN_FLIGHT), 0]
        turn[1] += 1
        try:
            async with turn[0]:
                yield
        finally:
            turn[1] -= 1
            if turn[1] == 0:
                del self._turns[key]

    async def _answer(self, question: Question) -> Reply:
        context = None
        if question.follow_up and question.thread and self.state is not None:
            context = await self._safely(
                self.state.last_question_in_thread, question.platform, question.channel, question.thread
            )
        seen_from = question.collections_from or question.channel
        collections = await self.collections_for(
            question.platform, seen_from, direct=question.direct
        )
        answer = await asyncio.to_thread(
            self.index.ask, question.text, context=context, collections=collections
        )
        question_id = None
        if self.state is not None:
            best = answer.best
            record = QuestionRecord(
                platform=question.platform,
                channel=question.channel,
                user=question.user,
                question=answer.question,
                answered=answer.answered,
                answer=answer.answer,
                thread=question.thread,
                document=best.document if best else None,
                paragraph=best.paragraph if best else None,
                score=best.score if best else None,
                latency_ms=answer.latency_ms,
            )
            asked_at = utcnow()
            question_id = await self._safely(self.state.record_question, record, at=asked_at)
            if question_id is None:
                self._keep(_Unsaved("question", StateStore.record_question_once, (record,),
                                    {"at": asked_at}))
        return Reply(answer, question_id)

    # What direct messages see; open_service sets it from CITEBOT_DM_COLLECTIONS.
    dm_collections: tuple[str, ...] = (DEFAULT_COLLECTION,)

    async def collections_for(self, platform: str, channel: str, *, direct: bool = False) -> list[str]:
        """What a channel may see: its bound collections, else the shared default one. When the
        store cannot say, the default — never more than the channel is entitled to. A direct
        message (``direct``, or a Slack DM, whose ids start with "D") sees the DM collections."""
        if direct or (platform == "slack" and channel.startswith("D")):
            return list(self.dm_collections)
        if self.state is None:
            return [DEFAULT_COLLECTION]
        bound = await self._safely(self.state.channel_collections, platform, channel)
        return bound or [DEFAULT_COLLECTION]

    async def vote(self, question_id: int, user: str, vote: int) -> bool:
        """Store a vote; False when the answer is unknown. While the store is down the vote is
        kept and written when it is back, so it counts as taken."""
        if self.state is None:
            return False
        voted_at = utcnow()
        stored = await self._safely(self.state.record_vote, question_id, user, vote, at=voted_at)
        if stored is None:
            # record_vote replaces a person's earlier vote, so writing it again is harmless.
            self._keep(_Unsaved("vote", StateStore.record_vote, (question_id, user, vote),
                                {"at": voted_at}))
            stored = True
        if stored:
            metrics.observe_vote(vote)
        return bool(stored)

    async def thread_of(self, platform: str, channel: str, question_id: int) -> str | None:
        """The thread a stored answer belongs to, so a reply to that answer continues it."""
        if self.state is None:
            return None
        record = await self._safely(self.state.question, question_id)
        if record and record.platform == platform and record.channel == channel:
            return record.thread
        return None

    async def _safely(self, function, *args, **kwargs):
        try:
            result = await asyncio.to_thread(function, *args, **kwargs)
        except Exception:  # the store is optional to answering: log, count, carry on
            log.exception("state store call %s failed", getattr(function, "__name__", function))
            metrics.observe_error("state")
            return None
        if self._unsaved and self._store_back is not None:
            self._store_back.set()  # the store answers again: write what it missed now
        return result

    # --- records kept through a state store outage -------------------------------------------

    @property
    def unsaved(self) -> int:
        """Records waiting for the state store to come back."""
        return len(self._unsaved)

    def _keep(self, unsaved: _Unsaved) -> None:
        if len(self._unsaved) >= MAX_UNSAVED:
            dropped = self._unsaved.popleft()
            metrics.STATE_DROPPED.inc()
            log.error("state store still unreachable: gave up an unsaved %s record "
                      "(%d kept at most)", dropped.kind, MAX_UNSAVED)
        self._unsaved.append(unsaved)
        metrics.STATE_UNSAVED.set(len(self._unsaved))
        log.warning("kept a %s record to write when the state store is back (%d waiting)",
                    unsaved.kind, len(self._unsaved))
        if self._writer is None or self._writer.done():
            self._store_back = asyncio.Event()
            self._writer = asyncio.create_task(self._write_unsaved(), name="citebot-unsaved-writer")

    async def _write_unsaved(self) -> None:
        """Write the kept records, oldest first, retrying with backoff until all are stored."""
        retrying = AsyncRetrying(
            wait=wait_exponential(multiplier=0.5, max=self.unsaved_retry_max_wait),
            sleep=self._until_store_back,
            before_sleep=self._log_still_down,
        )
        written = 0
        async for attempt in retrying:
            with attempt:
                written += await self._write_some()
        log.info("the state store is back: wrote %d record(s) kept during the outage", written)

    async def _write_some(self) -> int:
        """Write kept records until none is left; raises at the first the store refuses (that
        record stays first in line). Every change to the queue happens on the event loop."""
        written = 0
        while self._unsaved:
            unsaved = self._unsaved[0]
            result = await asyncio.to_thread(unsaved.write, self.state, *unsaved.args,
                                             **unsaved.kwargs)
            if self._unsaved and self._unsaved[0] is unsaved:
                self._unsaved.popleft()
            metrics.STATE_UNSAVED.set(len(self._unsaved))
            if result is False:
                log.warning("a kept %s record no longer applies (its answer was deleted)",
                            unsaved.kind)
            written += 1
        return written

    async def _until_store_back(self, seconds: float) -> None:
        assert self._store_back is not None
        self._store_back.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._store_back.wait(), seconds)

    @staticmethod
    def _log_still_down(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning("the state store is still unreachable (%s); next try in %.1f s",
                    type(error).__name__, state.upcoming_sleep)

    async def _last_write(self, timeout: float) -> None:
        """On shutdown: one bounded try at writing what is kept; what cannot be is logged."""
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        if not self._unsaved:
            return
        try:
            await asyncio.wait_for(self._write_some(), timeout)
        except Exception as exc:  # noqa: BLE001 (any failure: report what is lost, then exit)
            log.error("shutting down with %d record(s) the state store never took (%s)",
                      len(self._unsaved), type(exc).__name__)
