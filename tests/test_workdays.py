"""Working days across public holidays, make-up working days and unknown years."""

from __future__ import annotations

from datetime import date

import pytest

from server.workdays import LIBRARY_YEARS, WorkCalendar


def test_national_day_2025_and_its_make_up_saturday() -> None:
    cal = WorkCalendar()
    # 2025: 1-8 October off; Sunday 28 September and Saturday 11 October are working days.
    assert not cal.is_workday(date(2025, 10, 1))
    assert not cal.is_workday(date(2025, 10, 8))
    assert cal.is_workday(date(2025, 9, 28))
    assert cal.is_workday(date(2025, 10, 11))
    # Three working days after a deadline on 30 September: 9, 10 and 11 October.
    assert cal.add_workdays(date(2025, 9, 30), 3) == date(2025, 10, 11)


def test_zero_working_days_is_the_day_itself() -> None:
    assert WorkCalendar().add_workdays(date(2025, 10, 1), 0) == date(2025, 10, 1)


def test_a_station_override_wins_and_makes_the_year_known() -> None:
    year = LIBRARY_YEARS.stop  # the first year the library does not carry
    cal = WorkCalendar()
    assert not cal.known(year)
    assert cal.is_workday(date(year, 1, 1)) == (date(year, 1, 1).weekday() < 5)
    cal = WorkCalendar({date(year, 1, 1): False, date(year, 1, 2): True})
    assert cal.known(year)
    assert not cal.is_workday(date(year, 1, 1))
    assert cal.is_workday(date(year, 1, 2))


def test_workdays_between_counts_after_start_up_to_end() -> None:
    cal = WorkCalendar()
    assert cal.workdays_between(date(2025, 9, 30), date(2025, 10, 11)) == 3
    assert cal.workdays_between(date(2025, 10, 11), date(2025, 10, 1)) == 0


def test_negative_count_is_refused() -> None:
    with pytest.raises(ValueError):
        WorkCalendar().add_workdays(date(2025, 1, 1), -1)
