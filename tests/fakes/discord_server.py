"""A local fake of Discord's REST API and gateway for tests.

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

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as _dt
import hashlib
import json as _json
import math
import re
import secrets
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from re import Pattern
from typing import (
    Any,
)

import yarl
from aiohttp import WSMsgType, web

try:  # zstd-stream is only negotiated by discord.py when a zstd module exists client-side.
    import zstandard as _zstandard  # type: ignore
except ImportError:  # pragma: no cover - depends on the environment
    _zstandard = None
try:  # Python >= 3.14 ships compression.zstd, which discord.py also uses.
    from compression import zstd as _stdlib_zstd  # type: ignore
except ImportError:  # pragma: no cover - depends on the environment
    _stdlib_zstd = None

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

API_VERSION = 10
DISCORD_EPOCH_MS = 1420070400000
DEFAULT_TOKEN = "fake-bot-token.for-tests.only"

PathPattern = str | Pattern[str]


class Intents:
    """Gateway intent bits (https://discord.com/developers/docs/topics/gateway#gateway-intents)."""

    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    GUILD_MESSAGE_TYPING = 1 << 11
    DIRECT_MESSAGES = 1 << 12
    DIRECT_MESSAGE_REACTIONS = 1 << 13
    DIRECT_MESSAGE_TYPING = 1 << 14
    MESSAGE_CONTENT = 1 << 15
    PRIVILEGED = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT


class _Perm:
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    USE_EXTERNAL_EMOJIS = 1 << 18
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    CHANGE_NICKNAME = 1 << 26
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    SEND_MESSAGES_IN_THREADS = 1 << 38
    ALL = (1 << 51) - 1

    EVERYONE = (
        ADD_REACTIONS
        | VIEW_CHANNEL
        | SEND_MESSAGES
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | USE_EXTERNAL_EMOJIS
        | CONNECT
        | SPEAK
        | CHANGE_NICKNAME
        | USE_APPLICATION_COMMANDS
        | CREATE_PUBLIC_THREADS
        | SEND_MESSAGES_IN_THREADS
    )
    BOT = EVERYONE | MANAGE_MESSAGES | MANAGE_THREADS


_EPHEMERAL = 1 << 6
_LOADING = 1 << 7
# Close codes after which Discord will not accept a RESUME of the session.
_SESSION_KILLING_CLOSE_CODES = {4004, 4007, 4009, 4010, 4011, 4012, 4013, 4014}
_MISSING: Any = object()


def _now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")


def _shard_for(guild_id: int, shard_count: int) -> int:
    return (int(guild_id) >> 22) % max(1, shard_count)


class SnowflakeGenerator:
    """Issues Discord-shaped snowflakes: ms since the Discord epoch << 22 | worker | process | increment.

    Real snowflakes matter because discord.py derives ``created_at`` from them and
    Discord routes guilds to shards by ``(guild_id >> 22) % shard_count``.
    """

    def __init__(self, worker_id: int = 1, process_id: int = 0) -> None:
        self._worker = worker_id & 0x1F
        self._process = process_id & 0x1F
        self._last_ms = 0
        self._increment = 0

    def _make(self, ms: int) -> int:
        return (ms << 22) | (self._worker << 17) | (self._process << 12) | self._increment

    def __call__(self) -> int:
        ms = max(int(time.time() * 1000) - DISCORD_EPOCH_MS, self._last_ms)
        if ms == self._last_ms:
            self._increment += 1
            if self._increment >= 4096:
                ms += 1
                self._increment = 0
        else:
            self._increment = 0
        self._last_ms = ms
        return self._make(ms)

    def for_shard(self, shard_id: int, shard_count: int) -> int:
        """A snowflake whose timestamp routes it to ``shard_id`` when ``shard_count`` shards run."""
        base = self()
        ms = base >> 22
        ms -= (ms - shard_id) % shard_count
        return (ms << 22) | (base & ((1 << 22) - 1))

    def on_shard_zero(self) -> int:
        """A snowflake that lands on shard 0 for every shard count from 1 to 16 (lcm(1..16) = 720720)."""
        base = self()
        ms = (base >> 22) // 720720 * 720720
        return (ms << 22) | (base & ((1 << 22) - 1))


@dataclass
class FormPart:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


@dataclass
class RecordedRequest:
    """One HTTP request the fake received. ``path`` is relative to the API base, e.g. ``/channels/1/messages``.

    ``json`` is the parsed JSON body, or the decoded ``payload_json`` part of a multipart body.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    body: bytes
    form: list[FormPart] | None
    at: float
    status: int = 0
    response: Any = None

    @property
    def files(self) -> list[FormPart]:
        return [p for p in (self.form or []) if p.filename is not None]

    def __str__(self) -> str:
        q = ("?" + "&".join(f"{k}={v}" for k, v in self.query.items())) if self.query else ""
        return f"{self.method} {self.path}{q} -> {self.status}"


@dataclass
class IdentifyRecord:
    token: str
    intents: int | None
    shard: tuple[int, int] | None
    properties: dict[str, Any]
    presence: dict[str, Any] | None
    raw: dict[str, Any]
    at: float
    session_id: str | None = None
    connection_path: str = ""
    query: dict[str, str] = field(default_factory=dict)


@dataclass
class ResumeRecord:
    session_id: str | None
    seq: int | None
    token: str
    accepted: bool
    replayed: int
    at: float
    connection_path: str = ""


@dataclass
class _Fault:
    method: str | None
    pattern: PathPattern
    status: int
    times: int
    retry_after: float
    global_: bool
    body: dict[str, Any] | None


@dataclass
class _Interaction:
    id: int
    token: str
    application_id: int
    type: int
    channel_id: int
    guild_id: int | None
    user: dict[str, Any]
    command_type: int | None = None
    command_name: str | None = None
    source_message_id: int | None = None
    response_type: int | None = None
    original_message_id: int | None = None
    ephemeral: bool = False
    followup_ids: list[int] = field(default_factory=list)


@dataclass
class _Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> _Response:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors:
        body["errors"] = errors
    return _Response(status, body)


def _form_error(path: Sequence[str | int], code: str, message: str) -> _Response:
    # Discord nests field errors by path and puts the leaf list under "_errors".
    errors: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(list(path)):
        errors = {str(key): errors}
    return _error(400, 50035, "Invalid Form Body", errors)


def _path_matches(pattern: PathPattern, path: str) -> bool:
    if isinstance(pattern, re.Pattern):
        return pattern.fullmatch(path) is not None
    if path.startswith(pattern):
        return True
    try:
        return re.fullmatch(pattern, path) is not None
    except re.error:
        return False


def _method_matches(wanted: str | None, method: str) -> bool:
    return wanted is None or wanted == "*" or wanted.upper() == method.upper()


class GatewaySession:
    """A gateway session: created by IDENTIFY, survives disconnects until invalidated, resumable by id."""

    def __init__(self, session_id: str, shard_id: int, shard_count: int, intents: int, token: str) -> None:
        self.session_id = session_id
        self.shard_id = shard_id
        self.shard_count = shard_count
        self.intents = intents
        self.token = token
        self.seq = 0
        self.backlog: list[dict[str, Any]] = []
        self.conn: _GatewayConnection | None = None
        self.invalidated = False
        self.lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return self.conn is not None and not self.conn.closed

    def __repr__(self) -> str:
        return (
            f"<GatewaySession {self.session_id[:8]} shard={self.shard_id}/{self.shard_count} "
            f"seq={self.seq} connected={self.connected} invalidated={self.invalidated}>"
        )


class _GatewayConnection:
    def __init__(self, ws: web.WebSocketResponse, request: web.Request, conn_id: int, compression: str | None) -> None:
        self.ws = ws
        self.id = conn_id
        self.path = request.path
        self.query = dict(request.query)
        self.compression = compression
        self.session: GatewaySession | None = None
        self.identified = False
        self.closed = False
        self.server_close_code: int | None = None
        self.client_close_code: int | None = None
        self.received: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self._send_lock = asyncio.Lock()
        self._zlib = zlib.compressobj() if compression == "zlib-stream" else None
        self._zstd: Any = None
        if compression == "zstd-stream":
            if _zstandard is not None:
                self._zstd = _zstandard.ZstdCompressor().compressobj()
            elif _stdlib_zstd is not None:
                self._zstd = _stdlib_zstd.ZstdCompressor()

    def _encode(self, text: str) -> str | bytes:
        raw = text.encode("utf-8")
        if self._zlib is not None:
            # One shared deflate stream per connection; Z_SYNC_FLUSH ends every message with
            # 00 00 ff ff, which is how discord.py knows a gateway message is complete.
            return self._zlib.compress(raw) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
        if self._zstd is not None:
            if _zstandard is not None:
                return self._zstd.compress(raw) + self._zstd.flush(_zstandard.COMPRESSOBJ_FLUSH_BLOCK)
            return self._zstd.compress(raw, _stdlib_zstd.ZstdCompressor.FLUSH_BLOCK)
        return text

    async def send(self, payload: dict[str, Any]) -> None:
        text = _json.dumps(payload, separators=(",", ":"))
        async with self._send_lock:
            if self.closed or self.ws.closed:
                raise ConnectionResetError("gateway connection is closed")
            data = self._encode(text)
            if isinstance(data, bytes):
                await self.ws.send_bytes(data)
            else:
                await self.ws.send_str(data)
            self.sent.append(payload)

    async def close(self, code: int, message: str = "") -> None:
        if self.server_close_code is None:
            self.server_close_code = code
        if not self.ws.closed:
            await self.ws.close(code=code, message=message.encode())


class FakeDiscord:
    """A Discord REST API + gateway on 127.0.0.1 for driving discord.py in tests.

    Default world (attributes): ``bot_user``, ``application`` (same id as the bot, as for
    real bots), ``guild`` / ``guild_id`` owned by ``user``, ``text_channel`` /
    ``text_channel_id``, ``user`` / ``member`` (a normal human member), ``dm_channel`` /
    ``dm_channel_id`` (a DM between the bot and ``user``).
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        shard_count: int = 1,
        heartbeat_interval_ms: int = 41250,
        allowed_privileged_intents: int = Intents.PRIVILEGED,
        transport_compression: bool = True,
        echo_own_messages: bool = True,
        validate_messages: bool = True,
        ratelimit_headers: bool = True,
        bot_name: str = "CiteBot",
        default_world: bool = True,
        host: str = "127.0.0.1",
    ) -> None:
        """
        token: if set, REST calls and IDENTIFY with another token fail like Discord (401 / close 4004).
        shard_count: what GET /gateway/bot recommends; AutoShardedBot uses it as its shard count.
        allowed_privileged_intents: privileged intents enabled "in the developer portal"; IDENTIFY
            asking for others is closed with 4014 like Discord does.
        transport_compression: honour ``compress=zlib-stream``/``zstd-stream`` in the gateway URL.
        echo_own_messages: send MESSAGE_CREATE/UPDATE/DELETE over the gateway for messages the bot
            creates through REST, as Discord does (bots see their own messages in on_message).
        validate_messages: reject oversized/empty messages with Discord's 400 error bodies.
        """
        self.token = token
        self.shard_count = shard_count
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.allowed_privileged_intents = allowed_privileged_intents
        self.transport_compression = transport_compression
        self.echo_own_messages = echo_own_messages
        self.validate_messages = validate_messages
        self.ratelimit_headers = ratelimit_headers
        self.ack_heartbeats = True
        self.host = host
        self.snowflake = SnowflakeGenerator()

        self.users: dict[int, dict[str, Any]] = {}
        self.guilds: dict[int, dict[str, Any]] = {}
        self.channels: dict[int, dict[str, Any]] = {}
        self.members: dict[int, dict[int, dict[str, Any]]] = {}
        self.messages: dict[int, dict[str, Any]] = {}
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.interactions: dict[int, _Interaction] = {}
        self._interactions_by_token: dict[str, _Interaction] = {}
        self._dm_by_user: dict[int, int] = {}
        self._attachment_blobs: dict[str, tuple[bytes, str]] = {}

        self.requests: list[RecordedRequest] = []
        self.identifies: list[IdentifyRecord] = []
        self.resumes: list[ResumeRecord] = []
        self.gateway_received: list[tuple[int, dict[str, Any]]] = []
        self.dispatched: list[dict[str, Any]] = []
        self.sessions: list[GatewaySession] = []
        self.connections: list[_GatewayConnection] = []
        self._faults: list[_Fault] = []
        self._delays: list[tuple[str | None, PathPattern, float]] = []
        self._conn_ids = 0
        self._cond: asyncio.Condition | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._routes = self._build_routes()

        self.bot_user = self.add_user(bot_name, bot=True)
        self.application = self._make_application()
        if default_world:
            self.user = self.add_user("alice", global_name="Alice")
            self.guild = self.add_guild("CiteBot Test Guild", owner_id=int(self.user["id"]), on_shard_zero=True)
            self.guild_id = int(self.guild["id"])
            self.text_channel = self.add_text_channel(self.guild_id, "general")
            self.text_channel_id = int(self.text_channel["id"])
            self.guild["system_channel_id"] = self.text_channel["id"]
            self.member = self.add_member(self.guild_id, self.user)
            self.dm_channel = self.add_dm_channel(self.user)
            self.dm_channel_id = int(self.dm_channel["id"])

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> FakeDiscord:
        self._cond = asyncio.Condition()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._handle_gateway)
        app.router.add_get("/resume-gateway", self._handle_gateway)
        app.router.add_get("/attachments/{tail:.*}", self._handle_attachment)
        app.router.add_route("*", f"/api/v{API_VERSION}/{{tail:.*}}", self._handle_api)
        app.router.add_route("*", "/{tail:.*}", self._handle_unrouted)
        # A short shutdown_timeout: leftover keep-alive connections must not stall teardown.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        for conn in list(self.connections):
            if not conn.closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(1001, "fake shutting down"), 2.0)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeDiscord is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def rest_base(self) -> str:
        return f"{self.base_url}/api/v{API_VERSION}"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        # A distinct path so tests can tell a RESUME went to resume_gateway_url, as Discord requires.
        return f"ws://{self.host}:{self.port}/resume-gateway"

    # ------------------------------------------------------------------ world building

    def add_user(self, username: str, *, bot: bool = False, global_name: str | None = None, id: int | None = None) -> dict[str, Any]:
        uid = id or self.snowflake()
        user: dict[str, Any] = {
            "id": str(uid),
            "username": username.lower(),
            "discriminator": "0",
            "global_name": global_name,
            "avatar": None,
            "banner": None,
            "accent_color": None,
            "public_flags": 0,
            "flags": 0,
            "avatar_decoration_data": None,
            "primary_guild": None,
        }
        if bot:
            user.update({"bot": True, "global_name": None, "verified": True, "mfa_enabled": False, "email": None, "locale": "en-US"})
        self.users[uid] = user
        return user

    def _make_application(self) -> dict[str, Any]:
        owner = self.add_user("appowner")
        return {
            "id": self.bot_user["id"],
            "name": self.bot_user["username"],
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": secrets.token_hex(32),
            "flags": (1 << 15) | (1 << 19),  # GATEWAY_GUILD_MEMBERS_LIMITED | GATEWAY_MESSAGE_CONTENT_LIMITED
            "owner": owner,
            "team": None,
            "hook": True,
            "bot": self.bot_user,
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "install_params": None,
            "integration_types_config": {"0": {}},
            "approximate_guild_count": 1,
            "tags": [],
        }

    @property
    def bot_id(self) -> int:
        return int(self.bot_user["id"])

    @property
    def application_id(self) -> int:
        return int(self.application["id"])

    def add_guild(
        self,
        name: str,
        *,
        owner_id: int | None = None,
        shard: tuple[int, int] | None = None,
        on_shard_zero: bool = False,
        id: int | None = None,
    ) -> dict[str, Any]:
        """Create a guild the bot is in. ``shard=(shard_id, shard_count)`` picks an id Discord would route there."""
        if id is not None:
            gid = id
        elif shard is not None:
            gid = self.snowflake.for_shard(*shard)
        elif on_shard_zero:
            gid = self.snowflake.on_shard_zero()
        else:
            gid = self.snowflake()
        bot_role_id = self.snowflake()
        guild: dict[str, Any] = {
            "id": str(gid),
            "name": name,
            "icon": None,
            "icon_hash": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(owner_id or self.bot_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "widget_enabled": False,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "roles": [
                self._role(gid, "@everyone", _Perm.EVERYONE, position=0),
                self._role(bot_role_id, self.bot_user["username"], _Perm.BOT, position=1, managed=True,
                           tags={"bot_id": self.bot_user["id"]}),
            ],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_presences": None,
            "max_members": 500000,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "joined_at": _now_iso(),
        }
        self.guilds[gid] = guild
        self.members[gid] = {}
        self.add_member(gid, self.bot_user, roles=[bot_role_id])
        return guild

    @staticmethod
    def _role(rid: int, name: str, permissions: int, *, position: int, managed: bool = False,
              tags: dict[str, Any] | None = None) -> dict[str, Any]:
        role: dict[str, Any] = {
            "id": str(rid),
            "name": name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": position,
            "permissions": str(permissions),
            "managed": managed,
            "mentionable": False,
            "flags": 0,
        }
        if tags:
            role["tags"] = tags
        return role

    def add_text_channel(self, guild_id: int, name: str, *, topic: str | None = None, id: int | None = None,
                         parent_id: int | None = None) -> dict[str, Any]:
        cid = id or self.snowflake()
        position = sum(1 for c in self.channels.values() if c.get("guild_id") == str(guild_id))
        channel = {
            "id": str(cid),
            "type": 0,
            "guild_id": str(guild_id),
            "name": name,
            "position": position,
            "permission_overwrites": [],
            "topic": topic,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": str(parent_id) if parent_id else None,
            "flags": 0,
        }
        self.channels[cid] = channel
        return channel

    def add_member(self, guild_id: int, user: int | dict[str, Any], *, roles: Sequence[int] = (),
                   nick: str | None = None) -> dict[str, Any]:
        user = self._user(user)
        member = {
            "user": user,
            "nick": nick,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in roles],
            "joined_at": _now_iso(),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        self.members[int(guild_id)][int(user["id"])] = member
        return member

    def add_dm_channel(self, user: int | dict[str, Any]) -> dict[str, Any]:
        user = self._user(user)
        uid = int(user["id"])
        if uid in self._dm_by_user:
            return self.channels[self._dm_by_user[uid]]
        cid = self.snowflake()
        channel = {"id": str(cid), "type": 1, "last_message_id": None, "flags": 0, "recipients": [user]}
        self.channels[cid] = channel
        self._dm_by_user[uid] = cid
        return channel

    def make_attachment(self, filename: str, data: bytes, content_type: str | None = None,
                        channel_id: int | None = None) -> dict[str, Any]:
        """An attachment object whose ``url`` is served by this fake (``Attachment.read()`` works)."""
        aid = self.snowflake()
        ctype = content_type or _guess_content_type(filename)
        key = f"{channel_id or 0}/{aid}/{filename}"
        self._attachment_blobs[key] = (data, ctype)
        url = f"{self.base_url}/attachments/{key}"  # needs start(): the URL carries the port
        return {
            "id": str(aid),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": ctype,
        }

    def _user(self, user: int | str | dict[str, Any] | None) -> dict[str, Any]:
        if user is None:
            return self.user
        if isinstance(user, dict):
            uid = int(user["id"])
            self.users.setdefault(uid, user)
            return self.users[uid]
        return self.users[int(user)]

    def _member_for(self, guild_id: int, user: dict[str, Any]) -> dict[str, Any]:
        members = self.members.get(int(guild_id), {})
        uid = int(user["id"])
        if uid not in members:
            self.add_member(int(guild_id), user)
        return members[uid]

    def _member_permissions(self, guild_id: int, user_id: int) -> int:
        guild = self.guilds[int(guild_id)]
        if str(user_id) == guild["owner_id"]:
            return _Perm.ALL
        member = self.members[int(guild_id)].get(int(user_id))
        roles = {r["id"]: r for r in guild["roles"]}
        perms = int(roles[str(guild_id)]["permissions"])
        for rid in (member or {}).get("roles", []):
            if rid in roles:
                perms |= int(roles[rid]["permissions"])
        return perms

    def guild_create_payload(self, guild_id: int, intents: int = Intents.GUILD_MEMBERS) -> dict[str, Any]:
        """GUILD_CREATE ``d``: the guild plus the gateway-only fields (members, channels, ...).

        Without GUILD_MEMBERS Discord lists only the bot itself, though member_count is the full count.
        """
        guild = copy.deepcopy(self.guilds[int(guild_id)])
        all_members = list(self.members[int(guild_id)].values())
        members = [
            copy.deepcopy(m) for m in all_members
            if intents & Intents.GUILD_MEMBERS or m["user"]["id"] == self.bot_user["id"]
        ]
        channels = []
        for ch in self.channels.values():
            if ch.get("guild_id") == str(guild_id):
                ch = copy.deepcopy(ch)
                ch.pop("guild_id", None)  # channels inside GUILD_CREATE omit guild_id
                channels.append(ch)
        guild.update(
            {
                "large": False,
                "unavailable": False,
                "member_count": len(all_members),
                "voice_states": [],
                "members": members,
                "channels": channels,
                "threads": [],
                "presences": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
            }
        )
        return guild

    # ------------------------------------------------------------------ payload builders

    def _message(
        self,
        *,
        channel_id: int,
        author: dict[str, Any],
        content: str = "",
        embeds: Sequence[dict[str, Any]] = (),
        attachments: Sequence[dict[str, Any]] = (),
        components: Sequence[dict[str, Any]] = (),
        mentions: Sequence[dict[str, Any]] = (),
        mention_everyone: bool = False,
        message_reference: dict[str, Any] | None = None,
        referenced_message: Any = _MISSING,
        id: int | None = None,
        type: int | None = None,
        flags: int = 0,
        webhook_id: int | None = None,
        application_id: int | None = None,
        interaction_metadata: dict[str, Any] | None = None,
        tts: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A message in REST shape (no guild_id/member); stored so GETs and later references find it."""
        mid = id or self.snowflake()
        channel = self.channels.get(int(channel_id))
        guild_id = int(channel["guild_id"]) if channel and channel.get("guild_id") else None
        if type is None:
            type = 19 if message_reference and message_reference.get("type", 0) == 0 else 0
        msg: dict[str, Any] = {
            "id": str(mid),
            "channel_id": str(channel_id),
            "author": copy.deepcopy(author),
            "content": content,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": tts,
            "mention_everyone": mention_everyone,
            "mentions": [self._mention_user(guild_id, u) for u in mentions],
            "mention_roles": [],
            "attachments": list(attachments),
            "embeds": [_normalize_embed(e) for e in embeds],
            "pinned": False,
            "type": type,
            "flags": flags,
            "components": _number_components(list(components)),
        }
        if webhook_id is not None:
            msg["webhook_id"] = str(webhook_id)
        if application_id is not None:
            msg["application_id"] = str(application_id)
        if interaction_metadata is not None:
            msg["interaction_metadata"] = interaction_metadata
        if message_reference is not None:
            ref = {"type": 0, "channel_id": str(channel_id)}
            if guild_id is not None:
                ref["guild_id"] = str(guild_id)
            ref.update({k: v for k, v in message_reference.items() if k != "fail_if_not_exists"})
            ref = {k: str(v) if k.endswith("_id") and v is not None else v for k, v in ref.items()}
            msg["message_reference"] = ref
            if referenced_message is _MISSING:
                referenced_message = self.messages.get(int(ref.get("message_id", 0)))
            msg["referenced_message"] = copy.deepcopy(referenced_message) if referenced_message else None
            if msg["referenced_message"]:
                msg["referenced_message"].pop("referenced_message", None)
        if extra:
            msg.update(extra)
        self.messages[mid] = msg
        if channel is not None:
            channel["last_message_id"] = str(mid)
        return msg

    def _mention_user(self, guild_id: int | None, user: int | dict[str, Any]) -> dict[str, Any]:
        u = copy.deepcopy(self._user(user))
        if guild_id is not None and int(u["id"]) in self.members.get(guild_id, {}):
            member = copy.deepcopy(self.members[guild_id][int(u["id"])])
            member.pop("user", None)
            u["member"] = member
        return u

    def _gateway_message(self, msg: dict[str, Any]) -> dict[str, Any]:
        """MESSAGE_CREATE/UPDATE ``d``: the message plus guild_id and the author's partial member."""
        data = copy.deepcopy(msg)
        channel = self.channels.get(int(msg["channel_id"]))
        if channel and channel.get("guild_id"):
            gid = int(channel["guild_id"])
            data["guild_id"] = str(gid)
            if "webhook_id" not in msg or int(msg["author"]["id"]) in self.members.get(gid, {}):
                member = copy.deepcopy(self._member_for(gid, msg["author"]))
                member.pop("user", None)
                data["member"] = member
        return data

    def message_create(
        self,
        content: str,
        channel_id: int | None = None,
        author: int | dict[str, Any] | None = None,
        guild_id: Any = _MISSING,
        mentions: Sequence[int | dict[str, Any]] | None = None,
        message_reference: dict[str, Any] | None = None,
        referenced_message: Any = _MISSING,
        id: int | None = None,
        *,
        embeds: Sequence[dict[str, Any]] = (),
        attachments: Sequence[dict[str, Any]] = (),
        components: Sequence[dict[str, Any]] = (),
        mention_everyone: bool = False,
    ) -> dict[str, Any]:
        """MESSAGE_CREATE ``d`` for a message a user sends (default: ``user`` in ``text_channel``).

        ``mentions`` defaults to the users named by ``<@id>`` tokens in ``content``, as Discord fills it.
        Passing ``referenced_message`` (a message dict) without ``message_reference`` makes a reply to it.
        The message is stored, so bot code can fetch it and reply to it.
        """
        channel_id = int(channel_id or self.text_channel_id)
        author_d = self._user(author)
        if mentions is None:
            mentions = [u for u in _mentioned_ids(content) if u in self.users]
        if message_reference is None and referenced_message not in (_MISSING, None):
            message_reference = {"message_id": referenced_message["id"], "channel_id": referenced_message["channel_id"]}
        msg = self._message(
            channel_id=channel_id,
            author=author_d,
            content=content,
            embeds=embeds,
            attachments=attachments,
            components=components,
            mentions=list(mentions),
            mention_everyone=mention_everyone,
            message_reference=message_reference,
            referenced_message=referenced_message,
            id=id,
        )
        data = self._gateway_message(msg)
        if guild_id is not _MISSING:
            if guild_id is None:
                data.pop("guild_id", None)
                data.pop("member", None)
            else:
                data["guild_id"] = str(guild_id)
        return data

    def _interaction(
        self,
        *,
        type: int,
        data: dict[str, Any],
        channel_id: int | None,
        guild_id: Any,
        user: int | dict[str, Any] | None,
        member: dict[str, Any] | None,
        application_id: int | None,
        id: int | None,
        token: str | None,
        locale: str,
        message: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        channel_id = int(channel_id or self.text_channel_id)
        channel = self.channels.get(channel_id)
        if guild_id is _MISSING:
            guild_id = int(channel["guild_id"]) if channel and channel.get("guild_id") else None
        iid = id or self.snowflake()
        token = token or f"fake-interaction-token.{secrets.token_urlsafe(32)}"
        app_id = int(application_id or self.application_id)
        user_d = self._user(member.get("user", user) if member else user)
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(app_id),
            "type": type,
            "data": data,
            "channel_id": str(channel_id),
            "channel": copy.deepcopy(channel) if channel else {"id": str(channel_id), "type": 0},
            "token": token,
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "attachment_size_limit": 26214400,
        }
        if guild_id is not None:
            gid = int(guild_id)
            m = copy.deepcopy(member) if member else copy.deepcopy(self._member_for(gid, user_d))
            m.setdefault("user", user_d)
            m.setdefault("permissions", str(self._member_permissions(gid, int(user_d["id"]))))
            payload.update(
                {
                    "guild_id": str(gid),
                    "guild": {"id": str(gid), "locale": "en-US", "features": []},
                    "guild_locale": "en-US",
                    "member": m,
                    "app_permissions": str(self._member_permissions(gid, self.bot_id)),
                    "authorizing_integration_owners": {"0": str(gid)},
                    "context": 0,
                }
            )
        else:
            payload.update(
                {
                    "user": user_d,
                    "app_permissions": str(_Perm.EVERYONE),
                    "authorizing_integration_owners": {"0": str(user_d["id"])},
                    "context": 1,
                }
            )
        if message is not None:
            payload["message"] = message
        state = _Interaction(
            id=iid,
            token=token,
            application_id=app_id,
            type=type,
            channel_id=channel_id,
            guild_id=int(guild_id) if guild_id is not None else None,
            user=user_d,
            command_type=data.get("type") if type in (2, 4) else None,
            command_name=data.get("name"),
            source_message_id=int(message["id"]) if message else None,
        )
        self.interactions[iid] = state
        self._interactions_by_token[token] = state
        return payload

    def _command_id(self, name: str, cmd_type: int, guild_id: int | None) -> int:
        pools = ([self.guild_commands.get(guild_id, [])] if guild_id else []) + [self.global_commands]
        for pool in pools:
            for cmd in pool:
                if cmd["name"] == name and cmd.get("type", 1) == cmd_type:
                    return int(cmd["id"])
        return self.snowflake()

    def interaction_create_slash(
        self,
        name: str,
        options: None | dict[str, Any] | Sequence[dict[str, Any]] = None,
        channel_id: int | None = None,
        guild_id: Any = _MISSING,
        user: int | dict[str, Any] | None = None,
        member: dict[str, Any] | None = None,
        application_id: int | None = None,
        id: int | None = None,
        token: str | None = None,
        type: int = 2,
        *,
        command_guild_id: int | None = None,
        resolved: dict[str, Any] | None = None,
        locale: str = "en-US",
    ) -> dict[str, Any]:
        """INTERACTION_CREATE ``d`` for a chat-input command (``data.type`` 1).

        ``options`` is Discord's option list, or a ``{name: value}`` dict whose types are inferred
        (str 3, int 4, bool 5, float 10). ``command_guild_id`` marks a guild-registered command,
        which is how discord.py's tree decides between guild and global commands. ``type=4`` makes
        an autocomplete interaction (mark the option with ``"focused": True``).
        """
        data: dict[str, Any] = {
            "id": str(self._command_id(name, 1, command_guild_id)),
            "name": name,
            "type": 1,
        }
        if options:
            data["options"] = _normalize_options(options)
        if resolved:
            data["resolved"] = resolved
        if command_guild_id:
            data["guild_id"] = str(command_guild_id)
        return self._interaction(type=type, data=data, channel_id=channel_id, guild_id=guild_id, user=user,
                                 member=member, application_id=application_id, id=id, token=token, locale=locale)

    def interaction_create_message_command(
        self,
        name: str,
        target: int | dict[str, Any],
        channel_id: int | None = None,
        guild_id: Any = _MISSING,
        user: int | dict[str, Any] | None = None,
        member: dict[str, Any] | None = None,
        application_id: int | None = None,
        id: int | None = None,
        token: str | None = None,
        *,
        command_guild_id: int | None = None,
        locale: str = "en-US",
    ) -> dict[str, Any]:
        """INTERACTION_CREATE ``d`` for a message context-menu command (``data.type`` 3)."""
        target_msg = copy.deepcopy(self.messages[int(target)] if not isinstance(target, dict) else target)
        target_msg.pop("guild_id", None)
        target_msg.pop("member", None)
        data: dict[str, Any] = {
            "id": str(self._command_id(name, 3, command_guild_id)),
            "name": name,
            "type": 3,
            "target_id": target_msg["id"],
            "resolved": {"messages": {target_msg["id"]: target_msg}},
        }
        if command_guild_id:
            data["guild_id"] = str(command_guild_id)
        return self._interaction(type=2, data=data, channel_id=channel_id or int(target_msg["channel_id"]),
                                 guild_id=guild_id, user=user, member=member, application_id=application_id,
                                 id=id, token=token, locale=locale)

    def interaction_create_component(
        self,
        custom_id: str,
        message: int | dict[str, Any],
        component_type: int = 2,
        user: int | dict[str, Any] | None = None,
        member: dict[str, Any] | None = None,
        values: Sequence[str] | None = None,
        guild_id: Any = _MISSING,
        application_id: int | None = None,
        id: int | None = None,
        token: str | None = None,
        *,
        locale: str = "en-US",
    ) -> dict[str, Any]:
        """INTERACTION_CREATE ``d`` for a click/select on a component of ``message`` (id or dict).

        For discord.py's view store to find the View, ``message`` must be the message the bot sent
        with it (e.g. the id from the recorded POST's response).
        """
        msg = copy.deepcopy(self.messages[int(message)] if not isinstance(message, dict) else message)
        msg.pop("guild_id", None)
        msg.pop("member", None)
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if component_type in (3, 5, 6, 7, 8) or values is not None:
            data["values"] = list(values or [])
        return self._interaction(type=3, data=data, channel_id=int(msg["channel_id"]), guild_id=guild_id,
                                 user=user, member=member, application_id=application_id, id=id, token=token,
                                 locale=locale, message=msg)

    # ------------------------------------------------------------------ gateway: public API

    async def dispatch(self, event: str, data: dict[str, Any], *, shard_id: int | None = None,
                       timeout: float = 5.0) -> int | None:
        """Send a DISPATCH (op 0) event to the session of the shard Discord would use.

        The shard is ``shard_id`` or derived from ``data["guild_id"]`` (DMs go to shard 0). Events
        a session's intents don't cover are dropped like Discord drops them (returns None); message
        content is blanked without MESSAGE_CONTENT unless the bot is mentioned or it's a DM. While a
        session is disconnected events are queued and replayed on RESUME. Returns the sequence number.
        """
        session = await self._session_for(data, shard_id, timeout)
        return await self._dispatch_to(session, event, data)

    async def send_message(self, content: str, **kwargs: Any) -> dict[str, Any]:
        """Build with :meth:`message_create` and dispatch MESSAGE_CREATE; returns the payload."""
        data = self.message_create(content, **kwargs)
        await self.dispatch("MESSAGE_CREATE", data)
        return data

    async def disconnect_gateway(self, code: int = 4000, *, shard_id: int | None = None,
                                 invalidate_session: bool = False) -> None:
        """Drop live gateway connections (all, or one shard's) with ``code``.

        The session stays resumable unless ``invalidate_session`` or the code is one after which
        Discord refuses RESUME (4004, 4007, 4009-4014). discord.py reconnects on 4000/1000 etc.
        """
        for session in list(self.sessions):
            if shard_id is not None and session.shard_id != shard_id:
                continue
            if invalidate_session or code in _SESSION_KILLING_CLOSE_CODES:
                session.invalidated = True
        for conn in list(self.connections):
            if conn.closed:
                continue
            if shard_id is not None and (conn.session is None or conn.session.shard_id != shard_id):
                continue
            await conn.close(code, "disconnected by test")

    async def send_reconnect(self, shard_id: int | None = None) -> None:
        """Send op 7 RECONNECT (Discord asks the client to reconnect and RESUME)."""
        for conn in self._live_connections(shard_id):
            await conn.send({"op": 7, "d": None, "s": None, "t": None})

    async def invalidate_session(self, shard_id: int | None = None, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION; with ``resumable=False`` the session can no longer be resumed."""
        for conn in self._live_connections(shard_id):
            if not resumable and conn.session is not None:
                conn.session.invalidated = True
            await conn.send({"op": 9, "d": resumable, "s": None, "t": None})

    async def wait_for_disconnect(self, timeout: float = 10.0) -> None:
        """Wait until every gateway connection has closed (e.g. after ``client.close()``)."""
        await self._wait_until(lambda: all(c.closed for c in self.connections), timeout,
                               lambda: f"gateway connections still open: {[c.id for c in self.connections if not c.closed]}")

    def live_sessions(self) -> list[GatewaySession]:
        return [s for s in self.sessions if not s.invalidated]

    async def wait_for_identify(self, count: int = 1, timeout: float = 10.0) -> list[IdentifyRecord]:
        await self._wait_until(lambda: len(self.identifies) >= count, timeout,
                               lambda: f"expected {count} IDENTIFY(s), saw {len(self.identifies)}: {self.identifies}")
        return list(self.identifies)

    async def wait_for_resume(self, count: int = 1, timeout: float = 10.0) -> list[ResumeRecord]:
        await self._wait_until(lambda: len(self.resumes) >= count, timeout,
                               lambda: f"expected {count} RESUME(s), saw {len(self.resumes)}: {self.resumes}")
        return list(self.resumes)

    async def wait_for_gateway_op(self, op: int, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until the client has sent ``count`` payloads with opcode ``op``; returns them."""
        def matching() -> list[dict[str, Any]]:
            return [p for _, p in self.gateway_received if p.get("op") == op]

        await self._wait_until(lambda: len(matching()) >= count, timeout,
                               lambda: f"expected {count} gateway op {op} payload(s); client sent ops "
                                       f"{[p.get('op') for _, p in self.gateway_received]}")
        return matching()

    def _live_connections(self, shard_id: int | None) -> list[_GatewayConnection]:
        return [
            c for c in self.connections
            if not c.closed and c.session is not None and (shard_id is None or c.session.shard_id == shard_id)
        ]

    # ------------------------------------------------------------------ REST: public API

    def calls(self, method: str | None = None, path_pattern: PathPattern = "") -> list[RecordedRequest]:
        """Recorded requests matching ``method`` (None/"*" = any) and ``path_pattern``.

        A compiled regex must fullmatch the path; a string matches as a path prefix or as a
        fullmatching regex. Paths are relative to the API base: ``/channels/123/messages``.
        """
        return [r for r in self.requests if _method_matches(method, r.method) and _path_matches(path_pattern, r.path)]

    async def wait_for(self, method: str | None, path_pattern: PathPattern, count: int = 1,
                       timeout: float = 10.0) -> list[RecordedRequest]:
        """Wait until ``count`` matching requests were answered; returns all matching requests."""
        await self._wait_until(
            lambda: len(self.calls(method, path_pattern)) >= count,
            timeout,
            lambda: (
                f"expected {count} request(s) {method} {getattr(path_pattern, 'pattern', path_pattern)!r} within "
                f"{timeout}s, saw {len(self.calls(method, path_pattern))}. All requests seen:\n  "
                + ("\n  ".join(str(r) for r in self.requests) or "(none)")
            ),
        )
        return self.calls(method, path_pattern)

    def fail_next(self, method: str | None, path_pattern: PathPattern, status: int = 429, times: int = 1,
                  retry_after: float = 0.2, global_: bool = False, body: dict[str, Any] | None = None) -> None:
        """Answer the next ``times`` matching requests with ``status`` instead of handling them.

        429s carry Discord's body and X-RateLimit-*/Retry-After headers, plus ``Via`` -- without
        it discord.py treats a 429 as a Cloudflare ban and raises instead of retrying.
        """
        self._faults.append(_Fault(method, path_pattern, status, times, retry_after, global_, body))

    def set_delay(self, method: str | None, path_pattern: PathPattern, seconds: float) -> None:
        """Answer matching requests only after ``seconds`` (0 removes the delay): holds a reply
        in flight, as a slow Discord would. The request is recorded once it is answered."""
        self._delays = [d for d in self._delays if (d[0], d[1]) != (method, path_pattern)]
        if seconds > 0:
            self._delays.append((method, path_pattern, seconds))

    def clear_requests(self) -> None:
        self.requests.clear()

    # ------------------------------------------------------------------ internals: waiting

    async def _notify(self) -> None:
        if self._cond is None:
            return
        async with self._cond:
            self._cond.notify_all()

    async def _wait_until(self, predicate: Callable[[], bool], timeout: float, describe: Callable[[], str]) -> None:
        if predicate():
            return
        assert self._cond is not None, "FakeDiscord is not started"
        try:
            async with self._cond:
                await asyncio.wait_for(self._cond.wait_for(predicate), timeout)
        except TimeoutError:
            raise AssertionError(describe()) from None

    # ------------------------------------------------------------------ internals: gateway

    async def _session_for(self, data: dict[str, Any], shard_id: int | None, timeout: float) -> GatewaySession:
        def find() -> GatewaySession | None:
            for session in reversed(self.sessions):
                if session.invalidated:
                    continue
                wanted = shard_id
                if wanted is None:
                    gid = data.get("guild_id") if isinstance(data, dict) else None
                    wanted = _shard_for(int(gid), session.shard_count) if gid else 0
                if session.shard_id == wanted:
                    return session
            return None

        found: list[GatewaySession] = []

        def ready() -> bool:
            s = find()
            if s is not None:
                found.append(s)
            return s is not None

        await self._wait_until(
            ready, timeout,
            lambda: f"no identified gateway session for shard {shard_id if shard_id is not None else '(by guild)'}; "
                    f"is the client connected? sessions: {self.sessions}",
        )
        return found[-1]

    async def _dispatch_to(self, session: GatewaySession, event: str, data: dict[str, Any]) -> int | None:
        data = self._apply_intents(session, event, data)
        if data is None:
            self.dispatched.append({"shard": session.shard_id, "t": event, "s": None, "dropped": True})
            return None
        async with session.lock:
            session.seq += 1
            payload = {"op": 0, "t": event, "s": session.seq, "d": data}
            session.backlog.append(payload)
            del session.backlog[:-1000]
            self.dispatched.append({"shard": session.shard_id, "t": event, "s": session.seq, "dropped": False})
            conn = session.conn
            if conn is not None and not conn.closed:
                with contextlib.suppress(ConnectionResetError):
                    await conn.send(payload)
            return session.seq

    def _apply_intents(self, session: GatewaySession, event: str, data: dict[str, Any]) -> dict[str, Any] | None:
        intents = session.intents
        in_guild = bool(data.get("guild_id")) if isinstance(data, dict) else False
        needed = {
            "MESSAGE_CREATE": Intents.GUILD_MESSAGES if in_guild else Intents.DIRECT_MESSAGES,
            "MESSAGE_UPDATE": Intents.GUILD_MESSAGES if in_guild else Intents.DIRECT_MESSAGES,
            "MESSAGE_DELETE": Intents.GUILD_MESSAGES if in_guild else Intents.DIRECT_MESSAGES,
            "MESSAGE_DELETE_BULK": Intents.GUILD_MESSAGES,
            "MESSAGE_REACTION_ADD": Intents.GUILD_MESSAGE_REACTIONS if in_guild else Intents.DIRECT_MESSAGE_REACTIONS,
            "MESSAGE_REACTION_REMOVE": Intents.GUILD_MESSAGE_REACTIONS if in_guild else Intents.DIRECT_MESSAGE_REACTIONS,
            "TYPING_START": Intents.GUILD_MESSAGE_TYPING if in_guild else Intents.DIRECT_MESSAGE_TYPING,
            "GUILD_MEMBER_ADD": Intents.GUILD_MEMBERS,
            "GUILD_MEMBER_UPDATE": Intents.GUILD_MEMBERS,
            "GUILD_MEMBER_REMOVE": Intents.GUILD_MEMBERS,
            "PRESENCE_UPDATE": Intents.GUILD_PRESENCES,
            "GUILD_CREATE": Intents.GUILDS,
            "GUILD_UPDATE": Intents.GUILDS,
            "GUILD_DELETE": Intents.GUILDS,
            "CHANNEL_CREATE": Intents.GUILDS,
            "CHANNEL_UPDATE": Intents.GUILDS,
            "CHANNEL_DELETE": Intents.GUILDS,
            "THREAD_CREATE": Intents.GUILDS,
        }.get(event)
        if needed is not None and not intents & needed:
            return None
        if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE") and in_guild and not intents & Intents.MESSAGE_CONTENT:
            author_id = str(data.get("author", {}).get("id"))
            mentioned = any(str(u.get("id")) == str(self.bot_id) for u in data.get("mentions", []))
            if author_id != str(self.bot_id) and not mentioned:
                # Discord's MESSAGE_CONTENT gating: the event arrives, its content fields are empty.
                data = copy.deepcopy(data)
                data.update({"content": "", "embeds": [], "attachments": [], "components": []})
                data.pop("poll", None)
        return data

    async def _echo(self, event: str, data: dict[str, Any]) -> None:
        """Mirror a REST side effect onto the gateway, as Discord does, when a session exists."""
        if not self.echo_own_messages:
            return
        session = None
        for s in reversed(self.sessions):
            if s.invalidated:
                continue
            gid = data.get("guild_id")
            wanted = _shard_for(int(gid), s.shard_count) if gid else 0
            if s.shard_id == wanted:
                session = s
                break
        if session is not None:
            await self._dispatch_to(session, event, data)

    async def _handle_gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(timeout=5.0, max_msg_size=0)
        await ws.prepare(request)
        self._conn_ids += 1
        compression = request.query.get("compress") if self.transport_compression else None
        if compression == "zstd-stream" and _zstandard is None and _stdlib_zstd is None:
            compression = None  # cannot compress; discord.py also accepts plain text frames
        conn = _GatewayConnection(ws, request, self._conn_ids, compression)
        self.connections.append(conn)
        try:
            if request.query.get("v") != str(API_VERSION):
                await conn.close(4012, "Invalid API version")
                return ws
            if request.query.get("encoding", "json") != "json":
                await conn.close(4002, "Error while decoding payload.")  # ETF is not implemented
                return ws
            await conn.send({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms,
                                             "_trace": ["[\"fake-gateway\",{\"micros\":0}]"]},
                             "s": None, "t": None})
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    try:
                        payload = _json.loads(msg.data)
                    except ValueError:
                        await conn.close(4002, "Error while decoding payload.")
                        break
                    conn.received.append(payload)
                    self.gateway_received.append((conn.id, payload))
                    await self._on_gateway_payload(conn, payload)
                    await self._notify()
                elif msg.type == WSMsgType.BINARY:
                    await conn.close(4002, "Error while decoding payload.")
                    break
        finally:
            conn.closed = True
            if conn.server_close_code is None:
                conn.client_close_code = ws.close_code
            session = conn.session
            if session is not None and session.conn is conn:
                session.conn = None
                # A client-initiated 1000/1001 close ends the session on Discord's side. Note that
                # discord.py's Client.close() usually puts 4000 on the wire (its poll loop closes
                # the socket first), which leaves the session resumable -- as on real Discord.
                if conn.client_close_code in (1000, 1001):
                    session.invalidated = True
            await self._notify()
        return ws

    async def _on_gateway_payload(self, conn: _GatewayConnection, payload: dict[str, Any]) -> None:
        op = payload.get("op")
        d = payload.get("d")
        if op == 1:
            if self.ack_heartbeats:
                await conn.send({"op": 11, "d": None, "s": None, "t": None})
            return
        if op == 2:
            await self._on_identify(conn, d or {})
            return
        if op == 6:
            await self._on_resume(conn, d or {})
            return
        if not conn.identified:
            await conn.close(4003, "Not authenticated.")
            return
        if op == 8:
            await self._on_request_members(conn, d or {})
            return
        if op in (3, 4):
            return  # presence / voice state updates are recorded only
        await conn.close(4001, "Unknown opcode.")

    async def _on_identify(self, conn: _GatewayConnection, d: dict[str, Any]) -> None:
        if conn.identified:
            await conn.close(4005, "Already authenticated.")
            return
        shard = d.get("shard")
        record = IdentifyRecord(
            token=d.get("token", ""),
            intents=d.get("intents"),
            shard=(int(shard[0]), int(shard[1])) if shard else None,
            properties=d.get("properties", {}),
            presence=d.get("presence"),
            raw=d,
            at=time.monotonic(),
            connection_path=conn.path,
            query=conn.query,
        )
        self.identifies.append(record)
        if self.token is not None and record.token != self.token:
            await conn.close(4004, "Authentication failed.")
            return
        if d.get("intents") is None:
            await conn.close(4013, "Invalid intent(s).")
            return
        intents = int(d["intents"])
        if intents & Intents.PRIVILEGED & ~self.allowed_privileged_intents:
            await conn.close(4014, "Disallowed intent(s).")
            return
        shard_id, shard_count = record.shard or (0, 1)
        if not 0 <= shard_id < shard_count:
            await conn.close(4010, "Invalid shard.")
            return
        session = GatewaySession(uuid.uuid4().hex, shard_id, shard_count, intents, record.token)
        record.session_id = session.session_id
        self.sessions.append(session)
        conn.identified = True
        conn.session = session
        my_guilds = [gid for gid in self.guilds if _shard_for(gid, shard_count) == shard_id]
        ready: dict[str, Any] = {
            "v": API_VERSION,
            "user": copy.deepcopy(self.bot_user),
            "user_settings": {},
            "guilds": [{"id": str(gid), "unavailable": True} for gid in my_guilds],
            "relationships": [],
            "private_channels": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["us-east", "us-central"],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "application": {"id": self.application["id"], "flags": self.application["flags"]},
            "_trace": ["[\"fake-gateway\",{\"micros\":0}]"],
        }
        if record.shard is not None:
            ready["shard"] = [shard_id, shard_count]
        async with session.lock:
            session.conn = conn
        await self._dispatch_to(session, "READY", ready)
        for gid in my_guilds:
            await self._dispatch_to(session, "GUILD_CREATE", self.guild_create_payload(gid, intents))

    async def _on_resume(self, conn: _GatewayConnection, d: dict[str, Any]) -> None:
        session = next((s for s in self.sessions if s.session_id == d.get("session_id")), None)
        token_ok = self.token is None or d.get("token") == self.token
        if session is None or session.invalidated or not token_ok or (session.token != d.get("token")):
            self.resumes.append(ResumeRecord(d.get("session_id"), d.get("seq"), d.get("token", ""), False, 0,
                                             time.monotonic(), conn.path))
            await conn.send({"op": 9, "d": False, "s": None, "t": None})
            return
        async with session.lock:
            # Holding the session lock keeps test dispatches from interleaving with the replay.
            old = session.conn
            if old is not None and old is not conn and not old.closed:
                await old.close(4000, "session resumed elsewhere")
            missed = [p for p in session.backlog if p["s"] > int(d.get("seq") or 0)]
            for p in missed:
                await conn.send(p)
            session.seq += 1
            resumed = {"op": 0, "t": "RESUMED", "s": session.seq, "d": {"_trace": ["[\"fake-gateway\"]"]}}
            session.backlog.append(resumed)
            await conn.send(resumed)
            conn.identified = True
            conn.session = session
            session.conn = conn
        self.resumes.append(ResumeRecord(session.session_id, d.get("seq"), d.get("token", ""), True, len(missed),
                                         time.monotonic(), conn.path))

    async def _on_request_members(self, conn: _GatewayConnection, d: dict[str, Any]) -> None:
        session = conn.session
        assert session is not None
        guild_ids = d.get("guild_id")
        for gid in guild_ids if isinstance(guild_ids, list) else [guild_ids]:
            members = list(self.members.get(int(gid), {}).values())
            user_ids = d.get("user_ids")
            not_found: list[str] = []
            if user_ids is not None:
                wanted = {str(u) for u in (user_ids if isinstance(user_ids, list) else [user_ids])}
                found = [m for m in members if m["user"]["id"] in wanted]
                not_found = sorted(wanted - {m["user"]["id"] for m in found})
                members = found
            else:
                query = (d.get("query") or "").lower()
                members = [m for m in members if m["user"]["username"].startswith(query)]
                if d.get("limit"):
                    members = members[: int(d["limit"])]
            chunk: dict[str, Any] = {
                "guild_id": str(gid),
                "members": copy.deepcopy(members),
                "chunk_index": 0,
                "chunk_count": 1,
            }
            if not_found:
                chunk["not_found"] = not_found
            if d.get("presences"):
                chunk["presences"] = []
            if d.get("nonce") is not None:
                chunk["nonce"] = d["nonce"]
            await self._dispatch_to(session, "GUILD_MEMBERS_CHUNK", chunk)

    # ------------------------------------------------------------------ internals: REST plumbing

    def _build_routes(self) -> list[tuple[str, Pattern[str], Callable[..., Any], bool]]:
        S = r"(?P<{}>\d+)"
        ch, msg, gid, uid = S.format("channel_id"), S.format("message_id"), S.format("guild_id"), S.format("user_id")
        app = S.format("app_id")
        tok = r"(?P<token>[^/]+)"
        cmds = rf"/applications/{app}(?:/guilds/{gid})?/commands"
        table: list[tuple[str, str, Callable[..., Any], bool]] = [
            ("GET", r"/gateway", self._r_gateway, False),
            ("GET", r"/gateway/bot", self._r_gateway_bot, True),
            ("GET", r"/users/@me", self._r_me, True),
            ("GET", rf"/users/{uid}", self._r_user, True),
            ("GET", r"/(?:oauth2/)?applications/@me", self._r_application, True),
            ("POST", r"/users/@me/channels", self._r_create_dm, True),
            ("GET", rf"/channels/{ch}", self._r_get_channel, True),
            ("GET", rf"/channels/{ch}/messages", self._r_list_messages, True),
            ("POST", rf"/channels/{ch}/messages", self._r_create_message, True),
            ("GET", rf"/channels/{ch}/messages/{msg}", self._r_get_message, True),
            ("PATCH", rf"/channels/{ch}/messages/{msg}", self._r_edit_message, True),
            ("DELETE", rf"/channels/{ch}/messages/{msg}", self._r_delete_message, True),
            ("POST", rf"/channels/{ch}/typing", self._r_no_content, True),
            ("PUT", rf"/channels/{ch}/messages/{msg}/reactions/(?P<emoji>[^/]+)/@me", self._r_reaction, True),
            ("DELETE", rf"/channels/{ch}/messages/{msg}/reactions/(?P<emoji>[^/]+)/@me", self._r_reaction, True),
            ("GET", rf"/guilds/{gid}", self._r_get_guild, True),
            ("GET", rf"/guilds/{gid}/channels", self._r_guild_channels, True),
            ("GET", rf"/guilds/{gid}/members/{uid}", self._r_get_member, True),
            ("POST", rf"/interactions/(?P<interaction_id>\d+)/{tok}/callback", self._r_interaction_callback, False),
            ("GET", rf"/webhooks/{app}/{tok}/messages/(?P<message_id>@original|\d+)", self._r_webhook_message, False),
            ("PATCH", rf"/webhooks/{app}/{tok}/messages/(?P<message_id>@original|\d+)", self._r_webhook_message, False),
            ("DELETE", rf"/webhooks/{app}/{tok}/messages/(?P<message_id>@original|\d+)", self._r_webhook_message, False),
            ("POST", rf"/webhooks/{app}/{tok}", self._r_followup, False),
            ("GET", cmds, self._r_commands, True),
            ("PUT", cmds, self._r_commands, True),
            ("POST", cmds, self._r_commands, True),
            ("GET", rf"{cmds}/(?P<command_id>\d+)", self._r_command, True),
            ("DELETE", rf"{cmds}/(?P<command_id>\d+)", self._r_command, True),
        ]
        return [(m, re.compile(p), h, auth) for m, p, h, auth in table]

    async def _read_body(self, request: web.Request) -> tuple[bytes, Any, list[FormPart] | None]:
        if request.content_type.startswith("multipart/"):
            parts: list[FormPart] = []
            payload: Any = None
            reader = await request.multipart()
            async for part in reader:
                data = bytes(await part.read(decode=False))  # type: ignore[union-attr]
                fp = FormPart(part.name or "", part.filename, part.headers.get("Content-Type"), data)  # type: ignore[union-attr]
                parts.append(fp)
                if fp.name == "payload_json":
                    payload = _json.loads(data)
            return b"", payload, parts
        body = await request.read()
        payload = None
        if body and request.content_type == "application/json":
            payload = _json.loads(body)
        return body, payload, None

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body, payload, form = await self._read_body(request)
        rec = RecordedRequest(
            method=request.method,
            path=path,
            query=dict(request.query),
            headers=dict(request.headers),
            json=payload,
            body=body,
            form=form,
            at=time.monotonic(),
        )
        for method, pattern, seconds in self._delays:
            if _method_matches(method, request.method) and _path_matches(pattern, path):
                await asyncio.sleep(seconds)
                break
        route_key = path
        fault = self._take_fault(request.method, path)
        if fault is not None:
            resp = self._fault_response(fault, path)
        else:
            resp = None
            for method, regex, handler, needs_auth in self._routes:
                m = regex.fullmatch(path)
                if m is None or method != request.method:
                    continue
                route_key = f"{method} {regex.pattern}"
                if needs_auth:
                    auth = request.headers.get("Authorization", "")
                    if not auth.startswith("Bot ") or (self.token is not None and auth != f"Bot {self.token}"):
                        resp = _error(401, 0, "401: Unauthorized")
                        break
                resp = await handler(rec, **m.groupdict())
                break
            if resp is None:
                resp = _error(404, 0, "Unknown")
        rec.status = resp.status
        rec.response = resp.body
        self.requests.append(rec)
        await self._notify()
        headers = dict(resp.headers)
        if self.ratelimit_headers and resp.status != 429:
            headers.update(self._ratelimit_headers(route_key))
        if resp.status == 204 or resp.body is None:
            return web.Response(status=resp.status, headers=headers)
        return _json_response(resp.body, resp.status, headers)

    async def _handle_unrouted(self, request: web.Request) -> web.StreamResponse:
        body, payload, form = await self._read_body(request)
        rec = RecordedRequest(request.method, request.path, dict(request.query), dict(request.headers), payload, body,
                              form, time.monotonic(), 404, {"message": "Unknown", "code": 0})
        self.requests.append(rec)
        await self._notify()
        return _json_response(rec.response, 404, {})

    async def _handle_attachment(self, request: web.Request) -> web.StreamResponse:
        blob = self._attachment_blobs.get(request.match_info["tail"])
        if blob is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=blob[0], content_type=blob[1].split(";")[0])

    @staticmethod
    def _bucket(route_key: str) -> str:
        return hashlib.sha1(route_key.encode()).hexdigest()[:16]

    def _ratelimit_headers(self, route_key: str) -> dict[str, str]:
        # Plenty of headroom so discord.py never pre-emptively sleeps in tests; use fail_next for 429s.
        return {
            "X-RateLimit-Limit": "50",
            "X-RateLimit-Remaining": "49",
            "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
            "X-RateLimit-Reset-After": "1.000",
            "X-RateLimit-Bucket": self._bucket(route_key),
        }

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.times > 0 and _method_matches(fault.method, method) and _path_matches(fault.pattern, path):
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _fault_response(self, fault: _Fault, path: str) -> _Response:
        if fault.status == 429:
            body = fault.body or {"message": "You are being rate limited.", "retry_after": fault.retry_after,
                                  "global": fault.global_}
            if fault.global_ and "code" not in body:
                body["code"] = 0
            headers = {
                "Retry-After": str(max(1, math.ceil(fault.retry_after))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + fault.retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{fault.retry_after:.3f}",
                "X-RateLimit-Bucket": self._bucket(path),
                "X-RateLimit-Scope": "global" if fault.global_ else "user",
                "Via": "1.1 google",
            }
            if fault.global_:
                headers["X-RateLimit-Global"] = "true"
            return _Response(429, body, headers)
        reasons = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                   500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                   504: "Gateway Timeout"}
        body = fault.body or {"message": f"{fault.status}: {reasons.get(fault.status, 'Error')}", "code": 0}
        return _Response(fault.status, body)

    # ------------------------------------------------------------------ REST handlers

    async def _r_gateway(self, rec: RecordedRequest) -> _Response:
        return _Response(200, {"url": self.gateway_url})

    async def _r_gateway_bot(self, rec: RecordedRequest) -> _Response:
        return _Response(200, {
            "url": self.gateway_url,
            "shards": self.shard_count,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1},
        })

    async def _r_me(self, rec: RecordedRequest) -> _Response:
        return _Response(200, copy.deepcopy(self.bot_user))

    async def _r_user(self, rec: RecordedRequest, user_id: str) -> _Response:
        user = self.users.get(int(user_id))
        if user is None:
            return _error(404, 10013, "Unknown User")
        return _Response(200, copy.deepcopy(user))

    async def _r_application(self, rec: RecordedRequest) -> _Response:
        return _Response(200, copy.deepcopy(self.application))

    async def _r_create_dm(self, rec: RecordedRequest) -> _Response:
        rid = (rec.json or {}).get("recipient_id")
        if rid is None or int(rid) not in self.users:
            return _error(400, 50033, "Invalid Recipient(s)")
        return _Response(200, copy.deepcopy(self.add_dm_channel(int(rid))))

    async def _r_get_channel(self, rec: RecordedRequest, channel_id: str) -> _Response:
        channel = self.channels.get(int(channel_id))
        if channel is None:
            return _error(404, 10003, "Unknown Channel")
        return _Response(200, copy.deepcopy(channel))

    async def _r_list_messages(self, rec: RecordedRequest, channel_id: str) -> _Response:
        if int(channel_id) not in self.channels:
            return _error(404, 10003, "Unknown Channel")
        limit = int(rec.query.get("limit", 50))
        msgs = [m for m in self.messages.values() if m["channel_id"] == channel_id]
        msgs.sort(key=lambda m: int(m["id"]), reverse=True)
        if "before" in rec.query:
            msgs = [m for m in msgs if int(m["id"]) < int(rec.query["before"])]
        if "after" in rec.query:
            msgs = [m for m in msgs if int(m["id"]) > int(rec.query["after"])]
        return _Response(200, copy.deepcopy(msgs[:limit]))

    async def _r_get_message(self, rec: RecordedRequest, channel_id: str, message_id: str) -> _Response:
        msg = self.messages.get(int(message_id))
        if msg is None or msg["channel_id"] != channel_id:
            return _error(404, 10008, "Unknown Message")
        return _Response(200, copy.deepcopy(msg))

    def _validate_message(self, payload: dict[str, Any], files: Sequence[FormPart], *, creating: bool) -> _Response | None:
        if not self.validate_messages:
            return None
        content = payload.get("content")
        if content is not None and len(content) > 2000:
            return _form_error(["content"], "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
        embeds = payload.get("embeds") or []
        if len(embeds) > 10:
            return _form_error(["embeds"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        total = 0
        limits = {"title": 256, "description": 4096}
        for i, embed in enumerate(embeds):
            for key, limit in limits.items():
                value = embed.get(key) or ""
                total += len(value)
                if len(value) > limit:
                    return _form_error(["embeds", i, key], "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
            fields = embed.get("fields") or []
            if len(fields) > 25:
                return _form_error(["embeds", i, "fields"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
            for j, f in enumerate(fields):
                for key, limit in (("name", 256), ("value", 1024)):
                    value = f.get(key) or ""
                    total += len(value)
                    if not value:
                        return _form_error(["embeds", i, "fields", j, key], "BASE_TYPE_REQUIRED", "This field is required")
                    if len(value) > limit:
                        return _form_error(["embeds", i, "fields", j, key], "BASE_TYPE_MAX_LENGTH",
                                           f"Must be {limit} or fewer in length.")
            footer = (embed.get("footer") or {}).get("text") or ""
            author = (embed.get("author") or {}).get("name") or ""
            total += len(footer) + len(author)
            if len(footer) > 2048:
                return _form_error(["embeds", i, "footer", "text"], "BASE_TYPE_MAX_LENGTH", "Must be 2048 or fewer in length.")
            if len(author) > 256:
                return _form_error(["embeds", i, "author", "name"], "BASE_TYPE_MAX_LENGTH", "Must be 256 or fewer in length.")
        if total > 6000:
            return _form_error(["embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
        if len(payload.get("components") or []) > 5 and not int(payload.get("flags") or 0) & (1 << 15):
            return _form_error(["components"], "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
        if creating and not (content or embeds or payload.get("components") or files or payload.get("sticker_ids")
                             or payload.get("poll") or payload.get("attachments")):
            return _error(400, 50006, "Cannot send an empty message")
        return None

    def _attachments_from(self, payload: dict[str, Any], files: Sequence[FormPart], channel_id: int,
                          existing: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
        meta = {str(a.get("id")): a for a in payload.get("attachments") or []}
        out: list[dict[str, Any]] = []
        by_id = {a["id"]: a for a in existing}
        for key in meta:
            if key in by_id:
                out.append(by_id[key])
        for part in files:
            m = re.fullmatch(r"files\[(\d+)\]", part.name)
            index = m.group(1) if m else str(len(out))
            info = meta.get(index, {})
            att = self.make_attachment(info.get("filename") or part.filename or "file", part.data,
                                       part.content_type, channel_id)
            if info.get("description"):
                att["description"] = info["description"]
            out.append(att)
        return out

    def _mentions_for(self, content: str, payload: dict[str, Any], reply_to: dict[str, Any] | None) -> list[dict[str, Any]]:
        am = payload.get("allowed_mentions")
        ids = [u for u in _mentioned_ids(content) if u in self.users]
        if am is not None:
            explicit = {int(u) for u in am.get("users") or []}
            ids = [u for u in ids if "users" in (am.get("parse") or []) or u in explicit]
        if reply_to is not None and (am is None or am.get("replied_user", False)):
            rid = int(reply_to["author"]["id"])
            if rid not in ids:
                ids.append(rid)
        return [self.users[u] for u in ids]

    async def _r_create_message(self, rec: RecordedRequest, channel_id: str) -> _Response:
        channel = self.channels.get(int(channel_id))
        if channel is None:
            return _error(404, 10003, "Unknown Channel")
        payload = rec.json or {}
        problem = self._validate_message(payload, rec.files, creating=True)
        if problem is not None:
            return problem
        ref = payload.get("message_reference")
        reply_to = None
        if ref is not None and ref.get("message_id") is not None:
            reply_to = self.messages.get(int(ref["message_id"]))
            if reply_to is None and ref.get("fail_if_not_exists", True):
                return _form_error(["message_reference"], "REPLIES_UNKNOWN_MESSAGE", "Unknown message")
        content = payload.get("content") or ""
        msg = self._message(
            channel_id=int(channel_id),
            author=self.bot_user,
            content=content,
            embeds=payload.get("embeds") or [],
            attachments=self._attachments_from(payload, rec.files, int(channel_id)),
            components=payload.get("components") or [],
            mentions=self._mentions_for(content, payload, reply_to),
            message_reference=ref,
            flags=int(payload.get("flags") or 0),
            tts=bool(payload.get("tts")),
        )
        await self._echo("MESSAGE_CREATE", self._gateway_message(msg))
        return _Response(200, copy.deepcopy(msg))

    def _apply_edit(self, msg: dict[str, Any], payload: dict[str, Any], files: Sequence[FormPart]) -> None:
        if "content" in payload:
            msg["content"] = payload["content"] or ""
        if "embeds" in payload:
            msg["embeds"] = [_normalize_embed(e) for e in payload["embeds"] or []]
        if "components" in payload:
            msg["components"] = _number_components(list(payload["components"] or []))
        if "attachments" in payload or files:
            msg["attachments"] = self._attachments_from(payload, files, int(msg["channel_id"]), msg["attachments"])
        if "flags" in payload and payload["flags"] is not None:
            # Only SUPPRESS_EMBEDS can be toggled by an edit; keep the rest (e.g. EPHEMERAL).
            msg["flags"] = (msg["flags"] & ~4) | (int(payload["flags"]) & 4)
        msg["flags"] &= ~_LOADING
        msg["edited_timestamp"] = _now_iso()

    async def _r_edit_message(self, rec: RecordedRequest, channel_id: str, message_id: str) -> _Response:
        msg = self.messages.get(int(message_id))
        if msg is None or msg["channel_id"] != channel_id:
            return _error(404, 10008, "Unknown Message")
        payload = rec.json or {}
        if msg["author"]["id"] != self.bot_user["id"] and set(payload) - {"flags"}:
            return _error(403, 50005, "Cannot edit a message authored by another user")
        problem = self._validate_message(payload, rec.files, creating=False)
        if problem is not None:
            return problem
        self._apply_edit(msg, payload, rec.files)
        await self._echo("MESSAGE_UPDATE", self._gateway_message(msg))
        return _Response(200, copy.deepcopy(msg))

    async def _r_delete_message(self, rec: RecordedRequest, channel_id: str, message_id: str) -> _Response:
        msg = self.messages.get(int(message_id))
        if msg is None or msg["channel_id"] != channel_id:
            return _error(404, 10008, "Unknown Message")
        del self.messages[int(message_id)]
        await self._echo("MESSAGE_DELETE", self._delete_payload(msg))
        return _Response(204)

    def _delete_payload(self, msg: dict[str, Any]) -> dict[str, Any]:
        data = {"id": msg["id"], "channel_id": msg["channel_id"]}
        channel = self.channels.get(int(msg["channel_id"]))
        if channel and channel.get("guild_id"):
            data["guild_id"] = channel["guild_id"]
        return data

    async def _r_no_content(self, rec: RecordedRequest, **_: str) -> _Response:
        return _Response(204)

    async def _r_reaction(self, rec: RecordedRequest, channel_id: str, message_id: str, emoji: str) -> _Response:
        if int(message_id) not in self.messages:
            return _error(404, 10008, "Unknown Message")
        return _Response(204)

    async def _r_get_guild(self, rec: RecordedRequest, guild_id: str) -> _Response:
        guild = self.guilds.get(int(guild_id))
        if guild is None:
            return _error(404, 10004, "Unknown Guild")
        data = copy.deepcopy(guild)
        data.pop("joined_at", None)
        return _Response(200, data)

    async def _r_guild_channels(self, rec: RecordedRequest, guild_id: str) -> _Response:
        if int(guild_id) not in self.guilds:
            return _error(404, 10004, "Unknown Guild")
        return _Response(200, [copy.deepcopy(c) for c in self.channels.values() if c.get("guild_id") == guild_id])

    async def _r_get_member(self, rec: RecordedRequest, guild_id: str, user_id: str) -> _Response:
        if int(guild_id) not in self.guilds:
            return _error(404, 10004, "Unknown Guild")
        member = self.members[int(guild_id)].get(int(user_id))
        if member is None:
            return _error(404, 10007, "Unknown Member")
        return _Response(200, copy.deepcopy(member))

    # ---- interactions

    def _interaction_message(self, inter: _Interaction, payload: dict[str, Any], files: Sequence[FormPart], *,
                             loading: bool = False, followup: bool = False) -> dict[str, Any]:
        flags = int(payload.get("flags") or 0)
        metadata: dict[str, Any] = {
            "id": str(inter.id),
            "type": inter.type,
            "user": copy.deepcopy(inter.user),
            "authorizing_integration_owners": (
                {"0": str(inter.guild_id)} if inter.guild_id else {"1": inter.user["id"]}
            ),
        }
        if followup:
            metadata["original_response_message_id"] = str(inter.original_message_id)
        if inter.source_message_id is not None:
            metadata["interacted_message_id"] = str(inter.source_message_id)
        # Discord's message types: 20 a slash command's reply, 23 a context menu's, 0 otherwise.
        msg_type = (23 if inter.command_type in (2, 3) else 20) if inter.type == 2 else 0
        content = payload.get("content") or ""
        return self._message(
            channel_id=inter.channel_id,
            author=self.bot_user,
            content=content,
            embeds=payload.get("embeds") or [],
            attachments=self._attachments_from(payload, files, inter.channel_id),
            components=payload.get("components") or [],
            mentions=self._mentions_for(content, payload, None),
            type=msg_type,
            flags=(flags & (_EPHEMERAL | 4 | 4096 | (1 << 15))) | (_LOADING if loading else 0),
            webhook_id=inter.application_id,
            application_id=inter.application_id,
            interaction_metadata=metadata,
            tts=bool(payload.get("tts")),
        )

    async def _r_interaction_callback(self, rec: RecordedRequest, interaction_id: str, token: str) -> _Response:
        inter = self.interactions.get(int(interaction_id))
        if inter is None or inter.token != token:
            return _error(404, 10062, "Unknown interaction")
        if inter.response_type is not None:
            return _error(400, 40060, "Interaction has already been acknowledged.")
        body = rec.json or {}
        rtype = int(body.get("type", 0))
        data = body.get("data") or {}
        allowed = {2: {4, 5, 9, 12}, 3: {4, 5, 6, 7, 9, 12}, 4: {8}, 5: {4, 5, 6, 7}}.get(inter.type, set())
        if rtype not in allowed:
            return _form_error(["type"], "INTERACTION_RESPONSE_TYPE_INVALID", "Invalid interaction response type")
        if rtype in (4, 7):
            problem = self._validate_message(data, rec.files, creating=rtype == 4)
            if problem is not None:
                return problem
        inter.response_type = rtype
        message: dict[str, Any] | None = None
        if rtype in (4, 5):
            message = self._interaction_message(inter, data, rec.files, loading=rtype == 5)
            inter.original_message_id = int(message["id"])
            inter.ephemeral = bool(message["flags"] & _EPHEMERAL)
            if not inter.ephemeral:
                await self._echo("MESSAGE_CREATE", self._gateway_message(message))
        elif rtype in (6, 7) and inter.source_message_id is not None:
            inter.original_message_id = inter.source_message_id
            message = self.messages.get(inter.source_message_id)
            if rtype == 7 and message is not None:
                self._apply_edit(message, data, rec.files)
                if not message["flags"] & _EPHEMERAL:
                    await self._echo("MESSAGE_UPDATE", self._gateway_message(message))
        if not _truthy(rec.query.get("with_response")):
            return _Response(204)
        # discord.py >= 2.5 always asks with_response=1 and parses this InteractionCallbackResponse.
        result: dict[str, Any] = {
            "interaction": {
                "id": str(inter.id),
                "type": inter.type,
                "response_message_loading": rtype == 5,
                "response_message_ephemeral": inter.ephemeral,
            }
        }
        if message is not None and rtype in (4, 5, 7):
            result["interaction"]["response_message_id"] = message["id"]
            result["resource"] = {"type": rtype, "message": copy.deepcopy(message)}
        elif rtype in (8, 9):
            result["resource"] = {"type": rtype}
        return _Response(200, result)

    def _webhook_interaction(self, app_id: str, token: str) -> _Interaction | None:
        inter = self._interactions_by_token.get(token)
        if inter is None or inter.application_id != int(app_id):
            return None
        return inter

    async def _r_webhook_message(self, rec: RecordedRequest, app_id: str, token: str, message_id: str) -> _Response:
        inter = self._webhook_interaction(app_id, token)
        if inter is None:
            return _error(404, 10015, "Unknown Webhook")
        if message_id == "@original":
            mid = inter.original_message_id
        else:
            mid = int(message_id)
            if mid not in inter.followup_ids and mid != inter.original_message_id:
                mid = None
        msg = self.messages.get(mid) if mid is not None else None
        if msg is None:
            return _error(404, 10008, "Unknown Message")
        if rec.method == "GET":
            return _Response(200, copy.deepcopy(msg))
        ephemeral = bool(msg["flags"] & _EPHEMERAL)
        if rec.method == "DELETE":
            del self.messages[int(msg["id"])]
            if not ephemeral:
                await self._echo("MESSAGE_DELETE", self._delete_payload(msg))
            return _Response(204)
        payload = rec.json or {}
        problem = self._validate_message(payload, rec.files, creating=False)
        if problem is not None:
            return problem
        self._apply_edit(msg, payload, rec.files)
        if not ephemeral:
            await self._echo("MESSAGE_UPDATE", self._gateway_message(msg))
        return _Response(200, copy.deepcopy(msg))

    async def _r_followup(self, rec: RecordedRequest, app_id: str, token: str) -> _Response:
        inter = self._webhook_interaction(app_id, token)
        if inter is None or inter.response_type is None:
            # The interaction webhook only exists once the interaction has been acknowledged.
            return _error(404, 10015, "Unknown Webhook")
        payload = rec.json or {}
        problem = self._validate_message(payload, rec.files, creating=True)
        if problem is not None:
            return problem
        original = self.messages.get(inter.original_message_id) if inter.original_message_id else None
        if original is not None and original["flags"] & _LOADING:
            # Discord: the first followup after a deferred response replaces the "thinking" message.
            self._apply_edit(original, payload, rec.files)
            msg = original
            if not msg["flags"] & _EPHEMERAL:
                await self._echo("MESSAGE_UPDATE", self._gateway_message(msg))
        else:
            msg = self._interaction_message(inter, payload, rec.files, followup=True)
            inter.followup_ids.append(int(msg["id"]))
            if not msg["flags"] & _EPHEMERAL:
                await self._echo("MESSAGE_CREATE", self._gateway_message(msg))
        if not _truthy(rec.query.get("wait")):
            return _Response(204)
        return _Response(200, copy.deepcopy(msg))

    # ---- application commands

    def _command_store(self, guild_id: str | None) -> list[dict[str, Any]]:
        if guild_id is None:
            return self.global_commands
        return self.guild_commands.setdefault(int(guild_id), [])

    def _validate_command(self, cmd: dict[str, Any], index: int | None) -> _Response | None:
        prefix: list[str | int] = [index] if index is not None else []
        name = cmd.get("name") or ""
        ctype = int(cmd.get("type", 1))
        if ctype == 1:
            if not re.fullmatch(r"[-_'\w]{1,32}", name) or name != name.lower():
                return _form_error(prefix + ["name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
            desc = cmd.get("description") or ""
            if not 1 <= len(desc) <= 100:
                return _form_error(prefix + ["description"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        elif not 1 <= len(name) <= 32:
            return _form_error(prefix + ["name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
        if len(cmd.get("options") or []) > 25:
            return _form_error(prefix + ["options"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        return None

    def _store_command(self, store: list[dict[str, Any]], cmd: dict[str, Any], app_id: str,
                       guild_id: str | None) -> dict[str, Any]:
        ctype = int(cmd.get("type", 1))
        existing = next((c for c in store if c["name"] == cmd["name"] and c["type"] == ctype), None)
        stored = {
            "id": existing["id"] if existing else str(self.snowflake()),
            "application_id": app_id,
            "version": str(self.snowflake()),
            "type": ctype,
            "name": cmd["name"],
            "name_localizations": cmd.get("name_localizations"),
            "description": cmd.get("description", "") if ctype == 1 else "",
            "description_localizations": cmd.get("description_localizations"),
            "options": cmd.get("options") or [],
            "default_member_permissions": cmd.get("default_member_permissions"),
            "dm_permission": cmd.get("dm_permission", True),
            "contexts": cmd.get("contexts"),
            "integration_types": cmd.get("integration_types") or [0],
            "nsfw": cmd.get("nsfw", False),
        }
        if guild_id is not None:
            stored["guild_id"] = guild_id
        if existing:
            store[store.index(existing)] = stored
        else:
            store.append(stored)
        return stored

    async def _r_commands(self, rec: RecordedRequest, app_id: str, guild_id: str | None = None) -> _Response:
        if int(app_id) != self.application_id:
            return _error(403, 50001, "Missing Access")
        if guild_id is not None and int(guild_id) not in self.guilds:
            return _error(403, 50001, "Missing Access")
        store = self._command_store(guild_id)
        if rec.method == "GET":
            return _Response(200, copy.deepcopy(store))
        if rec.method == "POST":
            cmd = rec.json or {}
            problem = self._validate_command(cmd, None)
            if problem is not None:
                return problem
            return _Response(201, copy.deepcopy(self._store_command(store, cmd, app_id, guild_id)))
        commands = rec.json or []
        if len(commands) > 100:
            return _form_error([], "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
        for i, cmd in enumerate(commands):
            problem = self._validate_command(cmd, i)
            if problem is not None:
                return problem
        old = list(store)
        store.clear()
        for cmd in commands:
            ctype = int(cmd.get("type", 1))
            prior = next((c for c in old if c["name"] == cmd["name"] and c["type"] == ctype), None)
            if prior is not None:
                store.append(prior)
            self._store_command(store, cmd, app_id, guild_id)
        return _Response(200, copy.deepcopy(store))

    async def _r_command(self, rec: RecordedRequest, app_id: str, command_id: str, guild_id: str | None = None) -> _Response:
        store = self._command_store(guild_id)
        cmd = next((c for c in store if c["id"] == command_id), None)
        if cmd is None or int(app_id) != self.application_id:
            return _error(404, 10063, "Unknown application command")
        if rec.method == "DELETE":
            store.remove(cmd)
            return _Response(204)
        return _Response(200, copy.deepcopy(cmd))


# ---------------------------------------------------------------------- module helpers

def _json_response(body: Any, status: int, headers: dict[str, str]) -> web.Response:
    # discord.py parses JSON only when Content-Type is exactly "application/json" (as Discord
    # sends it); aiohttp's json_response appends "; charset=utf-8" and would yield a str.
    headers = {**headers, "Content-Type": "application/json"}
    return web.Response(body=_json.dumps(body).encode("utf-8"), status=status, headers=headers)


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


def _mentioned_ids(content: str) -> list[int]:
    seen: list[int] = []
    for m in re.finditer(r"<@!?(\d+)>", content or ""):
        uid = int(m.group(1))
        if uid not in seen:
            seen.append(uid)
    return seen


def _normalize_embed(embed: dict[str, Any]) -> dict[str, Any]:
    e = copy.deepcopy(embed)
    e.setdefault("type", "rich")
    if e.get("fields"):
        for f in e["fields"]:
            f.setdefault("inline", False)
    return e


def _number_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Discord assigns every component a numeric id in responses when the request did not.
    counter = [0]
    used = set()

    def collect(items: list[dict[str, Any]]) -> None:
        for c in items:
            if isinstance(c.get("id"), int):
                used.add(c["id"])
            collect(c.get("components") or [])
            if isinstance(c.get("accessory"), dict):
                collect([c["accessory"]])

    def assign(items: list[dict[str, Any]]) -> None:
        for c in items:
            if not isinstance(c.get("id"), int):
                counter[0] += 1
                while counter[0] in used:
                    counter[0] += 1
                c["id"] = counter[0]
            assign(c.get("components") or [])
            if isinstance(c.get("accessory"), dict):
                assign([c["accessory"]])

    components = copy.deepcopy(components)
    collect(components)
    assign(components)
    return components


def _normalize_options(options: dict[str, Any] | Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    if not isinstance(options, dict):
        return [copy.deepcopy(o) for o in options]
    out = []
    for name, value in options.items():
        if isinstance(value, bool):
            otype = 5
        elif isinstance(value, int):
            otype = 4
        elif isinstance(value, float):
            otype = 10
        else:
            otype = 3
            value = str(value)
        out.append({"name": name, "type": otype, "value": value})
    return out


def _guess_content_type(filename: str) -> str:
    import mimetypes

    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


@contextlib.contextmanager
def point_discord_py_at(fake: FakeDiscord) -> Iterator[FakeDiscord]:
    """Point discord.py's REST base and default gateway at ``fake``; restores both on exit.

    ``Route.BASE`` is read when each Route is built (webhook and interaction routes too), and
    ``DiscordWebSocket.DEFAULT_GATEWAY`` is used by plain ``Client.connect`` (it never calls
    GET /gateway/bot) and again after an INVALID_SESSION, so keep this active for the client's
    whole life, including ``close()``.
    """
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

    old_base = Route.BASE
    old_gateway = DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE = fake.rest_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield fake
    finally:
        Route.BASE = old_base
        DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


@contextlib.asynccontextmanager
async def running_client(client: Any, token: str = DEFAULT_TOKEN, *, ready_timeout: float = 10.0) -> AsyncIterator[Any]:
    """Run ``client.start(token)`` in a task until ``on_ready``; always ``close()`` it and reap the task.

    Errors that ended ``start()`` (LoginFailure, ConnectionClosed(4014), ...) are re-raised.
    """
    loop = asyncio.get_running_loop()
    task = loop.create_task(client.start(token), name="discord-client-start")
    body_ok = False
    try:
        deadline = loop.time() + ready_timeout
        while not client.is_ready():
            if task.done():
                task.result()  # re-raises the reason start() ended
                raise AssertionError("client.start() returned before the client became ready")
            if loop.time() > deadline:
                raise AssertionError(f"client not ready after {ready_timeout}s")
            await asyncio.sleep(0.01)
        yield client
        body_ok = True
    finally:
        with contextlib.suppress(Exception):
            await client.close()
        done, _ = await asyncio.wait({task}, timeout=5.0)
        if not done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            if body_ok:
                raise AssertionError("client.start() did not return within 5s of client.close()")
        elif body_ok and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
        elif not task.cancelled():
            task.exception()  # mark retrieved so asyncio doesn't log "never retrieved"
