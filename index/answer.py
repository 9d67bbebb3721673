"""The answer path: Retriever -> Reader -> answer builder.

:class:`Answerer` ranks retrieval's candidate windows, hands the best passages to a reader
(:mod:`index.reader`), and builds the :class:`Answer` from what it read: the short answer, the
sentence or two that hold it as the quote (never over 400 characters), the citations, or a
refusal that still shows the closest passage.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .embedders import Embedder
from .errors import QuestionError
from .models import Answer, Citation
from .questions import visible_text
from .reader import HeuristicReader, Passage, ReadAnswer, Reader, Reading
from .search import FEATURES, Candidate, Retriever, terms
from .spans import AnswerType, answer_type, extract
from .store import Snapshot

MAX_QUESTION_CHARS = 2000
RERANK_DEPTH = 12
MAX_QUOTE_CHARS = 400
CONTEXT_SENTENCES = 1  # read beside the best window of a paragraph, on each side

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


def validate_question(question: str) -> str:
    cleaned = " ".join(visible_text(question).split())
    if not cleaned:
        raise QuestionError("Please ask a question: the text was empty.")
    if len(cleaned) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"That question is {len(cleaned):,} characters long; please keep it under "
            f"{MAX_QUESTION_CHARS:,}."
        )
    return cleaned


class Answerer:
    def __init__(self, snapshot: Snapshot, embedder: Embedder, weights: Weights | None = None,
                 reader: Reader | None = None):
        self.snapshot = snapshot
        self.embedder = embedder
        self.use_weights(weights or Weights.load())
        self.retriever = Retriever(snapshot)
        # None: the heuristic reader, which reads with this answerer's weights and IDF.
        self.use_reader(reader)

    def use_weights(self, weights: Weights) -> None:
        """Switch the ranking and refusal model (the benchmark does after re-fitting)."""
        self.weights = weights
        self._rank_vector = weights.vector("rank")
        self._accept_vector = weights.vector("accept")

    def use_reader(self, reader: Reader | None) -> None:
        """Read with ``reader`` (None: the heuristic one); the benchmark compares readers on one
        index this way."""
        heuristic = HeuristicReader(self.confidence, self.weights.accept_threshold, self._idf)
        # A reader wrapping another (index/llm_reader.py) built over "heuristic" reads through
        # this answerer's.
        bind = getattr(reader, "with_fallback", None)
        self.reader = bind(heuristic) if bind else (reader or heuristic)

    def _idf(self, term: str) -> float:
        return self.retriever.idf.get(term, self.retriever._idf_default)

    def confidence(self, row: np.ndarray) -> float:
        """Belief that the documents answer the question, from the best candidate's features."""
        z = self.weights.accept_bias + float(row @ self._accept_vector)
        return 1.0 / (1.0 + math.exp(-z))

    def rank(
        self, question: str, *, context: str | None = None, collections: frozenset[str] | None = None
    ) -> Ranking:
        # A follow-up ("and when was that?") is searched together with the question it follows.
        query_text = f"{context} {question}" if context else question
        vector = self.embedder.embed_query(query_text)
        candidates = self.retriever.search(vector, query_text, collections=collections)
        if not candidates:
            return Ranking([], np.zeros((0, len(FEATURES))), np.zeros(0))
        features = np.array([c.evidence_row() for c in candidates], dtype=np.float64)
        scores = features @ self._rank_vector
        order = np.argsort(-scores, kind="stable")
        if answer_type(question) is not AnswerType.NONE:
            # Pattern matching is only worth doing for the leading candidates.
            typed_column = FEATURES.index("typed_found")
            for row in order[:RERANK_DEPTH]:
                window = candidates[row]
                found = extract(question, self.window_text(window), self._idf)
                features[row, typed_column : typed_column + 2] = (1.0, 0.0) if found else (0.0, 1.0)
            scores = features @ self._rank_vector
            order = np.argsort(-scores, kind="stable")
        return Ranking([candidates[i] for i in order], features[order], scores[order])

    def ask(
        self,
        question: str,
        *,
        context: str | None = None,
        top: int = 3,
        collections: frozenset[str] | None = None,
    ) -> Answer:
        """Answer from every document, or only from those in ``collections``."""
        started = time.perf_counter()
        question = validate_question(question)
        ranking = self.rank(question, context=context, collections=collections)
        if not ranking.candidates:
            return Answer(question, False, "", [], _elapsed(started), refusal="empty_index",
                          reader=self.reader.name)
        passages, passage_ids = self.passages(ranking, self.reader.passages_to_read, question)
        # A follow-up ("and why?") is read, as it was searched, with the question it follows.
        reading = self.reader.read(f"{context} {question}" if context else question, passages)
        return self.build(question, ranking, passages, passage_ids, reading, top=top,
                          started=started)

    def passages(self, ranking: Ranking, count: int, question: str = "") -> tuple[list[Passage], list[int]]:
        """What the reader reads of the ``count`` best-ranked distinct paragraphs (each one's
        best window and :meth:`reading_range` around it), in rank order, then, for a question about the document itself, the best
        document's byline (paragraph 0) so that "who wrote it?" is read like any question; and
        their indices in the snapshot's passages (-1 for the byline)."""
        passages: list[Passage] = []
        ids: list[int] = []
        for candidate, evidence in zip(ranking.candidates, ranking.features, strict=True):
            if len(passages) >= count:
                break
            if candidate.passage in ids:
                continue
            doc_id, paragraph = self.snapshot.passages[candidate.passage]
            document = self.snapshot.documents[doc_id]
            start, end = self.reading_range(candidate)
            passages.append(Passage(doc_id, paragraph, start, document.text[start:end],
                                    window=self.window_range(candidate), evidence=evidence,
                                    embedding_model=self.snapshot.model))
            ids.append(candidate.passage)
        if passages and about_the_document(question):
            byline = self.snapshot.documents[passages[0].doc_id].byline()
            if byline:
                passages.append(Passage(passages[0].doc_id, BYLINE, 0, byline))
                ids.append(-1)
        return passages, ids

    def build(self, question: str, ranking: Ranking, passages: list[Passage],
              passage_ids: list[int], reading: Reading, *, top: int = 3,
              started: float | None = None) -> Answer:
        """The reply from a reading: the span's sentence quoted first (or, refused, the closest
        passage), then the other best-ranked paragraphs."""
        started = time.perf_counter() if started is None else started
        answered = bool(reading.answers) and not reading.refuse
        citations: list[Citation] = []
        seen: set[int] = set()
        short = ""
        if answered:
            best = reading.answers[0]
            if passages[best.passage].paragraph == BYLINE:
                citation = self._byline_citation(best, passages[best.passage])
            else:
                citation = self._span_citation(best, passages[best.passage],
                                               passage_ids[best.passage], ranking, question)
            citations.append(citation)
            seen.add(passage_ids[best.passage])
            if reading.confident:
                short = best.text
                held = passages[best.passage]
                if short != held.text[best.start - held.start : best.end - held.start]:
                    # Not the document's words (a language model's answer, index/llm_reader.py):
                    # the quote is its support, and no part of it is marked as the answer.
                    citation.answer_start = citation.answer_end = None
            else:
                # Not sure of the span: the sentence that holds it is the answer.
                short = citation.quote
                citation.answer_start = citation.answer_end = None
        for candidate, score in zip(ranking.candidates, ranking.scores, strict=True):
            if len(citations) >= max(1, top):
                break
            if candidate.passage in seen:
                continue
            seen.add(candidate.passage)
            citations.append(self._citation(candidate, float(score), question))
        return Answer(question, answered, short, citations, _elapsed(started),
                      refusal=None if answered else "not_in_documents",
                      reader=reading.reader or self.reader.name, llm_rejected=reading.rejected)

    def _byline_citation(self, span: ReadAnswer, passage: Passage) -> Citation:
        """The byline line holding ``span``, cited as paragraph 0; its offsets are into
        :meth:`Document.byline` (the document's metadata, not its text)."""
        document = self.snapshot.documents[passage.doc_id]
        start = 0
        for line in document.byline_lines():
            if start <= span.start < start + len(line):
                break
            start += len(line) + 1
        return Citation(
            document=document.doc_id, title=document.title, source=document.source,
            paragraph=BYLINE, quote=line, score=0.0, url=document.url, start=start,
            end=start + len(line), answer_start=span.start, answer_end=min(span.end, start + len(line)),
        )

    def _span_citation(self, span: ReadAnswer, passage: Passage, passage_id: int,
                       ranking: Ranking, question: str) -> Citation:
        """The sentence (or sentences, when the span crosses one) holding ``span``, focused to
        at most MAX_QUOTE_CHARS around it, with the span's place marked."""
        sentences = self.snapshot.sentences
        holding = [i for i in self.retriever.sentences_of_passage[passage_id]
                   if sentences[i].start < span.end and sentences[i].end > span.start]
        if not holding:  # a span over the gap between sentences: the nearest one
            holding = [min(self.retriever.sentences_of_passage[passage_id],
                           key=lambda i: abs(sentences[i].start - span.start))]
        window_start, window_end = sentences[holding[0]].start, sentences[holding[-1]].end
        window_start, window_end = min(window_start, span.start), max(window_end, span.end)
        score = next((float(s) for c, s in zip(ranking.candidates, ranking.scores, strict=True)
                      if c.passage == passage_id), 0.0)
        return self._quote(passage.doc_id, passage.paragraph, (window_start, window_end), question,
                           score, answer=(span.start, span.end))

    def reading_range(self, candidate: Candidate) -> tuple[int, int]:
        """What the reader reads of a candidate's paragraph: its window and CONTEXT_SENTENCES
        sentences either side. The reader's time grows with what it reads, and the answer is
        almost always in or beside the window that retrieval ranked best."""
        sentences = self.snapshot.sentences
        home = sentences[candidate.first]
        first, last = candidate.first, candidate.last
        for _ in range(CONTEXT_SENTENCES):
            if first > 0 and (sentences[first - 1].doc_id, sentences[first - 1].paragraph) == (
                    home.doc_id, home.paragraph):
                first -= 1
            if last + 1 < len(sentences) and (sentences[last + 1].doc_id, sentences[last + 1].paragraph) == (
                    home.doc_id, home.paragraph):
                last += 1
        return sentences[first].start, sentences[last].end

    def window_range(self, candidate: Candidate) -> tuple[int, int]:
        sentences = self.snapshot.sentences
        return sentences[candidate.first].start, sentences[candidate.last].end

    def window_text(self, candidate: Candidate) -> str:
        start, end = self.window_range(candidate)
        return self.snapshot.documents[self.snapshot.sentences[candidate.first].doc_id].text[start:end]

    def _citation(self, candidate: Candidate, score: float, question: str) -> Citation:
        sentence = self.snapshot.sentences[candidate.first]
        return self._quote(sentence.doc_id, sentence.paragraph, self.window_range(candidate),
                           question, score)

    def _quote(self, doc_id: str, paragraph: int, window: tuple[int, int], question: str,
               score: float, answer: tuple[int, int] | None = None) -> Citation:
        """The citation of ``window`` (document offsets), focused to at most MAX_QUOTE_CHARS
        around ``answer`` (document offsets of the short answer, marked) or the question's terms."""
        document = self.snapshot.documents[doc_id]
        window_start, window_end = window
        keep = None if answer is None else (answer[0] - window_start, answer[1] - window_start)
        focus_start, focus_end = focus_range(document.text[window_start:window_end], question, keep)
        start, end = window_start + focus_start, window_start + focus_end
        return Citation(
            document=document.doc_id,
            title=document.title,
            source=document.source,
            paragraph=paragraph,
            quote=document.text[start:end],
            score=round(score, 4),
            url=document.url,
            start=start,
            end=end,
            clipped_start=start > window_start,
            clipped_end=end < window_end,
            answer_start=None if answer is None else answer[0],
            answer_end=None if answer is None else answer[1],
        )


