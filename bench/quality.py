"""Answer quality on XQuAD English, through CiteBot's normal ingest and answer paths.

    python -m bench.quality            # measure, print, and update BENCHMARKS.md
    python -m bench.quality --fit      # also learn index/weights.json on the tuning half first
    citebot bench quality [--fit]      # the same

Each XQuAD article becomes one document (paragraphs kept) added with ``CiteIndex.add``; every
question is asked with ``CiteIndex.ask``. Articles 1-24 are the tuning half (the only data
``--fit`` sees); articles 25-48 are held out. Unanswerable questions (XQuAD has none) are
hand-written in ``bench/data/unanswerable.jsonl``: same topics, answer absent.

Two baselines run in the same process on the same index: dense-only sentence retrieval (FAISS
top sentence) and BM25-only (bm25s top sentence); their short answer is the whole sentence and
their refusal is a threshold on their own top score, set on the tuning half to refuse at most 5%
of answerable questions.
"""

from __future__ import annotations

import argparse
import json
import re
import string
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
XQUAD = ROOT.parent / "shared" / "eval" / "xquad.en.json"
UNANSWERABLE = Path(__file__).with_name("data") / "unanswerable.jsonl"
BENCHMARKS = ROOT / "BENCHMARKS.md"
TUNING_ARTICLES = 24
MAX_FALSE_REFUSALS = 0.05
QUALITY_HEADING = "## Answer quality (XQuAD English)"


@dataclass
class Question:
    text: str
    article: int
    paragraph: int | None  # 1-based gold paragraph; None when unanswerable
    answers: list[str] = field(default_factory=list)

    @property
    def answerable(self) -> bool:
        return self.paragraph is not None

    @property
    def split(self) -> str:
        return "tuning" if self.article < TUNING_ARTICLES else "held-out"


def load_xquad(path: Path = XQUAD) -> tuple[list[dict], list[Question]]:
    data = json.loads(path.read_text())["data"]
    questions = []
    for a, article in enumerate(data):
        for p, paragraph in enumerate(article["paragraphs"], start=1):
            for qa in paragraph["qas"]:
                questions.append(
                    Question(qa["question"], a, p, [x["text"] for x in qa["answers"]])
                )
    for line in UNANSWERABLE.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            questions.append(Question(row["question"], int(row["article"]), None))
    return data, questions


def write_articles(data: list[dict], folder: Path) -> list[Path]:
    """One plain-text file per article: a title line, then the paragraphs, blank-line separated."""
    paths = []
    for a, article in enumerate(data):
        title = article["title"].replace("_", " ")
        body = "\n\n".join(" ".join(p["context"].split()) for p in article["paragraphs"])
        path = folder / f"xquad-{a:02d}.txt"
        path.write_text(f"{title}\n\n{body}\n", encoding="utf-8")
        paths.append(path)
    return paths


# --- SQuAD's answer normalisation and scores (the official evaluation script's definitions) ----


def normalise(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, golds: list[str]) -> float:
    return max(float(normalise(prediction) == normalise(g)) for g in golds)


def f1(prediction: str, golds: list[str]) -> float:
    def one(gold: str) -> float:
        p, g = normalise(prediction).split(), normalise(gold).split()
        common = sum((Counter(p) & Counter(g)).values())
        if common == 0:
            return 0.0
        precision, recall = common / len(p), common / len(g)
        return 2 * precision * recall / (precision + recall)

    return max(one(g) for g in golds)


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    question: Question
    answered: bool
    passage_hit: bool
    paragraph_rank: int | None  # 1-based rank of the gold paragraph among cited paragraphs
    em: float
    f1: float
    latency_ms: float
    quote_chars: int
    score: float = 0.0


