"""The shared answering service: records questions, gives follow-ups their context."""

from __future__ import annotations

import pytest

from bot.service import AnswerService, Question
from bot.state import StateStore


@pytest.fixture
def service(fake_index, tmp_path):
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield AnswerService(fake_index, state)
    state.close()


@pytest.mark.asyncio
async def test_answer_is_recorded_and_votable(service):
    reply = await service.ask(Question("slack", "C1", "U1", "Rmb26bn financing support", thread="1.0"))
    assert reply.question_id is not None
    row = service.state.question(reply.question_id)
    assert row["question"] == "Rmb26bn financing support" and row["paragraph"] == 6
    assert await service.vote(reply.question_id, "U2", 1)
    assert service.state.votes(reply.question_id) == (1, 0)


@pytest.mark.asyncio
async def test_follow_up_is_searched_with_the_threads_question(service):
    await service.ask(Question("slack", "C1", "U1", "Tajikistan Afghanistan border", thread="7.0"))
    alone = await service.ask(Question("slack", "C2", "U1", "and why?", thread="8.0"))
    follow = await service.ask(Question("slack", "C1", "U1", "and why?", thread="7.0", follow_up=True))
    assert follow.answer.citations[0].paragraph == 14
    assert alone.answer.citations[0].paragraph != 14 or not alone.answer.answered


@pytest.mark.asyncio
async def test_store_outage_does_not_stop_answers(service):
    service.state.engine.dispose()
    service.state.engine = __import__("sqlalchemy").create_engine("sqlite:////nonexistent/dir/x.db")
    reply = await service.ask(Question("slack", "C1", "U1", "Rmb26bn financing"))
    assert reply.answer.citations and reply.question_id is None


@pytest.mark.asyncio
async def test_a_channel_bound_to_a_collection_never_quotes_another(fake_index, tmp_path):
    private = tmp_path / "salaries.md"
    private.write_text("# Salaries\n\nThe secret bonus pool is 4 million. The canteen budget is 2 million.\n")
    fake_index.add([private], collection="hr")
    state = StateStore(f"sqlite:///{tmp_path / 'scoped.db'}")
    service = AnswerService(fake_index, state)
    state.bind_collection("slack", "C-HR", "hr")
    questions = ["secret bonus pool million", "Rmb26bn financing", "canteen budget", "Xi summit"]
    for text in questions:
        general = await service.ask(Question("slack", "C-GENERAL", "U1", text))
        assert {c.document for c in general.answer.citations} <= {"ft-xi-central-asia-2023"}
        hr = await service.ask(Question("slack", "C-HR", "U1", text))
        assert {c.document for c in hr.answer.citations} <= {"salaries"}
    assert state.channel_collections("slack", "C-HR") == ["hr"]
    assert state.unbind_collection("slack", "C-HR", "hr")
    after = await service.ask(Question("slack", "C-HR", "U1", "secret bonus pool million"))
    assert {c.document for c in after.answer.citations} <= {"ft-xi-central-asia-2023"}
    state.close()
