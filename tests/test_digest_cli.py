"""``citebot digest preview | send | list``, run in-process with the fast fake embedder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.digest.render import long_date
from bot.settings import get_settings
from bot.state import QuestionRecord, StateStore, default_database_url
from index.embedders import HashingEmbedder
from index.engine import CiteIndex
from index.keypoints import key_points
from tests.conftest import CORPUS
from tests.fakes.slack_api import FakeSlackWebAPI

TOKEN = "xoxb-test"
ARTICLE = "ft-xi-central-asia-2023"


@pytest.fixture
def run(monkeypatch):
    monkeypatch.setenv("CITEBOT_EMBEDDER", "hashing")

    def invoke(*args, env=None):
        get_settings.cache_clear()  # each run reads its environment afresh, like a new process
        return CliRunner().invoke(main, ["digest", *args], env=env)

    return invoke


@pytest.fixture
def state(isolated_home):
    isolated_home.mkdir(parents=True, exist_ok=True)
    store = StateStore(default_database_url(isolated_home))
    yield store
    store.close()


def test_preview_prints_todays_digest_with_the_articles_key_points(run, isolated_home):
    before = datetime.now(UTC)
    result = run("preview")
    after = datetime.now(UTC)
    assert result.exit_code == 0, result.output
    title = result.output.splitlines()[0]
    assert title in {
        f"CiteBot digest — {long_date(before)}",
        f"CiteBot digest — {long_date(after)}",
    }
    assert "1 new document, 0 questions asked" in result.output
    assert "Xi Jinping pushes Central Asian defence co-operation plan" in result.output

    index = CiteIndex(isolated_home, embedder=HashingEmbedder(), corpus=CORPUS)
    points = key_points(index.snapshot(), ARTICLE)
    assert 3 <= len(points) <= 5
    for point in points:
        assert f"{point.text}" in result.output
        assert f"(paragraph {point.paragraph})" in result.output
    # A preview records nothing.
    store = StateStore(default_database_url(isolated_home))
    assert store.digest_runs("slack", "C1") == [] and store.digested_documents(None, None) == set()
    store.close()


def test_preview_of_a_channel_shows_its_questions_only(run, state):
    now = datetime.now(UTC)
    for question, channel, answered in (
        ("How much did Xi pledge?", "C1", True),
        ("What is the capital of Peru?", "C1", False),
        ("Where was the summit held?", "C2", True),
    ):
        state.record_question(
            QuestionRecord(
                "slack", channel, "U1", question, answered, "Rmb26bn" if answered else ""
            ),
            at=now - timedelta(hours=1),
        )
    result = run("preview", "--platform", "slack", "--channel", "C1")
    assert result.exit_code == 0, result.output
    assert "2 questions asked, 1 answered" in result.output
    assert "“How much did Xi pledge?” — Rmb26bn" in result.output
    assert "NOT ANSWERED (1)" in result.output and "What is the capital of Peru?" in result.output
    assert "Where was the summit held?" not in result.output

    lonely = run("preview", "--channel", "C1")
    assert lonely.exit_code == 1 and "--platform and --channel together" in lonely.output


def test_send_posts_to_slack_and_list_shows_the_channels(run, state):
    state.set_digest("slack", "C1", enabled=True, at_time="09:00", timezone_name="Europe/London")
    with FakeSlackWebAPI(token=TOKEN) as fake:
        env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": fake.base_url}
        result = run("send", "--platform", "slack", "--channel", "C1", env=env)
        assert result.exit_code == 0, result.output
        [post] = fake.calls("chat.postMessage", ok_only=True)
    ts = fake.posted_messages("C1")[0]["ts"]
    assert result.output.strip() == f"posted the digest to slack C1 (message {ts})"
    assert post["channel"] == "C1" and post["blocks"][0]["type"] == "header"

    listed = run("list")
    assert listed.exit_code == 0
    [line] = listed.output.strip().splitlines()
    assert line.startswith("slack    C1") and "09:00 Europe/London, next " in line
    assert "last posted" in line


def test_send_without_a_token_names_the_setting(run):
    result = run("send", "--platform", "slack", "--channel", "C1", env={"SLACK_BOT_TOKEN": ""})
    assert result.exit_code == 1 and "SLACK_BOT_TOKEN" in result.output
    assert run("list").output.startswith("No channel gets the digest yet")
