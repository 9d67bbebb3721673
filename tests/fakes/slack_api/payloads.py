"""Inbound requests as Slack sends them: signed bodies, event callbacks, slash commands,
block actions and shortcuts."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

# ---------------------------------------------------------------------- inbound request helpers


def sign_request(
    body: bytes | str,
    signing_secret: str,
    timestamp: int | None = None,
    *,
    content_type: str | None = None,
    retry_num: int | None = None,
    retry_reason: str = "http_timeout",
) -> dict[str, str]:
    """Headers Slack would attach to ``body``: signature + timestamp (+ retry headers).

    ``retry_num`` adds X-Slack-Retry-Num / X-Slack-Retry-Reason as Slack does when it
    re-delivers an event it thinks failed (bolt acks those without running listeners
    unless told otherwise, which is worth a test of its own).
    """
    ts = int(time.time()) if timestamp is None else int(timestamp)
    signature = SignatureVerifier(signing_secret).generate_signature(timestamp=str(ts), body=body)
    assert signature is not None
    headers = {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": signature}
    if content_type:
        headers["Content-Type"] = content_type
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason
    return headers


def signed_json(payload: Mapping[str, Any], signing_secret: str, **kwargs: Any) -> tuple[bytes, dict[str, str]]:
    """(body, headers) for a JSON delivery such as an Events API envelope."""
    body = json.dumps(payload).encode("utf-8")
    return body, sign_request(body, signing_secret, content_type="application/json", **kwargs)


def form_payload(payload: Mapping[str, Any]) -> bytes:
    """Interactivity encoding: a single form field ``payload`` holding JSON."""
    return urlencode({"payload": json.dumps(payload)}).encode("utf-8")


_event_counter = itertools.count(1)


def _rich_text_blocks(text: str) -> list[dict[str, Any]]:
    elements: list[dict[str, Any]] = []
    pos = 0
    for m in re.finditer(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>", text):
        if m.start() > pos:
            elements.append({"type": "text", "text": text[pos : m.start()]})
        elements.append({"type": "user", "user_id": m.group(1)})
        pos = m.end()
    if pos < len(text):
        elements.append({"type": "text", "text": text[pos:]})
    block_id = base64.b32encode(hashlib.sha1(text.encode()).digest()[:3]).decode().rstrip("=")[:5]
    return [{"type": "rich_text", "block_id": block_id, "elements": [{"type": "rich_text_section", "elements": elements}]}]


def event_callback(
    event: Mapping[str, Any],
    event_id: str | None = None,
    team_id: str = "T1",
    api_app_id: str = "A1",
    *,
    bot_user_id: str = "UBOT",
    event_time: int | None = None,
    token: str = "verification-token",
) -> dict[str, Any]:
    """The Events API ``event_callback`` envelope wrapping ``event``."""
    return {
        "token": token,
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": api_app_id,
        "event": dict(event),
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_event_counter):08d}{uuid.uuid4().hex[:6].upper()}",
        "event_time": int(time.time()) if event_time is None else event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{base64.b64encode(uuid.uuid4().bytes).decode()}",
    }


def url_verification(challenge: str = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P") -> dict[str, Any]:
    return {"token": "verification-token", "challenge": challenge, "type": "url_verification"}


def app_mention_event(
    text: str,
    channel: str,
    user: str,
    ts: str,
    thread_ts: str | None = None,
    *,
    team: str = "T1",
    **extra: Any,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user,
        "text": text,
        "ts": ts,
        "client_msg_id": str(uuid.uuid4()),
        "team": team,
        "blocks": _rich_text_blocks(text),
        "channel": channel,
        "event_ts": ts,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    event.update(extra)
    return event


def message_event(
    text: str,
    channel: str,
    user: str,
    ts: str,
    channel_type: str = "channel",
    thread_ts: str | None = None,
    *,
    team: str = "T1",
    **extra: Any,
) -> dict[str, Any]:
    """A plain user ``message`` event; pass e.g. subtype="file_share", files=[...] via ``extra``."""
    event: dict[str, Any] = {
        "type": "message",
        "user": user,
        "text": text,
        "ts": ts,
        "client_msg_id": str(uuid.uuid4()),
        "team": team,
        "blocks": _rich_text_blocks(text),
        "channel": channel,
        "event_ts": ts,
        "channel_type": channel_type,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
        event.setdefault("parent_user_id", "U0PARENT")
    event.update(extra)
    return event


def slash_command(
    command: str,
    text: str,
    user_id: str,
    channel_id: str,
    response_url: str,
    trigger_id: str | None = None,
    *,
    team_id: str = "T1",
    team_domain: str = "citebot-test",
    api_app_id: str = "A1",
    channel_name: str = "general",
    user_name: str | None = None,
) -> dict[str, str]:
    """Slash command fields (the dict form used as a Socket Mode payload)."""
    return {
        "token": "verification-token",
        "team_id": team_id,
        "team_domain": team_domain,
        "channel_id": channel_id,
        "channel_name": "directmessage" if channel_id.startswith("D") else channel_name,
        "user_id": user_id,
        "user_name": user_name or f"user-{user_id.lower()}",
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or _trigger_id(),
    }


def slash_command_form(
    command: str,
    text: str,
    user_id: str,
    channel_id: str,
    response_url: str,
    trigger_id: str | None = None,
    **kwargs: Any,
) -> bytes:
    """The application/x-www-form-urlencoded body Slack POSTs for a slash command."""
    return urlencode(slash_command(command, text, user_id, channel_id, response_url, trigger_id, **kwargs)).encode()


def _trigger_id() -> str:
    return f"{int(time.time())}.{next(_event_counter):012d}.{uuid.uuid4().hex}"


def _user_obj(user_id: str, team_id: str) -> dict[str, str]:
    name = f"user-{user_id.lower()}"
    return {"id": user_id, "username": name, "name": name, "team_id": team_id}


def block_actions(
    action_id: str,
    value: str,
    user_id: str,
    channel_id: str,
    message_ts: str,
    response_url: str,
    message: Mapping[str, Any] | None = None,
    *,
    block_id: str = "actions",
    action_type: str = "button",
    team_id: str = "T1",
    api_app_id: str = "A1",
    bot_user_id: str = "UBOT",
) -> dict[str, Any]:
    """A ``block_actions`` payload for a button click on a message (dict form)."""
    msg = dict(message) if message is not None else {
        "type": "message",
        "user": bot_user_id,
        "ts": message_ts,
        "bot_id": "BBOT",
        "app_id": api_app_id,
        "text": "",
        "team": team_id,
        "blocks": [],
    }
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id,
        "value": value,
        "type": action_type,
        "action_ts": f"{time.time():.6f}",
    }
    if action_type == "button":
        action["text"] = {"type": "plain_text", "text": value[:75] or "button", "emoji": True}
    return {
        "type": "block_actions",
        "user": _user_obj(user_id, team_id),
        "api_app_id": api_app_id,
        "token": "verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": _trigger_id(),
        "team": {"id": team_id, "domain": "citebot-test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": "general"},
        "message": msg,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }


def block_actions_payload(*args: Any, **kwargs: Any) -> bytes:
    """:func:`block_actions` form-encoded as ``payload=<json>``, as Slack POSTs it."""
    return form_payload(block_actions(*args, **kwargs))


def message_shortcut(
    callback_id: str,
    message: Mapping[str, Any],
    user_id: str,
    channel_id: str,
    response_url: str,
    *,
    team_id: str = "T1",
) -> dict[str, Any]:
    """A ``message_action`` (message shortcut) payload (dict form)."""
    return {
        "type": "message_action",
        "token": "verification-token",
        "action_ts": f"{time.time():.6f}",
        "team": {"id": team_id, "domain": "citebot-test"},
        "user": _user_obj(user_id, team_id),
        "channel": {"id": channel_id, "name": "general"},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": _trigger_id(),
        "response_url": response_url,
        "message_ts": message.get("ts", ""),
        "message": dict(message),
    }


def message_shortcut_payload(*args: Any, **kwargs: Any) -> bytes:
    """:func:`message_shortcut` form-encoded as ``payload=<json>``."""
    return form_payload(message_shortcut(*args, **kwargs))
