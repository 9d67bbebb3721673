"""``/digest``: a placeholder so the command exists from the first sync; the digest issue
replaces this cog with the real subscription and schedule."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from .. import render, sending

if TYPE_CHECKING:
    from ..bot import CiteBot


class Digest(commands.Cog):
    """Periodic digests (not set up yet)."""

    def __init__(self, bot: CiteBot):
        self.bot = bot

    @app_commands.command(
        name="digest", description="The periodic digest of questions and answers (coming soon)"
    )
    async def digest(self, interaction: discord.Interaction) -> None:
        await sending.send_response(interaction, render.template_notice("digest"), ephemeral=True)


async def setup(bot: CiteBot) -> None:
    await bot.add_cog(Digest(bot))
