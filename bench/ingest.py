"""Ingest time per MB for a document that is one long line against an ordinary one, same run.

    python -m bench.ingest               # 5 MB each; update BENCHMARKS.md
    python -m bench.ingest --mb 1        # a quicker run
    python -m bench.ingest --no-write    # print only

Both files hold the same generated English sentences; the ordinary one has paragraphs of about
600 characters, the other has no line break at all. Each is added by ``CiteIndex.add`` (read,
clean, split into sentences, embed, write) into a fresh home with the hashing embedder, so the
figures are CiteBot's own work per byte rather than the model's, which is the same per sentence
for both shapes. Fastest of ``--rounds`` alternated rounds.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

from bench import quality

HEADING = "## Ingest"
RATIO_TARGET = 2.0
WORDS = (
    "the summit Xi pledged Rmb26bn ($3.7bn) in financing support to Central Asian countries "
    "Dr. Smith said U.S. officials expected 3.5 percent growth from the new railway and pipeline "
    "while Beijing and Astana agreed on trade"
).split()


def sentences(total_chars: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out, size = [], 0
    while size < total_chars:
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))
        sentence = sentence[0].upper() + sentence[1:] + "."
        out.append(sentence)
        size += len(sentence) + 1
    return out


def write_files(folder: Path, megabytes: float) -> dict[str, Path]:
    """The same sentences twice: in ~600-character paragraphs, and as one line."""
    pool = sentences(int(megabytes * 1024 * 1024))
    paragraphs, current = [], []
    for sentence in pool:
        current.append(sentence)
        if sum(map(len, current)) >= 600:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    files = {"ordinary": folder / "ordinary.txt", "one line": folder / "one-line.txt"}
    files["ordinary"].write_text("\n\n".join(paragraphs), encoding="utf-8")
    files["one line"].write_text(" ".join(pool), encoding="utf-8")
    return files


def time_add(path: Path, home: Path) -> tuple[float, int]:
    from index.embedders import HashingEmbedder
    from index.engine import CiteIndex

    index = CiteIndex(home, embedder=HashingEmbedder(), max_bytes=64 * 1024 * 1024)
    started = time.perf_counter()
    report = index.add([path])
    return time.perf_counter() - started, report.sentences


def measure(megabytes: float, rounds: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="citebot-ingest-") as tmp:
        folder = Path(tmp)
        files = write_files(folder, megabytes)
        best: dict[str, float] = {}
        counts: dict[str, int] = {}
        for round_ in range(rounds):
            order = list(files) if round_ % 2 == 0 else list(reversed(files))
            for name in order:
                seconds, counts[name] = time_add(files[name], folder / f"home-{name}-{round_}")
                best[name] = min(best.get(name, seconds), seconds)
                print(f"  round {round_ + 1}: {name}: {seconds:.1f} s", file=sys.stderr)
        sizes = {name: path.stat().st_size / 1e6 for name, path in files.items()}
    return {
        name: {"mb": sizes[name], "seconds": best[name], "s_per_mb": best[name] / sizes[name],
               "sentences": counts[name]}
        for name in files
    }


def section(results: dict, megabytes: float, rounds: int, wall_s: float) -> str:
    ratio = results["one line"]["s_per_mb"] / results["ordinary"]["s_per_mb"]
    rows = "\n".join(
        f"| {name} | {r['mb']:.2f} | {r['sentences']:,} | {r['seconds']:.1f} | {r['s_per_mb']:.2f} |"
        for name, r in results.items()
    )
    met = "met" if ratio <= RATIO_TARGET else "**not met**"
    return f"""{HEADING}

Command: `python -m bench.ingest{'' if megabytes == 5 else f' --mb {megabytes:g}'}{'' if rounds == 2 else f' --rounds {rounds}'}` — {wall_s:.0f} s on this machine
({os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; load average
{os.getloadavg()[0]:.2f} at the end). `CiteIndex.add` of one {megabytes:g} MB text file into a fresh
home with the hashing embedder (reading, cleaning, sentence splitting, embedding, the atomic
write): the same generated sentences in ~600-character paragraphs ("ordinary") and on one line
with no break at all. Fastest of {rounds} alternated round(s).

| document | MB | sentences | `CiteIndex.add` s | s per MB |
|---|---|---|---|---|
{rows}

One line costs {ratio:.2f}× the time per MB of ordinary paragraphs (target ≤ {RATIO_TARGET:g}×): {met}.
Before, sentence splitting alone grew with the square of a paragraph's length (100 KB: 9 s; a
15 MB line did not finish in 240 s); a longer paragraph is now split {_piece_chars():,} characters
at a time, each window's last sentence read again with what follows it.
"""


def _piece_chars() -> int:
    from index.sentences import PIECE_CHARS

    return PIECE_CHARS


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=5.0, help="size of each file (default 5)")
    parser.add_argument("--rounds", type=int, default=2, help="alternated rounds (default 2)")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = measure(args.mb, args.rounds)
    text = section(results, args.mb, args.rounds, time.perf_counter() - started)
    print(text)
    if not args.no_write:
        quality.update_benchmarks(text, heading=HEADING)
    return results


if __name__ == "__main__":
    main()
