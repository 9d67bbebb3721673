"""Vector indexes for the sentence and passage vectors: one small interface, two back ends.

- :class:`FaissVectors`, the embedded default: exact ``IndexFlatIP`` up to ``exact_max`` vectors,
  above it an inverted file of 8-bit scalar-quantised codes (``IVF{nlist},SQ8``), a quarter of
  the flat size, whose ``nprobe`` is tuned on the data itself when it is built. Persisted with
  ``faiss.write_index`` and read back memory-mapped, so processes on one machine share the pages.
- :class:`MilvusVectors`, one kind of unit in a Milvus collection (written by
  :class:`index.store.MilvusIndexStore`), so replicas share one corpus.

Both return FAISS-shaped ``(scores, ids)`` arrays, ids being positions in the snapshot's unit
list (``-1`` pads a short result), and both filter by collection inside the index: a scope is
built once per set of collections with :meth:`scope` and passed to :meth:`search`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

# Up to this many vectors exact search costs about a millisecond a question (bench/scale.py: flat
# p50 ≈ 1 ms at 10k, ≈ 9 ms at 50k — as long as encoding the question) and needs no training.
DEFAULT_EXACT_MAX = 10_000
RECALL_GOAL = 0.97  # tuning aims above the 0.95 target: held-out questions differ from the sample
NPROBE_STEPS = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
TUNING_QUERIES = 200
TUNING_K = 10


class VectorIndex(Protocol):
    @property
    def kind(self) -> str: ...

    def __len__(self) -> int: ...

    def scope(self, collections: frozenset[str], ids: np.ndarray): ...

    def search(self, queries: np.ndarray, k: int, scope=None) -> tuple[np.ndarray, np.ndarray]: ...


def nlist_for(n: int) -> int:
    """Inverted lists for ``n`` vectors: about 4·√n, the usual rule, kept where k-means on a
    40-points-a-list sample stays quick."""
    return max(16, min(4096, int(4 * np.sqrt(n))))


class FaissVectors:
    """A FAISS index over unit vectors (inner product = cosine)."""

    def __init__(self, index):
        self.index = index

    @property
    def kind(self) -> str:
        return "flat" if self._ivf() is None else f"ivf-sq8 (nlist={self._ivf().nlist}, nprobe={self._ivf().nprobe})"

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def _ivf(self):
        import faiss

        return faiss.try_extract_index_ivf(self.index)

    @classmethod
    def build(cls, vectors: Matrix, *, exact_max: int = DEFAULT_EXACT_MAX,
              nlist: int | None = None, nprobe: int | None = None) -> FaissVectors:
        """The exact index up to ``exact_max`` vectors, the compressed one above it."""
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, dimension = vectors.shape
        if n <= exact_max:
            flat = faiss.IndexFlatIP(dimension)
            flat.add(vectors)
            return cls(flat)
        nlist = nlist or nlist_for(n)
        index = faiss.index_factory(dimension, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        # 40 points a list is ample for k-means and the SQ8 ranges; all 1M would only slow the build.
        sample = vectors[np.sort(rng.choice(n, min(n, 40 * nlist), replace=False))]
        faiss.extract_index_ivf(index).cp.niter = 10
        index.train(sample)
        index.add(vectors)
        built = cls(index)
        # Doubled: the tuning queries are indexed vectors, on which the lists were trained;
        # questions are not (bench/scale.py shows held-out recall at both settings).
        faiss.extract_index_ivf(index).nprobe = nprobe or min(nlist, 2 * built.tune_nprobe(vectors))
        return built

    def tune_nprobe(self, vectors: np.ndarray, *, goal: float = RECALL_GOAL) -> int:
        """The smallest nprobe whose recall@10 against exact search reaches ``goal`` on a sample
        of the indexed vectors used as queries (each one's own id left out of both lists, so
        finding itself earns nothing)."""
        import faiss

        rng = np.random.default_rng(1)
        picked = rng.choice(len(vectors), min(TUNING_QUERIES, len(vectors)), replace=False)
        queries = vectors[picked]
        exact = faiss.IndexFlatIP(vectors.shape[1])
        exact.add(vectors)
        _, truth = exact.search(queries, TUNING_K + 1)
        del exact
        ivf = faiss.extract_index_ivf(self.index)
        chosen = NPROBE_STEPS[-1]
        for step in NPROBE_STEPS:
            if step > ivf.nlist:
                break
            ivf.nprobe = step
            _, found = self.index.search(queries, TUNING_K + 1)
            if _recall_without_self(truth, found, picked) >= goal:
                chosen = step
                break
        return min(chosen, ivf.nlist)

    def save(self, path: str | Path) -> None:
        import faiss

        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: str | Path) -> FaissVectors:
        """Memory-mapped: the codes stay in the page cache, shared by every process reading this
        version, and only the pages a search touches are read."""
        import faiss

        return cls(faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY))

    def scope(self, collections: frozenset[str], ids: np.ndarray):
        import faiss

        selector = faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64))
        ivf = self._ivf()
        if ivf is None:
            # faiss's generated stubs do not know the keywords its Python layer accepts.
            return faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
        return faiss.SearchParametersIVF(sel=selector, nprobe=ivf.nprobe)  # type: ignore[call-arg]

    def search(self, queries: np.ndarray, k: int, scope=None) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        queries = np.ascontiguousarray(queries.reshape(-1, self.index.d), dtype=np.float32)
        if len(queries) > 1:
            return self.index.search(queries, k, params=scope)
        # One question is too little work to split: on 2 busy cores OpenMP's hand-off made a 10k
        # flat search 15x slower (bench/scale.py). The setting is per thread, so restore it.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self.index.search(queries, k, params=scope)
        finally:
            faiss.omp_set_num_threads(threads)


def _recall_without_self(truth: np.ndarray, found: np.ndarray, own: np.ndarray) -> float:
    hits = total = 0
    for wanted, got, me in zip(truth, found, own, strict=True):
        wanted = [i for i in wanted.tolist() if i != me][:TUNING_K]
        got = {i for i in got.tolist() if i != me}
        hits += len(set(wanted) & got)
        total += len(wanted)
    return hits / max(1, total)


# --- Milvus --------------------------------------------------------------------------------------

SENTENCE, PASSAGE, MANIFEST = 0, 1, 2
# One Milvus collection holds a whole snapshot version: sentence rows keep their position as id,
# passage and manifest rows are offset, so one alias switch publishes all three at once.
ID_BASE = {SENTENCE: 0, PASSAGE: 1 << 40, MANIFEST: 1 << 41}


def milvus_string(value: str) -> str:
    """A string literal for a Milvus filter expression (JSON escaping is what Milvus parses)."""
    import json

    return json.dumps(value)


class MilvusVectors:
    """The sentence or passage rows of one snapshot version's Milvus collection."""

    kind = "milvus"

    def __init__(self, client, collection: str, unit: int, count: int):
        self.client = client
        self.collection = collection
        self.unit = unit
        self.count = count
        self.base = ID_BASE[unit]

    def __len__(self) -> int:
        return self.count

    def scope(self, collections: frozenset[str], ids: np.ndarray) -> str:
        names = ", ".join(milvus_string(c) for c in sorted(collections))
        return f"unit == {self.unit} and collection in [{names}]"

    def search(self, queries: np.ndarray, k: int, scope=None) -> tuple[np.ndarray, np.ndarray]:
        queries = np.asarray(queries, dtype=np.float32).reshape(-1, queries.shape[-1])
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        if k <= 0 or not self.count:
            return scores, ids
        hits = self.client.search(
            self.collection, queries.tolist(), limit=k, anns_field="vector",
            filter=scope or f"unit == {self.unit}", search_params={"metric_type": "IP"},
        )
        for row, found in enumerate(hits):
            for col, hit in enumerate(found[:k]):
                ids[row, col] = int(hit["id"]) - self.base
                scores[row, col] = float(hit["distance"])
        return scores, ids