def summarise(outcomes: list[Outcome]) -> dict[str, float]:
    answerable = [o for o in outcomes if o.question.answerable]
    unanswerable = [o for o in outcomes if not o.question.answerable]
    ranks = [o.paragraph_rank for o in answerable]

    def share(values) -> float:
        values = list(values)
        return float(np.mean(values)) if values else float("nan")

    latencies = [o.latency_ms for o in outcomes]
    return {
        "questions": len(answerable),
        "unanswerable": len(unanswerable),
        "passage@1": share(o.passage_hit for o in answerable),
        "paragraph@1": share(r == 1 for r in ranks),
        "paragraph@5": share(r is not None and r <= 5 for r in ranks),
        "mrr": share(1.0 / r if r else 0.0 for r in ranks),
        "em": share(o.em for o in answerable),
        "f1": share(o.f1 for o in answerable),
        "answerable_refused": share(not o.answered for o in answerable),
        "unanswerable_refused": share(not o.answered for o in unanswerable),
        "p50_ms": float(np.percentile(latencies, 50)),
        "p95_ms": float(np.percentile(latencies, 95)),
        "max_quote_chars": max(o.quote_chars for o in outcomes),
    }


def paragraph_of(doc_id: str, paragraph: int, article_of: dict[str, int]) -> tuple[int, int]:
    return article_of[doc_id], paragraph


def run_citebot(index, questions, article_of) -> list[Outcome]:
    outcomes = []
    for q in questions:
        answer = index.ask(q.text, top=10)
        cited = [paragraph_of(c.document, c.paragraph, article_of) for c in answer.citations]
        gold = (q.article, q.paragraph)
        rank = cited.index(gold) + 1 if q.answerable and gold in cited else None
        best = answer.citations[0]
        outcomes.append(
            Outcome(
                question=q,
                answered=answer.answered,
                passage_hit=bool(q.answerable and any(g in best.quote for g in q.answers)),
                paragraph_rank=rank,
                em=exact_match(answer.answer, q.answers) if q.answerable else 0.0,
                f1=f1(answer.answer, q.answers) if q.answerable else 0.0,
                latency_ms=answer.latency_ms,
                quote_chars=len(best.quote),
            )
        )
    return outcomes


def run_baseline(kind: str, index, questions, article_of) -> list[Outcome]:
    """Top sentence by one retriever alone; the sentence is the answer."""
    from index.search import terms

    snapshot = index.snapshot()
    retriever = index.answerer.retriever
    embedder = index.embedder
    outcomes = []
    for q in questions:
        started = time.perf_counter()
        if kind == "dense":
            vector = embedder.embed_query(q.text).reshape(1, -1)
            scores, ids = retriever.sentence_index.search(vector, 50)
            order, top_scores = ids[0].tolist(), scores[0].tolist()
        else:
            raw = retriever.sentence_bm25.get_scores(terms(q.text) or ["\x00"])
            order = np.argsort(-raw)[:50].tolist()
            top_scores = [float(raw[i]) for i in order]
        latency = (time.perf_counter() - started) * 1000
        sentences = [snapshot.sentences[i] for i in order]
        cited: list[tuple[int, int]] = []
        for s in sentences:
            key = paragraph_of(s.doc_id, s.paragraph, article_of)
            if key not in cited:
                cited.append(key)
        best_text = snapshot.sentence_text(sentences[0])
        gold = (q.article, q.paragraph)
        outcomes.append(
            Outcome(
                question=q,
                answered=True,
                passage_hit=bool(q.answerable and any(g in best_text for g in q.answers)),
                paragraph_rank=cited.index(gold) + 1 if q.answerable and gold in cited[:10] else None,
                em=exact_match(best_text, q.answers) if q.answerable else 0.0,
                f1=f1(best_text, q.answers) if q.answerable else 0.0,
                latency_ms=latency,
                quote_chars=len(best_text),
                score=top_scores[0],
            )
        )
    # One score, one threshold: set on the tuning half so that at most 5% of answerable
    # questions are refused, then applied everywhere.
    tuning_scores = sorted(o.score for o in outcomes if o.question.answerable and o.question.split == "tuning")
    threshold = tuning_scores[int(MAX_FALSE_REFUSALS * len(tuning_scores))]
    for o in outcomes:
        o.answered = o.score >= threshold
    return outcomes


