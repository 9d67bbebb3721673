"""The lean-runtime targets, measured in the run of ``python -m bench.perf`` on the default
settings (the shipped int8 encoder, the default reader): what a user waits for and what the bot
holds.

- cold starts of ``citebot ask`` (index present), ``citebot digest preview`` and ``citebot --help``
  as new processes, and which of torch, transformers, sentence-transformers each imported;
- serving memory: peak RSS of one ``citebot ask --file`` process answering 1,000 questions with the
  reader loaded, and ``citebot serve``'s RSS once ``/healthz`` is 200;
- the spread of those 1,000 answers' latency (p95 / p50), one question at a time;
- indexing the same documents beside LangChain's FAISS pipeline (RecursiveCharacterTextSplitter
  1000/200, the same model) in the same run;
- a fresh clone: ``scripts/install.sh`` plus the first answer, with an empty pip cache and then
  with the cache that run filled;
- the image's size, from the image ``scripts/docker-smoke.sh`` built (or builds, with ``--image
  build``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
QUESTION = "how much did Xi pledge?"
IMAGE = "localhost/citebot:smoke"
TORCH_FAMILY = ("torch", "transformers", "sentence_transformers")
# The targets, and its "today" figures (default CITEBOT_ENCODER=torch, before this change).
TARGETS = {"ask_s": 1.5, "digest_s": 2.0, "help_s": 0.3, "rss_mb": 350, "spread": 2.0,
           "install_s": 60, "indexing_ratio": 1.5, "image_gb": 1.0}
TODAY = {"ask_s": "7.6 s", "digest_s": "11.5 s", "help_s": "—", "rss_mb": "593 MB",
         "spread": "22–27 (p95 408–497 ms, p50 18 ms)", "install_s": "101 s",
         "indexing_ratio": "2.8–7.0× (13–33 s vs 4.7 s)", "image_gb": "2.39 GB"}

# `citebot ARGS` in this interpreter, reporting at exit the torch-family modules it imported and
# its peak RSS (VmHWM of its own address space: a parent's ru_maxrss would count the fork).
CHILD = f"FAMILY = {TORCH_FAMILY!r}\n" + r"""
import atexit, json, sys
def report():
    with open("/proc/self/status") as status:
        kib = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
    with open(sys.argv[1], "w") as out:
        json.dump({"modules": sorted(m for m in FAMILY if m in sys.modules), "peak_kib": kib}, out)
atexit.register(report)
from bot.cli import main
main(sys.argv[2:], prog_name="citebot")
"""


@dataclass(frozen=True)
class Runtime:
    """Which install runs the commands: its python, its ``citebot`` and its source tree."""

    python: str
    citebot: str
    root: Path
    name: str


def citebot_exe() -> str:
    exe = Path(sys.executable).with_name("citebot")
    return str(exe) if exe.exists() else "citebot"


# This process's own install (the development venv, with the train and test extras).
DEV = Runtime(sys.executable, citebot_exe(), ROOT, "the development venv (train and test extras)")


def installed_runtime(clone: Path) -> Runtime:
    venv = clone / ".venv" / "bin"
    return Runtime(str(venv / "python"), str(venv / "citebot"), clone,
                   "a fresh clone's default install (`scripts/install.sh`)")


def reader_in_use(root: Path = ROOT) -> str:
    """The default reader where its model is in ``root``'s tree; else the heuristic one."""
    from index.reader import MODEL_FILE

    shipped = root / MODEL_FILE.relative_to(ROOT)
    return "extractive" if shipped.exists() else "heuristic"


