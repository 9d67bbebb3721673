"""Replicas sharing one PostgreSQL: starting together, they migrate once and see each other's
records."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from bot.state import QuestionRecord, StateStore
from tests.postgres import postgres_server, postgres_url  # noqa: F401  (fixtures)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def test_replicas_starting_together_migrate_once_and_share_state(postgres_url):
    # Separate processes, as replicas are: Alembic's context is process-global, so threads
    # would not show what the advisory lock in migrations/env.py does.
    start_at = time.time() + 3  # all imported by then, so the migrations really race
    script = (
        "import sys, time; from bot.state import StateStore\n"
        "time.sleep(max(0, float(sys.argv[2]) - time.time()))\n"
        "StateStore(sys.argv[1]).close()\n"
    )
    replicas = [
        subprocess.Popen(
            [sys.executable, "-c", script, postgres_url, str(start_at)],
            cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(4)
    ]
    results = [(replica.wait(timeout=120), replica.stderr.read()) for replica in replicas]
    assert all(code == 0 for code, _ in results), results

    first = StateStore(postgres_url, user_salt="shared-salt")
    second = StateStore(postgres_url, user_salt="shared-salt")
    try:
        with first.engine.connect() as connection:
            versions = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
        assert len(versions) == 1

        question_id = first.record_question(
            QuestionRecord("slack", "C1", "U1", "q?", True, "a", thread="T1")
        )
        assert second.last_question_in_thread("slack", "C1", "T1") == "q?"
        assert second.record_vote(question_id, "U2", 1)
        assert first.votes(question_id) == (1, 0)
        # The same user hashes alike on every replica, so one vote per person holds across them.
        assert first.record_vote(question_id, "U2", -1)
        assert second.votes(question_id) == (0, 1)
    finally:
        first.close()
        second.close()
