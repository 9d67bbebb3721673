"""Slack's HTTP mode: a request whose signature is missing, wrong, stale (over five minutes) or
made for another body is refused with 401, and nothing of it is processed: no question recorded,
no setting changed, no Web API call made."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.fakes.slack_api import (
    app_mention_event,
    block_actions_payload,
    event_callback,
    sign_request,
    slash_command_form,
)
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

SIGNATURE = "X-Slack-Signature"
TIMESTAMP = "X-Slack-Request-Timestamp"


def without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() != name.lower()}


def bad_headers(body: bytes, content_type: str) -> dict[str, dict[str, str]]:
    now = int(time.time())
    good = sign_request(body, SECRET, content_type=content_type)
    return {
        "no headers": {"Content-Type": content_type},
        "no signature": without(good, SIGNATURE),
        "no timestamp": without(good, TIMESTAMP),
        "empty signature": {**good, SIGNATURE: ""},
        "wrong secret": sign_request(body, "not-the-secret", content_type=content_type),
        "signature of another body": sign_request(body + b" ", SECRET, content_type=content_type),
        "wrong version": {**good, SIGNATURE: good[SIGNATURE].replace("v0=", "v1=")},
        "stale by 5 min 10 s": sign_request(body, SECRET, now - 310, content_type=content_type),
        "stale by an hour": sign_request(body, SECRET, now - 3600, content_type=content_type),
        "from the future": sign_request(body, SECRET, now + 3600, content_type=content_type),
    }


async def assert_nothing_processed(slack) -> None:
    await asyncio.sleep(0.3)  # time for a wrongly accepted request to reach a listener
    assert slack.fake.requests == []
    assert _questions(slack.state) == []
    assert not slack.state.answer_all("slack", "C1")


@pytest.mark.asyncio
async def test_events_with_bad_signatures_are_refused_and_ignored(slack):
    envelope = event_callback(
        app_mention_event(f"<@UBOT> {QUESTION}", "C1", "U1", slack.ts()), event_id="Ev0SIG"
    )
    body = json.dumps(envelope).encode()
    for case, headers in bad_headers(body, "application/json").items():
        response = await slack.post(body, headers)
        assert response.status == 401, case
    await assert_nothing_processed(slack)

    # A signature still inside the five minutes is accepted, so the window is not just "now".
    recent = sign_request(body, SECRET, int(time.time()) - 240, content_type="application/json")
    assert (await slack.post(body, recent)).status == 200
    await slack.posts(1)


@pytest.mark.asyncio
async def test_commands_and_button_clicks_with_bad_signatures_are_refused(slack):
    command = slash_command_form(
        "/citebot", "answer-all on", "UBOSS", "C1", slack.fake.response_url()
    )
    ask = slash_command_form("/ask", QUESTION, "U1", "C1", slack.fake.response_url())
    vote = block_actions_payload(
        "citebot_vote_up", "1", "U1", "C1", slack.ts(), slack.fake.response_url("v")
    )
    for body, content_type in (
        (command, "application/x-www-form-urlencoded"),
        (ask, "application/x-www-form-urlencoded"),
        (vote, "application/x-www-form-urlencoded"),
    ):
        for case, headers in bad_headers(body, content_type).items():
            response = await slack.post(body, headers)
            assert response.status == 401, case
    await assert_nothing_processed(slack)


@pytest.mark.asyncio
async def test_a_timestamp_that_is_not_a_number_is_refused(slack):
    body = json.dumps(event_callback(app_mention_event(f"<@UBOT> {QUESTION}", "C1", "U1", slack.ts()))).encode()
    headers = {**sign_request(body, SECRET, content_type="application/json"), TIMESTAMP: "yesterday"}
    response = await slack.post(body, headers)
    await assert_nothing_processed(slack)  # even now, nothing gets through
    assert response.status == 401
