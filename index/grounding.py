"""Is a written answer grounded in the passages it cites?

An LLM's answer (index/llm_reader.py) is shown only when every number, amount, date, proper name
and link in it appears in the passages it cites, and CiteBot can find the sentence in them that
supports it. These are checks on the surface of the text: they catch a figure, a name or a link
the passages never gave; they cannot tell whether a sentence built from the passages' own words
says what the passages say (see README, "Answers written by a language model").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .search import terms
from .sentences import split_text

# --- numbers and amounts -------------------------------------------------------------------------

_SCALES = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "bn": 1e9,
           "billion": 1e9, "tn": 1e12, "trillion": 1e12, "hundred": 1e2}
_UNITS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9}
_WORD_NUMBERS = {
    # "one" is left out: it is a pronoun far more often than a figure.
    **{k: v for k, v in _UNITS.items() if k != "one"},
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "dozen": 12,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
_TENS_WORDS = re.compile(
    rf"\b({'|'.join(_TENS)})(?:[- ]({'|'.join(_UNITS)}))?\b", re.IGNORECASE
)
_NUMBER_WORDS = re.compile(rf"\b({'|'.join(_WORD_NUMBERS)})\b", re.IGNORECASE)
# Digits with thousands separators or a decimal part, and a scale written after them ("3.7bn",
# "3.7 billion", "26,000"): a currency sign or code before them is not part of the value, so
# "$3.7bn", "US$3.7bn" and "3.7bn" are one amount.
_NUMBER = re.compile(
    r"(?<![\d.,])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?"
    rf"(?:\s?({'|'.join(sorted(_SCALES, key=len, reverse=True))})(?![a-z]))?",
    re.IGNORECASE,
)


def _words_to_digits(text: str) -> str:
    text = _TENS_WORDS.sub(
        lambda m: str(_TENS[m[1].lower()] + (_UNITS[m[2].lower()] if m[2] else 0)), text
    )
    return _NUMBER_WORDS.sub(lambda m: str(_WORD_NUMBERS[m[1].lower()]), text)


def numbers(text: str) -> list[tuple[str, float]]:
    """Each figure in ``text`` as (what was written, its value): "$3.7bn" and "3.7 billion" are
    both 3.7e9, "26,000" is 26000, "five" is 5; a date gives its day and year."""
    found = []
    for match in _NUMBER.finditer(_words_to_digits(text)):
        whole, fraction, scale = match[1].replace(",", ""), match[2], match[3]
        value = float(f"{whole}.{fraction}" if fraction else whole)
        if scale:
            value *= _SCALES[scale.lower()]
        found.append((match[0], value))
    return found


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)


# --- names and links -----------------------------------------------------------------------------

_LINK = re.compile(r"(?:https?://|www\.)[^\s<>|\]\)]+|[\w.+-]+@[\w-]+\.[\w.]+", re.IGNORECASE)
_TOKEN = re.compile(r"(?<![\w'’-])\w[\w'’-]*", re.UNICODE)
# A currency code is part of an amount, which the figure check compares: "US$3.7bn" = "$3.7bn".
_CURRENCY = re.compile(
    r"\b(?:US|HK|A|C|NZ|S)\$|\b(?:USD|EUR|GBP|RMB|Rmb|CNY|JPY|INR|CHF)(?=\s?\d)", re.UNICODE
)
# A capital at the start of a sentence says nothing about whether a word is a name; these common
# openers of an answer are not checked there (elsewhere every capitalised word is).
_OPENERS = frozenset({"yes", "approximately", "roughly", "nearly", "just", "according", "some",
                      "over", "under", "about", "around", "only", "both", "in", "on", "at"})


def names(text: str) -> list[str]:
    """Capitalised words and acronyms in ``text`` (a possessive 's dropped), except a common
    word opening a sentence."""
    found = []
    text = _CURRENCY.sub(" ", _LINK.sub(" ", text))
    for match in _TOKEN.finditer(text):
        word = re.sub(r"['’]s$", "", match[0]).strip("'’-")
        if not word or not any(c.isupper() for c in word):
            continue
        before = text[: match.start()].rstrip(" \t\"'“‘(*_")
        opens = not before or before[-1] in ".!?:;\n"
        # terms() keeps no stop word: an opener it drops ("The", "It", "Both") is not a name.
        if opens and (not terms(word) or word.lower() in _OPENERS):
            continue
        found.append(word)
    return found


def links(text: str) -> list[str]:
    return [m[0].rstrip(".,;:!?'\"") for m in _LINK.finditer(text)]


def _contains_word(haystack: str, word: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word.casefold())}(?!\w)", haystack) is not None


# --- the check -----------------------------------------------------------------------------------


def unsupported(answer: str, evidence: str) -> list[str]:
    """What ``answer`` states that ``evidence`` (the cited passages) does not: each figure whose
    value it never gives, each name it never mentions (compared without case; a hyphenated name
    passes when each part is there), each link or address it does not hold. Empty: all found."""
    missing = []
    values = [value for _, value in numbers(evidence)]
    for written, value in numbers(answer):
        if not any(_same(value, other) for other in values):
            missing.append(written)
    folded = evidence.casefold()
    for name in names(answer):
        parts = [name, *name.split("-")] if "-" in name else [name]
        if not _contains_word(folded, parts[0]) and not (
            len(parts) > 1 and all(_contains_word(folded, p) for p in parts[1:] if p)
        ):
            missing.append(name)
    for link in links(answer):
        if link.casefold() not in folded:
            missing.append(link)
    return missing


# Text written to steer a language model rather than to inform a reader. A passage carrying it
# cannot be the support of an answer: a model that obeyed would cite it, and its own words would
# pass the check above.
_INSTRUCTIONS = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b.{0,40}\b(?:previous|prior|above|earlier|all|any|"
    r"your|system)\b.{0,20}\b(?:instructions?|prompts?|rules|directions|messages?)\b"
    r"|\b(?:you are now|act as|pretend to be|new instructions?|system prompt|"
    r"as an? (?:ai|language model|assistant))\b"
    r"|\b(?:answer|reply|respond|say|tell)\b.{0,30}\b(?:every|all|any) (?:questions?|users?)\b",
    re.IGNORECASE | re.DOTALL,
)


def instructs(text: str) -> bool:
    """Whether ``text`` holds instructions addressed to a language model."""
    return _INSTRUCTIONS.search(text) is not None


@dataclass(frozen=True)
class Support:
    """The sentence of one passage that best supports an answer: offsets into the passage."""

    passage: int  # index into the passages given
    start: int
    end: int


def supporting_sentence(answer: str, passages: Sequence[str], cited: Sequence[int]) -> Support | None:
    """The sentence of the ``cited`` passages sharing most with ``answer``: its figures and names
    first, then its words (stemmed, stop words aside). None when no sentence shares anything."""
    answer_values = [value for _, value in numbers(answer)]
    answer_names = {name.casefold() for name in names(answer)}
    answer_terms = set(terms(answer))
    best: tuple[float, Support] | None = None
    for number in cited:
        text = passages[number]
        for start, end in split_text(text):
            sentence = text[start:end]
            folded = sentence.casefold()
            figures = sum(any(_same(v, w) for _, w in numbers(sentence)) for v in answer_values)
            named = sum(_contains_word(folded, name) for name in answer_names)
            shared = len(answer_terms & set(terms(sentence)))
            score = 2.0 * (figures + named) + shared
            if score > 0 and (best is None or score > best[0]):
                best = (score, Support(number, start, end))
    return best[1] if best else None
