"""Key points of a document: a few of its own sentences, central to it and not repeating each
other, chosen from the sentence vectors the index already holds. Nothing is generated or
paraphrased; each point is an exact sentence with its paragraph and offsets.

The digest lists them under each new document, and ``/add`` quotes one in its reply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .store import Snapshot

MIN_POINTS, MAX_POINTS = 3, 5
# A key point has to read as a statement on its own: fragments and run-on passages make poor ones.
MIN_POINT_WORDS, MAX_POINT_CHARS = 6, 400
# MMR's trade-off: 0 picks the most central sentences even if they repeat each other, 1 the most
# different ones even if peripheral. 0.3 keeps centrality first.
DIVERSITY = 0.3


@dataclass(frozen=True)
class KeyPoint:
    text: str  # exactly as it stands in the document
    paragraph: int  # 1-based
    start: int  # offsets into the document's text
    end: int


def key_points(snapshot: Snapshot, doc_id: str, count: int | None = None) -> list[KeyPoint]:
    """3–5 sentences of ``doc_id`` by maximal marginal relevance over its sentence vectors:
    each next pick is the sentence closest to the document's centroid, discounted by its
    similarity to the picks so far. Returned in reading order."""
    document = snapshot.documents[doc_id]
    rows = [i for i, s in enumerate(snapshot.sentences) if s.doc_id == doc_id]
    if not rows:
        return []
    vectors = np.asarray(snapshot.sentence_vectors[rows], dtype=np.float32)
    centroid = vectors.mean(axis=0)
    norm = float(np.linalg.norm(centroid))
    centroid = centroid / norm if norm > 0 else centroid

    texts = [snapshot.sentence_text(snapshot.sentences[i]) for i in rows]
    candidates = [
        j
        for j, text in enumerate(texts)
        if len(text.split()) >= MIN_POINT_WORDS and len(text) <= MAX_POINT_CHARS
    ] or list(range(len(rows)))
    if count is None:
        count = min(MAX_POINTS, max(MIN_POINTS, len(rows) // 5))
    count = min(count, len(candidates))

    relevance = vectors[candidates] @ centroid
    similarity = vectors[candidates] @ vectors[candidates].T
    chosen: list[int] = []  # positions in ``candidates``
    redundancy = np.full(len(candidates), -np.inf, dtype=np.float32)
    for _ in range(count):
        score = (
            (1 - DIVERSITY) * relevance - DIVERSITY * redundancy if chosen else relevance.copy()
        )
        score[chosen] = -np.inf
        pick = int(np.argmax(score))  # ties go to the earlier sentence
        chosen.append(pick)
        redundancy = np.maximum(redundancy, similarity[pick])

    points = []
    for position in sorted(candidates[c] for c in chosen):
        sentence = snapshot.sentences[rows[position]]
        points.append(
            KeyPoint(
                text=document.text[sentence.start : sentence.end],
                paragraph=sentence.paragraph,
                start=sentence.start,
                end=sentence.end,
            )
        )
    return points
