"""From retrieval candidates to an :class:`Answer`: pick the sentence, give it enough context to
stand alone, pull out the short answer, and refuse when the evidence is too weak.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

from .embedders import Embedder
from .errors import QuestionError
from .models import Answer, Citation, Sentence
from .search import Candidate, Retriever
from .spans import AnswerType, answer_type, extract
from .store import Snapshot

MAX_QUESTION_CHARS = 2000
MAX_QUOTE_CHARS = 400
RERANK_DEPTH = 12

# A sentence that opens by pointing back ("He said...", "This has led...") needs the sentence
# before it to make sense on its own.
_ANAPHORIC_START = re.compile(
    r"^(?:He|She|It|They|This|That|These|Those|Such|But|So|However|Also|Its|His|Her|Their|"
    r"The (?:group|region|country|company|move|plan|deal|bloc))\b"
)


@dataclass(frozen=True)
class Weights:
    """How candidate evidence combines into one ranking score, and into a refusal decision.

    ``rank_*`` weigh a candidate for choosing the sentence; ``accept_*`` are a logistic model of
    "the documents answer this" over the best candidate's evidence.
    """

    rank_sentence_dense: float = 0.40
    rank_context_dense: float = 0.20
    rank_passage_dense: float = 0.15
    rank_sentence_lexical: float = 0.05
    rank_passage_lexical: float = 0.05
    rank_sentence_coverage: float = 0.10
    rank_passage_coverage: float = 0.05
    # The sentence holds a span of the type the question asks for (an amount for "how much").
    rank_typed_span: float = 0.15

    accept_bias: float = -6.0
    accept_sentence_dense: float = 7.0
    accept_context_dense: float = 3.0
    accept_sentence_coverage: float = 3.0
    accept_passage_coverage: float = 1.5
    accept_typed_span: float = 2.5
    accept_typed_missing: float = -2.5
    accept_threshold: float = 0.5


DEFAULT_WEIGHTS = Weights()


def validate_question(question: str) -> str:
    cleaned = " ".join(question.split())
    if not cleaned:
        raise QuestionError("Please ask a question: the text was empty.")
    if len(cleaned) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"That question is {len(cleaned):,} characters long; please keep it under "
            f"{MAX_QUESTION_CHARS:,}."
        )
    return cleaned


class Answerer:
    def __init__(self, snapshot: Snapshot, embedder: Embedder, weights: Weights = DEFAULT_WEIGHTS):
        self.snapshot = snapshot
        self.embedder = embedder
        self.weights = weights
        self.retriever = Retriever(snapshot)

    def rank_score(self, c: Candidate) -> float:
        w = self.weights
        return (
            w.rank_sentence_dense * c.sentence_dense
            + w.rank_context_dense * c.context_dense
            + w.rank_passage_dense * c.passage_dense
            + w.rank_sentence_lexical * c.sentence_lexical
            + w.rank_passage_lexical * c.passage_lexical
            + w.rank_sentence_coverage * c.sentence_coverage
            + w.rank_passage_coverage * c.passage_coverage
        )

    def confidence(self, c: Candidate, typed: float) -> float:
        """Probability-like belief that the documents answer the question, from the best
        candidate's evidence. ``typed`` is 1 when the wanted kind of answer is in the quote, -1
        when the question wants one and the quote has none, 0 when the question wants no type."""
        w = self.weights
        typed_evidence = w.accept_typed_span if typed > 0 else w.accept_typed_missing if typed < 0 else 0.0
        z = (
            typed_evidence
            + w.accept_bias
            + w.accept_sentence_dense * c.sentence_dense
            + w.accept_context_dense * c.context_dense
            + w.accept_sentence_coverage * c.sentence_coverage
            + w.accept_passage_coverage * c.passage_coverage
        )
        return 1.0 / (1.0 + math.exp(-z))

    def ask(self, question: str, *, context: str | None = None, top: int = 3) -> Answer:
        started = time.perf_counter()
        question = validate_question(question)
        if not self.snapshot.sentences:
            return Answer(question, False, "", [], _elapsed(started), refusal="empty_index")
        # A follow-up ("and when was that?") is searched together with the question it follows.
        query_text = f"{context} {question}" if context else question
        vector = self.embedder.embed_query(query_text)
        candidates = self.retriever.search(vector, query_text)
        ranked = sorted(candidates, key=self.rank_score, reverse=True)
        wanted = answer_type(question)
        typed: dict[int, float] = {}
        if wanted is not AnswerType.NONE:
            # Only the leading candidates are worth the pattern matching.
            head = ranked[:RERANK_DEPTH]
            for candidate in head:
                quote = self._quote_text(candidate.sentence)
                typed[candidate.sentence] = 1.0 if extract(question, quote) else -1.0
            head.sort(
                key=lambda c: self.rank_score(c) + self.weights.rank_typed_span * max(0.0, typed[c.sentence]),
                reverse=True,
            )
            ranked = head + ranked[RERANK_DEPTH:]
        citations: list[Citation] = []
        seen_passages: set[int] = set()
        for candidate in ranked:
            if len(citations) >= max(1, top):
                break
            if candidate.passage in seen_passages:
                continue
            seen_passages.add(candidate.passage)
            citations.append(self._citation(candidate))
        best = ranked[0]
        confident = self.confidence(best, typed.get(best.sentence, 0.0)) >= self.weights.accept_threshold
        if not confident:
            return Answer(question, False, "", citations, _elapsed(started), refusal="not_in_documents")
        short = self._short_answer(question, best, citations[0])
        return Answer(question, True, short, citations, _elapsed(started))

    def _quote_range(self, sentence_index: int) -> tuple[int, int]:
        sentences = self.snapshot.sentences
        sentence = sentences[sentence_index]
        start, end = sentence.start, sentence.end
        text = self.snapshot.sentence_text(sentence)
        if sentence_index > 0:
            previous = sentences[sentence_index - 1]
            needs_context = _ANAPHORIC_START.match(text) or len(text) < 50
            if (
                needs_context
                and _same_paragraph(previous, sentence)
                and end - previous.start <= MAX_QUOTE_CHARS
            ):
                start = previous.start
        return start, end

    def _quote_text(self, sentence_index: int) -> str:
        start, end = self._quote_range(sentence_index)
        return self.snapshot.documents[self.snapshot.sentences[sentence_index].doc_id].text[start:end]

    def _citation(self, candidate: Candidate) -> Citation:
        sentence = self.snapshot.sentences[candidate.sentence]
        document = self.snapshot.documents[sentence.doc_id]
        start, end = self._quote_range(candidate.sentence)
        return Citation(
            document=document.doc_id,
            title=document.title,
            source=document.source,
            paragraph=sentence.paragraph,
            quote=document.text[start:end],
            score=round(float(self.rank_score(candidate)), 4),
            url=document.url,
            start=start,
            end=end,
        )

    def _short_answer(self, question: str, best: Candidate, citation: Citation) -> str:
        sentence = self.snapshot.sentences[best.sentence]
        sentence_text = self.snapshot.sentence_text(sentence)
        found = extract(question, sentence_text)
        if found is None and citation.start < sentence.start:
            found = extract(question, citation.quote)
        return found.text if found else sentence_text


def _same_paragraph(a: Sentence, b: Sentence) -> bool:
    return a.doc_id == b.doc_id and a.paragraph == b.paragraph


def _elapsed(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0

