"""Shared state: questions asked, feedback, channel settings, processed events, digest runs.

SQLite by default (embedded, nothing to set up); PostgreSQL when ``CITEBOT_DATABASE_URL`` points
at one, so several replicas share it. The schema is owned by Alembic migrations in
``bot/migrations`` and upgraded on start. User ids are stored hashed, never in clear.

One module per concern, over one shared :class:`~bot.state.database.Database`:
``asked`` (questions and votes), ``channels`` (channel flags), ``digests`` (digest settings and
runs), ``bindings`` (collections and the channels that see them), ``events`` (event dedupe);
``schema`` holds the tables. :class:`StateStore` composes them behind the one object the bot
passes around.

Calls are synchronous (SQLAlchemy Core); async callers run them in a worker thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from .asked import QuestionRecord, Questions, StoredQuestion
from .bindings import Bindings
from .channels import ChannelFlags
from .database import Database, as_utc, default_database_url, utcnow
from .digests import DigestRun, Digests, DigestSettings
from .events import Events
from .schema import (
    DIGEST_DONE,
    channel_collections,
    channel_settings,
    collections,
    digest_documents,
    digest_runs,
    digest_settings,
    feedback,
    metadata,
    processed_events,
    questions,
)

__all__ = [
    "DIGEST_DONE",
    "Bindings",
    "ChannelFlags",
    "Database",
    "DigestRun",
    "DigestSettings",
    "Digests",
    "Events",
    "QuestionRecord",
    "Questions",
    "StateStore",
    "StoredQuestion",
    "as_utc",
    "channel_collections",
    "channel_settings",
    "collections",
    "default_database_url",
    "digest_documents",
    "digest_runs",
    "digest_settings",
    "feedback",
    "metadata",
    "processed_events",
    "questions",
    "utcnow",
]


class StateStore:
    """The parts over one database. Its methods hand each call to the part that owns it, so
    callers (and tests that stand in for one method) keep one object."""

    def __init__(self, url: str, *, user_salt: str = "citebot", migrate: bool = True):
        self.db = Database(url, user_salt=user_salt)
        self.asked = Questions(self.db)
        self.channels = ChannelFlags(self.db)
        self.digests = Digests(self.db)
        self.bound = Bindings(self.db)
        self.events = Events(self.db)
        if migrate:
            self.migrate()

    @property
    def url(self) -> str:
        return self.db.url

    @property
    def engine(self) -> Engine:
        return self.db.engine

    @engine.setter
    def engine(self, engine: Engine) -> None:
        self.db.engine = engine

    def migrate(self) -> None:
        from ..migrations import upgrade

        upgrade(self.db.engine)

    def close(self) -> None:
        self.db.engine.dispose()

    def hash_user(self, user: str) -> str:
        return self.db.hash_user(user)

    # --- questions and feedback --------------------------------------------------------------

    def record_question(self, record: QuestionRecord, *, at: datetime | None = None) -> int:
        return self.asked.record(record, at=at)

    def record_question_once(self, record: QuestionRecord, *, at: datetime) -> int:
        return self.asked.record_once(record, at=at)

    def question(self, question_id: int) -> StoredQuestion | None:
        return self.asked.get(question_id)

    def last_question_in_thread(self, platform: str, channel: str, thread: str) -> str | None:
        return self.asked.last_in_thread(platform, channel, thread)

    def record_vote(
        self, question_id: int, user: str, vote: int, *, at: datetime | None = None
    ) -> bool:
        return self.asked.record_vote(question_id, user, vote, at=at)

    def votes(self, question_id: int) -> tuple[int, int]:
        return self.asked.votes(question_id)

    def delete_questions_before(self, cutoff: datetime) -> int:
        return self.asked.delete_before(cutoff)

    def questions_between(
        self, platform: str | None, channel: str | None, start: datetime, end: datetime
    ) -> list[StoredQuestion]:
        return self.asked.between(platform, channel, start, end)

    def votes_between(
        self, platform: str | None, channel: str | None, start: datetime, end: datetime
    ) -> tuple[int, int]:
        return self.asked.votes_between(platform, channel, start, end)

    # --- channels ----------------------------------------------------------------------------

    def answer_all(self, platform: str, channel: str) -> bool:
        return self.channels.answer_all(platform, channel)

    def set_answer_all(self, platform: str, channel: str, enabled: bool) -> None:
        self.channels.set_answer_all(platform, channel, enabled)

    # --- digest ------------------------------------------------------------------------------

    def digest_settings(self, platform: str, channel: str) -> DigestSettings | None:
        return self.digests.settings(platform, channel)

    def enabled_digests(self, platforms: Iterable[str] | None = None) -> list[DigestSettings]:
        return self.digests.enabled(platforms)

    def set_digest(
        self,
        platform: str,
        channel: str,
        *,
        enabled: bool,
        at_time: str | None = None,
        timezone_name: str | None = None,
        post_empty: bool | None = None,
        at: datetime | None = None,
    ) -> DigestSettings:
        return self.digests.configure(
            platform, channel, enabled=enabled, at_time=at_time, timezone_name=timezone_name,
            post_empty=post_empty, at=at,
        )

    def claim_digest_run(
        self,
        platform: str,
        channel: str,
        slot: str,
        *,
        kind: str,
        scheduled_for: datetime | None = None,
        window_start: datetime | None = None,
        status: str = "claimed",
        max_attempts: int = 3,
        at: datetime | None = None,
    ) -> int | None:
        return self.digests.claim_run(
            platform, channel, slot, kind=kind, scheduled_for=scheduled_for,
            window_start=window_start, status=status, max_attempts=max_attempts, at=at,
        )

    def finish_digest_run(
        self,
        run_id: int,
        status: str,
        *,
        window_end: datetime | None = None,
        questions: int | None = None,
        documents: Iterable[tuple[str, str]] = (),
        message: str | None = None,
        error: str | None = None,
        at: datetime | None = None,
    ) -> None:
        self.digests.finish_run(
            run_id, status, window_end=window_end, questions=questions, documents=documents,
            message=message, error=error, at=at,
        )

    def digest_run(self, platform: str, channel: str, slot: str) -> DigestRun | None:
        return self.digests.run(platform, channel, slot)

    def digest_runs(self, platform: str, channel: str) -> list[DigestRun]:
        return self.digests.runs(platform, channel)

    def last_digest(self, platform: str, channel: str) -> DigestRun | None:
        return self.digests.last(platform, channel)

    def digested_documents(
        self, platform: str | None, channel: str | None
    ) -> set[tuple[str, str]]:
        return self.digests.shown_documents(platform, channel)

    # --- collections ---------------------------------------------------------------------------

    def create_collection(self, name: str) -> bool:
        return self.bound.create_collection(name)

    def collection_names(self) -> list[str]:
        return self.bound.collection_names()

    def bind_collection(self, platform: str, channel: str, name: str) -> bool:
        return self.bound.bind(platform, channel, name)

    def unbind_collection(self, platform: str, channel: str, name: str) -> bool:
        return self.bound.unbind(platform, channel, name)

    def channel_collections(self, platform: str, channel: str) -> list[str]:
        return self.bound.of_channel(platform, channel)

    def bindings(self) -> list[tuple[str, str, str]]:
        return self.bound.all()

    # --- at-most-once processing -------------------------------------------------------------

    def first_time(self, key: str, *, keep: timedelta = timedelta(days=1)) -> bool:
        return self.events.first_time(key, keep=keep)
