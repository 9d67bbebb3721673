"""The bot's one HTTP server (aiohttp) on CITEBOT_PORT: Slack's /slack/events in HTTP mode,
/healthz, which reports ready only once the index is loaded, and /metrics for Prometheus.
Platforms add their routes here."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

READY_KEY: web.AppKey[Callable[[], bool]] = web.AppKey("ready")


async def _healthz(request: web.Request) -> web.Response:
    ready = request.app[READY_KEY]()
    return web.json_response({"status": "ok" if ready else "starting"}, status=200 if ready else 503)


async def _metrics(request: web.Request) -> web.Response:
    from .metrics import exposition

    body, content_type = exposition()
    return web.Response(body=body, headers={"Content-Type": content_type})


def make_web_app(ready: Callable[[], bool]) -> web.Application:
    app = web.Application()
    app[READY_KEY] = ready
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    return app


async def start_web_app(app: web.Application, *, host: str = "0.0.0.0", port: int = 8080) -> web.AppRunner:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
