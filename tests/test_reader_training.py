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
