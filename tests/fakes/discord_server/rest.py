"""The REST half of the fake: recorded requests, faults and the endpoints CiteBot uses."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json as _json
import math
import re
import time
from collections.abc import Callable, Sequence
from re import Pattern
from typing import (
    Any,
)

from aiohttp import web

from .common import (
    _EPHEMERAL,
    _LOADING,
    FormPart,
    PathPattern,
    RecordedRequest,
    _error,
    _Fault,
    _form_error,
    _Interaction,
    _json_response,
    _mentioned_ids,
    _method_matches,
    _normalize_embed,
    _now_iso,
    _number_components,
    _path_matches,
    _Response,
    _truthy,
)


class Rest:
    """The REST API: routing, recorded requests, faults, and one handler per endpoint."""

    # ------------------------------------------------------------------ REST: public API

    def calls(self, method: str | None = None, path_pattern: PathPattern = "") -> list[RecordedRequest]:
        """Recorded requests matching ``method`` (None/"*" = any) and ``path_pattern``.

        A compiled regex must fullmatch the path; a string matches as a path prefix or as a
        fullmatching regex. Paths are relative to the API base: ``/channels/123/messages``.
        """
        return [r for r in self.requests if _method_matches(method, r.method) and _path_matches(path_pattern, r.path)]

    async def wait_for(self, method: str | None, path_pattern: PathPattern, count: int = 1,
                       timeout: float = 10.0) -> list[RecordedRequest]:
        """Wait until ``count`` matching requests were answered; returns all matching requests."""
        await self._wait_until(
            lambda: len(self.calls(method, path_pattern)) >= count,
            timeout,
            lambda: (
                f"expected {count} request(s) {method} {getattr(path_pattern, 'pattern', path_pattern)!r} within "
                f"{timeout}s, saw {len(self.calls(method, path_pattern))}. All requests seen:\n  "
                + ("\n  ".join(str(r) for r in self.requests) or "(none)")
            ),
        )
        return self.calls(method, path_pattern)

    def fail_next(self, method: str | None, path_pattern: PathPattern, status: int = 429, times: int = 1,
                  retry_after: float = 0.2, global_: bool = False, body: dict[str, Any] | None = None) -> None:
        """Answer the next ``times`` matching requests with ``status`` instead of handling them.

        429s carry Discord's body and X-RateLimit-*/Retry-After headers, plus ``Via`` -- without
        it discord.py treats a 429 as a Cloudflare ban and raises instead of retrying.
        """
        self._faults.append(_Fault(method, path_pattern, status, times, retry_after, global_, body))

    def set_delay(self, method: str | None, path_pattern: PathPattern, seconds: float) -> None:
        """Answer matching requests only after ``seconds`` (0 removes the delay): holds a reply
        in flight, as a slow Discord would. The request is recorded once it is answered."""
        self._delays = [d for d in self._delays if (d[0], d[1]) != (method, path_pattern)]
        if seconds > 0:
            self._delays.append((method, path_pattern, seconds))

    def clear_requests(self) -> None:
        self.requests.clear()

    # ------------------------------------------------------------------ internals: REST plumbing

    def _build_routes(self) -> list[tuple[str, Pattern[str], Callable[..., Any], bool]]:
        S = r"(?P<{}>\d+)"
        ch, msg, gid, uid = S.format("channel_id"), S.format("message_id"), S.format("guild_id"), S.format("user_id")
        app = S.format("app_id")
        tok = r"(?P<token>[^/]+)"
        cmds = rf"/applications/{app}(?:/guilds/{gid})?/commands"
        table: list[tuple[str, str, Callable[..., Any], bool]] = [
            ("GET", r"/gateway", self._r_gateway, False),
            ("GET", r"/gateway/bot", self._r_gateway_bot, True),
            ("GET", r"/users/@me", self._r_me, True),
            ("GET", rf"/users/{uid}", self._r_user, True),
            ("GET", r"/(?:oauth2/)?applications/@me", self._r_application, True),
            ("POST", r"/users/@me/channels", self._r_create_dm, True),
            ("GET", rf"/channels/{ch}", self._r_get_channel, True),
            ("GET", rf"/channels/{ch}/messages", self._r_list_messages, True),
            ("POST", rf"/channels/{ch}/messages", self._r_create_message, True),
            ("GET", rf"/channels/{ch}/messages/{msg}", self._r_get_message, True),
            ("PATCH", rf"/channels/{ch}/messages/{msg}", self._r_edit_message, True),
            ("DELETE", rf"/channels/{ch}/messages/{msg}", self._r_delete_message, True),
            ("POST", rf"/channels/{ch}/typing", self._r_no_content, True),
            ("PUT", rf"/channels/{ch}/messages/{msg}/reactions/(?P<emoji>[^/]+)/@me", self._r_reaction, True),
            ("DELETE", rf"/channels/{ch}/messages/{msg}/reactions/(?P<emoji>[^/]+)/@me", self._r_reaction, True),
            ("GET", rf"/guilds/{gid}", self._r_get_guild, True),
            ("GET", rf"/guilds/{gid}/channels", self._r_guild_channels, True),
            ("GET", rf"/guilds/{gid}/members/{uid}", self._r_get_member, True),
            ("POST", rf"/interactions/(?P<interaction_id>\d+)/{tok}/callback", self._r_interaction_callback, False),
            ("GET", rf"/webhooks/{app}/{tok}/messages/(?P<message_id>@original|\d+)", self._r_webhook_message, False),
            ("PATCH", rf"/webhooks/{app}/{tok}/messages/(?P<message_id>@original|\d+)", self._r_webhook_message, False),
            ("DELETE", rf"/webhooks/{app}/{tok}/messages/(?P<message_id>@original|\d+)", self._r_webhook_message, False),
            ("POST", rf"/webhooks/{app}/{tok}", self._r_followup, False),
            ("GET", cmds, self._r_commands, True),
            ("PUT", cmds, self._r_commands, True),
            ("POST", cmds, self._r_commands, True),
            ("GET", rf"{cmds}/(?P<command_id>\d+)", self._r_command, True),
            ("DELETE", rf"{cmds}/(?P<command_id>\d+)", self._r_command, True),
        ]
        return [(m, re.compile(p), h, auth) for m, p, h, auth in table]

    async def _read_body(self, request: web.Request) -> tuple[bytes, Any, list[FormPart] | None]:
        if request.content_type.startswith("multipart/"):
            parts: list[FormPart] = []
            payload: Any = None
            reader = await request.multipart()
            async for part in reader:
                data = bytes(await part.read(decode=False))  # type: ignore[union-attr]
                fp = FormPart(part.name or "", part.filename, part.headers.get("Content-Type"), data)  # type: ignore[union-attr]
                parts.append(fp)
                if fp.name == "payload_json":
                    payload = _json.loads(data)
            return b"", payload, parts
        body = await request.read()
        payload = None
        if body and request.content_type == "application/json":
            payload = _json.loads(body)
        return body, payload, None

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body, payload, form = await self._read_body(request)
        rec = RecordedRequest(
            method=request.method,
            path=path,
            query=dict(request.query),
            headers=dict(request.headers),
            json=payload,
            body=body,
            form=form,
            at=time.monotonic(),
        )
        for method, pattern, seconds in self._delays:
            if _method_matches(method, request.method) and _path_matches(pattern, path):
                await asyncio.sleep(seconds)
                break
        route_key = path
        fault = self._take_fault(request.method, path)
        if fault is not None:
            resp = self._fault_response(fault, path)
        else:
            resp = None
            for method, regex, handler, needs_auth in self._routes:
                m = regex.fullmatch(path)
                if m is None or method != request.method:
                    continue
                route_key = f"{method} {regex.pattern}"
                if needs_auth:
                    auth = request.headers.get("Authorization", "")
                    if not auth.startswith("Bot ") or (self.token is not None and auth != f"Bot {self.token}"):
                        resp = _error(401, 0, "401: Unauthorized")
                        break
                resp = await handler(rec, **m.groupdict())
                break
            if resp is None:
                resp = _error(404, 0, "Unknown")
        rec.status = resp.status
        rec.response = resp.body
        self.requests.append(rec)
        await self._notify()
        headers = dict(resp.headers)
        if self.ratelimit_headers and resp.status != 429:
            headers.update(self._ratelimit_headers(route_key))
        if resp.status == 204 or resp.body is None:
            return web.Response(status=resp.status, headers=headers)
        return _json_response(resp.body, resp.status, headers)

    async def _handle_unrouted(self, request: web.Request) -> web.StreamResponse:
        body, payload, form = await self._read_body(request)
        rec = RecordedRequest(request.method, request.path, dict(request.query), dict(request.headers), payload, body,
                              form, time.monotonic(), 404, {"message": "Unknown", "code": 0})
        self.requests.append(rec)
        await self._notify()
        return _json_response(rec.response, 404, {})

    async def _handle_attachment(self, request: web.Request) -> web.StreamResponse:
        blob = self._attachment_blobs.get(request.match_info["tail"])
        if blob is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=blob[0], content_type=blob[1].split(";")[0])

    @staticmethod
    def _bucket(route_key: str) -> str:
        return hashlib.sha1(route_key.encode()).hexdigest()[:16]

    def _ratelimit_headers(self, route_key: str) -> dict[str, str]:
        # Plenty of headroom so discord.py never pre-emptively sleeps in tests; use fail_next for 429s.
        return {
            "X-RateLimit-Limit": "50",
            "X-RateLimit-Remaining": "49",
            "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
            "X-RateLimit-Reset-After": "1.000",
            "X-RateLimit-Bucket": self._bucket(route_key),
        }

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.times > 0 and _method_matches(fault.method, method) and _path_matches(fault.pattern, path):
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _fault_response(self, fault: _Fault, path: str) -> _Response:
        if fault.status == 429:
            body = fault.body or {"message": "You are being rate limited.", "retry_after": fault.retry_after,
                                  "global": fault.global_}
            if fault.global_ and "code" not in body:
                body["code"] = 0
            headers = {
                "Retry-After": str(max(1, math.ceil(fault.retry_after))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + fault.retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{fault.retry_after:.3f}",
                "X-RateLimit-Bucket": self._bucket(path),
                "X-RateLimit-Scope": "global" if fault.global_ else "user",
                "Via": "1.1 google",
            }
            if fault.global_:
                headers["X-RateLimit-Global"] = "true"
            return _Response(429, body, headers)
        reasons = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                   500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                   504: "Gateway Timeout"}
        body = fault.body or {"message": f"{fault.status}: {reasons.get(fault.status, 'Error')}", "code": 0}
        return _Response(fault.status, body)

    # ------------------------------------------------------------------ REST handlers

    async def _r_gateway(self, rec: RecordedRequest) -> _Response:
        return _Response(200, {"url": self.gateway_url})

    async def _r_gateway_bot(self, rec: RecordedRequest) -> _Response:
        return _Response(200, {
            "url": self.gateway_url,
            "shards": self.shard_count,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1},
        })

    async def _r_me(self, rec: RecordedRequest) -> _Response:
        return _Response(200, copy.deepcopy(self.bot_user))

    async def _r_user(self, rec: RecordedRequest, user_id: str) -> _Response:
        user = self.users.get(int(user_id))
        if user is None:
            return _error(404, 10013, "Unknown User")
        return _Response(200, copy.deepcopy(user))

    async def _r_application(self, rec: RecordedRequest) -> _Response:
        return _Response(200, copy.deepcopy(self.application))

    async def _r_create_dm(self, rec: RecordedRequest) -> _Response:
        rid = (rec.json or {}).get("recipient_id")
        if rid is None or int(rid) not in self.users:
            return _error(400, 50033, "Invalid Recipient(s)")
        return _Response(200, copy.deepcopy(self.add_dm_channel(int(rid))))

    async def _r_get_channel(self, rec: RecordedRequest, channel_id: str) -> _Response:
        channel = self.channels.get(int(channel_id))
        if channel is None:
            return _error(404, 10003, "Unknown Channel")
        return _Response(200, copy.deepcopy(channel))

    async def _r_list_messages(self, rec: RecordedRequest, channel_id: str) -> _Response:
        if int(channel_id) not in self.channels:
            return _error(404, 10003, "Unknown Channel")
        limit = int(rec.query.get("limit", 50))
        msgs = [m for m in self.messages.values() if m["channel_id"] == channel_id]
        msgs.sort(key=lambda m: int(m["id"]), reverse=True)
        if "before" in rec.query:
            msgs = [m for m in msgs if int(m["id"]) < int(rec.query["before"])]
        if "after" in rec.query:
            msgs = [m for m in msgs if int(m["id"]) > int(rec.query["after"])]
        return _Response(200, copy.deepcopy(msgs[:limit]))

    async def _r_get_message(self, rec: RecordedRequest, channel_id: str, message_id: str) -> _Response:
        msg = self.messages.get(int(message_id))
        if msg is None or msg["channel_id"] != channel_id:
            return _error(404, 10008, "Unknown Message")
        return _Response(200, copy.deepcopy(msg))

    def _validate_message(self, payload: dict[str, Any], files: Sequence[FormPart], *, creating: bool) -> _Response | None:
        if not self.validate_messages:
            return None
        content = payload.get("content")
        if content is not None and len(content) > 2000:
            return _form_error(["content"], "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
        embeds = payload.get("embeds") or []
        if len(embeds) > 10:
            return _form_error(["embeds"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        total = 0
        limits = {"title": 256, "description": 4096}
        for i, embed in enumerate(embeds):
            for key, limit in limits.items():
                value = embed.get(key) or ""
                total += len(value)
                if len(value) > limit:
                    return _form_error(["embeds", i, key], "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
            fields = embed.get("fields") or []
            if len(fields) > 25:
                return _form_error(["embeds", i, "fields"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
            for j, f in enumerate(fields):
                for key, limit in (("name", 256), ("value", 1024)):
                    value = f.get(key) or ""
                    total += len(value)
                    if not value:
                        return _form_error(["embeds", i, "fields", j, key], "BASE_TYPE_REQUIRED", "This field is required")
                    if len(value) > limit:
                        return _form_error(["embeds", i, "fields", j, key], "BASE_TYPE_MAX_LENGTH",
                                           f"Must be {limit} or fewer in length.")
            footer = (embed.get("footer") or {}).get("text") or ""
            author = (embed.get("author") or {}).get("name") or ""
            total += len(footer) + len(author)
            if len(footer) > 2048:
                return _form_error(["embeds", i, "footer", "text"], "BASE_TYPE_MAX_LENGTH", "Must be 2048 or fewer in length.")
            if len(author) > 256:
                return _form_error(["embeds", i, "author", "name"], "BASE_TYPE_MAX_LENGTH", "Must be 256 or fewer in length.")
        if total > 6000:
            return _form_error(["embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
        if len(payload.get("components") or []) > 5 and not int(payload.get("flags") or 0) & (1 << 15):
            return _form_error(["components"], "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
        if creating and not (content or embeds or payload.get("components") or files or payload.get("sticker_ids")
                             or payload.get("poll") or payload.get("attachments")):
            return _error(400, 50006, "Cannot send an empty message")
        return None

    def _attachments_from(self, payload: dict[str, Any], files: Sequence[FormPart], channel_id: int,
                          existing: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
        meta = {str(a.get("id")): a for a in payload.get("attachments") or []}
        out: list[dict[str, Any]] = []
        by_id = {a["id"]: a for a in existing}
        for key in meta:
            if key in by_id:
                out.append(by_id[key])
        for part in files:
            m = re.fullmatch(r"files\[(\d+)\]", part.name)
            index = m.group(1) if m else str(len(out))
            info = meta.get(index, {})
            att = self.make_attachment(info.get("filename") or part.filename or "file", part.data,
                                       part.content_type, channel_id)
            if info.get("description"):
                att["description"] = info["description"]
            out.append(att)
        return out

    def _mentions_for(self, content: str, payload: dict[str, Any], reply_to: dict[str, Any] | None) -> list[dict[str, Any]]:
        am = payload.get("allowed_mentions")
        ids = [u for u in _mentioned_ids(content) if u in self.users]
        if am is not None:
            explicit = {int(u) for u in am.get("users") or []}
            ids = [u for u in ids if "users" in (am.get("parse") or []) or u in explicit]
        if reply_to is not None and (am is None or am.get("replied_user", False)):
            rid = int(reply_to["author"]["id"])
            if rid not in ids:
                ids.append(rid)
        return [self.users[u] for u in ids]

    async def _r_create_message(self, rec: RecordedRequest, channel_id: str) -> _Response:
        channel = self.channels.get(int(channel_id))
        if channel is None:
            return _error(404, 10003, "Unknown Channel")
        payload = rec.json or {}
        problem = self._validate_message(payload, rec.files, creating=True)
        if problem is not None:
            return problem
        ref = payload.get("message_reference")
        reply_to = None
        if ref is not None and ref.get("message_id") is not None:
            reply_to = self.messages.get(int(ref["message_id"]))
            if reply_to is None and ref.get("fail_if_not_exists", True):
                return _form_error(["message_reference"], "REPLIES_UNKNOWN_MESSAGE", "Unknown message")
        content = payload.get("content") or ""
        msg = self._message(
            channel_id=int(channel_id),
            author=self.bot_user,
            content=content,
            embeds=payload.get("embeds") or [],
            attachments=self._attachments_from(payload, rec.files, int(channel_id)),
            components=payload.get("components") or [],
            mentions=self._mentions_for(content, payload, reply_to),
            message_reference=ref,
            flags=int(payload.get("flags") or 0),
            tts=bool(payload.get("tts")),
        )
        await self._echo("MESSAGE_CREATE", self._gateway_message(msg))
        return _Response(200, copy.deepcopy(msg))

    def _apply_edit(self, msg: dict[str, Any], payload: dict[str, Any], files: Sequence[FormPart]) -> None:
        if "content" in payload:
            msg["content"] = payload["content"] or ""
        if "embeds" in payload:
            msg["embeds"] = [_normalize_embed(e) for e in payload["embeds"] or []]
        if "components" in payload:
            msg["components"] = _number_components(list(payload["components"] or []))
        if "attachments" in payload or files:
            msg["attachments"] = self._attachments_from(payload, files, int(msg["channel_id"]), msg["attachments"])
        if "flags" in payload and payload["flags"] is not None:
            # Only SUPPRESS_EMBEDS can be toggled by an edit; keep the rest (e.g. EPHEMERAL).
            msg["flags"] = (msg["flags"] & ~4) | (int(payload["flags"]) & 4)
        msg["flags"] &= ~_LOADING
        msg["edited_timestamp"] = _now_iso()

    async def _r_edit_message(self, rec: RecordedRequest, channel_id: str, message_id: str) -> _Response:
        msg = self.messages.get(int(message_id))
        if msg is None or msg["channel_id"] != channel_id:
            return _error(404, 10008, "Unknown Message")
        payload = rec.json or {}
        if msg["author"]["id"] != self.bot_user["id"] and set(payload) - {"flags"}:
            return _error(403, 50005, "Cannot edit a message authored by another user")
        problem = self._validate_message(payload, rec.files, creating=False)
        if problem is not None:
            return problem
        self._apply_edit(msg, payload, rec.files)
        await self._echo("MESSAGE_UPDATE", self._gateway_message(msg))
        return _Response(200, copy.deepcopy(msg))

    async def _r_delete_message(self, rec: RecordedRequest, channel_id: str, message_id: str) -> _Response:
        msg = self.messages.get(int(message_id))
        if msg is None or msg["channel_id"] != channel_id:
            return _error(404, 10008, "Unknown Message")
        del self.messages[int(message_id)]
        await self._echo("MESSAGE_DELETE", self._delete_payload(msg))
        return _Response(204)

    def _delete_payload(self, msg: dict[str, Any]) -> dict[str, Any]:
        data = {"id": msg["id"], "channel_id": msg["channel_id"]}
        channel = self.channels.get(int(msg["channel_id"]))
        if channel and channel.get("guild_id"):
            data["guild_id"] = channel["guild_id"]
        return data

    async def _r_no_content(self, rec: RecordedRequest, **_: str) -> _Response:
        return _Response(204)

    async def _r_reaction(self, rec: RecordedRequest, channel_id: str, message_id: str, emoji: str) -> _Response:
        if int(message_id) not in self.messages:
            return _error(404, 10008, "Unknown Message")
        return _Response(204)

    async def _r_get_guild(self, rec: RecordedRequest, guild_id: str) -> _Response:
        guild = self.guilds.get(int(guild_id))
        if guild is None:
            return _error(404, 10004, "Unknown Guild")
        data = copy.deepcopy(guild)
        data.pop("joined_at", None)
        return _Response(200, data)

    async def _r_guild_channels(self, rec: RecordedRequest, guild_id: str) -> _Response:
        if int(guild_id) not in self.guilds:
            return _error(404, 10004, "Unknown Guild")
        return _Response(200, [copy.deepcopy(c) for c in self.channels.values() if c.get("guild_id") == guild_id])

    async def _r_get_member(self, rec: RecordedRequest, guild_id: str, user_id: str) -> _Response:
        if int(guild_id) not in self.guilds:
            return _error(404, 10004, "Unknown Guild")
        member = self.members[int(guild_id)].get(int(user_id))
        if member is None:
            return _error(404, 10007, "Unknown Member")
        return _Response(200, copy.deepcopy(member))

    # ---- interactions

    def _interaction_message(self, inter: _Interaction, payload: dict[str, Any], files: Sequence[FormPart], *,
                             loading: bool = False, followup: bool = False) -> dict[str, Any]:
        flags = int(payload.get("flags") or 0)
        metadata: dict[str, Any] = {
            "id": str(inter.id),
            "type": inter.type,
            "user": copy.deepcopy(inter.user),
            "authorizing_integration_owners": (
                {"0": str(inter.guild_id)} if inter.guild_id else {"1": inter.user["id"]}
            ),
        }
        if followup:
            metadata["original_response_message_id"] = str(inter.original_message_id)
        if inter.source_message_id is not None:
            metadata["interacted_message_id"] = str(inter.source_message_id)
        # Discord's message types: 20 a slash command's reply, 23 a context menu's, 0 otherwise.
        msg_type = (23 if inter.command_type in (2, 3) else 20) if inter.type == 2 else 0
        content = payload.get("content") or ""
        return self._message(
            channel_id=inter.channel_id,
            author=self.bot_user,
            content=content,
            embeds=payload.get("embeds") or [],
            attachments=self._attachments_from(payload, files, inter.channel_id),
            components=payload.get("components") or [],
            mentions=self._mentions_for(content, payload, None),
            type=msg_type,
            flags=(flags & (_EPHEMERAL | 4 | 4096 | (1 << 15))) | (_LOADING if loading else 0),
            webhook_id=inter.application_id,
            application_id=inter.application_id,
            interaction_metadata=metadata,
            tts=bool(payload.get("tts")),
        )

    async def _r_interaction_callback(self, rec: RecordedRequest, interaction_id: str, token: str) -> _Response:
        inter = self.interactions.get(int(interaction_id))
        if inter is None or inter.token != token:
            return _error(404, 10062, "Unknown interaction")
        if inter.response_type is not None:
            return _error(400, 40060, "Interaction has already been acknowledged.")
        body = rec.json or {}
        rtype = int(body.get("type", 0))
        data = body.get("data") or {}
        allowed = {2: {4, 5, 9, 12}, 3: {4, 5, 6, 7, 9, 12}, 4: {8}, 5: {4, 5, 6, 7}}.get(inter.type, set())
        if rtype not in allowed:
            return _form_error(["type"], "INTERACTION_RESPONSE_TYPE_INVALID", "Invalid interaction response type")
        if rtype in (4, 7):
            problem = self._validate_message(data, rec.files, creating=rtype == 4)
            if problem is not None:
                return problem
        inter.response_type = rtype
        message: dict[str, Any] | None = None
        if rtype in (4, 5):
            message = self._interaction_message(inter, data, rec.files, loading=rtype == 5)
            inter.original_message_id = int(message["id"])
            inter.ephemeral = bool(message["flags"] & _EPHEMERAL)
            if not inter.ephemeral:
                await self._echo("MESSAGE_CREATE", self._gateway_message(message))
        elif rtype in (6, 7) and inter.source_message_id is not None:
            inter.original_message_id = inter.source_message_id
            message = self.messages.get(inter.source_message_id)
            if rtype == 7 and message is not None:
                self._apply_edit(message, data, rec.files)
                if not message["flags"] & _EPHEMERAL:
                    await self._echo("MESSAGE_UPDATE", self._gateway_message(message))
        if not _truthy(rec.query.get("with_response")):
            return _Response(204)
        # discord.py >= 2.5 always asks with_response=1 and parses this InteractionCallbackResponse.
        result: dict[str, Any] = {
            "interaction": {
                "id": str(inter.id),
                "type": inter.type,
                "response_message_loading": rtype == 5,
                "response_message_ephemeral": inter.ephemeral,
            }
        }
        if message is not None and rtype in (4, 5, 7):
            result["interaction"]["response_message_id"] = message["id"]
            result["resource"] = {"type": rtype, "message": copy.deepcopy(message)}
        elif rtype in (8, 9):
            result["resource"] = {"type": rtype}
        return _Response(200, result)

    def _webhook_interaction(self, app_id: str, token: str) -> _Interaction | None:
        inter = self._interactions_by_token.get(token)
        if inter is None or inter.application_id != int(app_id):
            return None
        return inter

    async def _r_webhook_message(self, rec: RecordedRequest, app_id: str, token: str, message_id: str) -> _Response:
        inter = self._webhook_interaction(app_id, token)
        if inter is None:
            return _error(404, 10015, "Unknown Webhook")
        if message_id == "@original":
            mid = inter.original_message_id
        else:
            mid = int(message_id)
            if mid not in inter.followup_ids and mid != inter.original_message_id:
                mid = None
        msg = self.messages.get(mid) if mid is not None else None
        if msg is None:
            return _error(404, 10008, "Unknown Message")
        if rec.method == "GET":
            return _Response(200, copy.deepcopy(msg))
        ephemeral = bool(msg["flags"] & _EPHEMERAL)
        if rec.method == "DELETE":
            del self.messages[int(msg["id"])]
            if not ephemeral:
                await self._echo("MESSAGE_DELETE", self._delete_payload(msg))
            return _Response(204)
        payload = rec.json or {}
        problem = self._validate_message(payload, rec.files, creating=False)
        if problem is not None:
            return problem
        self._apply_edit(msg, payload, rec.files)
        if not ephemeral:
            await self._echo("MESSAGE_UPDATE", self._gateway_message(msg))
        return _Response(200, copy.deepcopy(msg))

    async def _r_followup(self, rec: RecordedRequest, app_id: str, token: str) -> _Response:
        inter = self._webhook_interaction(app_id, token)
        if inter is None or inter.response_type is None:
            # The interaction webhook only exists once the interaction has been acknowledged.
            return _error(404, 10015, "Unknown Webhook")
        payload = rec.json or {}
        problem = self._validate_message(payload, rec.files, creating=True)
        if problem is not None:
            return problem
        original = self.messages.get(inter.original_message_id) if inter.original_message_id else None
        if original is not None and original["flags"] & _LOADING:
            # Discord: the first followup after a deferred response replaces the "thinking" message.
            self._apply_edit(original, payload, rec.files)
            msg = original
            if not msg["flags"] & _EPHEMERAL:
                await self._echo("MESSAGE_UPDATE", self._gateway_message(msg))
        else:
            msg = self._interaction_message(inter, payload, rec.files, followup=True)
            inter.followup_ids.append(int(msg["id"]))
            if not msg["flags"] & _EPHEMERAL:
                await self._echo("MESSAGE_CREATE", self._gateway_message(msg))
        if not _truthy(rec.query.get("wait")):
            return _Response(204)
        return _Response(200, copy.deepcopy(msg))

    # ---- application commands

    def _command_store(self, guild_id: str | None) -> list[dict[str, Any]]:
        if guild_id is None:
            return self.global_commands
        return self.guild_commands.setdefault(int(guild_id), [])

    def _validate_command(self, cmd: dict[str, Any], index: int | None) -> _Response | None:
        prefix: list[str | int] = [index] if index is not None else []
        name = cmd.get("name") or ""
        ctype = int(cmd.get("type", 1))
        if ctype == 1:
            if not re.fullmatch(r"[-_'\w]{1,32}", name) or name != name.lower():
                return _form_error(prefix + ["name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
            desc = cmd.get("description") or ""
            if not 1 <= len(desc) <= 100:
                return _form_error(prefix + ["description"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        elif not 1 <= len(name) <= 32:
            return _form_error(prefix + ["name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
        if len(cmd.get("options") or []) > 25:
            return _form_error(prefix + ["options"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        return None

    def _store_command(self, store: list[dict[str, Any]], cmd: dict[str, Any], app_id: str,
                       guild_id: str | None) -> dict[str, Any]:
        ctype = int(cmd.get("type", 1))
        existing = next((c for c in store if c["name"] == cmd["name"] and c["type"] == ctype), None)
        stored = {
            "id": existing["id"] if existing else str(self.snowflake()),
            "application_id": app_id,
            "version": str(self.snowflake()),
            "type": ctype,
            "name": cmd["name"],
            "name_localizations": cmd.get("name_localizations"),
            "description": cmd.get("description", "") if ctype == 1 else "",
            "description_localizations": cmd.get("description_localizations"),
            "options": cmd.get("options") or [],
            "default_member_permissions": cmd.get("default_member_permissions"),
            "dm_permission": cmd.get("dm_permission", True),
            "contexts": cmd.get("contexts"),
            "integration_types": cmd.get("integration_types") or [0],
            "nsfw": cmd.get("nsfw", False),
        }
        if guild_id is not None:
            stored["guild_id"] = guild_id
        if existing:
            store[store.index(existing)] = stored
        else:
            store.append(stored)
        return stored

    async def _r_commands(self, rec: RecordedRequest, app_id: str, guild_id: str | None = None) -> _Response:
        if int(app_id) != self.application_id:
            return _error(403, 50001, "Missing Access")
        if guild_id is not None and int(guild_id) not in self.guilds:
            return _error(403, 50001, "Missing Access")
        store = self._command_store(guild_id)
        if rec.method == "GET":
            return _Response(200, copy.deepcopy(store))
        if rec.method == "POST":
            cmd = rec.json or {}
            problem = self._validate_command(cmd, None)
            if problem is not None:
                return problem
            return _Response(201, copy.deepcopy(self._store_command(store, cmd, app_id, guild_id)))
        commands = rec.json or []
        if len(commands) > 100:
            return _form_error([], "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
        for i, cmd in enumerate(commands):
            problem = self._validate_command(cmd, i)
            if problem is not None:
                return problem
        old = list(store)
        store.clear()
        for cmd in commands:
            ctype = int(cmd.get("type", 1))
            prior = next((c for c in old if c["name"] == cmd["name"] and c["type"] == ctype), None)
            if prior is not None:
                store.append(prior)
            self._store_command(store, cmd, app_id, guild_id)
        return _Response(200, copy.deepcopy(store))

    async def _r_command(self, rec: RecordedRequest, app_id: str, command_id: str, guild_id: str | None = None) -> _Response:
        store = self._command_store(guild_id)
        cmd = next((c for c in store if c["id"] == command_id), None)
        if cmd is None or int(app_id) != self.application_id:
            return _error(404, 10063, "Unknown application command")
        if rec.method == "DELETE":
            store.remove(cmd)
            return _Response(204)
        return _Response(200, copy.deepcopy(cmd))
