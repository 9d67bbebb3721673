"""The state store: every test runs on SQLite and on a real PostgreSQL server (tests/postgres.py)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bot.state import QuestionRecord, StateStore, utcnow
from tests.postgres import postgres_server, postgres_url  # noqa: F401  (fixtures)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(database_url):
    state = StateStore(database_url)
    yield state
    state.close()


def _record(**kw):
    base = dict(platform="slack", channel="C1", user="U1", question="q?", answered=True, answer="a")
    return QuestionRecord(**{**base, **kw})


def test_questions_are_stored_with_hashed_users(store):
    question_id = store.record_question(_record(user="U123SECRET"))
    row = store.question(question_id)
    assert row["question"] == "q?" and row["answered"] is True
    assert row["user_hash"] != "U123SECRET" and len(row["user_hash"]) == 64
    with store.engine.connect() as connection:
        dump = " ".join(str(v) for r in connection.execute(sa.text("SELECT * FROM questions")) for v in r)
    assert "U123SECRET" not in dump


def test_one_vote_per_user_per_answer(store):
    question_id = store.record_question(_record())
    assert store.record_vote(question_id, "U2", 1)
    assert store.record_vote(question_id, "U2", 1)
    assert store.record_vote(question_id, "U3", -1)
    assert store.votes(question_id) == (1, 1)
    assert store.record_vote(question_id, "U2", -1)
    assert store.votes(question_id) == (0, 2)
    assert not store.record_vote(999, "U2", 1)


def test_last_question_in_thread(store):
    store.record_question(_record(question="first", thread="T1"))
    store.record_question(_record(question="second", thread="T1"))
    store.record_question(_record(question="elsewhere", thread="T2"))
    assert store.last_question_in_thread("slack", "C1", "T1") == "second"
    assert store.last_question_in_thread("slack", "C1", "T9") is None


def test_answer_all_setting(store):
    assert not store.answer_all("slack", "C1")
    store.set_answer_all("slack", "C1", True)
    assert store.answer_all("slack", "C1") and not store.answer_all("discord", "C1")
    store.set_answer_all("slack", "C1", False)
    assert not store.answer_all("slack", "C1")


def test_first_time_is_atomic_across_threads(store):
    results = []
    barrier = threading.Barrier(8)

    def claim():
        barrier.wait()
        results.append(store.first_time("event-1"))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1


def test_retention_deletes_old_records(store):
    old = store.record_question(_record(question="old"), at=utcnow() - timedelta(days=40))
    store.record_vote(old, "U2", 1)
    new = store.record_question(_record(question="new"))
    assert store.delete_questions_before(utcnow() - timedelta(days=30)) == 1
    assert store.question(old) is None and store.question(new) is not None


def test_migrations_run_once_and_reopen(database_url):
    url = database_url
    StateStore(url).close()
    reopened = StateStore(url)
    with reopened.engine.connect() as connection:
        version = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    assert version == _head_revision()
    reopened.close()


def _head_revision() -> str:
    # Compared with the newest migration, so adding one does not break this test.
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from bot.migrations import HERE

    config = Config()
    config.set_main_option("script_location", str(HERE))
    return ScriptDirectory.from_config(config).get_current_head()
