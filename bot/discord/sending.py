"""Getting a rendered message to Discord, and never losing it quietly.

discord.py already waits out 429s (per-route and global) and retries 5xx and dropped connections.
What it cannot fix — a payload Discord rejects, a permission missing, a channel that refuses
embeds — gets one more try as plain text; what still fails is logged with where it was going.
Every send carries ``allowed_mentions=none``, on top of the bot-wide default.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import discord

from .render import Rendered

log = logging.getLogger("citebot.discord")

NO_PINGS = discord.AllowedMentions.none()
_SEND_ERRORS = (discord.HTTPException, aiohttp.ClientError, OSError, asyncio.TimeoutError)

Send = Callable[..., Awaitable[Any]]


async def reply(message: discord.Message, rendered: Rendered) -> discord.Message | None:
    """Answer ``message`` as a reply to it (a plain message if it has been deleted meanwhile)."""
    channel = message.channel
    reference = message.to_reference(fail_if_not_exists=False)

    async def send(**kwargs: Any) -> discord.Message:
        return await channel.send(
            reference=reference, mention_author=False, allowed_mentions=NO_PINGS, **kwargs
        )

    where = f"reply to message {message.id} in channel {channel.id}"
    return await deliver(send, rendered, where, embeds=_may_embed(channel))


async def edit_response(interaction: discord.Interaction, rendered: Rendered) -> Any:
    """Replace a deferred interaction's "thinking…" message with ``rendered``."""

    async def edit(**kwargs: Any) -> Any:
        return await interaction.edit_original_response(allowed_mentions=NO_PINGS, **kwargs)

    return await deliver(edit, rendered, f"response to interaction {interaction.id}")


async def send_response(
    interaction: discord.Interaction, rendered: Rendered, *, ephemeral: bool = False
) -> Any:
    """Answer an interaction at once (no defer): help, sources, votes, errors."""
    if interaction.response.is_done():
        # Already acknowledged (e.g. an error after a defer): only a follow-up can still reach them.
        async def send(**kwargs: Any) -> Any:
            return await interaction.followup.send(
                ephemeral=ephemeral, allowed_mentions=NO_PINGS, **kwargs
            )
    else:

        async def send(**kwargs: Any) -> Any:
            return await interaction.response.send_message(
                ephemeral=ephemeral, allowed_mentions=NO_PINGS, **kwargs
            )

    return await deliver(send, rendered, f"response to interaction {interaction.id}")


async def deliver(send: Send, rendered: Rendered, where: str, *, embeds: bool = True) -> Any:
    """``send`` the embed form, then the plain form if that failed; log what could not go out."""
    forms = (
        [rendered.message(embeds=True), rendered.message(embeds=False)]
        if embeds and rendered.embeds
        else [rendered.message(embeds=False)]
    )
    for attempt, kwargs in enumerate(forms, start=1):
        try:
            return await send(**kwargs)
        except _SEND_ERRORS as exc:
            if attempt < len(forms):
                log.warning("%s failed (%s); retrying as plain text", where, _describe(exc))
            else:
                log.error("%s could not be delivered: %s", where, _describe(exc))
    return None


def _may_embed(channel: Any) -> bool:
    if (
        not isinstance(channel, (discord.abc.GuildChannel, discord.Thread))
        or channel.guild.me is None
    ):
        return True  # DMs allow embeds; an uncached channel: try, and fall back on failure
    return channel.permissions_for(channel.guild.me).embed_links


def _describe(exc: BaseException) -> str:
    if isinstance(exc, discord.HTTPException):
        return f"HTTP {exc.status}, code {exc.code}: {exc.text or exc}"
    return f"{type(exc).__name__}: {exc}"
