"""Sentences keep offsets into the original text, so every quote is exactly the original."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from index.documents import load_document, parse_document
from index.sentences import split_document, split_text

from .conftest import ARTICLE


def test_abbreviations_and_amounts_do_not_split():
    text = "Dr. Smith met U.S. officials at 3 p.m. on Jan. 5. Beijing pledged $3.7bn. He left."
    pieces = [text[s:e] for s, e in split_text(text)]
    assert pieces == [
        "Dr. Smith met U.S. officials at 3 p.m. on Jan. 5.",
        "Beijing pledged $3.7bn.",
        "He left.",
    ]


def test_article_sentences_are_exact_slices_within_their_paragraph():
    document = load_document(ARTICLE)
    sentences = split_document(document)
    assert len(sentences) >= 26
    for sentence in sentences:
        paragraph = document.paragraphs[sentence.paragraph - 1]
        assert paragraph.start <= sentence.start < sentence.end <= paragraph.end
        text = document.text[sentence.start : sentence.end]
        assert text == text.strip() and text
    rmb = [s for s in sentences if "Rmb26bn" in document.text[s.start : s.end]]
    assert len(rmb) == 1 and rmb[0].paragraph == 6


words = st.text(alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "Zs")), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(st.lists(words, min_size=1, max_size=8))
def test_offsets_always_match_the_text(paragraphs):
    raw = "\n\n".join(paragraphs)
    if not raw.strip():
        return
    document = parse_document(raw.encode(), suffix=".txt", source="gen", doc_id="gen")
    previous_end = 0
    for sentence in split_document(document):
        assert sentence.start >= previous_end
        piece = document.text[sentence.start : sentence.end]
        assert piece and piece == piece.strip()
        previous_end = sentence.end
