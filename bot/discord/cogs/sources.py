"""``/sources``: the documents CiteBot answers from."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from .. import render, sending

if TYPE_CHECKING:
    from ..bot import CiteBot


class Sources(commands.Cog):
    """Lists the indexed documents."""

    def __init__(self, bot: CiteBot):
        self.bot = bot

    @app_commands.command(name="sources", description="The documents CiteBot answers from")
    async def sources(self, interaction: discord.Interaction) -> None:
        await sending.send_response(interaction, await self.listing(), ephemeral=True)

    async def listing(self) -> render.Rendered:
        documents = await asyncio.to_thread(self.bot.service.index.documents)
        return render.sources_message(documents)


async def setup(bot: CiteBot) -> None:
    await bot.add_cog(Sources(bot))
