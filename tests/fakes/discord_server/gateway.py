"""The gateway half of the fake: WebSocket sessions as discord.py's client sees them."""

from __future__ import annotations

import contextlib
import copy
import json as _json
import time
import uuid
from typing import (
    Any,
)

from aiohttp import WSMsgType, web

try:  # zstd-stream is only negotiated by discord.py when a zstd module exists client-side.
    import zstandard as _zstandard  # type: ignore
except ImportError:  # pragma: no cover - depends on the environment
    _zstandard = None
try:  # Python >= 3.14 ships compression.zstd, which discord.py also uses.
    from compression import zstd as _stdlib_zstd  # type: ignore
except ImportError:  # pragma: no cover - depends on the environment
    _stdlib_zstd = None

from .common import (
    _SESSION_KILLING_CLOSE_CODES,
    API_VERSION,
    GatewaySession,
    IdentifyRecord,
    Intents,
    ResumeRecord,
    _GatewayConnection,
    _shard_for,
)


class Gateway:
    """The gateway: sessions, identify and resume, dispatching events, heartbeats, shards."""

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
