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
