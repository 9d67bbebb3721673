"""Questions asked and the votes on their answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from .database import Database, Row, as_utc, inserted_id, utc_values, utcnow
from .schema import feedback, questions


@dataclass(frozen=True)
class QuestionRecord:
    """A question to store, as the service has it (the user in clear; stored hashed)."""

    platform: str
    channel: str
    user: str
    question: str
    answered: bool
    answer: str
    thread: str | None = None
    document: str | None = None
    paragraph: int | None = None
    score: float | None = None
    latency_ms: float | None = None


@dataclass(frozen=True)
class StoredQuestion(Row):
    """A stored question. ``user_hash`` is None where the reader is not told who asked (the
    digest's questions)."""

    id: int
    asked_at: datetime
    platform: str
    channel: str
    thread: str | None
    question: str
    answered: bool
    answer: str
    document: str | None
    paragraph: int | None
    score: float | None
    latency_ms: float | None
    user_hash: str | None = None

    @classmethod
    def from_row(cls, row) -> StoredQuestion:
        values = utc_values(row)
        values["answered"] = bool(values["answered"])
        return cls(**values)


class Questions:
    def __init__(self, db: Database):
        self.db = db

    def record(self, record: QuestionRecord, *, at: datetime | None = None) -> int:
        values = {
            "asked_at": at or utcnow(),
            "platform": record.platform,
            "channel": record.channel,
            "thread": record.thread,
            "user_hash": self.db.hash_user(record.user),
            "question": record.question,
            "answered": record.answered,
            "answer": record.answer,
            "document": record.document,
            "paragraph": record.paragraph,
            "score": record.score,
            "latency_ms": record.latency_ms,
        }
        with self.db.engine.begin() as connection:
            result = connection.execute(questions.insert().values(**values))
            return inserted_id(result)

    def record_once(self, record: QuestionRecord, *, at: datetime) -> int:
        """Write ``record`` unless a record of the same person, question and moment is stored.

        For writing again after an outage: a first attempt whose commit landed but whose answer
        was lost must not become two rows. ``at`` (to the microsecond) makes the match exact."""
        with self.db.engine.begin() as connection:
            found = connection.execute(
                sa.select(questions.c.id).where(
                    questions.c.asked_at == at,
                    questions.c.platform == record.platform,
                    questions.c.channel == record.channel,
                    questions.c.user_hash == self.db.hash_user(record.user),
                    questions.c.question == record.question,
                )
            ).scalar()
        if found is not None:
            return int(found)
        return self.record(record, at=at)

    def get(self, question_id: int) -> StoredQuestion | None:
        with self.db.engine.connect() as connection:
            row = connection.execute(
                sa.select(questions).where(questions.c.id == question_id)
            ).mappings().first()
        return StoredQuestion.from_row(row) if row else None

    def last_in_thread(self, platform: str, channel: str, thread: str) -> str | None:
        """The most recent question asked in a thread, for follow-ups like "and when?"."""
        with self.db.engine.connect() as connection:
            return connection.execute(
                sa.select(questions.c.question)
                .where(
                    questions.c.platform == platform,
                    questions.c.channel == channel,
                    questions.c.thread == thread,
                )
                .order_by(questions.c.id.desc())
                .limit(1)
            ).scalar()

    def record_vote(
        self, question_id: int, user: str, vote: int, *, at: datetime | None = None
    ) -> bool:
        """Store a 👍 (+1) or 👎 (-1). One vote per user per answer: a second click changes the
        vote rather than adding one. Returns False when the question is unknown."""
        if vote not in (1, -1):
            raise ValueError("vote must be +1 or -1")
        user_hash = self.db.hash_user(user)
        with self.db.engine.begin() as connection:
            if connection.execute(
                sa.select(questions.c.id).where(questions.c.id == question_id)
            ).first() is None:
                return False
            updated = connection.execute(
                feedback.update()
                .where(feedback.c.question_id == question_id, feedback.c.user_hash == user_hash)
                .values(vote=vote, voted_at=at or utcnow())
            )
            if updated.rowcount == 0:
                connection.execute(
                    feedback.insert().values(
                        question_id=question_id, user_hash=user_hash, vote=vote,
                        voted_at=at or utcnow(),
                    )
                )
        return True

    def votes(self, question_id: int) -> tuple[int, int]:
        with self.db.engine.connect() as connection:
            rows = connection.execute(
                sa.select(feedback.c.vote, sa.func.count())
                .where(feedback.c.question_id == question_id)
                .group_by(feedback.c.vote)
            ).all()
        counts: dict[int, int] = {vote: count for vote, count in rows}
        return counts.get(1, 0), counts.get(-1, 0)

    def delete_before(self, cutoff: datetime) -> int:
        """Retention: drop question records (and their feedback) older than ``cutoff``."""
        with self.db.engine.begin() as connection:
            old = sa.select(questions.c.id).where(questions.c.asked_at < cutoff)
            connection.execute(feedback.delete().where(feedback.c.question_id.in_(old)))
            return connection.execute(
                questions.delete().where(questions.c.asked_at < cutoff)
            ).rowcount

    def between(
        self, platform: str | None, channel: str | None, start: datetime, end: datetime
    ) -> list[StoredQuestion]:
        """Questions asked in ``(start, end]`` in one channel (every channel when None), oldest
        first. Users are not returned: a digest counts questions, it does not say who asked."""
        columns = [c for c in questions.c if c.name != "user_hash"]
        query = sa.select(*columns).where(
            questions.c.asked_at > as_utc(start), questions.c.asked_at <= as_utc(end)
        )
        if platform is not None and channel is not None:
            query = query.where(questions.c.platform == platform, questions.c.channel == channel)
        with self.db.engine.connect() as connection:
            rows = connection.execute(query.order_by(questions.c.asked_at, questions.c.id))
            return [StoredQuestion.from_row(row) for row in rows.mappings()]

    def votes_between(
        self, platform: str | None, channel: str | None, start: datetime, end: datetime
    ) -> tuple[int, int]:
        """👍 and 👎 cast in ``(start, end]`` on answers given in one channel (or anywhere)."""
        query = (
            sa.select(feedback.c.vote, sa.func.count())
            .select_from(feedback.join(questions, feedback.c.question_id == questions.c.id))
            .where(feedback.c.voted_at > as_utc(start), feedback.c.voted_at <= as_utc(end))
            .group_by(feedback.c.vote)
        )
        if platform is not None and channel is not None:
            query = query.where(questions.c.platform == platform, questions.c.channel == channel)
        with self.db.engine.connect() as connection:
            counts: dict[int, int] = {vote: count for vote, count in connection.execute(query)}
        return counts.get(1, 0), counts.get(-1, 0)