def default_env(home: Path, root: Path = ROOT, **extra: str) -> dict[str, str]:
    """The environment as a user has it: no CITEBOT_* setting but the data directory (and the
    heuristic reader while the trained reader's model is not in ``root``'s tree)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CITEBOT_", "SLACK_", "DISCORD_"))}
    env.update(CITEBOT_HOME=str(home), **extra)
    if reader_in_use(root) == "heuristic":
        env["CITEBOT_READER"] = "heuristic"
    return env


def run_child(home: Path, args: list[str], runtime: Runtime = DEV) -> tuple[dict, str]:
    """``citebot ARGS`` through :data:`CHILD`; its report and its stdout."""
    report = home / ".child-report.json"
    done = subprocess.run([runtime.python, "-c", CHILD, str(report), *args], cwd=home,
                          env={**default_env(home, runtime.root), "PYTHONPATH": str(runtime.root)},
                          capture_output=True, text=True, check=True)
    return json.loads(report.read_text()), done.stdout


# --- cold starts ---------------------------------------------------------------------------------

COMMANDS = {"ask_s": ["ask", QUESTION], "digest_s": ["digest", "preview"], "help_s": ["--help"]}


def cold_starts(home: Path, runs: int = 5, runtime: Runtime = DEV) -> dict:
    """Each command as a new process on an index already built in ``home``: one untimed run
    first (it creates the state database), then the median of ``runs``."""
    env = default_env(home, runtime.root)
    result: dict = {}
    for key, args in COMMANDS.items():
        subprocess.run([runtime.citebot, *args], cwd=home, env=env, capture_output=True, check=True)
        walls = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run([runtime.citebot, *args], cwd=home, env=env, capture_output=True,
                           check=True)
            walls.append(time.perf_counter() - started)
        report, _ = run_child(home, args, runtime)
        result[key] = {"median_s": statistics.median(walls), "walls": walls,
                       "imported": report["modules"]}
    started = time.perf_counter()
    subprocess.run([runtime.python, "-c", "pass"], check=True)
    result["python_s"] = time.perf_counter() - started
    return result


# --- memory and the spread of answer latency -----------------------------------------------------


def answer_spread(home: Path, questions: list[str], runtime: Runtime = DEV) -> dict:
    """``citebot ask --file`` over ``questions`` in one process, one at a time: each answer's own
    ``latency_ms``, and the process's peak RSS (model, reader and index loaded)."""
    batch = home / "spread-questions.txt"
    batch.write_text("\n".join(questions) + "\n", encoding="utf-8")
    started = time.perf_counter()
    report, stdout = run_child(home, ["ask", "--file", str(batch), "--json"], runtime)
    seconds = time.perf_counter() - started
    latencies = [json.loads(line)["latency_ms"] for line in stdout.splitlines()
                 if line.strip() and "latency_ms" in line]
    p50, p95 = (float(np.percentile(latencies, q)) for q in (50, 95))
    return {"questions": len(latencies), "p50_ms": p50, "p95_ms": p95, "spread": p95 / p50,
            "max_ms": max(latencies), "peak_rss_mb": report["peak_kib"] / 1024,
            "seconds": seconds, "imported": report["modules"]}


def serve_rss(home: Path, timeout: float = 120, runtime: Runtime = DEV) -> dict:
    """``citebot serve`` (no platform tokens: the HTTP server, the digest scheduler, the index and
    the reader): its RSS once ``/healthz`` answers 200, and the time that took."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    report = home / ".serve-report.json"
    started = time.perf_counter()
    server = subprocess.Popen([runtime.python, "-c", CHILD, str(report), "serve"], cwd=home,
                              env={**default_env(home, runtime.root, CITEBOT_PORT=str(port)),
                                   "PYTHONPATH": str(runtime.root)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.perf_counter() - started > timeout:
                raise RuntimeError("citebot serve never turned healthy")
            time.sleep(0.05)
        healthy_s = time.perf_counter() - started
        with open(f"/proc/{server.pid}/status") as status:
            rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    finally:
        if server.poll() is None:
            server.kill()
    imported = json.loads(report.read_text())["modules"] if report.exists() else None
    return {"healthy_s": healthy_s, "rss_mb": rss / 1024, "exit": server.returncode,
            "imported": imported}


# --- indexing beside LangChain -------------------------------------------------------------------


def langchain_index(embeddings, texts: list[str]) -> tuple[float, int]:
    """LangChain's usual pipeline over ``texts``: RecursiveCharacterTextSplitter(1000, 200), then
    ``FAISS.from_documents`` with ``embeddings`` (a LangChain ``Embeddings``)."""
    from langchain_community.vectorstores import FAISS
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    started = time.perf_counter()
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).create_documents(texts)
    FAISS.from_documents(chunks, embeddings)
    return time.perf_counter() - started, len(chunks)


def langchain_embeddings(embedder):
    """One of our embedders behind LangChain's ``Embeddings`` interface."""
    from langchain_core.embeddings import Embeddings

    class Adapter(Embeddings):
        def embed_documents(self, items):
            return embedder.embed(items).tolist()

        def embed_query(self, text):
            return embedder.embed_query(text).tolist()

    return Adapter()


