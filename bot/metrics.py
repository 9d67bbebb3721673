"""Prometheus metrics, served on ``/metrics`` by the bot's one HTTP server.

Counted where answers happen (:class:`bot.service.AnswerService`), so every platform — Slack,
Discord, the console — is measured the same way. Labels are low-cardinality on purpose: the
platform and an outcome, never a channel, a user or any text.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

QUESTIONS = Counter("citebot_questions", "Questions asked.", ["platform"])
ANSWERED = Counter("citebot_answered", "Questions answered from the documents.", ["platform"])
REFUSED = Counter(
    "citebot_refused", "Questions the documents do not answer (the closest passage was shown).",
    ["platform"],
)
INVALID = Counter("citebot_invalid_questions", "Questions rejected as unusable (empty, too long).",
                  ["platform"])
LATENCY = Histogram(
    "citebot_answer_latency_seconds",
    "Time from a question reaching the answering service to its answer.",
    ["platform"],
    # Hashing-embedder answers take milliseconds, a cold model several seconds.
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
FEEDBACK = Counter("citebot_feedback", "Votes on answers.", ["vote"])
ERRORS = Counter(
    "citebot_errors", "Failures inside CiteBot: answering, or the state store.", ["where"]
)
IN_FLIGHT = Gauge("citebot_questions_in_flight", "Questions being answered right now.")
RATE_LIMITED = Counter(
    "citebot_rate_limited", "Questions refused because the person asked over CITEBOT_RATE_LIMIT.",
    ["platform"],
)
STATE_UNSAVED = Gauge(
    "citebot_state_unsaved",
    "Question and vote records kept in memory while the state store is unreachable.",
)
STATE_DROPPED = Counter(
    "citebot_state_dropped",
    "Records given up because the state store stayed unreachable past the in-memory bound.",
)

LLM_ANSWERED = Counter(
    "citebot_llm_answered",
    "Questions whose shown reply came from the language model (CITEBOT_LLM_URL): a checked "
    "answer, or its finding that the documents do not say.",
    ["platform"],
)
LLM_REJECTED = Counter(
    "citebot_llm_rejected",
    "Language model answers not shown (the reader answered instead), by reason: timeout, "
    "error, unparseable, unsupported_claim, ... (index.llm_reader.REASONS).",
    ["platform", "reason"],
)


def observe_reader(platform: str, reader: str, llm_rejected: str | None) -> None:
    """Count what a language model, when one is configured, contributed to one answer."""
    if llm_rejected:
        LLM_REJECTED.labels(platform, llm_rejected).inc()
    elif reader == "llm":
        LLM_ANSWERED.labels(platform).inc()


def observe_question(platform: str, outcome: str, seconds: float) -> None:
    """Count one question. ``outcome`` is answered, refused, invalid, rate_limited or error."""
    QUESTIONS.labels(platform).inc()
    if outcome == "rate_limited":
        RATE_LIMITED.labels(platform).inc()
    elif outcome == "answered":
        ANSWERED.labels(platform).inc()
    elif outcome == "refused":
        REFUSED.labels(platform).inc()
    elif outcome == "invalid":
        INVALID.labels(platform).inc()
    else:
        ERRORS.labels("answer").inc()
    if outcome in ("answered", "refused"):
        LATENCY.labels(platform).observe(seconds)


def observe_vote(vote: int) -> None:
    FEEDBACK.labels("up" if vote > 0 else "down").inc()


def observe_error(where: str) -> None:
    ERRORS.labels(where).inc()


def exposition() -> tuple[bytes, str]:
    """The current metrics in Prometheus' text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
