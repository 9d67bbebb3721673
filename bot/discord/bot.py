"""The Discord bot, and the Discord set-up commands: ``citebot discord invite``
(:func:`invite_url`) and ``citebot discord sync`` (:func:`sync`). ``citebot serve`` runs the bot
(:class:`bot.discord.platform.DiscordPlatform`)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import click
import discord
import yarl
from discord import app_commands
from discord.ext import commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from ..service import AnswerService
from ..settings import Settings, get_settings
from . import render, sending

log = logging.getLogger("citebot.discord")

EXTENSIONS = tuple(
    f"bot.discord.cogs.{name}" for name in ("ask", "feedback", "sources", "meta", "digest", "documents")
)

# Exactly what answering needs: see the channel, post in it and in its threads, show the quote as
# an embed with its link, and read history — Discord refuses a reply to a message without it.
# Interaction responses (slash commands, the menu, buttons) need no channel permission at all.
PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    embed_links=True,
    read_message_history=True,
)
SCOPES = ("bot", "applications.commands")
# A user install adds only the commands, to the person's account: no bot user, no permissions.
USER_SCOPES = ("applications.commands",)
# Discord's install types (integration_type in the OAuth2 URL).
SERVER_INSTALL, USER_INSTALL = 0, 1


class SetupError(click.ClickException):
    """A set-up problem the user can fix; the message names the setting to change."""


def intents(*, message_content: bool = False) -> discord.Intents:
    """Only what answering needs, and nothing privileged unless asked for.

    Mentions and DMs carry their text without the Message Content intent; it only adds replies
    to an answer that leave the @ ping switched off.
    """
    chosen = discord.Intents.none()
    chosen.guilds = True  # servers, channels and CiteBot's own permissions in them
    chosen.guild_messages = True  # @mentions and replies in channels
    chosen.dm_messages = True  # direct messages
    chosen.message_content = message_content
    return chosen


class CiteBotTree(app_commands.CommandTree):
    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        command = interaction.command.name if interaction.command else "?"
        log.error("command %s failed", command, exc_info=error)
        await sending.send_response(interaction, render.apology(), ephemeral=True)


class CiteBot(commands.AutoShardedBot):
    """CiteBot on Discord. AutoShardedBot: one process serves every shard Discord asks for, so a
    bot in thousands of servers runs unchanged.

    ``service`` is None only for :func:`sync`, which registers commands and answers nothing.
    """

    def __init__(
        self, service: AnswerService | None, *, settings: Settings | None = None, **options: Any
    ):
        self.settings = settings or get_settings()
        self.service = service
        message_content = self.settings.discord_message_content
        super().__init__(
            command_prefix=(),
            help_command=None,
            tree_cls=CiteBotTree,
            intents=intents(message_content=message_content),
            allowed_mentions=sending.NO_PINGS,
            **options,
        )

    @property
    def answers(self) -> AnswerService:
        """The service, for the cogs' commands: they run only on a bot that answers."""
        if self.service is None:
            raise RuntimeError("this bot registers commands only; it answers nothing")
        return self.service

    @property
    def me(self) -> discord.ClientUser:
        """The bot's own user: known once logged in, before any event reaches a cog."""
        if self.user is None:
            raise RuntimeError("not logged in yet")
        return self.user

    async def setup_hook(self) -> None:
        # Bot.close() unloads them again, so each cog's cog_unload undoes its cog_load.
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        if self.service is not None:
            await self.service.warm_up()  # load the model and index before taking questions

    async def on_message(self, message: discord.Message) -> None:
        # No prefix commands: Bot.on_message would parse every mention as one. The Ask cog
        # listens to messages itself.
        return


# --- where Discord is ----------------------------------------------------------------------------


@contextlib.contextmanager
def endpoints(settings: Settings) -> Iterator[None]:
    """Point discord.py at DISCORD_API_URL (the REST base with its version, like
    ``https://discord.com/api/v10``) and DISCORD_GATEWAY_URL while inside; Discord's own when
    unset. discord.py reads both from class attributes, so they are set and restored here."""
    saved = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    if settings.discord_api_url:
        Route.BASE = settings.discord_api_url.rstrip("/")
    if settings.discord_gateway_url:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)
    try:
        yield
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved


