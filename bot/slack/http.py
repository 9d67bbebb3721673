"""HTTP mode: ``POST /slack/events`` on the bot's one aiohttp server, translated to and from bolt.

Events, slash commands and interactivity all arrive here; bolt verifies the signature and
timestamp before anything else runs.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.aiohttp import to_bolt_request as _bolt_to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest

EVENTS_PATH = "/slack/events"


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


def add_slack_routes(web_app: web.Application, bolt_app: AsyncApp, path: str = EVENTS_PATH) -> None:
    async def slack_events(request: web.Request) -> web.Response:
        # slack_sdk's verifier raises on a timestamp that is not a number (a 500 and an error
        # log) instead of refusing it; such a request is unsigned as far as we are concerned.
        if not request.headers.get("X-Slack-Request-Timestamp", "").strip().isdigit():
            return web.Response(status=401, text="invalid request")
        bolt_response = await bolt_app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    web_app.router.add_post(path, slack_events)