def langchain_default_embeddings():
    """What LangChain users write for this model: ``HuggingFaceEmbeddings`` (sentence-transformers
    on torch), pointed at the bundled copy so nothing is downloaded. None without torch."""
    try:
        from langchain_community.embeddings import HuggingFaceEmbeddings

        from index.embedders import offline, weights_path

        offline()
        return HuggingFaceEmbeddings(model_name=str(weights_path("LangChain's default")))
    except (ImportError, RuntimeError):
        return None


def indexing(paths: list[Path], work: Path, embedder, rounds: int = 2) -> dict:
    """CiteBot's ``CiteIndex.add`` of ``paths`` into a fresh home with ``embedder`` (the default
    encoder, warmed), and LangChain's pipeline on the same files with LangChain's default
    embeddings for the same model (sentence-transformers) and with our encoder behind its
    interface, alternated ``rounds`` times; the fastest of each (noise only adds time)."""
    from index.engine import CiteIndex

    texts = [p.read_text(encoding="utf-8") for p in paths]
    peers = {"LangChain default (sentence-transformers)": langchain_default_embeddings(),
             f"LangChain on CiteBot's encoder ({embedder.encoder})": None}
    with contextlib.suppress(ImportError):
        peers[f"LangChain on CiteBot's encoder ({embedder.encoder})"] = langchain_embeddings(embedder)
    peers = {name: e for name, e in peers.items() if e is not None}
    if peers:
        for embeddings in peers.values():  # the first call of each loads its model: untimed
            embeddings.embed_documents(["warm the model up"] * 8)
    ours: list[float] = []
    times: dict[str, list[float]] = {name: [] for name in peers}
    chunks, snapshot = 0, None
    for r in range(rounds):
        index = CiteIndex(work / f"lean-index-{r}", embedder=embedder)
        started = time.perf_counter()
        index.add(paths)
        ours.append(time.perf_counter() - started)
        snapshot = index.snapshot()
        for name, embeddings in peers.items():
            try:
                seconds, chunks = langchain_index(embeddings, texts)
            except ImportError:
                break
            times[name].append(seconds)
    langchain = {name: min(t) for name, t in times.items() if t}
    assert snapshot is not None  # rounds >= 1
    citebot_s = min(ours)
    # The target's peer is LangChain as its users run it; the same-encoder ratio is shown too.
    default = langchain.get("LangChain default (sentence-transformers)")
    same = [t for name, t in langchain.items() if "CiteBot's encoder" in name]
    return {"documents": len(paths), "paragraphs": len(snapshot.passages),
            "sentences": len(snapshot.sentences), "citebot_s": citebot_s, "rounds": rounds,
            "langchain": langchain, "chunks": chunks, "home": str(work / f"lean-index-{rounds - 1}"),
            "ratio": citebot_s / default if default else float("nan"),
            "ratio_same_encoder": citebot_s / same[0] if same else float("nan")}


# --- a fresh clone -------------------------------------------------------------------------------


def fresh_install(work: Path) -> dict:
    """``git clone`` of this repository's HEAD, ``scripts/install.sh``, then ``citebot ask`` with
    no index yet (it builds one from the bundled corpus): first with an empty pip cache, then in
    a second clone with the cache the first filled, whose install is kept (``clone``) for the
    other figures."""
    cache = work / "pip-cache"
    result = {}
    for label in ("cold", "warm"):
        clone = work / f"clone-{label}"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CITEBOT_", "VIRTUAL_ENV", "PYTHONPATH"))}
        env.update(PIP_CACHE_DIR=str(cache), CITEBOT_HOME=str(work / f"home-{label}"))
        if reader_in_use(clone) == "heuristic":  # its model not committed yet
            env["CITEBOT_READER"] = "heuristic"
        started = time.perf_counter()
        subprocess.run(["scripts/install.sh"], cwd=clone, env=env, check=True,
                       capture_output=True, text=True)
        installed = time.perf_counter() - started
        answer = subprocess.run([str(clone / ".venv" / "bin" / "citebot"), "ask", QUESTION],
                                cwd=clone, env=env, check=True, capture_output=True, text=True)
        total = time.perf_counter() - started
        has_torch = subprocess.run([str(clone / ".venv" / "bin" / "python"), "-c",
                                    "import importlib.util as u; print(bool(u.find_spec('torch')))"],
                                   capture_output=True, text=True, check=True).stdout.strip() == "True"
        venv_mb = sum(f.stat().st_size for f in (clone / ".venv").rglob("*") if f.is_file()) / 2**20
        result[label] = {"install_s": installed, "answer_s": total - installed, "total_s": total,
                         "answered": answer.stdout.splitlines()[0] if answer.stdout else "",
                         "torch_installed": has_torch, "venv_mb": venv_mb,
                         "cache_mb": sum(f.stat().st_size for f in cache.rglob("*")
                                         if f.is_file()) / 2**20}
        if label == "cold":
            shutil.rmtree(clone / ".venv", ignore_errors=True)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=True).stdout.strip()
    return {**result, "commit": commit, "clone": str(work / "clone-warm")}


