"""What every chat adapter shares: a plain question in, an answer (and its record id) out.

Adapters (Slack, Discord, console) translate a platform event into :class:`Question`, call
:meth:`AnswerService.ask`, and render the :class:`Reply`. Answering runs in a worker thread so
the event loop keeps taking events; recording to the state store never blocks or breaks an
answer (a store outage is logged and the answer still goes out).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from index.engine import DEFAULT_COLLECTION, CiteIndex
from index.errors import QuestionError
from index.models import Answer

from . import logs, metrics
from .state import QuestionRecord, StateStore

log = logging.getLogger("citebot.service")


@dataclass(frozen=True)
class Question:
    platform: str  # "slack", "discord", "console"
    channel: str
    user: str
    text: str
    thread: str | None = None  # the platform's thread/conversation key, for follow-ups
    follow_up: bool = False  # asked in a thread CiteBot already answered: use its context


class ShuttingDown(QuestionError):
    """Asked after shutdown began. A QuestionError, so adapters show its message to the user."""

    def __init__(self) -> None:
        super().__init__("CiteBot is restarting; please ask again in a moment.")


@dataclass
class Reply:
    answer: Answer
    question_id: int | None  # the stored record, for feedback buttons; None if not stored


class AnswerService:
    def __init__(self, index: CiteIndex, state: StateStore | None = None):
        self.index = index
        self.state = state
        self.accepting = True
        # The tasks that asked (each adapter handles an event in a task of its own), so shutdown
        # can wait for the whole handler: the answer and the message that carries it.
        self._askers: set[asyncio.Task] = set()

    async def warm_up(self) -> None:
        await asyncio.to_thread(self.index.warm_up)

    async def ask(self, question: Question) -> Reply:
        """Answer ``question``; raises :class:`index.errors.QuestionError` for unusable text
        (and :class:`ShuttingDown` once :meth:`drain` has begun). Counted and logged here."""
        if not self.accepting:
            logs.log_question(question.platform, "unavailable", 0.0)
            raise ShuttingDown()
        task = asyncio.current_task()
        if task is not None and task not in self._askers:
            self._askers.add(task)
            task.add_done_callback(self._askers.discard)
        started, outcome, reply = time.perf_counter(), "error", None
        metrics.IN_FLIGHT.inc()
        try:
            reply = await self._answer(question)
            outcome = "answered" if reply.answer.answered else "refused"
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
        pending = {t for t in self._askers if not t.done() and t is not asyncio.current_task()}
        if pending:
            _, pending = await asyncio.wait(pending, timeout=timeout)
        return len(pending)

    async def _answer(self, question: Question) -> Reply:
        context = None
        if question.follow_up and question.thread and self.state is not None:
            context = await self._safely(
                self.state.last_question_in_thread, question.platform, question.channel, question.thread
            )
        collections = await self.collections_for(question.platform, question.channel)
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
            question_id = await self._safely(self.state.record_question, record)
        return Reply(answer, question_id)

    async def collections_for(self, platform: str, channel: str) -> list[str]:
        """What a channel may see: its bound collections, else the shared default one. When the
        store cannot say, the default — never more than the channel is entitled to."""
        if self.state is None:
            return [DEFAULT_COLLECTION]
        bound = await self._safely(self.state.channel_collections, platform, channel)
        return bound or [DEFAULT_COLLECTION]

    async def vote(self, question_id: int, user: str, vote: int) -> bool:
        if self.state is None:
            return False
        stored = bool(await self._safely(self.state.record_vote, question_id, user, vote))
        if stored:
            metrics.observe_vote(vote)
        return stored

    async def thread_of(self, platform: str, channel: str, question_id: int) -> str | None:
        """The thread a stored answer belongs to, so a reply to that answer continues it."""
        if self.state is None:
            return None
        record = await self._safely(self.state.question, question_id)
        if record and record["platform"] == platform and record["channel"] == channel:
            return record["thread"]
        return None

    async def _safely(self, function, *args):
        try:
            return await asyncio.to_thread(function, *args)
        except Exception:  # the store is optional to answering: log, count, carry on
            log.exception("state store call %s failed", getattr(function, "__name__", function))
            metrics.observe_error("state")
            return None
