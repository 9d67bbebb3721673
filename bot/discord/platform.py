"""Discord as a part of ``citebot serve``: the bot logged in, its gateway connection watched, and
closed only after the questions in flight have been answered."""

from __future__ import annotations

import asyncio
import contextlib

import discord
from aiohttp import web

from ..components import PlatformComponent, StartupError
from ..service import AnswerService
from ..settings import Settings
from .bot import CiteBot, SetupError, bot_token, endpoints
from .digest import DiscordPoster


class DiscordPlatform(PlatformComponent):
    name = "discord"

    @staticmethod
    def check(settings: Settings) -> str:
        """DISCORD_TOKEN, or :class:`StartupError` saying where to find it."""
        try:
            return bot_token(settings)
        except SetupError as exc:
            raise StartupError(exc.message) from None

    def __init__(self, settings: Settings, service: AnswerService, web_app: web.Application):
        # Discord adds no route: everything arrives over the gateway.
        self.token = self.check(settings)
        self.settings = settings
        self.bot = CiteBot(service, settings=settings)
        self._endpoints = contextlib.ExitStack()

    async def start(self) -> None:
        self._endpoints.enter_context(endpoints(self.settings))
        try:
            await self.bot.login(self.token)
        except discord.LoginFailure:
            raise StartupError(
                "Discord rejected DISCORD_TOKEN: reset the token on the Bot page and set it again."
            ) from None
        self.watched = asyncio.create_task(self._connect(), name="citebot: discord gateway")

    async def _connect(self) -> None:
        try:
            await self.bot.connect(reconnect=True)
        except discord.PrivilegedIntentsRequired:
            raise StartupError(
                "DISCORD_MESSAGE_CONTENT is on but the Message Content intent is off for this "
                "bot: switch it on under Bot → Privileged Gateway Intents, or unset "
                "DISCORD_MESSAGE_CONTENT."
            ) from None

    async def stop(self) -> None:
        # After the drain: closing also closes discord.py's HTTP session, which replies need.
        await self.bot.close()
        if self.watched is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self.watched
        self._endpoints.close()

    def ready(self) -> bool:
        return self.bot.is_ready()

    def digest_poster(self) -> DiscordPoster:
        return DiscordPoster(self.bot)
