"""What a running CiteBot tells its operators: one log line per question (text or JSON, no
message content by default, secrets scrubbed) and Prometheus counters, counted in the
answering service so every platform is measured alike."""

from __future__ import annotations

import io
import json
import logging

import pytest
from prometheus_client import REGISTRY

from bot import logs
from bot.service import AnswerService, Question
from bot.settings import Settings
from bot.state import StateStore
from index.errors import QuestionError

USER = "U0SECRETUSER"
CHANNEL = "C0PRIVATECHANNEL"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def service(fake_index, tmp_path):
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield AnswerService(fake_index, state)
    state.close()


@pytest.fixture
def log_to(isolated_home):
    """Configure CiteBot's logging into a buffer; undo it afterwards (it is process-wide)."""
    installed = []

    def configure(**settings) -> io.StringIO:
        buffer = io.StringIO()
        installed.append(logs.configure_logging(
            Settings(home=isolated_home, **settings), stream=buffer
        ))
        return buffer

    root = logging.getLogger()
    level = root.level
    yield configure
    for handler in installed:
        root.removeHandler(handler)
    root.setLevel(level)
    logs._include_text = False


def question_lines(buffer: io.StringIO) -> list[dict]:
    records = [json.loads(line) for line in buffer.getvalue().splitlines()]
    return [r for r in records if r["logger"] == "citebot.questions"]


@pytest.mark.asyncio
async def test_one_json_line_per_question_with_latency_and_outcome_and_no_content(service, log_to):
    buffer = log_to(log_format="json")
    await service.ask(Question("slack", CHANNEL, USER, "Rmb26bn financing support"))
    await service.ask(Question("discord", CHANNEL, USER, "How do I bake banana bread?"))
    with pytest.raises(QuestionError):
        await service.ask(Question("slack", CHANNEL, USER, "   "))

    answered, refused, invalid = question_lines(buffer)
    assert answered["message"] == "question" and answered["level"] == "INFO"
    assert (answered["platform"], answered["outcome"]) == ("slack", "answered")
    assert answered["paragraph"] == 6 and isinstance(answered["latency_ms"], float)
    assert (refused["platform"], refused["outcome"]) == ("discord", "refused")
    assert invalid["outcome"] == "invalid"
    text = buffer.getvalue()
    for private in ("Rmb26bn financing support", "banana", USER, CHANNEL):
        assert private not in text


@pytest.mark.asyncio
async def test_text_format_and_the_opt_in_for_question_text(service, log_to):
    buffer = log_to(log_format="text", log_question_text=True)
    await service.ask(Question("slack", CHANNEL, USER, "Rmb26bn financing support"))
    [line] = [ln for ln in buffer.getvalue().splitlines() if "citebot.questions" in ln]
    assert " INFO citebot.questions: question platform=slack outcome=answered latency_ms=" in line
    assert 'question="Rmb26bn financing support"' in line
    assert USER not in line and CHANNEL not in line


def test_secrets_are_scrubbed_from_every_line_tracebacks_included(log_to):
    token = "xoxb-9999-scrub-me-please"
    buffer = log_to(log_format="json", slack_bot_token=token,
                    database_url="postgresql://bot:pw-scrub-me-too@db/citebot")
    log = logging.getLogger("some.library")
    log.warning("calling https://slack.com/api/auth.test with Bearer %s", token)
    try:
        raise RuntimeError("connection failed for postgresql://bot:pw-scrub-me-too@db/citebot")
    except RuntimeError:
        log.exception("database down")
    out = buffer.getvalue()
    assert token not in out and "pw-scrub-me-too" not in out
    assert out.count("***") >= 3
    assert all(json.loads(line) for line in out.splitlines())


def test_log_level_setting_filters(log_to):
    buffer = log_to(log_format="text", log_level="warning")
    logging.getLogger("citebot.test").info("quiet")
    logging.getLogger("citebot.test").warning("loud")
    assert "loud" in buffer.getvalue() and "quiet" not in buffer.getvalue()


def test_library_chatter_is_kept_out_unless_debugging(log_to):
    probe = logging.getLogger("aiohttp.access")
    probe.setLevel(logging.DEBUG)  # as libraries do to their own loggers
    buffer = log_to(log_format="text")
    probe.info("GET /healthz 200")
    probe.warning("GET /healthz took 9s")
    assert "200" not in buffer.getvalue() and "took 9s" in buffer.getvalue()

    debugging = log_to(log_format="text", log_level="DEBUG")
    probe.info("GET /metrics 200")
    assert "GET /metrics 200" in debugging.getvalue()
    probe.setLevel(logging.NOTSET)


@pytest.mark.asyncio
async def test_metrics_count_questions_outcomes_latency_feedback_and_errors(service):
    before = {
        "questions": sample("citebot_questions_total", platform="slack"),
        "answered": sample("citebot_answered_total", platform="slack"),
        "refused": sample("citebot_refused_total", platform="slack"),
        "invalid": sample("citebot_invalid_questions_total", platform="slack"),
        "latency": sample("citebot_answer_latency_seconds_count", platform="slack"),
        "up": sample("citebot_feedback_total", vote="up"),
        "down": sample("citebot_feedback_total", vote="down"),
        "state": sample("citebot_errors_total", where="state"),
    }
    reply = await service.ask(Question("slack", "C1", "U1", "Rmb26bn financing support"))
    await service.ask(Question("slack", "C1", "U1", "How do I bake banana bread?"))
    with pytest.raises(QuestionError):
        await service.ask(Question("slack", "C1", "U1", ""))
    assert await service.vote(reply.question_id, "U2", 1)
    assert await service.vote(reply.question_id, "U3", -1)
    assert not await service.vote(999999, "U3", -1)  # unknown answer: not a vote

    assert sample("citebot_questions_total", platform="slack") == before["questions"] + 3
    assert sample("citebot_answered_total", platform="slack") == before["answered"] + 1
    assert sample("citebot_refused_total", platform="slack") == before["refused"] + 1
    assert sample("citebot_invalid_questions_total", platform="slack") == before["invalid"] + 1
    assert sample("citebot_answer_latency_seconds_count", platform="slack") == before["latency"] + 2
    assert sample("citebot_feedback_total", vote="up") == before["up"] + 1
    assert sample("citebot_feedback_total", vote="down") == before["down"] + 1
    assert sample("citebot_questions_in_flight") == 0

    service.state.engine.dispose()
    service.state.engine = __import__("sqlalchemy").create_engine("sqlite:////nonexistent/x.db")
    await service.ask(Question("slack", "C1", "U1", "Rmb26bn financing support"))
    # Two store calls fail for that question: the channel's collections and the record.
    assert sample("citebot_errors_total", where="state") == before["state"] + 2


@pytest.mark.asyncio
async def test_an_answering_failure_counts_as_an_error_and_logs_its_outcome(service, log_to):
    buffer = log_to(log_format="json")
    before = sample("citebot_errors_total", where="answer")

    def broken(*_args, **_kw):
        raise RuntimeError("index exploded")

    service.index.ask = broken
    with pytest.raises(RuntimeError):
        await service.ask(Question("slack", "C1", "U1", "Rmb26bn"))
    assert sample("citebot_errors_total", where="answer") == before + 1
    [line] = question_lines(buffer)
    assert line["outcome"] == "error"
