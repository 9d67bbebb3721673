"""Answer quality through CiteBot's normal ingest and answer paths, every row in one run.

    python -m bench.quality            # measure, print, and update BENCHMARKS.md
    citebot bench quality              # the same

Each pipeline row is the same index and retrieval read by a different reader: ``heuristic``
(the typed-pattern extractor CiteBot had before the trained reader: the baseline) and
``extractive`` (the trained reader, index/reader_model/).

- XQuAD English: the 48 articles are the corpus; only the 16 articles that are in no training
  file are asked (../shared/train/README.md), plus the hand-written unanswerable questions about
  them (bench/data/unanswerable.jsonl).
- Validation articles (SQuAD 2.0, held out from training; thresholds were chosen on them): those
  articles as the corpus, their own answerable and unanswerable questions, refusals at the chosen
  threshold and at others.
- The bundled article: paraphrased questions and out-of-scope ones (bench/data/
  bundled_questions.jsonl).
- Latency of the whole answer path beside retrieval alone, same run.
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
BUNDLED = Path(__file__).with_name("data") / "bundled_questions.jsonl"
CORPUS = ROOT / "corpus"
# The XQuAD articles in neither training file: the only clean test (../shared/train/README.md).
CLEAN_ARTICLES = frozenset({
    "Super_Bowl_50", "Normans", "Nikola_Tesla", "Computational_complexity_theory", "Teacher",
    "Martin_Luther", "Apollo_program", "Newcastle_upon_Tyne", "Victoria_and_Albert_Museum",
    "American_Broadcasting_Company", "Genghis_Khan", "Doctor_Who", "Kenya", "Chloroplast", "Rhine",
    "United_Methodist_Church",
})
READERS = ("heuristic", "extractive")
BENCHMARKS = ROOT / "BENCHMARKS.md"
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



def load_xquad(path: Path = XQUAD, *, clean_only: bool = False) -> tuple[list[dict], list[Question]]:
    """The articles and their questions; ``clean_only``: only the clean articles' questions."""
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
    if clean_only:
        questions = [q for q in questions if data[q.article]["title"] in CLEAN_ARTICLES]
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

# A shown short answer is "wrong" when it shares less than half its words with every gold answer.
WRONG_BELOW_F1 = 0.5


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
    span_shown: bool = False  # a short answer (not the whole quote) was shown


