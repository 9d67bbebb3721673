"""One suite for every place the vectors can live: FAISS exact, FAISS compressed (IVF-SQ8, forced
with a threshold of 0) and Milvus Lite. Each stores real snapshots, searches them with and
without a collection filter, reloads them in a fresh store, removes documents and survives a
write that dies half-way."""

from __future__ import annotations

import numpy as np
import pytest

from index.engine import CiteIndex
from index.models import Document, Sentence, Span
from index.store import IndexStore, MilvusIndexStore, Snapshot, open_store

from .conftest import CORPUS

DIMENSION = 32
BACKENDS = ["faiss-flat", "faiss-ivf", "milvus-lite"]


def make_store(backend: str, tmp_path):
    if backend == "milvus-lite":
        return MilvusIndexStore(f"milvus://{tmp_path}/vectors.db")
    return IndexStore(tmp_path / "index", exact_max=0 if backend == "faiss-ivf" else 10**9)


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def store(backend, tmp_path):
    made = make_store(backend, tmp_path)
    yield made
    if isinstance(made, MilvusIndexStore):
        made.close()


def unit_vectors(n: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, DIMENSION)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def synthetic_snapshot(docs: dict[str, str], paragraphs: int = 40, seed: int = 0) -> Snapshot:
    """Documents (id → collection) of ``paragraphs`` one-sentence paragraphs each, with random
    unit vectors: enough rows for IVF to train on, few enough for a test."""
    documents, sentences, passages = {}, [], []
    for doc_id, collection in docs.items():
        text, spans = "", []
        for p in range(paragraphs):
            line = f"Sentence {p} of {doc_id}."
            spans.append(Span(len(text), len(text) + len(line)))
            text += line + "\n\n"
        documents[doc_id] = Document(doc_id=doc_id, title=doc_id, source=f"/{doc_id}.md", text=text,
                                     paragraphs=spans, collection=collection)
        for p, span in enumerate(spans, start=1):
            sentences.append(Sentence(doc_id, p, span.start, span.end))
            passages.append((doc_id, p))
    return Snapshot(model="test", documents=documents, sentences=sentences,
                    sentence_vectors=unit_vectors(len(sentences), seed),
                    passages=passages, passage_vectors=unit_vectors(len(passages), seed + 1))


def exact_top(vectors: np.ndarray, query: np.ndarray, k: int, allowed=None) -> list[int]:
    scores = vectors @ query
    order = [int(i) for i in np.argsort(-scores)]
    if allowed is not None:
        order = [i for i in order if i in allowed]
    return order[:k]


def test_search_finds_the_nearest_vectors(store):
    snapshot = synthetic_snapshot({"a": "default", "b": "default", "c": "default"})
    store.save(snapshot)
    loaded = store.load()
    for row in (0, 17, 95):
        query = np.asarray(snapshot.sentence_vectors[row])
        scores, ids = loaded.sentence_index.search(query.reshape(1, -1), 5)
        assert ids[0][0] == row and scores[0][0] == pytest.approx(1.0, abs=0.02)
        truth = exact_top(snapshot.sentence_vectors, query, 5)
        # Exact back ends agree exactly; the compressed one finds most of the true neighbours.
        assert len(set(ids[0].tolist()) & set(truth)) >= 3
    assert len(loaded.sentence_index) == len(snapshot.sentences)
    assert len(loaded.passage_index) == len(snapshot.passages)


def test_collection_filter_is_applied_inside_the_index(store):
    snapshot = synthetic_snapshot({"a": "hr", "b": "default", "c": "hr", "d": "legal"})
    store.save(snapshot)
    loaded = store.load()
    wanted = frozenset({"hr"})
    allowed = np.array([i for i, s in enumerate(loaded.sentences)
                        if loaded.documents[s.doc_id].collection in wanted], dtype=np.int64)
    scope = loaded.sentence_index.scope(wanted, allowed)
    # A query sitting exactly on a "default" sentence: unfiltered it is the top hit, filtered it
    # must not appear, and all k results still come back (not k minus the dropped ones).
    outsider = next(i for i, s in enumerate(loaded.sentences) if s.doc_id == "b")
    query = np.asarray(snapshot.sentence_vectors[outsider]).reshape(1, -1)
    assert loaded.sentence_index.search(query, 1)[1][0][0] == outsider
    _, ids = loaded.sentence_index.search(query, 10, scope)
    found = [int(i) for i in ids[0] if i >= 0]
    assert len(found) == 10 and set(found) <= set(allowed.tolist())


