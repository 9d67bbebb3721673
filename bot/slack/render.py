"""Answers and notices as Slack messages: Block Kit plus the plain ``text`` fallback.

Every message stays inside Slack's limits (section text ≤ 3,000 characters, ≤ 50 blocks), so a
long passage is cut at a sentence boundary with "…" rather than making Slack reject the post.
Everything that came from a user or a document passes through :func:`text.escape` first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from index.models import Answer, Citation, Document
from index.sentences import split_text

from ..render import marked_quote
from ..templates import render
from .text import escape, to_plain

PLATFORM = "slack"
SECTION_LIMIT = 3000  # section text and context element text
MAX_BLOCKS = 50
FALLBACK_LIMIT = 3000  # Slack accepts 40,000 but notifications and screen readers want it short
TITLE_LIMIT = 200
ASKED_LIMIT = 500
ELLIPSIS = "…"

VOTE_UP = "citebot_vote_up"
VOTE_DOWN = "citebot_vote_down"
FEEDBACK_BLOCK = "citebot_feedback"
THANKS_BLOCK = "citebot_thanks"

Message = dict[str, Any]


# --- cutting to size -------------------------------------------------------------------------


def cut_words(text: str, limit: int) -> str:
    """``text`` if it fits, else its longest word-boundary prefix that fits with "…"."""
    text = text.strip()
    if len(text) <= limit:
        return text
    head = text[: max(limit - len(ELLIPSIS), 0)]
    if " " in head[1:]:
        head = head[: head.rindex(" ")]
    return head.rstrip(" ,;:") + ELLIPSIS


def cut_sentences(text: str, limit: int) -> str:
    """``text`` if it fits, else as many whole sentences as fit, then "…".

    Falls back to a word boundary when even the first sentence is too long.
    """
    text = text.strip()
    if len(text) <= limit:
        return text
    end = 0
    for stop in _sentence_ends(text[: max(limit, SECTION_LIMIT) + 1]):
        if stop + len(ELLIPSIS) + 1 > limit:
            break
        end = stop
    if end == 0:
        return cut_words(text, limit)
    return text[:end] + " " + ELLIPSIS


@lru_cache(maxsize=32)
def _sentence_ends(prefix: str) -> list[int]:
    # Only a prefix is split (a quote can be a whole document) and its last piece may be where
    # the prefix was cut rather than a sentence end, so it never counts. Cached because fit()
    # tries several budgets on the same text and sentence splitting is the slow part.
    return [stop for _start, stop in split_text(prefix)[:-1]]


def fit(build: Callable[[str], str], raw: str, limit: int, cut: Callable[[str, int], str]) -> str:
    """``build(escape(cut(raw, n)))`` for the largest ``n`` whose result is within ``limit``.

    Escaping lengthens text ("&" → "&amp;") and templates add their own words, so the budget for
    ``raw`` is found by shrinking until the finished string fits.
    """
    budget = limit
    while True:
        piece = cut(raw, budget)
        result = build(escape(piece))
        if len(result) <= limit or budget <= 1:
            return result[:limit]
        # Every budget down to len(piece) cuts at the same sentence or word, so jump below it:
        # stepping one character at a time re-split a long quote hundreds of times.
        budget = max(min(len(piece) - 1, budget * limit // len(result)), 1)


def safe_url(url: str | None) -> str | None:
    # Only web links become clickable; a local file path would be a dead link in Slack.
    if not url or not url.lower().startswith(("http://", "https://")):
        return None
    # Slack's <url|label> ends at the first "|" or ">" and cannot span lines: percent-encode
    # everything but RFC 3986's reserved characters and "%" (an encoded URL keeps its meaning).
    encoded = quote(url, safe=":/?#[]@!$&'()*+,;=%~", errors="surrogatepass").replace("&", "&amp;")
    # Measured encoded (one character can become 9): a longer link would be cut mid-markup by
    # the block's length limit.
    return encoded if len(encoded) <= 2000 else None


# --- blocks ----------------------------------------------------------------------------------


def section(mrkdwn: str, block_id: str | None = None) -> dict:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}
    if block_id:
        block["block_id"] = block_id
    return block


def context(mrkdwn: str, block_id: str | None = None) -> dict:
    block: dict[str, Any] = {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn}]}
    if block_id:
        block["block_id"] = block_id
    return block


def feedback_buttons(question_id: int) -> dict:
    return {
        "type": "actions",
        "block_id": FEEDBACK_BLOCK,
        "elements": [
            {
                "type": "button",
                "action_id": VOTE_UP,
                "text": {"type": "plain_text", "text": "👍 Helpful", "emoji": True},
                "value": str(question_id),
            },
            {
                "type": "button",
                "action_id": VOTE_DOWN,
                "text": {"type": "plain_text", "text": "👎 Not helpful", "emoji": True},
                "value": str(question_id),
            },
        ],
    }


def phrase(name: str, **variables: Any) -> str:
    return render(PLATFORM, name, **variables)


def answer_message(answer: Answer, question_id: int | None, *, asked: str | None = None) -> Message:
    """The reply to a question. ``asked`` is the question as the user wrote it in Slack, shown
    where the question is not already in view (``/ask``, the shortcut)."""
    best = answer.best
    title = escape(cut_words(best.title, TITLE_LIMIT)) if best else ""
    paragraph = best.paragraph if best else 0
    blocks: list[dict] = []

    if asked:
        blocks.append(
            context(
                fit(lambda q: phrase("asked", question=q), to_plain(asked), ASKED_LIMIT, cut_words)
            )
        )
    if answer.answered:
        short = answer.answer or (best.quote if best else "")
        blocks.append(
            section(fit(lambda a: phrase("answer", answer=a), short, SECTION_LIMIT, cut_words))
        )
    else:
        blocks.append(
            section(phrase("no_answer", refusal=answer.refusal or "", has_quote=best is not None))
        )
    if best:
        blocks.append(
            section(
                _quote_section(best)
            )
        )
        source = phrase("source", title=title, paragraph=paragraph, url=safe_url(best.url))
        blocks.append(context(source[:SECTION_LIMIT]))
    if question_id is not None:
        blocks.append(feedback_buttons(question_id))

    def fallback(quote: str) -> str:
        return phrase(
            "fallback",
            answered=answer.answered,
            refusal=answer.refusal or "",
            answer=escape(cut_words(answer.answer, 500)),
            quote=quote,
            title=title,
            paragraph=paragraph,
        )

    text = fit(fallback, best.display_quote() if best else "", FALLBACK_LIMIT, cut_sentences)
    return {"text": text, "blocks": blocks[:MAX_BLOCKS]}


def _quote_section(citation: Citation) -> str:
    # A quote is at most 400 characters, so with its answer in bold it fits; should it not, the
    # plain quote is cut to size instead (a cut could split the bold marks).
    marked = phrase("quote", quote=marked_quote(citation, escape, "*"))
    if len(marked) <= SECTION_LIMIT:
        return marked
    return fit(lambda q: phrase("quote", quote=q), citation.display_quote(), SECTION_LIMIT, cut_sentences)


def notice(mrkdwn: str) -> Message:
    """A short message of our own wording (help, usage, errors): one section, same text."""
    mrkdwn = _within(mrkdwn.strip())
    return {"text": mrkdwn, "blocks": [section(mrkdwn)]}


def template_notice(name: str, **variables: Any) -> Message:
    return notice(phrase(name, **variables))


def _within(mrkdwn: str) -> str:
    if len(mrkdwn) <= SECTION_LIMIT:
        return mrkdwn
    head = mrkdwn[: SECTION_LIMIT - len(ELLIPSIS) - 1]
    if "\n" not in head:
        return cut_words(mrkdwn, SECTION_LIMIT)
    # Cut at a line so a list item or a link is never split in half.
    return head[: head.rfind("\n")] + "\n" + ELLIPSIS


def sources_message(documents: Iterable[Document]) -> Message:
    rows = [
        {
            "title": escape(cut_words(d.title, TITLE_LIMIT)),
            "url": safe_url(d.url),
            "paragraphs": len(d.paragraphs),
            "author": escape(d.metadata.get("author", "")),
            "doc_id": escape(d.doc_id),  # what /forget takes
        }
        for d in documents
    ]
    return notice(phrase("sources", documents=rows))


def with_thanks(blocks: list[dict], up: int | None, down: int | None) -> list[dict]:
    """The answer's blocks with the thank-you line (and current tally) under the buttons."""
    kept = [b for b in blocks if b.get("block_id") != THANKS_BLOCK]
    thanks = context(phrase("thanks", up=up, down=down), block_id=THANKS_BLOCK)
    at = next((i + 1 for i, b in enumerate(kept) if b.get("block_id") == FEEDBACK_BLOCK), len(kept))
    return (kept[:at] + [thanks] + kept[at:])[:MAX_BLOCKS]
