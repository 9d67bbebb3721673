"""What ``citebot digest …`` does, for the console: preview, send now, list the channels."""

from __future__ import annotations

from datetime import datetime

from ..settings import Settings
from .render import console_digest, short_time
from .schedule import Schedule, ScheduleError
from .scheduler import DigestRunner, Poster, RunResult, utc_now


def _open(settings: Settings):
    from ..runtime import open_index, open_state

    return open_index(settings), open_state(settings)


async def preview(
    settings: Settings, platform: str | None, channel: str | None, now: datetime | None = None
) -> str:
    """Today's digest as console text; nothing is recorded."""
    index, state = _open(settings)
    try:
        digest = await DigestRunner(index, state, []).preview(platform, channel, now)
    finally:
        state.close()
    return console_digest(digest)


def check_token(settings: Settings, platform: str) -> None:
    """Raise ValueError naming the variable when ``platform``'s bot token is not set."""
    token = settings.slack_bot_token if platform == "slack" else settings.discord_token
    if token is None or not token.get_secret_value().strip():
        variable = "SLACK_BOT_TOKEN" if platform == "slack" else "DISCORD_TOKEN"
        raise ValueError(f"{variable} is not set: the digest is posted with the bot's token")


async def send(
    settings: Settings, poster: Poster, channel: str, now: datetime | None = None
) -> RunResult:
    """Post the digest to ``channel`` now through ``poster`` (the platform's, built by the
    caller with the token from the settings)."""
    index, state = _open(settings)
    try:
        return await DigestRunner(index, state, [poster]).send_now(poster.platform, channel, now)
    finally:
        state.close()


def channels(settings: Settings, now: datetime | None = None) -> list[str]:
    """One line per channel whose digest is on: where, when, when next, and the last one."""
    from ..runtime import open_state

    now = now or utc_now()
    state = open_state(settings)
    try:
        lines = []
        for entry in state.enabled_digests():
            try:
                schedule = Schedule.parse(entry.at_time, entry.timezone)
                upcoming = schedule.next_run(now).astimezone(schedule.zone)
                when = f"{schedule.describe()}, next {short_time(upcoming)} {upcoming.tzname()}"
            except ScheduleError as exc:
                when = f"unusable schedule: {exc}"
            last = state.last_digest(entry.platform, entry.channel)
            previous = (
                f"last {last.status} {short_time(last.window_end)} UTC"
                if last is not None and last.window_end is not None  # a finished run has its end
                else "none yet"
            )
            quiet = ", posts on quiet days" if entry.post_empty else ""
            lines.append(f"{entry.platform:<8} {entry.channel:<20} {when}{quiet}; {previous}")
        return lines
    finally:
        state.close()
