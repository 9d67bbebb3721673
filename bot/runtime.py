"""Builds the shared answering core from settings, for the CLI, the console and the chat apps."""

from __future__ import annotations

from index.embedders import Embedder, HashingEmbedder, SentenceTransformerEmbedder
from index.engine import CiteIndex

from .settings import Settings, get_settings


def make_embedder(settings: Settings) -> Embedder:
    if settings.embedder == "hashing":
        return HashingEmbedder()
    return SentenceTransformerEmbedder(threads=settings.threads)


def open_index(settings: Settings | None = None) -> CiteIndex:
    settings = settings or get_settings()
    return CiteIndex(
        settings.home,
        embedder=make_embedder(settings),
        corpus=settings.corpus,
        max_bytes=int(settings.max_document_mb * 1024 * 1024),
    )
