"""index/fetch.py against a real HTTP server on 127.0.0.1: types, limits, timeouts, and the
address guard on every hop; then CiteIndex.add_bytes keeping the index unchanged on failure."""

from __future__ import annotations

import pytest
import pytest_asyncio
from yarl import URL

import index.fetch as fetch
from index.engine import IngestError
from index.fetch import FetchError, document_name, fetch_url, refused_address
from tests.chat_documents import (
    LIGHTHOUSE,
    ORCHARD_FACT,
    ORCHARD_HTML,
    DocumentServer,
    pdf_bytes,
)


@pytest_asyncio.fixture
async def server():
    async with DocumentServer() as running:
        yield running


async def fetched(url: str, **kwargs):
    return await fetch_url(url, allow_private=True, **kwargs)


@pytest.mark.parametrize(
    "address, why",
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
        ("240.0.0.1", "reserved"),
    ],
)
def test_non_public_addresses_are_refused(address, why):
    assert why in refused_address(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
def test_public_addresses_pass(address):
    assert refused_address(address) is None


@pytest.mark.asyncio
async def test_html_pdf_text_and_markdown_come_back_with_a_name_for_their_parser(server):
    html = server.put("orchard", ORCHARD_HTML, "text/html; charset=utf-8")
    pdf = server.put("report", pdf_bytes("Tea Report\nThe harvest reached 300 tonnes."), "application/pdf")
    text = server.put("notes.txt", "Plain notes.", "text/plain")
    markdown = server.put("guide", LIGHTHOUSE, "text/markdown")
    unlabelled = server.put("handbook.md", LIGHTHOUSE, None)

    assert (await fetched(html)).name == "orchard.html"
    assert (await fetched(pdf)).name == "report.pdf"
    assert (await fetched(pdf)).data.startswith(b"%PDF-")
    assert (await fetched(text)).name == "notes.txt"
    assert (await fetched(markdown)).name == "guide.md"
    assert (await fetched(unlabelled)).name == "handbook.md"


def test_document_names_follow_the_declared_type():
    assert document_name(URL("https://example.com/"), "text/html") == "example.com.html"
    assert document_name(URL("https://example.com/a/page.php"), "text/html") == "page.php.html"
    assert document_name(URL("https://example.com/a/report.pdf"), "application/pdf") == "report.pdf"
    assert document_name(URL("https://example.com/notes.txt"), "text/html") == "notes.html"


@pytest.mark.asyncio
async def test_a_declared_charset_is_honoured_for_text(server):
    url = server.put("latin", "Caf\u00e9 notes.".encode("latin-1"), "text/plain; charset=iso-8859-1")
    assert (await fetched(url)).data == "Caf\u00e9 notes.".encode()


@pytest.mark.asyncio
async def test_unsupported_type_too_large_timeout_and_errors_are_one_line(server):
    image = server.put("photo", b"\x89PNG\r\n", "image/png")
    with pytest.raises(FetchError, match=r"unsupported type 'image/png'"):
        await fetched(image)
    unknown = server.put("blob", b"data", None)
    with pytest.raises(FetchError, match=r"unsupported type"):
        await fetched(unknown)
    big = server.put("big.txt", b"word " * 1000, "text/plain")
    with pytest.raises(FetchError, match=r"too large \(5,000 bytes; the limit is 1,000\)"):
        await fetched(big, max_bytes=1000)
    with pytest.raises(FetchError, match=r"timed out after 0.3 seconds"):
        await fetched(server.url("/slow"), timeout=0.3)
    with pytest.raises(FetchError, match=r"the server answered 404"):
        await fetched(server.url("/doc/missing"))
    with pytest.raises(FetchError, match=r"only http:// and https://"):
        await fetched("file:///etc/passwd")
    with pytest.raises(FetchError, match=r"only http:// and https://"):
        await fetched("ftp://example.com/a.txt")


@pytest.mark.asyncio
async def test_a_body_longer_than_its_declared_length_is_cut_off_at_the_limit(server, monkeypatch):
    # A chunked response declares no length: the limit is enforced while reading.
    server.put("big.txt", b"word " * 100_000, "text/plain")
    url = server.url("/stream/big.txt")
    monkeypatch.setattr(fetch, "CHUNK", 1024)
    with pytest.raises(FetchError, match=r"too large \(over the limit of 10,000 bytes\)"):
        await fetched(url, max_bytes=10_000)


@pytest.mark.asyncio
async def test_loopback_is_refused_in_production_by_address_and_by_name(server):
    url = server.put("notes.txt", "Plain notes.", "text/plain")
    with pytest.raises(FetchError, match=r"refused: 127.0.0.1 is a loopback address"):
        await fetch_url(url)
    by_name = url.replace("127.0.0.1", "localhost")
    with pytest.raises(FetchError, match=r"refused: localhost is a loopback address"):
        await fetch_url(by_name)
    assert server.hits == []  # refused before any connection


@pytest.mark.asyncio
async def test_every_redirect_hop_is_checked(server, monkeypatch):
    """The first hop is allowed (the test server stands in for a public site); where it
    redirects to is checked again, by literal address and by name."""
    real = fetch.refused_address
    monkeypatch.setattr(fetch, "refused_address", lambda a: None if a == "127.0.0.1" else real(a))
    document = server.put("notes.txt", "Plain notes.", "text/plain")
    assert (await fetch_url(server.url(f"/redirect?to={document}"))).data == b"Plain notes."

    metadata = server.url("/redirect?to=http://169.254.169.254/latest/meta-data/")
    with pytest.raises(FetchError, match=r"169.254.169.254 is a link-local address"):
        await fetch_url(metadata)
    ipv6 = server.url("/redirect?to=http://[::1]:9/")
    with pytest.raises(FetchError, match=r"is a loopback address"):
        await fetch_url(ipv6)
    scheme = server.url("/redirect?to=file:///etc/passwd")
    with pytest.raises(FetchError, match=r"only http:// and https://"):
        await fetch_url(scheme)


@pytest.mark.asyncio
async def test_redirect_loops_end(server):
    with pytest.raises(FetchError, match=r"too many redirects \(more than 5\)"):
        await fetched(server.url("/loop"))
    assert server.hits == ["/loop"] * 6


# --- CiteIndex.add_bytes ---------------------------------------------------------------------------


def test_add_bytes_indexes_into_a_collection_and_replaces_by_source(fake_index):
    report = fake_index.add_bytes(
        ORCHARD_HTML.encode(), name="orchard.html", source="chat:garden:orchard",
        url="https://example.com/orchard", collection="garden",
    )
    [doc_id] = report.added
    document = next(d for d in fake_index.documents() if d.doc_id == doc_id)
    assert document.collection == "garden" and document.url == "https://example.com/orchard"
    assert document.title == "Quince orchard notes"
    answer = fake_index.ask(ORCHARD_FACT, collections=["garden"])
    assert answer.best.document == doc_id
    again = fake_index.add_bytes(
        ORCHARD_HTML.encode(), name="orchard.html", source="chat:garden:orchard", collection="garden"
    )
    assert again.unchanged == [doc_id]


@pytest.mark.parametrize(
    "data, name, reason",
    [
        (b"word " * 400, "big.txt", "too large"),
        (b"MZ\x90\x00", "tool.exe", "unsupported file type '.exe'"),
        (b"   \n  ", "empty.txt", "empty file"),
        (b"%PDF-1.4 this is not really a pdf", "broken.pdf", "unreadable PDF"),
        (b"\x89PNG\r\n\x1a\n....", "image.md", "binary file"),
        (b"<html><body><script>x()</script></body></html>", "blank.html", "no text found"),
    ],
)
def test_add_bytes_failures_leave_the_index_unchanged(isolated_home, fake_index, data, name, reason):
    index = fake_index
    index.max_bytes = 1000
    before = ([d.doc_id for d in index.documents()], index.store.load().documents.keys())
    pointer = sorted(p.name for p in (isolated_home / "index").iterdir())
    with pytest.raises(IngestError, match=reason):
        index.add_bytes(data, name=name, source=f"chat:default:{name}")
    assert ([d.doc_id for d in index.documents()], index.store.load().documents.keys()) == before
    assert sorted(p.name for p in (isolated_home / "index").iterdir()) == pointer
