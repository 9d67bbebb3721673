"""Every setting CiteBot reads, in one place: environment variables, then ``.env``, then defaults.

Explicit arguments beat the environment, which beats these defaults.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "citebot"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CITEBOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    home: Path = Field(default_factory=_default_home, description="Data directory: the index and state.")
    corpus: Path = Field(
        default=PROJECT_ROOT / "corpus",
        description="Documents indexed when no index exists yet (the bundled article).",
    )
    embedder: Literal["minilm", "hashing"] = Field(
        default="minilm",
        description="minilm: the bundled all-MiniLM-L6-v2; hashing: a fast fake for tests only.",
    )
    max_document_mb: float = Field(default=20, gt=0, description="Largest document accepted.")
    threads: int | None = Field(default=None, ge=1, description="torch threads (default: all cores).")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
