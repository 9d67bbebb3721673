"""The Slack app: one bolt ``AsyncApp`` with every CiteBot listener. ``citebot serve`` runs it over
Socket Mode or HTTP (:class:`bot.slack.platform.SlackPlatform`).

An event flows: Slack → (Socket Mode WebSocket | signed ``POST /slack/events``) → bolt verifies
the signature, authorises, drops the bot's own messages → :class:`Listeners` drops retried
event ids, builds a :class:`~bot.service.Question` → :class:`~bot.service.AnswerService` → Block
Kit from :mod:`.render` → ``chat.postMessage`` / the ``response_url``.
"""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from ..documents import DocumentService
from ..service import AnswerService
from ..settings import Settings
from .assistant import AssistantPane
from .clients import SlackSettingsError, web_client
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
    # A middleware, so it runs before every listener: messages in the assistant pane's threads
    # (DM threads) are answered there and never reach the message listener.
    app.assistant(AssistantPane(listeners).middleware())
    DocumentListeners(DocumentService(service, settings), listeners).register(app)
    return app
