"""The performance benchmark's helpers give sane numbers on tiny inputs, without the model."""

from __future__ import annotations

import numpy as np
import pytest

from bench import perf
from index.embedders import HashingEmbedder
from index.engine import CiteIndex


def test_recall_of_exact_search_against_itself_is_one():
    import faiss

    base = perf.clustered_vectors(2_000, seed=1, clusters=20)
    queries = perf.clustered_vectors(20, seed=2, clusters=20)
    exact = faiss.IndexFlatIP(perf.DIMENSION)
    exact.add(base)
    _, truth = exact.search(queries, perf.K)
    assert perf.recall_at_k(truth, truth) == 1.0
    assert perf.recall_at_k(truth, truth + 10_000) == 0.0
    flat = perf.measure_store("flat", base, queries, truth, timing_queries=5)
    assert flat["recall"] == 1.0 and flat["bytes"] >= base.nbytes and flat["p95_ms"] > 0
    ivf = perf.measure_store("ivf", base, queries, truth, timing_queries=5, sweep=(1, 4, 16))
    assert 0.0 < ivf["recall"] <= 1.0 and ivf["knob"] == "nprobe" and ivf["value"] in (1, 4, 16)
    assert [v for v, _ in ivf["curve"]] == [1, 4, 16][: len(ivf["curve"])]


def test_synthetic_vectors_are_unit_length_seeded_and_clustered():
    a = perf.clustered_vectors(500, seed=3, clusters=5)
    assert a.shape == (500, perf.DIMENSION) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(a, perf.clustered_vectors(500, seed=3, clusters=5))
    # Five clumps: a point's nearest other point is far closer than a random pair.
    sims = a @ a.T
    np.fill_diagonal(sims, -1)
    assert sims.max(axis=1).mean() > sims.mean() + 0.2


def test_latency_ratios_are_positive_on_the_bundled_article(tmp_path):
    index = CiteIndex(tmp_path, embedder=HashingEmbedder(), corpus=perf.CORPUS)
    questions = perf.article_questions()
    assert len(questions) >= 25 and len(set(questions)) == len(questions)
    modes = ("blas=1", "blas=all")
    lat = perf.measure_latency(index, questions[:4], perf.BlasPools(), warm=1, modes=modes)
    for mode in modes:
        s = lat.summary(mode)
        assert s["questions"] == 4
        assert s["ask_p95"] >= s["ask_p50"] > 0 and s["ratio_p50"] > 0 and s["ratio_p95"] > 0
    assert all(0 < n <= 400 for n in lat.quote_chars)
    snapshot = index._snapshot
    assert len(perf.units_of(snapshot)) == len(snapshot.sentences) + len(snapshot.passages)


def test_performance_section_replaces_itself_and_keeps_the_rest(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n## Answer quality (XQuAD English)\n\nquality\n")
    perf.update_benchmarks("## Performance\n\nfirst\n", path)
    perf.update_benchmarks("## Performance\n\nsecond\n", path)
    text = path.read_text()
    assert "quality" in text and "second" in text and "first" not in text
    assert text.count("## Performance") == 1
    path.write_text(text + "\n## Later\n\nkept\n")
    perf.update_benchmarks("## Performance\n\nthird\n", path)
    assert "kept" in path.read_text() and "second" not in path.read_text()


def test_percentiles_and_ratios():
    assert perf.p50_p95([1, 2, 3, 4, 100])[0] == 3
    assert perf.ratio(2.0, 4.0) == 0.5
    assert np.isnan(perf.ratio(1.0, 0.0))
    with pytest.raises(ValueError):
        perf.measure_store("bogus", np.zeros((1, 4), np.float32), np.zeros((1, 4), np.float32),
                           np.zeros((1, 10), np.int64), timing_queries=1)
