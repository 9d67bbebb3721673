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

import numpy as np

from .store import Snapshot

_WORD = re.compile(r"[\w$£€¥%]+(?:[.,'’][\w]+)*", re.UNICODE)


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    # Question words carry the question's type, not its topic: "how much" matches nothing.
    return frozenset(ENGLISH_STOP_WORDS) | {"did", "does", "doing", "s", "t", "say", "said", "tell"}


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def terms(text: str) -> list[str]:
    """Lower-cased, stop-word-free, stemmed words: the vocabulary of BM25 and coverage."""
    stop = _stopwords()
    words = [w for w in _WORD.findall(text.lower()) if w not in stop]
    return _stemmer().stemWords(words) if words else []


@dataclass
class Candidate:
    sentence: int  # index into snapshot.sentences
    passage: int  # index into snapshot.passages
    sentence_dense: float
    passage_dense: float
    sentence_lexical: float  # BM25 normalised by the best sentence's score for this question
    passage_lexical: float
    sentence_coverage: float  # IDF-weighted share of the question's terms found in the sentence
    passage_coverage: float
    context_dense: float  # dense score of the sentence together with its neighbours


class Retriever:
    """Built once per snapshot; ``search`` is the hot path and allocates little."""

    def __init__(self, snapshot: Snapshot):
        import bm25s
        import faiss

        self.snapshot = snapshot
        self.sentence_terms = [terms(snapshot.sentence_text(s)) for s in snapshot.sentences]
        passage_index = {p: i for i, p in enumerate(snapshot.passages)}
        self.passage_of = np.array(
            [passage_index[(s.doc_id, s.paragraph)] for s in snapshot.sentences], dtype=np.int64
        )
        self.passage_terms: list[set[str]] = [set() for _ in snapshot.passages]
        for sentence_terms, passage in zip(self.sentence_terms, self.passage_of):
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
        dimension = snapshot.sentence_vectors.shape[1]
        self.sentence_index = faiss.IndexFlatIP(dimension)
        self.sentence_index.add(snapshot.sentence_vectors)
        self.passage_index = faiss.IndexFlatIP(dimension)
        self.passage_index.add(snapshot.passage_vectors)

    @staticmethod
    def _bm25(bm25s, corpus: list[list[str]]):
        if not corpus:
            return None
        # bm25s rejects an all-empty corpus; a placeholder term keeps indices aligned.
        retriever = bm25s.BM25()
        retriever.index([ts or ["\x00"] for ts in corpus], show_progress=False)
        return retriever

    def __len__(self) -> int:
        return len(self.snapshot.sentences)

    def coverage(self, query_terms: list[str], present: set[str]) -> float:
        if not query_terms:
            return 0.0
        weights = [self.idf.get(t, self._idf_default) for t in query_terms]
        found = sum(w for t, w in zip(query_terms, weights) if t in present)
        return found / sum(weights)

    def search(
        self, query_vector: np.ndarray, query_text: str, *, passages: int = 8, sentences: int = 24
    ) -> list[Candidate]:
        if not self.snapshot.sentences:
            return []
        query = np.ascontiguousarray(query_vector.reshape(1, -1), dtype=np.float32)
        query_terms = list(dict.fromkeys(terms(query_text)))

        passage_lexical = self._lexical(self.passage_bm25, query_terms, len(self.snapshot.passages))
        sentence_lexical = self._lexical(self.sentence_bm25, query_terms, len(self.snapshot.sentences))

        k_p = min(passages, len(self.snapshot.passages))
        _, top_passages = self.passage_index.search(query, k_p)
        k_s = min(sentences, len(self.snapshot.sentences))
        _, top_sentences = self.sentence_index.search(query, k_s)

        chosen_passages = set(int(p) for p in top_passages[0] if p >= 0)
        chosen_passages.update(int(p) for p in np.argsort(-passage_lexical)[:k_p])
        candidates = set(int(s) for s in top_sentences[0] if s >= 0)
        candidates.update(int(s) for s in np.argsort(-sentence_lexical)[:k_s])
        for passage in chosen_passages:
            candidates.update(self.sentences_of_passage[passage])
        ids = np.fromiter(sorted(candidates), dtype=np.int64)

        vectors = self.snapshot.sentence_vectors
        sentence_dense = vectors[ids] @ query[0]
        passage_ids = self.passage_of[ids]
        passage_dense = self.snapshot.passage_vectors[passage_ids] @ query[0]
        context_dense = self._context_dense(ids, query[0])

        found: list[Candidate] = []
        for row, sentence in enumerate(ids.tolist()):
            passage = int(passage_ids[row])
            found.append(
                Candidate(
                    sentence=sentence,
                    passage=passage,
                    sentence_dense=float(sentence_dense[row]),
                    passage_dense=float(passage_dense[row]),
                    sentence_lexical=float(sentence_lexical[sentence]),
                    passage_lexical=float(passage_lexical[passage]),
                    sentence_coverage=self.coverage(query_terms, set(self.sentence_terms[sentence])),
                    passage_coverage=self.coverage(query_terms, self.passage_terms[passage]),
                    context_dense=float(context_dense[row]),
                )
            )
        return found

    def _context_dense(self, ids: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Score of the mean vector of a sentence and its same-paragraph neighbours."""
        vectors = self.snapshot.sentence_vectors
        scores = np.empty(len(ids), dtype=np.float32)
        for row, sentence in enumerate(ids.tolist()):
            siblings = self.sentences_of_passage[self.passage_of[sentence]]
            position = siblings.index(sentence)
            window = siblings[max(0, position - 1) : position + 2]
            mean = vectors[window].mean(axis=0)
            norm = float(np.linalg.norm(mean)) or 1.0
            scores[row] = float(mean @ query) / norm
        return scores

    @staticmethod
    def _lexical(bm25, query_terms: list[str], size: int) -> np.ndarray:
        if bm25 is None or not query_terms:
            return np.zeros(size, dtype=np.float32)
        scores = np.asarray(bm25.get_scores(query_terms), dtype=np.float32)
        best = float(scores.max()) if len(scores) else 0.0
        return scores / best if best > 0 else scores
