"""Turn a plain :class:`~index.models.Answer` into the text a person sees on the console.

Platform renderers (Slack blocks, Discord embeds) sit beside this and use the same templates
folder with their own variants.
"""

from __future__ import annotations

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


def marked_quote(citation: Citation, escape: Callable[[str], str] = str, bold: str = "**") -> str:
    """:meth:`Citation.display_quote` with the short answer between ``bold`` marks, each piece
    escaped on its own (so no text from the document can open or close the mark), spaces kept
    outside the marks (Markdown and mrkdwn ignore "* x*")."""
    before, answer, after = citation.quote_parts()
    core = answer.strip()
    if not core:
        return escape(citation.display_quote())
    lead, trail = answer[: len(answer) - len(answer.lstrip())], answer[len(answer.rstrip()) :]
    ellipsis = "…"
    return "".join((
        ellipsis if citation.clipped_start else "",
        escape(before + lead), bold, escape(core), bold, escape(trail + after),
        ellipsis if citation.clipped_end else "",
    ))


def answer_variables(answer: Answer) -> dict:
    best = answer.best
    return {
        "question": answer.question,
        "answer": answer.answer,
        "quote": marked_quote(best) if best else "",
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
