"""Short-answer extraction: the amount, date, name or place in the answer sentence that the
question asks for.

No reader model ships on PyPI for our constraints, so this is typed candidate extraction: the
question's wording gives the answer type, patterns find candidates of that type in the sentence,
and the candidate nearest the question's own words wins. A candidate that only repeats the
question is never the answer. When nothing fits, the caller quotes the sentence instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from .search import terms


class AnswerType(StrEnum):
    MONEY = "money"
    QUANTITY = "quantity"
    DATE = "date"
    PERSON = "person"
    PLACE = "place"
    NAME = "name"  # who/which with no clearer type: any proper name
    NONE = "none"  # what/why/how-does: no short span to look for; the sentence answers


_SCALE = r"(?:bn|m|k|tn|trillion|billion|million|thousand|hundred)"
_CURRENCY_PREFIX = r"(?:US\$|A\$|C\$|HK\$|Rmb|RMB|USD|EUR|GBP|¥|€|£|\$)"
_NUMBER = r"\d+(?:,\d{3})*(?:\.\d+)?"
_MONEY = re.compile(
    rf"{_CURRENCY_PREFIX}\s?{_NUMBER}(?:\s?{_SCALE}\b)?"
    rf"|{_NUMBER}(?:\s?{_SCALE})?\s(?:dollars|pounds|euros|yuan|renminbi|rupees|yen)\b"
)
_MONEY_WORDS = re.compile(
    r"\b(?:money|cost|costs|pay|paid|spend|spent|invest\w*|price|worth|fund\w*|pledg\w*|"
    r"offer\w*|provid\w*|rais\w*|earn\w*|lend|lent|loan\w*|owe\w*|budget|financ\w*|"
    r"sell|sold|buy|bought|grant\w*|aid|donat\w*|revenue|profit|salary|fine|fined|dollars?|"
    r"pounds?|euros?|yuan|bn|billion|million)\b"
)
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    "sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
    "hundred|thousand|dozen|several|half"
)
_QUANTITY = re.compile(
    rf"(?<![\w.])\d+[–-]\d+(?![\w.])|(?<![\w.]){_NUMBER}(?:\s?(?:%|per ?cent|percent)|\s{_SCALE}\b|½|¼|¾)?"
    rf"|\b(?:{_NUMBER_WORDS})(?:[- ](?:{_NUMBER_WORDS}))*\b",
    re.IGNORECASE,
)
_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?"
)
_DATE = re.compile(
    rf"\b(?:\d{{1,2}}\s{_MONTH}(?:,?\s\d{{4}})?|{_MONTH}\s\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s\d{{4}})?"
    rf"|{_MONTH}\s\d{{4}}|(?:early |late |mid-)?(?:1[0-9]{{3}}|20[0-9]{{2}})s?(?:\s?(?:BC|AD|BCE|CE))?"
    r"|\d{1,2}(?:st|nd|rd|th)\scentury|(?:first|second|third|fourth|fifth|sixth|seventh|eighth|"
    r"ninth|tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|"
    r"eighteenth|nineteenth|twentieth|twenty-first)\scentury"
    r"|(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day|yesterday|today|last (?:year|week|month))\b"
)
# A run of capitalised words, allowing a few lower-case joiners inside a name ("Bank of England").
_PROPER = re.compile(
    r"\b[A-Z][\w'’.-]*[\w](?:\s(?:(?:of|the|de|da|van|von|del|la|and|for|al|bin|ibn)\s)*"
    r"[A-Z][\w'’.-]*[\w])*|\b[A-Z]\b"
)
_COMMON_STARTERS = {
    "The", "A", "An", "In", "On", "At", "For", "But", "And", "Or", "If", "As", "By", "It",
    "This", "That", "These", "Those", "He", "She", "They", "We", "I", "His", "Her", "Its",
    "Their", "Our", "While", "When", "After", "Before", "Since", "Such", "So", "There",
    "Some", "Many", "Most", "Both", "According", "However", "Although", "During", "From",
}
_ORGANISATION_WORDS = re.compile(
    r"\b(?:Center|Centre|Institute|University|College|Agency|Ministry|Department|Party|Bank|"
    r"Company|Corporation|Council|Committee|Commission|Union|Association|Society|Foundation|"
    r"Group|News|Times|Post|Press|Research|School|Museum|Church|Army|Police|Court|Parliament)\b"
)
# "Chinese city", "Russian influence": a nationality adjective, not a place or a person.
_DEMONYM = re.compile(r"(?:ese|ish|ian|ean|an|ic|i)$")
_PLACE_CUES = re.compile(
    r"(?:\b(?:in|at|from|to|near|into|across|outside|inside)\s+(?:the\s+)?"
    r"|\b(?:city|town|capital|province|region|country|village|state|port) of\s+)$"
)
_PERSON_CUES = re.compile(r"^\s*(?:,\s)?(?:said|told|says|stressed|added|,\s(?:a|an|the|who)\s)")


@dataclass(frozen=True)
class ShortAnswer:
    text: str
    start: int  # offsets relative to the sentence it came from
    end: int
    kind: AnswerType


@lru_cache(maxsize=4096)  # asked once to rank and again per leading candidate
def answer_type(question: str) -> AnswerType:
    q = " ".join(question.lower().split())
    if re.search(r"\bwhat (?:was the |is the )?(?:cost|price|sum|value)\b", q) or (
        re.search(r"\bhow much\b", q) and _MONEY_WORDS.search(q)
    ):
        return AnswerType.MONEY
    if re.match(r"(?i:who|what)\s+(?i:is|was|are|were)\s+[A-Z][\w'’.-]*\s*(?:[A-Z][\w'’.-]*\s*)*\??$",
                question.strip()):
        # "Who is Temur Umarov?" asks for a description, not for a name.
        return AnswerType.NONE
    if re.search(
        r"\bhow (?:much|many|long|far|old|large|big|tall|high|deep|wide|fast|often|heavy)\b"
        r"|\bwhat (?:number|percentage|proportion|share|fraction)\b"
        r"|\bwhat (?:was|is|were) the (?:final )?(?:score|result|margin)\b",
        q,
    ):
        return AnswerType.QUANTITY
    if re.search(
        r"\bwhen\b|\bwhat (?:year|date|day|month|time|century|decade|period)\b"
        r"|\b(?:which|in what|what) (?:year|century|decade|month)\b",
        q,
    ):
        return AnswerType.DATE
    if re.search(r"\bwho\b|\bwhom\b|\bwhose\b|\b(?:which|what) (?:person|man|woman|leader|president)\b", q):
        return AnswerType.PERSON
    if re.search(r"\bwhere\b|\b(?:which|what) (?:city|country|place|region|state|town|continent|location)\b", q):
        return AnswerType.PLACE
    if re.search(r"\b(?:which|what) (?:company|organi[sz]ation|group|team|agency|university|body)\b", q):
        return AnswerType.NAME
    return AnswerType.NONE


def _candidates(sentence: str, kind: AnswerType) -> list[tuple[int, int]]:
    if kind is AnswerType.MONEY:
        return _merge_equivalents(sentence, [m.span() for m in _MONEY.finditer(sentence)])
    if kind is AnswerType.QUANTITY:
        money = [m.span() for m in _MONEY.finditer(sentence)]
        quantities = [m.span() for m in _QUANTITY.finditer(sentence)]
        dates = [m.span() for m in _DATE.finditer(sentence)]
        # A bare year is rarely the answer to "how many"; a sum of money can be.
        quantities = [q for q in quantities if not any(_inside(q, d) for d in dates)]
        return _merge_equivalents(sentence, money) + [
            q for q in quantities if not any(_inside(q, m) for m in money)
        ]
    if kind is AnswerType.DATE:
        return [m.span() for m in _DATE.finditer(sentence)]
    if kind in (AnswerType.PERSON, AnswerType.PLACE, AnswerType.NAME):
        spans = []
        for match in _PROPER.finditer(sentence):
            start, end = match.span()
            text = match.group()
            first, _, rest = text.partition(" ")
            if first in _COMMON_STARTERS:
                if not rest:
                    continue
                start += len(first) + 1
            if _DEMONYM.search(sentence[start:end]) and re.match(
                r"\s[a-z]", sentence[end : end + 2]
            ):
                continue
            spans.append((start, end))
        return spans
    return []


# The leading windows recur from question to question, and what the patterns find in a window
# depends on its text and the answer type alone.
@lru_cache(maxsize=8192)
def _cached_candidates(sentence: str, kind: AnswerType) -> tuple[tuple[int, int], ...]:
    return tuple(_candidates(sentence, kind))


def with_conversion(text: str, start: int, end: int) -> tuple[int, int]:
    """The span widened to the amount and its conversion when it is one of the two: a reader that
    picks "$3.7bn" out of "Rmb26bn ($3.7bn)" answers with both."""
    money = [m.span() for m in _MONEY.finditer(text)]
    if not any(a <= start and end <= b for a, b in money):
        return start, end
    for a, b in _merge_equivalents(text, money):
        if a <= start and end <= b:
            return a, b
    return start, end


def _merge_equivalents(sentence: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``Rmb26bn ($3.7bn)`` is one answer: an amount and its conversion in brackets."""
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and re.fullmatch(r"\s*\(\s*", sentence[merged[-1][1] : start]):
            close = sentence.find(")", end)
            if close != -1 and close - end <= 2:
                merged[-1] = (merged[-1][0], close + 1)
                continue
        merged.append((start, end))
    return merged


