"""The quality benchmark's scoring and its ingest of XQuAD through the normal path."""

from __future__ import annotations

import json

import pytest

from bench import quality
from index.embedders import HashingEmbedder


def test_squad_normalisation_and_scores():
    assert quality.normalise("The  Rmb26bn, ($3.7bn)!") == "rmb26bn 37bn"
    assert quality.exact_match("the Panthers", ["Panthers"]) == 1.0
    assert quality.f1("Denver Broncos won", ["Denver Broncos"]) == pytest.approx(0.8)
    assert quality.f1("nothing here", ["Denver"]) == 0.0


def test_unanswerable_questions_cover_every_article():
    rows = [json.loads(line) for line in quality.UNANSWERABLE.read_text().splitlines() if line.strip()]
    assert len(rows) >= 60
    assert {r["article"] for r in rows} == set(range(48))


@pytest.mark.skipif(not quality.XQUAD.exists(), reason="shared/eval is not beside the project")
def test_xquad_articles_keep_their_paragraphs_through_ingest(tmp_path):
    data, questions = quality.load_xquad()
    small = data[:2]
    index, article_of = quality.build(tmp_path, small, HashingEmbedder())
    assert sorted(article_of.values()) == [0, 1]
    picked = [q for q in questions if q.article < 2][:10]
    outcomes = quality.run_citebot(index, picked, article_of)
    summary = quality.summarise(outcomes)
    assert summary["questions"] == len([q for q in picked if q.answerable])
    assert 0.0 <= summary["passage@1"] <= 1.0
