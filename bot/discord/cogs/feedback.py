"""👍/👎 under answers: stored per person per answer (a second click changes the vote), and
working on every answer ever sent, across restarts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord.ext import commands

from ..views import VoteButton

if TYPE_CHECKING:
    from ..bot import CiteBot


class Feedback(commands.Cog):
    """Registers the vote buttons; each button stores its vote itself (:mod:`..views`)."""

    def __init__(self, bot: CiteBot):
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(VoteButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(VoteButton)


async def setup(bot: CiteBot) -> None:
    await bot.add_cog(Feedback(bot))