class MilvusRows:
    """The unit vectors of a Milvus-held snapshot, read by position when the answerer needs a few
    of them, so a replica never holds the whole matrix. ``np.asarray`` reads them all (ingest)."""

    def __init__(self, client, collection: str, unit: int, count: int, dimension: int,
                 cached_rows: int = 20_000):
        from cachetools import LRUCache

        self.client = client
        self.collection = collection
        self.unit = unit
        self.shape = (count, dimension)
        self.dtype = np.dtype(np.float32)
        self.base = ID_BASE[unit]
        # A version's rows never change, so the rows questions keep coming back to are kept.
        self._cache: LRUCache = LRUCache(maxsize=cached_rows)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        return 2

    def _fetch(self, positions: list[int]) -> np.ndarray:
        out = np.zeros((len(positions), self.shape[1]), dtype=np.float32)
        if not positions:
            return out
        found = {p: self._cache[p] for p in positions if p in self._cache}
        missing = sorted(set(positions) - set(found))
        for start in range(0, len(missing), 1000):
            batch = [self.base + p for p in missing[start:start + 1000]]
            for row in self.client.get(self.collection, ids=batch, output_fields=["vector"]):
                found[int(row["id"]) - self.base] = np.asarray(row["vector"], dtype=np.float32)
        if len(missing) <= self._cache.maxsize // 2:  # a whole-matrix read (ingest) is not kept
            for p in missing:
                self._cache[p] = found[p]
        for i, p in enumerate(positions):
            out[i] = found[p]
        return out

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            position = int(key) + (self.shape[0] if key < 0 else 0)
            return self._fetch([position])[0]
        if isinstance(key, slice):
            return self._fetch(list(range(*key.indices(self.shape[0]))))
        return self._fetch([int(p) for p in np.asarray(key).reshape(-1)])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        whole = self._fetch(list(range(self.shape[0])))
        return whole if dtype is None else whole.astype(dtype)

    def astype(self, dtype):
        return np.asarray(self).astype(dtype)


# A snapshot's unit vectors: the matrix itself, or Milvus's rows read by position when needed.
Matrix = np.ndarray | MilvusRows
