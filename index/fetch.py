"""Download a document from a URL someone gave CiteBot, safely.

A chat user chooses the URL, so the bot must not become a way to reach what only it can reach:
every hop (the first request and each redirect) may go only to public addresses. Names are
checked where aiohttp resolves them, so the address vetted is the address connected to (no
window for a DNS answer to change in between); literal IP hosts, which aiohttp never resolves,
are checked before each request. Size, type and time are bounded too. No chat imports here.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from .documents import DEFAULT_MAX_BYTES, SUPPORTED_SUFFIXES
from .errors import DocumentError

DEFAULT_TIMEOUT = 20.0
MAX_REDIRECTS = 5
CHUNK = 64 * 1024
USER_AGENT = "CiteBot/0.1 (document fetcher)"

# What a server's Content-Type says the body is, as the parser (by suffix) that reads it.
SUFFIX_FOR_TYPE = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/x-markdown": ".md",
}
# Servers label files they know nothing about this way; then the URL's own suffix decides.
UNLABELLED = frozenset({"", "application/octet-stream", "binary/octet-stream"})
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class FetchError(DocumentError):
    """The URL gave no document; ``reason`` is one line fit to show the person who gave it."""


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    data: bytes
    content_type: str  # the media type the server declared ("" when none)
    name: str  # a file name for the document: its id and its parser (by suffix) come from it


def refused_address(address: str) -> str | None:
    """Why ``address`` may not be fetched from chat, or None when it is a public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    for label, flag in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),  # last: Python counts most of the above as private too
    ):
        if flag:
            return f"{label} address"
    if not ip.is_global:
        return "non-public address"
    return None


class _PublicOnlyResolver(AbstractResolver):
    """Resolves like aiohttp's default, then refuses a name with any non-public address."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            why = refused_address(result["host"])
            if why is not None:
                raise FetchError(host, f"refused: {host} is a {why}")
        return results

    async def close(self) -> None:
        await self._inner.close()


def _check_hop(url: URL, allow_private: bool) -> None:
    if url.scheme not in ("http", "https") or not url.host:
        raise FetchError(str(url), "only http:// and https:// links can be added")
    if allow_private:
        return
    try:
        why = refused_address(url.host)
    except ValueError:
        return  # a name: the resolver checks it on connect
    if why is not None:
        raise FetchError(str(url), f"refused: {url.host} is a {why}")


def document_name(url: URL, content_type: str) -> str:
    """A file name for what ``url`` served: its last path segment (or its host), with the suffix
    of its declared type when the path has no supported one."""
    segment = unquote(PurePosixPath(url.path).name) if url.path not in ("", "/") else ""
    stem = segment or (url.host or "document")
    suffix = SUFFIX_FOR_TYPE.get(content_type)
    if PurePosixPath(stem).suffix.lower() in SUPPORTED_SUFFIXES:
        if suffix is None or PurePosixPath(stem).suffix.lower() == suffix:
            return stem
        stem = PurePosixPath(stem).stem
    return stem + (suffix or "")


async def fetch_url(
    url: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_TIMEOUT,
    allow_private: bool = False,
    headers: dict[str, str] | None = None,
    check_type: bool = True,
) -> Fetched:
    """Download ``url`` (following up to :data:`MAX_REDIRECTS` redirects, each checked) within
    ``max_bytes`` and ``timeout`` seconds. Raises :class:`FetchError` with the reason.
    ``check_type=False`` leaves the type to the caller (a platform's file, named by its name)."""
    try:
        current = URL(url.strip())
    except (ValueError, TypeError) as exc:
        raise FetchError(url, "not a valid link") from exc
    connector = aiohttp.TCPConnector(
        resolver=None if allow_private else _PublicOnlyResolver(), use_dns_cache=False
    )
    session = aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout),
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        trust_env=False,  # a proxy would connect on our behalf, past the address checks
    )
    try:
        async with session:
            for _ in range(MAX_REDIRECTS + 1):
                _check_hop(current, allow_private)
                async with session.get(current, allow_redirects=False) as response:
                    if response.status in REDIRECTS and "Location" in response.headers:
                        current = current.join(URL(response.headers["Location"]))
                        continue
                    return await _read(response, current, max_bytes, check_type)
            raise FetchError(url, f"too many redirects (more than {MAX_REDIRECTS})")
    except FetchError:
        raise
    except TimeoutError as exc:
        raise FetchError(url, f"timed out after {timeout:g} seconds") from exc
    except aiohttp.InvalidURL as exc:
        raise FetchError(url, "not a valid link") from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise FetchError(url, f"unreachable ({type(exc).__name__})") from exc


async def _read(
    response: aiohttp.ClientResponse, url: URL, max_bytes: int, check_type: bool
) -> Fetched:
    source = str(url)
    if response.status >= 400:
        raise FetchError(source, f"unreadable (the server answered {response.status})")
    content_type = (response.content_type or "").lower()
    if response.headers.get("Content-Type") is None:
        content_type = ""
    name = document_name(url, content_type)
    if check_type and content_type not in SUFFIX_FOR_TYPE and not (
        content_type in UNLABELLED and PurePosixPath(name).suffix.lower() in SUPPORTED_SUFFIXES
    ):
        raise FetchError(
            source,
            f"unsupported type '{content_type or 'unknown'}' (supported: HTML, PDF, plain text, "
            "Markdown)",
        )
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise FetchError(source, f"too large ({declared:,} bytes; the limit is {max_bytes:,})")
    body = bytearray()
    async for chunk in response.content.iter_chunked(CHUNK):
        body.extend(chunk)
        if len(body) > max_bytes:
            raise FetchError(source, f"too large (over the limit of {max_bytes:,} bytes)")
    data = bytes(body)
    charset = (response.charset or "").lower()
    if name.endswith((".txt", ".md")) and charset and not re.fullmatch(r"utf-?8", charset):
        # The text parsers read UTF-8; a server's declared charset says how to get there.
        # Left as sent when it does not decode: the parser names the problem.
        with contextlib.suppress(LookupError, UnicodeDecodeError):
            data = data.decode(charset).encode("utf-8")
    return Fetched(url=source, data=data, content_type=content_type, name=name)
