"""The connection every part of the state store shares: one engine, and the salt user ids are
hashed with. Times in and out are UTC."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine


def utcnow() -> datetime:
    return datetime.now(UTC)


def default_database_url(home: Path) -> str:
    return f"sqlite:///{home / 'state.db'}"


def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite hands DateTime(timezone=True) back naive (it was stored as UTC); make it aware."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def utc_values(row: Any) -> dict[str, Any]:
    """A result row's columns by name, its times made aware."""
    return {k: as_utc(v) if isinstance(v, datetime) else v for k, v in row.items()}


def inserted_id(result: Any) -> int:
    """The primary key an insert made."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the insert returned no primary key")
    return int(key[0])


class Row:
    """A typed row. Read its fields as attributes; ``row["field"]`` also works, for callers
    written when rows were dicts."""

    def __getitem__(self, name: str) -> Any:
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None


class Database:
    """The engine and the user-id salt. The parts read ``engine`` on every call, so replacing it
    (as the outage tests do) reaches all of them."""

    def __init__(self, url: str, *, user_salt: str = "citebot"):
        self.url = url
        self._salt = user_salt.encode()
        self.engine = make_engine(url)

    def hash_user(self, user: str) -> str:
        return hmac.new(self._salt, user.encode(), hashlib.sha256).hexdigest()


def make_engine(url: str) -> Engine:
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
