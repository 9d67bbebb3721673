"""The scale benchmark runs end to end at a tiny size and reports sane figures."""

from __future__ import annotations

import numpy as np
import pytest

from bench import quality, scale


def test_synthetic_vectors_are_unit_length_seeded_and_clustered():
    a = scale.clustered_vectors(500, seed=3, clusters=5)
    assert a.shape == (500, scale.DIMENSION) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(a, scale.clustered_vectors(500, seed=3, clusters=5))
    # Five clumps: a point's nearest other point is far closer than a random pair.
    sims = a @ a.T
    np.fill_diagonal(sims, -1)
    assert sims.max(axis=1).mean() > sims.mean() + 0.2


def test_recall_counts_shared_neighbours():
    truth = np.arange(20).reshape(2, 10)
    assert scale.recall_at_k(truth, truth) == 1.0
    assert scale.recall_at_k(truth, truth + 10_000) == 0.0
    assert scale.recall_at_k(truth, np.where(truth % 2 == 0, truth, -1)) == 0.5


def test_tiny_run_measures_every_kind_and_writes_its_section(tmp_path):
    rows = scale.measure_scale([1_500], hnsw_max=1_500, milvus_max=1_500, queries=20,
                               timing_queries=5, workdir=tmp_path)
    kinds = {r["kind"]: r for r in rows}
    assert set(kinds) == {"flat", "ivf-sq8", "hnsw-sq8", "milvus-lite"}
    assert kinds["flat"]["recall"] == 1.0 and kinds["milvus-lite"]["recall"] == 1.0
    for row in rows:
        assert row["n"] == 1_500 and row["p95_ms"] >= row["p50_ms"] > 0 and row["build_s"] > 0
        assert 0.5 < row["recall"] <= 1.0 and row["bytes"] > 0
    # 8-bit codes: well under the float32 flat index.
    assert kinds["ivf-sq8"]["bytes"] < 0.5 * kinds["flat"]["bytes"]
    assert kinds["ivf-sq8"]["knob"].startswith("nprobe=")

    threshold = scale.measure_threshold((500, 1_000), timing_queries=5)
    assert [r["n"] for r in threshold] == [500, 1_000] and threshold[0]["p95_ms"] > 0
    section = scale.report(rows, command="python -m bench.scale --sizes 1500", seconds=1.0,
                           load=(0.1, 0.2), threshold=threshold)
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n## Performance\n\nkept\n")
    quality.update_benchmarks(section, path, heading=scale.HEADING)
    quality.update_benchmarks(section, path, heading=scale.HEADING)
    text = path.read_text()
    assert text.count("## Scale") == 1 and "kept" in text
    assert "| 1,500 | ivf-sq8 |" in text and "Targets at 1,500 vectors" in text


def test_an_unknown_index_kind_is_refused(tmp_path):
    with pytest.raises(ValueError):
        scale.measure_faiss("bogus", np.zeros((1, 4), np.float32), np.zeros((1, 4), np.float32),
                            np.zeros((1, 10), np.int64), tmp_path, timing_queries=1)
