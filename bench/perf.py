"""Speed and memory, each figure a ratio measured in one run (these machines are noisy).

    python -m bench.perf               # measure, print, and update BENCHMARKS.md
    python -m bench.perf --quick       # a fast smoke run: few questions and articles
    python -m bench.perf --no-write    # print only
    python -m bench.perf --encoders torch,onnx-int8 --every 16 --cold-runs 2   # a shorter run

Every figure is taken for each encoder (``CITEBOT_ENCODER``: torch, onnx, onnx-int8) side by side:

1. Encoders: the one-time ONNX export, query encoding p50/p95, raw batch-encode throughput,
   cosine of each encoder's vectors to torch's, and passage@1 on XQuAD's clean articles.
2. Answer latency: ``CiteIndex.ask`` against its floor (the same embedder encoding the question
   alone), interleaved per question, on the bundled article and on XQuAD, under several thread
   settings (numpy's BLAS at one thread as configured or at all cores, FAISS's OpenMP at one
   thread, torch at one thread, and with the per-question caches cleared: the work done before
   they existed); beside LangChain (1000/200 splitter + FAISS, k=1) on the same encoder.
3. Indexing throughput: units/s through ``CiteIndex.add`` against the raw encoder on the same
   sentence and paragraph texts, same batch size.
4. Cold start of ``citebot ask`` (index already built), its stages, and peak RSS while serving.
5. The lean-runtime targets on the default settings (``bench/lean.py``): cold starts of ``ask``,
   ``digest preview`` and ``--help``, serving RSS with the reader loaded, the p95/p50 spread of
   1,000 answers, a fresh clone's install and first answer, indexing beside LangChain's default
   pipeline, and the image's size.

The vector store's scale (10k-1M) is ``python -m bench.scale``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench import lean, quality
from bench.perf_report import COLD_QUESTION, p50_p95, ratio, report, update_benchmarks

ROOT = quality.ROOT
ARTICLE_QUESTIONS = Path(__file__).with_name("data") / "article_questions.txt"
CORPUS = ROOT / "corpus"
ENCODERS = ("torch", "onnx", "onnx-int8")


# --- small helpers (tested without the model) ----------------------------------------------------


def timed_ms(fn, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return (time.perf_counter() - started) * 1000.0, result


def article_questions(path: Path = ARTICLE_QUESTIONS) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def make_embedder(encoder: str, models_dir: Path):
    from index.embedders import model_embedder

    return model_embedder(encoder, models_dir=models_dir)


# --- thread pools -------------------------------------------------------------------------------

# "blas=1" is the configuration as shipped (warm_up holds numpy's BLAS to one thread). The others
# lift that limit, hold FAISS's OpenMP to one thread, hold torch to one thread (on 2 cores shared
# with another busy process torch's two OpenMP threads wait on each other), or clear the caches
# of what depends only on the snapshot or the question's words before every question.
BLAS_MODES = ("blas=1", "blas=all", "blas=1 faiss=1", "blas=1 torch=1", "blas=1 uncached")
ONNX_MODES = ("blas=1", "blas=all", "blas=1 faiss=1", "blas=1 uncached")


def modes_for(encoder: str) -> tuple[str, ...]:
    return BLAS_MODES if encoder == "torch" else ONNX_MODES


class BlasPools:
    """Switches numpy/OpenBLAS (and any BLAS faiss brought) between one thread and all cores,
    and FAISS's OpenMP and torch between their configured threads and one.

    The controller is built once: enumerating loaded libraries is slow, and switching must stay
    outside the timed region."""

    def __init__(self):
        from threadpoolctl import ThreadpoolController

        self.controller = ThreadpoolController()
        self.cores = os.cpu_count() or 1

    @contextlib.contextmanager
    def mode(self, name: str):
        limit = self.cores if "blas=all" in name else 1
        restore = []
        if "torch=1" in name:
            import torch

            restore.append((torch.set_num_threads, torch.get_num_threads()))
            torch.set_num_threads(1)
        if "faiss=1" in name:
            import faiss

            restore.append((faiss.omp_set_num_threads, faiss.omp_get_max_threads()))
            faiss.omp_set_num_threads(1)
        try:
            with self.controller.limit(limits=limit, user_api="blas"):
                yield
        finally:
            for setter, value in restore:
                setter(value)

    def describe(self) -> str:
        return ", ".join(
            f"{p['internal_api']}:{p['num_threads']}" for p in self.controller.info()
        )


def clear_question_caches(index) -> None:
    """Forget what the answer path caches across questions, as before those caches existed."""
    from index import search, spans

    search._cached_terms.cache_clear()
    spans.answer_type.cache_clear()
    spans._cached_candidates.cache_clear()
    spans._token_terms.cache_clear()
    index.answerer.retriever.forget_cached()


# --- 1. answer latency ---------------------------------------------------------------------------


@dataclass
class Latency:
    ask: dict[str, list[float]] = field(default_factory=dict)  # mode -> ms per question
    floor: dict[str, list[float]] = field(default_factory=dict)
    peer: list[float] = field(default_factory=list)  # LangChain retrieval, blas=1 only
    peer_floor: list[float] = field(default_factory=list)
    peer_chunk_chars: list[int] = field(default_factory=list)
    quote_chars: list[int] = field(default_factory=list)

    def summary(self, mode: str) -> dict[str, float]:
        a50, a95 = p50_p95(self.ask[mode])
        f50, f95 = p50_p95(self.floor[mode])
        return {"questions": len(self.ask[mode]), "ask_p50": a50, "ask_p95": a95,
                "floor_p50": f50, "floor_p95": f95,
                "ratio_p50": ratio(a50, f50), "ratio_p95": ratio(a95, f95)}


def measure_latency(index, questions: list[str], pools: BlasPools, *, peer=None,
                    warm: int = 10, modes: tuple[str, ...] = BLAS_MODES) -> Latency:
    """Per question and per thread mode: the full answer, then the bare query encoding, so both
    see the same moment's noise. The peer, when given, runs in the same loop (blas=1)."""
    embedder = index.embedder
    for q in questions[:warm]:
        index.ask(q)
        embedder.embed_query(q)
        if peer is not None:
            peer.search(q)
    result = Latency(ask={m: [] for m in modes}, floor={m: [] for m in modes})
    for n, q in enumerate(questions):
        # Rotate which mode goes first so none always inherits another's warm caches.
        shift = n % len(modes)
        for mode in modes[shift:] + modes[:shift]:
            with pools.mode(mode):
                if "uncached" in mode:
                    clear_question_caches(index)
                ms, answer = timed_ms(index.ask, q)
                result.ask[mode].append(ms)
                result.floor[mode].append(timed_ms(embedder.embed_query, q)[0])
                if mode == "blas=1":
                    result.quote_chars.append(len(answer.citations[0].quote) if answer.citations else 0)
                    if peer is not None:
                        ms, top = timed_ms(peer.search, q)
                        result.peer.append(ms)
                        result.peer_chunk_chars.append(len(top))
                        result.peer_floor.append(timed_ms(peer.floor, q)[0])
    return result


