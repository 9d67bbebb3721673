"""Shared state: questions asked, feedback, channel settings, processed events, digest runs.

SQLite by default (embedded, nothing to set up); PostgreSQL when ``CITEBOT_DATABASE_URL`` points
at one, so several replicas share it. The schema is owned by Alembic migrations in
``bot/migrations`` and upgraded on start. User ids are stored hashed, never in clear.

Calls are synchronous (SQLAlchemy Core); async callers run them in a worker thread.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

metadata = sa.MetaData()

questions = sa.Table(
    "questions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("platform", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(128), nullable=False),
    sa.Column("thread", sa.String(128)),
    sa.Column("user_hash", sa.String(64), nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("answered", sa.Boolean, nullable=False),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("document", sa.String(256)),
    sa.Column("paragraph", sa.Integer),
    sa.Column("score", sa.Float),
    sa.Column("latency_ms", sa.Float),
)

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("question_id", sa.Integer, sa.ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_hash", sa.String(64), primary_key=True),
    sa.Column("vote", sa.SmallInteger, nullable=False),
    sa.Column("voted_at", sa.DateTime(timezone=True), nullable=False),
)

channel_settings = sa.Table(
    "channel_settings",
    metadata,
    sa.Column("platform", sa.String(32), primary_key=True),
    sa.Column("channel", sa.String(128), primary_key=True),
    sa.Column("answer_all", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

processed_events = sa.Table(
    "processed_events",
    metadata,
    sa.Column("key", sa.String(256), primary_key=True),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False, index=True),
)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def default_database_url(home: Path) -> str:
    return f"sqlite:///{home / 'state.db'}"


@dataclass(frozen=True)
class QuestionRecord:
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


class StateStore:
    def __init__(self, url: str, *, user_salt: str = "citebot", migrate: bool = True):
        self.url = url
        self._salt = user_salt.encode()
        self.engine = _make_engine(url)
        if migrate:
            self.migrate()

    def migrate(self) -> None:
        from .migrations import upgrade

        upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def hash_user(self, user: str) -> str:
        return hmac.new(self._salt, user.encode(), hashlib.sha256).hexdigest()

    # --- questions and feedback --------------------------------------------------------------

    def record_question(self, record: QuestionRecord, *, at: datetime | None = None) -> int:
        values = {
            "asked_at": at or utcnow(),
            "platform": record.platform,
            "channel": record.channel,
            "thread": record.thread,
            "user_hash": self.hash_user(record.user),
            "question": record.question,
            "answered": record.answered,
            "answer": record.answer,
            "document": record.document,
            "paragraph": record.paragraph,
            "score": record.score,
            "latency_ms": record.latency_ms,
        }
        with self.engine.begin() as connection:
            result = connection.execute(questions.insert().values(**values))
            return int(result.inserted_primary_key[0])

    def question(self, question_id: int) -> dict | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(questions).where(questions.c.id == question_id)
            ).mappings().first()
            return dict(row) if row else None

    def last_question_in_thread(self, platform: str, channel: str, thread: str) -> str | None:
        """The most recent question asked in a thread, for follow-ups like "and when?"."""
        with self.engine.connect() as connection:
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

    def record_vote(self, question_id: int, user: str, vote: int, *, at: datetime | None = None) -> bool:
        """Store a 👍 (+1) or 👎 (-1). One vote per user per answer: a second click changes the
        vote rather than adding one. Returns False when the question is unknown."""
        if vote not in (1, -1):
            raise ValueError("vote must be +1 or -1")
        user_hash = self.hash_user(user)
        with self.engine.begin() as connection:
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
                        question_id=question_id, user_hash=user_hash, vote=vote, voted_at=at or utcnow()
                    )
                )
        return True

    def votes(self, question_id: int) -> tuple[int, int]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(feedback.c.vote, sa.func.count())
                .where(feedback.c.question_id == question_id)
                .group_by(feedback.c.vote)
            ).all()
        counts = dict(rows)
        return counts.get(1, 0), counts.get(-1, 0)

    def delete_questions_before(self, cutoff: datetime) -> int:
        """Retention: drop question records (and their feedback) older than ``cutoff``."""
        with self.engine.begin() as connection:
            old = sa.select(questions.c.id).where(questions.c.asked_at < cutoff)
            connection.execute(feedback.delete().where(feedback.c.question_id.in_(old)))
            return connection.execute(questions.delete().where(questions.c.asked_at < cutoff)).rowcount

    # --- channels ----------------------------------------------------------------------------

    def answer_all(self, platform: str, channel: str) -> bool:
        with self.engine.connect() as connection:
            value = connection.execute(
                sa.select(channel_settings.c.answer_all).where(
                    channel_settings.c.platform == platform, channel_settings.c.channel == channel
                )
            ).scalar()
        return bool(value)

    def set_answer_all(self, platform: str, channel: str, enabled: bool) -> None:
        with self.engine.begin() as connection:
            updated = connection.execute(
                channel_settings.update()
                .where(channel_settings.c.platform == platform, channel_settings.c.channel == channel)
                .values(answer_all=enabled, updated_at=utcnow())
            )
            if updated.rowcount == 0:
                connection.execute(
                    channel_settings.insert().values(
                        platform=platform, channel=channel, answer_all=enabled, updated_at=utcnow()
                    )
                )

    # --- at-most-once processing -------------------------------------------------------------

    def first_time(self, key: str, *, keep: timedelta = timedelta(days=1)) -> bool:
        """True the first time ``key`` is seen (across replicas), False for a repeat.

        Used for events a platform may deliver twice (Slack retries with the same event_id).
        The primary key makes this atomic: of two racing inserts, one fails.
        """
        now = utcnow()
        with self.engine.begin() as connection:
            connection.execute(processed_events.delete().where(processed_events.c.seen_at < now - keep))
        try:
            with self.engine.begin() as connection:
                connection.execute(processed_events.insert().values(key=key, seen_at=now))
            return True
        except sa.exc.IntegrityError:
            return False


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            # WAL lets readers and one writer work at once; foreign keys are off by default.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return sa.create_engine(url, pool_pre_ping=True)
