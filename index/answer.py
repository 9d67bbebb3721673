"""From retrieval candidates to an :class:`Answer`: pick the sentence, give it enough context to
stand alone, pull out the short answer, and refuse when the evidence is too weak.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .embedders import Embedder
from .errors import QuestionError
from .models import Answer, Citation
from .search import Candidate, Retriever, terms
from .spans import AnswerType, answer_type, extract
from .store import Snapshot

MAX_QUESTION_CHARS = 2000
RERANK_DEPTH = 12

FEATURES = (
    "window_dense",
    "sentence_dense",
    "context_dense",
    "passage_dense",
    "sentence_lexical",
    "passage_lexical",
    "window_coverage",
    "passage_coverage",
    "rare_coverage",
    "pair",
    "typed_found",  # the window holds the kind of span the question asks for ("how much" -> amount)
    "typed_missing",  # the question asks for a kind of span and the window has none
)
WEIGHTS_FILE = Path(__file__).with_name("weights.json")


@dataclass(frozen=True)
class Weights:
    """Linear weights over :data:`FEATURES`: ``rank`` orders candidate sentences; ``accept`` plus
    ``accept_bias`` is a logistic model of "the documents answer this", applied to the best
    candidate. ``bench/quality.py --fit`` learns them on the tuning half of XQuAD."""

    rank: dict[str, float]
    accept: dict[str, float]
    accept_bias: float
    accept_threshold: float = 0.5

    @classmethod
    def load(cls, path: Path = WEIGHTS_FILE) -> Weights:
        data = json.loads(path.read_text())
        return cls(
            rank=data["rank"],
            accept=data["accept"],
            accept_bias=data["accept_bias"],
            accept_threshold=data.get("accept_threshold", 0.5),
        )

    def vector(self, which: str) -> np.ndarray:
        table = self.rank if which == "rank" else self.accept
        return np.array([table.get(name, 0.0) for name in FEATURES], dtype=np.float64)


@dataclass
class Ranking:
    """The ranked candidates for one question, with their feature rows (for fitting weights)."""

    candidates: list[Candidate]
    features: np.ndarray  # one row per candidate, columns as FEATURES
    scores: np.ndarray


def features_of(c: Candidate, typed: float) -> list[float]:
    return [
        c.window_dense,
        c.sentence_dense,
        c.context_dense,
        c.passage_dense,
        c.sentence_lexical,
        c.passage_lexical,
        c.window_coverage,
        c.passage_coverage,
        c.rare_coverage,
        c.pair,
        1.0 if typed > 0 else 0.0,
        1.0 if typed < 0 else 0.0,
    ]


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
    def __init__(self, snapshot: Snapshot, embedder: Embedder, weights: Weights | None = None):
        self.snapshot = snapshot
        self.embedder = embedder
        self.weights = weights or Weights.load()
        self._rank_vector = self.weights.vector("rank")
        self._accept_vector = self.weights.vector("accept")
        self.retriever = Retriever(snapshot)

    def confidence(self, row: np.ndarray) -> float:
        """Belief that the documents answer the question, from the best candidate's features."""
        z = self.weights.accept_bias + float(row @ self._accept_vector)
        return 1.0 / (1.0 + math.exp(-z))

    def rank(self, question: str, *, context: str | None = None) -> Ranking:
        # A follow-up ("and when was that?") is searched together with the question it follows.
        query_text = f"{context} {question}" if context else question
        vector = self.embedder.embed_query(query_text)
        candidates = self.retriever.search(vector, query_text)
        if not candidates:
            return Ranking([], np.zeros((0, len(FEATURES))), np.zeros(0))
        features = np.array([features_of(c, 0.0) for c in candidates], dtype=np.float64)
        scores = features @ self._rank_vector
        order = np.argsort(-scores, kind="stable")
        if answer_type(question) is not AnswerType.NONE:
            # Pattern matching is only worth doing for the leading candidates.
            typed_column = FEATURES.index("typed_found")
            for row in order[:RERANK_DEPTH]:
                found = extract(question, self.window_text(candidates[row])) is not None
                features[row, typed_column : typed_column + 2] = (1.0, 0.0) if found else (0.0, 1.0)
            scores = features @ self._rank_vector
            order = np.argsort(-scores, kind="stable")
        return Ranking([candidates[i] for i in order], features[order], scores[order])

    def ask(self, question: str, *, context: str | None = None, top: int = 3) -> Answer:
        started = time.perf_counter()
        question = validate_question(question)
        ranking = self.rank(question, context=context)
        if not ranking.candidates:
            return Answer(question, False, "", [], _elapsed(started), refusal="empty_index")
        citations: list[Citation] = []
        seen_passages: set[int] = set()
        for candidate, score in zip(ranking.candidates, ranking.scores):
            if len(citations) >= max(1, top):
                break
            if candidate.passage in seen_passages:
                continue
            seen_passages.add(candidate.passage)
            citations.append(self._citation(candidate, float(score)))
        if self.confidence(ranking.features[0]) < self.weights.accept_threshold:
            return Answer(question, False, "", citations, _elapsed(started), refusal="not_in_documents")
        short = self._short_answer(question, ranking.candidates[0], citations[0])
        return Answer(question, True, short, citations, _elapsed(started))

    def window_range(self, candidate: Candidate) -> tuple[int, int]:
        sentences = self.snapshot.sentences
        return sentences[candidate.first].start, sentences[candidate.last].end

    def window_text(self, candidate: Candidate) -> str:
        start, end = self.window_range(candidate)
        return self.snapshot.documents[self.snapshot.sentences[candidate.first].doc_id].text[start:end]

    def _citation(self, candidate: Candidate, score: float) -> Citation:
        sentence = self.snapshot.sentences[candidate.first]
        document = self.snapshot.documents[sentence.doc_id]
        start, end = self.window_range(candidate)
        return Citation(
            document=document.doc_id,
            title=document.title,
            source=document.source,
            paragraph=sentence.paragraph,
            quote=document.text[start:end],
            score=round(score, 4),
            url=document.url,
            start=start,
            end=end,
        )

    def _short_answer(self, question: str, best: Candidate, citation: Citation) -> str:
        found = extract(question, citation.quote)
        if found:
            return found.text
        # No typed span: the sentence of the window that best matches the question.
        best_sentence = max(
            best.sentences,
            key=lambda i: self.retriever.coverage(
                list(dict.fromkeys(terms(question))), set(self.retriever.sentence_terms[i])
            ),
        )
        return self.snapshot.sentence_text(self.snapshot.sentences[best_sentence])


def _elapsed(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0

