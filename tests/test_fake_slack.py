"""Proves tests/fakes works with the real slack_sdk and slack_bolt clients over real HTTP."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import (
    FakeSlackWebAPI,
    app_mention_event,
    block_actions_payload,
    event_callback,
    message_event,
    message_shortcut_payload,
    sign_request,
    signed_json,
    slash_command,
    slash_command_form,
)
from tests.fakes.slack_socket import FakeSlackSocketMode

SECRET = "test-signing-secret"
TOKEN = "xoxb-test"


@pytest.fixture
def fake():
    with FakeSlackWebAPI(token=TOKEN) as server:
        yield server


def make_app(fake: FakeSlackWebAPI, **kwargs) -> AsyncApp:
    # AsyncApp copies base_url/retry_handlers from this client into the per-request
    # client it hands listeners, so this is the one place to point bolt at the fake.
    client = AsyncWebClient(token=TOKEN, base_url=fake.base_url, **kwargs)
    return AsyncApp(client=client, signing_secret=SECRET)


# ---------------------------------------------------------------- slack_sdk Web API


@pytest.mark.asyncio
async def test_post_message_blocks_are_recorded_decoded(fake):
    client = AsyncWebClient(token=TOKEN, base_url=fake.base_url)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Answer* [1]"}}]

    resp = await client.chat_postMessage(channel="C1", text="Answer", blocks=blocks, thread_ts="1699999999.000001")

    [req] = fake.requests_for("chat.postMessage")
    assert req.body["blocks"] == blocks
    assert req.body["thread_ts"] == "1699999999.000001"
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    assert req.headers["content-type"].startswith("application/json")
    assert resp["ok"] and resp["channel"] == "C1"
    assert resp["message"]["blocks"] == blocks and resp["message"]["user"] == "UBOT"
    second = await client.chat_postMessage(channel="C1", text="again")
    assert float(second["ts"]) > float(resp["ts"]) > 1699999999.000001


@pytest.mark.asyncio
async def test_form_encoded_blocks_string_is_decoded(fake):
    client = AsyncWebClient(token=TOKEN, base_url=fake.base_url)
    blocks = [{"type": "divider"}]
    await client.api_call("chat.postMessage", data={"channel": "C1", "text": "x", "blocks": json.dumps(blocks)})

    [req] = fake.requests_for("chat.postMessage")
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    assert req.body["blocks"] == blocks
    assert req.ok


@pytest.mark.asyncio
async def test_rate_limited_then_success_is_retried(fake):
    client = AsyncWebClient(
        token=TOKEN,
        base_url=fake.base_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    # retry_after=0: slack_sdk sleeps Retry-After + random() seconds.
    fake.fail_next("chat.postMessage", status=429, retry_after=0)

    resp = await client.chat_postMessage(channel="C1", text="hello")

    attempts = fake.requests_for("chat.postMessage")
    assert [a.status for a in attempts] == [429, 200]
    assert attempts[0].failed and attempts[0].response["error"] == "ratelimited"
    assert resp["ok"] is True
    assert len(fake.calls("chat.postMessage")) == 2
    assert len(fake.calls("chat.postMessage", ok_only=True)) == 1


@pytest.mark.asyncio
async def test_server_error_without_and_with_retry_handler(fake):
    plain = AsyncWebClient(token=TOKEN, base_url=fake.base_url)
    fake.fail_next("reactions.add", status=500)
    with pytest.raises(SlackApiError) as err:
        await plain.reactions_add(channel="C1", timestamp="1.000001", name="eyes")
    assert err.value.response.status_code == 500

    retrying = AsyncWebClient(
        token=TOKEN, base_url=fake.base_url, retry_handlers=[AsyncServerErrorRetryHandler(max_retry_count=1)]
    )
    fake.fail_next("reactions.add", status=503)
    # the interval calculator backs off ~0.5-1.5s before retrying
    resp = await retrying.reactions_add(channel="C1", timestamp="1.000001", name="eyes")
    assert resp["ok"]
    assert [r.status for r in fake.requests_for("reactions.add")] == [500, 503, 200]

    with pytest.raises(SlackApiError) as err:
        await plain.reactions_add(channel="C1", timestamp="1.000001", name="eyes")
    assert err.value.response["error"] == "already_reacted"


@pytest.mark.asyncio
async def test_api_level_errors(fake):
    bad = AsyncWebClient(token="xoxb-wrong", base_url=fake.base_url)
    with pytest.raises(SlackApiError) as err:
        await bad.auth_test()
    assert err.value.response["error"] == "invalid_auth"

    client = AsyncWebClient(token=TOKEN, base_url=fake.base_url)
    with pytest.raises(SlackApiError) as err:
        await client.api_call("no.such.method")
    assert err.value.response["error"] == "unknown_method"

    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(
            channel="C1", text="fallback", blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": ""}}]
        )
    assert err.value.response["error"] == "invalid_blocks"
    assert "/blocks/0/text/text" in err.value.response["errors"][0]

    fake.fail_next("chat.postMessage", status=200, body={"ok": False, "error": "not_in_channel"})
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1", text="x")
    assert err.value.response["error"] == "not_in_channel"


@pytest.mark.asyncio
async def test_auth_test_users_and_channels(fake):
    client = AsyncWebClient(token=TOKEN, base_url=fake.base_url)
    auth = await client.auth_test()
    assert auth["user_id"] == "UBOT" and auth["team_id"] == "T1" and auth["is_enterprise_install"] is False

    fake.set_user("UADMIN", is_admin=True, real_name="Ada Admin")
    admin = (await client.users_info(user="UADMIN"))["user"]
    assert admin["is_admin"] is True and admin["is_owner"] is False and admin["real_name"] == "Ada Admin"
    assert (await client.users_info(user="U2"))["user"]["is_admin"] is False
    assert fake.calls("users.info")[0]["user"] == "UADMIN"  # GET query params end up in body

    fake.set_channel("C9", name="support", is_private=True)
    info = (await client.conversations_info(channel="C9"))["channel"]
    assert info["name"] == "support" and info["is_private"] is True
    assert (await client.conversations_info(channel="D1"))["channel"]["is_im"] is True


@pytest.mark.asyncio
async def test_thread_replies_include_bot_posts_and_paginate(fake):
    client = AsyncWebClient(token=TOKEN, base_url=fake.base_url)
    assert [m["ts"] for m in (await client.conversations_replies(channel="C1", ts="1710000000.000100"))["messages"]] == [
        "1710000000.000100"
    ]

    fake.set_thread(
        "C1",
        "1710000000.000100",
        [
            {"user": "U1", "text": "<@UBOT> what is X?", "ts": "1710000000.000100"},
            {"user": "U2", "text": "good question", "ts": "1710000001.000100"},
        ],
    )
    posted = await client.chat_postMessage(channel="C1", thread_ts="1710000000.000100", text="X is Y [1]")
    assert float(posted["ts"]) > 1710000001.0001  # ts stays after the configured thread

    page1 = await client.conversations_replies(channel="C1", ts="1710000000.000100", limit=2)
    assert [m["user"] for m in page1["messages"]] == ["U1", "U2"] and page1["has_more"] is True
    page2 = await client.conversations_replies(
        channel="C1", ts="1710000000.000100", limit=2, cursor=page1["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in page2["messages"]] == ["X is Y [1]"] and page2["has_more"] is False

    updated = await client.chat_update(channel="C1", ts=posted["ts"], text="X is Z [1]")
    assert updated["text"] == "X is Z [1]"
    await client.chat_delete(channel="C1", ts=posted["ts"])
    with pytest.raises(SlackApiError) as err:
        await client.chat_update(channel="C1", ts=posted["ts"], text="gone")
    assert err.value.response["error"] == "message_not_found"


@pytest.mark.asyncio
async def test_files_info_and_authenticated_download(fake):
    fake.add_file("F1", "notes.txt", b"hello file", "text/plain")
    client = AsyncWebClient(token=TOKEN, base_url=fake.base_url)
    info = (await client.files_info(file="F1"))["file"]
    assert info["size"] == 10 and info["mimetype"] == "text/plain"

    async with aiohttp.ClientSession() as session:
        async with session.get(info["url_private_download"], headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            assert r.status == 200 and await r.read() == b"hello file"
        async with session.get(info["url_private"]) as r:
            assert r.content_type == "text/html"  # Slack's sign-in page, not the file
    assert len(fake.calls("file_download")) == 2


def test_sync_web_client_and_wait_for_sync(fake):
    client = WebClient(token=TOKEN, base_url=fake.base_url)
    client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    [body] = fake.wait_for_sync("chat.postEphemeral", timeout=1)
    assert body["user"] == "U1"
    with pytest.raises(AssertionError, match="chat.postEphemeral"):
        fake.wait_for_sync("chat.postMessage", timeout=0.05)


# ---------------------------------------------------------------- signing helpers


def test_sign_request_round_trips_through_slack_sdk_verifier():
    body = slash_command_form("/ask", "what is X?", "U1", "C1", "http://x/response/a")
    headers = sign_request(body, SECRET, retry_num=1)
    assert SignatureVerifier(SECRET).is_valid_request(body, headers)
    assert headers["X-Slack-Retry-Num"] == "1" and headers["X-Slack-Retry-Reason"] == "http_timeout"
    assert not SignatureVerifier("other").is_valid_request(body, headers)
    old = sign_request(body, SECRET, timestamp=int(time.time()) - 600)
    assert not SignatureVerifier(SECRET).is_valid_request(body, old)


# ---------------------------------------------------------------- slack_bolt AsyncApp over HTTP


@pytest.mark.asyncio
async def test_bolt_app_mention_over_signed_http_replies_in_thread(fake):
    app = make_app(fake)

    @app.event("app_mention")
    async def on_mention(event, say):
        await say(text="on it", thread_ts=event.get("thread_ts") or event["ts"])

    envelope = event_callback(app_mention_event("<@UBOT> what is X?", "C1", "U1", "1710000000.000200"))
    body, headers = signed_json(envelope, SECRET)

    async with TestClient(TestServer(app.web_app())) as http:
        resp = await http.post("/slack/events", data=body, headers=headers)
        assert resp.status == 200
        [post] = await fake.wait_for("chat.postMessage", timeout=3)

    assert post["channel"] == "C1"
    assert post["thread_ts"] == "1710000000.000200"
    assert post["text"] == "on it"
    assert fake.calls("auth.test")  # bolt's single-team authorization ran against the fake


@pytest.mark.asyncio
async def test_bolt_rejects_bad_signature_and_posts_nothing(fake):
    app = make_app(fake)

    @app.event("app_mention")
    async def on_mention(say):
        await say("should not happen")

    envelope = event_callback(app_mention_event("<@UBOT> hi", "C1", "U1", "1710000000.000300"))
    body = json.dumps(envelope).encode()
    headers = sign_request(body, "wrong-secret", content_type="application/json")

    async with TestClient(TestServer(app.web_app())) as http:
        resp = await http.post("/slack/events", data=body, headers=headers)
        assert resp.status == 401
        await asyncio.sleep(0.2)  # give a (wrongly) scheduled listener time to post
    assert fake.calls("chat.postMessage") == []
    assert fake.requests == []  # rejected before authorization, so not even auth.test


@pytest.mark.asyncio
async def test_bolt_dispatch_slash_command_responds_via_response_url(fake):
    app = make_app(fake)

    @app.command("/ask")
    async def ask(ack, command, respond):
        await ack()
        await respond(text=f"answer to {command['text']}", response_type="ephemeral")

    body = slash_command_form("/ask", "what is X?", "U1", "C1", fake.response_url("ask1"))
    resp = await app.async_dispatch(
        AsyncBoltRequest(body=body.decode(), headers=sign_request(body, SECRET))
    )
    assert resp.status == 200

    [sent] = await fake.wait_for("response_url", timeout=3)
    assert sent["text"] == "answer to what is X?" and sent["response_type"] == "ephemeral"
    assert fake.requests_for("response_url")[0].path == "/response/ask1"


@pytest.mark.asyncio
async def test_bolt_block_action_and_message_shortcut(fake):
    app = make_app(fake)

    @app.action("feedback_up")
    async def on_feedback(ack, body, client):
        await ack()
        await client.reactions_add(channel=body["channel"]["id"], timestamp=body["container"]["message_ts"], name="+1")

    @app.shortcut("cite_this")
    async def on_shortcut(ack, shortcut, respond):
        await ack()
        await respond(text=f"citing {shortcut['message']['text']}")

    body = block_actions_payload("feedback_up", "good", "U1", "C1", "1710000000.000400", fake.response_url("a"))
    resp = await app.async_dispatch(AsyncBoltRequest(body=body.decode(), headers=sign_request(body, SECRET)))
    assert resp.status == 200
    [reaction] = await fake.wait_for("reactions.add", timeout=3)
    # bolt's per-request client carries team_id, which slack_sdk adds to every call it makes
    assert reaction == {"channel": "C1", "timestamp": "1710000000.000400", "name": "+1", "team_id": "T1"}

    message = {"type": "message", "user": "U2", "text": "the claim", "ts": "1710000000.000500"}
    body = message_shortcut_payload("cite_this", message, "U1", "C1", fake.response_url("s"))
    resp = await app.async_dispatch(AsyncBoltRequest(body=body.decode(), headers=sign_request(body, SECRET)))
    assert resp.status == 200
    [sent] = await fake.wait_for("response_url", timeout=3)
    assert sent["text"] == "citing the claim"


# ---------------------------------------------------------------- Socket Mode


@pytest.mark.asyncio
async def test_socket_mode_event_and_slash_command_are_acked(fake):
    app = make_app(fake)

    @app.message("ping")
    async def on_dm(message, say):
        await say(text="pong", channel=message["channel"])

    @app.command("/ask")
    async def ask(ack, command):
        await ack(text=f"ack: {command['text']}")

    with FakeSlackSocketMode(fake) as sock:
        handler = AsyncSocketModeHandler(app, app_token="xapp-test")
        await handler.connect_async()
        try:
            await sock.wait_connected(timeout=3)
            eid = sock.push_event(event_callback(message_event("ping", "D1", "U1", "1710000000.000600", "im")))
            assert (await sock.wait_for_ack(eid, timeout=3)) == {"envelope_id": eid}
            [post] = await fake.wait_for("chat.postMessage", timeout=3)
            assert post["channel"] == "D1" and post["text"] == "pong"

            cid = sock.push_slash_command(slash_command("/ask", "X?", "U1", "C1", fake.response_url()))
            ack = await sock.wait_for_ack(cid, timeout=3)
            assert ack["payload"]["text"] == "ack: X?"
        finally:
            await handler.close_async()

    [open_call] = fake.requests_for("apps.connections.open")
    assert open_call.headers["authorization"] == "Bearer xapp-test" and open_call.ok
