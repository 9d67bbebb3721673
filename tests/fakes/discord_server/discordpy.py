"""Pointing discord.py at the fake, and running a client against it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import (
    Any,
)

import yarl

from .common import (
    DEFAULT_TOKEN,
)
from .server import FakeDiscord


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