def test_collection_names_with_quotes_filter_exactly(store):
    names = {"a": 'o"brien', "b": "it's", "c": "back\\slash", "d": 'o"brien x'}
    snapshot = synthetic_snapshot(names, paragraphs=20)
    store.save(snapshot)
    loaded = store.load()
    for name in set(names.values()):
        wanted = frozenset({name})
        allowed = np.array([i for i, s in enumerate(loaded.sentences)
                            if loaded.documents[s.doc_id].collection == name], dtype=np.int64)
        scope = loaded.sentence_index.scope(wanted, allowed)
        _, ids = loaded.sentence_index.search(snapshot.sentence_vectors[:1], 30, scope)
        found = {loaded.sentences[i].doc_id for i in ids[0] if i >= 0}
        assert found == {d for d, c in names.items() if c == name}


def test_vectors_and_units_survive_a_reload(store, backend, tmp_path):
    snapshot = synthetic_snapshot({"a": "default", "b": "hr"})
    store.save(snapshot)
    again = make_store(backend, tmp_path).load()
    assert again.documents == snapshot.documents
    assert again.sentences == snapshot.sentences and again.passages == snapshot.passages
    np.testing.assert_allclose(np.asarray(again.sentence_vectors), snapshot.sentence_vectors, atol=1e-6)
    np.testing.assert_allclose(again.passage_vectors[[3, 1]], snapshot.passage_vectors[[3, 1]], atol=1e-6)
    _, ids = again.passage_index.search(snapshot.passage_vectors[7].reshape(1, -1), 1)
    assert ids[0][0] == 7


def test_removing_a_document_removes_its_vectors(store):
    store.save(synthetic_snapshot({"a": "default", "b": "default", "c": "default"}))
    loaded = store.load()
    gone = [i for i, s in enumerate(loaded.sentences) if s.doc_id == "b"]
    vector_of_b = np.asarray(loaded.sentence_vectors[gone[0]])
    store.save(loaded.without({"b"}))
    after = store.load()
    assert set(after.documents) == {"a", "c"}
    assert len(after.sentence_index) == len(after.sentences) == 80
    _, ids = after.sentence_index.search(vector_of_b.reshape(1, -1), 80)
    hits = [int(i) for i in ids[0] if i >= 0]
    assert all(after.sentences[i].doc_id != "b" for i in hits)


def test_a_write_that_dies_half_way_is_never_seen(store, backend, tmp_path, monkeypatch):
    first = synthetic_snapshot({"a": "default"})
    store.save(first)
    # Die after the new version's vectors are half written: the old one must stay current.
    if isinstance(store, MilvusIndexStore):
        real_insert = store._insert
        calls = []

        def dying_insert(name, rows):
            calls.append(name)
            if len(calls) == 2:
                raise KeyboardInterrupt
            real_insert(name, rows)

        monkeypatch.setattr(store, "_insert", dying_insert)
    else:
        import index.store as store_module

        def dying_build(*args, **kwargs):
            raise KeyboardInterrupt

        monkeypatch.setattr(store_module.FaissVectors, "build", dying_build)
    with pytest.raises(KeyboardInterrupt):
        store.save(synthetic_snapshot({"a": "default", "z": "default"}, seed=5))
    monkeypatch.undo()
    reopened = make_store(backend, tmp_path)
    current = reopened.load()
    assert set(current.documents) == {"a"} and len(current.sentence_index) == 40
    np.testing.assert_allclose(np.asarray(current.sentence_vectors), first.sentence_vectors, atol=1e-6)
    # The next good save sweeps the half-written version away.
    reopened.save(synthetic_snapshot({"a": "default", "y": "default"}, seed=9))
    assert set(reopened.load().documents) == {"a", "y"}
    if isinstance(reopened, MilvusIndexStore):
        versions = [c for c in reopened.client.list_collections() if c.startswith("citebot_v")]
        assert len(versions) == 2  # the current one and the one before it, nothing half-written
        reopened.close()


