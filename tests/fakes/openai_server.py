"""A local, real-HTTP fake of an OpenAI-compatible chat-completions server.

The real ``openai`` client is pointed at ``FakeLLM.base_url``; each request it sends is recorded
(``fake.requests``) and answered by the next scripted step, so tests assert on what went over the
wire: the prompt, JSON mode, the retries. The server runs on 127.0.0.1 in a thread of its own
(aiohttp), so sync and async tests drive it alike. Shapes follow OpenAI's chat-completions
reference: ``POST /v1/chat/completions`` answered with a ``chat.completion`` object, errors as
``{"error": {"message", "type", "code"}}``.

    with FakeLLM() as llm:
        llm.script(answer("Rmb26bn", [1]), Step(status=429, headers={"retry-after-ms": "10"}))
        ...
        [request] = llm.requests
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Step:
    """One scripted reply: ``content`` as the assistant message, or an HTTP error ``status``;
    sent after ``delay`` seconds."""

    content: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def answer(text: str | None, passages: list[int] | None = None, **more: Any) -> Step:
    """A reply in the JSON CiteBot asks for."""
    body: dict[str, Any] = {"answer": text}
    if passages is not None:
        body["passages"] = passages
    return Step(content=json.dumps(body | more))


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    json: dict[str, Any]
    at: float  # time.monotonic() when it arrived

    @property
    def system(self) -> str:
        return next(m["content"] for m in self.json["messages"] if m["role"] == "system")

    @property
    def user(self) -> str:
        return next(m["content"] for m in self.json["messages"] if m["role"] == "user")


Responder = Step | Callable[[Recorded], Step]


class FakeLLM:
    def __init__(self, *, api_key: str | None = None, json_mode: bool = True):
        self.api_key = api_key
        self.json_mode = json_mode  # False: refuse response_format with a 400, as LM Studio does
        self.requests: list[Recorded] = []
        self._steps: deque[Responder] = deque()
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *steps: Responder) -> None:
        """Queue replies, one per request, in order; a request with none left gets a 500."""
        self._steps.extend(steps)

    # --- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> FakeLLM:
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="fake-llm", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        # A slow scripted reply must not hold up shutdown.
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        await self._runner.cleanup()
        # A reply still sleeping through its delay (the client gave up on it) ends here.
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # --- the endpoint -----------------------------------------------------------------------

    async def _completions(self, request: web.Request) -> web.Response:
        recorded = Recorded(request.path, {k.lower(): v for k, v in request.headers.items()},
                            await request.json(), time.monotonic())
        self.requests.append(recorded)
        if self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_request_error",
                          "invalid_api_key")
        if not self.json_mode and "response_format" in recorded.json:
            return _error(400, "'response_format.type' must be 'json_schema' or 'text'",
                          "invalid_request_error", None)
        responder = self._steps.popleft() if self._steps else Step(status=500)
        step = responder(recorded) if callable(responder) else responder
        if step.delay:
            await asyncio.sleep(step.delay)
        if step.status != 200:
            kinds = {429: "rate_limit_exceeded", 500: "server_error"}
            return _error(step.status, f"scripted {step.status}", kinds.get(step.status, "error"),
                          None, step.headers)
        return web.json_response({
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": recorded.json.get("model"),
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": step.content},
                "finish_reason": "stop",
            }],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }, headers=step.headers)


def _error(status: int, message: str, kind: str, code: str | None,
           headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": kind, "param": None, "code": code}},
        status=status, headers=headers or {},
    )
