"""Records, constants and helpers the fake's parts share."""

from __future__ import annotations

import asyncio
import copy
import datetime as _dt
import json as _json
import re
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from re import Pattern
from typing import (
    Any,
)

from aiohttp import web

try:  # zstd-stream is only negotiated by discord.py when a zstd module exists client-side.
    import zstandard as _zstandard  # type: ignore
except ImportError:  # pragma: no cover - depends on the environment
    _zstandard = None
try:  # Python >= 3.14 ships compression.zstd, which discord.py also uses.
    from compression import zstd as _stdlib_zstd  # type: ignore
except ImportError:  # pragma: no cover - depends on the environment
    _stdlib_zstd = None


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