def summarise(outcomes: list[Outcome]) -> dict[str, float]:
    answerable = [o for o in outcomes if o.question.answerable]
    unanswerable = [o for o in outcomes if not o.question.answerable]
    ranks = [o.paragraph_rank for o in answerable]

    def share(values) -> float:
        values = list(values)
        return float(np.mean(values)) if values else float("nan")

    latencies = [o.latency_ms for o in outcomes]
    shown = [o for o in outcomes if o.answered and o.span_shown]
    return {
        "questions": len(answerable),
        "unanswerable": len(unanswerable),
        "passage@1": share(o.passage_hit for o in answerable),
        "paragraph@1": share(r == 1 for r in ranks),
        "em": share(o.em for o in answerable),
        "f1": share(o.f1 for o in answerable),
        "spans_shown": len(shown),
        # Of the short answers shown (unanswerable questions answered count as wrong).
        "wrong_shown": share(not o.question.answerable or o.f1 < WRONG_BELOW_F1 for o in shown),
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
        shown = answer.answer if answer.answered else ""
        outcomes.append(
            Outcome(
                question=q,
                answered=answer.answered,
                passage_hit=bool(q.answerable and any(g in best.quote for g in q.answers)),
                paragraph_rank=rank,
                em=exact_match(shown, q.answers) if q.answerable else 0.0,
                f1=f1(shown, q.answers) if q.answerable else 0.0,
                latency_ms=answer.latency_ms,
                quote_chars=len(best.quote),
                span_shown=answer.answered and answer.answer != best.quote,
            )
        )
    return outcomes


def retrieval_latencies(index, questions) -> list[float]:
    """The same questions through ranking alone: what the reader adds is the difference."""
    answerer = index.answerer
    timings = []
    for q in questions:
        started = time.perf_counter()
        answerer.rank(q.text)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def build(home: Path, data, embedder, reader="extractive"):
    from index.engine import CiteIndex

    index = CiteIndex(home, embedder=embedder, reader=reader)
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


def use_reader(index, name: str) -> None:
    from index.engine import make_reader

    index.answerer.use_reader(make_reader(name) if name != "heuristic" else None)


def evaluate_xquad(index, article_of, questions) -> dict:
    results = {}
    for name in READERS:
        use_reader(index, name)
        for q in questions[:20]:  # warm caches so the first questions carry no start-up costs
            index.ask(q.text)
        results[name] = summarise(run_citebot(index, questions, article_of))
    retrieval = retrieval_latencies(index, questions)
    results["retrieval"] = {"p50_ms": float(np.percentile(retrieval, 50)),
                            "p95_ms": float(np.percentile(retrieval, 95))}
    return results


# --- validation articles ---------------------------------------------------------------------------


def evaluate_validation(embedder, home: Path) -> dict:
    """Refusals on the validation articles: the trained reader at its chosen threshold and at
    others, the heuristic one as it stands."""
    from index import reader_training as training
    from index.reader import Calibration, ExtractiveReader

    _, validation = training.split(training.load_examples(training.DEFAULT_DATA_DIR))
    index = training.validation_index(home, validation, embedder)
    reader = ExtractiveReader()
    calibration = reader.calibration
    k = calibration.passages
    reads = training.read_validation(index, reader, validation)
    without, asked = training.removed_paragraph_index(home / "removed", validation, embedder)
    removed_reads = training.read_validation(without, reader, asked, removed=True)
    answerable = np.array([r.example.answerable for r in reads])

    def beliefs(of: list) -> np.ndarray:
        return np.array([calibration.answerable(r.margins[k - 1], r.heads[k - 1], r.evidence[k - 1])
                         for r in of])

    belief, removed_belief = beliefs(reads), beliefs(removed_reads)
    rows = []
    for threshold in sorted({0.2, 0.35, 0.5, 0.65, 0.8, calibration.refuse_below}):
        refused = belief < threshold
        rows.append({"threshold": threshold, "chosen": threshold == calibration.refuse_below,
                     "unanswerable_refused": float(refused[~answerable].mean()),
                     "removed_refused": float((removed_belief < threshold).mean()),
                     "answerable_refused": float(refused[answerable].mean())})
    # The heuristic reader's refusals, through the normal answer path on the same index.
    index.answerer.use_reader(None)
    heuristic = [not index.ask(r.example.question).answered for r in reads]
    heuristic = np.array(heuristic)
    return {
        "questions": len(reads),
        "unanswerable": int((~answerable).sum()),
        "removed_questions": len(removed_reads),
        "rows": rows,
        "heuristic": {"unanswerable_refused": float(heuristic[~answerable].mean()),
                      "answerable_refused": float(heuristic[answerable].mean())},
        "calibration": Calibration.load().__dict__,
        "f1_answerable": float(np.mean([training.span_f1(r, k) for r in reads if r.example.answerable])),
    }


# --- the bundled article ---------------------------------------------------------------------------


def load_bundled(path: Path = BUNDLED) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def evaluate_bundled(embedder, home: Path) -> dict:
    from index.engine import CiteIndex

    index = CiteIndex(home, embedder=embedder, corpus=CORPUS)
    index.warm_up()
    rows = load_bundled()
    results = {}
    for name in READERS:
        use_reader(index, name)
        cited = right = refused_out = metadata_right = 0
        paraphrased = [r for r in rows if r["answerable"] and "sentence" in r]
        out_of_scope = [r for r in rows if not r["answerable"]]
        about_document = [r for r in rows if r["answerable"] and "metadata" in r]
        for row in paraphrased:
            answer = index.ask(row["question"])
            best = answer.best
            document = index.snapshot().documents[best.document] if best else None
            where = document.text.find(row["sentence"]) if document else -1
            if best and where >= 0 and best.start < where + len(row["sentence"]) and best.end > where:
                cited += 1
            if answer.answered and f1(answer.answer, row["answers"]) >= 0.67:
                right += 1
        for row in out_of_scope:
            refused_out += not index.ask(row["question"]).answered
        for row in about_document:
            answer = index.ask(row["question"])
            metadata_right += answer.answered and f1(answer.answer, row["answers"]) >= 0.67
        results[name] = {
            "paraphrased": len(paraphrased),
            "right_sentence": cited / len(paraphrased),
            "right_short": right / len(paraphrased),
            "out_of_scope": len(out_of_scope),
            "out_of_scope_refused": refused_out / len(out_of_scope),
            "about_document": len(about_document),
            "about_document_right": metadata_right / max(1, len(about_document)),
        }
    return results


# --- reporting ---------------------------------------------------------------------------------


def table(results) -> str:
    columns = [
        ("passage@1", "passage@1", "{:.3f}"),
        ("EM", "em", "{:.3f}"),
        ("F1", "f1", "{:.3f}"),
        ("short answers shown", "spans_shown", "{:d}"),
        ("of them wrong", "wrong_shown", "{:.3f}"),
        ("answerable refused", "answerable_refused", "{:.3f}"),
        ("unanswerable refused", "unanswerable_refused", "{:.3f}"),
        ("p50 ms", "p50_ms", "{:.1f}"),
        ("p95 ms", "p95_ms", "{:.1f}"),
    ]
    lines = ["| reader | " + " | ".join(c[0] for c in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for name in READERS:
        row = results[name]
        lines.append(f"| {name} | " + " | ".join(fmt.format(row[key]) for _, key, fmt in columns) + " |")
    return "\n".join(lines)


def report(results, *, command: str, seconds: float) -> str:
    xquad, validation, bundled = results["xquad"], results["validation"], results["bundled"]
    trained = xquad["extractive"]
    retrieval = xquad["retrieval"]
    threshold_rows = "\n".join(
        f"| {row['threshold']:.3f}{' (chosen)' if row['chosen'] else ''} | "
        f"{row['unanswerable_refused']:.3f} | {row['removed_refused']:.3f} | {row['answerable_refused']:.3f} |"
        for row in validation["rows"]
    )
    heuristic = validation["heuristic"]
    bundled_rows = "\n".join(
        f"| {name} | {b['right_sentence']:.3f} | {b['right_short']:.3f} | "
        f"{b['out_of_scope_refused']:.3f} | {b['about_document_right']:.3f} |"
        for name, b in bundled.items()
    )
    counts = bundled["extractive"]
    return f"""{QUALITY_HEADING}

Command: `{command}` — {seconds:.0f} s on this machine (2 cores), every row in one run. Readers:
`heuristic` is the typed-pattern extractor CiteBot answered with before (the baseline);
`extractive` is the trained reader (index/reader_model/MODEL_CARD.md). Same index, same retrieval.

### XQuAD English, clean articles

Corpus: all 48 XQuAD articles as 48 documents through `CiteIndex.add`. Questions: only the 16
articles that are in no training file — {trained['questions']} answerable and
{trained['unanswerable']} hand-written unanswerable (`bench/data/unanswerable.jsonl`). A refused
answerable question scores 0; "of them wrong": shown short answers with F1 < {WRONG_BELOW_F1}
(an unanswerable question answered with a span counts as wrong).

{table(xquad)}

Latency: retrieval alone (embed the question, search, rank) p50 {retrieval['p50_ms']:.1f} ms,
p95 {retrieval['p95_ms']:.1f} ms; the whole path with the trained reader p50
{trained['p50_ms']:.1f} ms, p95 {trained['p95_ms']:.1f} ms (×{trained['p95_ms'] / retrieval['p95_ms']:.2f}
at p95). Longest quote: {trained['max_quote_chars']} characters.

### Validation articles (held out from training; thresholds chosen here)

Corpus: the {len(validation['calibration'].get('validation', {}).get('articles', [])) or 6} validation articles; their own {validation['questions']} questions
({validation['unanswerable']} unanswerable), through CiteBot's retrieval and the trained reader
reading {validation['calibration']['passages']} passage(s). Answerable F1 (never refusing):
{validation['f1_answerable']:.3f}. "Paragraph removed": {validation['removed_questions']} answerable
questions asked of the articles with every other paragraph left out (theirs among them, and no
other passage read holds the answer) — the out-of-scope question on the same subject. The refusal
model was fitted on these same reads, so its rows are in-sample; XQuAD above and the bundled
article below are not.

| refuse when P(answerable) < | unanswerable refused | paragraph removed, refused | answerable refused |
|---|---|---|---|
{threshold_rows}

The heuristic reader on the same questions: {heuristic['unanswerable_refused']:.3f} of
unanswerable refused, {heuristic['answerable_refused']:.3f} of answerable refused.

### The bundled article

{counts['paraphrased']} questions written in words the article does not use, {counts['out_of_scope']}
out-of-scope questions about the same region and people, and {counts['about_document']} about the
document itself (`bench/data/bundled_questions.jsonl`). "Right short answer": answered, F1 ≥ 0.67
against the gold span.

| reader | cites the right sentence | right short answer | out-of-scope refused | about the document right |
|---|---|---|---|---|
{bundled_rows}
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
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    parser.add_argument("--xquad", type=Path, default=XQUAD)
    parser.add_argument("--encoder", choices=("torch", "onnx", "onnx-int8"), default="torch",
                        help="how the model runs (as CITEBOT_ENCODER); ONNX exports are kept "
                        "under CITEBOT_HOME/models")
    parser.add_argument("--llm", action="store_true", help="also read the XQuAD questions with "
                        "the language model at CITEBOT_LLM_URL (not in CI); printed, not written")
    args = parser.parse_args(argv)

    from bot.settings import get_settings
    from index.embedders import model_embedder

    started = time.perf_counter()
    data, questions = load_xquad(args.xquad, clean_only=True)
    embedder = model_embedder(args.encoder, models_dir=get_settings().home / "models")
    results = {}
    with tempfile.TemporaryDirectory(prefix="citebot-quality-") as home:
        index, article_of = build(Path(home) / "xquad", data, embedder)
        results["xquad"] = evaluate_xquad(index, article_of, questions)
        if args.llm:
            results["llm"] = evaluate_llm(index, article_of, questions)
        results["validation"] = evaluate_validation(embedder, Path(home) / "validation")
        results["bundled"] = evaluate_bundled(embedder, Path(home) / "bundled")
    seconds = time.perf_counter() - started
    command = "python -m bench.quality" + (f" --encoder {args.encoder}" if args.encoder != "torch" else "")
    section = report(results, command=command, seconds=seconds)
    print(section)
    if args.llm:
        print(llm_report(results["llm"]))
    if not args.no_write:
        update_benchmarks(section)
    return results


# --- with a language model (--llm; not in CI: it needs a configured endpoint) --------------------


def evaluate_llm(index, article_of, questions) -> dict:
    """The XQuAD questions read by the model at CITEBOT_LLM_URL over the trained reader: the same
    figures, plus the share of the model's answers the check rejected (and why)."""
    from bot.runtime import make_llm_reader
    from bot.settings import get_settings
    from index.engine import make_reader

    settings = get_settings()
    if not settings.llm_url:
        raise SystemExit("--llm needs CITEBOT_LLM_URL and CITEBOT_LLM_MODEL (README, \"Answers "
                         "written by a language model\")")
    reader = make_llm_reader(settings, make_reader("extractive"))
    index.answerer.use_reader(reader)
    outcomes: Counter = Counter()  # per question read: the rejection reason, or "shown"
    read = index.answerer.reader.read

    def read_and_count(question, passages):
        reading = read(question, passages)
        outcomes[reading.rejected or "shown"] += 1
        return reading

    index.answerer.reader.read = read_and_count
    try:
        row = summarise(run_citebot(index, questions, article_of))
    finally:
        reader.close()
    asked = sum(outcomes.values())
    row["model"] = settings.llm_model
    row["llm_rejected"] = (asked - outcomes["shown"]) / asked if asked else float("nan")
    row["rejected_by_reason"] = {k: v for k, v in outcomes.most_common() if k != "shown"}
    return row


def llm_report(row: dict) -> str:
    keys = ("passage@1", "em", "f1", "spans_shown", "wrong_shown", "answerable_refused",
            "unanswerable_refused", "p50_ms", "p95_ms", "llm_rejected")
    reasons = ", ".join(f"{k} {v}" for k, v in row["rejected_by_reason"].items()) or "none"
    return "\n".join([
        f"### XQuAD English with a language model ({row['model']}, over the trained reader)",
        "",
        "| " + " | ".join(keys) + " |",
        "|" + "---|" * len(keys),
        "| " + " | ".join(str(row[k]) if k == "spans_shown" else f"{row[k]:.3f}" for k in keys) + " |",
        "",
        f"LLM answers rejected by the check, by reason: {reasons}.",
    ])


if __name__ == "__main__":
    main()
