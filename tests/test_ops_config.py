"""``citebot config check`` and what a wrong setting does: one line naming the variable, secrets
never shown."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.settings import Settings, SettingsError, get_settings

SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-1111-2222-very-secret-bot",
    "SLACK_APP_TOKEN": "xapp-1-A111-very-secret-app",
    "DISCORD_TOKEN": "MTEw.very-secret-discord-token",
    "CITEBOT_USER_SALT": "pepper-very-secret-salt",
}
CLEAN = {name: None for name in (
    "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_MODE", "DISCORD_TOKEN",
    "CITEBOT_USER_SALT", "CITEBOT_DATABASE_URL", "CITEBOT_PORT",
)}


def citebot(*args: str, env: dict[str, str | None]):
    get_settings.cache_clear()
    return CliRunner().invoke(main, list(args), env={**CLEAN, **env})


def test_config_check_lists_every_setting_with_secrets_masked():
    result = citebot(
        "config", "check",
        env={**SECRETS, "CITEBOT_PORT": "9100",
             "CITEBOT_DATABASE_URL": "postgresql://bot:db-very-secret-pw@db:5432/citebot"},
    )
    assert result.exit_code == 0, result.output
    out = result.output
    for field in Settings.model_fields:
        from bot.settings import env_name

        assert env_name(field) in out
    for value in (*SECRETS.values(), "db-very-secret-pw"):
        assert value not in out
    assert "postgresql://bot:***@db:5432/citebot" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert "9100" in lines["CITEBOT_PORT"] and "[set]" in lines["CITEBOT_PORT"]
    assert "[default]" in lines["CITEBOT_LOG_FORMAT"] and " text " in lines["CITEBOT_LOG_FORMAT"]
    assert "hidden" in lines["SLACK_BOT_TOKEN"] and "[set]" in lines["SLACK_BOT_TOKEN"]
    assert "slack    ready: Socket Mode" in out
    assert "discord  ready" in out
    assert "OK: `citebot serve` can start" in out


def test_config_check_says_what_each_platform_misses():
    nothing = citebot("config", "check", env={})
    assert nothing.exit_code == 0  # HTTP only is a valid way to run
    assert "slack    not configured (needs SLACK_BOT_TOKEN" in nothing.output
    assert "discord  not configured (needs DISCORD_TOKEN)" in nothing.output

    half = citebot("config", "check", env={"SLACK_BOT_TOKEN": SECRETS["SLACK_BOT_TOKEN"]})
    assert half.exit_code == 1
    assert "slack    incomplete:" in half.output and "SLACK_SIGNING_SECRET" in half.output
    assert SECRETS["SLACK_BOT_TOKEN"] not in half.output


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("CITEBOT_PORT", "eighty", "CITEBOT_PORT must be a whole number from 1 to 65535 (got 'eighty')"),
        ("CITEBOT_LOG_FORMAT", "xml", "CITEBOT_LOG_FORMAT must be one of text, json (got 'xml')"),
        ("CITEBOT_RETENTION_DAYS", "-3", "CITEBOT_RETENTION_DAYS must be a whole number at least 0"),
        ("SLACK_MODE", "websocket", "SLACK_MODE must be one of socket, http"),
        ("DISCORD_MESSAGE_CONTENT", "maybe", "DISCORD_MESSAGE_CONTENT must be true or false"),
        ("CITEBOT_DATABASE_URL", "mysql://u:hunter2-secret@h/db",
         "CITEBOT_DATABASE_URL must be a sqlite:///PATH or postgresql://"),
    ],
)
def test_a_wrong_value_is_named_in_one_line(variable, value, expected):
    check = citebot("config", "check", env={variable: value})
    assert check.exit_code == 1
    assert expected in check.output
    assert re.search(rf"^  {variable} +\(invalid\)  \[INVALID\]$", check.output, re.M)
    assert "hunter2-secret" not in check.output

    # Any command stops the same way, before doing anything: one line, no traceback.
    ask = citebot("ask", "how much did Xi pledge?", env={variable: value})
    assert ask.exit_code == 1
    assert ask.output.strip().splitlines() == [ask.output.strip()]
    assert ask.output.startswith(f"citebot: {variable} must be")
    assert "hunter2-secret" not in ask.output


def test_several_wrong_values_stop_with_the_first_and_a_count():
    result = citebot("ask", "x", env={"CITEBOT_PORT": "0", "CITEBOT_THREADS": "none"})
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert "and 1 more (run `citebot config check`)" in result.output


def test_secret_values_are_never_echoed_in_errors(monkeypatch):
    monkeypatch.setenv("CITEBOT_DATABASE_URL", "oracle://scott:tiger-very-secret@db/x")
    with pytest.raises(SettingsError) as caught:
        get_settings()
    assert "CITEBOT_DATABASE_URL" in str(caught.value)
    assert "tiger-very-secret" not in str(caught.value)
