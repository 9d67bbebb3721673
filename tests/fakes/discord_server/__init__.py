"""A local fake of Discord's REST API and gateway for tests.

One module per part: ``server`` (FakeDiscord, its start and stop), ``world`` (guilds, channels,
users and the payloads built from them), ``gateway``, ``rest``, ``common`` (records and
helpers) and ``discordpy`` (pointing discord.py at the fake).

Tests run discord.py's real client code (``Client``, ``AutoShardedBot``,
``app_commands``, views) against this server over real HTTP and WebSocket
connections on 127.0.0.1, then assert on what went over the wire.

Typical use::

    async with FakeDiscord() as fake:
        with point_discord_py_at(fake):
            client = discord.Client(intents=intents, guild_ready_timeout=0.3)
            async with running_client(client):
                await fake.dispatch("MESSAGE_CREATE", fake.message_create("hi"))
                [req] = await fake.wait_for("POST", r"/channels/\\d+/messages")

Payload shapes follow Discord's API v10 documentation; where discord.py reads a
field unconditionally the fake always sends it, otherwise it aims for what
Discord itself sends so that code that works here works against Discord.
"""

from .common import (
    API_VERSION,
    DEFAULT_TOKEN,
    FormPart,
    GatewaySession,
    IdentifyRecord,
    Intents,
    RecordedRequest,
    ResumeRecord,
    SnowflakeGenerator,
)
from .discordpy import point_discord_py_at, running_client
from .server import FakeDiscord

__all__ = [
    "API_VERSION",
    "DEFAULT_TOKEN",
    "FakeDiscord",
    "FormPart",
    "GatewaySession",
    "IdentifyRecord",
    "Intents",
    "RecordedRequest",
    "ResumeRecord",
    "SnowflakeGenerator",
    "point_discord_py_at",
    "running_client",
]
