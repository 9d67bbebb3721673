"""Builds the shared answering core from settings, for the CLI, the console and the chat apps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from index.embedders import Embedder, HashingEmbedder, model_embedder
from index.engine import CiteIndex, make_reader
from index.reader import Reader

from .settings import Settings, get_settings

if TYPE_CHECKING:  # imported where used: `citebot ask` needs neither SQLAlchemy nor the service
    from .service import AnswerService
    from .state import StateStore


def make_embedder(settings: Settings) -> Embedder:
    if settings.embedder == "hashing":
        return HashingEmbedder()
    return model_embedder(settings.encoder, models_dir=settings.home / "models", threads=settings.threads)


def open_index(settings: Settings | None = None) -> CiteIndex:
    settings = settings or get_settings()
    return CiteIndex(
        settings.home,
        embedder=make_embedder(settings),
        corpus=settings.corpus,
        max_bytes=int(settings.max_document_mb * 1024 * 1024),
        vector_store=settings.vector_store,
        exact_search_max=settings.exact_search_max,
        reader=make_llm_reader(settings, make_reader(settings.reader, threads=settings.threads)),
    )


def make_llm_reader(settings: Settings, fallback: Reader | None) -> Reader | None:
    """With CITEBOT_LLM_URL set, a language model answering over ``fallback`` (None: the
    heuristic reader); otherwise ``fallback`` itself."""
    if not settings.llm_url:
        return fallback
    from index.llm_reader import LLMReader

    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    return LLMReader(fallback, url=settings.llm_url, model=settings.llm_model or "",
                     api_key=key, timeout=settings.llm_timeout)


def open_state(settings: Settings | None = None) -> StateStore:
    from .state import StateStore, default_database_url

    settings = settings or get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    return StateStore(
        settings.database_url or default_database_url(settings.home),
        user_salt=settings.user_salt.get_secret_value(),
    )


def open_service(settings: Settings | None = None) -> AnswerService:
    from .service import AnswerService

    settings = settings or get_settings()
    service = AnswerService(open_index(settings), open_state(settings), rate_limit=settings.rate_limit)
    service.dm_collections = tuple(settings.dm_collections)
    return service
