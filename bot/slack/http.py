"""HTTP mode: ``POST /slack/events`` on the bot's one aiohttp server, translated to and from bolt.

Events, slash commands and interactivity all arrive here. The signature and timestamp are
checked on the raw bytes before anything else runs, parsing included; a signed body that is not a
Slack payload is refused with 400 and one log line.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.aiohttp import to_bolt_request as _bolt_to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

EVENTS_PATH = "/slack/events"

log = logging.getLogger("citebot.slack")

# Fields of an event the listeners read as text; Slack always sends them as strings.
_TEXT_FIELDS = ("type", "subtype", "channel", "channel_type", "user", "text", "ts", "thread_ts")


async def to_bolt_request(request: web.Request) -> AsyncBoltRequest:
    bolt_request = await _bolt_to_bolt_request(request)
    _repair_form_body(bolt_request)
    return bolt_request


def _repair_form_body(bolt_request: AsyncBoltRequest) -> None:
    # bolt (1.30) parses any form body containing the substring "payload" as interactivity and
    # finds no payload field, so "/ask what payload did it carry" arrived as an empty request.
    # Re-parse such a body as the plain form it is; the raw body (and so the signature) is untouched.
    raw = bolt_request.raw_body
    if bolt_request.body or not raw or raw.lstrip().startswith("{") or "payload" not in raw:
        return
    fields = dict(parse_qsl(raw, keep_blank_values=True))
    if "payload" in fields or not fields:
        return
    bolt_request.body = fields
    bolt_request.context = build_async_context(AsyncBoltContext({}), fields)


def shape_problem(body: Any) -> str | None:
    """Why a parsed body is not something Slack sends (None when it could be): a payload is an
    object, and an event in it is an object whose text fields are text and, for the messages the
    listeners answer, which names its channel."""
    # Events and interactivity carry a type, slash commands a command; Slack's ssl_check ping
    # (sent to slash command URLs) neither.
    if not isinstance(body, dict) or not ({"type", "command", "ssl_check"} & body.keys()):
        return "the body is not a Slack payload"
    if "event" not in body:
        return None
    event = body["event"]
    if not isinstance(event, dict):
        return "its event is not an object"
    wrong = [key for key in _TEXT_FIELDS if key in event and not isinstance(event[key], str)]
    if wrong:
        return f"its event's {wrong[0]!r} is not text"
    if event.get("type") in ("app_mention", "message") and "channel" not in event:
        return "its event names no channel"
    return None


def add_slack_routes(
    web_app: web.Application,
    bolt_app: AsyncApp,
    path: str = EVENTS_PATH,
    *,
    signing_secret: str | None = None,
) -> None:
    """``signing_secret`` defaults to the one the bolt app was built with."""
    # bolt verifies only after building its request, which parses the body: junk from anyone
    # who can reach the port ended in a 500 and a traceback. bolt keeps no public accessor for
    # its secret; should that attribute go, the secret is empty and every request is refused.
    if signing_secret is None:
        signing_secret = getattr(bolt_app, "_signing_secret", "") or ""
    verifier = SignatureVerifier(signing_secret)

    async def slack_events(request: web.Request) -> web.Response:
        # slack_sdk's verifier raises on a timestamp that is not a number (a 500 and an error
        # log) instead of refusing it; such a request is unsigned as far as we are concerned.
        if not request.headers.get("X-Slack-Request-Timestamp", "").strip().isdigit():
            return web.Response(status=401, text="invalid request")
        raw = await request.read()
        try:
            signed = bool(signing_secret) and verifier.is_valid_request(raw, request.headers)
        except UnicodeDecodeError:  # the verifier signs text; Slack only ever sends UTF-8
            signed = False
        if not signed:
            return web.Response(status=401, text="invalid request")
        try:
            bolt_request = await to_bolt_request(request)
            problem = shape_problem(bolt_request.body)
        except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
            problem = f"it could not be read ({exc.__class__.__name__})"
        if problem is not None:
            log.warning("refused a signed request to %s: %s", path, problem)
            return web.Response(status=400, text="malformed request")
        bolt_response = await bolt_app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    web_app.router.add_post(path, slack_events)
