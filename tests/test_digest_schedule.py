"""When a digest is due: pure functions of fixed, time-zone-aware datetimes. Nothing sleeps."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.digest.schedule import Schedule, ScheduleError, due_slot, parse_time, parse_zone
from bot.digest.scheduler import DailyTrigger

UTC = UTC
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
GRACE = timedelta(hours=6)


def at(zone, *fields):
    return datetime(*fields, tzinfo=zone)


# --- next run ------------------------------------------------------------------------------------


def test_next_run_is_later_today_or_tomorrow_across_midnight():
    schedule = Schedule.parse("09:00", "Europe/London")
    # Winter: London is on UTC.
    assert schedule.next_run(at(UTC, 2026, 1, 14, 8, 59)) == at(UTC, 2026, 1, 14, 9, 0)
    assert schedule.next_run(at(UTC, 2026, 1, 14, 9, 0)) == at(
        UTC, 2026, 1, 15, 9, 0
    )  # strictly after
    assert schedule.next_run(at(UTC, 2026, 1, 14, 23, 59, 59)) == at(UTC, 2026, 1, 15, 9, 0)
    # New Year's Eve rolls into the next year.
    assert schedule.next_run(at(UTC, 2026, 12, 31, 12, 0)) == at(UTC, 2027, 1, 1, 9, 0)


def test_a_time_just_after_midnight_in_a_zone_behind_utc():
    schedule = Schedule.parse("00:30", "America/New_York")
    # 03:00 UTC on the 14th is still 22:00 on the 13th in New York: the run is 00:30 on the 14th.
    assert schedule.next_run(at(UTC, 2026, 1, 14, 3, 0)) == at(UTC, 2026, 1, 14, 5, 30)
    # 06:00 UTC is 01:00 on the 14th, past 00:30: the next is the 15th.
    assert schedule.next_run(at(UTC, 2026, 1, 14, 6, 0)) == at(UTC, 2026, 1, 15, 5, 30)


def test_now_in_any_zone_gives_the_same_instant():
    schedule = Schedule.parse("09:00", "Europe/London")
    instant = at(UTC, 2026, 6, 1, 12, 0)
    expected = at(UTC, 2026, 6, 2, 8, 0)  # 09:00 BST
    assert schedule.next_run(instant) == expected
    assert schedule.next_run(instant.astimezone(NEW_YORK)) == expected
    assert schedule.next_run(instant.astimezone(LONDON)) == expected


def test_london_keeps_its_wall_clock_time_across_both_dst_changes():
    schedule = Schedule.parse("09:00", "Europe/London")
    # Clocks go forward at 01:00 UTC on Sunday 29 March 2026.
    saturday = schedule.next_run(at(LONDON, 2026, 3, 28, 0, 0))
    sunday = schedule.next_run(saturday)
    assert (saturday, sunday) == (at(UTC, 2026, 3, 28, 9, 0), at(UTC, 2026, 3, 29, 8, 0))
    assert sunday - saturday == timedelta(hours=23)
    assert sunday.astimezone(LONDON).hour == 9
    # Clocks go back at 01:00 UTC on Sunday 25 October 2026.
    saturday = schedule.next_run(at(LONDON, 2026, 10, 24, 0, 0))
    sunday = schedule.next_run(saturday)
    assert (saturday, sunday) == (at(UTC, 2026, 10, 24, 8, 0), at(UTC, 2026, 10, 25, 9, 0))
    assert sunday - saturday == timedelta(hours=25)


def test_new_york_spring_forward_runs_a_missing_time_once_an_hour_later():
    # 02:30 does not exist on 8 March 2026 in New York (02:00 jumps to 03:00).
    schedule = Schedule.parse("02:30", "America/New_York")
    runs = [schedule.next_run(at(NEW_YORK, 2026, 3, 7, 12, 0))]
    for _ in range(2):
        runs.append(schedule.next_run(runs[-1]))
    assert runs == [
        at(UTC, 2026, 3, 8, 7, 30),  # 03:30 EDT: the wall clock never read 02:30
        at(UTC, 2026, 3, 9, 6, 30),  # 02:30 EDT
        at(UTC, 2026, 3, 10, 6, 30),
    ]
    assert [r.astimezone(NEW_YORK).date().day for r in runs] == [8, 9, 10]  # one a day, none lost


def test_new_york_fall_back_runs_an_ambiguous_time_once():
    # 01:30 happens twice on 1 November 2026 in New York; a cron trigger fires at both.
    schedule = Schedule.parse("01:30", "America/New_York")
    first = schedule.next_run(at(NEW_YORK, 2026, 10, 31, 12, 0))
    assert first == at(UTC, 2026, 11, 1, 5, 30)  # the first 01:30 (EDT)
    after = schedule.next_run(first)
    assert after == at(UTC, 2026, 11, 2, 6, 30)  # tomorrow, not the second 01:30 an hour later
    # Asked between the two 01:30s, the next run is still tomorrow's.
    assert schedule.next_run(at(UTC, 2026, 11, 1, 6, 0)) == at(UTC, 2026, 11, 2, 6, 30)
    assert schedule.slot(first) == "2026-11-01" and schedule.slot(after) == "2026-11-02"


def test_latest_run_and_slot_are_the_local_date():
    schedule = Schedule.parse("23:30", "America/New_York")
    # 04:00 UTC on the 15th is 23:00 on the 14th in New York: the latest run was the 13th's.
    now = at(UTC, 2026, 1, 15, 4, 0)
    latest = schedule.latest_run(now)
    assert latest == at(UTC, 2026, 1, 14, 4, 30)
    assert schedule.slot(latest) == "2026-01-13"
    assert schedule.latest_run(latest) == latest  # at the run itself, it is the latest


def test_naive_now_is_refused():
    with pytest.raises(ValueError, match="aware"):
        Schedule.parse("09:00", "UTC").next_run(datetime(2026, 1, 1, 9, 0))


# --- due runs: grace window and catch-up ---------------------------------------------------------


SCHEDULE = Schedule.parse("09:00", "Europe/London")
ENABLED = at(UTC, 2026, 1, 1, 12, 0)


def test_due_within_grace_and_skipped_beyond_it():
    assert due_slot(SCHEDULE, at(UTC, 2026, 1, 14, 8, 59), since=ENABLED, grace=GRACE) == (
        at(UTC, 2026, 1, 13, 9, 0),
        False,  # yesterday's, long past: not to be posted now
    )
    assert due_slot(SCHEDULE, at(UTC, 2026, 1, 14, 9, 0), since=ENABLED, grace=GRACE) == (
        at(UTC, 2026, 1, 14, 9, 0),
        True,
    )
    assert due_slot(SCHEDULE, at(UTC, 2026, 1, 14, 15, 0), since=ENABLED, grace=GRACE)[1] is True
    assert due_slot(SCHEDULE, at(UTC, 2026, 1, 14, 15, 1), since=ENABLED, grace=GRACE)[1] is False


def test_several_missed_days_come_to_the_latest_run_only():
    # Down from the 10th to 11:00 on the 14th: only the 14th's run is due, once.
    run, in_time = due_slot(SCHEDULE, at(UTC, 2026, 1, 14, 11, 0), since=ENABLED, grace=GRACE)
    assert (run, in_time) == (at(UTC, 2026, 1, 14, 9, 0), True)


def test_runs_before_the_digest_was_switched_on_are_not_due():
    switched_on = at(UTC, 2026, 1, 14, 10, 0)  # after today's 09:00
    assert due_slot(SCHEDULE, at(UTC, 2026, 1, 14, 10, 5), since=switched_on, grace=GRACE) is None
    assert due_slot(SCHEDULE, at(UTC, 2026, 1, 15, 9, 0), since=switched_on, grace=GRACE) == (
        at(UTC, 2026, 1, 15, 9, 0),
        True,
    )


def test_the_apscheduler_trigger_fires_at_the_schedules_runs():
    trigger = DailyTrigger(Schedule.parse("01:30", "America/New_York"))
    first = trigger.get_next_fire_time(None, at(NEW_YORK, 2026, 10, 31, 12, 0))
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1))
    assert (first, second) == (at(UTC, 2026, 11, 1, 5, 30), at(UTC, 2026, 11, 2, 6, 30))


# --- what people type ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("09:00", time(9)),
        ("9:30", time(9, 30)),
        ("17", time(17)),
        ("9am", time(9)),
        ("12am", time(0)),
        ("12pm", time(12)),
        ("5:30 PM", time(17, 30)),
        ("23:59", time(23, 59)),
    ],
)
def test_times(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["", "24:00", "9:60", "13pm", "noon", "09.00", "0:00:00"])
def test_bad_times_say_what_to_type(text):
    with pytest.raises(ScheduleError, match="HH:MM"):
        parse_time(text)


def test_zones_are_matched_without_regard_to_case_and_bad_ones_are_named():
    assert parse_zone("europe/london") == LONDON
    assert parse_zone(" UTC ").key == "UTC"
    with pytest.raises(ScheduleError, match="Mars/Olympus is not a time zone"):
        parse_zone("Mars/Olympus")
    with pytest.raises(ScheduleError):
        parse_zone("../../etc/passwd")
