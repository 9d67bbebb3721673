"""``POST /slack/events`` with junk: a body that fails the signature check is refused with 401
before it is parsed at all (so nobody who can reach the port can fill the logs with tracebacks),
and a correctly signed but malformed body is a 4xx with one log line and no traceback. Either way
nothing reaches Slack's Web API and nothing is recorded."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time

import pytest

from tests.fakes.slack_api import app_mention_event, event_callback
from tests.test_slack_app import (  # noqa: F401 (fixtures)
    QUESTION,
    SECRET,
    _questions,
    fake,
    make_slack,
    settings,
    slack,
    state,
)

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
# The bodies the issue sent, and a few more of the same kind.
JUNK = {
    "not json": (b"not json", JSON),
    "a list": (b"[]", JSON),
    "null": (b"null", JSON),
    "a number": (b"42", JSON),
    "a string": (b'"event_callback"', JSON),
    "truncated object": (b'{"type": "event_callback", "event": {', JSON),
    "payload not json": (b"payload=%7B", FORM),
    "payload a list": (b"payload=%5B%5D", FORM),
    "form with no fields": (b"&&&", FORM),
    "invalid utf-8": (b"\xff\xfe{}", JSON),
    "empty": (b"", JSON),
}
# Signed, well-formed JSON whose contents are not what Slack sends.
MALFORMED_EVENTS = {
    "event is a string": {"type": "event_callback", "event": "str", "team_id": "T1"},
    "event is a list": {"type": "event_callback", "event": [], "team_id": "T1"},
    "mention without a channel": {
        "type": "event_callback", "team_id": "T1", "event_id": "Ev1",
        "event": {"type": "app_mention", "user": "U1", "text": "<@UBOT> hi", "ts": "1.2"},
    },
    "mention whose text is a number": {
        "type": "event_callback", "team_id": "T1", "event_id": "Ev2",
        "event": {"type": "app_mention", "user": "U1", "text": 5, "ts": "1.2", "channel": "C1"},
    },
    "message with a channel object": {
        "type": "event_callback", "team_id": "T1", "event_id": "Ev3",
        "event": {"type": "message", "channel_type": "im", "user": "U1", "text": "hi",
                  "ts": "1.2", "channel": {"id": "D1"}},
    },
    "no type": {"team_id": "T1"},
}


def sign_request(body: bytes, secret: str, *, content_type: str) -> dict[str, str]:
    """Slack's v0 signature over the raw bytes (the fake's helper wants text; junk may not be)."""
    timestamp = str(int(time.time()))
    base = b"v0:" + timestamp.encode() + b":" + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature,
            "Content-Type": content_type}


def tracebacks(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info or r.stack_info or "Traceback" in r.getMessage()]


async def assert_nothing_done(slack) -> None:
    await asyncio.sleep(0.3)  # time for a wrongly accepted request to reach a listener
    assert slack.fake.requests == []
    assert _questions(slack.state) == []


@pytest.mark.asyncio
@pytest.mark.parametrize("case", JUNK)
async def test_junk_with_a_bad_or_missing_signature_is_401_unparsed(slack, caplog, case):
    body, content_type = JUNK[case]
    for headers in (
        {"Content-Type": content_type},
        sign_request(body, "not-the-secret", content_type=content_type),
        {**sign_request(body, SECRET, content_type=content_type), "X-Slack-Signature": "v0=00"},
    ):
        with caplog.at_level(logging.DEBUG):
            response = await slack.post(body, headers)
        assert response.status == 401, await response.text()
    assert not tracebacks(caplog), [r.getMessage() for r in tracebacks(caplog)]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await assert_nothing_done(slack)


@pytest.mark.asyncio
@pytest.mark.parametrize("case", [c for c in JUNK if c != "invalid utf-8"])
async def test_signed_junk_is_a_4xx_with_one_log_line(slack, caplog, case):
    body, content_type = JUNK[case]
    with caplog.at_level(logging.INFO):
        response = await slack.post(body, sign_request(body, SECRET, content_type=content_type))
    assert 400 <= response.status < 500, (response.status, await response.text())
    assert not tracebacks(caplog), [r.getMessage() for r in tracebacks(caplog)]
    refused = [r for r in caplog.records if r.name.startswith("citebot") and "refused" in r.getMessage()]
    assert len(refused) == 1, [r.getMessage() for r in caplog.records]
    await assert_nothing_done(slack)


@pytest.mark.asyncio
async def test_a_body_that_is_not_utf8_cannot_be_signed(slack, caplog):
    """Slack signs text; bytes that are not UTF-8 fail the check like any other bad signature."""
    body, content_type = JUNK["invalid utf-8"]
    response = await slack.post(body, sign_request(body, SECRET, content_type=content_type))
    assert response.status == 401
    assert not tracebacks(caplog)
    await assert_nothing_done(slack)


@pytest.mark.asyncio
@pytest.mark.parametrize("case", MALFORMED_EVENTS)
async def test_signed_malformed_events_are_not_a_500(slack, caplog, case):
    body = json.dumps(MALFORMED_EVENTS[case]).encode()
    with caplog.at_level(logging.INFO):
        response = await slack.post(body, sign_request(body, SECRET, content_type=JSON))
    assert response.status < 500, await response.text()
    assert not tracebacks(caplog), [r.getMessage() for r in tracebacks(caplog)]
    await assert_nothing_done(slack)


@pytest.mark.asyncio
async def test_a_good_event_after_the_junk_is_still_answered(slack):
    for body, content_type in JUNK.values():
        await slack.post(body, sign_request(body, SECRET, content_type=content_type))
    envelope = event_callback(app_mention_event(f"<@UBOT> {QUESTION}", "C1", "U1", slack.ts()))
    body = json.dumps(envelope).encode()
    response = await slack.post(body, sign_request(body, SECRET, content_type=JSON))
    assert response.status == 200
    [posted] = await slack.posts(1)
    assert "Rmb26bn" in json.dumps(posted)
