"""Documents from chat, for every platform: add a file or a URL, forget a document, list what a
channel sees, and bind a channel to collections.

Adapters (bot/slack/documents.py, bot/discord/cogs/documents.py) check who is an admin, fetch
the file's bytes from their platform and render the results; the rules live here. Every
failure is a :class:`DocumentRefused` whose message is one line to show as it is (after the
platform's escaping), and a failed add leaves the index exactly as it was.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from index.engine import DEFAULT_COLLECTION, IngestCancelled, IngestError
from index.errors import DocumentError
from index.fetch import fetch_url
from index.keypoints import key_points
from index.models import Document

from .service import AnswerService
from .settings import Settings

log = logging.getLogger("citebot.documents")

COLLECTION_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# Slack wraps a link as <https://…> or <https://…|label>; Discord users sometimes type <https://…>
# to stop an embed. Either way the address is what sits before any "|".
_LINK = re.compile(r"^<?(https?://[^\s|<>]+)(?:\|[^<>]*)?>?$", re.IGNORECASE)
_COLLECTION_FLAG = re.compile(r"(?:^|\s)--collection(?:=|\s+)(\S+)")


class DocumentRefused(Exception):
    """What went wrong, in one line for the person who asked."""


@dataclass(frozen=True)
class Added:
    doc_id: str
    title: str
    collection: str
    status: str  # "added", "replaced" or "unchanged"
    passages: int  # paragraphs indexed (each is searched, and quoted from by sentence)
    sentences: int
    url: str | None = None
    key_point: str = ""  # a representative sentence, exactly as in the document
    key_point_paragraph: int = 0


@dataclass(frozen=True)
class AddRequest:
    url: str | None
    collection: str | None


def parse_add(text: str) -> AddRequest:
    """``/add`` text: an optional link and an optional ``--collection NAME``, in any order."""
    text = text or ""
    collection = None
    flag = _COLLECTION_FLAG.search(text)
    if flag:
        collection = flag.group(1).strip("<>").lower()
        text = text[: flag.start()] + " " + text[flag.end() :]
    words = text.split()
    if not words:
        return AddRequest(None, collection)
    match = _LINK.match(words[0])
    if len(words) > 1 or not match:
        raise DocumentRefused(
            "Give one http:// or https:// link (or none, to add a file), optionally with "
            "--collection NAME."
        )
    return AddRequest(match.group(1), collection)


def check_collection_name(name: str) -> str:
    if not COLLECTION_NAME.fullmatch(name or ""):
        raise DocumentRefused(
            f"'{name}' is not a collection name: use 1-64 lower-case letters, digits, '-' or '_'."
        )
    return name


def parse_collection_names(text: str) -> list[str]:
    """``NAME[,NAME…]`` (commas or spaces) as checked names, without repeats."""
    names = [n for n in re.split(r"[,\s]+", (text or "").strip().lower()) if n]
    if not names:
        raise DocumentRefused("Name at least one collection, e.g. `use handbook`.")
    return list(dict.fromkeys(check_collection_name(n) for n in names))


class DocumentService:
    """Chat-facing document operations over the shared :class:`AnswerService`'s index and store."""

    def __init__(self, service: AnswerService, settings: Settings):
        self.service = service
        self.index = service.index
        self.state = service.state
        self.max_bytes = int(settings.max_document_mb * 1024 * 1024)
        self.fetch_timeout = settings.fetch_timeout
        self.allow_private = settings.fetch_allow_private
        # One ingest at a time: embedding takes the CPU, and the index writes one version after
        # another. Questions do not take this lock, so they keep being answered meanwhile.
        self._ingest = asyncio.Lock()

    # --- which collections -----------------------------------------------------------------------

    async def visible(self, platform: str, channel: str, *, direct: bool = False) -> list[str]:
        return await self.service.collections_for(platform, channel, direct=direct)

    async def target(
        self, platform: str, channel: str, requested: str | None, *, direct: bool = False
    ) -> str:
        """The collection an add in this channel writes to: the one it sees, or the one named
        among those it sees when it sees several."""
        visible = await self.visible(platform, channel, direct=direct)
        if requested is not None:
            check_collection_name(requested)
            if requested not in visible:
                raise DocumentRefused(
                    f"This channel does not see the collection '{requested}' (it sees: "
                    f"{', '.join(visible)}). Bind it first with `/collection use`."
                )
            return requested
        if len(visible) == 1:
            return visible[0]
        raise DocumentRefused(
            f"This channel sees several collections ({', '.join(visible)}): say which one with "
            "--collection NAME."
        )

    # --- adding ----------------------------------------------------------------------------------

    async def add_url(
        self, platform: str, channel: str, url: str, *, collection: str | None = None,
        direct: bool = False,
    ) -> Added:
        target = await self.target(platform, channel, collection, direct=direct)
        try:
            fetched = await fetch_url(
                url, max_bytes=self.max_bytes, timeout=self.fetch_timeout,
                allow_private=self.allow_private,
            )
        except DocumentError as exc:
            log.info("refused to add a URL in %s %s: %s", platform, channel, exc.reason)
            raise DocumentRefused(f"Couldn't add that link: {exc.reason}.") from exc
        return await self._ingest_bytes(
            fetched.data, name=fetched.name, source=f"chat:{target}:{fetched.url}",
            url=fetched.url, collection=target, what="that link",
        )

    async def add_file(
        self, platform: str, channel: str, data: bytes, filename: str, *,
        collection: str | None = None, direct: bool = False,
    ) -> Added:
        target = await self.target(platform, channel, collection, direct=direct)
        return await self._ingest_bytes(
            data, name=filename, source=f"chat:{target}:{filename}", url=None,
            collection=target, what=f"'{filename}'",
        )

    def too_large(self, size: int | None) -> bool:
        """Whether a file of ``size`` bytes is refused before it is even downloaded."""
        return size is not None and size > self.max_bytes

    def refuse_size(self, filename: str, size: int) -> DocumentRefused:
        return DocumentRefused(
            f"Couldn't add '{filename}': too large ({size:,} bytes; the limit is "
            f"{self.max_bytes:,})."
        )

    async def _ingest_bytes(
        self, data: bytes, *, name: str, source: str, url: str | None, collection: str, what: str
    ) -> Added:
        async with self._ingest:
            try:
                report = await asyncio.to_thread(
                    self.index.add_bytes, data, name=name, source=source, url=url,
                    collection=collection,
                )
            except IngestCancelled as exc:
                log.info("adding %s to %s stopped: shutting down", name, collection)
                raise DocumentRefused(
                    f"Couldn't add {what}: CiteBot is restarting; nothing was added, so please "
                    "add it again in a minute."
                ) from exc
            except IngestError as exc:
                reason = exc.errors[0].reason if exc.errors else str(exc)
                log.info("refused to add %s to %s: %s", name, collection, reason)
                raise DocumentRefused(f"Couldn't add {what}: {reason}.") from exc
            except Exception as exc:  # a parser failing its own way: still one line, index intact
                log.exception("adding %s to %s failed", name, collection)
                raise DocumentRefused(f"Couldn't add {what}: unreadable.") from exc
            return await asyncio.to_thread(self._describe, report, source)

    def _describe(self, report, source: str) -> Added:
        document = next(d for d in self.index.documents() if d.source == source)
        status = "unchanged" if report.unchanged else "replaced" if report.replaced else "added"
        snapshot = self.index.snapshot()
        points = key_points(snapshot, document.doc_id, count=1)
        sentences = sum(1 for s in snapshot.sentences if s.doc_id == document.doc_id)
        log.info("%s %s in collection %s", status, document.doc_id, document.collection)
        return Added(
            doc_id=document.doc_id,
            title=document.title,
            collection=document.collection,
            status=status,
            passages=len(document.paragraphs),
            sentences=sentences,
            url=document.url,
            key_point=points[0].text if points else "",
            key_point_paragraph=points[0].paragraph if points else 0,
        )

    # --- forgetting and listing ------------------------------------------------------------------

    async def sources(self, platform: str, channel: str, *, direct: bool = False) -> list[Document]:
        visible = await self.visible(platform, channel, direct=direct)
        return await asyncio.to_thread(self.index.documents, visible)

    async def forget(
        self, platform: str, channel: str, doc_id: str, *, direct: bool = False
    ) -> Document:
        """Remove ``doc_id`` if this channel sees it. A document of another collection gets the
        same answer as one that does not exist, so its name is not confirmed either."""
        doc_id = (doc_id or "").strip().strip("`")
        if not doc_id:
            raise DocumentRefused("Say which document to forget: its id, as `/sources` shows it.")
        async with self._ingest:
            visible = await self.sources(platform, channel, direct=direct)
            if doc_id not in {d.doc_id for d in visible}:
                raise DocumentRefused(
                    f"No document '{doc_id}' in this channel's collections; `/sources` lists them."
                )
            removed = await asyncio.to_thread(self.index.remove, doc_id)
        log.info("forgot %s from collection %s", removed.doc_id, removed.collection)
        return removed

    # --- binding ---------------------------------------------------------------------------------

    async def use_collections(
        self, platform: str, channel: str, names: list[str], *,
        may_take: Callable[[str], Awaitable[bool]] | None = None,
    ) -> list[str]:
        """Bind the channel to exactly ``names``. ``may_take(name)`` says whether this admin may
        take a collection already in use (a platform with many tenants keeps each to its own);
        None lets them."""
        if self.state is None:
            raise DocumentRefused("Collections need the state store, which is not configured.")
        for name in names:
            if (
                may_take is not None
                and name != DEFAULT_COLLECTION
                and await self._in_use(name)
                and not await may_take(name)
            ):
                raise DocumentRefused(
                    f"The collection '{name}' belongs to other channels; ask a CiteBot admin "
                    "(CITEBOT_ADMIN_IDS) or use `citebot collection bind`."
                )
        current = await asyncio.to_thread(self.state.channel_collections, platform, channel)
        # Unbind first: in between, the channel sees the shared default, never a union.
        for name in current:
            if name not in names:
                await asyncio.to_thread(self.state.unbind_collection, platform, channel, name)
        for name in names:
            await asyncio.to_thread(self.state.bind_collection, platform, channel, name)
        log.info("%s %s now sees %s", platform, channel, ", ".join(names))
        return names

    async def _in_use(self, name: str) -> bool:
        documents = await asyncio.to_thread(self.index.documents, [name])
        if documents:
            return True
        if self.state is None:
            return False
        bindings = await asyncio.to_thread(self.state.bindings)
        return any(collection == name for _, _, collection in bindings)

    async def bound(self, platform: str, channel: str) -> list[str]:
        """The collections bound to the channel ([] when none, or the store cannot say)."""
        if self.state is None:
            return []
        try:
            return await asyncio.to_thread(self.state.channel_collections, platform, channel)
        except Exception:  # showing the binding is a courtesy; answering is guarded elsewhere
            log.exception("could not read the collections of %s %s", platform, channel)
            return []

    async def channels_bound_to(self, platform: str, name: str) -> list[str]:
        if self.state is None:
            return []
        bindings = await asyncio.to_thread(self.state.bindings)
        return [c for p, c, n in bindings if p == platform and n == name]
