"""Shared fixtures: every test gets its own CITEBOT_HOME; the real model loads once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.settings import get_settings
from index.embedders import HashingEmbedder, SentenceTransformerEmbedder
from index.engine import CiteIndex

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CORPUS = PROJECT_ROOT / "corpus"
ARTICLE = CORPUS / "ft-xi-central-asia-2023.md"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    home = tmp_path / "citebot-home"
    monkeypatch.setenv("CITEBOT_HOME", str(home))
    monkeypatch.delenv("CITEBOT_EMBEDDER", raising=False)
    monkeypatch.delenv("CITEBOT_ENCODER", raising=False)
    monkeypatch.chdir(tmp_path)  # so a developer's .env never leaks into a test
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture
def fake_embedder():
    return HashingEmbedder()


@pytest.fixture
def fake_index(isolated_home, fake_embedder):
    """An index over the bundled article with the deterministic fake embedder."""
    index = CiteIndex(isolated_home, embedder=fake_embedder, corpus=CORPUS)
    index.warm_up()
    return index


@pytest.fixture(scope="session")
def real_embedder():
    embedder = SentenceTransformerEmbedder()
    embedder.warm_up()
    return embedder


@pytest.fixture(scope="session")
def real_index(tmp_path_factory, real_embedder):
    """The bundled article indexed with the real model, built once for the session."""
    home = tmp_path_factory.mktemp("real-home")
    index = CiteIndex(home, embedder=real_embedder, corpus=CORPUS)
    index.warm_up()
    return index


@pytest.fixture
def corpus_copy(tmp_path):
    target = tmp_path / "docs"
    shutil.copytree(CORPUS, target)
    return target
