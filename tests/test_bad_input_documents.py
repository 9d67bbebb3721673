"""Every kind of bad document is refused by ``CiteIndex.add`` with one clear reason naming the file,
and the index on disk and in memory is exactly what it was."""

from __future__ import annotations

import zlib

import pytest

from index.engine import CiteIndex, IngestError

# A 1x1 PNG: what a screenshot saved as "notes.txt" looks like.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00"
    b"\x00IEND\xaeB`\x82"
)


def blank_pdf() -> bytes:
    fpdf = pytest.importorskip("fpdf")
    pdf = fpdf.FPDF()
    pdf.add_page()
    pdf.rect(10, 10, 50, 50)  # a drawing, like a scanned page: something on it, but no text
    return bytes(pdf.output())


def text_pdf() -> bytes:
    fpdf = pytest.importorskip("fpdf")
    pdf = fpdf.FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, "Tea Report\nThe harvest in 2021 reached 300 tonnes.")
    return bytes(pdf.output())


def nested_html(depth: int) -> bytes:
    return ("<html><body>" + "<div>" * depth + "</div>" * depth + "</body></html>").encode()


# name, bytes (or a factory), words the one error must contain
BAD_DOCUMENTS = [
    ("empty.md", b"", "empty"),
    ("blank.txt", b" \n\t\n  ", "empty"),
    ("binary.txt", b"\x00\x01\x02\x03" * 64, "binary"),
    ("random.md", zlib.compress(b"x" * 4000) + b"\x00", "binary"),
    ("latin1.txt", "Café au lait, naïve façade.".encode("latin-1"), "not UTF-8"),
    ("utf16.md", "Tea grows in Kenya.".encode("utf-16"), "binary"),
    ("nested.html", lambda: nested_html(5000), "no text"),
    ("scanned.pdf", blank_pdf, "no text"),
    ("broken.pdf", b"%PDF-1.4\n this is not really a PDF", "unreadable PDF"),
    ("report.md", text_pdf, "rename it to .pdf"),  # a PDF with the wrong extension
    ("screenshot.txt", lambda: PNG, "PNG image"),
    ("image.png", lambda: PNG, "unsupported file type"),
]


def snapshot_of(index: CiteIndex, home) -> tuple[str, list[str], list[str]]:
    pointer = (home / "index" / "CURRENT").read_text()
    on_disk = sorted(d.doc_id for d in CiteIndex(home, embedder=index.embedder).documents())
    return pointer, on_disk, sorted(d.doc_id for d in index.documents())


@pytest.mark.parametrize(("name", "content", "reason"), BAD_DOCUMENTS, ids=[d[0] for d in BAD_DOCUMENTS])
def test_bad_document_gives_one_clear_error_and_leaves_the_index(
    fake_index, isolated_home, tmp_path, name, content, reason
):
    path = tmp_path / name
    path.write_bytes(content() if callable(content) else content)
    good = tmp_path / "good.md"
    good.write_text("# Good\n\nA fine paragraph about tea.\n")
    before = snapshot_of(fake_index, isolated_home)

    with pytest.raises(IngestError) as caught:
        fake_index.add([good, path])

    [error] = caught.value.errors  # the good file is fine; only the bad one is named
    assert name in error.source and reason.lower() in error.reason.lower(), str(error)
    assert "\n" not in str(error) and "Traceback" not in str(error)
    assert snapshot_of(fake_index, isolated_home) == before
    assert fake_index.ask("Rmb26bn financing support").citations  # still answers


def test_document_over_the_size_limit_is_refused_before_reading(isolated_home, fake_embedder, tmp_path):
    index = CiteIndex(isolated_home, embedder=fake_embedder, max_bytes=1024)
    huge = tmp_path / "huge.md"
    huge.write_text("# Huge\n\n" + "All work and no play. " * 1000)

    with pytest.raises(IngestError) as caught:
        index.add([huge])

    [error] = caught.value.errors
    assert "too large" in error.reason and "1,024" in error.reason
    assert not (isolated_home / "index" / "CURRENT").exists()
    assert index.documents() == []


def test_citebot_max_document_mb_is_the_limit(monkeypatch, isolated_home, tmp_path):
    from bot.runtime import open_index
    from bot.settings import get_settings

    monkeypatch.setenv("CITEBOT_MAX_DOCUMENT_MB", "0.001")
    monkeypatch.setenv("CITEBOT_EMBEDDER", "hashing")
    get_settings.cache_clear()
    index = open_index()
    huge = tmp_path / "huge.txt"
    huge.write_text("All work and no play. " * 100)
    with pytest.raises(IngestError) as caught:
        index.add([huge])
    assert "too large" in caught.value.errors[0].reason
    assert not (isolated_home / "index" / "CURRENT").exists()


def test_several_bad_files_are_each_named_once(fake_index, isolated_home, tmp_path):
    paths = []
    for name, content, _reason in BAD_DOCUMENTS[:6]:
        path = tmp_path / name
        path.write_bytes(content() if callable(content) else content)
        paths.append(path)
    before = snapshot_of(fake_index, isolated_home)
    with pytest.raises(IngestError) as caught:
        fake_index.add(paths)
    assert sorted(e.source.rsplit("/", 1)[-1] for e in caught.value.errors) == sorted(
        p.name for p in paths
    )
    assert snapshot_of(fake_index, isolated_home) == before
