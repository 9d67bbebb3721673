"""``/digest``: the daily digest of a channel — its schedule, a preview, a post on demand. The
scheduled posts are ``citebot serve``'s: it hands this bot's poster to its one scheduler.

``/digest status`` is for everyone; ``on``, ``off``, ``now`` and ``preview`` need the Manage
Server permission or a user id in CITEBOT_ADMIN_IDS.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from ...digest.render import status_variables
from ...digest.schedule import Schedule, ScheduleError, zone_names
from ...digest.scheduler import DigestRunner, utc_now
from ...templates import render as render_template
from .. import render, sending
from ..digest import DiscordPoster, digest_message, discord_time
from ..installs import server_install_only
from .documents import is_admin

if TYPE_CHECKING:
    from ...state import StateStore
    from ..bot import CiteBot

log = logging.getLogger("citebot.discord")

PLATFORM = "discord"
MAX_CHOICES = 25  # Discord shows at most 25 autocomplete choices


@server_install_only
class Digest(
    commands.GroupCog,
    group_name="digest",
    group_description="The daily digest of new documents and questions in this channel",
):
    """A daily post per channel: new documents with their key points, the questions asked."""

    def __init__(self, bot: CiteBot):
        self.bot = bot
        self.clock = utc_now
        super().__init__()

    # --- commands --------------------------------------------------------------------------------

    @app_commands.command(
        name="status", description="Whether this channel gets the daily digest, and when"
    )
    async def status(self, interaction: discord.Interaction) -> None:
        settings = await asyncio.to_thread(
            self.state.digest_settings, PLATFORM, str(interaction.channel_id)
        )
        # Discord shows a timestamp in each reader's own zone, so the digest's zone is not needed.
        variables = status_variables(
            settings, self.clock(), lambda moment, _zone: discord_time(moment)
        )
        await sending.send_response(
            interaction, render.template_notice("digest_status", **variables), ephemeral=True
        )

    @app_commands.command(
        name="on", description="Post the digest here every day at a time (admins)"
    )
    @app_commands.describe(
        time="Time of day, 24-hour HH:MM (default 09:00)",
        timezone="Time zone, like Europe/London or America/New_York (default UTC)",
        always="Post even on days with nothing new (default: skip those days)",
    )
    async def switch_on(
        self,
        interaction: discord.Interaction,
        time: str = "09:00",
        timezone: str = "UTC",
        always: bool = False,
    ) -> None:
        if not await self.allowed(interaction):
            return
        try:
            schedule = Schedule.parse(time, timezone)
        except ScheduleError as exc:
            await sending.send_response(
                interaction,
                render.template_notice("digest_bad_schedule", error=str(exc)),
                ephemeral=True,
            )
            return
        now = self.clock()
        await asyncio.to_thread(
            self.state.set_digest,
            PLATFORM,
            str(interaction.channel_id),
            enabled=True,
            at_time=schedule.time_text,
            timezone_name=schedule.zone.key,
            post_empty=always,
            at=now,
        )
        log.info("digest on in %s at %s", interaction.channel_id, schedule.describe())
        await sending.send_response(
            interaction,
            render.template_notice(
                "digest_set",
                enabled=True,
                schedule=schedule.describe(),
                post_empty=always,
                next_run=discord_time(schedule.next_run(now)),
            ),
            ephemeral=True,
        )

    @switch_on.autocomplete("timezone")
    async def zones(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        typed = current.casefold().replace(" ", "_")
        names = [name for name in zone_names() if typed in name.casefold()]
        return [app_commands.Choice(name=name, value=name) for name in names[:MAX_CHOICES]]

    @app_commands.command(name="off", description="Stop the daily digest in this channel (admins)")
    async def switch_off(self, interaction: discord.Interaction) -> None:
        if not await self.allowed(interaction):
            return
        await asyncio.to_thread(
            self.state.set_digest, PLATFORM, str(interaction.channel_id), enabled=False
        )
        log.info("digest off in %s", interaction.channel_id)
        await sending.send_response(
            interaction, render.template_notice("digest_set", enabled=False), ephemeral=True
        )

    @app_commands.command(
        name="preview", description="See the digest as it would be posted now, privately (admins)"
    )
    async def preview(self, interaction: discord.Interaction) -> None:
        if not await self.allowed(interaction):
            return
        await interaction.response.defer(thinking=True, ephemeral=True)
        try:
            digest = await self.runner().preview(
                PLATFORM, str(interaction.channel_id), self.clock()
            )
            rendered = digest_message(digest)
            rendered.content = render_template(PLATFORM, "digest_preview_note")
        except Exception:
            log.exception("digest preview failed in %s", interaction.channel_id)
            rendered = render.apology()
        await sending.edit_response(interaction, rendered)

    @app_commands.command(name="now", description="Post the digest to this channel now (admins)")
    async def post_now(self, interaction: discord.Interaction) -> None:
        if not await self.allowed(interaction):
            return
        await interaction.response.defer(thinking=True, ephemeral=True)
        try:
            result = await self.runner().send_now(
                PLATFORM, str(interaction.channel_id), self.clock()
            )
            rendered = render.template_notice("digest_sent", status=result.status)
        except Exception:
            log.exception("digest now failed in %s", interaction.channel_id)
            rendered = render.apology()
        await sending.edit_response(interaction, rendered)

    # --- shared steps ----------------------------------------------------------------------------

    @property
    def state(self) -> StateStore:
        """The state store, where each channel's digest settings live."""
        state = self.bot.answers.state
        if state is None:
            raise RuntimeError("the digest needs the state store")
        return state

    def runner(self) -> DigestRunner:
        return DigestRunner(
            self.bot.answers.index, self.state, [DiscordPoster(self.bot)]
        )

    async def allowed(self, interaction: discord.Interaction) -> bool:
        """Whether the person may change or post the digest here; if not, they are told why."""
        if interaction.guild is None:
            notice = "digest_dm"
        elif is_admin(interaction, self.bot.settings.admin_ids):
            return True
        else:
            log.info("refused /digest in %s: not an admin", interaction.channel_id)
            notice = "digest_not_admin"
        await sending.send_response(interaction, render.template_notice(notice), ephemeral=True)
        return False


async def setup(bot: CiteBot) -> None:
    await bot.add_cog(Digest(bot))
