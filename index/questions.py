"""Question text as a reader sees it: what cannot be seen is not part of the question."""

from __future__ import annotations

import unicodedata

# Control characters (NUL, escapes), format characters (zero-width spaces and joiners, the
# right-to-left and isolate marks, the byte-order mark, soft hyphens) and lone surrogates: none
# is visible, so none should change how a question is read, or let one of them alone count as
# a question. Tabs and line breaks are spacing and become spaces.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs"})


def visible_text(text: str) -> str:
    """``text`` without invisible characters; whitespace kept as spaces."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in _INVISIBLE
    )
