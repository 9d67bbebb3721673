"""The reader's training code, run for a few steps on ~50 questions: the same code that made the
shipped model (CI does not train it), its checkpoints and resumption, and its ONNX export served
by the same reader class that serves the shipped file."""

from __future__ import annotations

import pytest

from index import reader_training as training
from index.reader import Calibration, ExtractiveReader, Passage
from index.reader_inputs import load_tokenizer

pytestmark = pytest.mark.skipif(
    not training.DEFAULT_DATA_DIR.exists(), reason="shared/train is not beside the project"
)


def test_validation_articles_are_never_trained_on():
    examples = training.load_examples(training.DEFAULT_DATA_DIR)
    train, validation = training.split(examples)
    assert {e.title for e in validation} == set(training.VALIDATION_ARTICLES)
    assert not {e.title for e in train} & set(training.VALIDATION_ARTICLES)
    assert len(validation) > 1500 and sum(not e.answerable for e in validation) > 700


def test_answer_spans_land_on_the_answer_tokens():
    tokenizer = load_tokenizer(training.bundled_model_path())
    examples = training.load_examples(training.DEFAULT_DATA_DIR)[:300]
    checked = 0
    for example in examples:
        for feature in training.features_for(tokenizer, example):
            if not feature.answerable:
                continue
            first = feature.window.offsets[feature.start]
            last = feature.window.offsets[feature.end]
            text, _ = example.answers[0]
            # The tokens cover the answer and at most a word piece's worth more.
            covered = example.context[first[0] : last[1]]
            assert text in covered and len(covered) - len(text) <= 6, (text, covered)
            checked += 1
    assert checked > 200


def test_a_few_steps_checkpoint_resume_and_export(tmp_path):
    checkpoints = tmp_path / "run"
    common = ["train", "--checkpoints", str(checkpoints), "--limit", "50", "--batch-size", "8",
              "--skip-eval", "--checkpoint-every", "2", "--phases", "answerable,all"]
    training.main([*common, "--max-steps", "2"])
    assert (checkpoints / "checkpoint.pt").exists()
    import torch

    assert torch.load(checkpoints / "checkpoint.pt", weights_only=False)["step"] == 2
    # Resumed: continues from step 2 rather than starting over.
    training.main([*common, "--max-steps", "4"])
    assert torch.load(checkpoints / "checkpoint.pt", weights_only=False)["step"] == 4

    # Stage 2 starts from stage 1's weights with its own optimiser, schedule and step count.
    stage_2 = tmp_path / "stage2"
    training.main([*common, "--max-steps", "2", "--checkpoints", str(stage_2), "--init-from",
                   str(checkpoints / "final.pt"), "--answerability-weight", "1.0"])
    assert torch.load(stage_2 / "checkpoint.pt", weights_only=False)["step"] == 2

    out = tmp_path / "model"
    training.main(["export", "--checkpoints", str(checkpoints), "--out", str(out)])
    model = out / training.MODEL_FILE
    assert model.exists() and model.stat().st_size < 30 * 1024 * 1024
    reader = ExtractiveReader(model, calibration=Calibration())
    text = "The summit was held in Xi'an. Leaders of five countries came."
    reading = reader.read("Where was the summit?", [Passage("doc", 1, 100, text)])
    best = reading.answers[0]
    # Whatever an untrained head picks, it is a real span of the passage, in document offsets.
    assert 100 <= best.start < best.end <= 100 + len(text)
    assert best.text == text[best.start - 100 : best.end - 100]
    assert 0.0 <= reading.answerable <= 1.0


def test_the_refusal_model_weighs_retrieval_evidence_beside_the_reader():
    """Chosen from validation reads alone: here answerable questions' windows match the question
    more closely, so the fitted model leans on that column, and a passage without evidence is
    judged at the evidence's mean."""
    import numpy as np

    from index.search import FEATURES

    rng = np.random.default_rng(0)
    example = training.Example("T", "c", "q?", (("c", 0),))
    unanswerable = training.Example("T", "c", "q?", ())
    reads = []
    for n in range(400):
        evidence = np.zeros(len(FEATURES))
        answerable = n % 2 == 0
        evidence[FEATURES.index("window_dense")] = rng.normal(0.6 if answerable else 0.3, 0.1)
        reads.append(training.ValidationRead(
            example if answerable or n % 4 == 1 else unanswerable,
            ["c"] * 3, [rng.normal()] * 3, [rng.normal()] * 3, [0.9] * 3,
            evidence=[evidence] * 3, removed=not answerable and n % 4 == 1))
    chosen = training.choose_calibration(reads)
    assert chosen["evidence_weights"]["window_dense"] > 1.0
    assert chosen["validation"]["removed_paragraph_refused"] > 0.5
    assert chosen["validation"]["answerable_refused"] <= training.ANSWERABLE_REFUSED + 0.02
    calibration = Calibration(**{k: v for k, v in chosen.items() if k != "validation"})
    close, far = np.zeros(len(FEATURES)), np.zeros(len(FEATURES))
    close[FEATURES.index("window_dense")], far[FEATURES.index("window_dense")] = 0.7, 0.2
    assert calibration.answerable(0.0, 0.0, close) > calibration.answerable(0.0, 0.0, far)
    assert calibration.answerable(0.0, 0.0, None) == pytest.approx(calibration.answerable(
        0.0, 0.0, np.array([chosen["evidence_means"].get(name, 0.0) for name in FEATURES])))


def test_evidence_from_another_embedding_model_is_not_weighed():
    calibration = Calibration.load()
    assert calibration.evidence_model == "all-MiniLM-L6-v2"
    assert calibration.weighs_evidence_from("all-MiniLM-L6-v2+onnx-int8")
    assert calibration.weighs_evidence_from("all-MiniLM-L6-v2")
    # The hashing fake's similarities are on another scale: the reader's own scores decide.
    assert not calibration.weighs_evidence_from("hashing-fake")
