"""The answer path's per-question savings change nothing that is answered: cached word stems,
answer types and window parts give the same answers as computing them afresh, and the stop
words are scikit-learn's list without importing scikit-learn."""

from __future__ import annotations

import os
import subprocess
import sys

from index import search, spans
from index.engine import CiteIndex

from .conftest import CORPUS, PROJECT_ROOT


def test_stop_words_are_scikit_learns_list():
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    extra = {"did", "does", "doing", "s", "t", "say", "said", "tell"}
    assert search._stopwords() == frozenset(ENGLISH_STOP_WORDS) | extra


def test_cached_terms_hand_out_fresh_lists():
    first = search.terms("How much did Xi pledge to Central Asia?")
    assert first == ["xi", "pledg", "central", "asia"]
    first.append("changed")
    assert search.terms("How much did Xi pledge to Central Asia?") == ["xi", "pledg", "central", "asia"]


def _clear_caches(index) -> None:
    search._cached_terms.cache_clear()
    spans.answer_type.cache_clear()
    spans._cached_candidates.cache_clear()
    spans._token_terms.cache_clear()
    index._answerer.retriever._sum_norms.clear()
    index._answerer.retriever._window_parts.clear()


def test_answers_are_the_same_with_warm_and_cleared_caches(fake_index):
    questions = [line for line in (PROJECT_ROOT / "bench" / "data" / "article_questions.txt")
                 .read_text(encoding="utf-8").splitlines() if line.strip()]

    def answers():
        found = []
        for question in questions:
            data = fake_index.ask(question, top=3).to_json()
            data.pop("latency_ms")
            found.append(data)
        return found

    _clear_caches(fake_index)
    cold = answers()
    warm = answers()  # every cache filled by the first pass
    assert warm == cold
    _clear_caches(fake_index)
    assert answers() == cold


def test_asking_imports_neither_scikit_learn_nor_the_database(tmp_path):
    script = (
        "import sys\n"
        "from bot.cli import main\n"
        "try:\n"
        "    main(['ask', 'how much did Xi pledge?'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('HEAVY', ','.join(m for m in ('sklearn', 'torch', 'sqlalchemy') if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CITEBOT_", "SLACK_", "DISCORD_"))}
    env.update(CITEBOT_HOME=str(tmp_path / "home"), CITEBOT_CORPUS=str(CORPUS),
               CITEBOT_EMBEDDER="hashing", PYTHONPATH=str(PROJECT_ROOT))
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "HEAVY", done.stdout + done.stderr
    assert "Rmb26bn" in done.stdout or "paragraph" in done.stdout


def test_a_new_snapshot_starts_with_empty_caches(tmp_path, fake_embedder, corpus_copy):
    index = CiteIndex(tmp_path / "home", embedder=fake_embedder, corpus=corpus_copy)
    index.ask("how much did Xi pledge?")
    assert index._answerer.retriever._window_parts
    (corpus_copy / "extra.md").write_text("# Extra\n\nThe summit ended on Friday.\n", encoding="utf-8")
    index.add([corpus_copy / "extra.md"])
    assert index._answerer.retriever._window_parts == {}  # window ids of the old snapshot are gone
    assert index.ask("when did the summit end?").citations
