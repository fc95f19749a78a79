"""Working days in mainland China: public holidays and make-up working days (调休).

The State Council publishes each year's schedule in the autumn before it;
``chinese_calendar`` carries the published years. For a year it does not know
yet, a station enters the schedule itself (``WorkdayOverride``); an override
always wins, so a station can also correct a local arrangement. A day of a
year known to neither is reckoned by the weekday alone, and ``known`` says so,
so pages can warn instead of silently trusting a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import chinese_calendar  # type: ignore[import-untyped]
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.models.followup import WorkdayOverride

#: The years the holiday library carries data for.
LIBRARY_YEARS = range(min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year + 1)

#: A guard against a loop over a calendar with no working day at all (a bad override table).
_MAX_SCAN_DAYS = 366 * 2


class WorkCalendar:
    """Which days are working days for one station. Pure once built."""

    def __init__(self, overrides: Mapping[date, bool] | None = None) -> None:
        self._overrides = dict(overrides or {})
        self._station_years = {day.year for day in self._overrides}

    def known(self, year: int) -> bool:
        """Whether the year's schedule is known: from the library or the station's own table."""
        return year in LIBRARY_YEARS or year in self._station_years

    def is_workday(self, day: date) -> bool:
        if day in self._overrides:
            return self._overrides[day]
        if day.year in LIBRARY_YEARS:
            return bool(chinese_calendar.is_workday(day))
        return day.weekday() < 5

    def add_workdays(self, day: date, count: int) -> date:
        """The ``count``-th working day after ``day``; ``day`` itself when ``count`` is 0.

        "Within three working days after the deadline" ends on ``add_workdays(deadline, 3)``.
        """
        if count < 0:
            raise ValueError("count must not be negative")
        current = day
        for _ in range(_MAX_SCAN_DAYS):
            if count == 0:
                return current
            current += timedelta(days=1)
            if self.is_workday(current):
                count -= 1
        raise ValueError("no working day found within two years")

    def workdays_between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end`` (0 when end <= start)."""
        days = 0
        current = start
        while current < end:
            current += timedelta(days=1)
            if self.is_workday(current):
                days += 1
        return days


async def load_calendar(db: AsyncSession, station_id: int) -> WorkCalendar:
    rows = await db.exec(
        select(WorkdayOverride)
        .where(WorkdayOverride.station_id == station_id)
        .order_by(col(WorkdayOverride.day))
    )
    return WorkCalendar({row.day: row.workday for row in rows})
