"""Split a document into sentences that keep exact character offsets."""

from __future__ import annotations

import re
from functools import lru_cache

from .models import Document, Sentence

# pysbd's time grows with the square of the text it is given (25 KB: 0.75 s, 100 KB: 9 s), so a
# longer paragraph is read in windows of this many characters. At this size its time per MB is
# close to that for ordinary paragraphs (BENCHMARKS.md, "Ingest").
PIECE_CHARS = 2_000
_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _segmenter():
    # pysbd is a rule-based splitter tested on abbreviations, initials, decimals and quotes
    # ("U.S.", "Dr.", "3.7bn"), which a regex on ". " gets wrong; char_span gives offsets.
    import pysbd

    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def split_text(text: str) -> list[tuple[int, int]]:
    """Sentence ``(start, end)`` ranges of ``text``, whitespace trimmed, covering all of it.

    Time grows in step with the length: a long paragraph is read a window at a time. Every
    sentence but a window's last is kept as pysbd found it, with all the context before it (the
    window starts where a sentence starts); the last may run on past the window, so the next
    window starts with it."""
    ranges: list[tuple[int, int]] = []
    start = 0
    while len(text) - start > PIECE_CHARS:
        end = start + PIECE_CHARS
        found = _split_piece(text[start:end])
        if len(found) > 1:
            found = found[:-1]
            cut = start + found[-1][1]
        else:
            # One sentence longer than a window (no punctuation in sight): cut at a space.
            spaces = [m.start() for m in _SPACE.finditer(text, start + PIECE_CHARS // 2, end)]
            cut = spaces[-1] if spaces else end
            found = _trimmed(text[start:cut])
        ranges += [(start + a, start + b) for a, b in found]
        start = cut
    ranges += [(start + a, start + b) for a, b in _split_piece(text[start:])]
    return ranges


def _trimmed(text: str) -> list[tuple[int, int]]:
    stripped = text.strip()
    if not stripped:
        return []
    start = text.find(stripped)
    return [(start, start + len(stripped))]


def _split_piece(text: str) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    cursor = 0
    for span in _segmenter().segment(text):
        # Locate each segment from the cursor instead of trusting its offsets blindly: the
        # quote must be the original text, so the offsets are checked against it.
        piece = span.sent.strip()
        if not piece:
            continue
        start = text.find(piece, cursor)
        if start < 0:
            start = cursor
            piece = text[span.start : span.end].strip()
        end = start + len(piece)
        ranges.append((start, end))
        cursor = end
    return ranges or _trimmed(text)


def split_document(document: Document) -> list[Sentence]:
    sentences: list[Sentence] = []
    for number, paragraph in enumerate(document.paragraphs, start=1):
        body = document.text[paragraph.start : paragraph.end]
        for start, end in split_text(body):
            sentences.append(
                Sentence(document.doc_id, number, paragraph.start + start, paragraph.start + end)
            )
    return sentences
