"""Secrets never reach a log line, an error message or ``citebot config check``'s output: not when
a Slack call fails, not when Discord rejects the token, not when a setting is wrong."""

from __future__ import annotations

import logging

import discord
import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.discord.bot import CiteBot, SetupError, _sync, endpoints
from bot.settings import Settings, get_settings
from tests.fakes.discord_server import DEFAULT_TOKEN, FakeDiscord
from tests.test_slack_app import QUESTION, fake, make_slack, settings, slack, state  # noqa: F401

SLACK_BOT_TOKEN = "xoxb-111-222-SlackBotSecretValue"
SLACK_SIGNING_SECRET = "f00dfacecafe5ecretSigningValue"
SLACK_APP_TOKEN = "xapp-1-A1-333-SlackAppSecretValue"
DISCORD_TOKEN = "MTAx.Gx1Y2.DiscordSecretTokenValue"
DB_PASSWORD = "pgS3cretPassw0rd"
DATABASE_URL = f"postgresql://citebot:{DB_PASSWORD}@127.0.0.1:1/citebot"
SECRETS = (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_APP_TOKEN, DISCORD_TOKEN, DB_PASSWORD)


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS + ("xoxb-test", "test-signing-secret"):
            assert secret not in text, f"{secret!r} leaked: {text[:500]}"


def logged(caplog) -> str:
    """Every record as a handler would write it, tracebacks included."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


@pytest.mark.asyncio
async def test_a_failing_slack_call_logs_no_token_or_signing_secret(slack, caplog):
    slack.fake.fail_next("chat.postMessage", status=200, body={"ok": False, "error": "invalid_auth"})
    with caplog.at_level(logging.DEBUG):
        await slack.mention(QUESTION)
        await slack.posts()
    assert "invalid_auth" in logged(caplog)
    assert_no_secret(logged(caplog))


@pytest.mark.asyncio
async def test_discord_rejecting_the_token_logs_and_says_nothing_of_it(caplog):
    async with FakeDiscord(token=DEFAULT_TOKEN) as server:
        settings = Settings(
            DISCORD_TOKEN=DISCORD_TOKEN,
            DISCORD_API_URL=server.rest_base,
            DISCORD_GATEWAY_URL=server.gateway_url,
        )
        with caplog.at_level(logging.DEBUG):
            with pytest.raises(SetupError) as caught, endpoints(settings):
                await _sync(settings, DISCORD_TOKEN, None)
            with endpoints(settings):
                bot = CiteBot(None, settings=settings)
                async with bot:
                    with pytest.raises(discord.LoginFailure) as failure:
                        await bot.login(DISCORD_TOKEN)
    assert "DISCORD_TOKEN" in str(caught.value)  # names the variable, not its value
    assert_no_secret(str(caught.value), repr(caught.value), str(failure.value), logged(caplog))


ENVIRONMENT = {
    "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN,
    "SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
    "SLACK_APP_TOKEN": SLACK_APP_TOKEN,
    "DISCORD_TOKEN": DISCORD_TOKEN,
    "CITEBOT_DATABASE_URL": DATABASE_URL,
}


@pytest.mark.parametrize(
    "broken",
    [
        {},
        {"CITEBOT_PORT": "not-a-port"},
        {"CITEBOT_DATABASE_URL": f"mysql://citebot:{DB_PASSWORD}@db/citebot"},
        {"CITEBOT_DATABASE_URL": f"postgresql://citebot:{DB_PASSWORD}@db:notaport/citebot"},
        {"SLACK_BOT_TOKEN": "xoxp-" + SLACK_BOT_TOKEN},  # a user token where a bot token belongs
        {"SLACK_APP_TOKEN": SLACK_BOT_TOKEN},
    ],
    ids=["valid", "bad-port", "bad-db-scheme", "bad-db-port", "user-token", "swapped-tokens"],
)
def test_config_check_masks_every_secret(monkeypatch, caplog, broken):
    for name, value in {**ENVIRONMENT, **broken}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    with caplog.at_level(logging.DEBUG):
        result = CliRunner().invoke(main, ["config", "check"])
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "SLACK_BOT_TOKEN" in output or "slack_bot_token" in output.lower()
    assert_no_secret(output, logged(caplog), repr(result.exception or ""))


def test_a_wrong_setting_stops_any_command_without_echoing_secrets(monkeypatch, caplog):
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CITEBOT_DATABASE_URL", f"mysql://citebot:{DB_PASSWORD}@db/citebot")
    get_settings.cache_clear()
    with caplog.at_level(logging.DEBUG):
        result = CliRunner().invoke(main, ["index", "list"])
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert_no_secret(output, logged(caplog), repr(result.exception or ""))
