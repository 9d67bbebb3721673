"""The short answer is marked inside its quote on every surface, and nothing in a document can
forge or break that mark."""

from __future__ import annotations

from bot.discord.render import answer_message as discord_answer
from bot.render import marked_quote, render_answer
from bot.slack.render import answer_message as slack_answer
from bot.slack.text import escape
from index.models import Answer, Citation

SENTENCE = "Xi said Beijing would provide Rmb26bn ($3.7bn) in support."


def _answer(quote: str = SENTENCE, span: str = "Rmb26bn ($3.7bn)") -> Answer:
    at = quote.index(span)
    citation = Citation("ft", "Summit", "/ft.md", 6, quote, 0.9, start=100, end=100 + len(quote),
                        answer_start=100 + at, answer_end=100 + at + len(span))
    return Answer("how much?", True, span, [citation], reader="extractive")


def test_console_slack_and_discord_bold_the_span_inside_the_quote():
    answer = _answer()
    assert "provide **Rmb26bn ($3.7bn)** in support" in render_answer(answer)
    slack = slack_answer(answer, None)
    quotes = [b["text"]["text"] for b in slack["blocks"] if b["type"] == "section"]
    assert any("provide *Rmb26bn ($3.7bn)* in support" in q for q in quotes)
    discord = discord_answer(answer)
    assert "provide **Rmb26bn ($3.7bn)** in support" in discord.embeds[0].description
    assert "provide **Rmb26bn ($3.7bn)** in support" in discord.plain


def test_json_offsets_locate_the_span():
    data = _answer().best.to_json()
    start = data["answer_start"] - data["start"]
    assert data["quote"][start : start + len("Rmb26bn")] == "Rmb26bn"


def test_a_quote_without_a_span_is_shown_as_it_is():
    answer = _answer()
    answer.best.answer_start = answer.best.answer_end = None
    assert "**" not in render_answer(answer)
    assert SENTENCE in render_answer(answer)


def test_document_markup_around_the_span_is_escaped_not_bold():
    # A document's own asterisks cannot close the mark early or open another.
    text = "Costs *nothing* at all, <!channel> Rmb26bn ($3.7bn) paid *today."
    quote = marked_quote(_answer(text).best, escape, "*")
    assert "&lt;!channel&gt;" in quote and "*Rmb26bn ($3.7bn)*" in quote
    discord = discord_answer(_answer(text)).embeds[0].description
    assert r"\*nothing\*" in discord and "**Rmb26bn ($3.7bn)**" in discord


def test_spaces_stay_outside_the_marks():
    answer = _answer(span=" Rmb26bn ")
    assert "provide **Rmb26bn** ($3.7bn)" in render_answer(answer)
