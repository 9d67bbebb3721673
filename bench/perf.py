"""Speed and memory, each figure a ratio measured in one run (these machines are noisy).

    python -m bench.perf               # measure, print, and update BENCHMARKS.md
    python -m bench.perf --quick       # a fast smoke run: few questions and articles
    python -m bench.perf --no-write    # print only
    python -m bench.perf --encoders torch,onnx-int8 --every 16 --cold-runs 2   # a shorter run

Every figure is taken for each encoder (``CITEBOT_ENCODER``: torch, onnx, onnx-int8) side by side:

1. Encoders: the one-time ONNX export, query encoding p50/p95, raw batch-encode throughput,
   cosine of each encoder's vectors to torch's, and passage@1 on XQuAD's held-out half.
2. Answer latency: ``CiteIndex.ask`` against its floor (the same embedder encoding the question
   alone), interleaved per question, on the bundled article and on XQuAD, under several thread
   settings (numpy's BLAS at one thread as configured or at all cores, FAISS's OpenMP at one
   thread, torch at one thread, and with the per-question caches cleared: the work done before
   they existed); beside LangChain (1000/200 splitter + FAISS, k=1) on the same encoder.
3. Indexing throughput: units/s through ``CiteIndex.add`` against the raw encoder on the same
   sentence and paragraph texts, same batch size.
4. Cold start of ``citebot ask`` (index already built), its stages, and peak RSS while serving.

The vector store's scale (10k-1M) is ``python -m bench.scale``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench import quality

ROOT = quality.ROOT
ARTICLE_QUESTIONS = Path(__file__).with_name("data") / "article_questions.txt"
CORPUS = ROOT / "corpus"
HEADING = "## Performance"
COLD_QUESTION = "how much did Xi pledge?"
ENCODERS = ("torch", "onnx", "onnx-int8")
# The targets, checked at the end of the report.
FLOOR_RATIO_TARGET = 1.3
INDEXING_RATIO_TARGET = 0.9
COLD_START_TARGET_S = 6.0
RSS_TARGET_MB = 700
INT8_SPEEDUP_TARGET = 2.0
PASSAGE_POINTS_TARGET = 1.0


# --- small helpers (tested without the model) ----------------------------------------------------


def percentile(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


def p50_p95(values) -> tuple[float, float]:
    return percentile(values, 50), percentile(values, 95)


def ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")


def timed_ms(fn, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return (time.perf_counter() - started) * 1000.0, result


def article_questions(path: Path = ARTICLE_QUESTIONS) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def update_benchmarks(section: str, path: Path = quality.BENCHMARKS) -> None:
    quality.update_benchmarks(section, path, heading=HEADING)


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


# --- reporting -----------------------------------------------------------------------------------


def latency_table(named: dict[str, Latency]) -> str:
    lines = ["| corpus · encoder | threads | questions | answer p50 ms | answer p95 ms | floor p50 ms "
             "| floor p95 ms | p50 ratio | p95 ratio |", "|---|---|---|---|---|---|---|---|---|"]
    for name, lat in named.items():
        for mode in lat.ask:
            s = lat.summary(mode)
            lines.append(
                f"| {name} | {mode} | {s['questions']} | {s['ask_p50']:.1f} | "
                f"{s['ask_p95']:.1f} | {s['floor_p50']:.1f} | {s['floor_p95']:.1f} | "
                f"{s['ratio_p50']:.2f}× | {s['ratio_p95']:.2f}× |"
            )
    return "\n".join(lines)


def peer_lines(lat: Latency, peer, encoder: str = "torch") -> str:
    if peer is None or not lat.peer:
        return ("LangChain baseline: not run (langchain-community / langchain-text-splitters not "
                "installed).")
    ours = lat.summary("blas=1")
    p50, p95 = p50_p95(lat.peer)
    f50, f95 = p50_p95(lat.peer_floor)
    return (
        f"- **{encoder}**: LangChain beside it (same loop, BLAS 1 thread; RecursiveCharacterTextSplitter "
        f"1000/200 → {peer.chunks} chunks, FAISS vectorstore, k=1, the same encoder behind an "
        f"`Embeddings` adapter): retrieval p50 {p50:.1f} ms, p95 {p95:.1f} ms = {ratio(p95, f95):.2f}× "
        f"its floor p95 ({f95:.1f} ms). CiteBot's full answer p95 ({ours['ask_p95']:.1f} ms) is "
        f"{ratio(ours['ask_p95'], p95):.2f}× LangChain's retrieval p95. Median top-chunk length "
        f"{statistics.median(lat.peer_chunk_chars):.0f} characters vs CiteBot's median quote "
        f"{statistics.median(lat.quote_chars):.0f}."
    )


def _mark(ok: bool) -> str:
    return "met" if ok else "**not met**"


def encoder_table(encoders: dict) -> str:
    torch = encoders.get("torch")
    lines = ["| encoder | one-time export s | query p50 ms | query p95 ms | raw encode units/s "
             "| query speed-up vs torch (p50) | vs torch on 1 thread | batch speed-up vs torch "
             "| cosine to torch min / mean | passage@1 | vs torch |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, e in encoders.items():
        floor = e["latency"]["XQuAD"].summary("blas=1")
        export = "—" if e["export_s"] is None else f"{e['export_s']:.1f}"
        speed = single = batch = cosine = delta = "—"
        if torch is not None and name != "torch":
            speed = f"{ratio(torch['latency']['XQuAD'].summary('blas=1')['floor_p50'], floor['floor_p50']):.2f}×"
            if "blas=1 torch=1" in torch["latency"]["XQuAD"].ask:
                one = torch["latency"]["XQuAD"].summary("blas=1 torch=1")["floor_p50"]
                single = f"{ratio(one, floor['floor_p50']):.2f}×"
            batch = f"{ratio(e['indexing']['encode_per_s'], torch['indexing']['encode_per_s']):.2f}×"
            delta = f"{100 * (e['quality']['passage@1'] - torch['quality']['passage@1']):+.1f} points"
        if e.get("cosine") is not None:
            cosine = f"{e['cosine'][0]:.4f} / {e['cosine'][1]:.4f}"
        lines.append(
            f"| {name} | {export} | {floor['floor_p50']:.1f} | {floor['floor_p95']:.1f} | "
            f"{e['indexing']['encode_per_s']:.1f} | {speed} | {single} | {batch} | {cosine} | "
            f"{e['quality']['passage@1']:.3f} | {delta} |"
        )
    return "\n".join(lines)


def indexing_table(encoders: dict) -> str:
    lines = ["| encoder | `CiteIndex.add` s | units/s | raw encoder s | units/s | add / raw |",
             "|---|---|---|---|---|---|"]
    for name, e in encoders.items():
        ix = e["indexing"]
        lines.append(f"| {name} | {ix['add_s']:.2f} | {ix['add_per_s']:.1f} | {ix['encode_s']:.2f} | "
                     f"{ix['encode_per_s']:.1f} | {ix['ratio']:.2f}× |")
    return "\n".join(lines)


def cold_table(encoders: dict) -> str:
    lines = ["| encoder | start → answer s (median) | runs s | stages s (median) | torch imported "
             "| peak RSS MB serving |", "|---|---|---|---|---|---|"]
    for name, e in encoders.items():
        cold = e["cold"]
        stages = "; ".join(f"{k} {v:.2f}" for k, v in cold["stages"].items())
        lines.append(
            f"| {name} | {cold['wall_s']:.2f} | {', '.join(f'{w:.2f}' for w in cold['walls'])} | "
            f"{stages} | {'yes' if cold['torch_imported'] else 'no'} | {cold['rss']['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def target_lines(encoders: dict) -> str:
    lines = []
    for name, e in encoders.items():
        for corpus, lat in e["latency"].items():
            s = lat.summary("blas=1")
            lines.append(f"- {name}, {corpus}: answer p95 {s['ask_p95']:.1f} ms = "
                         f"{s['ratio_p95']:.2f}× its floor (target ≤ {FLOOR_RATIO_TARGET}×): "
                         f"{_mark(s['ratio_p95'] <= FLOOR_RATIO_TARGET)}.")
    peers = {n: p50_p95(e["latency"]["XQuAD"].peer)[1] for n, e in encoders.items()
             if e["latency"]["XQuAD"].peer}
    if peers:
        slowest_peer = max(peers.values())
        fastest_peer = min(peers.values())
        for name, e in encoders.items():
            ours = e["latency"]["XQuAD"].summary("blas=1")["ask_p95"]
            own = peers.get(name)
            own_text = (f"; vs LangChain on the same encoder ({own:.1f} ms): {_mark(ours < own)}"
                        if own is not None else "")
            lines.append(f"- {name}: XQuAD answer p95 {ours:.1f} ms below LangChain's retrieval p95 "
                         f"on torch, as the issue's peers run ({peers.get('torch', slowest_peer):.1f} ms): "
                         f"{_mark(ours < peers.get('torch', slowest_peer))}{own_text}; the fastest "
                         f"LangChain set-up measured: {fastest_peer:.1f} ms.")
    for name, e in encoders.items():
        ix = e["indexing"]
        lines.append(f"- {name}: indexing {ix['ratio']:.2f}× raw encode (target ≥ {INDEXING_RATIO_TARGET}×): "
                     f"{_mark(ix['ratio'] >= INDEXING_RATIO_TARGET)}.")
        cold = e["cold"]
        lines.append(f"- {name}: cold start {cold['wall_s']:.2f} s (target ≤ {COLD_START_TARGET_S:.0f} s): "
                     f"{_mark(cold['wall_s'] <= COLD_START_TARGET_S)}; peak RSS "
                     f"{cold['rss']['peak_rss_mb']:.0f} MB (target ≤ {RSS_TARGET_MB} MB): "
                     f"{_mark(cold['rss']['peak_rss_mb'] <= RSS_TARGET_MB)}.")
    torch = encoders.get("torch")
    int8 = encoders.get("onnx-int8")
    if torch is not None and int8 is not None:
        query = ratio(torch["latency"]["XQuAD"].summary("blas=1")["floor_p50"],
                      int8["latency"]["XQuAD"].summary("blas=1")["floor_p50"])
        batch = ratio(int8["indexing"]["encode_per_s"], torch["indexing"]["encode_per_s"])
        points = 100 * (int8["quality"]["passage@1"] - torch["quality"]["passage@1"])
        lines.append(f"- onnx-int8 encode speed vs torch: {query:.2f}× per query, {batch:.2f}× in "
                     f"batches (target ≥ {INT8_SPEEDUP_TARGET:.0f}×): "
                     f"{_mark(min(query, batch) >= INT8_SPEEDUP_TARGET)}; passage@1 {points:+.1f} "
                     f"points (target within {PASSAGE_POINTS_TARGET:.0f}): "
                     f"{_mark(abs(points) <= PASSAGE_POINTS_TARGET)}.")
    return "\n".join(lines)


def report(results: dict, *, command: str, seconds: float) -> str:
    encoders = results["encoders"]
    first = next(iter(encoders.values()))
    ix = first["indexing"]
    cold = first["cold"]
    latency = {f"{corpus} · {name}": lat for name, e in encoders.items()
               for corpus, lat in e["latency"].items()}
    peers = "\n".join(peer_lines(e["latency"]["XQuAD"], e["peer"], name) for name, e in encoders.items())
    return f"""{HEADING}