class LangChainPeer:
    """LangChain's usual set-up: RecursiveCharacterTextSplitter(1000, 200) + FAISS vectorstore,
    k=1, over our own embedder (same bundled model and encoder, no hub download)."""

    def __init__(self, embedder, texts: list[str]):
        from langchain_community.vectorstores import FAISS
        from langchain_core.embeddings import Embeddings
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        class Adapter(Embeddings):
            def embed_documents(self, items):
                return embedder.embed(items).tolist()

            def embed_query(self, text):
                return embedder.embed_query(text).tolist()

        self.embeddings = Adapter()
        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
        chunks = splitter.create_documents(texts)
        self.chunks = len(chunks)
        self.store = FAISS.from_documents(chunks, self.embeddings)

    def search(self, question: str) -> str:
        return self.store.similarity_search(question, k=1)[0].page_content

    def floor(self, question: str):
        # Its floor is its own query path up to the vector: our encoder behind its adapter.
        return self.embeddings.embed_query(question)


def make_peer(embedder, data):
    try:
        texts = [p.read_text(encoding="utf-8") for p in data]
        return LangChainPeer(embedder, texts)
    except ImportError as exc:
        print(f"note: LangChain baseline skipped ({exc}); "
              "pip install langchain-community langchain-text-splitters to run it", flush=True)
        return None


# --- 2. indexing throughput and the encoders themselves ------------------------------------------


def units_of(snapshot) -> list[str]:
    """The texts ``CiteIndex._embed_into`` embeds: every sentence, then every paragraph."""
    return [snapshot.sentence_text(s) for s in snapshot.sentences] + [
        snapshot.passage_text(p) for p in snapshot.passages
    ]


