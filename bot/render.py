"""Turn a plain :class:`~index.models.Answer` into the text a person sees on the console.

Platform renderers (Slack blocks, Discord embeds) sit beside this and use the same templates
folder with their own variants.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from index.models import Answer, Citation, Document

from .templates import render

PLATFORM = "console"


def most_that_fit(text: Callable[[int], str], total: int, limit: int) -> tuple[int, str]:
    """The largest ``n <= total`` with ``len(text(n)) <= limit`` (binary search: the length
    grows with ``n``), and its text; 0 items when even one is too long."""
    low, high = 0, total
    while low < high:
        middle = (low + high + 1) // 2
        if len(text(middle)) <= limit:
            low = middle
        else:
            high = middle - 1
    return low, text(low)


# Placeholders for the short answer's place in a quote: private-use characters, taken out of the
# document's own text first, so they survive escaping and cutting and are swapped for each
# platform's bold afterwards; one left unpaired by a cut is dropped.
ANSWER_MARKS = ("\ue000", "\ue001")
_MARKED = re.compile("\ue000([^\ue000\ue001]*)\ue001")
_NO_MARKS = str.maketrans("", "", "".join(ANSWER_MARKS))


def marked_quote(citation: Citation) -> str:
    """:meth:`Citation.display_quote` with the short answer between :data:`ANSWER_MARKS`."""
    before, answer, after = (part.translate(_NO_MARKS) for part in citation.quote_parts())
    body = f"{before}{ANSWER_MARKS[0]}{answer}{ANSWER_MARKS[1]}{after}" if answer else before
    ellipsis = "…"
    return f"{ellipsis if citation.clipped_start else ''}{body}{ellipsis if citation.clipped_end else ''}"


def bold_answer(text: str, open_mark: str, close_mark: str) -> str:
    """``text`` (from :func:`marked_quote`, escaped) with the answer between the platform's bold
    marks, spaces kept outside them (Markdown and mrkdwn ignore "* x*")."""

    def bold(match: re.Match) -> str:
        inner = match.group(1)
        core = inner.strip()
        if not core:
            return inner
        lead, trail = inner[: len(inner) - len(inner.lstrip())], inner[len(inner.rstrip()) :]
        return f"{lead}{open_mark}{core}{close_mark}{trail}"

    return _MARKED.sub(bold, text).translate(_NO_MARKS)


def answer_variables(answer: Answer) -> dict:
    best = answer.best
    return {
        "question": answer.question,
        "answer": answer.answer,
        "quote": bold_answer(marked_quote(best), "**", "**") if best else "",
        "title": best.title if best else "",
        "paragraph": best.paragraph if best else 0,
        "url": best.url if best else None,
        "document": best.document if best else "",
        "more": answer.citations[1:],
        "documents": "",
    }


def render_answer(answer: Answer, platform: str = PLATFORM) -> str:
    variables = answer_variables(answer)
    if answer.answered:
        # Only the quote is shown for a refused question; other passages would add noise.
        return render(platform, "answer", **variables)
    return render(platform, "no_answer", **variables)


def render_sources(documents: list[Document], platform: str = PLATFORM) -> str:
    rows = [
        {
            "doc_id": d.doc_id,
            "title": d.title,
            "paragraphs": len(d.paragraphs),
            "author": d.metadata.get("author", ""),
            "source": d.source,
            "url": d.url,
        }
        for d in documents
    ]
    return render(platform, "sources", documents=rows)


def render_help(platform: str = PLATFORM) -> str:
    return render(platform, "help")
