"""Slack as a part of ``citebot serve``: the bolt app over Socket Mode, or on ``/slack/events`` of
the shared HTTP server in HTTP mode."""

from __future__ import annotations

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from ..components import PlatformComponent, StartupError
from ..service import AnswerService
from ..settings import Settings
from .app import build_app, check_settings
from .clients import SlackSettingsError
from .digest import SlackPoster
from .http import add_slack_routes


class SlackPlatform(PlatformComponent):
    name = "slack"

    @staticmethod
    def check(settings: Settings) -> None:
        """Raise :class:`StartupError` naming the first Slack variable still missing."""
        try:
            check_settings(settings)
        except SlackSettingsError as exc:
            raise StartupError(str(exc)) from None

    def __init__(self, settings: Settings, service: AnswerService, web_app: web.Application):
        self.check(settings)
        self.settings = settings
        self.mode = settings.effective_slack_mode
        self.app = build_app(settings, service)
        self._socket: AsyncSocketModeHandler | None = None
        if self.mode == "http":
            add_slack_routes(web_app, self.app)  # before the server starts: routes freeze then

    async def start(self) -> None:
        if self.mode != "socket":
            return
        assert self.settings.slack_app_token is not None
        self._socket = AsyncSocketModeHandler(
            self.app, app_token=self.settings.slack_app_token.get_secret_value()
        )
        await self._socket.connect_async()

    async def stop_taking_questions(self) -> None:
        # Slack hands new events to another open connection (another replica). Answers in
        # flight are sent through the Web API and response URLs, not this socket.
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None

    async def stop(self) -> None:
        await self.stop_taking_questions()

    def describe(self) -> str:
        return "slack (Socket Mode)" if self.mode == "socket" else "slack (HTTP, /slack/events)"

    def digest_poster(self) -> SlackPoster:
        return SlackPoster(self.app.client)