# --- the image -----------------------------------------------------------------------------------


def image_size(build: bool = False) -> dict | None:
    """The size of :data:`IMAGE` in bytes (podman's inspect); with ``build``,
    ``scripts/docker-smoke.sh`` builds and smoke-tests it first (root, buildah). None where there
    is no such image."""
    if shutil.which("buildah") is None or shutil.which("podman") is None:
        return None
    smoke = None
    if build:
        started = time.perf_counter()
        done = subprocess.run(["scripts/docker-smoke.sh"], cwd=ROOT, capture_output=True, text=True,
                              check=False)  # a failed smoke is reported, not raised
        smoke = {"exit": done.returncode, "seconds": time.perf_counter() - started,
                 "passed": "smoke passed" in done.stderr}
    # Its layers as stored, in bytes: the size `docker images` shows for the same image.
    found = subprocess.run(["podman", "image", "inspect", "--format", "{{.Size}}|{{.Created}}",
                            IMAGE], capture_output=True, text=True, check=False)
    if found.returncode != 0:
        return None
    size, created = found.stdout.strip().split("|", 1)
    return {"bytes": int(size), "created": created[:19], "smoke": smoke}


# --- reporting -----------------------------------------------------------------------------------


def _mark(ok: bool) -> str:
    return "met" if ok else "**not met**"


def target_rows(lean: dict) -> list[tuple[str, str, str, str, bool | None]]:
    """(target, today, measured, limit, met) for each of the issue's targets."""
    rows = []
    cold = lean["cold"]
    for key, what in (("ask_s", "`citebot ask`, start to answer"),
                      ("digest_s", "`citebot digest preview`"), ("help_s", "`citebot --help`")):
        seconds = cold[key]["median_s"]
        rows.append((what, TODAY[key], f"{seconds:.2f} s", f"≤ {TARGETS[key]} s",
                     seconds <= TARGETS[key]))
    spread = lean["spread"]
    rows.append((f"peak RSS answering {spread['questions']:,} questions, reader loaded", TODAY["rss_mb"],
                 f"{spread['peak_rss_mb']:.0f} MB (`citebot serve` at healthy: "
                 f"{lean['serve']['rss_mb']:.0f} MB)", f"≤ {TARGETS['rss_mb']} MB",
                 max(spread["peak_rss_mb"], lean["serve"]["rss_mb"]) <= TARGETS["rss_mb"]))
    rows.append((f"answer p95 / p50, {spread['questions']:,} questions one at a time", TODAY["spread"],
                 f"{spread['spread']:.2f} (p95 {spread['p95_ms']:.1f} ms, p50 {spread['p50_ms']:.1f} ms)",
                 f"≤ {TARGETS['spread']}", spread["spread"] <= TARGETS["spread"]))
    install = lean.get("install")
    if install:
        warm, cold_install = install["warm"], install["cold"]
        rows.append(("fresh clone: install.sh + first answer, warm pip cache", TODAY["install_s"],
                     f"{warm['total_s']:.0f} s (install {warm['install_s']:.0f} s, answer "
                     f"{warm['answer_s']:.1f} s); empty cache {cold_install['total_s']:.0f} s",
                     f"≤ {TARGETS['install_s']} s", warm["total_s"] <= TARGETS["install_s"]))
    else:
        rows.append(("fresh clone: install.sh + first answer", TODAY["install_s"], "not run",
                     f"≤ {TARGETS['install_s']} s", None))
    ix = lean["indexing"]
    if ix["ratio"] == ix["ratio"]:  # not NaN: LangChain's default pipeline ran
        rows.append(("indexing vs LangChain's default pipeline (same documents, same run)",
                     TODAY["indexing_ratio"],
                     f"{ix['ratio']:.2f}× ({ix['citebot_s']:.1f} s vs "
                     f"{ix['langchain']['LangChain default (sentence-transformers)']:.1f} s); "
                     f"{ix['ratio_same_encoder']:.2f}× vs LangChain on CiteBot's encoder",
                     f"≤ {TARGETS['indexing_ratio']}×", ix["ratio"] <= TARGETS["indexing_ratio"]))
    else:
        rows.append(("indexing vs LangChain", TODAY["indexing_ratio"], "LangChain not installed",
                     f"≤ {TARGETS['indexing_ratio']}×", None))
    image = lean.get("image")
    if image:
        gb = image["bytes"] / 1e9
        rows.append(("image size", TODAY["image_gb"], f"{gb:.2f} GB", f"≤ {TARGETS['image_gb']} GB",
                     gb <= TARGETS["image_gb"]))
    else:
        rows.append(("image size", TODAY["image_gb"], "no image here (scripts/docker-smoke.sh)",
                     f"≤ {TARGETS['image_gb']} GB", None))
    return rows


