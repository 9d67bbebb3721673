"""Speed, memory and scale, each figure a ratio measured in one run (these machines are noisy).

    python -m bench.perf               # measure, print, and update BENCHMARKS.md
    python -m bench.perf --quick       # a fast smoke run: few questions, 10k vectors only
    python -m bench.perf --no-write    # print only

1. Answer latency: ``CiteIndex.ask`` against its floor (the same embedder encoding the question
   alone), interleaved per question, on the bundled article and on XQuAD; with numpy's BLAS held
   to one thread (what ``SentenceTransformerEmbedder.warm_up`` does) and with the limit lifted;
   beside LangChain (1000/200 splitter + FAISS, k=1) when it is installed.
2. Indexing throughput: units/s through ``CiteIndex.add`` against raw ``model.encode`` on the
   same sentence and paragraph texts, same batch size.
3. Cold start of ``citebot ask`` (index already built), its stages, and peak RSS while serving.
4. Scale of the vector store alone on synthetic clustered unit vectors: exact flat search
   against HNSW and IVF (build time, bytes, single-query p95, recall@10).
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
DIMENSION = 384
RECALL_TARGET = 0.95
K = 10


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


# --- thread pools -------------------------------------------------------------------------------

# The third mode also holds torch to one thread: on 2 cores shared with another busy process,
# torch's two OpenMP threads wait on each other and a query encoding slows many-fold.
BLAS_MODES = ("blas=1", "blas=all", "blas=1 torch=1")


class BlasPools:
    """Switches numpy/OpenBLAS (and any BLAS faiss brought) between one thread and all cores.

    The controller is built once: enumerating loaded libraries is slow, and switching must stay
    outside the timed region."""

    def __init__(self):
        from threadpoolctl import ThreadpoolController

        self.controller = ThreadpoolController()
        self.cores = os.cpu_count() or 1

    @contextlib.contextmanager
    def mode(self, name: str):
        limit = self.cores if name == "blas=all" else 1
        torch = None
        if "torch=1" in name:
            import torch

            threads = torch.get_num_threads()
            torch.set_num_threads(1)
        try:
            with self.controller.limit(limits=limit, user_api="blas"):
                yield
        finally:
            if torch is not None:
                torch.set_num_threads(threads)

    def describe(self) -> str:
        return ", ".join(
            f"{p['internal_api']}:{p['num_threads']}" for p in self.controller.info()
        )


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
    """Per question and per BLAS mode: the full answer, then the bare query encoding, so both
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
    k=1, over our own embedder (same bundled model, no hub download)."""

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


# --- 2. indexing throughput ----------------------------------------------------------------------


def units_of(snapshot) -> list[str]:
    """The texts ``CiteIndex._embed_into`` embeds: every sentence, then every paragraph."""
    return [snapshot.sentence_text(s) for s in snapshot.sentences] + [
        snapshot.passage_text(p) for p in snapshot.passages
    ]


def measure_indexing(embedder, paths: list[Path], workdir: Path, rounds: int = 2):
    """``CiteIndex.add`` into a fresh home, then raw ``model.encode`` of the same texts,
    alternated ``rounds`` times; the fastest round of each (noise only ever adds time)."""
    from index.engine import CiteIndex

    add_s, encode_s, index, units = [], [], None, []
    for r in range(rounds):
        index = CiteIndex(workdir / f"home-{r}", embedder=embedder)
        seconds = timed_ms(index.add, paths)[0] / 1000
        add_s.append(seconds)
        units = units_of(index._snapshot)
        encode_s.append(timed_ms(
            embedder._model.encode, units, batch_size=embedder.batch_size,
            normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False,
        )[0] / 1000)
    snapshot = index._snapshot
    result = {
        "documents": len(snapshot.documents), "sentences": len(snapshot.sentences),
        "paragraphs": len(snapshot.passages), "units": len(units),
        "add_s": min(add_s), "encode_s": min(encode_s),
        "add_per_s": len(units) / min(add_s), "encode_per_s": len(units) / min(encode_s),
        "batch_size": embedder.batch_size,
    }
    result["ratio"] = ratio(result["add_per_s"], result["encode_per_s"])
    return index, result


# --- 3. cold start and RSS -----------------------------------------------------------------------

STAGES = r"""
import json, sys, time
t0 = time.perf_counter()
import bot.cli
t1 = time.perf_counter()
import sentence_transformers, torch
t2 = time.perf_counter()
from bot.runtime import open_index
index = open_index()
index.warm_up()
t3 = time.perf_counter()
index.ask(sys.argv[1])
t4 = time.perf_counter()
print(json.dumps({"import bot.cli": t1 - t0, "import torch + sentence_transformers": t2 - t1,
                  "warm_up (model + index load)": t3 - t2, "first ask": t4 - t3}))
