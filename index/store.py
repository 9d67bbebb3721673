"""The on-disk index: documents, sentence and passage offsets, and their vectors.

Each save writes a complete new version directory and then swaps one pointer file with an atomic
rename, so a crash or Ctrl-C mid-write leaves the previous version intact and loadable.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import IndexCorruptError, IndexMissingError
from .models import Document, Sentence

FORMAT_VERSION = 1
POINTER = "CURRENT"
REBUILD_HINT = "run `citebot index rebuild` to build it again from the documents"


@dataclass
class Snapshot:
    """Everything needed to answer: documents, units (sentences, passages) and their vectors.

    Passages are whole paragraphs, identified by ``(doc_id, paragraph)``.
    """

    model: str
    documents: dict[str, Document] = field(default_factory=dict)
    sentences: list[Sentence] = field(default_factory=list)
    sentence_vectors: np.ndarray | None = None
    passages: list[tuple[str, int]] = field(default_factory=list)
    passage_vectors: np.ndarray | None = None

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

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @property
    def pointer(self) -> Path:
        return self.root / POINTER

    def exists(self) -> bool:
        return self.pointer.exists()

    def load(self) -> Snapshot:
        if not self.pointer.exists():
            raise IndexMissingError(f"No index at {self.root}; {REBUILD_HINT}, or ask a question "
                                    "to build it from the bundled corpus.")
        try:
            version_dir = self.root / self.pointer.read_text().strip()
            manifest = json.loads((version_dir / "manifest.json").read_text())
            if manifest.get("format") != FORMAT_VERSION:
                raise ValueError(f"format {manifest.get('format')!r}, expected {FORMAT_VERSION}")
            documents = {d["doc_id"]: Document.from_json(d) for d in manifest["documents"]}
            sentence_table = np.load(version_dir / "sentences.npy")
            passage_table = np.load(version_dir / "passages.npy")
            sentence_vectors = np.load(version_dir / "sentence_vectors.npy")
            passage_vectors = np.load(version_dir / "passage_vectors.npy")
            order = manifest["document_order"]
            sentences = [
                Sentence(order[d], int(p), int(s), int(e)) for d, p, s, e in sentence_table.tolist()
            ]
            passages = [(order[d], int(p)) for d, p in passage_table.tolist()]
            if len(sentences) != len(sentence_vectors) or len(passages) != len(passage_vectors):
                raise ValueError("vector count does not match the units")
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
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
        )

    def save(self, snapshot: Snapshot) -> None:
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
            staging.rename(self.root / name)
            _write(self.root / f".{POINTER}.tmp", name.encode())
            os.replace(self.root / f".{POINTER}.tmp", self.pointer)
            _fsync_dir(self.root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self._remove_old_versions(keep=name)

    def _remove_old_versions(self, keep: str) -> None:
        for entry in self.root.iterdir():
            if entry.is_dir() and entry.name != keep and (
                entry.name.startswith("v") or entry.name.startswith(".staging-")
            ):
                shutil.rmtree(entry, ignore_errors=True)


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