def section(lean: dict) -> str:
    """The "Lean runtime" subsection of BENCHMARKS.md's Performance section."""
    cold, spread, serve, ix = lean["cold"], lean["spread"], lean["serve"], lean["indexing"]
    table = ["| target | today (issue) | measured | limit | |", "|---|---|---|---|---|"]
    for what, today, measured, limit, met in target_rows(lean):
        table.append(f"| {what} | {today} | {measured} | {limit} | "
                     f"{'—' if met is None else _mark(met)} |")
    imported = sorted({m for c in COMMANDS for m in cold[c]["imported"]}
                      | set(spread["imported"]) | set(serve["imported"] or []))
    peers = ", ".join(f"{name} {s:.1f} s" for name, s in ix["langchain"].items()) or "not run"
    lines = [
        "### Lean runtime (default settings)",
        "",
        f"Everything here runs as a user would, on the default settings (the shipped int8 encoder "
        f"and the {lean['reader']} reader, no CITEBOT_* variable but the data directory) and, "
        f"but for indexing, on {lean.get('runtime', DEV.name)}.",
        "",
        "\n".join(table),
        "",
        f"- Cold starts: new `citebot` processes, index already built, median of {len(cold['ask_s']['walls'])} "
        f"after one untimed run (ask: {', '.join(f'{w:.2f}' for w in cold['ask_s']['walls'])} s; "
        f"digest preview: {', '.join(f'{w:.2f}' for w in cold['digest_s']['walls'])} s; --help: "
        f"{', '.join(f'{w:.2f}' for w in cold['help_s']['walls'])} s; a bare `python -c pass` "
        f"{cold['python_s']:.2f} s). torch, transformers or sentence-transformers imported by "
        f"ask, digest preview, --help, ask --file and serve: {', '.join(imported) or 'none'}.",
        f"- Latency spread: `citebot ask --file --json` over {spread['questions']:,} XQuAD questions "
        f"(the {ix['documents']} articles indexed), each answer's own `latency_ms`: p50 "
        f"{spread['p50_ms']:.1f} ms, p95 {spread['p95_ms']:.1f} ms, max {spread['max_ms']:.0f} ms; "
        f"the same process's peak RSS {spread['peak_rss_mb']:.0f} MB. `citebot serve` (HTTP, "
        f"digest scheduler, index and reader) was healthy after {serve['healthy_s']:.1f} s holding "
        f"{serve['rss_mb']:.0f} MB, and exited {serve['exit']} on SIGTERM.",
        f"- Indexing: the {ix['documents']} XQuAD articles ({ix['paragraphs']} paragraphs, "
        f"{ix['sentences']:,} sentences; CiteBot embeds each sentence and paragraph) through "
        f"`CiteIndex.add` into a fresh home: {ix['citebot_s']:.1f} s. LangChain "
        f"(RecursiveCharacterTextSplitter 1000/200 → {ix['chunks']} chunks, `FAISS.from_documents`) "
        f"on the same files with the same model: {peers}; fastest of {ix['rounds']} alternated "
        f"rounds each. The target's peer is LangChain's default, `HuggingFaceEmbeddings` "
        f"(sentence-transformers on torch) on the bundled model; LangChain on CiteBot's own int8 "
        f"encoder shows what CiteBot's extra units cost: it embeds every sentence and every "
        f"paragraph, about twice the text LangChain's chunks hold.",
    ]
    install = lean.get("install")
    if install:
        warm, cold_install = install["warm"], install["cold"]
        lines.append(
            f"- Fresh clone ({install['commit']}): `git clone`, `scripts/install.sh`, then `citebot "
            f"ask` building the index from the bundled corpus. Empty pip cache: install "
            f"{cold_install['install_s']:.0f} s + answer {cold_install['answer_s']:.1f} s; with "
            f"the cache that filled: install {warm['install_s']:.0f} s + answer "
            f"{warm['answer_s']:.1f} s. The venv holds {warm['venv_mb']:.0f} MB, torch "
            f"{'installed' if warm['torch_installed'] else 'not installed'}. The empty-cache run "
            f"put {cold_install['cache_mb']:.0f} MB in pip's cache; pip's configuration here "
            f"also reads a local package mirror, so from PyPI over the network the empty-cache "
            f"figure grows by the time to download that much.")
    image = lean.get("image")
    if image:
        smoke = image.get("smoke")
        built = (f"built and smoke-tested by `scripts/docker-smoke.sh` in this run "
                 f"({smoke['seconds']:.0f} s, {'passed' if smoke['passed'] else 'FAILED'})"
                 if smoke else f"as `scripts/docker-smoke.sh` last built it ({image['created']})")
        lines.append(f"- Image `{IMAGE}`: {image['bytes'] / 1e6:.0f} MB, {built}.")
    return "\n".join(lines)


