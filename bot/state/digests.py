"""The daily digest's state: each channel's settings, one row per run, and which documents each
channel's digests have shown.

Times are bound as UTC: SQLite stores DateTime without an offset, so a local time would be
compared as if it were UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from .database import Database, Row, as_utc, inserted_id, utc_values, utcnow
from .schema import DIGEST_DONE, digest_documents, digest_runs, digest_settings


@dataclass(frozen=True)
class DigestSettings:
    platform: str
    channel: str
    enabled: bool
    at_time: str
    timezone: str
    post_empty: bool
    enabled_at: datetime

    @classmethod
    def from_row(cls, row) -> DigestSettings:
        return cls(
            platform=row["platform"], channel=row["channel"], enabled=bool(row["enabled"]),
            at_time=row["at_time"], timezone=row["timezone"], post_empty=bool(row["post_empty"]),
            enabled_at=_aware(row["enabled_at"]),
        )


@dataclass(frozen=True)
class DigestRun(Row):
    """One digest run: ``slot`` is a scheduled run's local date or "manual:<uuid>"; ``status``
    claimed, posted, empty, failed or missed."""

    id: int
    platform: str
    channel: str
    slot: str
    kind: str
    status: str
    attempts: int
    scheduled_for: datetime | None
    claimed_at: datetime
    finished_at: datetime | None
    window_start: datetime | None
    window_end: datetime | None
    questions: int | None
    documents: int | None
    message: str | None
    error: str | None

    @classmethod
    def from_row(cls, row) -> DigestRun:
        return cls(**utc_values(row))


def _aware(moment: datetime) -> datetime:
    aware = as_utc(moment)
    assert aware is not None  # a NOT NULL column
    return aware


class Digests:
    def __init__(self, db: Database):
        self.db = db

    # --- settings ----------------------------------------------------------------------------

    def settings(self, platform: str, channel: str) -> DigestSettings | None:
        with self.db.engine.connect() as connection:
            row = connection.execute(
                sa.select(digest_settings).where(
                    digest_settings.c.platform == platform, digest_settings.c.channel == channel
                )
            ).mappings().first()
        return DigestSettings.from_row(row) if row else None

    def enabled(self, platforms: Iterable[str] | None = None) -> list[DigestSettings]:
        query = sa.select(digest_settings).where(digest_settings.c.enabled == sa.true())
        if platforms is not None:
            query = query.where(digest_settings.c.platform.in_(list(platforms)))
        with self.db.engine.connect() as connection:
            rows = connection.execute(
                query.order_by(digest_settings.c.platform, digest_settings.c.channel)
            )
            return [DigestSettings.from_row(row) for row in rows.mappings()]

    def configure(
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
        with self.db.engine.begin() as connection:
            where = (digest_settings.c.platform == platform, digest_settings.c.channel == channel)
            row = connection.execute(sa.select(digest_settings).where(*where)).mappings().first()
            settings = DigestSettings(
                platform=platform,
                channel=channel,
                enabled=enabled,
                at_time=at_time or (row["at_time"] if row else "09:00"),
                timezone=timezone_name or (row["timezone"] if row else "UTC"),
                post_empty=bool(row and row["post_empty"]) if post_empty is None else post_empty,
                enabled_at=now if enabled or row is None else _aware(row["enabled_at"]),
            )
            values = {
                "enabled": settings.enabled,
                "at_time": settings.at_time,
                "timezone": settings.timezone,
                "post_empty": settings.post_empty,
                "enabled_at": settings.enabled_at,
                "updated_at": now,
            }
            if row is None:
                connection.execute(
                    digest_settings.insert().values(platform=platform, channel=channel, **values)
                )
            else:
                connection.execute(digest_settings.update().where(*where).values(**values))
        return settings

    # --- runs --------------------------------------------------------------------------------

    def claim_run(
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
            with self.db.engine.begin() as connection:
                result = connection.execute(
                    digest_runs.insert().values(
                        platform=platform, channel=channel, slot=slot, kind=kind, status=status,
                        attempts=1, scheduled_for=as_utc(scheduled_for), claimed_at=now,
                        window_start=as_utc(window_start),
                    )
                )
                return inserted_id(result)
        except sa.exc.IntegrityError:
            pass
        # A conditional update is atomic too: of two callers retrying a failed run, one matches.
        where = (
            digest_runs.c.platform == platform,
            digest_runs.c.channel == channel,
            digest_runs.c.slot == slot,
        )
        with self.db.engine.begin() as connection:
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

    def finish_run(
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
        shown = list(dict.fromkeys(documents))
        with self.db.engine.begin() as connection:
            run = connection.execute(
                digest_runs.update()
                .where(digest_runs.c.id == run_id)
                .values(status=status, finished_at=now, window_end=as_utc(window_end),
                        questions=questions, documents=len(shown), message=message,
                        error=error[:2000] if error else None)
                .returning(digest_runs.c.platform, digest_runs.c.channel)
            ).one()
            for doc_id, content_hash in shown:
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

    def run(self, platform: str, channel: str, slot: str) -> DigestRun | None:
        with self.db.engine.connect() as connection:
            row = connection.execute(
                sa.select(digest_runs).where(
                    digest_runs.c.platform == platform,
                    digest_runs.c.channel == channel,
                    digest_runs.c.slot == slot,
                )
            ).mappings().first()
        return DigestRun.from_row(row) if row else None

    def runs(self, platform: str, channel: str) -> list[DigestRun]:
        with self.db.engine.connect() as connection:
            rows = connection.execute(
                sa.select(digest_runs)
                .where(digest_runs.c.platform == platform, digest_runs.c.channel == channel)
                .order_by(digest_runs.c.id)
            ).mappings()
            return [DigestRun.from_row(row) for row in rows]

    def last(self, platform: str, channel: str) -> DigestRun | None:
        """The latest finished digest of a channel: the next one covers what came after it."""
        with self.db.engine.connect() as connection:
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
        return DigestRun.from_row(row) if row else None

    def shown_documents(
        self, platform: str | None, channel: str | None
    ) -> set[tuple[str, str]]:
        """(doc_id, content_hash) pairs a channel's digests have shown; any channel's if None."""
        query = sa.select(digest_documents.c.doc_id, digest_documents.c.content_hash)
        if platform is not None and channel is not None:
            query = query.where(
                digest_documents.c.platform == platform, digest_documents.c.channel == channel
            )
        with self.db.engine.connect() as connection:
            return {(row.doc_id, row.content_hash) for row in connection.execute(query)}
