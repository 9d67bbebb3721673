"""Shared state: questions asked, feedback, channel settings, processed events, digest runs.

SQLite by default (embedded, nothing to set up); PostgreSQL when ``CITEBOT_DATABASE_URL`` points
at one, so several replicas share it. The schema is owned by Alembic migrations in
``bot/migrations`` and upgraded on start. User ids are stored hashed, never in clear.

Calls are synchronous (SQLAlchemy Core); async callers run them in a worker thread.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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

collections = sa.Table(
    "collections",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

channel_collections = sa.Table(
    "channel_collections",
    metadata,
    sa.Column("platform", sa.String(32), primary_key=True),
    sa.Column("channel", sa.String(128), primary_key=True),
    sa.Column("collection", sa.String(64), sa.ForeignKey("collections.name", ondelete="CASCADE"), primary_key=True),
)

processed_events = sa.Table(
    "processed_events",
    metadata,
    sa.Column("key", sa.String(256), primary_key=True),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False, index=True),
)


# The daily digest (bot/digest): per-channel schedule, one row per run, and which documents each
# channel's digests have already shown (the index keeps no added-at time, so "new" is "not yet
# shown here", by content hash, which also makes a changed document new again).
digest_settings = sa.Table(
    "digest_settings",
    metadata,
    sa.Column("platform", sa.String(32), primary_key=True),
    sa.Column("channel", sa.String(128), primary_key=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("at_time", sa.String(5), nullable=False),  # "09:00", wall clock in ``timezone``
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("post_empty", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("enabled_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

digest_runs = sa.Table(
    "digest_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("platform", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(128), nullable=False),
    # A scheduled run's local date, or "manual:<uuid>". Unique per channel, so of two replicas
    # claiming the same day's run, one insert fails: a digest is posted once.
    sa.Column("slot", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # scheduled, manual
    sa.Column("status", sa.String(16), nullable=False),  # claimed, posted, empty, failed, missed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("scheduled_for", sa.DateTime(timezone=True)),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("window_start", sa.DateTime(timezone=True)),
    sa.Column("window_end", sa.DateTime(timezone=True)),
    sa.Column("questions", sa.Integer),
    sa.Column("documents", sa.Integer),
    sa.Column("message", sa.String(128)),  # the posted message's ts / id
    sa.Column("error", sa.Text),
    sa.UniqueConstraint("platform", "channel", "slot", name="uq_digest_runs_slot"),
)

digest_documents = sa.Table(
    "digest_documents",
    metadata,
    sa.Column("platform", sa.String(32), primary_key=True),
    sa.Column("channel", sa.String(128), primary_key=True),
    sa.Column("doc_id", sa.String(256), primary_key=True),
    sa.Column("content_hash", sa.String(64), primary_key=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("digest_runs.id", ondelete="CASCADE")),
    sa.Column("covered_at", sa.DateTime(timezone=True), nullable=False),
)

DIGEST_DONE = ("posted", "empty")  # runs whose window the next digest starts after


def utcnow() -> datetime:
    return datetime.now(UTC)


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


@dataclass(frozen=True)
class DigestSettings:
    platform: str
    channel: str
    enabled: bool
    at_time: str
    timezone: str
    post_empty: bool
    enabled_at: datetime


def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite hands DateTime(timezone=True) back naive (it was stored as UTC); make it aware."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


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

    def record_question_once(self, record: QuestionRecord, *, at: datetime) -> int:
        """Write ``record`` unless a record of the same person, question and moment is stored.

        For writing again after an outage: a first attempt whose commit landed but whose answer
        was lost must not become two rows. ``at`` (to the microsecond) makes the match exact."""
        with self.engine.begin() as connection:
            found = connection.execute(
                sa.select(questions.c.id).where(
                    questions.c.asked_at == at,
                    questions.c.platform == record.platform,
                    questions.c.channel == record.channel,
                    questions.c.user_hash == self.hash_user(record.user),
                    questions.c.question == record.question,
                )
            ).scalar()
        if found is not None:
            return int(found)
        return self.record_question(record, at=at)

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

    # --- digest ------------------------------------------------------------------------------
    # Times are bound as UTC: SQLite stores DateTime without an offset, so a local time would
    # be compared as if it were UTC.

    def digest_settings(self, platform: str, channel: str) -> DigestSettings | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(digest_settings).where(
                    digest_settings.c.platform == platform, digest_settings.c.channel == channel
                )
            ).mappings().first()
        return _digest_settings(row) if row else None

    def enabled_digests(self, platforms: Iterable[str] | None = None) -> list[DigestSettings]:
        query = sa.select(digest_settings).where(digest_settings.c.enabled == sa.true())
        if platforms is not None:
            query = query.where(digest_settings.c.platform.in_(list(platforms)))
        with self.engine.connect() as connection:
            rows = connection.execute(
                query.order_by(digest_settings.c.platform, digest_settings.c.channel)
            )
            return [_digest_settings(row) for row in rows.mappings()]

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
        """Switch a channel's digest on (with its time) or off. Switching on, even again, starts
        the schedule afresh from ``at``: runs earlier that day are not caught up."""
        now = as_utc(at) or utcnow()
        with self.engine.begin() as connection:
            where = (digest_settings.c.platform == platform, digest_settings.c.channel == channel)
            row = connection.execute(sa.select(digest_settings).where(*where)).mappings().first()
            values = {
                "enabled": enabled,
                "at_time": at_time or (row["at_time"] if row else "09:00"),
                "timezone": timezone_name or (row["timezone"] if row else "UTC"),
                "post_empty": bool(row and row["post_empty"]) if post_empty is None else post_empty,
                "enabled_at": now if enabled or row is None else row["enabled_at"],
                "updated_at": now,
            }
            if row is None:
                connection.execute(
                    digest_settings.insert().values(platform=platform, channel=channel, **values)
                )
            else:
                connection.execute(digest_settings.update().where(*where).values(**values))
        return DigestSettings(platform, channel, enabled, values["at_time"], values["timezone"],
                              values["post_empty"], as_utc(values["enabled_at"]))

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
        """The run's id if this caller now owns ``slot``; None if another caller (or an earlier
        start) already has it. A failed run can be claimed again, up to ``max_attempts``."""
        now = as_utc(at) or utcnow()
        try:
            with self.engine.begin() as connection:
                result = connection.execute(
                    digest_runs.insert().values(
                        platform=platform, channel=channel, slot=slot, kind=kind, status=status,
                        attempts=1, scheduled_for=as_utc(scheduled_for), claimed_at=now,
                        window_start=as_utc(window_start),
                    )
                )
                return int(result.inserted_primary_key[0])
        except sa.exc.IntegrityError:
            pass
        # A conditional update is atomic too: of two callers retrying a failed run, one matches.
        where = (
            digest_runs.c.platform == platform,
            digest_runs.c.channel == channel,
            digest_runs.c.slot == slot,
        )
        with self.engine.begin() as connection:
            retried = connection.execute(
                digest_runs.update()
                .where(*where, digest_runs.c.status == "failed")
                .where(digest_runs.c.attempts < max_attempts)
                .values(status=status, attempts=digest_runs.c.attempts + 1, claimed_at=now,
                        window_start=as_utc(window_start), error=None)
            )
            if retried.rowcount != 1:
                return None
            return connection.execute(sa.select(digest_runs.c.id).where(*where)).scalar_one()

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
        """Record how a claimed run ended and, for a posted one, which documents it showed."""
        now = as_utc(at) or utcnow()
        documents = list(dict.fromkeys(documents))
        with self.engine.begin() as connection:
            run = connection.execute(
                digest_runs.update()
                .where(digest_runs.c.id == run_id)
                .values(status=status, finished_at=now, window_end=as_utc(window_end),
                        questions=questions, documents=len(documents), message=message,
                        error=error[:2000] if error else None)
                .returning(digest_runs.c.platform, digest_runs.c.channel)
            ).one()
            for doc_id, content_hash in documents:
                connection.execute(
                    digest_documents.delete().where(
                        digest_documents.c.platform == run.platform,
                        digest_documents.c.channel == run.channel,
                        digest_documents.c.doc_id == doc_id,
                        digest_documents.c.content_hash == content_hash,
                    )
                )
                connection.execute(
                    digest_documents.insert().values(
                        platform=run.platform, channel=run.channel, doc_id=doc_id,
                        content_hash=content_hash, run_id=run_id, covered_at=now,
                    )
                )

    def digest_run(self, platform: str, channel: str, slot: str) -> dict | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(digest_runs).where(
                    digest_runs.c.platform == platform,
                    digest_runs.c.channel == channel,
                    digest_runs.c.slot == slot,
                )
            ).mappings().first()
        return _with_utc(row) if row else None

    def digest_runs(self, platform: str, channel: str) -> list[dict]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(digest_runs)
                .where(digest_runs.c.platform == platform, digest_runs.c.channel == channel)
                .order_by(digest_runs.c.id)
            ).mappings()
            return [_with_utc(row) for row in rows]

    def last_digest(self, platform: str, channel: str) -> dict | None:
        """The latest finished digest of a channel: the next one covers what came after it."""
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(digest_runs)
                .where(
                    digest_runs.c.platform == platform,
                    digest_runs.c.channel == channel,
                    digest_runs.c.status.in_(DIGEST_DONE),
                )
                .order_by(digest_runs.c.window_end.desc(), digest_runs.c.id.desc())
                .limit(1)
            ).mappings().first()
        return _with_utc(row) if row else None

    def digested_documents(self, platform: str | None, channel: str | None) -> set[tuple[str, str]]:
        """(doc_id, content_hash) pairs a channel's digests have shown; any channel's if None."""
        query = sa.select(digest_documents.c.doc_id, digest_documents.c.content_hash)
        if platform is not None and channel is not None:
            query = query.where(
                digest_documents.c.platform == platform, digest_documents.c.channel == channel
            )
        with self.engine.connect() as connection:
            return {(row.doc_id, row.content_hash) for row in connection.execute(query)}

    def questions_between(
        self, platform: str | None, channel: str | None, start: datetime, end: datetime
    ) -> list[dict]:
        """Questions asked in ``(start, end]`` in one channel (every channel when None), oldest
        first. Users are not returned: a digest counts questions, it does not say who asked."""
        columns = [c for c in questions.c if c.name != "user_hash"]
        query = sa.select(*columns).where(
            questions.c.asked_at > as_utc(start), questions.c.asked_at <= as_utc(end)
        )
        if platform is not None and channel is not None:
            query = query.where(questions.c.platform == platform, questions.c.channel == channel)
        with self.engine.connect() as connection:
            rows = connection.execute(query.order_by(questions.c.asked_at, questions.c.id))
            return [_with_utc(row) for row in rows.mappings()]

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
        with self.engine.connect() as connection:
            counts = dict(connection.execute(query).all())
        return counts.get(1, 0), counts.get(-1, 0)

    # --- collections ---------------------------------------------------------------------------

    def create_collection(self, name: str) -> bool:
        """Register a collection; False when it already exists."""
        try:
            with self.engine.begin() as connection:
                connection.execute(collections.insert().values(name=name, created_at=utcnow()))
            return True
        except sa.exc.IntegrityError:
            return False

    def collection_names(self) -> list[str]:
        with self.engine.connect() as connection:
            return list(connection.execute(sa.select(collections.c.name).order_by(collections.c.name)).scalars())

    def bind_collection(self, platform: str, channel: str, name: str) -> bool:
        """Let a channel see a collection (created on first use). False if already bound."""
        self.create_collection(name)
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    channel_collections.insert().values(platform=platform, channel=channel, collection=name)
                )
            return True
        except sa.exc.IntegrityError:
            return False

    def unbind_collection(self, platform: str, channel: str, name: str) -> bool:
        with self.engine.begin() as connection:
            return bool(
                connection.execute(
                    channel_collections.delete().where(
                        channel_collections.c.platform == platform,
                        channel_collections.c.channel == channel,
                        channel_collections.c.collection == name,
                    )
                ).rowcount
            )

    def channel_collections(self, platform: str, channel: str) -> list[str]:
        """The collections bound to a channel; empty means none were bound (the caller decides
        the default)."""
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    sa.select(channel_collections.c.collection)
                    .where(channel_collections.c.platform == platform, channel_collections.c.channel == channel)
                    .order_by(channel_collections.c.collection)
                ).scalars()
            )

    def bindings(self) -> list[tuple[str, str, str]]:
        with self.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(
                sa.select(channel_collections.c.platform, channel_collections.c.channel, channel_collections.c.collection)
                .order_by(channel_collections.c.collection, channel_collections.c.platform, channel_collections.c.channel)
            )]

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


def _digest_settings(row) -> DigestSettings:
    return DigestSettings(
        platform=row["platform"], channel=row["channel"], enabled=bool(row["enabled"]),
        at_time=row["at_time"], timezone=row["timezone"], post_empty=bool(row["post_empty"]),
        enabled_at=as_utc(row["enabled_at"]),
    )


def _with_utc(row) -> dict:
    return {k: as_utc(v) if isinstance(v, datetime) else v for k, v in row.items()}


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
