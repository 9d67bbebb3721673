"""``/add`` (a file attachment or a link), ``/forget`` and ``/collection``: documents from
Discord. Admins are members with Manage Server, plus the ids in CITEBOT_ADMIN_IDS; in a DM only
the latter. Every command defers at once (only the admin sees it), then edits in the outcome."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from ...documents import (
    Added,
    DocumentRefused,
    DocumentService,
    check_collection_name,
    parse_add,
    parse_collection_names,
)
from .. import render, sending
from ..installs import SERVER_ONLY, server_install_only

if TYPE_CHECKING:
    from ..bot import CiteBot

log = logging.getLogger("citebot.discord")

PLATFORM = "discord"
KEY_POINT_LIMIT = 600


def is_admin(interaction: discord.Interaction, admin_ids: list[str] | frozenset[str]) -> bool:
    """Manage Server in this server, or a configured CiteBot admin (the only admins in a DM)."""
    if str(interaction.user.id) in admin_ids:
        return True
    return interaction.guild is not None and interaction.permissions.manage_guild


def added_message(added: Added) -> render.Rendered:
    return render.template_notice(
        "doc_added",
        status=added.status,
        title=render.safe(render.one_line(added.title)),
        url=render.safe_url(added.url),
        doc_id=render.safe(added.doc_id),
        collection=render.safe(added.collection),
        passages=added.passages,
        sentences=added.sentences,
        key_point=render.clip(render.safe(render.one_line(added.key_point)), KEY_POINT_LIMIT),
        paragraph=added.key_point_paragraph,
    )


def refused_message(error: DocumentRefused) -> render.Rendered:
    return render.notice(render.safe(str(error)))


class Documents(commands.Cog):
    """Admins grow a channel's documents from the chat."""

    collection = app_commands.Group(
        name="collection",
        description="The document collections this channel answers from",
        allowed_installs=SERVER_ONLY,
    )

    def __init__(self, bot: CiteBot):
        self.bot = bot
        self._documents = (
            DocumentService(bot.service, bot.settings) if bot.service is not None else None
        )

    @property
    def documents(self) -> DocumentService:
        """The document service: the commands run only on a bot that answers."""
        if self._documents is None:
            raise RuntimeError("this bot registers commands only; it answers nothing")
        return self._documents

    # --- /add ------------------------------------------------------------------------------------

    @app_commands.command(
        name="add", description="Add a document (.md, .txt, .html, .pdf) to this channel (admins)"
    )
    @server_install_only
    @app_commands.describe(
        file="A file to add",
        url="Or a link to a web page, PDF or text file",
        collection="Which collection, when this channel sees several",
    )
    async def add(
        self,
        interaction: discord.Interaction,
        file: discord.Attachment | None = None,
        url: str | None = None,
        collection: str | None = None,
    ) -> None:
        await interaction.response.defer(thinking=True, ephemeral=True)
        if not await self.allowed(interaction, "/add"):
            return
        channel, direct = str(interaction.channel_id), interaction.guild is None
        try:
            chosen = check_collection_name(collection.strip().lower()) if collection else None
            if (file is None) == (url is None):
                raise DocumentRefused("Give either a file or a url (one of them).")
            if url is not None:
                link = parse_add(url).url
                if link is None:
                    raise DocumentRefused("Give an http:// or https:// link.")
                added = await self.documents.add_url(
                    PLATFORM, channel, link, collection=chosen, direct=direct
                )
            else:
                assert file is not None  # exactly one of the two, checked above
                added = await self.documents.add_file(
                    PLATFORM, channel, await self.download(file), file.filename,
                    collection=chosen, direct=direct,
                )
            rendered = added_message(added)
        except DocumentRefused as exc:
            rendered = refused_message(exc)
        except Exception:
            log.exception("adding a document failed in %s", interaction.channel_id)
            rendered = render.apology()
        await sending.edit_response(interaction, rendered)

    async def download(self, attachment: discord.Attachment) -> bytes:
        if self.documents.too_large(attachment.size):
            raise self.documents.refuse_size(attachment.filename, attachment.size)
        try:
            return await attachment.read()
        except (discord.HTTPException, discord.NotFound) as exc:
            raise DocumentRefused(
                f"Couldn't add '{attachment.filename}': unreadable (Discord would not send it)."
            ) from exc

    # --- /forget ---------------------------------------------------------------------------------

    @app_commands.command(name="forget", description="Remove a document from this channel (admins)")
    @app_commands.describe(doc="The document's id, as /sources shows it")
    @server_install_only
    async def forget(self, interaction: discord.Interaction, doc: str) -> None:
        await interaction.response.defer(thinking=True, ephemeral=True)
        if not await self.allowed(interaction, "/forget"):
            return
        try:
            removed = await self.documents.forget(
                PLATFORM, str(interaction.channel_id), doc, direct=interaction.guild is None
            )
            rendered = render.template_notice(
                "doc_forgotten",
                title=render.safe(render.one_line(removed.title)),
                doc_id=render.safe(removed.doc_id),
                collection=render.safe(removed.collection),
            )
        except DocumentRefused as exc:
            rendered = refused_message(exc)
        await sending.edit_response(interaction, rendered)

    # --- /collection show | use ------------------------------------------------------------------

    @collection.command(name="show", description="The collections this channel answers from")
    async def show(self, interaction: discord.Interaction) -> None:
        channel, is_dm = str(interaction.channel_id), interaction.guild is None
        bound = [] if is_dm else await self.documents.bound(PLATFORM, channel)
        visible = await self.documents.visible(PLATFORM, channel, direct=is_dm)
        await sending.send_response(
            interaction,
            render.template_notice("collection_status", is_dm=is_dm, bound=bound, visible=visible),
            ephemeral=True,
        )

    @collection.command(name="use", description="Answer in this channel from these collections (admins)")
    @app_commands.describe(names="One or more collection names, separated by commas")
    async def use(self, interaction: discord.Interaction, names: str) -> None:
        await interaction.response.defer(thinking=True, ephemeral=True)
        if interaction.guild is None:
            await sending.edit_response(interaction, render.template_notice("collection_dm"))
            return
        if not await self.allowed(interaction, "/collection use"):
            return
        user = str(interaction.user.id)

        async def may_take(name: str) -> bool:
            # Many servers share one CiteBot: a collection in use belongs to the servers whose
            # channels see it, so another server's admin cannot read it by binding it.
            if user in self.bot.settings.admin_ids:
                return True
            for channel_id in await self.documents.channels_bound_to(PLATFORM, name):
                channel = self.bot.get_channel(int(channel_id))
                guild = getattr(channel, "guild", None)
                if guild is not None and guild.id == interaction.guild_id:
                    return True
            return False

        try:
            chosen = await self.documents.use_collections(
                PLATFORM, str(interaction.channel_id), parse_collection_names(names),
                may_take=may_take,
            )
            rendered = render.template_notice("collection_set", names=chosen)
        except DocumentRefused as exc:
            rendered = refused_message(exc)
        await sending.edit_response(interaction, rendered)

    # --- shared steps ----------------------------------------------------------------------------

    async def allowed(self, interaction: discord.Interaction, command: str) -> bool:
        """Whether the person is an admin; if not, the deferred reply says so."""
        if is_admin(interaction, self.bot.settings.admin_ids):
            return True
        log.info("refused %s in %s: not an admin", command, interaction.channel_id)
        await sending.edit_response(interaction, render.template_notice("doc_not_admin"))
        return False


async def setup(bot: CiteBot) -> None:
    await bot.add_cog(Documents(bot))
