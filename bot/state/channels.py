"""Per-channel flags: whether CiteBot answers every message in a channel."""

from __future__ import annotations

import sqlalchemy as sa

from .database import Database, utcnow
from .schema import channel_settings


class ChannelFlags:
    def __init__(self, db: Database):
        self.db = db

    def answer_all(self, platform: str, channel: str) -> bool:
        with self.db.engine.connect() as connection:
            value = connection.execute(
                sa.select(channel_settings.c.answer_all).where(
                    channel_settings.c.platform == platform, channel_settings.c.channel == channel
                )
            ).scalar()
        return bool(value)

    def set_answer_all(self, platform: str, channel: str, enabled: bool) -> None:
        where = (channel_settings.c.platform == platform, channel_settings.c.channel == channel)
        with self.db.engine.begin() as connection:
            updated = connection.execute(
                channel_settings.update().where(*where).values(answer_all=enabled, updated_at=utcnow())
            )
            if updated.rowcount == 0:
                connection.execute(
                    channel_settings.insert().values(
                        platform=platform, channel=channel, answer_all=enabled, updated_at=utcnow()
                    )
                )
