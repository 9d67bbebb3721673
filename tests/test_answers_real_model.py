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


@pytest.mark.parametrize(
    ("question", "in_quote", "short"),
    [
        ("How much money did China promise the region?", "Rmb26bn", "Rmb26bn"),
        ("What sum did Beijing offer Central Asian states?", "Rmb26bn", "Rmb26bn"),
        ("Which nation shares a border with both China and Afghanistan?", "only country bordering", None),
        ("Who is the EU's commissioner for trade?", "Dombrovskis", "Valdis Dombrovskis"),
        ("In which year did the joint exercises take place across Central Asia?", "2019", "2019"),
        ("Why is Central Asia important to China's security?", "Xinjiang", None),
    ],
)
def test_paraphrased_questions_cite_the_right_sentence(real_index, question, in_quote, short):
    answer = real_index.ask(question)
    assert answer.answered
    assert in_quote in answer.citations[0].quote
    if short:
        assert short in answer.answer


@pytest.mark.parametrize(
    "question",
    [
        "How many troops does Russia have in Tajikistan?",
        "What did the Pope say about the summit?",
        "Who won the Champions League?",
    ],
)
def test_questions_the_article_does_not_answer_are_refused(real_index, question):
    answer = real_index.ask(question)
    assert not answer.answered and answer.citations


@pytest.mark.parametrize(
    ("question", "short"),
    [("Who wrote the article?", "Joe Leahy"), ("Who wrote this piece?", "Joe Leahy")],
)
def test_questions_about_the_document_are_answered_from_its_byline(real_index, question, short):
    answer = real_index.ask(question)
    assert answer.answered and short in answer.answer
    assert answer.citations[0].paragraph == 0


@pytest.mark.parametrize(
    "question",
    ["In which city did the leaders meet?", "Who leads Uzbekistan?", "Which analyst is from Taiwan?"],
)
def test_questions_about_the_subject_are_never_answered_from_the_byline(real_index, question):
    # The byline names a person and a city; a reader shown it beside the text used to answer
    # these from it ("Hong Kong", "Joe Leahy").
    answer = real_index.ask(question)
    assert all(citation.paragraph != 0 for citation in answer.citations)
    assert "Leahy" not in answer.answer and "Hong Kong" not in answer.answer