def unit_vectors(snapshot) -> np.ndarray:
    return np.concatenate([snapshot.sentence_vectors, snapshot.passage_vectors])


def raw_encode(embedder, texts: list[str]) -> np.ndarray:
    """The encoder alone on ``texts``: sentence-transformers' own ``encode`` for torch; for the
    ONNX encoders their ``embed``, which is tokenizer + onnxruntime + pooling and nothing else."""
    model = getattr(embedder, "_model", None)
    if model is not None:
        return model.encode(texts, batch_size=embedder.batch_size, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False)
    return embedder.embed(texts)


def measure_indexing(embedder, paths: list[Path], workdir: Path, rounds: int = 2):
    """``CiteIndex.add`` into a fresh home, then the raw encoder on the same texts, alternated
    ``rounds`` times; the fastest round of each (noise only ever adds time)."""
    from index.engine import CiteIndex

    add_s, encode_s, index, units = [], [], None, []
    for r in range(rounds):
        index = CiteIndex(workdir / f"home-{embedder.name}-{r}", embedder=embedder)
        seconds = timed_ms(index.add, paths)[0] / 1000
        add_s.append(seconds)
        units = units_of(index.snapshot())
        encode_s.append(timed_ms(raw_encode, embedder, units)[0] / 1000)
    snapshot = index.snapshot()
    result = {
        "documents": len(snapshot.documents), "sentences": len(snapshot.sentences),
        "paragraphs": len(snapshot.passages), "units": len(units),
        "add_s": min(add_s), "encode_s": min(encode_s),
        "add_per_s": len(units) / min(add_s), "encode_per_s": len(units) / min(encode_s),
        "batch_size": embedder.batch_size,
    }
    result["ratio"] = ratio(result["add_per_s"], result["encode_per_s"])
    return index, result


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def article_of(index) -> dict[str, int]:
    """XQuAD article number of each document, from the file name ``xquad-NN.txt``."""
    return {d.doc_id: int(Path(d.source).stem.split("-")[1]) for d in index.documents()}


def passage_at_1(index, questions) -> dict:
    """passage@1 (the cited quote holds a gold answer) as ``bench.quality`` scores it."""
    outcomes = quality.run_citebot(index, questions, article_of(index))
    return {"questions": len(outcomes),
            "passage@1": float(np.mean([o.passage_hit for o in outcomes])) if outcomes else float("nan")}


# --- 3. cold start and RSS -----------------------------------------------------------------------

STAGES = r"""
import json, sys, time
t0 = time.perf_counter()
import bot.cli
t1 = time.perf_counter()
if sys.argv[2] == "torch":
    import sentence_transformers, torch
else:
    import onnxruntime, tokenizers
t2 = time.perf_counter()
from bot.runtime import open_index
index = open_index()
index.warm_up()
t3 = time.perf_counter()
index.ask(sys.argv[1])
t4 = time.perf_counter()
print(json.dumps({"import bot.cli": t1 - t0, "import the encoder's runtime": t2 - t1,
                  "warm_up (model + index load)": t3 - t2, "first ask": t4 - t3,
                  "torch imported": "torch" in sys.modules}))
"""


def citebot_env(home: Path, encoder: str = "torch") -> dict[str, str]:
    env = dict(os.environ)
    env.update(CITEBOT_HOME=str(home), CITEBOT_CORPUS=str(CORPUS), CITEBOT_EMBEDDER="minilm",
               CITEBOT_ENCODER=encoder, CITEBOT_LOG_LEVEL="WARNING")
    return env


def citebot_exe() -> str:
    exe = Path(sys.executable).with_name("citebot")
    return str(exe) if exe.exists() else "citebot"


