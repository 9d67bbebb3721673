"""What the trained reader sees: a question and a passage tokenised as one pair, and the names of
the model's inputs and outputs. Training (index/reader_training.py) and serving (index/reader.py)
both build their inputs here, so the model is served exactly as it was trained. No torch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# The model's graph, as exported to ONNX and as fed by the trainer.
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAMES = ("start_logits", "end_logits", "answerable_logit")

MAX_TOKENS = 256  # question + passage; SQuAD paragraphs fit in one window almost always
STRIDE = 96  # overlap between windows of a passage longer than MAX_TOKENS
MAX_QUESTION_TOKENS = 48
MAX_ANSWER_TOKENS = 30


@dataclass(frozen=True)
class Window:
    """One tokenised (question, passage) pair, or one stretch of a long passage."""

    ids: list[int]
    type_ids: list[int]
    # Character span in the passage for each token; None for question and special tokens.
    offsets: list[tuple[int, int] | None]

    @property
    def first_passage_token(self) -> int:
        return next(i for i, span in enumerate(self.offsets) if span is not None)


def load_tokenizer(model_dir: str | Path):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS, stride=STRIDE, strategy="only_second")
    return tokenizer


def _question_ids_limit(tokenizer, question: str) -> str:
    # "only_second" truncation fails outright when the question alone overflows the window; keep
    # the question's first tokens instead (a question that long is rare and mostly noise).
    encoding = tokenizer.encode(question, add_special_tokens=False)
    if len(encoding.ids) <= MAX_QUESTION_TOKENS:
        return question
    return question[: encoding.offsets[MAX_QUESTION_TOKENS - 1][1]]


def encode(tokenizer, question: str, passage: str) -> list[Window]:
    """The windows that cover ``passage`` for ``question`` (one unless the passage is long)."""
    question = _question_ids_limit(tokenizer, question)
    first = tokenizer.encode(question, passage)
    windows = []
    for encoding in [first, *first.overflowing]:
        offsets = [
            span if sequence == 1 else None
            for span, sequence in zip(encoding.offsets, encoding.sequence_ids, strict=True)
        ]
        windows.append(Window(list(encoding.ids), list(encoding.type_ids), offsets))
    return windows


def batch_arrays(windows: list[Window]) -> dict[str, np.ndarray]:
    """The model's inputs for ``windows``, padded to the longest."""
    width = max(len(w.ids) for w in windows)
    ids = np.zeros((len(windows), width), dtype=np.int64)
    types = np.zeros_like(ids)
    mask = np.zeros_like(ids)
    for row, window in enumerate(windows):
        ids[row, : len(window.ids)] = window.ids
        types[row, : len(window.ids)] = window.type_ids
        mask[row, : len(window.ids)] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
