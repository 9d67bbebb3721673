"""The real all-MiniLM-L6-v2 model on the bundled article: the product's promise, end to end."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

pytestmark = pytest.mark.model


def test_xi_pledge_is_answered_with_the_rmb26bn_sentence(real_index):
    answer = real_index.ask("how much did Xi pledge?")
    assert answer.answered
    assert "Rmb26bn" in answer.answer or "$3.7bn" in answer.answer
    best = answer.citations[0]
    document = real_index.documents()[0]
    assert "Rmb26bn" in document.paragraph_text(best.paragraph)
    assert "Rmb26bn" in best.quote
    assert document.text[best.start : best.end] == best.quote
    assert best.title == "Xi Jinping pushes Central Asian defence co-operation plan"


@pytest.mark.parametrize(
    "question",
    ["What is the capital of France?", "Who won the 2018 World Cup?", "How do I bake banana bread?"],
)
def test_off_topic_questions_are_refused_with_the_closest_passage(real_index, question):
    answer = real_index.ask(question)
    assert not answer.answered
    assert answer.refusal == "not_in_documents"
    assert answer.answer == ""
    assert answer.citations and answer.citations[0].quote


def test_cli_json_with_the_real_model(real_embedder, monkeypatch):
    # The CLI builds its own embedder; hand it the session's loaded one to avoid a second load.
    import bot.runtime
    from bot.cli import main

    monkeypatch.setattr(bot.runtime, "make_embedder", lambda settings: real_embedder)
    result = CliRunner().invoke(main, ["ask", "--json", "how much did Xi pledge?"])
    data = json.loads(result.stdout)
    assert data["answered"] is True
    assert "Rmb26bn" in data["answer"] or "$3.7bn" in data["answer"]
    assert data["citations"][0]["paragraph"] == 6
    refused = json.loads(
        CliRunner().invoke(main, ["ask", "--json", "What is the capital of France?"]).stdout
    )
    assert refused["answered"] is False and refused["citations"]
