"""The "Performance" section of BENCHMARKS.md, written from what :mod:`bench.perf` measured:
the tables, the targets each figure is checked against, and the writer. Nothing is measured
here, so the wording can change without a run."""

from __future__ import annotations

import os
import platform
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from bench import lean, quality

HEADING = "## Performance"
COLD_QUESTION = "how much did Xi pledge?"
# The targets, checked at the end of the report.
FLOOR_RATIO_TARGET = 1.3
INDEXING_RATIO_TARGET = 0.9
COLD_START_TARGET_S = 6.0
RSS_TARGET_MB = 700
INT8_SPEEDUP_TARGET = 2.0
PASSAGE_POINTS_TARGET = 1.0


def update_benchmarks(section: str, path: Path = quality.BENCHMARKS) -> None:
    quality.update_benchmarks(section, path, heading=HEADING)


def percentile(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


def p50_p95(values) -> tuple[float, float]:
    return percentile(values, 50), percentile(values, 95)


def ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")


# --- tables --------------------------------------------------------------------------------------


def latency_table(named: dict[str, Any]) -> str:
    """One row per corpus, encoder and thread mode; ``named`` maps a label to a ``perf.Latency``."""
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


def peer_lines(lat: Any, peer, encoder: str = "torch") -> str:
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

{lean.section(results["lean"]) + chr(10) * 2 if "lean" in results else ""}### Against the targets

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
