"""For any markdown or plain-text document, every sentence and every quote the answerer returns is
exactly the cleaned text at its offsets: the quote a reader sees is never reconstructed."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.embedders import HashingEmbedder
from index.engine import CiteIndex, IngestError
from index.sentences import split_document

EMBEDDER = HashingEmbedder()

word = st.one_of(
    st.text(st.characters(codec="utf-8", categories=("L", "N")), min_size=1, max_size=12),
    st.sampled_from(
        ["Rmb26bn", "$3.7bn", "U.S.", "Dr.", "e.g.", "3.5", "co-operation", "Xi'an", "“quoted”",
         "(aside)", "שלום", "مرحبا", "🙂", "&amp;", "&lt;b&gt;", "@everyone", "<!here>", "<@U1>"]
    ),
)
inline = st.one_of(
    word,
    word.map(lambda w: f"*{w}*"),
    word.map(lambda w: f"**{w}**"),
    word.map(lambda w: f"_{w}_"),
    word.map(lambda w: f"`{w}`"),
    word.map(lambda w: f"[{w}](https://example.com/{len(w)})"),
)
sentence = st.tuples(
    st.lists(inline, min_size=1, max_size=12).map(" ".join), st.sampled_from([".", "!", "?", "", "…", ":"])
).map("".join)
paragraph = st.tuples(
    st.sampled_from(["", "", "", "# ", "## ", "- ", "1. ", "> "]),
    st.lists(sentence, min_size=1, max_size=5).map(" ".join),
).map("".join)
document = st.tuples(
    st.sampled_from([".md", ".txt"]),
    st.lists(paragraph, min_size=1, max_size=8),
    st.sampled_from(["\n\n", "\n", "\r\n\r\n", "\n\n\n"]),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(document, st.data())
def test_every_sentence_and_quote_is_the_text_at_its_offsets(generated, data):
    suffix, paragraphs, separator = generated
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"generated{suffix}"
        path.write_text(separator.join(paragraphs), encoding="utf-8")
        index = CiteIndex(Path(folder) / "home", embedder=EMBEDDER)
        try:
            index.add([path])
        except IngestError as exc:
            # Only markup with no words left (e.g. a lone "#") may be refused, and clearly.
            [error] = exc.errors
            assert "no text" in error.reason or "empty" in error.reason, error.reason
            return
        [doc] = index.documents()

        for piece in split_document(doc):
            text = doc.text[piece.start : piece.end]
            span = doc.paragraphs[piece.paragraph - 1]
            assert span.start <= piece.start < piece.end <= span.end
            assert text and text == text.strip()

        words = doc.text.split()
        question = " ".join(data.draw(st.lists(st.sampled_from(words), min_size=1, max_size=6)))
        answer = index.ask(question, top=3)
        assert answer.citations
        for citation in answer.citations:
            assert citation.document == doc.doc_id
            assert doc.text[citation.start : citation.end] == citation.quote
            assert citation.quote.strip()
            assert citation.quote in doc.paragraph_text(citation.paragraph)
        if answer.answered and answer.answer:
            # The short answer is cut from the quoted sentence, or is that sentence.
            assert answer.answer in doc.text
