"""Builds the shared answering core from settings, for the CLI, the console and the chat apps."""

from __future__ import annotations

from index.embedders import Embedder, HashingEmbedder, SentenceTransformerEmbedder
from index.engine import CiteIndex

from .service import AnswerService
from .settings import Settings, get_settings
from .state import StateStore, default_database_url


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


def open_state(settings: Settings | None = None) -> StateStore:
    settings = settings or get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    return StateStore(
        settings.database_url or default_database_url(settings.home),
        user_salt=settings.user_salt.get_secret_value(),
    )


def open_service(settings: Settings | None = None) -> AnswerService:
    settings = settings or get_settings()
    return AnswerService(open_index(settings), open_state(settings))
