"""The state database going away mid-run: questions are still answered, the failure is logged and
counted, and the records it missed are written when it is back — each exactly once. On the real
PostgreSQL from tests/postgres.py, stopped with pg_ctl while CiteBot is running."""

from __future__ import annotations

import asyncio
import logging

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from bot import service as service_module
from bot.service import AnswerService, Question
from bot.state import QuestionRecord, StateStore, feedback, questions, utcnow
from tests.postgres import postgres_server, postgres_url  # noqa: F401  (fixtures)

PLEDGE = "Rmb26bn financing support"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def stored_questions(store: StateStore) -> list[str]:
    with store.engine.connect() as connection:
        return list(connection.execute(
            sa.select(questions.c.question).order_by(questions.c.id)
        ).scalars())


async def wait_until_written(service: AnswerService, timeout: float = 30) -> None:
    for _ in range(int(timeout / 0.05)):
        if service.unsaved == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{service.unsaved} record(s) still unsaved after {timeout}s")


@pytest.mark.asyncio
async def test_postgres_stopped_mid_run_loses_no_record_and_doubles_none(
    postgres_server, postgres_url, fake_index, caplog
):
    store = StateStore(postgres_url)
    service = AnswerService(fake_index, store)
    service.unsaved_retry_max_wait = 0.5  # keep the test short; production waits up to 30 s
    try:
        before = await service.ask(Question("slack", "C1", "U1", PLEDGE, thread="T0"))
        assert before.question_id is not None

        errors = sample("citebot_errors_total", where="state")
        postgres_server.stop()
        try:
            with caplog.at_level(logging.WARNING, logger="citebot.service"):
                during = [
                    await service.ask(Question("discord", "C2", f"U{n}", f"{PLEDGE} {n}"))
                    for n in range(3)
                ]
                assert await service.vote(before.question_id, "U7", -1)
                assert await service.vote(before.question_id, "U7", 1)  # changed their mind
            # Answered all the same, just without a record to vote on yet.
            assert all(r.answer.citations and r.question_id is None for r in during)
            assert service.unsaved == 5
            assert sample("citebot_errors_total", where="state") >= errors + 5
            assert sample("citebot_state_unsaved") == 5
            logged = caplog.text
            assert "state store call record_question failed" in logged
            assert "kept a question record to write when the state store is back" in logged
            await asyncio.sleep(1.5)  # the writer tries (and fails) a few times meanwhile
            assert service.unsaved == 5
        finally:
            postgres_server.start()

        # One more question after the restart: it is stored, and its success wakes the writer.
        after = await service.ask(Question("slack", "C1", "U1", "Xi summit", thread="T9"))
        assert after.question_id is not None
        await wait_until_written(service)
        assert sample("citebot_state_unsaved") == 0

        assert sorted(stored_questions(store)) == sorted(
            [PLEDGE, "Xi summit", *(f"{PLEDGE} {n}" for n in range(3))]
        )
        assert store.votes(before.question_id) == (1, 0)  # the later vote, once
        with store.engine.connect() as connection:
            assert connection.execute(sa.select(sa.func.count()).select_from(feedback)).scalar() == 1
            platforms = connection.execute(
                sa.select(questions.c.platform, questions.c.asked_at).where(
                    questions.c.question.like(f"{PLEDGE} %")
                )
            ).all()
        # Written with the time they were asked, not the time the store came back.
        assert {p for p, _ in platforms} == {"discord"}
        assert all(asked < utcnow() for _, asked in platforms)
        # A second pass finds nothing left to write and changes nothing.
        assert await service._write_some() == 0
        assert len(stored_questions(store)) == 5
    finally:
        await service.drain(1)
        store.close()


def test_writing_a_kept_record_again_never_doubles_it(postgres_url):
    # The one outage case a plain retry would double: the commit landed, its reply was lost.
    store = StateStore(postgres_url)
    try:
        record = QuestionRecord("slack", "C1", "U1", "q?", True, "a")
        at = utcnow()
        first = store.record_question(record, at=at)
        assert store.record_question_once(record, at=at) == first
        assert store.record_question_once(record, at=utcnow()) != first  # asked again later
        assert len(stored_questions(store)) == 2
    finally:
        store.close()


@pytest.mark.asyncio
async def test_unsaved_records_are_bounded_and_the_dropped_are_counted(
    fake_index, tmp_path, monkeypatch
):
    monkeypatch.setattr(service_module, "MAX_UNSAVED", 3)
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    service = AnswerService(fake_index, store)
    store.engine.dispose()
    store.engine = sa.create_engine("sqlite:////nonexistent/dir/state.db")  # unreachable
    dropped = sample("citebot_state_dropped_total")
    try:
        for n in range(5):
            reply = await service.ask(Question("slack", "C1", "U1", f"{PLEDGE} {n}"))
            assert reply.answer.citations
        assert service.unsaved == 3
        assert sample("citebot_state_dropped_total") == dropped + 2
        kept = [unsaved.args[0].question for unsaved in service._unsaved]
        assert kept == [f"{PLEDGE} {n}" for n in (2, 3, 4)]  # the newest are kept
    finally:
        await service.drain(0.5)
        store.close()
