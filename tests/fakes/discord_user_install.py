"""INTERACTION_CREATE payloads for a user-installed command used in a server the bot is not in.

What Discord sends then (API v10, "Interaction Object" and "Installation Context"): ``guild_id``,
a partial ``guild`` and ``channel``, the invoking ``member`` (with their permissions in that
channel), ``context`` 0 (a guild) — and ``authorizing_integration_owners`` holding only the user
install (``{"1": user_id}``), since that server never installed the app. The bot has no gateway
session for that server, so nothing about it is in its cache, and Discord sends it no events
there: pair this with ``FakeDiscord(echo_own_messages=False)`` or expect none.

The interaction is built through :meth:`FakeDiscord.interaction_create_slash` (so the fake knows
its id and token and answers its callback and webhook calls), then reshaped as above.
"""

from __future__ import annotations

from typing import Any

from .discord_server import FakeDiscord

# Permission bits (Discord's permissions table) an app used through a user install has in a
# server's channel: roughly what @everyone may do there; never more than the member.
_APP_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 14) | (1 << 16) | (1 << 31) | (1 << 38)


def foreign_guild(fake: FakeDiscord) -> tuple[int, int]:
    """Ids for a server and one of its text channels that the fake's bot is not a member of."""
    return fake.snowflake(), fake.snowflake()


def user_install_slash(
    fake: FakeDiscord,
    name: str,
    options: Any = None,
    *,
    guild_id: int,
    channel_id: int,
    user: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``d`` of INTERACTION_CREATE for ``/name`` run through a user install in ``guild_id``."""
    user = user or fake.user
    # Built as a DM interaction first: the fake then needs no guild or member records for it.
    payload = fake.interaction_create_slash(
        name, options, channel_id=channel_id, guild_id=None, user=user
    )
    del payload["user"]  # in a server Discord sends the member, with the user inside
    payload.update(
        {
            "guild_id": str(guild_id),
            "guild": {"id": str(guild_id), "locale": "en-US", "features": []},
            "guild_locale": "en-US",
            "channel": {
                "id": str(channel_id),
                "type": 0,
                "guild_id": str(guild_id),
                "name": "elsewhere",
                "position": 0,
                "parent_id": None,
                "topic": None,
                "nsfw": False,
                "rate_limit_per_user": 0,
                "last_message_id": None,
                "flags": 0,
                "permissions": str(_APP_PERMISSIONS),  # the invoking member's, in this channel
            },
            "member": {
                "user": user,
                "roles": [],
                "nick": None,
                "avatar": None,
                "joined_at": "2024-01-01T00:00:00+00:00",
                "deaf": False,
                "mute": False,
                "flags": 0,
                "pending": False,
                "permissions": str(_APP_PERMISSIONS),
            },
            "app_permissions": str(_APP_PERMISSIONS),
            "authorizing_integration_owners": {"1": str(user["id"])},
            "context": 0,
        }
    )
    return payload