Command: `{command}` — {seconds:.0f} s on this machine ({os.cpu_count()} cores, {platform.machine()},
Python {platform.python_version()}; load average {results['load_before'][0]:.2f} at the start and
{results['load_after'][0]:.2f} at the end — other work shares these cores, which is why only
same-run ratios are compared). Thread pools as configured: {results['pools']}. Encoders
(`CITEBOT_ENCODER`): `torch` is sentence-transformers; `onnx` the same weights exported to ONNX
and run by onnxruntime (no torch in the serving process); `onnx-int8` that export with int8
weights (dynamic quantisation, per channel). The exports are made from the bundled model, once.

### Encoders

Query figures are the floor of the XQuAD latency loop below (one question at a time, BLAS 1
thread); raw encode is the encoder alone on the {ix['units']:,} XQuAD sentence and paragraph
texts (batch {ix['batch_size']}); cosine compares each encoder's vector for every one of those
texts with torch's; passage@1 is `bench.quality`'s measure (the cited quote holds a gold answer)
on {first['quality']['questions']} {results['quality_split']} questions, asked through
`CiteIndex.ask` on each encoder's own index.

{encoder_table(encoders)}

### Answer latency vs the floor

The full answer path (`CiteIndex.ask`, timed around the call) against its floor, the same
embedder encoding the question alone (`embed_query`), interleaved per question, rotating which
thread mode goes first. Modes: `blas=1` is the configuration as shipped (numpy's BLAS on one
thread, the encoder on all cores{', torch ' + str(results['torch_threads']) + ' threads' if results['torch_threads'] else ''});
`blas=all` lifts the BLAS limit; `faiss=1` also holds FAISS's OpenMP to one thread; `torch=1`
holds torch to one thread; `uncached` clears the per-question caches before every question
(word stems, answer types, window norms, terms and pattern matches: the per-question work
before this change).
Bundled article: the {len(results['article_questions'])} questions of
`bench/data/article_questions.txt`; XQuAD: {first['latency']['XQuAD'].summary('blas=1')['questions']}
questions from `bench.quality.load_xquad`, over its {ix['documents']} articles.

