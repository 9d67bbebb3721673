"""Collections, and which channels see which."""

from __future__ import annotations

import sqlalchemy as sa

from .database import Database, utcnow
from .schema import channel_collections, collections


class Bindings:
    def __init__(self, db: Database):
        self.db = db

    def create_collection(self, name: str) -> bool:
        """Register a collection; False when it already exists."""
        try:
            with self.db.engine.begin() as connection:
                connection.execute(collections.insert().values(name=name, created_at=utcnow()))
            return True
        except sa.exc.IntegrityError:
            return False

    def collection_names(self) -> list[str]:
        with self.db.engine.connect() as connection:
            return list(
                connection.execute(
                    sa.select(collections.c.name).order_by(collections.c.name)
                ).scalars()
            )

    def bind(self, platform: str, channel: str, name: str) -> bool:
        """Let a channel see a collection (created on first use). False if already bound."""
        self.create_collection(name)
        try:
            with self.db.engine.begin() as connection:
                connection.execute(
                    channel_collections.insert().values(
                        platform=platform, channel=channel, collection=name
                    )
                )
            return True
        except sa.exc.IntegrityError:
            return False

    def unbind(self, platform: str, channel: str, name: str) -> bool:
        with self.db.engine.begin() as connection:
            return bool(
                connection.execute(
                    channel_collections.delete().where(
                        channel_collections.c.platform == platform,
                        channel_collections.c.channel == channel,
                        channel_collections.c.collection == name,
                    )
                ).rowcount
            )

    def of_channel(self, platform: str, channel: str) -> list[str]:
        """The collections bound to a channel; empty means none were bound (the caller decides
        the default)."""
        with self.db.engine.connect() as connection:
            return list(
                connection.execute(
                    sa.select(channel_collections.c.collection)
                    .where(
                        channel_collections.c.platform == platform,
                        channel_collections.c.channel == channel,
                    )
                    .order_by(channel_collections.c.collection)
                ).scalars()
            )

    def all(self) -> list[tuple[str, str, str]]:
        """Every binding as (platform, channel, collection), by collection."""
        c = channel_collections.c
        with self.db.engine.connect() as connection:
            return [
                (platform, channel, collection)
                for platform, channel, collection in connection.execute(
                    sa.select(c.platform, c.channel, c.collection).order_by(
                        c.collection, c.platform, c.channel
                    )
                )
            ]
