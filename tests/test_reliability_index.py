"""The index on disk under faults: missing or corrupt files at start give one line naming the fix
(`citebot index rebuild`), never a traceback; `citebot index add` killed with SIGKILL in the
middle of ingesting leaves the previous index loading and answering. Real subprocesses."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PLEDGE = "Rmb26bn financing support"


def citebot_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CITEBOT_", "SLACK_", "DISCORD_"))}
    return {**env, "CITEBOT_HOME": str(home), "CITEBOT_EMBEDDER": "hashing", **extra}


def citebot(home: Path, *args: str, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], cwd=home.parent, env=citebot_env(home, **extra),
        capture_output=True, text=True, timeout=timeout,
    )


def version_dir(home: Path) -> Path:
    root = home / "index"
    return root / (root / "CURRENT").read_text().strip()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assert_one_line_naming_the_fix(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("citebot:")]
    assert len(lines) == 1, result.stderr[-2000:]
    assert "citebot index rebuild" in lines[0] and "\n" not in lines[0]


@pytest.fixture
def built_home(tmp_path) -> Path:
    home = tmp_path / "home"
    result = citebot(home, "ask", PLEDGE)
    assert result.returncode == 0 and "paragraph 6" in result.stdout, result.stderr
    return home


@pytest.mark.parametrize("damage", ["garbled vectors", "version files missing"])
def test_a_damaged_index_stops_ask_and_serve_with_one_line_naming_the_fix(built_home, damage):
    current = version_dir(built_home)
    if damage == "garbled vectors":
        (current / "sentences.faiss").write_bytes(b"garbage, not a FAISS index")
    else:
        for path in current.iterdir():
            path.unlink()
        current.rmdir()
    assert_one_line_naming_the_fix(citebot(built_home, "ask", PLEDGE))
    served = citebot(built_home, "serve", timeout=120, CITEBOT_PORT=str(_free_port()))
    assert_one_line_naming_the_fix(served)
    if damage == "version files missing":
        slack_only = citebot(
            built_home, "serve", "slack", timeout=120, CITEBOT_PORT=str(_free_port()),
            SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET="test-secret",
        )
        assert_one_line_naming_the_fix(slack_only)

    # The fix it names works.
    rebuilt = citebot(built_home, "index", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "paragraph 6" in citebot(built_home, "ask", PLEDGE).stdout


def _many_documents(folder: Path, count: int) -> Path:
    folder.mkdir()
    rng = random.Random(7)
    words = ("summit pledge financing border trade pipeline railway security minister talks "
             "region energy water grain customs tariff corridor").split()
    for n in range(count):
        paragraphs = [
            " ".join(
                " ".join(rng.choice(words) for _ in range(14)).capitalize() + f" item {n}-{p}-{s}."
                for s in range(5)
            )
            for p in range(12)
        ]
        (folder / f"report-{n:03}.md").write_text(f"# Report {n}\n\n" + "\n\n".join(paragraphs) + "\n")
    return folder


def test_sigkill_in_the_middle_of_index_add_leaves_the_previous_index_answering(
    built_home, tmp_path
):
    before = citebot(built_home, "index", "list", "--json")
    big = _many_documents(tmp_path / "big", 150)  # about 9,000 sentences: seconds to embed
    ingest = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "index", "add", str(big)],
        cwd=tmp_path, env=citebot_env(built_home),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        # The previous index is memory-mapped once every new document has been read and cleaned:
        # from then on the process is embedding, then writing, the new version.
        process = psutil.Process(ingest.pid)
        deadline = time.monotonic() + 120
        while not any("sentence_vectors.npy" in m.path for m in _maps(process)):
            assert ingest.poll() is None, "index add finished before it could be killed"
            assert time.monotonic() < deadline, "index add never reached the embedding step"
            time.sleep(0.01)
        time.sleep(0.5)
        assert ingest.poll() is None, "index add finished before it could be killed"
        ingest.send_signal(signal.SIGKILL)
        assert ingest.wait(timeout=30) == -signal.SIGKILL
    finally:
        if ingest.poll() is None:
            ingest.kill()
            ingest.wait()

    answered = citebot(built_home, "ask", PLEDGE)
    assert answered.returncode == 0 and "paragraph 6" in answered.stdout, answered.stderr
    assert citebot(built_home, "index", "list", "--json").stdout == before.stdout

    # And the next ingest, not interrupted, works on top of what the kill left behind.
    small = tmp_path / "one.md"
    small.write_text("# Grain\n\nThe grain corridor reopened in May after the talks.\n")
    added = citebot(built_home, "index", "add", str(small))
    assert added.returncode == 0, added.stderr
    assert "grain corridor" in citebot(built_home, "ask", "when did the grain corridor reopen").stdout
    leftovers = [p.name for p in (built_home / "index").iterdir() if p.name.startswith(".staging-")]
    assert leftovers == []


def _maps(process: psutil.Process) -> list:
    try:
        return process.memory_maps(grouped=True)
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return []
