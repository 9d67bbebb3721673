"""The performance benchmark's helpers give sane numbers on tiny inputs, without the model."""

from __future__ import annotations

import numpy as np
import pytest

from bench import perf, perf_report
from index.embedders import HashingEmbedder
from index.engine import CiteIndex


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
    perf_report.update_benchmarks("## Performance\n\nfirst\n", path)
    perf_report.update_benchmarks("## Performance\n\nsecond\n", path)
    text = path.read_text()
    assert "quality" in text and "second" in text and "first" not in text
    assert text.count("## Performance") == 1
    path.write_text(text + "\n## Later\n\nkept\n")
    perf_report.update_benchmarks("## Performance\n\nthird\n", path)
    assert "kept" in path.read_text() and "second" not in path.read_text()


def test_percentiles_and_ratios():
    assert perf.p50_p95([1, 2, 3, 4, 100])[0] == 3
    assert perf.ratio(2.0, 4.0) == 0.5
    assert np.isnan(perf.ratio(1.0, 0.0))


def test_faiss_mode_and_cleared_caches_change_timing_only(tmp_path):
    index = CiteIndex(tmp_path, embedder=HashingEmbedder(), corpus=perf.CORPUS)
    questions = perf.article_questions()[:6]
    before = [_without_latency(index.ask(q)) for q in questions]
    modes = ("blas=1", "blas=1 faiss=1", "blas=1 uncached")
    lat = perf.measure_latency(index, questions[:3], perf.BlasPools(), warm=1, modes=modes)
    assert all(len(lat.ask[m]) == 3 for m in modes)
    perf.clear_question_caches(index)
    assert index._answerer.retriever._sum_norms == {}
    assert [_without_latency(index.ask(q)) for q in questions] == before
    import faiss

    threads = faiss.omp_get_max_threads()
    with perf.BlasPools().mode("blas=1 faiss=1"):
        assert faiss.omp_get_max_threads() == 1
    assert faiss.omp_get_max_threads() == threads
    assert "torch" not in perf.modes_for("onnx-int8")[-1] and "blas=1 torch=1" in perf.modes_for("torch")


def _without_latency(answer) -> dict:
    data = answer.to_json()
    data.pop("latency_ms")
    return data


def test_report_has_every_section_and_checks_the_targets(tmp_path):
    index = CiteIndex(tmp_path, embedder=HashingEmbedder(), corpus=perf.CORPUS)
    questions = perf.article_questions()[:3]
    lat = perf.measure_latency(index, questions, perf.BlasPools(), warm=1, modes=perf.ONNX_MODES)
    lat.peer, lat.peer_floor, lat.peer_chunk_chars = [1e6] * 3, [1.0] * 3, [700] * 3

    class Peer:
        chunks = 3

    def row(encode_per_s, passage, rss, wall):
        return {
            "export_s": None, "cosine": (0.98, 0.99), "peer": Peer(),
            "indexing": {"documents": 1, "sentences": 40, "paragraphs": 10, "units": 50,
                         "add_s": 1.0, "encode_s": 0.9, "add_per_s": 50.0,
                         "encode_per_s": encode_per_s, "batch_size": 64, "ratio": 0.95},
            "quality": {"questions": 3, "passage@1": passage},
            "latency": {"bundled article": lat, "XQuAD": lat},
            "cold": {"runs": 1, "wall_s": wall, "walls": [wall], "python_start_s": 0.05,
                     "stages": {"import bot.cli": 0.1}, "torch_imported": False,
                     "rss": {"questions": 10, "peak_rss_mb": rss}},
        }

    results = {"load_before": (1.0,), "load_after": (1.0,), "pools": "openblas:1", "rounds": 1,
               "torch_threads": 2, "article_questions": questions, "quality_split": "XQuAD held-out",
               "encoders": {"torch": row(20.0, 0.60, 900, 9.0), "onnx-int8": row(60.0, 0.595, 300, 2.0)}}
    text = perf_report.report(results, command="python -m bench.perf --quick", seconds=1.0)
    for heading in ("### Encoders", "### Answer latency vs the floor", "### Indexing throughput",
                    "### Cold start and memory", "### Against the targets"):
        assert heading in text
    assert "| onnx-int8 |" in text and "3.00×" in text and "-0.5 points" in text
    assert "- torch: cold start 9.00 s (target ≤ 6 s): **not met**" in text
    assert "- onnx-int8: cold start 2.00 s (target ≤ 6 s): met; peak RSS 300 MB" in text
    assert text.count("| bundled article · torch |") == len(perf.ONNX_MODES)


def test_raw_encode_and_encoder_names_are_checked():
    texts = ["one sentence", "another one"]
    assert np.array_equal(perf.raw_encode(HashingEmbedder(), texts), HashingEmbedder().embed(texts))
    with pytest.raises(SystemExit):
        perf.main(["--encoders", "tensorflow", "--no-write"])
