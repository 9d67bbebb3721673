"""Documents from Slack: ``/add``, the *Add to CiteBot* message shortcut, ``/forget`` and
``/collection``.

Slash commands carry no files, so ``/add`` without a link takes the newest file the person
shared in the same conversation (read with ``conversations.history``, which needs no state of
ours and works on every replica). The shortcut takes the files of the message it is used on.
Files are downloaded from ``url_private_download`` with the bot token (``files:read``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from index.errors import DocumentError
from index.fetch import fetch_url

from ..documents import (
    Added,
    DocumentRefused,
    DocumentService,
    parse_add,
    parse_collection_names,
)
from . import render
from .listeners import PLATFORM, Listeners
from .render import Message, cut_words
from .text import escape

log = logging.getLogger("citebot.slack")

ADD_SHORTCUT_ID = "add_to_citebot"
# A quick add answers at once; past this the person sees "working on it…", updated when done.
WORKING_NOTICE_AFTER = 2.0
# How far back /add looks for the person's file: the latest messages of the conversation.
HISTORY_LIMIT = 50
KEY_POINT_LIMIT = 600


def added_message(added: Added) -> Message:
    return render.template_notice(
        "doc_added",
        status=added.status,
        title=escape(cut_words(added.title, render.TITLE_LIMIT)),
        url=render.safe_url(added.url),
        doc_id=escape(added.doc_id),
        collection=escape(added.collection),
        passages=added.passages,
        sentences=added.sentences,
        key_point=escape(cut_words(added.key_point, KEY_POINT_LIMIT)),
        paragraph=added.key_point_paragraph,
    )


def refused_message(error: DocumentRefused) -> Message:
    return render.notice(escape(str(error)))


class _CannotReadHistory(Exception):
    """CiteBot is not in the conversation, so it cannot see the file that was shared there."""


class DocumentListeners:
    """Admin document commands; who is an admin and how replies travel are :class:`Listeners`'."""

    def __init__(self, documents: DocumentService, listeners: Listeners):
        self.documents = documents
        self.listeners = listeners

    def register(self, app: AsyncApp) -> None:
        app.command("/add")(self.on_add)
        app.command("/forget")(self.on_forget)
        app.command("/collection")(self.on_collection)
        app.shortcut(ADD_SHORTCUT_ID)(self.on_add_shortcut)

    # --- /add and the shortcut ---------------------------------------------------------------

    async def on_add(self, ack: Callable, command: dict, client: AsyncWebClient) -> None:
        await ack()
        channel, user = command["channel_id"], command["user_id"]
        url = command.get("response_url")
        if not await self.listeners.is_admin(client, user):
            log.info("refused /add in %s: not an admin", channel)
            await self.listeners.respond(url, render.template_notice("doc_not_admin"))
            return
        try:
            request = parse_add(command.get("text", ""))
        except DocumentRefused as exc:
            await self.listeners.respond(url, refused_message(exc))
            return
        if request.url is not None:
            work = self.documents.add_url(
                PLATFORM, channel, request.url, collection=request.collection
            )
            await self._with_progress(url, work, what=escape(request.url))
            return
        try:
            files = await self._latest_files(client, channel, user)
        except _CannotReadHistory:
            await self.listeners.respond(url, render.template_notice("doc_not_in_channel"))
            return
        if files is None:
            await self.listeners.respond(url, render.template_notice("doc_no_file"))
            return
        for file in files:
            await self._add_file(client, url, channel, file, request.collection)

    async def on_add_shortcut(self, ack: Callable, shortcut: dict, client: AsyncWebClient) -> None:
        await ack()
        channel, user = shortcut["channel"]["id"], shortcut["user"]["id"]
        url = shortcut.get("response_url")
        if not await self.listeners.is_admin(client, user):
            log.info("refused Add to CiteBot in %s: not an admin", channel)
            await self.listeners.respond(url, render.template_notice("doc_not_admin"))
            return
        files = (shortcut.get("message") or {}).get("files") or []
        if not files:
            await self.listeners.respond(url, render.template_notice("doc_no_file"))
            return
        for file in files:
            await self._add_file(client, url, channel, file, None)

    async def _latest_files(
        self, client: AsyncWebClient, channel: str, user: str
    ) -> list[dict] | None:
        try:
            history = await client.conversations_history(channel=channel, limit=HISTORY_LIMIT)
        except SlackApiError as exc:
            error = exc.response.get("error")
            log.warning("conversations.history in %s failed: %s", channel, error)
            if error in ("not_in_channel", "channel_not_found"):
                # The file may well be there: CiteBot just isn't a member, so say how to fix that.
                raise _CannotReadHistory from exc
            return None
        for message in history.get("messages") or []:  # newest first
            if message.get("user") == user and message.get("files"):
                return message["files"]
        return None

    async def _add_file(
        self, client: AsyncWebClient, url: str | None, channel: str, file: dict,
        collection: str | None,
    ) -> None:
        name = file.get("name") or file.get("title") or "file"

        async def work() -> Added:
            data = await self._download(client, file, name)
            return await self.documents.add_file(
                PLATFORM, channel, data, name, collection=collection
            )

        await self._with_progress(url, work(), what=f"*{escape(name)}*")

    async def _download(self, client: AsyncWebClient, file: dict, name: str) -> bytes:
        if self.documents.too_large(file.get("size")):
            raise self.documents.refuse_size(name, file["size"])
        link = file.get("url_private_download") or file.get("url_private")
        if not link or not _is_slack_host(link, client.base_url):
            # The bot token goes with the download: only ever to Slack itself.
            raise DocumentRefused(f"Couldn't add '{name}': Slack gave no download link for it.")
        try:
            fetched = await fetch_url(
                link,
                max_bytes=self.documents.max_bytes,
                timeout=self.documents.fetch_timeout,
                allow_private=True,  # Slack's own file host, not an address a user chose
                headers={"Authorization": f"Bearer {client.token}"},
                check_type=False,
            )
        except DocumentError as exc:
            raise DocumentRefused(f"Couldn't add '{name}': {exc.reason}.") from exc
        if fetched.content_type == "text/html" and not name.lower().endswith((".html", ".htm")):
            # Slack answers a download it won't authorise with its sign-in page and a 200.
            raise DocumentRefused(
                f"Couldn't add '{name}': Slack refused the download (does the app have the "
                "files:read scope?)."
            )
        return fetched.data

    async def _with_progress(
        self, url: str | None, work: Awaitable[Added], *, what: str
    ) -> None:
        """Reply with the outcome of ``work``; if it takes a while, say so first, then replace
        that note with the outcome."""
        task = asyncio.ensure_future(work)
        done, _ = await asyncio.wait({task}, timeout=WORKING_NOTICE_AFTER)
        working = not done
        if working:
            await self.listeners.respond(url, render.template_notice("doc_working", what=what))
        try:
            message = added_message(await task)
        except DocumentRefused as exc:
            message = refused_message(exc)
        except Exception:
            log.exception("adding a document from Slack failed")
            message = render.template_notice("error")
        await self.listeners.respond(url, message, replace_original=True if working else None)

    # --- /forget and /collection -------------------------------------------------------------

    async def on_forget(self, ack: Callable, command: dict, client: AsyncWebClient) -> None:
        await ack()
        channel, user = command["channel_id"], command["user_id"]
        url = command.get("response_url")
        if not await self.listeners.is_admin(client, user):
            log.info("refused /forget in %s: not an admin", channel)
            await self.listeners.respond(url, render.template_notice("doc_not_admin"))
            return
        try:
            removed = await self.documents.forget(PLATFORM, channel, command.get("text", ""))
        except DocumentRefused as exc:
            await self.listeners.respond(url, refused_message(exc))
            return
        await self.listeners.respond(
            url,
            render.template_notice(
                "doc_forgotten",
                title=escape(cut_words(removed.title, render.TITLE_LIMIT)),
                doc_id=escape(removed.doc_id),
                collection=escape(removed.collection),
            ),
        )

    async def on_collection(self, ack: Callable, command: dict, client: AsyncWebClient) -> None:
        words = (command.get("text") or "").split(maxsplit=1)
        sub = words[0].lower() if words else "show"
        channel = command["channel_id"]
        is_dm = channel.startswith("D")
        if sub in ("show", "status"):
            await ack()
            await self._show_collections(command.get("response_url"), channel, is_dm)
        elif sub == "use":
            await ack()
            await self._use(client, command, words[1] if len(words) > 1 else "", is_dm)
        else:
            await ack(**render.template_notice("collection_usage"), response_type="ephemeral")

    async def _show_collections(self, url: str | None, channel: str, is_dm: bool) -> None:
        bound = [] if is_dm else await self.documents.bound(PLATFORM, channel)
        visible = await self.documents.visible(PLATFORM, channel)
        await self.listeners.respond(
            url,
            render.template_notice(
                "collection_status", is_dm=is_dm, bound=bound, visible=visible
            ),
        )

    async def _use(self, client: AsyncWebClient, command: dict, names_text: str, is_dm: bool) -> None:
        channel, user, url = command["channel_id"], command["user_id"], command.get("response_url")
        if is_dm:
            await self.listeners.respond(url, render.template_notice("collection_dm"))
            return
        if not await self.listeners.is_admin(client, user):
            log.info("refused /collection use in %s: not an admin", channel)
            await self.listeners.respond(url, render.template_notice("doc_not_admin"))
            return
        try:
            # One workspace per Slack install: its admins may use any of its collections.
            names = await self.documents.use_collections(
                PLATFORM, channel, parse_collection_names(names_text)
            )
        except DocumentRefused as exc:
            await self.listeners.respond(url, refused_message(exc))
            return
        except Exception:
            log.exception("could not bind %s to collections", channel)
            await self.listeners.respond(url, render.template_notice("error"))
            return
        await self.listeners.respond(url, render.template_notice("collection_set", names=names))


def _is_slack_host(link: str, api_url: str) -> bool:
    host = (urlsplit(link).hostname or "").lower()
    if host == "slack.com" or host.endswith(".slack.com"):
        return True
    return host == (urlsplit(api_url).hostname or "").lower()  # SLACK_API_URL's host (tests)