def measure_floor(embedder, questions) -> list[float]:
    timings = []
    for q in questions:
        started = time.perf_counter()
        embedder.embed_query(q.text)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def build(home: Path, data, embedder):
    from index.engine import CiteIndex

    index = CiteIndex(home, embedder=embedder)
    folder = home / "xquad-docs"
    folder.mkdir(parents=True, exist_ok=True)
    paths = write_articles(data, folder)
    index.add(paths)
    index.warm_up()
    article_of = {}
    for document in index.documents():
        article = int(Path(document.source).stem.split("-")[1])
        article_of[document.doc_id] = article
        expected = len(data[article]["paragraphs"])
        if len(document.paragraphs) != expected:
            raise SystemExit(f"{document.doc_id}: {len(document.paragraphs)} paragraphs, expected {expected}")
    return index, article_of


def evaluate(index, article_of, questions) -> dict[str, dict[str, dict[str, float]]]:
    embedder = index.embedder
    for q in questions[:20]:  # warm caches so the first questions don't carry start-up costs
        index.ask(q.text)
    results: dict[str, dict[str, dict[str, float]]] = {}
    citebot = run_citebot(index, questions, article_of)
    floor = measure_floor(embedder, questions)
    dense = run_baseline("dense", index, questions, article_of)
    bm25 = run_baseline("bm25", index, questions, article_of)
    for name, outcomes in (("CiteBot", citebot), ("dense only", dense), ("BM25 only", bm25)):
        results[name] = {
            split: summarise([o for o in outcomes if o.question.split == split])
            for split in ("tuning", "held-out")
        }
    results["floor"] = {
        "all": {"p50_ms": float(np.percentile(floor, 50)), "p95_ms": float(np.percentile(floor, 95))}
    }
    return results


# --- fitting -----------------------------------------------------------------------------------


def fit_weights(index, article_of, questions) -> dict:
    """Learn the rank weights on the tuning half only: logistic regression over every candidate
    window, label "it contains the gold answer" (pointwise; a pairwise variant on feature
    differences measured worse here). The refusal (accept) weights are kept as they are: 48
    tuning unanswerable questions written as hard negatives are too few to fit them without
    hurting paraphrased questions."""
    from sklearn.linear_model import LogisticRegression

    from index.answer import FEATURES, WEIGHTS_FILE

    answerer = index.answerer
    rows, labels = [], []
    for q in questions:
        if q.split != "tuning" or not q.answerable:
            continue
        ranking = answerer.rank(q.text)
        for candidate, feature_row in zip(ranking.candidates, ranking.features):
            rows.append(feature_row)
            labels.append(int(any(g in answerer.window_text(candidate) for g in q.answers)))
    ranker = LogisticRegression(C=1.0, max_iter=5000, class_weight="balanced")
    ranker.fit(np.array(rows), np.array(labels))
    current = json.loads(WEIGHTS_FILE.read_text())
    current["rank"] = {k: round(float(v), 5) for k, v in zip(FEATURES, ranker.coef_[0])}
    current["note"] = (
        "rank: learned by `python -m bench.quality --fit` on XQuAD articles 1-24 only; "
        "accept: set by hand so the bundled article's tests hold, to be calibrated (issue 3)."
    )
    return current


# --- reporting ---------------------------------------------------------------------------------


