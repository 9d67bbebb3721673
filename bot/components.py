"""What ``citebot serve`` runs beside its HTTP server, and how each part starts and stops.

:mod:`bot.serve` starts components in order and stops them in reverse: first
:meth:`Component.stop_taking_questions` on all of them, then the drain of questions in flight,
then :meth:`Component.stop`. Each chat platform is a :class:`PlatformComponent` defined in its own
package (:mod:`bot.slack.platform`, :mod:`bot.discord.platform`), so only that package imports
its chat library.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

    from .digest.scheduler import Poster
    from .service import AnswerService
    from .settings import Settings


class StartupError(Exception):
    """Serving cannot start; the message is one line naming the setting to fix."""


class Component:
    """Something that runs beside the HTTP server for as long as CiteBot serves."""

    name = "component"
    # A task whose end (normally or not) means the component died; serve then shuts down.
    watched: asyncio.Task | None = None

    async def start(self) -> None:
        pass

    async def stop_taking_questions(self) -> None:
        """Called first on shutdown, before the questions in flight are waited for."""

    async def stop(self) -> None:
        pass

    def ready(self) -> bool:
        return True

    def describe(self) -> str:
        return self.name


class PlatformComponent(Component):
    """A chat platform. It also builds the poster through which the digest scheduler posts
    there, so the scheduler is handed posters and knows no platform."""

    @staticmethod
    def check(settings: Settings) -> object:
        """Raise :class:`StartupError` naming the variable this platform still needs."""
        raise NotImplementedError

    def __init__(self, settings: Settings, service: AnswerService, web_app: web.Application):
        """Build the platform; routes it serves go on ``web_app`` now (they freeze at start)."""
        raise NotImplementedError

    def digest_poster(self) -> Poster:
        raise NotImplementedError
