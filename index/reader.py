"""Readers: given a question and the passages retrieval found, where is the answer, and is it there
at all. The one point where the way CiteBot reads plugs in (``CiteIndex(reader=...)``):

- :class:`ExtractiveReader` — the trained model (index/reader_model/, made by
  index/reader_training.py), served by onnxruntime; the default.
- :class:`HeuristicReader` — the earlier typed-pattern extractor with a logistic refusal over
  retrieval evidence; kept as a baseline and for when the model file is absent.

A reader never builds the reply: :mod:`index.answer` turns its :class:`Reading` into the quote,
the citation and the refusal. Haystack's ExtractiveReader is the model for the shape: answers
with a score and document offsets, and a no-answer score beside them.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .reader_inputs import (
    MAX_ANSWER_TOKENS,
    OUTPUT_NAMES,
    Window,
    batch_arrays,
    encode,
    load_tokenizer,
)
from .search import FEATURES
from .spans import with_conversion

MODEL_DIR = Path(__file__).resolve().parent / "reader_model"
MODEL_FILE = MODEL_DIR / "reader-int8.onnx"
CALIBRATION_FILE = MODEL_DIR / "calibration.json"
READERS = ("extractive", "heuristic")


@dataclass(frozen=True)
class Passage:
    """A stretch of one document handed to a reader, and where it sits in that document."""

    doc_id: str
    paragraph: int
    start: int  # document offset of text[0]
    text: str
    # The best retrieval window inside it (document offsets) and that window's evidence (a row
    # of index.search.FEATURES): what the heuristic reader reads; the trained one reads ``text``
    # and weighs the evidence in its refusal. ``embedding_model``: the index's (Snapshot.model),
    # whose similarities the evidence holds.
    window: tuple[int, int] = (0, 0)
    evidence: np.ndarray | None = field(default=None, compare=False)
    embedding_model: str = ""

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass(frozen=True)
class ReadAnswer:
    passage: int  # index into the passages read
    start: int  # document offsets of the span
    end: int
    text: str
    score: float  # belief, 0-1, that this span is the answer


@dataclass(frozen=True)
class Reading:
    answers: list[ReadAnswer]  # best first; empty when nothing could be read
    answerable: float  # belief, 0-1, that the passages answer the question at all
    refuse: bool  # the reader's calibrated decision that they do not
    confident: bool  # the best span is sure enough to show as the short answer
    # Set by a reader wrapping another (index/llm_reader.py): which one answered, and why the
    # wrapper's own answer was not shown.
    reader: str | None = None
    rejected: str | None = None


class Reader(Protocol):
    name: str

    @property
    def passages_to_read(self) -> int: ...

    def warm_up(self) -> None: ...

    def read(self, question: str, passages: Sequence[Passage]) -> Reading: ...


# --- the trained reader ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """Chosen on the validation articles (never XQuAD) by ``python -m index.reader_training
    calibrate``: how many passages to read, the refusal model over the reader's own scores, and
    how sure a span must be to be shown as the short answer."""

    passages: int = 2
    # Logistic model of "answerable" over the reader's scores of its best span (margin over
    # [CLS], answerability head logit) and the retrieval evidence of the passage holding it
    # (named columns of index.search.FEATURES): the model alone barely tells a question its
    # passage cannot answer from one it can; how closely the passage matches the question tells
    # a lot more, above all when the documents lack the paragraph that would answer
    # (MODEL_CARD.md has the figures).
    margin_weight: float = 0.0
    head_weight: float = 1.0
    evidence_weights: dict[str, float] = field(default_factory=dict)
    # Stand-ins for a passage that comes without retrieval evidence, or with similarities from
    # another embedding model than ``evidence_model``, the one the weights were fitted on (the
    # tests' hashing fake scores on another scale).
    evidence_means: dict[str, float] = field(default_factory=dict)
    evidence_model: str = ""
    bias: float = 0.0
    refuse_below: float = 0.5
    show_span_above: float = 0.3

    @classmethod
    def load(cls, path: Path = CALIBRATION_FILE) -> Calibration:
        if not path.exists():
            return cls()
        data = json.loads(path.read_text())
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def weighs_evidence_from(self, embedding_model: str) -> bool:
        # "all-MiniLM-L6-v2+onnx-int8" is the same model as "all-MiniLM-L6-v2", on another runtime.
        return not self.evidence_model or embedding_model.split("+")[0] == self.evidence_model

    def answerable(self, margin: float, head: float, evidence: np.ndarray | None = None) -> float:
        z = self.bias + self.margin_weight * margin + self.head_weight * head
        for name, weight in self.evidence_weights.items():
            value = (float(evidence[FEATURES.index(name)]) if evidence is not None
                     else self.evidence_means.get(name, 0.0))
            z += weight * value
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


@dataclass(frozen=True)
class WindowScores:
    """What the model says about one window: the best span and the no-answer evidence."""

    span_score: float  # start + end logits of the best span
    null_score: float  # start + end logits at [CLS]
    head: float  # the answerability logit
    probability: float  # geometric mean of softmax(start), softmax(end) at the best span
    start_token: int
    end_token: int
    # softmax over the window's tokens (with [CLS]) of the start and end logits
    p_start: np.ndarray = field(default_factory=lambda: np.zeros(0), compare=False, repr=False)
    p_end: np.ndarray = field(default_factory=lambda: np.zeros(0), compare=False, repr=False)


def answer_span(text: str, window: Window, scores: WindowScores) -> tuple[int, int, float]:
    """The best span of a window as character offsets into ``text`` (the passage), widened to
    an amount with its conversion ("Rmb26bn ($3.7bn)") when it is one of the two, and the
    probability that the answer lies there: the model splits its belief between the amount and
    its conversion, and the two together are one answer."""
    first, last = window.offsets[scores.start_token], window.offsets[scores.end_token]
    assert first is not None and last is not None  # best_window_span keeps to passage tokens
    start, end = with_conversion(text, first[0], last[1])
    if (start, end) == (first[0], last[1]):
        return start, end, scores.probability
    inside = [t for t, span in enumerate(window.offsets)
              if span is not None and start <= span[0] and span[1] <= end]
    return start, end, float(np.sqrt(scores.p_start[inside].sum() * scores.p_end[inside].sum()))


def best_window_span(start: np.ndarray, end: np.ndarray, passage_tokens: np.ndarray,
                     head: float) -> WindowScores:
    """The best span of one window: start <= end < start + MAX_ANSWER_TOKENS, both in the
    passage. Vectorised: a window is at most 256 tokens, so the score matrix is small."""
    start_masked = np.where(passage_tokens, start, -np.inf)
    end_masked = np.where(passage_tokens, end, -np.inf)
    n = len(start)
    scores = start_masked[:, None] + end_masked[None, :]
    offsets = np.arange(n)[None, :] - np.arange(n)[:, None]
    scores = np.where((offsets >= 0) & (offsets < MAX_ANSWER_TOKENS), scores, -np.inf)
    i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
    considered = passage_tokens.copy()
    considered[0] = True  # [CLS] competes: "no answer here" takes probability from every span
    p_start = _softmax(np.where(considered, start, -np.inf))
    p_end = _softmax(np.where(considered, end, -np.inf))
    return WindowScores(
        span_score=float(scores[i, j]),
        null_score=float(start[0] + end[0]),
        head=float(head),
        # Geometric mean of the two ends' probabilities: a product punishes an amount such as
        # "Rmb26bn ($3.7bn)" whose end is shared with the shorter "$3.7bn".
        probability=float(np.sqrt(p_start[i] * p_end[j])),
        start_token=int(i),
        end_token=int(j),
        p_start=p_start,
        p_end=p_end,
    )


def _similar_lengths(windows: list) -> list[list[int]]:
    """Window indices grouped so that each model run pads little: a short byline read in one
    batch with two long paragraphs would cost as much as a third paragraph."""
    order = sorted(range(len(windows)), key=lambda i: len(windows[i].ids))
    groups: list[list[int]] = []
    for i in order:
        if groups and len(windows[i].ids) <= 1.5 * len(windows[groups[-1][0]].ids):
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - np.max(values))
    return shifted / shifted.sum()


# One onnxruntime session per model file and thread count, shared by every reader in the
# process: each CiteIndex (a bot's, the benchmarks', a test's) would otherwise load its own copy.
_sessions: dict[tuple[str, int], object] = {}
_sessions_lock = threading.Lock()


def _session(model_file: Path, threads: int):
    import onnxruntime

    key = (str(model_file.resolve()), threads)
    with _sessions_lock:
        if key not in _sessions:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            _sessions[key] = onnxruntime.InferenceSession(
                str(model_file), options, providers=["CPUExecutionProvider"]
            )
        return _sessions[key]


class ExtractiveReader:
    """The trained reader on onnxruntime; torch is never imported to serve it."""

    name = "extractive"

    def __init__(self, model_file: str | Path = MODEL_FILE, *, threads: int | None = None,
                 calibration: Calibration | None = None):
        self.model_file = Path(model_file)
        self.threads = threads
        self.calibration = calibration or Calibration.load(self.model_file.parent / CALIBRATION_FILE.name)
        self._session: Any = None  # loaded in warm_up: its library is imported only then
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @property
    def passages_to_read(self) -> int:
        return self.calibration.passages

    def warm_up(self) -> None:
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            from .embedders import bundled_model_path

            if not self.model_file.exists():
                raise FileNotFoundError(
                    f"The reader model {self.model_file} is missing; reinstall CiteBot, or set "
                    "CITEBOT_READER=heuristic."
                )
            session = _session(self.model_file, self.threads or max(1, os.cpu_count() or 1))
            self._tokenizer = load_tokenizer(bundled_model_path())
            self._session = session
        self.read("warm up", [Passage("", 1, 0, "The first question pays for loading.")])

    def score_windows(self, question: str, passages: Sequence[Passage]):
        """Every window of every passage with the model's scores (for the reader and for
        calibration)."""
        self.warm_up()
        windows, owners = [], []
        for number, passage in enumerate(passages):
            for window in encode(self._tokenizer, question, passage.text):
                windows.append(window)
                owners.append(number)
        results: list = [None] * len(windows)
        for group in _similar_lengths(windows):
            start, end, head = self._session.run(
                list(OUTPUT_NAMES), batch_arrays([windows[i] for i in group])
            )
            for row, i in enumerate(group):
                window = windows[i]
                tokens = np.zeros(start.shape[1], dtype=bool)
                tokens[: len(window.offsets)] = [span is not None for span in window.offsets]
                results[i] = (owners[i], window,
                              best_window_span(start[row], end[row], tokens, head[row]))
        return results

    def read(self, question: str, passages: Sequence[Passage]) -> Reading:
        if not passages:
            return Reading([], 0.0, True, False)
        scored = self.score_windows(question, passages)
        answers = []
        for owner, window, scores in sorted(scored, key=lambda r: -r[2].span_score):
            passage = passages[owner]
            start, end, probability = answer_span(passage.text, window, scores)
            answers.append(ReadAnswer(
                passage=owner,
                start=passage.start + start,
                end=passage.start + end,
                text=passage.text[start:end],
                score=probability,
            ))
        owner, _, best = max(scored, key=lambda r: r[2].span_score)
        calibration = self.calibration
        held = passages[owner]
        evidence = held.evidence if calibration.weighs_evidence_from(held.embedding_model) else None
        answerable = calibration.answerable(best.span_score - best.null_score, best.head, evidence)
        return Reading(
            answers=answers,
            answerable=answerable,
            refuse=answerable < calibration.refuse_below,
            confident=answers[0].score >= calibration.show_span_above,
        )


# --- the heuristic reader ------------------------------------------------------------------------


class HeuristicReader:
    """Typed patterns (index/spans.py) over the best retrieval window, and a logistic refusal
    over that window's retrieval evidence (index/weights.json): CiteBot's reader before the
    trained one, kept as the benchmark's baseline."""

    name = "heuristic"
    passages_to_read = 1

    def __init__(self, accept: Callable[[np.ndarray], float], threshold: float,
                 idf: Callable[[str], float]):
        self._accept = accept
        self._threshold = threshold
        self._idf = idf

    def warm_up(self) -> None:
        pass

    def read(self, question: str, passages: Sequence[Passage]) -> Reading:
        from .spans import extract

        if not passages:
            return Reading([], 0.0, True, False)
        passage = passages[0]
        offset = passage.window[0] - passage.start
        window_text = passage.text[offset : passage.window[1] - passage.start]
        confidence = self._accept(passage.evidence) if passage.evidence is not None else 0.0
        found = extract(question, window_text, self._idf)
        if found:
            answer = ReadAnswer(0, passage.window[0] + found.start, passage.window[0] + found.end,
                                found.text, 1.0)
        else:
            answer = ReadAnswer(0, passage.window[0], passage.window[1], window_text, 0.0)
        return Reading([answer], confidence, confidence < self._threshold, bool(found))
