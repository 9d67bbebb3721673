"""When a channel's digest is due: pure functions of ``now`` and the schedule, no clock, no I/O.

A schedule is a wall-clock time in a time zone ("09:00 Europe/London"). Each local day has
exactly one run: on a fall-back night an ambiguous 01:30 runs at its first occurrence, and on a
spring-forward night a time that does not exist (02:30 in New York) runs when the clock reads
that time plus the skipped hour (03:30), so no day is doubled or lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# dateutil's rrule yields one occurrence per local day; APScheduler 3's CronTrigger was checked
# and fires twice at 01:30 on America/New_York's fall-back day, which would double a digest.
from dateutil.rrule import DAILY, rrule

_TIME = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$", re.IGNORECASE)


class ScheduleError(ValueError):
    """A time or time zone a person typed that cannot be used; the message says what to type."""


@lru_cache(maxsize=1)
def zone_names() -> tuple[str, ...]:
    """Every IANA zone name, sorted (read from tzdata once)."""
    return tuple(sorted(available_timezones()))


@lru_cache(maxsize=1)
def _zones_by_folded_name() -> dict[str, str]:
    return {name.casefold(): name for name in zone_names()}


def parse_zone(name: str) -> ZoneInfo:
    """An IANA zone from what a person typed ("europe/london" works too)."""
    text = (name or "").strip()
    canonical = _zones_by_folded_name().get(text.casefold())
    if canonical is None:
        raise ScheduleError(
            f"{text or '(nothing)'} is not a time zone I know: use a name like Europe/London, "
            "America/New_York or UTC."
        )
    try:
        return ZoneInfo(canonical)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # listed but unreadable tzdata
        raise ScheduleError(f"The time zone {canonical} could not be loaded.") from exc


def parse_time(text: str) -> time:
    """``09:00``, ``9:30``, ``17``, ``9am`` or ``5:30pm`` as a wall-clock time."""
    match = _TIME.match((text or "").strip())
    if match:
        hour, minute = int(match.group(1)), int(match.group(2) or 0)
        suffix = (match.group(3) or "").lower()
        if suffix and not 1 <= hour <= 12:
            match = None
        elif suffix:
            hour = hour % 12 + (12 if suffix == "pm" else 0)
        if match and hour < 24 and minute < 60:
            return time(hour, minute)
    raise ScheduleError(
        f"{(text or '').strip() or '(nothing)'} is not a time of day: use 24-hour HH:MM, "
        "like 09:00 or 17:30."
    )


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be time-zone aware")
    return now.astimezone(UTC)


@dataclass(frozen=True)
class Schedule:
    """Once a day at ``at`` (wall-clock time) in ``zone``."""

    at: time
    zone: ZoneInfo

    @classmethod
    def parse(cls, at: str, zone: str) -> Schedule:
        return cls(parse_time(at), parse_zone(zone))

    @property
    def time_text(self) -> str:
        return f"{self.at:%H:%M}"

    def describe(self) -> str:
        return f"{self.time_text} {self.zone.key}"

    def _rule(self, around: datetime) -> rrule:
        # Start two local days early so "the latest run" before ``around`` is always inside it.
        first: date = around.astimezone(self.zone).date() - timedelta(days=2)
        return rrule(DAILY, dtstart=datetime.combine(first, self.at, tzinfo=self.zone))

    def next_run(self, now: datetime) -> datetime:
        """The first run strictly after ``now``, in UTC."""
        now = _aware(now)
        # Compared against a UTC ``now``, aware datetimes compare as instants; within one zone
        # Python would compare wall-clock readings and get fall-back nights wrong.
        return self._rule(now).after(now).astimezone(UTC)

    def latest_run(self, now: datetime) -> datetime:
        """The last run at or before ``now``, in UTC."""
        now = _aware(now)
        return self._rule(now).before(now, inc=True).astimezone(UTC)

    def slot(self, run: datetime) -> str:
        """The name of a run, unique per channel: its local date."""
        return run.astimezone(self.zone).date().isoformat()


def due_slot(
    schedule: Schedule,
    now: datetime,
    *,
    since: datetime,
    grace: timedelta,
) -> tuple[datetime, bool] | None:
    """The run a scheduler waking at ``now`` should deal with, and whether it is still in time.

    ``since`` is when the schedule was switched on: runs before it are none of its business.
    Only the latest run counts, so several days missed while down come to one run (or none).
    Returns None when no run is due yet; ``(run, False)`` when the latest run is older than
    ``grace`` and is to be skipped, not posted late.
    """
    run = schedule.latest_run(now)
    if run <= _aware(since):
        return None
    return run, _aware(now) - run <= grace
