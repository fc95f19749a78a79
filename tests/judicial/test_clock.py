"""The 30-day clock, pure: where the window ends (holidays, 调休), what it says each day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from server.judicial.clock import (
    Clock,
    Status,
    effective_date,
    links_valid_until,
    reminder_threshold,
    window_end,
)
from server.local_time import local_today
from server.workdays import WorkCalendar

TZ = ZoneInfo("Asia/Shanghai")
LIBRARY = WorkCalendar()


@pytest.mark.parametrize(
    ("effective_on", "ends_on"),
    [
        # Day 30 is an ordinary Wednesday: it stays.
        (date(2026, 11, 2), date(2026, 12, 2)),
        # Day 30 is 国庆节 (1 October 2026): the first working day after the holiday, 8 October.
        (date(2026, 9, 1), date(2026, 10, 8)),
        # Day 30 is the Saturday 10 October 2026, a make-up working day (调休): it stays.
        (date(2026, 9, 10), date(2026, 10, 10)),
        # Day 30 is the Sunday after it: Monday.
        (date(2026, 9, 11), date(2026, 10, 12)),
        # Day 30 is in the Spring Festival (16 February 2026): 24 February, after the holiday.
        (date(2026, 1, 17), date(2026, 2, 24)),
    ],
)
def test_the_window_ends_on_day_30_or_the_next_working_day(
    effective_on: date, ends_on: date
) -> None:
    assert window_end(effective_on, LIBRARY) == ends_on


def test_a_station_override_moves_the_last_day_too() -> None:
    closed = WorkCalendar({date(2026, 12, 2): False})
    assert window_end(date(2026, 11, 2), closed) == date(2026, 12, 3)
    opened = WorkCalendar({date(2026, 10, 1): True})
    assert window_end(date(2026, 9, 1), opened) == date(2026, 10, 1)


def test_the_effective_day_is_the_seals_local_date() -> None:
    assert effective_date(datetime(2026, 11, 1, 15, 59, tzinfo=UTC), TZ) == date(2026, 11, 1)
    assert effective_date(datetime(2026, 11, 1, 16, 1, tzinfo=UTC), TZ) == date(2026, 11, 2)
    # The database hands SQLite's values back naive: they are UTC.
    assert effective_date(datetime(2026, 12, 31, 16, 30), TZ) == date(2027, 1, 1)


def test_links_last_to_the_end_of_the_last_local_day() -> None:
    assert links_valid_until(date(2026, 12, 2), TZ) == datetime(2026, 12, 2, 16, 0, tzinfo=UTC)


def clock(today: date, status: str = Status.OPEN) -> Clock:
    return Clock(date(2026, 11, 2), date(2026, 12, 2), today, status)


def test_reminders_on_day_20_and_day_27_then_lapse() -> None:
    start = date(2026, 11, 2)
    seen = {}
    for day in range(0, 33):
        c = clock(start + timedelta(days=day))
        assert c.day == day
        seen[day] = (c.reminder, c.days_left, c.lapsed)
    assert seen[0] == (None, 30, False)
    assert seen[19] == (None, 11, False)
    assert seen[20] == (20, 10, False)
    assert seen[26] == (20, 4, False)
    assert seen[27] == (27, 3, False)
    assert seen[30] == (27, 0, False)
    assert seen[31] == (None, -1, True)
    assert clock(start + timedelta(days=27)).urgent
    assert not clock(start + timedelta(days=20)).urgent
    assert reminder_threshold(start + timedelta(days=20)) == start


def test_a_filed_window_neither_reminds_nor_lapses() -> None:
    late = clock(date(2026, 12, 10), Status.FILED)
    assert late.reminder is None and not late.lapsed and not late.running
    assert clock(date(2026, 11, 25), Status.CONFIRMED).reminder is None


def test_a_moved_end_is_flagged() -> None:
    assert Clock(date(2026, 9, 1), date(2026, 10, 8), date(2026, 9, 5), Status.OPEN).moved
    assert not clock(date(2026, 11, 5)).moved


@pytest.mark.around_local_midnight
def test_today_is_the_offices_day_whatever_the_utc_date(pinned_clock: datetime) -> None:
    assert local_today(TZ) == pinned_clock.astimezone(TZ).date()


def test_the_day_turns_at_local_midnight() -> None:
    with time_machine.travel(datetime(2026, 11, 21, 15, 59, tzinfo=UTC), tick=False):
        before = clock(local_today(TZ))
    with time_machine.travel(datetime(2026, 11, 21, 16, 1, tzinfo=UTC), tick=False):
        after = clock(local_today(TZ))
    assert (before.day, before.reminder) == (19, None)
    assert (after.day, after.reminder) == (20, 20)