def _inside(inner: tuple[int, int], outer: tuple[int, int]) -> bool:
    return outer[0] <= inner[0] and inner[1] <= outer[1]


_TOKEN = re.compile(r"[\w$£€¥%]+(?:[.,'’–-][\w]+)*")


def extract(question: str, sentence: str, weight: Callable[[str], float] | None = None) -> ShortAnswer | None:
    """The short answer inside ``sentence``, or None when the question wants no short span.

    ``weight`` gives a question term's importance (its IDF in the corpus), so being near a rare
    word of the question counts more than being near a common one.
    """
    kind = answer_type(question)
    if kind is AnswerType.NONE:
        return None
    question_terms = set(terms(question))
    spans = _cached_candidates(sentence, kind)
    question_lower = question.lower()
    usable = []
    for start, end in spans:
        text = sentence[start:end]
        span_terms = set(terms(text))
        # Never answer with the question's own words ("Who did Xi meet?" -> not "Xi").
        if span_terms and span_terms <= question_terms:
            continue
        if text.lower() in question_lower:
            continue
        usable.append((start, end))
    if not usable:
        return None

    anchors = _anchor_positions(sentence, question_terms, weight or (lambda term: 1.0))
    best = max(usable, key=lambda span: _proximity(span, anchors, sentence, kind))
    return ShortAnswer(sentence[best[0] : best[1]], best[0], best[1], kind)