def bot_token(settings: Settings) -> str:
    """DISCORD_TOKEN, or a :class:`SetupError` saying where to find it."""
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        raise SetupError(
            "DISCORD_TOKEN is not set: copy the bot token from your application's Bot page at "
            "https://discord.com/developers/applications into DISCORD_TOKEN (or .env)."
        )
    return settings.discord_token.get_secret_value().strip()


# --- invite and sync -----------------------------------------------------------------------------


def application_id_from_token(token: str) -> int | None:
    # A bot token's first segment is the bot's user id in base64, which is also its application
    # id for current bots; discord.py has no helper that reads it without logging in.
    head = token.split(".", 1)[0]
    try:
        text = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def invite_url(settings: Settings | None = None, client_id: str | int | None = None) -> str:
    """The URL that adds CiteBot to a server with exactly :data:`PERMISSIONS` and :data:`SCOPES`."""
    client_id = _client_id(settings, client_id)
    url = discord.utils.oauth_url(client_id, permissions=PERMISSIONS, scopes=SCOPES)
    # discord.py's oauth_url has no integration_type; Discord reads it from the query string.
    return f"{url}&integration_type={SERVER_INSTALL}"


def user_install_url(settings: Settings | None = None, client_id: str | int | None = None) -> str:
    """The URL that installs CiteBot's /ask, /sources and /help to a person's own account. It
    works once User Install is ticked under Installation in the developer portal."""
    client_id = _client_id(settings, client_id)
    url = discord.utils.oauth_url(client_id, scopes=USER_SCOPES)
    return f"{url}&integration_type={USER_INSTALL}"


def _client_id(settings: Settings | None, client_id: str | int | None) -> int:
    settings = settings or get_settings()
    if client_id is None:
        client_id = application_id_from_token(bot_token(settings))
        if client_id is None:
            raise SetupError(
                "DISCORD_TOKEN does not look like a bot token, so the application id cannot be "
                "read from it: pass --client-id (General Information → Application ID)."
            )
    if not str(client_id).isdigit():
        raise SetupError(f"--client-id must be the numeric application id, not {client_id!r}.")
    return int(client_id)


def sync(settings: Settings | None = None, guild_id: int | None = None) -> list[str]:
    """Register the commands with Discord: in one server (``guild_id``, else DISCORD_GUILD_ID),
    where changes show at once, or globally. Returns lines describing what was registered."""
    settings = settings or get_settings()
    token = bot_token(settings)
    guild_id = guild_id or settings.discord_guild_id
    with endpoints(settings):
        return asyncio.run(_sync(settings, token, guild_id))


async def _sync(settings: Settings, token: str, guild_id: int | None) -> list[str]:
    bot = CiteBot(None, settings=settings)
    async with bot:
        try:
            await bot.login(token)
        except discord.LoginFailure as exc:
            raise SetupError(
                "Discord rejected DISCORD_TOKEN: reset the token on the Bot page and set it again."
            ) from exc
        guild = discord.Object(guild_id) if guild_id else None
        if guild is not None:
            bot.tree.copy_global_to(guild=guild)
        try:
            synced = await bot.tree.sync(guild=guild)
        except discord.Forbidden as exc:
            raise SetupError(
                f"Discord refused the commands for server {guild_id}: add CiteBot to it with the "
                "URL from `citebot discord invite` (it includes the applications.commands scope)."
            ) from exc
    where = f"server {guild_id}" if guild is not None else "every server (global)"
    return [f"Synced {len(synced)} commands to {where}:"] + [
        f"  {_describe(command)}" for command in synced
    ]


def _describe(command: app_commands.AppCommand) -> str:
    if command.type is discord.AppCommandType.message:
        return f"{command.name} (message menu: Apps → {command.name})"
    return f"/{command.name} — {command.description}"
