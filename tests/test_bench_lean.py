"""bench/lean.py's report: every target beside the issue's figure, met or not from the numbers."""

from __future__ import annotations

from bench import lean


def figures(**changes) -> dict:
    walls = [1.0, 1.1, 0.9]
    result = {
        "reader": "extractive",
        "cold": {"ask_s": {"median_s": 1.0, "walls": walls, "imported": []},
                 "digest_s": {"median_s": 1.8, "walls": walls, "imported": []},
                 "help_s": {"median_s": 0.2, "walls": walls, "imported": []}, "python_s": 0.02},
        "serve": {"healthy_s": 1.2, "rss_mb": 240.0, "exit": 0, "imported": []},
        "spread": {"questions": 1000, "p50_ms": 10.0, "p95_ms": 15.0, "spread": 1.5,
                   "max_ms": 40.0, "peak_rss_mb": 300.0, "seconds": 20.0, "imported": []},
        "indexing": {"documents": 48, "paragraphs": 240, "sentences": 1175, "citebot_s": 15.0,
                     "rounds": 2, "chunks": 292, "home": "/tmp/x", "ratio": 0.5,
                     "ratio_same_encoder": 1.9,
                     "langchain": {"LangChain default (sentence-transformers)": 30.0,
                                   "LangChain on CiteBot's encoder (onnx-int8)": 7.9}},
        "install": {"commit": "abc1234",
                    "cold": {"install_s": 70.0, "answer_s": 2.0, "total_s": 72.0, "venv_mb": 600,
                             "torch_installed": False, "cache_mb": 150},
                    "warm": {"install_s": 30.0, "answer_s": 2.0, "total_s": 32.0, "venv_mb": 600,
                             "torch_installed": False, "cache_mb": 150}},
        "image": {"bytes": 900_000_000, "created": "today", "smoke": None},
    }
    for key, value in changes.items():
        result[key] = value
    return result


def test_every_target_is_reported_beside_the_issues_figure():
    rows = lean.target_rows(figures())
    assert len(rows) == len(lean.TARGETS)
    assert all(met is True for *_, met in rows)
    text = lean.section(figures())
    for today in lean.TODAY.values():
        assert today in text
    assert "| `citebot ask`, start to answer | 7.6 s | 1.00 s | ≤ 1.5 s | met |" in text
    assert "0.50× (15.0 s vs 30.0 s); 1.90× vs LangChain on CiteBot's encoder" in text
    assert "imported by ask, digest preview, --help, ask --file and serve: none" in text


def test_a_missed_target_and_a_figure_not_taken_are_told_apart():
    slow = figures(spread={**figures()["spread"], "p95_ms": 25.0, "spread": 2.5}, install=None,
                   image=None)
    slow["serve"]["rss_mb"] = 400.0
    marks = {row[0]: row[-1] for row in lean.target_rows(slow)}
    assert marks["answer p95 / p50, 1,000 questions one at a time"] is False
    assert marks["peak RSS answering 1,000 questions, reader loaded"] is False
    assert marks["fresh clone: install.sh + first answer"] is None
    text = lean.section(slow)
    assert "**not met**" in text and "| image size | 2.39 GB | no image here" in text
