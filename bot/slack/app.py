"""The Slack app: one bolt ``AsyncApp`` served over Socket Mode or HTTP (``citebot serve slack``).

An event flows: Slack → (Socket Mode WebSocket | signed ``POST /slack/events``) → bolt verifies
the signature, authorises, drops the bot's own messages → :class:`Listeners` drops retried
event ids, builds a :class:`~bot.service.Question` → :class:`~bot.service.AnswerService` → Block
Kit from :mod:`.render` → ``chat.postMessage`` / the ``response_url``.
"""

from __future__ import annotations

import asyncio
import logging

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from ..digest.scheduler import DigestScheduler
from ..service import AnswerService
from ..settings import Settings
from ..web import make_web_app, start_web_app
from .clients import SlackSettingsError, web_client
from .http import add_slack_routes
from ..documents import DocumentService
from .documents import DocumentListeners
from .listeners import Listeners

log = logging.getLogger("citebot.slack")


def check_settings(settings: Settings) -> None:
    """Raise :class:`SlackSettingsError` naming the first missing variable for the chosen mode."""
    if settings.slack_bot_token is None:
        raise SlackSettingsError(
            "SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-…) from your Slack "
            "app's OAuth & Permissions page."
        )
    mode = settings.effective_slack_mode
    if mode == "socket" and settings.slack_app_token is None:
        raise SlackSettingsError(
            "SLACK_MODE=socket needs SLACK_APP_TOKEN: create an app-level token (xapp-…) with the "
            "connections:write scope under Basic Information → App-Level Tokens."
        )
    if mode == "http" and settings.slack_signing_secret is None:
        raise SlackSettingsError(
            "HTTP mode needs SLACK_SIGNING_SECRET (Basic Information → App Credentials), or set "
            "SLACK_APP_TOKEN to use Socket Mode instead."
        )


def build_app(
    settings: Settings, service: AnswerService, *, client: AsyncWebClient | None = None
) -> AsyncApp:
    """The bolt app with every CiteBot listener; ``client`` lets tests point it at a fake Slack."""
    secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    )
    app = AsyncApp(
        name="CiteBot",
        client=client or web_client(settings),
        # Never switched off: with no secret every HTTP request fails verification, which is the
        # safe failure. Socket Mode requests are not signed and bolt does not check them.
        signing_secret=secret,
        logger=logging.getLogger("citebot.slack.bolt"),
    )
    listeners = Listeners(service, settings)
    listeners.register(app)
    DocumentListeners(DocumentService(service, settings), listeners).register(app)
    return app


async def serve(
    settings: Settings, *, service: AnswerService | None = None, stop: asyncio.Event | None = None
) -> None:
    """Run until ``stop`` is set (forever by default): /healthz at once, Slack once warmed up."""
    from ..runtime import open_service

    check_settings(settings)
    owned = service is None
    service = service or open_service(settings)
    app = build_app(settings, service)
    mode = settings.effective_slack_mode
    web_app = make_web_app(lambda: service.index.ready)
    if mode == "http":
        add_slack_routes(web_app, app)
    runner = await start_web_app(web_app, port=settings.port)
    socket_handler: AsyncSocketModeHandler | None = None
    digest = (
        DigestScheduler(service=service, platforms={"slack": app})
        if service.state is not None
        else None
    )
    try:
        # Warm before connecting so the first question does not pay for loading the model.
        await service.warm_up()
        if digest is not None:
            await digest.start()
        if mode == "socket":
            assert settings.slack_app_token is not None
            socket_handler = AsyncSocketModeHandler(
                app, app_token=settings.slack_app_token.get_secret_value()
            )
            await socket_handler.connect_async()
            log.info(
                "CiteBot is answering in Slack over Socket Mode (health on port %s)", settings.port
            )
        else:
            log.info(
                "CiteBot is answering in Slack on http://0.0.0.0:%s/slack/events", settings.port
            )
        await (stop or asyncio.Event()).wait()
    finally:
        if digest is not None:
            await digest.stop()
        if socket_handler is not None:
            await socket_handler.close_async()
        await runner.cleanup()
        if owned and service.state is not None:
            service.state.close()


def run(settings: Settings) -> None:
    """``citebot serve slack``: blocks until interrupted."""
    try:
        check_settings(settings)
    except SlackSettingsError as exc:
        raise SystemExit(f"citebot: {exc}") from None
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from index.errors import CiteBotError

    try:
        asyncio.run(serve(settings))
    except KeyboardInterrupt:
        pass
    except CiteBotError as exc:  # e.g. an unreadable index: one line naming the fix
        raise SystemExit(f"citebot: {exc}") from None