{latency_table(latency)}

{peers}

### Indexing throughput

`CiteIndex.add` of the {ix['documents']} XQuAD articles into a fresh home against the raw encoder
on the same {ix['units']:,} texts ({ix['sentences']:,} sentences + {ix['paragraphs']} paragraphs,
what `_embed_into` embeds, in batches of {ix['batch_size']}); fastest of {results['rounds']}
alternated round(s) each.

{indexing_table(encoders)}

### Cold start and memory

`citebot ask "{COLD_QUESTION}"` as a new process with the index already built in a temporary
`CITEBOT_HOME` (median of {cold['runs']} runs; a bare `python -c pass` takes
{cold['python_start_s']:.2f} s). Stages are in-process timers in a separate run of the same steps.
Peak RSS is the high-water mark (`VmHWM`) of one `citebot ask --file` process answering
{cold['rss']['questions']} questions on the bundled article, read by that process as it exits.

{cold_table(encoders)}

### Against the targets

{target_lines(encoders)}

Reading the targets: the ONNX floor is a few milliseconds, and the answer path's own work after
encoding (hybrid dense + BM25 search over sentences and paragraphs, window scoring, short-answer
extraction; the `uncached` rows show what the caches removed) is a few milliseconds too, while
LangChain's retrieval is one FAISS lookup with no answer extraction — so the ≤ {FLOOR_RATIO_TARGET}× ratio and the
same-encoder LangChain comparison would take dropping steps that decide the answer. With torch
the encoder dominates and p50 stays near the floor, but p95 follows torch's thread stalls on
cores shared with other work (compare the `torch=1` rows), so it moves from run to run.
Indexing: the per-document work besides encoding (pysbd sentence splitting, BM25, the store
write) is the same for every encoder, so the faster the encoder the lower the ratio, while the
absolute throughput (units/s) rises. Cold start with torch is the import of torch itself (the
"import the encoder's runtime" stage); the ONNX encoders never import it. Thread pools: the BLAS
limit `warm_up` sets also reaches FAISS (its OpenBLAS is OpenMP-threaded), so FAISS searches on
one thread as shipped and `faiss=1` changes nothing material.

The vector store's scale (10k, 100k and 1M passages) is measured by `python -m bench.scale`.
"""


def _xquad_quality_questions(xquad_questions, articles: int, limit: int | None):
    """Held-out answerable questions of the indexed articles; in a quick run (tuning articles
    only) the answerable ones there, so the figure still exists."""
    answerable = [q for q in xquad_questions if q.answerable and q.article < articles]
    held = [q for q in answerable if q.split == "held-out"]
    chosen, split = (held, "XQuAD held-out") if held else (answerable, "XQuAD (quick run: tuning)")
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
                        help="grade passage@1 on the first N held-out questions (default: all)")
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
        xquad_questions, articles, 40 if args.quick else (args.graded or None))
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
