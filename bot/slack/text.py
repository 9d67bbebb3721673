"""Slack's message markup, in and out.

In: Slack sends ``<@U123|ada>``, ``<!here>``, ``<https://x|label>`` and escapes ``& < >``; the
index wants the words a person sees. Out: whatever came from a user or a document is escaped so
Slack shows it as text. No ``<!channel>``, ``<@U…>`` or ``<!subteam^…>`` survives escaping, and a
bare "@here" gets a zero-width space, so not even a client that links names will notify anyone.
"""

from __future__ import annotations

import re

# Slack wraps every mention, link and special command in <...>; none contain a newline or '<'.
_MARKUP = re.compile(r"<([^<>\n]*)>")
# "@word" at the start of a word (not the middle of an e-mail address).
_AT_WORD = re.compile(r"(?<![\w.])@(?=\w)")
ZERO_WIDTH_SPACE = "\u200b"

_QUESTION_WORDS = frozenset(
    [
        "what",
        "when",
        "where",
        "who",
        "whom",
        "whose",
        "why",
        "how",
        "which",
        "is",
        "are",
        "was",
        "were",
        "do",
        "does",
        "did",
        "can",
        "could",
        "should",
        "would",
        "will",
        "has",
        "have",
        "had",
    ]
)
_LEAD_INS = frozenset({"and", "but", "so", "also", "ok", "okay", "then", "or", "hmm"})


def _plain_markup(match: re.Match[str]) -> str:
    target, _, label = match.group(1).partition("|")
    if target.startswith("@"):
        return "@" + (label or target[1:])
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("!"):
        name = target[1:]
        if name.startswith("subteam^"):
            name = label or name.split("^", 1)[1]
            return name if name.startswith("@") else "@" + name
        if name.startswith("date^"):
            return label
        return "@" + (label or name)
    return label or target


def to_plain(text: str) -> str:
    """What a person reads in a Slack message: mentions as ``@name``, links as their label."""
    text = _MARKUP.sub(_plain_markup, text or "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def strip_mention(text: str, user_id: str | None) -> str:
    """``text`` without mentions of ``user_id`` (the bot), as in "@CiteBot what is…"."""
    if not user_id:
        return text
    return re.sub(rf"<@{re.escape(user_id)}(?:\|[^>]*)?>", " ", text or "").strip()


def escape(text: str) -> str:
    """Plain text made safe to place in a Slack message: shown as written, pings no one."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return no_pings(text)


def no_pings(text: str) -> str:
    """Plain text whose "@word"s cannot notify anyone, for fields Slack shows as plain text
    (an assistant pane's suggested prompt), where entities like "&lt;" would show as typed."""
    return _AT_WORD.sub("@" + ZERO_WIDTH_SPACE, text)


def echo(slack_text: str) -> str:
    """User text from a Slack event, ready to quote back to the channel without pinging."""
    return escape(to_plain(slack_text))


def looks_like_question(text: str) -> bool:
    """Whether an unaddressed message reads as a question (a "?" or a question word first).

    Used only where nobody addressed CiteBot (thread follow-ups, answer-every-question channels)
    so that "thanks!" in a thread does not earn a "that isn't in the documents" reply.
    """
    if "?" in text:
        return True
    words = re.findall(r"[a-z']+", text.lower())
    while words and words[0] in _LEAD_INS:
        words.pop(0)
    return bool(words) and words[0] in _QUESTION_WORDS