"""


def citebot_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(CITEBOT_HOME=str(home), CITEBOT_CORPUS=str(CORPUS), CITEBOT_EMBEDDER="minilm",
               CITEBOT_LOG_LEVEL="WARNING")
    return env


def citebot_exe() -> str:
    exe = Path(sys.executable).with_name("citebot")
    return str(exe) if exe.exists() else "citebot"


def measure_cold_start(home: Path, questions: list[str], runs: int = 3, serve: int = 50) -> dict:
    env = citebot_env(home)
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
        out = subprocess.run([sys.executable, "-c", STAGES, COLD_QUESTION],
                             **{**run, "cwd": ROOT, "env": {**env, "PYTHONPATH": str(ROOT)}})
        stages.append(json.loads(out.stdout.strip().splitlines()[-1]))
    result = {
        "runs": runs, "wall_s": statistics.median(walls), "walls": walls,
        "python_start_s": statistics.median(bare), "answer": answer,
        "stages": {k: statistics.median(s[k] for s in stages) for k in stages[0]},
    }
    result["rss"] = measure_rss(home, env, questions, serve)
    return result


def measure_rss(home: Path, env: dict, questions: list[str], count: int) -> dict:
    """Peak RSS of one ``citebot ask --file`` child answering ``count`` questions; wait4 gives
    that child's own rusage (RUSAGE_CHILDREN would mix in every earlier child)."""
    batch = home / "serve-questions.txt"
    batch.write_text("\n".join((questions * (count // len(questions) + 1))[:count]) + "\n")
    with open(home / "serve.out", "w") as out:
        started = time.perf_counter()
        child = subprocess.Popen([citebot_exe(), "ask", "--file", str(batch), "--json"],
                                 env=env, cwd=home, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
    answered = sum(1 for line in (home / "serve.out").read_text().splitlines() if line.strip())
    # Linux reports ru_maxrss in KiB.
    return {"questions": count, "answers": answered, "peak_rss_mb": usage.ru_maxrss / 1024,
            "seconds": seconds, "exit": child.returncode}


# --- 4. scale of the vector store ----------------------------------------------------------------


def clustered_vectors(n: int, *, seed: int, clusters: int = 1000, spread: float = 1.0,
                      dim: int = DIMENSION, centers: np.ndarray | None = None) -> np.ndarray:
    """Unit vectors from a mixture of gaussians around unit centres: topical clumps as real
    embeddings have, so neither exact nor approximate search meets a trivially uniform cloud."""
    rng = np.random.default_rng(seed)
    if centers is None:
        centers = np.random.default_rng(0).standard_normal((clusters, dim), dtype=np.float32)
        centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    out = np.empty((n, dim), dtype=np.float32)
    step = 100_000  # chunks keep the temporaries small at 1M
    for a in range(0, n, step):
        b = min(n, a + step)
        block = rng.standard_normal((b - a, dim), dtype=np.float32)
        block *= spread / np.sqrt(dim)
        block += centers[rng.integers(0, len(centers), b - a)]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[a:b] = block
    return out


def recall_at_k(truth: np.ndarray, found: np.ndarray, k: int = K) -> float:
    hits = sum(len(set(t[:k].tolist()) & set(f[:k].tolist()) - {-1}) for t, f in zip(truth, found))
    return hits / (k * len(truth))


def single_query_ms(index, queries: np.ndarray, k: int = K) -> list[float]:
    timings = []
    for q in queries:
        timings.append(timed_ms(index.search, q.reshape(1, -1), k)[0])
    return timings


def index_bytes(index) -> int:
    import faiss

    return int(faiss.serialize_index(index).nbytes)


def measure_store(kind: str, base: np.ndarray, queries: np.ndarray, truth: np.ndarray, *,
                  timing_queries: int, sweep: tuple[int, ...] = ()) -> dict:
    """Build one index kind, tune its search knob (smallest value reaching the recall target)
    on batched queries, then time single queries at that setting."""
    import faiss

    n, dim = base.shape
    started = time.perf_counter()
    knob = None
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
        index.add(base)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.add(base)
        knob = "efSearch"
    elif kind == "ivf":
        nlist = max(16, min(2048, int(4 * np.sqrt(n))))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = 10
        # 40 points a centroid is ample for k-means; all 1M would only slow the build.
        sample = base[np.random.default_rng(1).choice(n, min(n, 40 * nlist), replace=False)]
        index.train(sample)
        index.add(base)
        knob = "nprobe"
    else:
        raise ValueError(kind)
    build_s = time.perf_counter() - started

    curve = []
    chosen = None
    for value in sweep:
        if kind == "hnsw":
            index.hnsw.efSearch = value
        else:
            index.nprobe = value
        _, found = index.search(queries, K)
        r = recall_at_k(truth, found)
        curve.append((value, r))
        chosen = value
        if r >= RECALL_TARGET:
            break
    if chosen is not None:
        if kind == "hnsw":
            index.hnsw.efSearch = chosen
        else:
            index.nprobe = chosen
    _, found = index.search(queries, K)
    # An exact 1M search takes long enough that 20 timed queries are plenty.
    timings = single_query_ms(index, queries[: timing_queries if kind != "flat" or n <= 100_000 else 20])
    p50, p95 = p50_p95(timings)
    return {"kind": kind, "n": n, "build_s": build_s, "bytes": index_bytes(index),
            "recall": recall_at_k(truth, found), "p50_ms": p50, "p95_ms": p95,
            "knob": knob, "value": chosen, "curve": curve,
            "nlist": getattr(index, "nlist", None)}


def measure_scale(sizes: list[int], *, hnsw_max: int, queries: int = 200,
                  timing_queries: int = 100) -> list[dict]:
    import faiss

    rows = []
    for n in sizes:
        print(f"scale: {n:,} vectors", flush=True)
        base = clustered_vectors(n, seed=n)
        probe = clustered_vectors(queries, seed=7)
        # Exact ground truth, searched in one batch; the flat row re-checks it (recall 1.0).
        exact = faiss.IndexFlatIP(DIMENSION)
        exact.add(base)
        _, truth = exact.search(probe, K)
        del exact
        flat = measure_store("flat", base, probe, truth, timing_queries=timing_queries)
        rows.append(flat)
        print(f"  flat: {flat['p95_ms']:.2f} ms p95", flush=True)
        if n <= hnsw_max:
            rows.append(measure_store("hnsw", base, probe, truth, timing_queries=timing_queries,
                                      sweep=(16, 32, 64, 128, 256, 512)))
            print(f"  hnsw: built in {rows[-1]['build_s']:.1f} s", flush=True)
        else:
            rows.append({"kind": "hnsw", "n": n, "skipped": f"build over {hnsw_max:,} skipped "
                         "(about 10x the 100k build; --hnsw-max to include)"})
        rows.append(measure_store("ivf", base, probe, truth, timing_queries=timing_queries,
                                  sweep=(1, 2, 4, 8, 16, 32, 64, 128, 256)))
        print(f"  ivf: built in {rows[-1]['build_s']:.1f} s", flush=True)
        del base
    return rows


# --- reporting -----------------------------------------------------------------------------------


def latency_table(named: dict[str, Latency]) -> str:
    lines = ["| corpus | threads | questions | answer p50 ms | answer p95 ms | floor p50 ms "
             "| floor p95 ms | p50 ratio | p95 ratio |", "|---|---|---|---|---|---|---|---|---|"]
    for name, lat in named.items():
        for mode in BLAS_MODES:
            s = lat.summary(mode)
            lines.append(
                f"| {name} | {mode} | {s['questions']} | {s['ask_p50']:.1f} | "
                f"{s['ask_p95']:.1f} | {s['floor_p50']:.1f} | {s['floor_p95']:.1f} | "
                f"{s['ratio_p50']:.2f}× | {s['ratio_p95']:.2f}× |"
            )
    return "\n".join(lines)


def peer_lines(lat: Latency, peer) -> str:
    if peer is None or not lat.peer:
        return ("LangChain baseline: not run (langchain-community / langchain-text-splitters not "
                "installed).")
    ours = lat.summary("blas=1")
    p50, p95 = p50_p95(lat.peer)
    f50, f95 = p50_p95(lat.peer_floor)
    return (
        f"LangChain beside it (same loop, BLAS 1 thread; RecursiveCharacterTextSplitter 1000/200 "
        f"→ {peer.chunks} chunks, FAISS vectorstore, k=1, our model behind an `Embeddings` "
        f"adapter): retrieval p50 {p50:.1f} ms, p95 {p95:.1f} ms = {ratio(p95, f95):.2f}× its "
        f"floor p95 ({f95:.1f} ms). CiteBot's full answer p95 is {ratio(ours['ask_p95'], p95):.2f}× "
        f"LangChain's retrieval p95. Median top-chunk length {statistics.median(lat.peer_chunk_chars):.0f} "
        f"characters vs CiteBot's median quote {statistics.median(lat.quote_chars):.0f}."
    )


def scale_table(rows: list[dict]) -> str:
    lines = ["| vectors | index | build s | index MB | search knob | recall@10 | p50 ms | p95 ms |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['n']:,} | {r['kind']} | — | — | — | — | — | — ({r['skipped']}) |")
            continue
        knob = "exact" if r["knob"] is None else f"{r['knob']}={r['value']}"
        if r["nlist"]:
            knob += f", nlist={r['nlist']}"
        lines.append(
            f"| {r['n']:,} | {r['kind']} | {r['build_s']:.2f} | {r['bytes'] / 2**20:.1f} | {knob} "
            f"| {r['recall']:.3f} | {r['p50_ms']:.3f} | {r['p95_ms']:.3f} |"
        )
    return "\n".join(lines)


def report(results: dict, *, command: str, seconds: float) -> str:
    lat = results["latency"]
    ix = results["indexing"]
    cold = results["cold"]
    rss = cold["rss"]
    stages = "; ".join(f"{k} {v:.2f} s" for k, v in cold["stages"].items())
    curves = "; ".join(
        f"{r['kind']} {r['n']:,}: " + ", ".join(f"{v}→{c:.3f}" for v, c in r["curve"])
        for r in results["scale"] if r.get("curve")
    )
    return f"""{HEADING}

Command: `{command}` — {seconds:.0f} s on this machine ({os.cpu_count()} cores, {platform.machine()},
Python {platform.python_version()}; load average {results['load_before'][0]:.2f} at the start and
{results['load_after'][0]:.2f} at the end — other work shares these cores, which is why only
same-run ratios are compared). Thread pools as configured: {results['pools']}.

### Answer latency vs the floor

The full answer path (`CiteIndex.ask`, timed around the call) against its floor, the same
embedder encoding the question alone (`embed_query`), interleaved per question. Each question runs
with numpy's BLAS held to one thread (what `SentenceTransformerEmbedder.warm_up` sets), with that
limit lifted to all cores, and with BLAS and torch both on one thread (torch otherwise uses
{results['torch_threads']}), rotating which goes first. Bundled article: the
{len(results['article_questions'])} questions of `bench/data/article_questions.txt`; XQuAD:
{lat['XQuAD'].summary('blas=1')['questions']} questions from `bench.quality.load_xquad`, over its
{ix['documents']} articles.

{latency_table(lat)}

{peer_lines(lat['XQuAD'], results.get('peer'))}

### Indexing throughput

`CiteIndex.add` of the {ix['documents']} XQuAD articles into a fresh home against raw
`model.encode` of the same {ix['units']:,} texts ({ix['sentences']:,} sentences +
{ix['paragraphs']} paragraphs, what `_embed_into` embeds), batch size {ix['batch_size']}; fastest of
2 alternated rounds each.

| path | seconds | units/s |
|---|---|---|
| `CiteIndex.add` | {ix['add_s']:.2f} | {ix['add_per_s']:.1f} |
| raw `model.encode` | {ix['encode_s']:.2f} | {ix['encode_per_s']:.1f} |

`CiteIndex.add` runs at {ix['ratio']:.2f}× raw encode throughput.

### Cold start and memory

`citebot ask "{COLD_QUESTION}"` as a new process with the index already built in a temporary
`CITEBOT_HOME`: median {cold['wall_s']:.2f} s from process start to printed answer over
{cold['runs']} runs ({', '.join(f'{w:.2f}' for w in cold['walls'])} s); a bare `python -c pass`
takes {cold['python_start_s']:.2f} s. Stages (median, in-process timers): {stages}.

Peak RSS while serving: {rss['peak_rss_mb']:.0f} MB (`ru_maxrss` of one `citebot ask --file`
process answering {rss['questions']} questions on the bundled article, {rss['seconds']:.1f} s).

### Scale of the vector store

Synthetic unit vectors (384-d float32, a seeded mixture of 1,000 gaussians, normalised), 200
held-out queries from the same mixture; recall@10 against exact inner-product search
(`IndexFlatIP`). The knob is the smallest value reaching recall@10 ≥ {RECALL_TARGET} on those
queries (or the largest tried); p50/p95 are single-query searches (k=10) at that setting. HNSW is
`IndexHNSWFlat(M=32, METRIC_INNER_PRODUCT)`; IVF is `IndexIVFFlat` trained on 40 points per list.
Index MB is `faiss.serialize_index` size.

{scale_table(results['scale'])}

Recall by knob value: {curves}.

These 1,000 clusters are well separated, so IVF lists line up with them and IVF reaches the
target at a very small nprobe; real sentence embeddings are less separable, so confirm any chosen
setting on real vectors. HNSW stops at 100k by default: its 1M build would take roughly ten times
the 100k build above, past this run's time budget on 2 cores (`--hnsw-max 1000000` to include it).
"""


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    parser.add_argument("--xquad", type=Path, default=quality.XQUAD)
    parser.add_argument("--hnsw-max", type=int, default=100_000,
                        help="largest size to build HNSW for (its 1M build is slow on 2 cores)")
    args = parser.parse_args(argv)

    from index.embedders import SentenceTransformerEmbedder
    from index.engine import CiteIndex

    started = time.perf_counter()
    results: dict = {"load_before": os.getloadavg()}
    asked = article_questions()
    data, xquad_questions = quality.load_xquad(args.xquad)
    articles = 4 if args.quick else len(data)
    data = data[:articles]
    picked = [q.text for q in xquad_questions if q.article < articles]
    # Every eighth question keeps the full run near ten minutes and still spans every article.
    picked = picked[:30] if args.quick else picked[::8]
    if args.quick:
        asked = asked[:10]

    embedder = SentenceTransformerEmbedder()
    embedder.warm_up()
    embedder.embed(["warm the model up"] * 8)
    results["article_questions"] = asked
    with tempfile.TemporaryDirectory(prefix="citebot-perf-") as work:
        work = Path(work)
        docs = work / "xquad-docs"
        docs.mkdir()
        paths = quality.write_articles(data, docs)
        print("indexing throughput", flush=True)
        xquad_index, results["indexing"] = measure_indexing(embedder, paths, work)

        article_index = CiteIndex(work / "article-home", embedder=embedder, corpus=CORPUS)
        article_index.warm_up()
        peer = make_peer(embedder, paths)
        results["peer"] = peer
        pools = BlasPools()
        import faiss
        import torch

        results["torch_threads"] = torch.get_num_threads()
        results["pools"] = (pools.describe() + f"; torch {torch.get_num_threads()} threads, "
                            f"faiss OpenMP {faiss.omp_get_max_threads()}")
        print(f"answer latency (pools: {results['pools']})", flush=True)
        results["latency"] = {
            "bundled article": measure_latency(article_index, asked, pools),
            "XQuAD": measure_latency(xquad_index, picked, pools, peer=peer),
        }
        del xquad_index, article_index

        print("cold start", flush=True)
        home = work / "cold-home"
        home.mkdir()
        results["cold"] = measure_cold_start(home, asked, runs=1 if args.quick else 3,
                                             serve=10 if args.quick else 50)
    print("scale", flush=True)
    sizes = [10_000] if args.quick else [10_000, 100_000, 1_000_000]
    results["scale"] = measure_scale(sizes, hnsw_max=args.hnsw_max,
                                     timing_queries=50 if args.quick else 100)

    results["load_after"] = os.getloadavg()
    seconds = time.perf_counter() - started
    command = "python -m bench.perf" + (" --quick" if args.quick else "")
    section = report(results, command=command, seconds=seconds)
    print(section)
    if not args.no_write:
        update_benchmarks(section)
    return results


if __name__ == "__main__":
    main()