# Paragraph number of a document's byline when it is cited: its metadata, not its text.
BYLINE = 0

# Words that make a question about the document rather than its subject. Only such a question
# reads the byline: a reader shown "By Joe Leahy in Hong Kong" beside the text answers "who
# leads Uzbekistan?" or "in which city did they meet?" from it (measured on the bundled article).
_ABOUT_THE_DOCUMENT = re.compile(
    r"\b(?:article|story|piece|report|reporting|reported|reporter|reporters|author|authors|"
    r"wrote|written|writer|writes|byline|journalist|journalists|correspondent|filed|dateline|"
    r"published|publication|copyright|document)\b",
    re.IGNORECASE,
)


def about_the_document(question: str) -> bool:
    return bool(_ABOUT_THE_DOCUMENT.search(question))


_WORD = re.compile(r"\S+")


def focus_range(text: str, question: str, keep: tuple[int, int] | None = None,
                limit: int = MAX_QUOTE_CHARS) -> tuple[int, int]:
    """The part of an over-long window to quote: at most ``limit`` characters, cut at word
    boundaries, holding ``keep`` (the short answer) and as many question terms as fit.

    A quote is read in chat, so a 1,200-character sentence is cut to the stretch that matters;
    it is still an exact slice of the document.
    """
    if len(text) <= limit:
        return 0, len(text)
    words = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    question_terms = set(terms(question))
    weight = [len(set(terms(text[a:b])) & question_terms) for a, b in words]
    prefix = [0]
    for w in weight:
        prefix.append(prefix[-1] + w)
    best_score, best_range = -1.0, (0, min(len(text), limit))
    last = 0
    for first in range(len(words)):
        last = max(last, first)
        while last + 1 < len(words) and words[last + 1][1] - words[first][0] <= limit:
            last += 1
        if words[last][1] - words[first][0] > limit:
            continue
        start, end = words[first][0], words[last][1]
        score: float = prefix[last + 1] - prefix[first]
        if keep is not None and start <= keep[0] and keep[1] <= end:
            score += 1000  # the short answer must be in the quote that supports it
        if first == 0 or text[words[first - 1][1] - 1] in ",;:—(":
            score += 0.5  # prefer starting where a clause starts
        matched = [words[i][0] for i in range(first, last + 1) if weight[i]]
        if matched:
            # Among equals, the window that centres the matched terms reads best.
            centre = (matched[0] + matched[-1]) / 2
            score -= 0.1 * abs((start + end) / 2 - centre) / limit
        if score > best_score:
            best_score, best_range = score, (start, end)
    return best_range


def _elapsed(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0

