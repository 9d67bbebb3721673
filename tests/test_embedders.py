"""The ONNX encoders: the shipped int8 one and the fp32 one exported once from the bundled
weights, vectors close to the torch ones, answers the bundled article; an index another encoder
built keeps answering; and the commands that need no model never import torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bot.runtime import make_embedder
from bot.settings import Settings, SettingsError, get_settings
from index.embedders import (
    SHIPPED_INT8,
    HashingEmbedder,
    OnnxEmbedder,
    bundled_model_path,
    export_directory,
    export_onnx,
)
from index.engine import CiteIndex
from index.errors import IndexCorruptError

from .conftest import ARTICLE, CORPUS, PROJECT_ROOT

TEXTS = [
    "how much did Xi pledge?",
    "Who hosted the summit?",
    ARTICLE.read_text(encoding="utf-8")[:1500],  # past 256 tokens: truncated the same way
    "Xi, who hosted the two-day summit in the Chinese city of Xi'an, said Beijing would provide "
    "Rmb26bn ($3.7bn) in \"financing support\" and \"free assistance\" to Central Asian countries.",
    "a",
]
# Dynamic int8 quantisation scales activations per batch, so int8 vectors wander a little from
# fp32; measured on these texts and XQuAD questions the cosine stays above 0.97.
INT8_MIN_COSINE = 0.97


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def int8_embedder():
    embedder = OnnxEmbedder(quantized=True)
    embedder.warm_up()
    return embedder


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.model
def test_onnx_vectors_match_torch(models_dir, int8_embedder, real_embedder):
    reference = real_embedder.embed(TEXTS)
    fp32 = OnnxEmbedder(models_dir)
    batch = fp32.embed(TEXTS)
    assert batch.shape == (len(TEXTS), 384) and batch.dtype == np.float32
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    assert cosines(batch, reference).min() >= 0.99
    # One at a time (the query path) gives the same vectors as a padded batch.
    singles = np.stack([fp32.embed_query(t) for t in TEXTS])
    assert cosines(singles, reference).min() >= 0.99
    assert cosines(int8_embedder.embed(TEXTS), reference).min() >= INT8_MIN_COSINE
    assert fp32.embed([]).shape == (0, 384)


@pytest.mark.model
def test_int8_index_answers_the_product_question(tmp_path, int8_embedder):
    index = CiteIndex(tmp_path / "home", embedder=int8_embedder, corpus=CORPUS)
    answer = index.ask("how much did Xi pledge?")
    assert answer.answered and "Rmb26bn" in answer.answer
    assert "Rmb26bn" in answer.citations[0].quote and answer.citations[0].paragraph == 6
    assert index.store.load().model == "all-MiniLM-L6-v2+onnx-int8"


@pytest.mark.model
def test_an_index_another_encoder_built_answers_with_one_note_until_rebuilt(
        real_index, int8_embedder, caplog):
    """The torch index (the default before ONNX) answers on the int8 encoder, as it is: one note
    says how to rebuild, and nothing is rewritten until the user asks."""
    before = sorted(p.name for p in real_index.store.root.iterdir())
    switched = CiteIndex(real_index.home, embedder=int8_embedder, corpus=CORPUS)
    with caplog.at_level("WARNING", logger="citebot.index"):
        for _ in range(2):
            answer = switched.ask("how much did Xi pledge?")
            assert answer.answered and "Rmb26bn" in answer.citations[0].quote
    [note] = [r.getMessage() for r in caplog.records]
    assert "CITEBOT_ENCODER=torch" in note and "`citebot index rebuild`" in note
    assert "onnx-int8" in note and "\n" not in note
    assert sorted(p.name for p in real_index.store.root.iterdir()) == before
    assert real_index.ask("how much did Xi pledge?").answered


def test_another_models_vectors_are_never_mixed(tmp_path):
    fake = CiteIndex(tmp_path / "home", embedder=HashingEmbedder(), corpus=CORPUS)
    fake.warm_up()
    switched = CiteIndex(tmp_path / "home", embedder=OnnxEmbedder(quantized=True), corpus=CORPUS)
    with pytest.raises(IndexCorruptError) as caught:
        switched.ask("how much did Xi pledge?")
    message = str(caught.value)
    assert "'hashing-fake'" in message and "onnx-int8" in message
    assert "CITEBOT_ENCODER" in message and "citebot index rebuild" in message


@pytest.mark.model
def test_export_is_reused_and_serving_never_imports_torch(models_dir, int8_embedder):
    OnnxEmbedder(models_dir).warm_up()
    directory = export_directory(models_dir, bundled_model_path())
    files = {p.name: p.stat() for p in directory.iterdir()}
    assert set(files) == {"model.onnx"}  # no temporary file left behind
    script = (
        "import json, sys\n"
        "from index.embedders import OnnxEmbedder\n"
        f"fp32 = OnnxEmbedder({str(models_dir)!r})\n"
        "fp32.warm_up()\n"
        "e = OnnxEmbedder(quantized=True)\n"
        "v = e.embed_query('how much did Xi pledge?')\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'file': str(e.model_file),\n"
        "                  'fp32': str(fp32.model_file), 'vector': v.tolist()}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, check=True, timeout=120)
    child = json.loads(done.stdout.strip().splitlines()[-1])
    assert child["torch"] is False
    assert child["file"] == str(SHIPPED_INT8) and child["fp32"] == str(directory / "model.onnx")
    assert np.allclose(child["vector"], int8_embedder.embed_query("how much did Xi pledge?"), atol=1e-5)
    after = {p.name: p.stat() for p in directory.iterdir()}
    assert {n: (s.st_ino, s.st_mtime_ns) for n, s in after.items()} == {
        n: (s.st_ino, s.st_mtime_ns) for n, s in files.items()}


def test_a_new_bundled_model_gets_its_own_export_directory(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"hidden_size": 384}')
    (model / "model.safetensors").write_bytes(b"x" * 10)
    first = export_directory(tmp_path / "models", model)
    assert first == export_directory(tmp_path / "models", model)
    (model / "model.safetensors").write_bytes(b"x" * 11)
    assert export_directory(tmp_path / "models", model) != first
    assert first.parent == tmp_path / "models"


def test_an_int8_export_is_served_without_its_fp32_source(tmp_path):
    (tmp_path / "model-int8.onnx").write_bytes(b"int8 model")
    found = export_onnx(tmp_path / "no-such-model", tmp_path, quantized=True)
    assert found == tmp_path / "model-int8.onnx" and not (tmp_path / "model.onnx").exists()


def test_encoder_setting_picks_the_embedder(isolated_home, monkeypatch):
    embedder = make_embedder(Settings())
    assert isinstance(embedder, OnnxEmbedder) and embedder.quantized
    assert embedder.name == "all-MiniLM-L6-v2+onnx-int8"
    monkeypatch.setenv("CITEBOT_ENCODER", "onnx")
    get_settings.cache_clear()
    embedder = make_embedder(get_settings())
    assert isinstance(embedder, OnnxEmbedder) and not embedder.quantized
    assert embedder.models_dir == isolated_home / "models"
    assert embedder.name == "all-MiniLM-L6-v2+onnx"
    monkeypatch.setenv("CITEBOT_ENCODER", "tensorflow")
    get_settings.cache_clear()
    with pytest.raises(SettingsError) as caught:
        get_settings()
    assert str(caught.value).startswith("CITEBOT_ENCODER must be one of torch, onnx, onnx-int8")


@pytest.mark.parametrize("args", [["--help"], ["config", "check"], ["index", "list", "--json"]])
def test_commands_without_the_model_do_not_import_torch(tmp_path, args):
    script = (
        "import sys\n"
        "from bot.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers', 'onnxruntime', 'sklearn') if m in sys.modules]\n"
        "print('HEAVY', ','.join(heavy))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CITEBOT_", "SLACK_", "DISCORD_"))}
    env.update(CITEBOT_HOME=str(tmp_path / "home"), PYTHONPATH=str(PROJECT_ROOT))
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert "HEAVY" in done.stdout, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "HEAVY", done.stdout


def test_a_slow_ingest_never_stalls_answers(tmp_path, corpus_copy):
    """Embedding a new document holds the index's write lock; questions keep being answered
    from the current snapshot meanwhile, and see the new document once it is in."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from index.embedders import HashingEmbedder

    class GatedEmbedder(HashingEmbedder):
        def __init__(self):
            super().__init__()
            self.gate = threading.Event()
            self.gate.set()
            self.embedding = threading.Event()
            self.calls: list[int] = []

        def embed(self, texts, *, progress=False):
            self.calls.append(len(texts))
            self.embedding.set()
            assert self.gate.wait(30)
            return super().embed(texts, progress=progress)

    embedder = GatedEmbedder()
    index = CiteIndex(tmp_path / "home", embedder=embedder, corpus=CORPUS)
    index.warm_up()
    extra = corpus_copy / "glaciers.md"
    extra.write_text("# Glaciers\n\nThe Vatnajokull glacier covers 7,700 square kilometres. It "
                     "is the largest glacier in Iceland.\n\nIt has been shrinking since 1890.\n",
                     encoding="utf-8")
    embedder.gate.clear()
    embedder.embedding.clear()
    calls_before = len(embedder.calls)
    ingest = threading.Thread(target=index.add, args=([extra],))
    ingest.start()
    try:
        assert embedder.embedding.wait(30)
        with ThreadPoolExecutor(1) as pool:  # before, this waited for the ingest's lock
            answer = pool.submit(index.ask, "how much did Xi pledge?").result(timeout=10)
        assert answer.citations[0].document == "ft-xi-central-asia-2023"
        assert "glaciers" not in {d.doc_id for d in index.documents()}
    finally:
        embedder.gate.set()
        ingest.join(30)
    assert not ingest.is_alive()
    assert "glaciers" in {d.doc_id for d in index.documents()}
    # One call for all the new sentences and one for all the new paragraphs: the embedder
    # batches them, rather than one call per text.
    assert embedder.calls[calls_before:] == [3, 2]
