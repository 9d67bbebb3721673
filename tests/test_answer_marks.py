"""The short answer is marked inside its quote on every surface, and nothing in a document can
forge or break that mark."""

from __future__ import annotations

from bot.discord.render import answer_message as discord_answer
from bot.render import ANSWER_MARKS, bold_answer, marked_quote, render_answer
from bot.slack.render import answer_message as slack_answer
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


def test_placeholders_inside_the_document_cannot_forge_a_mark():
    forged = f"Costs {ANSWER_MARKS[0]}nothing{ANSWER_MARKS[1]} at all, Rmb26bn ($3.7bn) paid."
    text = bold_answer(marked_quote(_answer(forged).best), "*", "*")
    assert "*nothing*" not in text and "*Rmb26bn ($3.7bn)*" in text
    assert ANSWER_MARKS[0] not in text and ANSWER_MARKS[1] not in text


def test_a_cut_through_the_mark_leaves_no_stray_placeholder():
    marked = marked_quote(_answer().best)
    cut = marked[: marked.index(ANSWER_MARKS[1]) - 2]
    text = bold_answer(cut, "*", "*")
    assert ANSWER_MARKS[0] not in text and "*" not in text
