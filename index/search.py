"""Hybrid retrieval: dense (FAISS inner product on unit vectors) plus lexical (BM25), over
sentences and the paragraphs they sit in.

The retriever does not choose an answer; it returns candidate sentences with the evidence for
each (dense and lexical scores at sentence and paragraph level, coverage of the question's words)
so that :mod:`index.answer` can weigh them and decide whether to refuse.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .store import Snapshot
from .vectors import VectorIndex

_WORD = re.compile(r"[\w$£€¥%]+(?:[.,'’][\w]+)*", re.UNICODE)


STOPWORDS_FILE = Path(__file__).with_name("stopwords_en.txt")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    # scikit-learn's English list, kept as a data file: the package, and the scipy it brings
    # (which bm25s then imports on every start), are 190 MB of install for one frozenset.
    lines = STOPWORDS_FILE.read_text(encoding="utf-8").splitlines()
    english = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    # Question words carry the question's type, not its topic: "how much" matches nothing.
    return frozenset(english) | {"did", "does", "doing", "s", "t", "say", "said", "tell"}


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def terms(text: str) -> list[str]:
    """Lower-cased, stop-word-free, stemmed words: the vocabulary of BM25 and coverage."""
    return list(_cached_terms(text))


# A question's words and each word of the sentences it is matched against are looked up many
# times per question (ranking, short answer, quote focus); stemming them once is the saving.
@lru_cache(maxsize=65536)
def _cached_terms(text: str) -> tuple[str, ...]:
    stop = _stopwords()
    words = [w for w in _WORD.findall(text.lower()) if w not in stop]
    return tuple(_stemmer().stemWords(words)) if words else ()


MAX_WINDOW_CHARS = 400


# A candidate's evidence as one row, in this order: ranking weights (index/weights.json) and the
# reader's refusal model (index/reader_model/calibration.json) name their columns from it.
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


@dataclass
class Candidate:
    """A quotable window: one sentence, or two adjacent sentences of the same paragraph that
    together stay within :data:`MAX_WINDOW_CHARS`, with the evidence that it answers."""

    first: int  # index into snapshot.sentences
    last: int  # == first for a one-sentence window
    passage: int  # index into snapshot.passages
    window_dense: float  # the window's (mean) vector against the question
    sentence_dense: float  # the best single sentence of the window
    context_dense: float  # the window together with its neighbours
    passage_dense: float
    sentence_lexical: float  # best BM25 of its sentences, normalised by the best in the corpus
    passage_lexical: float
    window_coverage: float  # IDF-weighted share of the question's terms found in the window
    passage_coverage: float
    rare_coverage: float  # share of the question's two rarest terms found in the window
    pair: float  # 1.0 for a two-sentence window

    @property
    def sentences(self) -> range:
        return range(self.first, self.last + 1)

    def evidence_row(self) -> list[float]:
        """Its evidence in FEATURES order; the typed columns stay 0 until ranking fills them for
        the leading candidates (index/answer.py)."""
        return [self.window_dense, self.sentence_dense, self.context_dense, self.passage_dense,
                self.sentence_lexical, self.passage_lexical, self.window_coverage,
                self.passage_coverage, self.rare_coverage, self.pair, 0.0, 0.0]


class Retriever:
    """Built once per snapshot; ``search`` is the hot path and allocates little."""

    def __init__(self, snapshot: Snapshot):
        import bm25s

        from .vectors import FaissVectors

        self.snapshot = snapshot
        self._scopes: dict[frozenset[str], tuple] = {}
        # What depends on the snapshot alone, filled as questions touch it: the norm of a
        # window's summed sentence vectors, and a window's paragraph, sentences, context
        # sentences and terms.
        self._sum_norms: dict[tuple[int, ...], float] = {}
        self._window_parts: dict[tuple[int, int], tuple] = {}
        self.sentence_terms = [terms(snapshot.sentence_text(s)) for s in snapshot.sentences]
        passage_index = {p: i for i, p in enumerate(snapshot.passages)}
        self.passage_of = np.array(
            [passage_index[(s.doc_id, s.paragraph)] for s in snapshot.sentences], dtype=np.int64
        )
        self.passage_terms: list[set[str]] = [set() for _ in snapshot.passages]
        for sentence_terms, passage in zip(self.sentence_terms, self.passage_of, strict=True):
            self.passage_terms[passage].update(sentence_terms)
        self.sentences_of_passage: list[list[int]] = [[] for _ in snapshot.passages]
        for i, passage in enumerate(self.passage_of):
            self.sentences_of_passage[passage].append(i)

        frequency = Counter(t for ts in self.sentence_terms for t in set(ts))
        total = max(1, len(self.sentence_terms))
        self._idf_default = math.log(1 + total)
        self.idf = {t: math.log(1 + total / n) for t, n in frequency.items()}

        self.sentence_bm25 = self._bm25(bm25s, self.sentence_terms)
        self.passage_bm25 = self._bm25(
            bm25s, [[t for s in ids for t in self.sentence_terms[s]] for ids in self.sentences_of_passage]
        )
        # A store's own indexes when it has them (an empty one has no length, so not `or`).
        self.sentence_index: VectorIndex = (
            FaissVectors.build(snapshot.sentence_vectors)
            if snapshot.sentence_index is None
            else snapshot.sentence_index
        )
        self.passage_index: VectorIndex = (
            FaissVectors.build(snapshot.passage_vectors)
            if snapshot.passage_index is None
            else snapshot.passage_index
        )

    @staticmethod
    def _bm25(bm25s, corpus: list[list[str]]):
        if not corpus:
            return None
        # bm25s rejects an all-empty corpus; a placeholder term keeps indices aligned.
        retriever = bm25s.BM25()
        retriever.index([ts or ["\x00"] for ts in corpus], show_progress=False)
        return retriever

    def coverage_of(self, query_terms: list[str]):
        """The IDF-weighted share of ``query_terms`` found in a set of terms, as a function: the
        weights are looked up once per question, not once per window scored."""
        weights = [self.idf.get(t, self._idf_default) for t in query_terms]
        total = sum(weights)

        def covered(present) -> float:
            if not query_terms:
                return 0.0
            return sum(w for t, w in zip(query_terms, weights, strict=True) if t in present) / total

        return covered

    def _scope(self, collections: frozenset[str] | None):
        """The sentence and passage ids a question may see, as arrays plus the vector indexes'
        scopes (FAISS selectors, Milvus filters), so that search is filtered inside the vector
        index and BM25 rather than searched and then dropped."""
        if collections is None:
            return None
        cached = self._scopes.get(collections)
        if cached is None:
            documents = self.snapshot.documents
            sentence_ids = np.array(
                [i for i, s in enumerate(self.snapshot.sentences) if documents[s.doc_id].collection in collections],
                dtype=np.int64,
            )
            passage_ids = np.array(
                [i for i, (d, _) in enumerate(self.snapshot.passages) if documents[d].collection in collections],
                dtype=np.int64,
            )
            cached = (
                sentence_ids,
                passage_ids,
                self.sentence_index.scope(collections, sentence_ids),
                self.passage_index.scope(collections, passage_ids),
            )
            self._scopes[collections] = cached
        return cached

    def search(
        self,
        query_vector: np.ndarray,
        query_text: str,
        *,
        collections: frozenset[str] | None = None,
        passages: int = 8,
        sentences: int = 24,
    ) -> list[Candidate]:
        """Candidate windows for a question; ``collections`` limits it to those documents."""
        scope = self._scope(collections)
        if not self.snapshot.sentences or (scope is not None and not len(scope[0])):
            return []
        query = np.ascontiguousarray(query_vector.reshape(1, -1), dtype=np.float32)
        query_terms = list(dict.fromkeys(terms(query_text)))

        passage_lexical = self._lexical(self.passage_bm25, query_terms, len(self.snapshot.passages))
        sentence_lexical = self._lexical(self.sentence_bm25, query_terms, len(self.snapshot.sentences))
        sentence_pool = passage_pool = None
        sentence_params = passage_params = None
        if scope is not None:
            sentence_pool, passage_pool, sentence_params, passage_params = scope

        k_p = min(passages, len(self.snapshot.passages))
        _, top_passages = self.passage_index.search(query, k_p, passage_params)
        k_s = min(sentences, len(self.snapshot.sentences))
        _, top_sentences = self.sentence_index.search(query, k_s, sentence_params)

        chosen_passages = set(int(p) for p in top_passages[0] if p >= 0)
        chosen_passages.update(_top(passage_lexical, k_p, passage_pool))
        candidates = set(int(s) for s in top_sentences[0] if s >= 0)
        candidates.update(_top(sentence_lexical, k_s, sentence_pool))
        for passage in chosen_passages:
            candidates.update(self.sentences_of_passage[passage])
        return self._windows(sorted(candidates), query[0], query_terms, sentence_lexical, passage_lexical)

    def _windows(self, candidates, query, query_terms, sentence_lexical, passage_lexical) -> list[Candidate]:
        sentences = self.snapshot.sentences
        spans: set[tuple[int, int]] = set()
        for s in candidates:
            spans.add((s, s))
            for first in (s - 1, s):
                last = first + 1
                if (
                    first >= 0
                    and last < len(sentences)
                    and self.passage_of[first] == self.passage_of[last]
                    and sentences[last].end - sentences[first].start <= MAX_WINDOW_CHARS
                ):
                    spans.add((first, last))
        involved = sorted({i for first, last in spans for i in range(max(0, first - 1), last + 2)
                           if i < len(sentences)})
        vectors = self.snapshot.sentence_vectors
        dense = dict(zip(involved, (vectors[involved] @ query).tolist(), strict=True))
        rare = sorted(query_terms, key=lambda t: -self.idf.get(t, self._idf_default))[:2]

        # Several windows share a paragraph: score each paragraph once.
        passages = {int(self.passage_of[first]) for first, _ in spans}
        passage_dense = {p: float(self.snapshot.passage_vectors[p] @ query) for p in passages}
        covered = self.coverage_of(query_terms)
        passage_coverage = {p: covered(self.passage_terms[p]) for p in passages}
        found: list[Candidate] = []
        for first, last in sorted(spans):
            parts = self._window_parts.get((first, last))
            if parts is None:
                passage = int(self.passage_of[first])
                ids = list(range(first, last + 1))
                # Neighbours in the same paragraph (every existing neighbour is in ``dense``).
                context = [i for i in range(first - 1, last + 2)
                           if 0 <= i < len(sentences) and self.passage_of[i] == passage]
                window_terms = frozenset().union(*(self.sentence_terms[i] for i in ids))
                parts = self._window_parts[(first, last)] = (passage, ids, context, window_terms)
            passage, ids, context, window_terms = parts
            found.append(
                Candidate(
                    first=first,
                    last=last,
                    passage=passage,
                    window_dense=self._mean_cosine(ids, dense),
                    sentence_dense=max(dense[i] for i in ids),
                    context_dense=self._mean_cosine(context, dense),
                    passage_dense=passage_dense[passage],
                    sentence_lexical=float(max(sentence_lexical[i] for i in ids)),
                    passage_lexical=float(passage_lexical[passage]),
                    window_coverage=covered(window_terms),
                    passage_coverage=passage_coverage[passage],
                    rare_coverage=(sum(t in window_terms for t in rare) / len(rare)) if rare else 0.0,
                    pair=float(last > first),
                )
            )
        return found

    def forget_cached(self) -> None:
        """Drop what questions have filled in for this snapshot (window norms and parts), so the
        next question pays for them again: how the benchmarks time an uncached question."""
        self._sum_norms.clear()
        self._window_parts.clear()

    def _mean_cosine(self, ids: list[int], dense: dict[int, float]) -> float:
        """Cosine between the question and the mean of unit sentence vectors."""
        if len(ids) == 1:
            return dense[ids[0]]
        key = tuple(ids)
        norm = self._sum_norms.get(key)
        if norm is None:
            total = self.snapshot.sentence_vectors[ids].sum(axis=0)
            norm = self._sum_norms[key] = float(np.linalg.norm(total)) or 1.0
        return sum(dense[i] for i in ids) / norm

    @staticmethod
    def _lexical(bm25, query_terms: list[str], size: int) -> np.ndarray:
        if bm25 is None or not query_terms:
            return np.zeros(size, dtype=np.float32)
        scores = np.asarray(bm25.get_scores(query_terms), dtype=np.float32)
        best = float(scores.max()) if len(scores) else 0.0
        return scores / best if best > 0 else scores


def _top(scores: np.ndarray, k: int, pool: np.ndarray | None) -> list[int]:
    """Indices of the ``k`` best scores, only among ``pool`` when one is given."""
    if pool is None:
        return np.argsort(-scores)[:k].tolist()
    return pool[np.argsort(-scores[pool])[:k]].tolist()
