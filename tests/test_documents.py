"""Cleaning turns real documents into quotable text and keeps the furniture as metadata."""

from __future__ import annotations

import pytest

from index.documents import load_document, parse_document
from index.errors import DocumentError

from .conftest import ARTICLE


@pytest.fixture(scope="module")
def article():
    return load_document(ARTICLE)


def test_headline_is_title_and_byline_gives_author_and_place(article):
    assert article.title == "Xi Jinping pushes Central Asian defence co-operation plan"
    assert article.doc_id == "ft-xi-central-asia-2023"
    assert article.metadata["author"] == "Joe Leahy"
    assert article.metadata["place"] == "Hong Kong"


def test_caption_and_copyright_are_metadata_not_text(article):
    assert article.metadata["caption"].startswith("Xi Jinping told the China-Central Asia Summit")
    assert "Shutterstock" in article.metadata["image_credit"]
    assert "Financial Times Limited 2023" in article.metadata["copyright"]
    assert "Shutterstock" not in article.text
    assert "All rights reserved" not in article.text
    assert "Additional reporting" not in article.text
    assert "Joe Leahy" not in article.text


def test_markdown_syntax_is_rendered_to_plain_text(article):
    assert "\\$" not in article.text and "Rmb26bn ($3.7bn)" in article.text
    assert "[" not in article.text and "](#)" not in article.text
    assert "Hosting his first in-person summit with leaders" in article.text
    assert "**" not in article.text and "---" not in article.text


def test_paragraph_broken_mid_sentence_is_rejoined(article):
    paragraphs = [article.text[p.start : p.end] for p in article.paragraphs]
    joined = [p for p in paragraphs if "has caused disquiet in the region" in p]
    assert len(joined) == 1
    assert not any(p.startswith("disquiet") for p in paragraphs)


def test_paragraph_offsets_and_numbering(article):
    assert len(article.paragraphs) == 19
    assert "Rmb26bn" in article.paragraph_text(6)
    for span in article.paragraphs:
        text = article.text[span.start : span.end]
        assert text == text.strip() and "\n" not in text


def test_plain_text_title_and_wrapped_lines(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("Tea harvest notes\n\nThe harvest reached\n300 tonnes in 2021.\n\nExports rose.\n")
    document = load_document(path)
    assert document.title == "Tea harvest notes"
    assert document.paragraph_text(1) == "The harvest reached 300 tonnes in 2021."
    assert document.paragraph_text(2) == "Exports rose."


def test_html_article_text_and_title(tmp_path):
    path = tmp_path / "page.html"
    body = "".join(
        f"<p>Paragraph {i} says the river Rhine carries {i * 10} barges every day past Basel.</p>"
        for i in range(1, 6)
    )
    path.write_text(
        "<html><head><title>Rhine traffic</title></head><body><nav>Home | About</nav>"
        f"<article><h1>Rhine traffic</h1>{body}</article><footer>Contact us</footer></body></html>"
    )
    document = load_document(path)
    assert document.title == "Rhine traffic"
    assert "carries 30 barges" in document.text
    assert "Contact us" not in document.text


def test_small_html_snippet_still_yields_text(tmp_path):
    path = tmp_path / "snippet.html"
    path.write_text("<p>The office opens at nine.</p>")
    assert "The office opens at nine." in load_document(path).text


def test_pdf_text_is_extracted(tmp_path):
    fpdf = pytest.importorskip("fpdf")
    pdf = fpdf.FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, "Tea Report\nThe harvest in 2021 reached 300 tonnes. Exports went to Kenya.")
    path = tmp_path / "report.pdf"
    path.write_bytes(bytes(pdf.output()))
    document = load_document(path)
    assert document.title == "Tea Report"
    assert "300 tonnes" in document.text


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.md", b"", "empty file"),
        ("blank.txt", b"   \n\n  ", "empty file"),
        ("binary.txt", b"\x00\x01\x02binary\x00", "binary file"),
        ("latin1.txt", "café crème".encode("latin-1"), "not UTF-8"),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "unreadable PDF"),
        ("notes.docx", b"PK\x03\x04", "unsupported file type"),
        ("only-furniture.md", b"---\n\n---\n", "no text found"),
    ],
)
def test_bad_files_give_one_clear_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DocumentError) as caught:
        load_document(path)
    assert reason in str(caught.value)
    assert name in str(caught.value)


def test_missing_file(tmp_path):
    with pytest.raises(DocumentError, match="no such file"):
        load_document(tmp_path / "nope.md")


def test_pdf_without_text(tmp_path):
    fpdf = pytest.importorskip("fpdf")
    pdf = fpdf.FPDF()
    pdf.add_page()
    path = tmp_path / "scan.pdf"
    path.write_bytes(bytes(pdf.output()))
    with pytest.raises(DocumentError, match="no text found"):
        load_document(path)


def test_too_large(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("word " * 1000)
    with pytest.raises(DocumentError, match="too large"):
        load_document(path, max_bytes=100)


def test_parse_document_hashes_content():
    a = parse_document(b"Alpha.", suffix=".txt", source="a", doc_id="a")
    b = parse_document(b"Beta.", suffix=".txt", source="b", doc_id="b")
    assert a.content_hash != b.content_hash and len(a.content_hash) == 64
