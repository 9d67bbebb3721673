"""Load .md, .txt, .html and .pdf files into cleaned :class:`Document` objects.

Cleaning produces the text every quote is cut from, so it decides what a reader sees: markdown
syntax is rendered to plain text, the headline becomes the title, and furniture (kicker, byline,
image caption, copyright footer) goes to metadata so it is never quoted as an answer.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DocumentError
from .models import Document, Span

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf")
DEFAULT_MAX_BYTES = 20 * 1024 * 1024

_TERMINAL = tuple('.!?:;"”’)]…')
_COPYRIGHT = re.compile(r"(^|\s)(©|\(c\)|copyright\b)|all rights reserved", re.IGNORECASE)
_ADDITIONAL_REPORTING = re.compile(r"^(additional )?reporting by\b", re.IGNORECASE)
_WEEKDAY = r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"
# "in Hong Kong YESTERDAY", "in Brussels 3 May 2023": a place, then an optional dateline.
_BYLINE_REST = re.compile(
    r"^\s*(?:in|from)\s+(?P<place>[A-Z][\w'’.-]*(?:\s+[A-Z][a-z][\w'’.-]*)*)"
    rf"(?:\s+(?P<when>[A-Z]{{3,}}\b.*|\d.*|{_WEEKDAY}.*))?\s*$"
)
_BY_AUTHOR = re.compile(r"^by\s+(?P<author>[A-Z][\w'’.-]*(?:\s+(?:and\s+)?[A-Z][\w'’.-]*){0,5})$")


def document_id_for(path: Path) -> str:
    """A stable, readable id from the file name: ``FT Xi (2023).md`` -> ``ft-xi-2023``."""
    stem = unicodedata.normalize("NFKD", path.stem).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")
    return slug or "document"


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_document(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Document:
    """Read and clean one file; raises :class:`DocumentError` naming the file and the reason."""
    path = Path(path)
    source = str(path.resolve()) if path.exists() else str(path)
    if not path.exists():
        raise DocumentError(source, "no such file")
    if not path.is_file():
        raise DocumentError(source, "not a file")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentError(
            source, f"unsupported file type '{suffix or path.name}' (supported: .md, .txt, .html, .pdf)"
        )
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DocumentError(source, f"too large ({size:,} bytes; the limit is {max_bytes:,})")
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(source, f"unreadable ({exc.strerror or exc})") from exc
    return parse_document(data, suffix=suffix, source=source, doc_id=document_id_for(path))


def parse_document(
    data: bytes, *, suffix: str, source: str, doc_id: str, url: str | None = None
) -> Document:
    """Clean raw bytes of a given type; shared by files on disk, uploads and URLs. ``url`` is
    where the bytes were fetched from (None for a file), the only link the document gets."""
    if not data.strip():
        raise DocumentError(source, "empty file")
    if suffix == ".pdf":
        parsed = _parse_pdf(data, source)
    elif suffix in (".html", ".htm"):
        parsed = _parse_html(_decode(data, source, allow_declared_charset=True), source)
    else:
        text = _decode(data, source)
        parsed = _parse_markdown(text) if suffix in (".md", ".markdown") else _parse_plain(text)
    body = [p for p in parsed.paragraphs if p.strip()]
    if not body:
        raise DocumentError(source, "no text found")
    text, spans = _join_paragraphs(body)
    # A page's own og:url or canonical link says where it would like to be opened from, which
    # may be anywhere; the link shown with a quote is only where it was fetched from, or what
    # the operator gave (``index add --url``).
    parsed.metadata.pop("url", None)
    return Document(
        doc_id=doc_id,
        title=parsed.title or doc_id,
        source=source,
        url=url,
        text=text,
        paragraphs=spans,
        content_hash=content_hash(data),
        metadata={k: v for k, v in parsed.metadata.items() if v},
    )


@dataclass
class _Parsed:
    title: str = ""
    paragraphs: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


# Files that arrive with a text extension but are not text: name what they are, or the reader
# is told to "save it as UTF-8", which is no help for a PDF or a screenshot.
_MAGIC = {
    b"%PDF-": "a PDF file, not text; rename it to .pdf",
    b"\x89PNG": "binary file (a PNG image), not text",
    b"\xff\xd8\xff": "binary file (a JPEG image), not text",
    b"GIF8": "binary file (a GIF image), not text",
    b"PK\x03\x04": "binary file (a ZIP archive or Office document), not text",
}


def _decode(data: bytes, source: str, *, allow_declared_charset: bool = False) -> str:
    for magic, reason in _MAGIC.items():
        if data.startswith(magic):
            raise DocumentError(source, reason)
    if b"\x00" in data[:8192]:
        raise DocumentError(source, "binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if allow_declared_charset:
            declared = re.search(rb"charset=[\"']?([A-Za-z0-9_-]+)", data[:4096])
            if declared:
                try:
                    return data.decode(declared.group(1).decode("ascii"))
                except (LookupError, UnicodeDecodeError):
                    pass
        raise DocumentError(
            source, f"not UTF-8 text (invalid byte at position {exc.start}); save it as UTF-8"
        ) from exc


def _join_paragraphs(paragraphs: list[str]) -> tuple[str, list[Span]]:
    spans: list[Span] = []
    pieces: list[str] = []
    cursor = 0
    for paragraph in paragraphs:
        if pieces:
            pieces.append("\n\n")
            cursor += 2
        pieces.append(paragraph)
        spans.append(Span(cursor, cursor + len(paragraph)))
        cursor += len(paragraph)
    return "".join(pieces), spans


def _normalise_space(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _rejoin_broken(paragraphs: list[str]) -> list[str]:
    """Re-join a paragraph split mid-sentence (no closing punctuation, next starts lowercase)."""
    # Gathered and joined once: adding to a growing string would copy it for every line, which
    # for thousands of lowercase one-line paragraphs is quadratic.
    groups: list[list[str]] = []
    for paragraph in paragraphs:
        if groups and not groups[-1][-1].endswith(_TERMINAL) and paragraph[:1].islower():
            groups[-1].append(paragraph)
        else:
            groups.append([paragraph])
    return [" ".join(group) for group in groups]


# --- Markdown ------------------------------------------------------------------------------------


@dataclass
class _Block:
    kind: str  # "heading", "paragraph", "rule", "code"
    text: str
    level: int = 0
    emphasised: bool = False  # every visible character sits inside ** or *
    leading_strong: str = ""  # text of a bold run the block starts with (a byline's name)
    image_only: bool = False


def _markdown_blocks(source_text: str) -> list[_Block]:
    # markdown-it is a CommonMark parser: it resolves escapes (\$), links, emphasis and entities
    # the way renderers do, which no regex pass gets right.
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(source_text)
    blocks: list[_Block] = []
    pending: tuple[str, int] | None = None
    for token in tokens:
        if token.type == "heading_open":
            pending = ("heading", int(token.tag[1:]))
        elif token.type == "paragraph_open":
            pending = ("paragraph", 0)
        elif token.type == "hr":
            blocks.append(_Block("rule", ""))
        elif token.type in ("fence", "code_block"):
            blocks.append(_Block("code", token.content.rstrip("\n")))
        elif token.type == "inline" and pending is not None:
            kind, level = pending
            blocks.append(_inline_block(token.children or [], kind, level))
            pending = None
    return blocks


def _inline_block(children: list, kind: str, level: int) -> _Block:
    parts: list[str] = []
    emphasis_depth = 0
    all_emphasised = True
    leading_strong: list[str] = []
    leading_open = True
    saw_image = saw_other = False
    for child in children:
        kind_ = child.type
        if kind_ in ("strong_open", "em_open"):
            emphasis_depth += 1
        elif kind_ in ("strong_close", "em_close"):
            emphasis_depth -= 1
            if kind_ == "strong_close" and leading_strong:
                leading_open = False
        elif kind_ in ("text", "code_inline"):
            piece = child.content
            if piece.strip():
                saw_other = True
                if emphasis_depth == 0:
                    all_emphasised = False
                    leading_open = False
                elif leading_open:
                    leading_strong.append(piece)
            parts.append(piece)
        elif kind_ in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif kind_ == "image":
            saw_image = True
            parts.append(child.content)  # alt text
        # link_open/link_close: the link's text is kept by its text children; the target is dropped.
    text = _normalise_space("".join(parts))
    return _Block(
        kind,
        text,
        level=level,
        emphasised=all_emphasised and bool(text),
        leading_strong=_normalise_space("".join(leading_strong)),
        image_only=saw_image and not saw_other,
    )


def _byline(block: _Block) -> dict[str, str] | None:
    if block.kind != "paragraph" or len(block.text) > 160:
        return None
    if block.leading_strong and len(block.leading_strong.split()) <= 5:
        rest = block.text[len(block.leading_strong) :]
        match = _BYLINE_REST.match(rest)
        if match or not rest.strip():
            found = {"author": block.leading_strong}
            if match:
                found["place"] = match.group("place")
                if match.group("when"):
                    found["dateline"] = match.group("when").strip()
            return found
    match = _BY_AUTHOR.match(block.text)
    if match:
        return {"author": match.group("author")}
    return None


def _parse_markdown(source_text: str) -> _Parsed:
    blocks = _markdown_blocks(source_text)
    parsed = _Parsed()
    headings = [i for i, b in enumerate(blocks) if b.kind == "heading"]
    start = 0
    if headings:
        top_level = min(blocks[i].level for i in headings)
        title_at = next(i for i in headings if blocks[i].level == top_level)
        # Only a heading near the top is a headline; a document of sections keeps its headings.
        if title_at <= 3:
            parsed.title = blocks[title_at].text
            kickers = [b.text for b in blocks[:title_at] if b.kind == "paragraph" and len(b.text) < 80]
            if kickers:
                parsed.metadata["section"] = " / ".join(kickers)
            start = title_at + 1
            following = blocks[start] if start < len(blocks) else None
            if (
                following is not None
                and following.kind == "paragraph"
                and not following.text.endswith(_TERMINAL)
                and len(following.text) < 300
                and _byline(following) is None
            ):
                parsed.metadata["standfirst"] = following.text
                start += 1

    body: list[str] = []
    for block in blocks[start:]:
        text = block.text
        if block.kind == "rule" or not text:
            continue
        if block.kind == "heading":
            body.append(text)
            continue
        if block.image_only:
            parsed.metadata.setdefault("caption", text)
            continue
        if "author" not in parsed.metadata and not body:
            byline = _byline(block)
            if byline:
                parsed.metadata.update(byline)
                continue
        if block.emphasised and _ADDITIONAL_REPORTING.match(text):
            parsed.metadata["additional_reporting"] = text
            continue
        if _COPYRIGHT.search(text) and len(text) < 400:
            # "caption © credit" before the article starts; "Copyright ... All rights reserved" after.
            caption, sep, credit = text.partition("©")
            if sep and caption.strip() and not body:
                parsed.metadata["caption"] = caption.strip()
                parsed.metadata["image_credit"] = credit.strip()
            else:
                parsed.metadata["copyright"] = text
            continue
        body.append(text)
    parsed.paragraphs = _rejoin_broken(body)
    return parsed


# --- Plain text ----------------------------------------------------------------------------------


def _parse_plain(source_text: str) -> _Parsed:
    blocks = [_normalise_space(b) for b in re.split(r"\n\s*\n", source_text.replace("\r\n", "\n"))]
    blocks = [b for b in blocks if b]
    parsed = _Parsed()
    if len(blocks) > 1 and len(blocks[0]) < 120 and not blocks[0].endswith((".", "!", "?")):
        parsed.title = blocks.pop(0)
    body = []
    for block in blocks:
        if _COPYRIGHT.search(block) and len(block) < 200 and block is blocks[-1]:
            parsed.metadata["copyright"] = block
        else:
            body.append(block)
    parsed.paragraphs = _rejoin_broken(body)
    return parsed


# --- HTML ----------------------------------------------------------------------------------------


def _parse_html(html: str, source: str) -> _Parsed:
    if _too_deep(html):
        return _parse_deep_html(html, source)
    # trafilatura finds the article body in a real page (skipping navigation, ads, footers),
    # which is exactly the part worth quoting.
    try:
        import trafilatura

        extracted = trafilatura.bare_extraction(
            html, with_metadata=True, include_comments=False, favor_recall=True
        )
    except ImportError as exc:  # lxml_html_clean (lxml's cleaner, a separate package since 5.2)
        raise DocumentError(
            source, f"HTML support is not installed (missing module '{exc.name}'); reinstall CiteBot"
        ) from exc
    parsed = _Parsed()
    text = getattr(extracted, "text", None) if extracted is not None else None
    if extracted is not None:
        parsed.title = _normalise_space(getattr(extracted, "title", None) or "")
        for key in ("author", "date", "sitename", "url", "description"):
            value = getattr(extracted, key, None)
            if value:
                parsed.metadata[key] = _normalise_space(str(value))
    if not text:
        text = _html_text_fallback(html)
    if not text or not text.strip():
        raise DocumentError(source, "no text found")
    paragraphs = [_normalise_space(line) for line in text.split("\n")]
    paragraphs = [p for p in paragraphs if p and p != parsed.title]
    parsed.paragraphs = _rejoin_broken(paragraphs)
    return parsed


def _too_deep(html: str) -> bool:
    """libxml2 (under lxml, under trafilatura) stops building the tree at 256 levels of nesting
    and drops everything deeper without raising; its error log is the only sign."""
    import lxml.html

    parser = lxml.html.HTMLParser()
    try:
        lxml.html.fromstring(html, parser=parser)
    except (ValueError, lxml.etree.ParserError):
        return False
    return any(e.type_name == "ERR_RESOURCE_LIMIT" for e in parser.error_log)


_BLOCK_TAGS = frozenset(
    "p div li ul ol h1 h2 h3 h4 h5 h6 td th tr pre blockquote br section article header footer "
    "main table dd dt figcaption".split()
)
_SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template", "head"})


def _parse_deep_html(html: str, source: str) -> _Parsed:
    """Text of a page nested too deeply for lxml, read by the standard library's streaming parser,
    which keeps no tree and so has no depth limit: each block element's text is a paragraph."""
    from html.parser import HTMLParser

    blocks: list[list[str]] = [[]]
    title: list[str] = []
    where = {"skip": 0, "title": False}

    class Reader(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "title":
                where["title"] = True
            elif tag in _SKIPPED_TAGS:
                where["skip"] += 1
            elif tag in _BLOCK_TAGS and blocks[-1]:
                blocks.append([])

        def handle_endtag(self, tag):
            if tag == "title":
                where["title"] = False
            elif tag in _SKIPPED_TAGS:
                where["skip"] = max(0, where["skip"] - 1)
            elif tag in _BLOCK_TAGS and blocks[-1]:
                blocks.append([])

        def handle_data(self, data):
            if where["title"]:
                title.append(data)
            elif not where["skip"]:
                blocks[-1].append(data)

    reader = Reader(convert_charrefs=True)
    reader.feed(html)
    reader.close()
    parsed = _Parsed(title=_normalise_space("".join(title)))
    paragraphs = [_normalise_space("".join(block)) for block in blocks]
    paragraphs = [p for p in paragraphs if p and p != parsed.title]
    if not paragraphs:
        raise DocumentError(source, "no text found")
    parsed.paragraphs = _rejoin_broken(paragraphs)
    return parsed


def _html_text_fallback(html: str) -> str:
    """Short pages (a snippet, a table of facts) that trafilatura declines to call an article."""
    import lxml.html

    try:
        root = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return ""
    for bad in root.xpath("//script|//style|//noscript"):
        bad.drop_tree()
    blocks = root.xpath("//p|//li|//h1|//h2|//h3|//h4|//td|//pre|//blockquote")
    texts = [_normalise_space(b.text_content()) for b in blocks] or [root.text_content()]
    return "\n".join(t for t in texts if t)


# --- PDF -----------------------------------------------------------------------------------------


def _parse_pdf(data: bytes, source: str) -> _Parsed:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError(source, "unreadable PDF (encrypted)")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else None) or ""
    except DocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise DocumentError(source, f"unreadable PDF ({exc.__class__.__name__})") from exc
    text = "\n\n".join(pages)
    if not text.strip():
        raise DocumentError(source, "no text found (a scanned PDF needs OCR first)")
    # A hyphen at a line end splits a word; a lone newline inside a paragraph is just wrapping.
    text = re.sub(r"(\w)-\n(\w)", r"\1\2", text)
    paragraphs = _pdf_paragraphs(text)
    parsed = _Parsed(title=_normalise_space(str(title)))
    if not parsed.title and paragraphs and len(paragraphs[0]) < 120:
        parsed.title = paragraphs[0]
        paragraphs = paragraphs[1:] or paragraphs
    parsed.paragraphs = _rejoin_broken(paragraphs)
    return parsed


def _pdf_paragraphs(text: str) -> list[str]:
    """PDF text has line breaks, not paragraphs: a line that stops well short of the full line
    width closes a paragraph (after a sentence) or is a heading of its own (without one)."""
    paragraphs: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        full = max(len(line) for line in lines)
        current: list[str] = []
        for line in lines:
            current.append(line)
            short = len(line) < 0.85 * full
            if short and (line.endswith((".", "!", "?", '"', "”")) or len(line) < 0.5 * full):
                paragraphs.append(" ".join(current))
                current = []
        if current:
            paragraphs.append(" ".join(current))
    return [_normalise_space(p) for p in paragraphs]
