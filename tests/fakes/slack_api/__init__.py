"""A local, real-HTTP fake of the Slack Web API plus helpers to sign inbound requests.

One module per job: ``server`` (the Web API and its recorded calls), ``blocks`` (Block Kit
validation) and ``payloads`` (inbound requests, signed).

Tests point the *real* slack_sdk / slack_bolt clients at ``FakeSlackWebAPI.base_url``
and then assert on what actually went over the wire (``fake.calls(...)``), so
serialisation, retries, auth headers and rate-limit handling are all exercised.

Typical use::

    with FakeSlackWebAPI() as fake:
        client = AsyncWebClient(token="xoxb-test", base_url=fake.base_url)
        await client.chat_postMessage(channel="C1", text="hi")
        [body] = fake.calls("chat.postMessage")

Response shapes follow the examples in Slack's method reference pages
(https://docs.slack.dev/reference/methods/...). The fake is deliberately a little
strict where Slack is strict (token checks, ``no_text``, ``invalid_blocks`` size
limits, ``already_reacted``, ``message_not_found`` on chat.update/delete) because
those are exactly the failures a bot meets in production.
"""

from .blocks import validate_blocks
from .payloads import (
    app_mention_event,
    block_actions,
    block_actions_payload,
    event_callback,
    form_payload,
    message_event,
    message_shortcut,
    message_shortcut_payload,
    sign_request,
    signed_json,
    slash_command,
    slash_command_form,
    url_verification,
)
from .server import FakeSlackWebAPI, RecordedRequest

__all__ = [
    "FakeSlackWebAPI",
    "RecordedRequest",
    "validate_blocks",
    "sign_request",
    "signed_json",
    "event_callback",
    "url_verification",
    "app_mention_event",
    "message_event",
    "slash_command",
    "slash_command_form",
    "block_actions",
    "block_actions_payload",
    "message_shortcut",
    "message_shortcut_payload",
    "form_payload",
]