def _anchor_positions(
    sentence: str, question_terms: set[str], weight: Callable[[str], float]
) -> list[tuple[int, float]]:
    positions = []
    for start, token_terms in _token_terms(sentence):
        shared = token_terms & question_terms
        if shared:
            positions.append((start, max(weight(t) for t in shared)))
    return positions


@lru_cache(maxsize=8192)  # as for _cached_candidates: a window's tokens do not change
def _token_terms(sentence: str) -> tuple[tuple[int, frozenset[str]], ...]:
    return tuple((m.start(), frozenset(terms(m.group()))) for m in _TOKEN.finditer(sentence))


def _proximity(
    span: tuple[int, int], anchors: list[tuple[int, float]], sentence: str, kind: AnswerType
) -> float:
    start, end = span
    score = 0.0
    for anchor, importance in anchors:
        distance = start - anchor if anchor < start else anchor - end
        score += importance / (1.0 + max(0, distance) / 20.0)
    before = sentence[max(0, start - 20) : start]
    after = sentence[end : end + 20]
    if kind is AnswerType.PLACE and _PLACE_CUES.search(before):
        score += 0.5
    if kind is AnswerType.PERSON:
        if _PERSON_CUES.search(after):
            score += 1.0
        if _PLACE_CUES.search(before):
            score -= 0.5
        if _ORGANISATION_WORDS.search(sentence[start:end]):
            score -= 1.0
    # Prefer earlier candidates slightly when otherwise tied, and fuller names over fragments.
    score += 0.01 * math.log1p(end - start) - 0.0001 * start
    return score
