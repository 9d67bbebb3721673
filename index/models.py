"""Plain data passed between the index and the chat adapters.

Nothing here knows about Slack or Discord: adapters turn a platform event into a question string
and render an :class:`Answer`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Span:
    """A half-open character range ``[start, end)`` into a document's cleaned text."""

    start: int
    end: int


@dataclass
class Document:
    """A cleaned document: ``text`` is what quotes are cut from; paragraphs index into it."""

    doc_id: str
    title: str
    source: str
    text: str
    paragraphs: list[Span]
    url: str | None = None
    content_hash: str = ""
    collection: str = "default"
    # Byline, caption, copyright and the like: shown or kept, never quoted as an answer.
    metadata: dict[str, str] = field(default_factory=dict)

    def paragraph_text(self, number: int) -> str:
        span = self.paragraphs[number - 1]
        return self.text[span.start : span.end]

    def byline_lines(self) -> list[str]:
        """What ingest kept about who wrote the document, where and when, as sentences: what
        "who wrote it?" is read from, cited as paragraph 0."""
        meta = self.metadata
        lines = []
        if meta.get("author"):
            place = f" in {meta['place']}" if meta.get("place") else ""
            lines.append(f"By {meta['author']}{place}.")
        if meta.get("date"):
            lines.append(f"Published {meta['date']}.")
        for key in ("additional_reporting", "copyright"):
            if meta.get(key):
                text = " ".join(meta[key].split())
                lines.append(text if text.endswith(".") else text + ".")
        return lines

    def byline(self) -> str:
        """:meth:`byline_lines` as one text; a byline citation's offsets are into it."""
        return " ".join(self.byline_lines())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["paragraphs"] = [[p.start, p.end] for p in self.paragraphs]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Document:
        data = dict(data)
        data["paragraphs"] = [Span(start, end) for start, end in data["paragraphs"]]
        return cls(**data)


@dataclass(frozen=True)
class Sentence:
    """One sentence of a document, located by offsets so its text is always the original."""

    doc_id: str
    paragraph: int  # 1-based paragraph number within the document
    start: int
    end: int


@dataclass
class Citation:
    document: str  # document id
    title: str
    source: str
    paragraph: int
    quote: str
    score: float
    url: str | None = None
    start: int = 0
    end: int = 0
    # The quote was cut out of a longer sentence (see index.answer.focus_range): readers should
    # see "…" where text was left out, while ``quote`` stays an exact slice of the document.
    clipped_start: bool = False
    clipped_end: bool = False
    # Where the short answer lies in the document (inside ``quote``), for renderers to mark;
    # None when the quote itself is the answer or nothing was answered.
    answer_start: int | None = None
    answer_end: int | None = None

    def quote_parts(self) -> tuple[str, str, str]:
        """``quote`` split around the short answer: (before, answer, after); the answer part is
        empty when there is no span to mark."""
        if self.answer_start is None or self.answer_end is None:
            return self.quote, "", ""
        a = min(max(self.answer_start - self.start, 0), len(self.quote))
        b = min(max(self.answer_end - self.start, a), len(self.quote))
        return self.quote[:a], self.quote[a:b], self.quote[b:]

    def display_quote(self, ellipsis: str = "…") -> str:
        return f"{ellipsis if self.clipped_start else ''}{self.quote}{ellipsis if self.clipped_end else ''}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Answer:
    question: str
    answered: bool
    answer: str
    citations: list[Citation]
    latency_ms: float = 0.0
    # Why a question was refused ("not_in_documents", "empty_index"); None when answered.
    refusal: str | None = None
    reader: str = ""  # which reader answered: "extractive", "heuristic", "llm"
    # Why a language model's answer was not shown (index.llm_reader.REASONS); None otherwise.
    llm_rejected: str | None = None

    @property
    def best(self) -> Citation | None:
        return self.citations[0] if self.citations else None

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answered": self.answered,
            "answer": self.answer,
            "citations": [c.to_json() for c in self.citations],
            "latency_ms": round(self.latency_ms, 2),
            "refusal": self.refusal,
            "reader": self.reader,
        } | ({"llm_rejected": self.llm_rejected} if self.llm_rejected else {})
