"""``/help``: what CiteBot does and the ways to ask it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from .. import render, sending
from ..installs import everywhere_context, everywhere_install
from .ask import MENU_NAME

if TYPE_CHECKING:
    from ..bot import CiteBot


class Meta(commands.Cog):
    """About CiteBot itself."""

    def __init__(self, bot: CiteBot):
        self.bot = bot

    @app_commands.command(name="help", description="What CiteBot does and how to ask it")
    @everywhere_install
    @everywhere_context
    async def help(self, interaction: discord.Interaction) -> None:
        await sending.send_response(
            interaction, render.help_message(self.bot.me.display_name, MENU_NAME), ephemeral=True
        )


async def setup(bot: CiteBot) -> None:
    await bot.add_cog(Meta(bot))