def table(results) -> str:
    columns = [
        ("passage@1", "passage@1", "{:.3f}"),
        ("paragraph@1", "paragraph@1", "{:.3f}"),
        ("paragraph@5", "paragraph@5", "{:.3f}"),
        ("MRR", "mrr", "{:.3f}"),
        ("EM", "em", "{:.3f}"),
        ("F1", "f1", "{:.3f}"),
        ("answerable refused", "answerable_refused", "{:.3f}"),
        ("unanswerable refused", "unanswerable_refused", "{:.3f}"),
        ("p50 ms", "p50_ms", "{:.1f}"),
        ("p95 ms", "p95_ms", "{:.1f}"),
    ]
    lines = ["| pipeline | half | " + " | ".join(c[0] for c in columns) + " |",
             "|---|---|" + "---|" * len(columns)]
    for split in ("held-out", "tuning"):
        for name in ("CiteBot", "dense only", "BM25 only"):
            row = results[name][split]
            cells = [fmt.format(row[key]) for _, key, fmt in columns]
            lines.append(f"| {name} | {split} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(results, *, command: str, seconds: float) -> str:
    floor = results["floor"]["all"]
    held = results["CiteBot"]["held-out"]
    p95_ratio = held["p95_ms"] / floor["p95_ms"]
    counts = results["CiteBot"]
    return f"""{QUALITY_HEADING}

Command: `{command}` — {seconds:.0f} s on this machine (2 cores).

Corpus: the 48 XQuAD articles (240 paragraphs) as 48 documents through `CiteIndex.add`;
{counts['held-out']['questions'] + counts['tuning']['questions']} answerable questions and
{counts['held-out']['unanswerable'] + counts['tuning']['unanswerable']} hand-written
unanswerable ones (`bench/data/unanswerable.jsonl`). Tuning half: articles 1–24 (the only data
weights are fitted on); held-out: articles 25–48. Baselines use the same index, model and units;
their answer is the top sentence and their refusal a threshold on their top score set on the
tuning half (≤ 5% answerable refused).

{table(results)}

Query-encoding floor (the same model encoding the question alone, same run):
p50 {floor['p50_ms']:.1f} ms, p95 {floor['p95_ms']:.1f} ms. CiteBot held-out p95 is
{p95_ratio:.2f}× the floor p95. Longest quote: {held['max_quote_chars']} characters.
"""


def update_benchmarks(section: str, path: Path = BENCHMARKS, heading: str = QUALITY_HEADING) -> None:
    """Replace the section under ``heading`` in BENCHMARKS.md (append it when absent), leaving
    the other benchmarks' sections as they are."""
    text = path.read_text() if path.exists() else (
        "# Benchmarks\n\nFigures from one run each; ratios compare numbers measured in the same run.\n"
    )
    if heading + "\n" in text:
        start = text.index(heading + "\n")
        following = text.find("\n## ", start + len(heading))
        text = text[:start] + section.rstrip() + "\n" + (text[following:] if following != -1 else "")
    else:
        text = text.rstrip() + "\n\n" + section.rstrip() + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="learn index/weights.json first")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    parser.add_argument("--xquad", type=Path, default=XQUAD)
    parser.add_argument("--encoder", choices=("torch", "onnx", "onnx-int8"), default="torch",
                        help="how the model runs (as CITEBOT_ENCODER); ONNX exports are kept "
                        "under CITEBOT_HOME/models")
    args = parser.parse_args(argv)

    from bot.settings import get_settings
    from index.answer import WEIGHTS_FILE, Weights
    from index.embedders import model_embedder

    started = time.perf_counter()
    data, questions = load_xquad(args.xquad)
    embedder = model_embedder(args.encoder, models_dir=get_settings().home / "models")
    with tempfile.TemporaryDirectory(prefix="citebot-quality-") as home:
        index, article_of = build(Path(home), data, embedder)
        if args.fit:
            weights = fit_weights(index, article_of, questions)
            WEIGHTS_FILE.write_text(json.dumps(weights, indent=2) + "\n")
            print(f"wrote {WEIGHTS_FILE}")
            index.answerer.use_weights(Weights.load())
        results = evaluate(index, article_of, questions)
    seconds = time.perf_counter() - started
    command = "python -m bench.quality" + (" --fit" if args.fit else "") + (
        f" --encoder {args.encoder}" if args.encoder != "torch" else "")
    section = report(results, command=command, seconds=seconds)
    print(section)
    if not args.no_write:
        update_benchmarks(section)
    return results


if __name__ == "__main__":
    main()
