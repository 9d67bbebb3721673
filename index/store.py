"""The on-disk index: documents, sentence and passage offsets, and their vectors.

Each save writes a complete new version directory and then swaps one pointer file with an atomic
rename, so a crash or Ctrl-C mid-write leaves the previous version intact and loadable. The vector
indexes (:mod:`index.vectors`) are written into the same version directory and read back
memory-mapped, as are the vector matrices.

:class:`MilvusIndexStore` keeps the same snapshots in Milvus instead (``CITEBOT_VECTOR_STORE``),
one collection per version published by an alias switch, so several replicas share one corpus.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import CiteBotError, IndexCorruptError, IndexMissingError
from .models import Document, Sentence
from .vectors import DEFAULT_EXACT_MAX, FaissVectors, Matrix, VectorIndex

FORMAT_VERSION = 1
POINTER = "CURRENT"
REBUILD_HINT = "run `citebot index rebuild` to build it again from the documents"


def _no_vectors() -> np.ndarray:
    return np.zeros((0, 0), dtype=np.float32)


@dataclass
class Snapshot:
    """Everything needed to answer: documents, units (sentences, passages) and their vectors.

    Passages are whole paragraphs, identified by ``(doc_id, paragraph)``.
    """

    model: str
    documents: dict[str, Document] = field(default_factory=dict)
    sentences: list[Sentence] = field(default_factory=list)
    sentence_vectors: Matrix = field(default_factory=lambda: _no_vectors())
    passages: list[tuple[str, int]] = field(default_factory=list)
    passage_vectors: Matrix = field(default_factory=lambda: _no_vectors())
    # Search indexes over the two matrices, set by the store that saved or loaded this snapshot;
    # without them the retriever builds its own.
    sentence_index: VectorIndex | None = field(default=None, repr=False, compare=False)
    passage_index: VectorIndex | None = field(default=None, repr=False, compare=False)
    # The store version this snapshot was loaded from or saved as (None until stored), so a
    # running index can tell whether another process has written a newer one.
    version: str | None = field(default=None, compare=False)

    @classmethod
    def empty(cls, model: str, dimension: int) -> Snapshot:
        zeros = np.zeros((0, dimension), dtype=np.float32)
        return cls(model=model, sentence_vectors=zeros, passage_vectors=zeros.copy())

    def sentence_text(self, sentence: Sentence) -> str:
        return self.documents[sentence.doc_id].text[sentence.start : sentence.end]

    def passage_text(self, passage: tuple[str, int]) -> str:
        doc_id, paragraph = passage
        return self.documents[doc_id].paragraph_text(paragraph)

    def without(self, doc_ids: set[str]) -> Snapshot:
        """A copy with the given documents (and their units and vectors) removed."""
        keep_s = [i for i, s in enumerate(self.sentences) if s.doc_id not in doc_ids]
        keep_p = [i for i, p in enumerate(self.passages) if p[0] not in doc_ids]
        return Snapshot(
            model=self.model,
            documents={k: v for k, v in self.documents.items() if k not in doc_ids},
            sentences=[self.sentences[i] for i in keep_s],
            sentence_vectors=self.sentence_vectors[keep_s],
            passages=[self.passages[i] for i in keep_p],
            passage_vectors=self.passage_vectors[keep_p],
        )


class IndexStore:
    """Reads and atomically writes :class:`Snapshot` versions under ``root``."""

    def __init__(self, root: str | Path, *, exact_max: int = DEFAULT_EXACT_MAX):
        self.root = Path(root)
        self.exact_max = exact_max

    @property
    def pointer(self) -> Path:
        return self.root / POINTER

    def exists(self) -> bool:
        return self.pointer.exists()

    def version(self) -> str | None:
        """The current version's name, cheap to ask: replicas sharing this folder poll it to
        notice a version another process wrote."""
        try:
            return self.pointer.read_text().strip() or None
        except FileNotFoundError:
            return None

    def write_lock(self):
        """Held around read-merge-write, so two processes adding at once (replicas sharing the
        folder, or a CLI beside a running bot) never lose each other's documents."""
        from filelock import FileLock

        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(self.root / ".write.lock")

    def load(self) -> Snapshot:
        if not self.pointer.exists():
            raise IndexMissingError(f"No index at {self.root}; {REBUILD_HINT}, or ask a question "
                                    "to build it from the bundled corpus.")
        try:
            name = self.pointer.read_text().strip()
            version_dir = self.root / name
            manifest = json.loads((version_dir / "manifest.json").read_text())
            if manifest.get("format") != FORMAT_VERSION:
                raise ValueError(f"format {manifest.get('format')!r}, expected {FORMAT_VERSION}")
            documents = {d["doc_id"]: Document.from_json(d) for d in manifest["documents"]}
            sentence_table = np.load(version_dir / "sentences.npy")
            passage_table = np.load(version_dir / "passages.npy")
            sentence_vectors = np.load(version_dir / "sentence_vectors.npy", mmap_mode="r")
            passage_vectors = np.load(version_dir / "passage_vectors.npy", mmap_mode="r")
            indexes = [
                FaissVectors.load(version_dir / name) if (version_dir / name).exists() else None
                for name in ("sentences.faiss", "passages.faiss")
            ]
            order = manifest["document_order"]
            sentences = [
                Sentence(order[d], int(p), int(s), int(e)) for d, p, s, e in sentence_table.tolist()
            ]
            passages = [(order[d], int(p)) for d, p in passage_table.tolist()]
            if len(sentences) != len(sentence_vectors) or len(passages) != len(passage_vectors):
                raise ValueError("vector count does not match the units")
            if any(ix is not None and len(ix) != len(m)
                   for ix, m in zip(indexes, (sentence_vectors, passage_vectors), strict=True)):
                raise ValueError("vector index size does not match the units")
        except (OSError, ValueError, KeyError, IndexError, TypeError, RuntimeError) as exc:
            raise IndexCorruptError(
                f"The index at {self.root} is unreadable ({exc.__class__.__name__}: {exc}); "
                f"{REBUILD_HINT}."
            ) from exc
        return Snapshot(
            model=manifest["model"],
            documents=documents,
            sentences=sentences,
            sentence_vectors=sentence_vectors,
            passages=passages,
            passage_vectors=passage_vectors,
            sentence_index=indexes[0],
            passage_index=indexes[1],
            version=name,
        )

    def save(self, snapshot: Snapshot) -> None:
        """Write ``snapshot`` as the new current version and attach its (memory-mapped) vector
        indexes to it."""
        self.root.mkdir(parents=True, exist_ok=True)
        name = f"v{time.time_ns()}"
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
        try:
            order = list(snapshot.documents)
            position = {doc_id: i for i, doc_id in enumerate(order)}
            manifest = {
                "format": FORMAT_VERSION,
                "model": snapshot.model,
                "document_order": order,
                "documents": [snapshot.documents[d].to_json() for d in order],
            }
            sentence_table = np.array(
                [(position[s.doc_id], s.paragraph, s.start, s.end) for s in snapshot.sentences],
                dtype=np.int64,
            ).reshape(-1, 4)
            passage_table = np.array(
                [(position[d], p) for d, p in snapshot.passages], dtype=np.int64
            ).reshape(-1, 2)
            _write(staging / "manifest.json", json.dumps(manifest, ensure_ascii=False).encode())
            for filename, array in (
                ("sentences.npy", sentence_table),
                ("passages.npy", passage_table),
                ("sentence_vectors.npy", snapshot.sentence_vectors.astype(np.float32)),
                ("passage_vectors.npy", snapshot.passage_vectors.astype(np.float32)),
            ):
                with open(staging / filename, "wb") as handle:
                    np.save(handle, array)
                    handle.flush()
                    os.fsync(handle.fileno())
            for filename, vectors in (("sentences.faiss", snapshot.sentence_vectors),
                                      ("passages.faiss", snapshot.passage_vectors)):
                FaissVectors.build(vectors, exact_max=self.exact_max).save(staging / filename)
                _fsync(staging / filename)
            staging.rename(self.root / name)
            _write(self.root / f".{POINTER}.tmp", name.encode())
            os.replace(self.root / f".{POINTER}.tmp", self.pointer)
            _fsync(self.root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        snapshot.version = name
        snapshot.sentence_index = FaissVectors.load(self.root / name / "sentences.faiss")
        snapshot.passage_index = FaissVectors.load(self.root / name / "passages.faiss")
        self._remove_old_versions(keep=name)

    def _remove_old_versions(self, keep: str) -> None:
        """Drop versions older than the previous one, and staging left by a crash. The previous
        version stays: another process may be loading it at this moment."""
        versions = sorted(
            (e for e in self.root.iterdir() if e.is_dir() and e.name.startswith("v")),
            key=lambda e: int(e.name[1:]) if e.name[1:].isdigit() else 0,
        )
        previous = [e.name for e in versions if e.name != keep][-1:]
        for entry in self.root.iterdir():
            if entry.is_dir() and entry.name not in {keep, *previous} and (
                entry.name.startswith("v") or entry.name.startswith(".staging-")
            ):
                shutil.rmtree(entry, ignore_errors=True)


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries (so a rename survives a power cut), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- Milvus --------------------------------------------------------------------------------------

MILVUS_BATCH = 2_000
MANIFEST_CHUNK_BYTES = 60_000  # under Milvus' 65,535-byte VARCHAR limit
ALIAS = "current"


def milvus_uri(url: str) -> str:
    """``milvus://host:port`` → the server's gRPC address; ``milvus:///path/file.db`` → that
    Milvus Lite file."""
    if not url.startswith("milvus://"):
        raise ValueError(f"{url!r} is not a milvus://host:port or milvus:///path/to/file.db URL")
    rest = url[len("milvus://"):]
    if rest.startswith("/"):
        if not rest.endswith(".db"):
            raise ValueError(f"{url!r}: a Milvus Lite file name ends in .db")
        return rest
    if not rest or "/" in rest.rstrip("/"):
        raise ValueError(f"{url!r} is not a milvus://host:port URL")
    return f"http://{rest.rstrip('/')}"


class MilvusIndexStore:
    """Snapshots kept in Milvus, so replicas share one corpus that no replica holds whole.

    A version is one Milvus collection: sentence rows and passage rows (vector, collection name
    for filtering) and the manifest (documents and unit offsets) as text chunks. It is written
    in full and flushed under a fresh name, then published by moving the alias ``<prefix>_current``
    to it, one atomic step: a crash before that leaves an unreferenced collection that readers
    never see and the next save drops. The previous version is kept so replicas still reading it
    are not cut off mid-question.
    """

    def __init__(self, url: str, *, prefix: str = "citebot"):
        self.url = url
        self.uri = milvus_uri(url)
        self.prefix = prefix
        self.alias = f"{prefix}_{ALIAS}"
        self._client = None

    @property
    def root(self) -> str:
        return self.url

    @property
    def client(self):
        if self._client is None:
            try:
                from pymilvus import MilvusClient
            except ImportError as exc:  # an extra: most installs never use Milvus
                raise CiteBotError(
                    "CITEBOT_VECTOR_STORE names Milvus, which the default install leaves out: "
                    "pip install -e '.[milvus]'"
                ) from exc

            if not self.uri.startswith("http"):
                Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
            self._client = MilvusClient(self.uri)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def current_collection(self) -> str | None:
        # Listed first: describing a missing alias makes pymilvus log a traceback as an error.
        if self.alias not in self.client.list_aliases().get("aliases", []):
            return None
        return self.client.describe_alias(self.alias)["collection_name"]

    def exists(self) -> bool:
        return self.current_collection() is not None

    def version(self) -> str | None:
        return self.current_collection()

    def write_lock(self):
        # Milvus has no lock to take; the alias swap keeps every version whole, but two replicas
        # adding at the same moment is last-writer-wins (README, "Replicas").
        return contextlib.nullcontext()

    def load(self) -> Snapshot:
        from .vectors import MANIFEST, PASSAGE, SENTENCE, MilvusRows, MilvusVectors

        name = self.current_collection()
        if name is None:
            raise IndexMissingError(f"No index in Milvus at {self.url}; {REBUILD_HINT}, or ask a "
                                    "question to build it from the bundled corpus.")
        try:
            rows = self.client.query(name, filter=f"unit == {MANIFEST}", output_fields=["text"])
            text = "".join(r["text"] for r in sorted(rows, key=lambda r: r["id"]))
            manifest = json.loads(text)
            if manifest.get("format") != FORMAT_VERSION:
                raise ValueError(f"format {manifest.get('format')!r}, expected {FORMAT_VERSION}")
            documents = {d["doc_id"]: Document.from_json(d) for d in manifest["documents"]}
            order = manifest["document_order"]
            sentences = [Sentence(order[d], p, s, e) for d, p, s, e in manifest["sentences"]]
            passages = [(order[d], p) for d, p in manifest["passages"]]
            dimension = int(manifest["dimension"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise IndexCorruptError(
                f"The index in Milvus at {self.url} ({name}) is unreadable "
                f"({exc.__class__.__name__}: {exc}); {REBUILD_HINT}."
            ) from exc
        return Snapshot(
            model=manifest["model"],
            documents=documents,
            sentences=sentences,
            sentence_vectors=MilvusRows(self.client, name, SENTENCE, len(sentences), dimension),
            passages=passages,
            passage_vectors=MilvusRows(self.client, name, PASSAGE, len(passages), dimension),
            sentence_index=MilvusVectors(self.client, name, SENTENCE, len(sentences)),
            passage_index=MilvusVectors(self.client, name, PASSAGE, len(passages)),
            version=name,
        )

    def save(self, snapshot: Snapshot) -> None:
        """Write ``snapshot`` as a new version, publish it, and attach its Milvus indexes."""
        from .vectors import ID_BASE, MANIFEST, PASSAGE, SENTENCE, MilvusVectors

        # Read before anything is dropped: the vectors may be rows of an older version.
        sentence_vectors = np.asarray(snapshot.sentence_vectors, dtype=np.float32)
        passage_vectors = np.asarray(snapshot.passage_vectors, dtype=np.float32)
        dimension = sentence_vectors.shape[1]
        name = f"{self.prefix}_v{time.time_ns()}"
        self._create(name, dimension)
        order = list(snapshot.documents)
        position = {doc_id: i for i, doc_id in enumerate(order)}
        manifest = json.dumps({
            "format": FORMAT_VERSION,
            "model": snapshot.model,
            "dimension": dimension,
            "document_order": order,
            "documents": [snapshot.documents[d].to_json() for d in order],
            "sentences": [(position[s.doc_id], s.paragraph, s.start, s.end) for s in snapshot.sentences],
            "passages": [(position[d], p) for d, p in snapshot.passages],
        }, ensure_ascii=False)
        collection_of = {d: doc.collection for d, doc in snapshot.documents.items()}
        self._insert_units(name, SENTENCE, sentence_vectors, [collection_of[s.doc_id] for s in snapshot.sentences])
        self._insert_units(name, PASSAGE, passage_vectors, [collection_of[d] for d, _ in snapshot.passages])
        zero = [0.0] * dimension
        self._insert(name, [
            {"id": ID_BASE[MANIFEST] + i, "unit": MANIFEST, "vector": zero, "collection": "", "text": chunk}
            for i, chunk in enumerate(_chunks(manifest, MANIFEST_CHUNK_BYTES))
        ])
        self.client.flush(name)
        self.client.load_collection(name)
        previous = self.current_collection()
        if previous is None:
            self.client.create_alias(name, self.alias)
        else:
            self.client.alter_alias(name, self.alias)
        snapshot.version = name
        snapshot.sentence_index = MilvusVectors(self.client, name, SENTENCE, len(snapshot.sentences))
        snapshot.passage_index = MilvusVectors(self.client, name, PASSAGE, len(snapshot.passages))
        self._drop_old_versions(keep={name, previous})

    def _create(self, name: str, dimension: int) -> None:
        from pymilvus import DataType

        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("unit", DataType.INT8)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
        schema.add_field("collection", DataType.VARCHAR, max_length=512)
        schema.add_field("text", DataType.VARCHAR, max_length=65_535)
        params = self.client.prepare_index_params()
        # AUTOINDEX lets a Milvus cluster pick its own ANN index; Milvus Lite searches exactly.
        params.add_index("vector", index_type="AUTOINDEX", metric_type="IP")
        self.client.create_collection(name, schema=schema, index_params=params, consistency_level="Strong")

    def _insert_units(self, name: str, unit: int, vectors: np.ndarray, collections: list[str]) -> None:
        from .vectors import ID_BASE

        base = ID_BASE[unit]
        for start in range(0, len(vectors), MILVUS_BATCH):
            stop = min(len(vectors), start + MILVUS_BATCH)
            self._insert(name, [
                {"id": base + i, "unit": unit, "vector": vectors[i].tolist(),
                 "collection": collections[i], "text": ""}
                for i in range(start, stop)
            ])

    def _insert(self, name: str, rows: list[dict]) -> None:
        if rows:
            self.client.insert(name, rows)

    def _drop_old_versions(self, keep: set[str | None]) -> None:
        for collection in self.client.list_collections():
            if collection.startswith(f"{self.prefix}_v") and collection not in keep:
                self.client.drop_collection(collection)


def _chunks(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` UTF-8 bytes, never splitting a character."""
    data = text.encode()
    pieces, start = [], 0
    while start < len(data):
        stop = min(len(data), start + limit)
        while stop < len(data) and (data[stop] & 0xC0) == 0x80:  # a continuation byte
            stop -= 1
        pieces.append(data[start:stop].decode())
        start = stop
    return pieces or [""]


def open_store(root: str | Path, vector_store: str | None = None, *,
               exact_max: int = DEFAULT_EXACT_MAX) -> IndexStore | MilvusIndexStore:
    """The FAISS store in ``root`` by default; Milvus when ``vector_store`` is a milvus:// URL."""
    if vector_store:
        return MilvusIndexStore(vector_store)
    return IndexStore(root, exact_max=exact_max)
