"""World building: the default guild, channels and users, and the payloads built from them."""

from __future__ import annotations

import copy
import secrets
from collections.abc import Sequence
from typing import (
    Any,
)

from .common import (
    _MISSING,
    Intents,
    _guess_content_type,
    _Interaction,
    _mentioned_ids,
    _normalize_embed,
    _normalize_options,
    _now_iso,
    _number_components,
    _Perm,
)


class World:
    """The fake's guilds, channels, users and messages, and the payloads built from them."""

    # ------------------------------------------------------------------ world building

    def add_user(self, username: str, *, bot: bool = False, global_name: str | None = None, id: int | None = None) -> dict[str, Any]:
        uid = id or self.snowflake()
        user: dict[str, Any] = {
            "id": str(uid),
            "username": username.lower(),
            "discriminator": "0",
            "global_name": global_name,
            "avatar": None,
            "banner": None,
            "accent_color": None,
            "public_flags": 0,
            "flags": 0,
            "avatar_decoration_data": None,
            "primary_guild": None,
        }
        if bot:
            user.update({"bot": True, "global_name": None, "verified": True, "mfa_enabled": False, "email": None, "locale": "en-US"})
        self.users[uid] = user
        return user

    def _make_application(self) -> dict[str, Any]:
        owner = self.add_user("appowner")
        return {
            "id": self.bot_user["id"],
            "name": self.bot_user["username"],
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": secrets.token_hex(32),
            "flags": (1 << 15) | (1 << 19),  # GATEWAY_GUILD_MEMBERS_LIMITED | GATEWAY_MESSAGE_CONTENT_LIMITED
            "owner": owner,
            "team": None,
            "hook": True,
            "bot": self.bot_user,
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "install_params": None,
            "integration_types_config": {"0": {}},
            "approximate_guild_count": 1,
            "tags": [],
        }

    @property
    def bot_id(self) -> int:
        return int(self.bot_user["id"])

    @property
    def application_id(self) -> int:
        return int(self.application["id"])

    def add_guild(
        self,
        name: str,
        *,
        owner_id: int | None = None,
        shard: tuple[int, int] | None = None,
        on_shard_zero: bool = False,
        id: int | None = None,
    ) -> dict[str, Any]:
        """Create a guild the bot is in. ``shard=(shard_id, shard_count)`` picks an id Discord would route there."""
        if id is not None:
            gid = id
        elif shard is not None:
            gid = self.snowflake.for_shard(*shard)
        elif on_shard_zero:
            gid = self.snowflake.on_shard_zero()
        else:
            gid = self.snowflake()
        bot_role_id = self.snowflake()
        guild: dict[str, Any] = {
            "id": str(gid),
            "name": name,
            "icon": None,
            "icon_hash": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(owner_id or self.bot_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "widget_enabled": False,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "roles": [
                self._role(gid, "@everyone", _Perm.EVERYONE, position=0),
                self._role(bot_role_id, self.bot_user["username"], _Perm.BOT, position=1, managed=True,
                           tags={"bot_id": self.bot_user["id"]}),
            ],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_presences": None,
            "max_members": 500000,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "joined_at": _now_iso(),
        }
        self.guilds[gid] = guild
        self.members[gid] = {}
        self.add_member(gid, self.bot_user, roles=[bot_role_id])
        return guild

    @staticmethod
    def _role(rid: int, name: str, permissions: int, *, position: int, managed: bool = False,
              tags: dict[str, Any] | None = None) -> dict[str, Any]:
        role: dict[str, Any] = {
            "id": str(rid),
            "name": name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": position,
            "permissions": str(permissions),
            "managed": managed,
            "mentionable": False,
            "flags": 0,
        }
        if tags:
            role["tags"] = tags
        return role

    def add_text_channel(self, guild_id: int, name: str, *, topic: str | None = None, id: int | None = None,
                         parent_id: int | None = None) -> dict[str, Any]:
        cid = id or self.snowflake()
        position = sum(1 for c in self.channels.values() if c.get("guild_id") == str(guild_id))
        channel = {
            "id": str(cid),
            "type": 0,
            "guild_id": str(guild_id),
            "name": name,
            "position": position,
            "permission_overwrites": [],
            "topic": topic,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": str(parent_id) if parent_id else None,
            "flags": 0,
        }
        self.channels[cid] = channel
        return channel

    def add_member(self, guild_id: int, user: int | dict[str, Any], *, roles: Sequence[int] = (),
                   nick: str | None = None) -> dict[str, Any]:
        user = self._user(user)
        member = {
            "user": user,
            "nick": nick,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in roles],
            "joined_at": _now_iso(),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        self.members[int(guild_id)][int(user["id"])] = member
        return member

    def add_dm_channel(self, user: int | dict[str, Any]) -> dict[str, Any]:
        user = self._user(user)
        uid = int(user["id"])
        if uid in self._dm_by_user:
            return self.channels[self._dm_by_user[uid]]
        cid = self.snowflake()
        channel = {"id": str(cid), "type": 1, "last_message_id": None, "flags": 0, "recipients": [user]}
        self.channels[cid] = channel
        self._dm_by_user[uid] = cid
        return channel

    def make_attachment(self, filename: str, data: bytes, content_type: str | None = None,
                        channel_id: int | None = None) -> dict[str, Any]:
        """An attachment object whose ``url`` is served by this fake (``Attachment.read()`` works)."""
        aid = self.snowflake()
        ctype = content_type or _guess_content_type(filename)
        key = f"{channel_id or 0}/{aid}/{filename}"
        self._attachment_blobs[key] = (data, ctype)
        url = f"{self.base_url}/attachments/{key}"  # needs start(): the URL carries the port
        return {
            "id": str(aid),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": ctype,
        }

    def _user(self, user: int | str | dict[str, Any] | None) -> dict[str, Any]:
        if user is None:
            return self.user
        if isinstance(user, dict):
            uid = int(user["id"])
            self.users.setdefault(uid, user)
            return self.users[uid]
        return self.users[int(user)]

    def _member_for(self, guild_id: int, user: dict[str, Any]) -> dict[str, Any]:
        members = self.members.get(int(guild_id), {})
        uid = int(user["id"])
        if uid not in members:
            self.add_member(int(guild_id), user)
        return members[uid]

    def _member_permissions(self, guild_id: int, user_id: int) -> int:
        guild = self.guilds[int(guild_id)]
        if str(user_id) == guild["owner_id"]:
            return _Perm.ALL
        member = self.members[int(guild_id)].get(int(user_id))
        roles = {r["id"]: r for r in guild["roles"]}
        perms = int(roles[str(guild_id)]["permissions"])
        for rid in (member or {}).get("roles", []):
            if rid in roles:
                perms |= int(roles[rid]["permissions"])
        return perms

    def guild_create_payload(self, guild_id: int, intents: int = Intents.GUILD_MEMBERS) -> dict[str, Any]:
        """GUILD_CREATE ``d``: the guild plus the gateway-only fields (members, channels, ...).

        Without GUILD_MEMBERS Discord lists only the bot itself, though member_count is the full count.
        """
        guild = copy.deepcopy(self.guilds[int(guild_id)])
        all_members = list(self.members[int(guild_id)].values())
        members = [
            copy.deepcopy(m) for m in all_members
            if intents & Intents.GUILD_MEMBERS or m["user"]["id"] == self.bot_user["id"]
        ]
        channels = []
        for ch in self.channels.values():
            if ch.get("guild_id") == str(guild_id):
                ch = copy.deepcopy(ch)
                ch.pop("guild_id", None)  # channels inside GUILD_CREATE omit guild_id
                channels.append(ch)
        guild.update(
            {
                "large": False,
                "unavailable": False,
                "member_count": len(all_members),
                "voice_states": [],
                "members": members,
                "channels": channels,
                "threads": [],
                "presences": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
            }
        )
        return guild

    # ------------------------------------------------------------------ payload builders

    def _message(
        self,
        *,
        channel_id: int,
        author: dict[str, Any],
        content: str = "",
        embeds: Sequence[dict[str, Any]] = (),
        attachments: Sequence[dict[str, Any]] = (),
        components: Sequence[dict[str, Any]] = (),
        mentions: Sequence[dict[str, Any]] = (),
        mention_everyone: bool = False,
        message_reference: dict[str, Any] | None = None,
        referenced_message: Any = _MISSING,
        id: int | None = None,
        type: int | None = None,
        flags: int = 0,
        webhook_id: int | None = None,
        application_id: int | None = None,
        interaction_metadata: dict[str, Any] | None = None,
        tts: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A message in REST shape (no guild_id/member); stored so GETs and later references find it."""
        mid = id or self.snowflake()
        channel = self.channels.get(int(channel_id))
        guild_id = int(channel["guild_id"]) if channel and channel.get("guild_id") else None
        if type is None:
            type = 19 if message_reference and message_reference.get("type", 0) == 0 else 0
        msg: dict[str, Any] = {
            "id": str(mid),
            "channel_id": str(channel_id),
            "author": copy.deepcopy(author),
            "content": content,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": tts,
            "mention_everyone": mention_everyone,
            "mentions": [self._mention_user(guild_id, u) for u in mentions],
            "mention_roles": [],
            "attachments": list(attachments),
            "embeds": [_normalize_embed(e) for e in embeds],
            "pinned": False,
            "type": type,
            "flags": flags,
            "components": _number_components(list(components)),
        }
        if webhook_id is not None:
            msg["webhook_id"] = str(webhook_id)
        if application_id is not None:
            msg["application_id"] = str(application_id)
        if interaction_metadata is not None:
            msg["interaction_metadata"] = interaction_metadata
        if message_reference is not None:
            ref = {"type": 0, "channel_id": str(channel_id)}
            if guild_id is not None:
                ref["guild_id"] = str(guild_id)
            ref.update({k: v for k, v in message_reference.items() if k != "fail_if_not_exists"})
            ref = {k: str(v) if k.endswith("_id") and v is not None else v for k, v in ref.items()}
            msg["message_reference"] = ref
            if referenced_message is _MISSING:
                referenced_message = self.messages.get(int(ref.get("message_id", 0)))
            msg["referenced_message"] = copy.deepcopy(referenced_message) if referenced_message else None
            if msg["referenced_message"]:
                msg["referenced_message"].pop("referenced_message", None)
        if extra:
            msg.update(extra)
        self.messages[mid] = msg
        if channel is not None:
            channel["last_message_id"] = str(mid)
        return msg

    def _mention_user(self, guild_id: int | None, user: int | dict[str, Any]) -> dict[str, Any]:
        u = copy.deepcopy(self._user(user))
        if guild_id is not None and int(u["id"]) in self.members.get(guild_id, {}):
            member = copy.deepcopy(self.members[guild_id][int(u["id"])])
            member.pop("user", None)
            u["member"] = member
        return u

    def _gateway_message(self, msg: dict[str, Any]) -> dict[str, Any]:
        """MESSAGE_CREATE/UPDATE ``d``: the message plus guild_id and the author's partial member."""
        data = copy.deepcopy(msg)
        channel = self.channels.get(int(msg["channel_id"]))
        if channel and channel.get("guild_id"):
            gid = int(channel["guild_id"])
            data["guild_id"] = str(gid)
            if "webhook_id" not in msg or int(msg["author"]["id"]) in self.members.get(gid, {}):
                member = copy.deepcopy(self._member_for(gid, msg["author"]))
                member.pop("user", None)
                data["member"] = member
        return data

    def message_create(
        self,
        content: str,
        channel_id: int | None = None,
        author: int | dict[str, Any] | None = None,
        guild_id: Any = _MISSING,
        mentions: Sequence[int | dict[str, Any]] | None = None,
        message_reference: dict[str, Any] | None = None,
        referenced_message: Any = _MISSING,
        id: int | None = None,
        *,
        embeds: Sequence[dict[str, Any]] = (),
        attachments: Sequence[dict[str, Any]] = (),
        components: Sequence[dict[str, Any]] = (),
        mention_everyone: bool = False,
    ) -> dict[str, Any]:
        """MESSAGE_CREATE ``d`` for a message a user sends (default: ``user`` in ``text_channel``).

        ``mentions`` defaults to the users named by ``<@id>`` tokens in ``content``, as Discord fills it.
        Passing ``referenced_message`` (a message dict) without ``message_reference`` makes a reply to it.
        The message is stored, so bot code can fetch it and reply to it.
        """
        channel_id = int(channel_id or self.text_channel_id)
        author_d = self._user(author)
        if mentions is None:
            mentions = [u for u in _mentioned_ids(content) if u in self.users]
        if message_reference is None and referenced_message not in (_MISSING, None):
            message_reference = {"message_id": referenced_message["id"], "channel_id": referenced_message["channel_id"]}
        msg = self._message(
            channel_id=channel_id,
            author=author_d,
            content=content,
            embeds=embeds,
            attachments=attachments,
            components=components,
            mentions=list(mentions),
            mention_everyone=mention_everyone,
            message_reference=message_reference,
            referenced_message=referenced_message,
            id=id,
        )
        data = self._gateway_message(msg)
        if guild_id is not _MISSING:
            if guild_id is None:
                data.pop("guild_id", None)
                data.pop("member", None)
            else:
                data["guild_id"] = str(guild_id)
        return data

    def _interaction(
        self,
        *,
        type: int,
        data: dict[str, Any],
        channel_id: int | None,
        guild_id: Any,
        user: int | dict[str, Any] | None,
        member: dict[str, Any] | None,
        application_id: int | None,
        id: int | None,
        token: str | None,
        locale: str,
        message: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        channel_id = int(channel_id or self.text_channel_id)
        channel = self.channels.get(channel_id)
        if guild_id is _MISSING:
            guild_id = int(channel["guild_id"]) if channel and channel.get("guild_id") else None
        iid = id or self.snowflake()
        token = token or f"fake-interaction-token.{secrets.token_urlsafe(32)}"
        app_id = int(application_id or self.application_id)
        user_d = self._user(member.get("user", user) if member else user)
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(app_id),
            "type": type,
            "data": data,
            "channel_id": str(channel_id),
            "channel": copy.deepcopy(channel) if channel else {"id": str(channel_id), "type": 0},
            "token": token,
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "attachment_size_limit": 26214400,
        }
        if guild_id is not None:
            gid = int(guild_id)
            m = copy.deepcopy(member) if member else copy.deepcopy(self._member_for(gid, user_d))
            m.setdefault("user", user_d)
            m.setdefault("permissions", str(self._member_permissions(gid, int(user_d["id"]))))
            payload.update(
                {
                    "guild_id": str(gid),
                    "guild": {"id": str(gid), "locale": "en-US", "features": []},
                    "guild_locale": "en-US",
                    "member": m,
                    "app_permissions": str(self._member_permissions(gid, self.bot_id)),
                    "authorizing_integration_owners": {"0": str(gid)},
                    "context": 0,
                }
            )
        else:
            payload.update(
                {
                    "user": user_d,
                    "app_permissions": str(_Perm.EVERYONE),
                    "authorizing_integration_owners": {"0": str(user_d["id"])},
                    "context": 1,
                }
            )
        if message is not None:
            payload["message"] = message
        state = _Interaction(
            id=iid,
            token=token,
            application_id=app_id,
            type=type,
            channel_id=channel_id,
            guild_id=int(guild_id) if guild_id is not None else None,
            user=user_d,
            command_type=data.get("type") if type in (2, 4) else None,
            command_name=data.get("name"),
            source_message_id=int(message["id"]) if message else None,
        )
        self.interactions[iid] = state
        self._interactions_by_token[token] = state
        return payload

    def _command_id(self, name: str, cmd_type: int, guild_id: int | None) -> int:
        pools = ([self.guild_commands.get(guild_id, [])] if guild_id else []) + [self.global_commands]
        for pool in pools:
            for cmd in pool:
                if cmd["name"] == name and cmd.get("type", 1) == cmd_type:
                    return int(cmd["id"])
        return self.snowflake()

    def interaction_create_slash(
        self,
        name: str,
        options: None | dict[str, Any] | Sequence[dict[str, Any]] = None,
        channel_id: int | None = None,
        guild_id: Any = _MISSING,
        user: int | dict[str, Any] | None = None,
        member: dict[str, Any] | None = None,
        application_id: int | None = None,
        id: int | None = None,
        token: str | None = None,
        type: int = 2,
        *,
        command_guild_id: int | None = None,
        resolved: dict[str, Any] | None = None,
        locale: str = "en-US",
    ) -> dict[str, Any]:
        """INTERACTION_CREATE ``d`` for a chat-input command (``data.type`` 1).

        ``options`` is Discord's option list, or a ``{name: value}`` dict whose types are inferred
        (str 3, int 4, bool 5, float 10). ``command_guild_id`` marks a guild-registered command,
        which is how discord.py's tree decides between guild and global commands. ``type=4`` makes
        an autocomplete interaction (mark the option with ``"focused": True``).
        """
        data: dict[str, Any] = {
            "id": str(self._command_id(name, 1, command_guild_id)),
            "name": name,
            "type": 1,
        }
        if options:
            data["options"] = _normalize_options(options)
        if resolved:
            data["resolved"] = resolved
        if command_guild_id:
            data["guild_id"] = str(command_guild_id)
        return self._interaction(type=type, data=data, channel_id=channel_id, guild_id=guild_id, user=user,
                                 member=member, application_id=application_id, id=id, token=token, locale=locale)

    def interaction_create_message_command(
        self,
        name: str,
        target: int | dict[str, Any],
        channel_id: int | None = None,
        guild_id: Any = _MISSING,
        user: int | dict[str, Any] | None = None,
        member: dict[str, Any] | None = None,
        application_id: int | None = None,
        id: int | None = None,
        token: str | None = None,
        *,
        command_guild_id: int | None = None,
        locale: str = "en-US",
    ) -> dict[str, Any]:
        """INTERACTION_CREATE ``d`` for a message context-menu command (``data.type`` 3)."""
        target_msg = copy.deepcopy(self.messages[int(target)] if not isinstance(target, dict) else target)
        target_msg.pop("guild_id", None)
        target_msg.pop("member", None)
        data: dict[str, Any] = {
            "id": str(self._command_id(name, 3, command_guild_id)),
            "name": name,
            "type": 3,
            "target_id": target_msg["id"],
            "resolved": {"messages": {target_msg["id"]: target_msg}},
        }
        if command_guild_id:
            data["guild_id"] = str(command_guild_id)
        return self._interaction(type=2, data=data, channel_id=channel_id or int(target_msg["channel_id"]),
                                 guild_id=guild_id, user=user, member=member, application_id=application_id,
                                 id=id, token=token, locale=locale)

    def interaction_create_component(
        self,
        custom_id: str,
        message: int | dict[str, Any],
        component_type: int = 2,
        user: int | dict[str, Any] | None = None,
        member: dict[str, Any] | None = None,
        values: Sequence[str] | None = None,
        guild_id: Any = _MISSING,
        application_id: int | None = None,
        id: int | None = None,
        token: str | None = None,
        *,
        locale: str = "en-US",
    ) -> dict[str, Any]:
        """INTERACTION_CREATE ``d`` for a click/select on a component of ``message`` (id or dict).

        For discord.py's view store to find the View, ``message`` must be the message the bot sent
        with it (e.g. the id from the recorded POST's response).
        """
        msg = copy.deepcopy(self.messages[int(message)] if not isinstance(message, dict) else message)
        msg.pop("guild_id", None)
        msg.pop("member", None)
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if component_type in (3, 5, 6, 7, 8) or values is not None:
            data["values"] = list(values or [])
        return self._interaction(type=3, data=data, channel_id=int(msg["channel_id"]), guild_id=guild_id,
                                 user=user, member=member, application_id=application_id, id=id, token=token,
                                 locale=locale, message=msg)
