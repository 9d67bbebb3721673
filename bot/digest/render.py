"""A :class:`~.content.Digest` as template variables, and as console text.

Each platform passes its own escaping (Slack's, Discord's) so that document and question text
is shown as written and pings no one; the platform modules (:mod:`.slack`, :mod:`.discord`) fit
the result into their message limits. Wording lives in ``prompts/<platform>/digest*.txt``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import datetime
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit

from ..templates import render
from .content import Digest, NewDocument, QuestionGroup
from .schedule import Schedule

QUESTION_LIMIT = 200
ANSWER_LIMIT = 300
TITLE_LIMIT = 200
QUOTES = "\"“‘'«„"

Escape = Callable[[str], str]


def shorten(text: str, limit: int) -> str:
    """One line, cut at a word boundary with "…" when longer than ``limit``."""
    return textwrap.shorten(" ".join(text.split()), width=limit, placeholder=" …") if text else ""


def long_date(moment: datetime) -> str:
    return f"{moment:%A} {moment.day} {moment:%B %Y}"


def short_time(moment: datetime) -> str:
    return f"{moment:%a} {moment.day} {moment:%b} {moment:%H:%M}"


def source_label(document: NewDocument) -> str:
    """Where a document came from, briefly: a web page's site, a file's name."""
    if document.url:
        return urlsplit(document.url).netloc or document.url
    return PurePath(document.source).name or document.source


def digest_variables(
    digest: Digest,
    *,
    escape: Escape,
    url: Callable[[str | None], str | None] = lambda value: value,
) -> dict[str, Any]:
    """Everything the digest templates use, with every user or document text escaped."""
    until = digest.until.astimezone(digest.zone)
    since = digest.since.astimezone(digest.zone)

    def question(group: QuestionGroup) -> dict[str, Any]:
        return {
            "question": escape(shorten(group.question, QUESTION_LIMIT)),
            "count": group.count,
            "answered": group.answered,
            "answer": escape(shorten(group.answer, ANSWER_LIMIT)),
        }

    return {
        "date": long_date(until),
        "since": short_time(since),
        "zone": digest.zone.key,
        "quiet": digest.quiet,
        "documents": [
            {
                "title": escape(shorten(d.title, TITLE_LIMIT)),
                "source": escape(source_label(d)),
                "url": url(d.url),
                "points": [
                    # A sentence that opens with its own quotation mark is not wrapped in another.
                    {
                        "text": escape(p.text),
                        "paragraph": p.paragraph,
                        "quoted": p.text[:1] in QUOTES,
                    }
                    for p in d.key_points
                ],
            }
            for d in digest.documents
        ],
        "documents_total": len(digest.documents),
        "hidden_documents": 0,
        "asked": digest.asked,
        "answered": digest.answered,
        "refused": digest.refused,
        "top": [question(g) for g in digest.top_questions],
        "unanswered": [question(g) for g in digest.unanswered],
        "hidden_unanswered": 0,
        "up": digest.thumbs_up,
        "down": digest.thumbs_down,
    }


def shown(variables: dict[str, Any], key: str, count: int) -> dict[str, Any]:
    """``variables`` with only the first ``count`` items of ``key`` (the rest counted as hidden)."""
    items = variables[key]
    hidden_key = "hidden_documents" if key == "documents" else f"hidden_{key}"
    return {
        **variables,
        key: items[:count],
        hidden_key: variables.get(hidden_key, 0) + len(items) - count,
    }


def console_digest(digest: Digest) -> str:
    """The digest for a terminal (``citebot digest preview``): everything, nothing escaped."""
    return render("console", "digest", **digest_variables(digest, escape=lambda text: text))


def status_variables(settings, now: datetime, when: Callable[[datetime, str], str]) -> dict[str, Any]:
    """The ``digest_status`` template's variables for a channel's digest settings (None: never
    set); ``when(moment, timezone)`` writes the next run the platform's way."""
    variables: dict[str, Any] = {"configured": settings is not None, "enabled": False}
    if settings is not None and settings.enabled:
        schedule = Schedule.parse(settings.at_time, settings.timezone)
        variables.update(
            enabled=True,
            schedule=schedule.describe(),
            post_empty=settings.post_empty,
            next_run=when(schedule.next_run(now), settings.timezone),
        )
    return variables
