"""👍/👎 under answers: stored per person per answer (a second click changes the vote), and
working on every answer ever sent, across restarts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from .. import render, sending
from ..views import VoteButton

if TYPE_CHECKING:
    from ..bot import CiteBot


class Feedback(commands.Cog):
    """Records whether an answer helped."""

    def __init__(self, bot: CiteBot):
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(VoteButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(VoteButton)

    async def record(self, interaction: discord.Interaction, question_id: int, vote: int) -> None:
        stored = await self.bot.service.vote(question_id, str(interaction.user.id), vote)
        rendered = (
            render.template_notice("voted", vote=vote)
            if stored
            else render.template_notice("vote_unknown")
        )
        await sending.send_response(interaction, rendered, ephemeral=True)


async def setup(bot: CiteBot) -> None:
    await bot.add_cog(Feedback(bot))