# --- one run -------------------------------------------------------------------------------------


def measure(paths: list[Path], work: Path, questions: list[str], *, spread: int = 1000,
            cold_runs: int = 5, install: bool = True, image: str = "read") -> dict:
    """Every lean-runtime figure, on the default settings, with ``paths`` (the XQuAD articles) as
    the indexing corpus and ``questions`` for the latency spread; ``image``: skip, read (the
    image docker-smoke.sh last built) or build (run docker-smoke.sh first)."""
    from index.embedders import model_embedder

    embedder = model_embedder()
    embedder.warm_up()
    embedder.embed(["warm the model up"] * 8)
    result: dict = {}
    print("[lean] indexing beside LangChain", flush=True)
    result["indexing"] = indexing(paths, work, embedder)
    runtime = DEV
    if install:
        print("[lean] fresh clone: install and first answer, empty then warm pip cache", flush=True)
        result["install"] = fresh_install(work)
        # The rest runs on what a user installs, not on this venv with its extras.
        runtime = installed_runtime(Path(result["install"]["clone"]))
    result["runtime"] = runtime.name
    result["reader"] = reader_in_use(runtime.root)
    print(f"[lean] cold starts and serving on {runtime.name}", flush=True)
    home = work / "lean-article-home"
    home.mkdir()
    subprocess.run([runtime.citebot, "index", "rebuild"], cwd=home, env=default_env(home, runtime.root),
                   check=True, capture_output=True)
    result["cold"] = cold_starts(home, runs=cold_runs, runtime=runtime)
    result["serve"] = serve_rss(home, runtime=runtime)
    print(f"[lean] {spread} questions one at a time", flush=True)
    asked = (questions * (spread // max(1, len(questions)) + 1))[:spread]
    result["spread"] = answer_spread(Path(result["indexing"]["home"]), asked, runtime)
    if image != "skip":
        result["image"] = image_size(build=image == "build")
    return result


def main(argv: list[str] | None = None) -> dict:
    """Only these figures, printed (``python -m bench.perf`` takes them with the rest and writes
    BENCHMARKS.md)."""
    import argparse
    import tempfile

    from bench import quality

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spread", type=int, default=1000)
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--no-install", action="store_true")
    parser.add_argument("--image", choices=("skip", "read", "build"), default="read")
    args = parser.parse_args(argv)
    data, questions = quality.load_xquad()
    with tempfile.TemporaryDirectory(prefix="citebot-lean-") as folder:
        work = Path(folder)
        docs = work / "xquad-docs"
        docs.mkdir()
        paths = quality.write_articles(data, docs)
        result = measure(paths, work, [q.text for q in questions], spread=args.spread,
                         cold_runs=args.cold_runs, install=not args.no_install, image=args.image)
    print(section(result))
    print(json.dumps(result, indent=1, default=str))
    return result


if __name__ == "__main__":
    main()
