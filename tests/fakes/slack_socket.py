"""A local fake of Slack's Socket Mode WebSocket endpoint.

slack_bolt's ``AsyncSocketModeHandler`` (slack_bolt.adapter.socket_mode.async_handler)
uses slack_sdk.socket_mode.aiohttp, which first calls ``apps.connections.open`` with the
app-level token and then ``ws_connect``s to the returned URL. Attaching this fake to a
``FakeSlackWebAPI`` makes that call return our URL, so the real client connects here.

The server runs on its own thread and event loop so tests can push envelopes from
sync or async code without caring which loop the bot runs on.

    with FakeSlackWebAPI() as web, FakeSlackSocketMode(web) as sock:
        app = AsyncApp(client=AsyncWebClient(token="xoxb-test", base_url=web.base_url))
        handler = AsyncSocketModeHandler(app, app_token="xapp-test")
        await handler.connect_async()
        await sock.wait_connected()
        eid = sock.push_event(event_callback(app_mention_event(...)))
        await sock.wait_for_ack(eid)
        await handler.close_async()   # before the fakes stop, or the client reconnects
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from .slack_api import FakeSlackWebAPI

__all__ = ["FakeSlackSocketMode", "SocketMessage"]


@dataclass
class SocketMessage:
    """A text frame the client sent (acks carry ``envelope_id`` and maybe ``payload``)."""

    data: dict[str, Any]
    at: float
    connection: int


class FakeSlackSocketMode:
    def __init__(
        self,
        web_api: FakeSlackWebAPI | None = None,
        *,
        app_id: str = "A1",
        send_hello: bool = True,
    ) -> None:
        self.web_api = web_api
        self.app_id = app_id
        self.send_hello = send_hello
        self._lock = threading.Lock()
        self._received: list[SocketMessage] = []
        self._pushed: list[dict[str, Any]] = []
        self._clients: dict[int, web.WebSocketResponse] = {}
        self._conn_ids = itertools.count(1)
        self.connection_count = 0  # total connections ever accepted (reconnects included)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeSlackSocketMode:
        if self._loop is not None:
            return self
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="FakeSlackSocketMode", daemon=True)
        self._thread.start()
        ready.wait(5)
        self._call(self._start_server())
        if self.web_api is not None:
            self.web_api.socket_mode_url = self.new_url
        return self

    async def _start_server(self) -> None:
        app = web.Application()
        app.router.add_get("/link/", self._ws_handler)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return
        if self.web_api is not None and self.web_api.socket_mode_url == self.new_url:
            self.web_api.socket_mode_url = None
        try:
            self._call(self._shutdown())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=5)
            loop.close()
            self._loop = None
            self._thread = None

    async def _shutdown(self) -> None:
        for ws in list(self._clients.values()):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def __enter__(self) -> FakeSlackSocketMode:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _call(self, coro: Any, timeout: float = 5) -> Any:
        assert self._loop is not None, "FakeSlackSocketMode is not started"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # ------------------------------------------------------------------ URLs / connections

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeSlackSocketMode is not started")
        return f"ws://127.0.0.1:{self._port}/link/"

    def new_url(self) -> str:
        """What apps.connections.open hands out: a fresh ticket each time, like Slack."""
        return f"{self.url}?ticket={uuid.uuid4()}&app_id={self.app_id}"

    @property
    def connected(self) -> int:
        with self._lock:
            return len(self._clients)

    async def wait_connected(self, count: int = 1, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.connected < count:
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"no Socket Mode client connected within {timeout}s "
                    f"(connected={self.connected}, ever={self.connection_count})"
                )
            await asyncio.sleep(0.01)

    def wait_connected_sync(self, count: int = 1, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.connected < count:
            if time.monotonic() >= deadline:
                raise AssertionError(f"no Socket Mode client connected within {timeout}s")
            time.sleep(0.01)

    async def _ws_handler(self, request: web.Request) -> web.WebSocketResponse:
        # autoping answers slack_sdk's "sdk-ping-pong:<t>" pings; without pongs the client
        # decides the link is dead and reconnects.
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn_id = next(self._conn_ids)
        with self._lock:
            self._clients[conn_id] = ws
            self.connection_count += 1
        try:
            if self.send_hello:
                await ws.send_str(
                    json.dumps(
                        {
                            "type": "hello",
                            "num_connections": len(self._clients),
                            "debug_info": {
                                "host": "applink-fake-1",
                                "build_number": 1,
                                "approximate_connection_time": 18060,
                            },
                            "connection_info": {"app_id": self.app_id},
                        }
                    )
                )
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    try:
                        data = json.loads(msg.data)
                    except json.JSONDecodeError:
                        data = {"_raw": msg.data}
                    with self._lock:
                        self._received.append(SocketMessage(data, time.time(), conn_id))
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            with self._lock:
                self._clients.pop(conn_id, None)
        return ws

    # ------------------------------------------------------------------ pushing envelopes

    def push(
        self,
        envelope_type: str,
        payload: Mapping[str, Any],
        *,
        envelope_id: str | None = None,
        accepts_response_payload: bool | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        """Send one envelope to the most recent connection; returns its envelope_id."""
        if accepts_response_payload is None:
            # Slack lets the ack carry a response only where one makes sense.
            accepts_response_payload = envelope_type == "slash_commands" or (
                envelope_type == "interactive"
                and payload.get("type") in ("view_submission", "block_suggestion")
            )
        envelope_id = envelope_id or str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": dict(payload),
            "type": envelope_type,
            "accepts_response_payload": accepts_response_payload,
        }
        if envelope_type == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason
        self._send(envelope)
        with self._lock:
            self._pushed.append(envelope)
        return envelope_id

    def push_event(self, event_envelope: Mapping[str, Any], **kwargs: Any) -> str:
        """``event_envelope`` is an ``event_callback(...)`` dict."""
        return self.push("events_api", event_envelope, **kwargs)

    def push_slash_command(self, fields: Mapping[str, Any], **kwargs: Any) -> str:
        """``fields`` is a ``slash_command(...)`` dict."""
        return self.push("slash_commands", fields, **kwargs)

    def push_interactive(self, payload: Mapping[str, Any], **kwargs: Any) -> str:
        """``payload`` is e.g. ``block_actions(...)`` or ``message_shortcut(...)``."""
        return self.push("interactive", payload, **kwargs)

    def send_disconnect(self, reason: str = "refresh_requested") -> None:
        """What Slack sends before it cycles a connection; the client should reconnect."""
        self._send({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake-1"}})

    def drop_connections(self, code: int = 1011) -> None:
        """Close every client socket without a ``disconnect`` first, as a network fault would."""
        with self._lock:
            sockets = list(self._clients.values())
        for ws in sockets:
            self._call(ws.close(code=code, message=b"dropped by test"))

    def _send(self, message: Mapping[str, Any]) -> None:
        with self._lock:
            if not self._clients:
                raise AssertionError("no Socket Mode client is connected; await wait_connected() first")
            ws = self._clients[max(self._clients)]
        self._call(ws.send_str(json.dumps(message)))

    # ------------------------------------------------------------------ inspection

    @property
    def received(self) -> list[SocketMessage]:
        with self._lock:
            return list(self._received)

    @property
    def pushed(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._pushed)

    def acks(self, envelope_id: str | None = None) -> list[dict[str, Any]]:
        return [
            m.data
            for m in self.received
            if "envelope_id" in m.data and (envelope_id is None or m.data["envelope_id"] == envelope_id)
        ]

    async def wait_for_ack(self, envelope_id: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.acks(envelope_id)
            if found:
                return found[0]
            if time.monotonic() >= deadline:
                raise AssertionError(self._ack_timeout(envelope_id, timeout))
            await asyncio.sleep(0.01)

    def wait_for_ack_sync(self, envelope_id: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.acks(envelope_id)
            if found:
                return found[0]
            if time.monotonic() >= deadline:
                raise AssertionError(self._ack_timeout(envelope_id, timeout))
            time.sleep(0.01)

    def _ack_timeout(self, envelope_id: str, timeout: float) -> str:
        seen = [m.data.get("envelope_id", m.data) for m in self.received]
        return f"no ack for envelope {envelope_id!r} within {timeout}s; client sent: {seen or 'nothing'}"
