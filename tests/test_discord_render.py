"""Discord rendering on its own: limits, sentence-boundary cuts and text that cannot ping."""

from __future__ import annotations

import pytest

from bot.discord.render import (
    ANSWER_LIMIT,
    CONTENT_LIMIT,
    DESCRIPTION_LIMIT,
    EMBEDS_TOTAL_LIMIT,
    MAX_FIELDS,
    TITLE_LIMIT,
    answer_message,
    clip,
    safe,
    safe_url,
    sources_message,
)
from index.models import Answer, Citation, Document, Span

SENTENCES = [
    "The U.S. delegation arrived on Friday.",
    "Mr. Xi said Beijing would provide Rmb26bn ($3.7bn) in financing.",
    "The summit ended on Saturday in Xi'an.",
]


def citation(quote: str, **kw) -> Citation:
    base = {
        "document": "d",
        "title": "A title",
        "source": "s",
        "paragraph": 3,
        "quote": quote,
        "score": 0.5,
    }
    return Citation(**{**base, **kw})


def embed_total(embed) -> int:
    return len(
        embed
    )  # discord.py counts what Discord counts: title, description, fields, footer, author


def test_clip_keeps_whole_sentences_and_marks_the_cut():
    text = " ".join(SENTENCES)
    assert clip(text, len(text)) == text
    cut = clip(text, len(text) - 5)
    assert cut == " ".join(SENTENCES[:2]) + " …"  # "U.S." and "Mr." are not sentence ends
    assert clip(text, 60) == SENTENCES[0] + " …"


def test_clip_cuts_a_single_long_sentence_between_words():
    text = "word " * 100 + "end."
    cut = clip(text, 50)
    assert len(cut) <= 50 and cut.endswith("word…") and "wor…" not in cut


@pytest.mark.parametrize("limit", [1, 2, 3, 10])
def test_clip_never_exceeds_tiny_limits(limit):
    assert len(clip("abcdefghijklmnopqrstuvwxyz " * 3, limit)) <= limit


def test_an_answer_with_everything_too_long_fits_every_limit():
    long_quote = " ".join(SENTENCES * 200)  # ~27,000 characters of whole sentences
    answer = Answer(
        question="why? " * 600,
        answered=True,
        answer="a very long answer sentence " * 200,
        citations=[citation(long_quote, title="T" * 400, url="https://example.com/a(b)")] * 30,
    )
    rendered = answer_message(answer)
    [embed] = rendered.embeds
    assert len(embed.title) <= TITLE_LIMIT
    assert len(embed.description) <= DESCRIPTION_LIMIT
    assert len(embed.fields) <= MAX_FIELDS and all(
        len(f.value) <= 1024 and len(f.name) <= 256 for f in embed.fields
    )
    assert embed_total(embed) <= EMBEDS_TOTAL_LIMIT
    assert len(rendered.plain) <= CONTENT_LIMIT
    # The short answer is capped, the quote is cut after a whole sentence, the source line stays.
    answer_line = embed.description.split("\n", 1)[0]
    assert len(answer_line) <= ANSWER_LIMIT + 4
    quote = embed.description.split("“", 1)[1].split("”", 1)[0]
    assert quote.endswith(". …") and long_quote.startswith(quote[: -len(" …")])
    assert embed.description.endswith("(https://example.com/a%28b%29), paragraph 3")
    assert rendered.plain.endswith(", paragraph 3")


def test_a_refusal_shows_only_the_closest_passage():
    answer = Answer(
        "q?", False, "", [citation("Closest."), citation("Other.")], refusal="not_in_documents"
    )
    [embed] = answer_message(answer).embeds
    assert "isn't in the documents" in embed.description and "Closest." in embed.description
    assert not embed.fields and "Other." not in embed.description
    empty = answer_message(Answer("q?", False, "", [], refusal="empty_index"))
    assert "No documents are indexed yet" in empty.plain


def test_mentions_and_markdown_in_text_are_neutralised():
    text = "@everyone @here <@123456789012345678> <@&123456789012345678> *bold* > quote"
    cleaned = safe(text)
    for raw in ("@everyone", "@here", "<@123456789012345678>", "<@&123456789012345678>", "*bold*"):
        assert raw not in cleaned
    assert "@\u200beveryone" in cleaned and "\\*bold\\*" in cleaned
    answer = Answer(text, True, text, [citation(text, title=text)])
    rendered = answer_message(answer)
    for part in (rendered.plain, rendered.embeds[0].title, rendered.embeds[0].description):
        assert "@everyone" not in part and "<@&123456789012345678>" not in part


def test_only_web_urls_become_links():
    assert safe_url("https://ft.com/x (1)") == "https://ft.com/x%20%281%29"
    assert safe_url("javascript:alert(1)") is None and safe_url("/home/me/doc.md") is None


def test_a_long_source_list_fits_and_counts_the_rest():
    documents = [
        Document(
            doc_id=f"d{i}",
            title=f"Document number {i} " + "x" * 60,
            source="s",
            text="t",
            paragraphs=[Span(0, 1)],
        )
        for i in range(400)
    ]
    rendered = sources_message(documents)
    assert (
        len(rendered.embeds[0].description) <= DESCRIPTION_LIMIT
        and len(rendered.plain) <= CONTENT_LIMIT
    )
    assert "**400 documents** indexed" in rendered.plain and "more." in rendered.plain
    assert "No documents are indexed yet" in sources_message([]).plain
