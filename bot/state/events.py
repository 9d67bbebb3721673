"""At-most-once processing of events a platform may deliver twice."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from .database import Database, utcnow
from .schema import processed_events


class Events:
    def __init__(self, db: Database):
        self.db = db

    def first_time(self, key: str, *, keep: timedelta = timedelta(days=1)) -> bool:
        """True the first time ``key`` is seen (across replicas), False for a repeat.

        Used for events a platform may deliver twice (Slack retries with the same event_id).
        The primary key makes this atomic: of two racing inserts, one fails.
        """
        now = utcnow()
        with self.db.engine.begin() as connection:
            connection.execute(
                processed_events.delete().where(processed_events.c.seen_at < now - keep)
            )
        try:
            with self.db.engine.begin() as connection:
                connection.execute(processed_events.insert().values(key=key, seen_at=now))
            return True
        except sa.exc.IntegrityError:
            return False