def measure_cold_start(home: Path, questions: list[str], runs: int = 3, serve: int = 50, *,
                       encoder: str = "torch") -> dict:
    env = citebot_env(home, encoder)
    # cwd is the empty home so no project .env leaks settings into the child.
    run = dict(env=env, cwd=home, capture_output=True, text=True, check=True)
    subprocess.run([citebot_exe(), "ask", COLD_QUESTION], **run)  # builds the index, untimed
    walls, stages = [], []
    bare = []
    for _ in range(runs):
        bare.append(timed_ms(subprocess.run, [sys.executable, "-c", "pass"], **run)[0] / 1000)
        ms, done = timed_ms(subprocess.run, [citebot_exe(), "ask", COLD_QUESTION], **run)
        walls.append(ms / 1000)
        answer = done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""
        out = subprocess.run([sys.executable, "-c", STAGES, COLD_QUESTION, encoder],
                             **{**run, "cwd": ROOT, "env": {**env, "PYTHONPATH": str(ROOT)}})
        stages.append(json.loads(out.stdout.strip().splitlines()[-1]))
    timed = [k for k in stages[0] if k != "torch imported"]
    result = {
        "runs": runs, "wall_s": statistics.median(walls), "walls": walls,
        "python_start_s": statistics.median(bare), "answer": answer,
        "stages": {k: statistics.median(s[k] for s in stages) for k in timed},
        "torch_imported": any(s["torch imported"] for s in stages),
    }
    result["rss"] = measure_rss(home, env, questions, serve)
    return result


# The `citebot` command run so that it reports its own peak RSS on exit: VmHWM of its own address
# space. A parent's wait4/ru_maxrss is no good here: exec records the forked copy of the parent's
# memory as the child's high-water mark, so a child of this (large) benchmark process would
# report this process's size.
SERVE = r"""
import atexit, sys
def peak():
    with open("/proc/self/status") as status:
        kib = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
    with open(sys.argv[1], "w") as out:
        out.write(str(kib))
atexit.register(peak)
from bot.cli import main
main(sys.argv[2:], prog_name="citebot")
"""


