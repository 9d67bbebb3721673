"""``CiteIndex``: the one object chat adapters and the CLI talk to.

It owns the on-disk store, the embedder and the answerer, loads them lazily (``warm_up``), and
keeps ingestion all-or-nothing: every file is read and cleaned before anything is written, so one
bad file leaves the index exactly as it was.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .answer import Answerer
from .documents import (
    DEFAULT_MAX_BYTES,
    SUPPORTED_SUFFIXES,
    document_id_for,
    load_document,
    parse_document,
)
from .embedders import Embedder, encoder_of, model_embedder
from .errors import DocumentError, IndexCorruptError, IndexMissingError
from .models import Answer, Document
from .reader import READERS, ExtractiveReader, Reader
from .sentences import split_document
from .store import Snapshot, open_store
from .vectors import DEFAULT_EXACT_MAX

DEFAULT_COLLECTION = "default"

# How often a running bot looks for a version another process wrote (a replica's /add, a CLI
# `index add` beside `serve`). The look and any reload run in a background thread.
REFRESH_SECONDS = 2.0

log = logging.getLogger("citebot.index")

# Show a progress bar only when embedding takes long enough to wonder about.
PROGRESS_MIN_UNITS = 64
# Texts embedded between two looks at whether the process is shutting down.
EMBED_CHUNK = 512


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)  # to another collection, text unchanged
    sentences: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.replaced or self.moved)


class IngestCancelled(Exception):
    """An ingest stopped because the process is shutting down; nothing was written."""


class IngestError(Exception):
    """One or more files could not be ingested; nothing was written."""

    def __init__(self, errors: list[DocumentError]):
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def make_reader(name: str, *, threads: int | None = None) -> Reader | None:
    """The reader called ``name`` (one of :data:`index.reader.READERS`); None for the heuristic
    one, which each snapshot's answerer builds for itself."""
    if name == "heuristic":
        return None
    if name == "extractive":
        return ExtractiveReader(threads=threads)
    raise ValueError(f"unknown reader {name!r}; expected one of {', '.join(READERS)}")


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, and supported files found under folders (sorted, hidden ones skipped)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                p for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            found.append(path)
    return found


