"""Split a document into sentences that keep exact character offsets."""

from __future__ import annotations

from functools import lru_cache

from .models import Document, Sentence


@lru_cache(maxsize=1)
def _segmenter():
    # pysbd is a rule-based splitter tested on abbreviations, initials, decimals and quotes
    # ("U.S.", "Dr.", "3.7bn"), which a regex on ". " gets wrong; char_span gives offsets.
    import pysbd

    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def split_text(text: str) -> list[tuple[int, int]]:
    """Sentence ``(start, end)`` ranges of ``text``, whitespace trimmed, covering all of it."""
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
    if not ranges and text.strip():
        stripped = text.strip()
        start = text.find(stripped)
        ranges.append((start, start + len(stripped)))
    return ranges


def split_document(document: Document) -> list[Sentence]:
    sentences: list[Sentence] = []
    for number, paragraph in enumerate(document.paragraphs, start=1):
        body = document.text[paragraph.start : paragraph.end]
        for start, end in split_text(body):
            sentences.append(
                Sentence(document.doc_id, number, paragraph.start + start, paragraph.start + end)
            )
    return sentences
