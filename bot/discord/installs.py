"""Where a command may be installed and used, and what an interaction may see.

Discord lets a person install CiteBot to their own account (a user install) and use ``/ask``,
``/sources`` and ``/help`` anywhere: in servers, CiteBot's DM and private channels (group DMs) —
including servers CiteBot is not a member of. There it answers as the interaction's own reply
(nothing else could reach that channel) and from the DM collections only: a channel binding
belongs to a server that installed CiteBot, so none may apply where that server did not.
"""

from __future__ import annotations

import discord
from discord import app_commands

# For the everyday commands: installable to a server or a user, usable in servers, CiteBot's DM
# and private channels.
everywhere_install = app_commands.allowed_installs(guilds=True, users=True)
everywhere_context = app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
# Admin commands (documents, collections, the digest) change a server's set-up: a server install
# only. Said explicitly, because a command without integration_types gets whatever install
# types the application enables in the developer portal — a user install too, once enabled.
SERVER_ONLY = app_commands.AppInstallationType(guild=True, user=False)
server_install_only = app_commands.allowed_installs(guilds=True, users=False)


def sees_dm_collections(interaction: discord.Interaction) -> bool:
    """Whether ``interaction`` answers from the DM collections (CITEBOT_DM_COLLECTIONS): outside
    servers, and in a server CiteBot is not a member of or whose install did not authorise it."""
    if interaction.guild_id is None:
        return True
    # interaction.guild can be a stand-in built from the payload; the client's own cache says
    # whether CiteBot is in the server. is_guild_integration(): the server's install (not only
    # the person's) authorised this interaction.
    member = interaction.client.get_guild(interaction.guild_id) is not None
    return not (member and interaction.is_guild_integration())