class CiteIndex:
    def __init__(
        self,
        home: str | Path,
        *,
        embedder: Embedder | None = None,
        corpus: str | Path | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        vector_store: str | None = None,
        exact_search_max: int = DEFAULT_EXACT_MAX,
        reader: Reader | str | None = "extractive",
    ):
        self.home = Path(home)
        # None: the embedded FAISS store under home; a milvus:// URL: vectors shared in Milvus.
        self.store = open_store(self.home / "index", vector_store, exact_max=exact_search_max)
        self.embedder = embedder or model_embedder()
        self.corpus = Path(corpus) if corpus else None
        self.max_bytes = max_bytes
        # The reader is loaded once and shared by every snapshot's answerer; "heuristic" is
        # built per snapshot, since it reads with that snapshot's weights and IDF.
        self.reader: Reader | None = make_reader(reader) if isinstance(reader, str) else reader
        self._snapshot: Snapshot | None = None
        self._answerer: Answerer | None = None
        self._noted_encoder: str | None = None
        self._lock = threading.RLock()
        self._refresh_due = 0.0
        self._refreshing = threading.Lock()
        self._closing = threading.Event()

    # --- loading -------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the model and the index; build the index from the bundled corpus if none exists."""
        if self._answerer is not None:
            # Without taking the lock: an ingest holds it while embedding, and questions must
            # keep being answered from the current snapshot meanwhile.
            return
        with self._lock:
            if self._answerer is not None:
                return
            self.embedder.warm_up()
            if self.reader is not None:
                self.reader.warm_up()
            try:
                snapshot = self.store.load()
            except IndexMissingError:
                if not self.corpus:
                    raise
                self.add([self.corpus])
                return
            self._install(snapshot)

    @property
    def ready(self) -> bool:
        return self._answerer is not None

    def snapshot(self) -> Snapshot:
        """The loaded snapshot (loading it first if need be), for readers such as the digest's
        key points and the benchmarks; never to be modified."""
        self.warm_up()
        assert self._snapshot is not None  # warm_up installs one or raises
        return self._snapshot

    @property
    def answerer(self) -> Answerer:
        """The answerer over the loaded snapshot (the benchmarks rank and re-weight with it)."""
        self.warm_up()
        assert self._answerer is not None  # warm_up installs one or raises
        return self._answerer

    def _install(self, snapshot: Snapshot) -> None:
        if snapshot.model != self.embedder.name and snapshot.sentences:
            self._check_encoder(snapshot.model)
        self._snapshot = snapshot
        self._answerer = Answerer(snapshot, self.embedder, reader=self.reader)
        self._refresh_due = time.monotonic() + REFRESH_SECONDS

    def _check_encoder(self, built_with: str) -> None:
        """An index the same model built on another encoder (torch, the default before ONNX) keeps
        answering until it is rebuilt: its vectors and the questions' differ by the int8 rounding
        (cosine >= 0.97), so it is read as it is, after one note saying how to rebuild. Another
        model's vectors (the hashing fake's) are never mixed with this one's."""
        stored, configured = encoder_of(built_with), encoder_of(self.embedder.name)
        if stored is None or configured is None:
            raise IndexCorruptError(
                f"The index was built with the embedder {built_with!r} but {self.embedder.name!r} "
                "is configured (CITEBOT_EMBEDDER / CITEBOT_ENCODER), and their vectors must not "
                "be mixed; run `citebot index rebuild`, or set them back."
            )
        if self._noted_encoder != built_with:
            self._noted_encoder = built_with
            log.warning("note: this index was built with CITEBOT_ENCODER=%s; it answers as it is, "
                        "and `citebot index rebuild` moves it to %s", stored, configured)

    def _current(self) -> Snapshot:
        """The latest stored snapshot to build on (called holding the store's write lock): the
        installed one, unless another process has written a newer version since."""
        if self._snapshot is not None and self.store.version() == self._snapshot.version:
            return self._snapshot
        try:
            return self.store.load()
        except IndexMissingError:
            return Snapshot.empty(self.embedder.name, self.embedder.dimension)

    def _maybe_refresh(self) -> None:
        """Every REFRESH_SECONDS, look in the background for a version another process wrote
        and install it; the question that notices is still answered from the current one."""
        if time.monotonic() < self._refresh_due or not self._refreshing.acquire(blocking=False):
            return
        self._refresh_due = time.monotonic() + REFRESH_SECONDS
        threading.Thread(target=self._refresh, name="citebot-index-refresh", daemon=True).start()

    def _newer_version_stored(self) -> bool:
        installed = self._snapshot.version if self._snapshot is not None else None
        return self.store.version() not in (None, installed)

    def _refresh(self) -> None:
        try:
            if not self._newer_version_stored():
                return
            with self._lock:  # an ingest in this process may have installed it meanwhile
                if self._newer_version_stored():
                    newer = self.store.load()
                    self._install(newer)
                    log.info("loaded index version %s written by another process", newer.version)
        except Exception:  # a version being replaced as we read it: the next look tries again
            log.warning("could not load the index's newer version", exc_info=True)
        finally:
            self._refresh_due = time.monotonic() + REFRESH_SECONDS
            self._refreshing.release()

    # --- questions -----------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        *,
        context: str | None = None,
        top: int = 3,
        collections: Iterable[str] | None = None,
    ) -> Answer:
        """Answer ``question``; with ``collections``, only documents of those collections are
        searched, quoted or cited."""
        self.warm_up()
        self._maybe_refresh()
        scope = frozenset(collections) if collections is not None else None
        return self.answerer.ask(question, context=context, top=top, collections=scope)

    def documents(self, collections: Iterable[str] | None = None) -> list[Document]:
        if self._snapshot is None:
            try:
                found = list(self.store.load().documents.values())
            except IndexMissingError:
                found = []
        else:
            found = list(self._snapshot.documents.values())
        if collections is not None:
            wanted = set(collections)
            found = [d for d in found if d.collection in wanted]
        return found

    # --- ingestion -----------------------------------------------------------------------------

    def add(
        self, paths: Iterable[str | Path], *, collection: str = DEFAULT_COLLECTION, progress: bool = False
    ) -> IngestReport:
        files = expand_paths(paths)
        documents, errors = [], []
        for path in files:
            try:
                documents.append(load_document(path, max_bytes=self.max_bytes))
            except DocumentError as exc:
                errors.append(exc)
        if errors:
            raise IngestError(errors)
        if not files:
            raise IngestError([DocumentError(" ".join(map(str, paths)) or "(nothing)",
                                             "no .md, .txt, .html or .pdf files found")])
        for document in documents:
            document.collection = collection
        return self.add_documents(documents, progress=progress)

    def add_bytes(
        self,
        data: bytes,
        *,
        name: str,
        source: str,
        url: str | None = None,
        collection: str = DEFAULT_COLLECTION,
    ) -> IngestReport:
        """One document held in memory (an upload, a download), checked and written all-or-nothing
        like :meth:`add`. ``name`` (a file name) gives its type and id; ``source`` identifies it,
        so adding the same source again replaces it."""
        suffix = Path(name).suffix.lower()
        try:
            if suffix not in SUPPORTED_SUFFIXES:
                raise DocumentError(
                    source,
                    f"unsupported file type '{suffix or name}' (supported: .md, .txt, .html, .pdf)",
                )
            if len(data) > self.max_bytes:
                raise DocumentError(
                    source, f"too large ({len(data):,} bytes; the limit is {self.max_bytes:,})"
                )
            document = parse_document(
                data, suffix=suffix, source=source, doc_id=document_id_for(Path(name)), url=url
            )
        except DocumentError as exc:
            raise IngestError([exc]) from exc
        document.collection = collection
        return self.add_documents([document])

    def add_documents(self, documents: list[Document], *, progress: bool = False) -> IngestReport:
        # Sentence splitting is the slow part of reading a large document: done before the write
        # lock, so another ingest or a replica's reload is not kept waiting while it runs.
        split = {id(d): split_document(d) for d in documents}
        with self._lock, self.store.write_lock():
            self.embedder.warm_up()
            current = self._current()
            report = IngestReport()
            incoming: list[Document] = []
            replaced_ids: set[str] = set()
            for document in documents:
                document.doc_id = _unique_id(document, current.documents, incoming)
                existing = current.documents.get(document.doc_id)
                if existing is not None and existing.content_hash == document.content_hash:
                    if existing.collection != document.collection:
                        # Same text in another collection: move it, no need to embed again. A copy,
                        # because questions in flight still read the current snapshot.
                        moved = replace(existing, collection=document.collection)
                        current = replace(current, documents={**current.documents, moved.doc_id: moved})
                        report.moved.append(document.doc_id)
                    else:
                        report.unchanged.append(document.doc_id)
                    continue
                if existing is not None:
                    replaced_ids.add(document.doc_id)
                    report.replaced.append(document.doc_id)
                else:
                    report.added.append(document.doc_id)
                incoming.append(document)
            if not incoming:
                if report.moved:
                    self.store.save(current)
                    self._install(current)
                elif self._snapshot is None:
                    self._install(current)
                return report
            snapshot = current.without(replaced_ids) if replaced_ids else current
            snapshot = self._embed_into(snapshot, incoming, progress=progress, split=split)
            changed = set(report.added + report.replaced)
            report.sentences = sum(1 for s in snapshot.sentences if s.doc_id in changed)
            self.store.save(snapshot)
            self._install(snapshot)
            return report

    def _embed_into(self, snapshot: Snapshot, documents: list[Document], *, progress: bool,
                    split: dict[int, list] | None = None) -> Snapshot:
        split = split or {}
        sentences = [
            # Split before the document got its final id (add_documents may suffix it).
            replace(s, doc_id=d.doc_id) if s.doc_id != d.doc_id else s
            for d in documents for s in (split.get(id(d)) or split_document(d))
        ]
        passages = [(d.doc_id, n) for d in documents for n in range(1, len(d.paragraphs) + 1)]
        by_id = {d.doc_id: d for d in documents}
        sentence_texts = [by_id[s.doc_id].text[s.start : s.end] for s in sentences]
        passage_texts = [by_id[d].paragraph_text(n) for d, n in passages]
        show = progress and len(sentence_texts) + len(passage_texts) >= PROGRESS_MIN_UNITS
        sentence_vectors = self._embed(sentence_texts, progress=show)
        passage_vectors = self._embed(passage_texts, progress=show)
        return Snapshot(
            # Added to an index another encoder built: it stays marked as that one's until rebuilt.
            model=snapshot.model if snapshot.sentences else self.embedder.name,
            documents={**snapshot.documents, **by_id},
            sentences=snapshot.sentences + sentences,
            sentence_vectors=np.concatenate([snapshot.sentence_vectors, sentence_vectors]),
            passages=snapshot.passages + passages,
            passage_vectors=np.concatenate([snapshot.passage_vectors, passage_vectors]),
        )

    def _embed(self, texts: list[str], *, progress: bool) -> np.ndarray:
        """Embedded in chunks, looking between them whether the process is shutting down
        (:meth:`close`): a large /add then stops within a chunk's time, having written nothing."""
        starts = range(0, len(texts), EMBED_CHUNK)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(texts), desc="Embedding", unit="text")
        chunks = []
        try:
            for start in starts:
                if self._closing.is_set():
                    raise IngestCancelled("CiteBot is shutting down; nothing was added.")
                chunk = texts[start : start + EMBED_CHUNK]
                chunks.append(self.embedder.embed(chunk))
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        return np.concatenate(chunks) if chunks else self.embedder.embed([])

    def close(self) -> None:
        """Stop any ingest in progress (it raises :class:`IngestCancelled`, writing nothing) and
        refuse new ones; questions are still answered. Called when the process shuts down."""
        self._closing.set()

    def remove(self, doc_id: str) -> Document:
        with self._lock, self.store.write_lock():
            current = self.store.load()
            if doc_id not in current.documents:
                known = ", ".join(sorted(current.documents)) or "none"
                raise KeyError(f"No document {doc_id!r} in the index (documents: {known}).")
            removed = current.documents[doc_id]
            snapshot = current.without({doc_id})
            self.store.save(snapshot)
            self._install(snapshot)
            return removed

    def rebuild(self, *, progress: bool = False) -> IngestReport:
        """Re-embed every document, re-reading its source where the file is still there (a
        document whose file is gone keeps its stored text: nothing is lost). When the index is
        missing or unreadable, the reason to rebuild, start again from the bundled corpus."""
        with self._lock, self.store.write_lock():
            try:
                stored = list(self.store.load().documents.values())
            except (IndexMissingError, IndexCorruptError):
                stored = []
            documents: list[Document] = []
            for document in stored:
                try:
                    fresh = load_document(document.source, max_bytes=self.max_bytes)
                    fresh.doc_id, fresh.collection = document.doc_id, document.collection
                    # A link the operator gave (`index add --url`) is not in the file itself.
                    fresh.url = fresh.url or document.url
                    documents.append(fresh)
                except DocumentError:
                    documents.append(document)
            if not stored and self.corpus:
                documents = [load_document(p, max_bytes=self.max_bytes) for p in expand_paths([self.corpus])]
            self.embedder.warm_up()
            empty = Snapshot.empty(self.embedder.name, self.embedder.dimension)
            self._snapshot = None
            snapshot = self._embed_into(empty, _dedupe_ids(documents), progress=progress)
            self.store.save(snapshot)
            self._install(snapshot)
            return IngestReport(added=list(snapshot.documents), sentences=len(snapshot.sentences))


def _unique_id(document: Document, existing: dict[str, Document], pending: list[Document]) -> str:
    """Same source keeps its id; another file with the same name gets a suffixed id."""
    for doc in list(existing.values()) + pending:
        if doc.source == document.source:
            return doc.doc_id
    taken = set(existing) | {d.doc_id for d in pending}
    if document.doc_id not in taken:
        return document.doc_id
    return f"{document.doc_id}-{hashlib.sha256(document.source.encode()).hexdigest()[:6]}"


def _dedupe_ids(documents: list[Document]) -> list[Document]:
    seen: dict[str, Document] = {}
    for document in documents:
        document.doc_id = _unique_id(document, seen, [])
        seen[document.doc_id] = document
    return list(seen.values())
