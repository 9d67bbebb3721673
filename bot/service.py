"""What every chat adapter shares: a plain question in, an answer (and its record id) out.

Adapters (Slack, Discord, console) translate a platform event into :class:`Question`, call
:meth:`AnswerService.ask`, and render the :class:`Reply`. Answering runs in a worker thread so
the event loop keeps taking events; recording to the state store never blocks or breaks an
answer (a store outage is logged and the answer still goes out).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from index.engine import CiteIndex
from index.models import Answer

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


@dataclass
class Reply:
    answer: Answer
    question_id: int | None  # the stored record, for feedback buttons; None if not stored


class AnswerService:
    def __init__(self, index: CiteIndex, state: StateStore | None = None):
        self.index = index
        self.state = state

    async def warm_up(self) -> None:
        await asyncio.to_thread(self.index.warm_up)

    async def ask(self, question: Question) -> Reply:
        """Answer ``question``; raises :class:`index.errors.QuestionError` for unusable text."""
        context = None
        if question.follow_up and question.thread and self.state is not None:
            context = await self._safely(
                self.state.last_question_in_thread, question.platform, question.channel, question.thread
            )
        answer = await asyncio.to_thread(self.index.ask, question.text, context=context)
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

    async def vote(self, question_id: int, user: str, vote: int) -> bool:
        if self.state is None:
            return False
        return bool(await self._safely(self.state.record_vote, question_id, user, vote))

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
            return None
