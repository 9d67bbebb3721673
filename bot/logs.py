"""Logging for a running CiteBot: text or JSON lines, one line per question, secrets scrubbed.

The per-question line (logger ``citebot.questions``, message ``question``) carries the platform,
the outcome (answered, refused, invalid, rate_limited, error, unavailable), the latency and, for
an answer, the document, paragraph and score. It carries no message text and no user or channel
id unless ``CITEBOT_LOG_QUESTION_TEXT`` is on, and then only the question text.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable

from pythonjsonlogger.json import JsonFormatter

from .settings import Settings

QUESTIONS = logging.getLogger("citebot.questions")

# Off until configure_logging() is told otherwise: a process that never configures logging
# (a test, a library user) must not start writing questions to its logs.
_include_text = False

# Every attribute a plain LogRecord has; anything else on a record came in through ``extra=``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}

# Shorter values would be scrubbed out of ordinary words; no real token or password is this short.
_MIN_SECRET = 8


def log_question(
    platform: str, outcome: str, seconds: float, *, answer=None, text: str | None = None
) -> None:
    fields: dict = {"platform": platform, "outcome": outcome, "latency_ms": round(seconds * 1000, 1)}
    best = answer.best if answer is not None else None
    if best is not None:
        fields.update(document=best.document, paragraph=best.paragraph, score=round(best.score, 3))
    if _include_text and text is not None:
        fields["question"] = text
    QUESTIONS.info("question", extra=fields)


class KeyValueFormatter(logging.Formatter):
    """The usual text line, then the record's extra fields as ``key=value`` (JSON-quoted when
    they contain spaces), so the text format carries what the JSON one does."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if not extras:
            return line
        pairs = " ".join(f"{k}={_text_value(v)}" for k, v in extras.items())
        head, newline, rest = line.partition("\n")  # keep a traceback below the fields
        return f"{head} {pairs}{newline}{rest}"


def _text_value(value) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if not text or any(c.isspace() or c == '"' for c in text) else text


class ScrubbingFormatter(logging.Formatter):
    """Replaces every configured secret in the finished line, tracebacks included: a library that
    logs a URL or a header must not leak a token."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]):
        super().__init__()
        self.inner = inner
        forms = set()
        for secret in secrets:
            if secret and len(secret) >= _MIN_SECRET:
                forms.add(secret)
                forms.add(json.dumps(secret)[1:-1])  # as it appears inside a JSON string
        self.secrets = sorted(forms, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        line = self.inner.format(record)
        for secret in self.secrets:
            line = line.replace(secret, "***")
        return line


def secret_values(settings: Settings) -> list[str]:
    """The values that must never appear in a log line."""
    from sqlalchemy.engine import make_url

    values = [
        value.get_secret_value()
        for value in (
            settings.slack_bot_token,
            settings.slack_app_token,
            settings.slack_signing_secret,
            settings.discord_token,
            settings.user_salt,
        )
        if value is not None
    ]
    if settings.database_url:
        try:
            password = make_url(settings.database_url).password
        except Exception:  # an unparseable URL is reported by the settings check, not here
            password = None
        if password:
            values.append(str(password))
    return values


def make_formatter(settings: Settings) -> logging.Formatter:
    if settings.log_format == "json":
        inner: logging.Formatter = JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    else:
        inner = KeyValueFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    return ScrubbingFormatter(inner, secret_values(settings))


class CiteBotHandler(logging.StreamHandler):
    """The handler configure_logging installs, told apart from handlers others installed."""


def configure_logging(settings: Settings, stream=None) -> logging.Handler:
    """Send every log line (CiteBot's and the libraries') to ``stream`` (stderr) in the chosen
    format. Replaces handlers a previous call installed, so it can be called again."""
    global _include_text
    _include_text = settings.log_question_text
    handler = CiteBotHandler(stream or sys.stderr)
    handler.setFormatter(make_formatter(settings))
    # On the handler too: some libraries set their own loggers' levels when imported (later).
    handler.setLevel(settings.log_level)
    if settings.log_level != "DEBUG":
        handler.addFilter(_quiet_chatty)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, CiteBotHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    return handler


def _quiet_chatty(record: logging.LogRecord) -> bool:
    # A line per health probe, per migration plugin or per BM25 build drowns the lines that
    # matter; these libraries speak up again at CITEBOT_LOG_LEVEL=DEBUG.
    return record.levelno >= logging.WARNING or not record.name.startswith(_CHATTY)


_CHATTY = (
    "aiohttp.access", "alembic", "apscheduler", "bm25s", "faiss.loader", "sentence_transformers",
)
