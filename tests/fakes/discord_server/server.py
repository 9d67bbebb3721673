"""FakeDiscord: the server itself, its start and stop, composed of its world, gateway and REST parts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import (
    Any,
)

from aiohttp import web

from .common import (
    API_VERSION,
    GatewaySession,
    IdentifyRecord,
    Intents,
    PathPattern,
    RecordedRequest,
    ResumeRecord,
    SnowflakeGenerator,
    _Fault,
    _GatewayConnection,
    _Interaction,
)
from .gateway import Gateway
from .rest import Rest
from .world import World


class FakeDiscord(World, Gateway, Rest):
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