def test_compressed_index_is_chosen_above_the_threshold(tmp_path):
    snapshot = synthetic_snapshot({"a": "default", "b": "default"})
    IndexStore(tmp_path / "small", exact_max=1000).save(snapshot)
    IndexStore(tmp_path / "large", exact_max=50).save(snapshot)
    assert IndexStore(tmp_path / "small").load().sentence_index.kind == "flat"
    assert IndexStore(tmp_path / "large").load().sentence_index.kind.startswith("ivf-sq8")


def test_settings_default_threshold_is_the_measured_one():
    from bot.settings import Settings
    from index.vectors import DEFAULT_EXACT_MAX

    assert Settings.model_fields["exact_search_max"].default == DEFAULT_EXACT_MAX


def test_a_wrong_vector_store_url_is_named_in_one_line(monkeypatch):
    from bot.settings import SettingsError, get_settings

    monkeypatch.setenv("CITEBOT_VECTOR_STORE", "milvus://")
    get_settings.cache_clear()
    with pytest.raises(SettingsError) as caught:
        get_settings()
    assert "CITEBOT_VECTOR_STORE" in str(caught.value) and "\n" not in str(caught.value).strip()


def test_open_store_picks_the_backend_from_the_setting(tmp_path):
    assert isinstance(open_store(tmp_path / "index"), IndexStore)
    assert isinstance(open_store(tmp_path / "index", f"milvus://{tmp_path}/x.db"), MilvusIndexStore)
    with pytest.raises(ValueError, match="milvus://"):
        open_store(tmp_path / "index", "redis://localhost:6379")


# --- the whole answer path on each back end ------------------------------------------------------


def answer_index(backend: str, home, embedder) -> CiteIndex:
    vector_store = f"milvus://{home}/vectors.db" if backend == "milvus-lite" else None
    return CiteIndex(home, embedder=embedder, corpus=CORPUS, vector_store=vector_store,
                     exact_search_max=0 if backend == "faiss-ivf" else 50_000)


def test_answers_from_the_bundled_article(backend, tmp_path, fake_embedder):
    index = answer_index(backend, tmp_path / "home", fake_embedder)
    answer = index.ask("Rmb26bn financing support free assistance", top=3)
    assert answer.citations[0].paragraph == 6
    document = index.documents()[0]
    for citation in answer.citations:
        assert document.text[citation.start:citation.end] == citation.quote
    # A second process (a replica) answers from what the first one stored.
    replica = answer_index(backend, tmp_path / "home", fake_embedder)
    assert replica.ask("Rmb26bn financing support free assistance").citations[0].quote == \
        answer.citations[0].quote


def test_collections_stay_apart_through_add_and_remove(backend, tmp_path, fake_embedder):
    index = answer_index(backend, tmp_path / "home", fake_embedder)
    index.warm_up()
    private = tmp_path / "salaries.md"
    private.write_text("# Salaries\n\nThe Rmb26bn payroll budget was approved by the board.\n")
    index.add([private], collection="hr")
    outside = index.ask("Rmb26bn payroll budget", collections=["default"])
    assert all(c.document != "salaries" for c in outside.citations)
    inside = index.ask("Rmb26bn payroll budget", collections=["hr"])
    assert inside.citations and {c.document for c in inside.citations} == {"salaries"}
    index.remove("salaries")
    assert not index.ask("Rmb26bn payroll budget", collections=["hr"]).citations


def test_milvus_store_answers_with_the_real_model(tmp_path, real_embedder, monkeypatch):
    monkeypatch.setenv("CITEBOT_VECTOR_STORE", f"milvus://{tmp_path}/x.db")
    from bot.runtime import open_index
    from bot.settings import get_settings

    get_settings.cache_clear()
    index = open_index()
    index.embedder = real_embedder
    assert isinstance(index.store, MilvusIndexStore)
    answer = index.ask("how much did Xi pledge?")
    assert answer.answered and "Rmb26bn" in answer.answer