def measure_rss(home: Path, env: dict, questions: list[str], count: int) -> dict:
    """Peak RSS of one ``citebot ask --file`` process answering ``count`` questions."""
    batch = home / "serve-questions.txt"
    batch.write_text("\n".join((questions * (count // len(questions) + 1))[:count]) + "\n")
    peak = home / "serve-peak-kib"
    with open(home / "serve.out", "w") as out:
        started = time.perf_counter()
        child = subprocess.run([sys.executable, "-c", SERVE, str(peak), "ask", "--file", str(batch),
                                "--json"], env={**env, "PYTHONPATH": str(ROOT)}, cwd=home,
                               stdout=out, stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
    answered = sum(1 for line in (home / "serve.out").read_text().splitlines() if line.strip())
    return {"questions": count, "answers": answered, "peak_rss_mb": int(peak.read_text()) / 1024,
            "seconds": seconds, "exit": child.returncode}


def _xquad_quality_questions(xquad_questions, data: list[dict], articles: int, limit: int | None):
    """Answerable questions of the indexed clean articles (in neither of the reader's training
    files, ``bench.quality.CLEAN_ARTICLES``); in a quick run without one, the answerable ones of
    the indexed articles, so the figure still exists."""
    answerable = [q for q in xquad_questions if q.answerable and q.article < articles]
    clean = [q for q in answerable if data[q.article]["title"] in quality.CLEAN_ARTICLES]
    chosen, split = ((clean, "XQuAD clean-article") if clean
                     else (answerable, "XQuAD (quick run: any article)"))
    return (chosen[:limit] if limit else chosen), split


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    parser.add_argument("--xquad", type=Path, default=quality.XQUAD)
    parser.add_argument("--encoders", default=",".join(ENCODERS),
                        help="comma-separated encoders to measure side by side (torch first)")
    parser.add_argument("--every", type=int, default=8,
                        help="time every Nth XQuAD question (all 48 articles stay indexed)")
    parser.add_argument("--rounds", type=int, default=2, help="indexing rounds per encoder")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold starts per encoder")
    parser.add_argument("--serve", type=int, default=50, help="questions for the peak-RSS run")
    parser.add_argument("--graded", type=int, default=0,
                        help="grade passage@1 on the first N clean-article questions (default: all)")
    parser.add_argument("--spread", type=int, default=1000,
                        help="questions asked one at a time for the p95/p50 spread (default settings)")
    parser.add_argument("--no-install", action="store_true",
                        help="skip the fresh clone's install and first answer (minutes)")
    parser.add_argument("--image", choices=("skip", "read", "build"), default="read",
                        help="the image's size: the one scripts/docker-smoke.sh built, or build it")
    args = parser.parse_args(argv)
    encoders = [e.strip() for e in args.encoders.split(",") if e.strip()]
    unknown = [e for e in encoders if e not in ENCODERS]
    if unknown:
        parser.error(f"unknown encoder(s) {', '.join(unknown)}; expected {', '.join(ENCODERS)}")

    from index.engine import CiteIndex

    started = time.perf_counter()
    results: dict = {"load_before": os.getloadavg(), "rounds": 1 if args.quick else args.rounds,
                     "encoders": {}}
    asked = article_questions()
    data, xquad_questions = quality.load_xquad(args.xquad)
    articles = 4 if args.quick else len(data)
    data = data[:articles]
    picked = [q.text for q in xquad_questions if q.article < articles]
    # Every eighth question keeps the full run within minutes and still spans every article.
    picked = picked[:30] if args.quick else picked[:: max(1, args.every)]
    graded, results["quality_split"] = _xquad_quality_questions(
        xquad_questions, data, articles, 40 if args.quick else (args.graded or None))
    if args.quick:
        asked = asked[:10]
    results["article_questions"] = asked
    results["torch_threads"] = None
    reference = None  # torch's unit vectors, for the cosine column

    with tempfile.TemporaryDirectory(prefix="citebot-perf-") as work:
        work = Path(work)
        models = work / "models"
        docs = work / "xquad-docs"
        docs.mkdir()
        paths = quality.write_articles(data, docs)
        # First use of the pipeline imports the splitter, BM25 and FAISS; pay that before timing.
        from index.embedders import HashingEmbedder

        CiteIndex(work / "imports-home", embedder=HashingEmbedder()).add([paths[0]])
        pools = None
        for encoder in encoders:
            print(f"[{encoder}] export and warm up", flush=True)
            embedder = make_embedder(encoder, models)
            export_s = timed_ms(embedder.warm_up)[0] / 1000
            embedder.embed(["warm the model up"] * 8)
            row: dict = {"export_s": None if encoder == "torch" else export_s}
            print(f"[{encoder}] indexing throughput", flush=True)
            xquad_index, row["indexing"] = measure_indexing(embedder, paths, work,
                                                            rounds=results["rounds"])
            vectors = unit_vectors(xquad_index.snapshot())
            if encoder == "torch":
                reference = vectors
            row["cosine"] = None
            if reference is not None and encoder != "torch" and reference.shape == vectors.shape:
                c = cosine_rows(vectors, reference)
                row["cosine"] = (float(c.min()), float(c.mean()))
            print(f"[{encoder}] passage@1 on {len(graded)} questions", flush=True)
            row["quality"] = passage_at_1(xquad_index, graded)

            article_index = CiteIndex(work / f"article-home-{encoder}", embedder=embedder, corpus=CORPUS)
            article_index.warm_up()
            peer = make_peer(embedder, paths)
            row["peer"] = peer
            if pools is None:
                pools = BlasPools()
            if encoder == "torch":
                import torch

                results["torch_threads"] = torch.get_num_threads()
            import faiss

            results["pools"] = (pools.describe() + f"; faiss OpenMP {faiss.omp_get_max_threads()}"
                                + (f"; torch {results['torch_threads']}" if results["torch_threads"] else ""))
            print(f"[{encoder}] answer latency", flush=True)
            modes = modes_for(encoder)
            row["latency"] = {
                "bundled article": measure_latency(article_index, asked, pools, modes=modes),
                "XQuAD": measure_latency(xquad_index, picked, pools, peer=peer, modes=modes),
            }
            del xquad_index, article_index

            print(f"[{encoder}] cold start", flush=True)
            home = work / f"cold-home-{encoder}"
            home.mkdir()
            (home / "models").symlink_to(models, target_is_directory=True)  # reuse the export
            row["cold"] = measure_cold_start(home, asked, runs=1 if args.quick else args.cold_runs,
                                             serve=10 if args.quick else args.serve, encoder=encoder)
            results["encoders"][encoder] = row

        print("[lean] the targets on the default settings", flush=True)
        results["lean"] = lean.measure(
            paths, work, [q.text for q in xquad_questions if q.article < articles],
            spread=100 if args.quick else args.spread, cold_runs=2 if args.quick else 5,
            install=not (args.quick or args.no_install), image=args.image)

    results["load_after"] = os.getloadavg()
    seconds = time.perf_counter() - started
    flags = [f for f in (sys.argv[1:] if argv is None else argv) if f != "--no-write"]
    command = " ".join(["python -m bench.perf", *flags])
    section = report(results, command=command, seconds=seconds)
    print(section)
    if not args.no_write:
        update_benchmarks(section)
    return results


if __name__ == "__main__":
    main()
