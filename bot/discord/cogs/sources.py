"""``/sources``: the documents CiteBot answers from in this channel (its collections only)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from .. import render, sending
from ..installs import everywhere_context, everywhere_install, sees_dm_collections

if TYPE_CHECKING:
    from ..bot import CiteBot

PLATFORM = "discord"


class Sources(commands.Cog):
    """Lists the indexed documents."""

    def __init__(self, bot: CiteBot):
        self.bot = bot

    @app_commands.command(name="sources", description="The documents CiteBot answers from")
    @everywhere_install
    @everywhere_context
    async def sources(self, interaction: discord.Interaction) -> None:
        listing = await self.listing(
            str(interaction.channel_id), direct=sees_dm_collections(interaction)
        )
        await sending.send_response(interaction, listing, ephemeral=True)

    async def listing(self, channel: str, *, direct: bool = False) -> render.Rendered:
        service = self.bot.answers
        visible = await service.collections_for(PLATFORM, channel, direct=direct)
        documents = await asyncio.to_thread(service.index.documents, visible)
        return render.sources_message(documents)


async def setup(bot: CiteBot) -> None:
    await bot.add_cog(Sources(bot))
