"""The digest on Discord: an embed within Discord's limits (with a plain-text twin for channels
that refuse embeds), and posting it to a channel through the bot's REST client.

Every document and question text goes through :func:`bot.discord.render.safe` and every message
carries ``allowed_mentions=none``, so an echoed "@everyone" pings no one.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import discord

from ..digest.content import Digest
from ..digest.render import digest_variables, shown
from ..render import most_that_fit
from ..templates import render
from . import sending
from .bot import endpoints
from .render import (
    ANSWERED_COLOUR,
    CONTENT_LIMIT,
    DESCRIPTION_LIMIT,
    EMBEDS_TOTAL_LIMIT,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    TITLE_LIMIT,
    Rendered,
    clip,
    safe,
    safe_url,
)

PLATFORM = "discord"
FOOTER_LIMIT = 2048


class DigestPostError(Exception):
    """Discord did not take the digest, in either form (the reason is logged by ``deliver``)."""


def phrase(name: str, **variables: Any) -> str:
    return render(PLATFORM, name, **variables)


def digest_message(digest: Digest) -> Rendered:
    """One embed: the summary and new documents in the description, the questions as fields,
    the votes in the footer; the documents that do not fit are counted, never cut mid-sentence."""
    v = digest_variables(digest, escape=safe, url=safe_url)
    embed = discord.Embed(
        title=clip(phrase("digest_title", **v), TITLE_LIMIT), colour=ANSWERED_COLOUR
    )
    for key, template in (("top", "digest_questions"), ("unanswered", "digest_unanswered")):
        if v[key] and not digest.quiet:
            def listed(n: int, k: str = key, t: str = template) -> str:
                return phrase(t, **shown(v, k, n))

            _, value = most_that_fit(
                listed,
                len(v[key]),
                FIELD_VALUE_LIMIT,
            )
            name = clip(phrase("digest_field_name", field=key, **v), FIELD_NAME_LIMIT)
            embed.add_field(name=name, value=clip(value, FIELD_VALUE_LIMIT), inline=False)
    embed.set_footer(text=clip(phrase("digest_footer", **v), FOOTER_LIMIT))

    def description(n: int) -> str:
        return phrase("digest", **shown(v, "documents", n))

    # The description gets what the fields and footer leave of the 6,000 across the message.
    room = min(DESCRIPTION_LIMIT, EMBEDS_TOTAL_LIMIT - len(embed))
    _, text = most_that_fit(description, len(v["documents"]), room)
    embed.description = clip(text, room)

    plain_text = _plain(v)
    return Rendered(plain=plain_text, embeds=[embed])


def _plain(v: dict[str, Any]) -> str:
    """The same digest as text, for channels that refuse embeds: documents first, then as many
    of the most asked questions as still fit in 2,000 characters."""

    def text(documents: int, questions: int) -> str:
        return phrase("digest_plain", **shown(shown(v, "documents", documents), "top", questions))

    documents, _ = most_that_fit(lambda n: text(n, 0), len(v["documents"]), CONTENT_LIMIT)
    _, result = most_that_fit(lambda n: text(documents, n), len(v["top"]), CONTENT_LIMIT)
    return clip(result, CONTENT_LIMIT)


class DiscordPoster:
    platform = PLATFORM

    def __init__(self, client: discord.Client):
        self.client = client

    async def post(self, channel: str, digest: Digest) -> str:
        # A partial channel needs no gateway cache: the post is one REST call, as from the CLI.
        target = self.client.get_partial_messageable(int(channel))

        async def send(**kwargs: Any) -> discord.Message:
            return await target.send(allowed_mentions=sending.NO_PINGS, **kwargs)

        message = await sending.deliver(
            send, digest_message(digest), f"digest to channel {channel}"
        )
        if message is None:
            raise DigestPostError(f"Discord refused the digest for channel {channel}")
        return str(message.id)


def discord_time(moment: datetime) -> str:
    """A time Discord shows in each reader's own time zone."""
    return f"<t:{int(moment.timestamp())}:f>"


@contextlib.asynccontextmanager
async def rest_client(settings: Any) -> AsyncIterator[discord.Client]:
    """A logged-in client that only talks REST (no gateway), for ``citebot digest send``."""
    token = settings.discord_token.get_secret_value().strip() if settings.discord_token else ""
    if not token:
        raise DigestPostError("DISCORD_TOKEN is not set: the bot token posts the digest.")
    client = discord.Client(intents=discord.Intents.none(), allowed_mentions=sending.NO_PINGS)
    with endpoints(settings):
        async with client:
            await client.login(token)
            yield client
