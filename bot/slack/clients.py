"""The Slack HTTP clients CiteBot talks through, all retrying the way Slack asks.

slack_sdk retries only connection errors by default; 429s (after Retry-After) and 5xx (with
backoff) need their handlers, and bolt's own ``respond()`` has none, so answers sent to a
``response_url`` go through :func:`webhook_client` instead.
"""

from __future__ import annotations

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from ..settings import Settings


class SlackSettingsError(Exception):
    """A Slack setting is missing or wrong; the message names the variable."""


def retry_handlers() -> list[AsyncRetryHandler]:
    # The handlers share one attempt counter: up to 5 retries in all, enough to ride out several
    # consecutive 429s (each waits its Retry-After) or a few seconds of 5xx (0.5 s, 1 s, 2 s, 4 s
    # backoff) without dropping an answer.
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=3),
        AsyncRateLimitErrorRetryHandler(max_retry_count=5),
        AsyncServerErrorRetryHandler(max_retry_count=4),
    ]


def web_client(settings: Settings) -> AsyncWebClient:
    if settings.slack_bot_token is None:
        raise SlackSettingsError("SLACK_BOT_TOKEN is not set (the Bot User OAuth Token, xoxb-…).")
    return AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,  # settings guarantee the trailing slash slack_sdk needs
        retry_handlers=retry_handlers(),
    )


def webhook_client(url: str) -> AsyncWebhookClient:
    return AsyncWebhookClient(url, retry_handlers=retry_handlers())
