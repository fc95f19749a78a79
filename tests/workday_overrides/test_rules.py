"""The station calendar's pure rules: the window, coverage, reading a pasted schedule."""

from __future__ import annotations

from datetime import date, timedelta

from server.workday_overrides.rules import (
    MAX_DAYS_AWAY,
    MAX_IMPORT_LINES,
    coverage,
    parse_import,
    too_far,
    uncovered_years,
)
from server.workdays import LIBRARY_YEARS, WorkCalendar

LAST = LIBRARY_YEARS.stop - 1
TODAY = date(LAST, 12, 7)


def test_the_window_is_two_years_either_way() -> None:
    assert not too_far(TODAY + timedelta(days=MAX_DAYS_AWAY), TODAY)
    assert too_far(TODAY + timedelta(days=MAX_DAYS_AWAY + 1), TODAY)
    assert too_far(TODAY - timedelta(days=MAX_DAYS_AWAY + 1), TODAY)


def test_coverage_lists_this_year_next_year_and_the_stations_years() -> None:
    rows = coverage(TODAY, {LAST + 2: 3})
    assert [(c.year, c.library, c.station_days, c.known) for c in rows] == [
        (LAST, True, 0, True),
        (LAST + 1, False, 0, False),
        (LAST + 2, False, 3, True),
    ]


def test_next_year_is_uncovered_until_the_station_enters_a_day_of_it() -> None:
    assert uncovered_years(TODAY, WorkCalendar()) == [LAST + 1]
    assert uncovered_years(TODAY, WorkCalendar({date(LAST + 1, 1, 1): False})) == []
    assert uncovered_years(date(LAST - 1, 6, 1), WorkCalendar()) == []
    # On 1 January of an unknown year, this year and next are both unknown.
    assert uncovered_years(date(LAST + 1, 1, 1), WorkCalendar()) == [LAST + 1, LAST + 2]


def test_a_pasted_schedule_is_read_with_the_notices_words() -> None:
    text = f"# 春节\n{LAST + 1}-02-06,休,春节\n\n{LAST + 1}-02-14，上班，春节调休上班\r\n"
    parsed = parse_import(text, TODAY, existing=())
    assert parsed.problems == ()
    assert [(d.day, d.workday, d.name) for d in parsed.days] == [
        (date(LAST + 1, 2, 6), False, "春节"),
        (date(LAST + 1, 2, 14), True, "春节调休上班"),
    ]


def test_every_bad_line_is_named_by_its_number() -> None:
    day = f"{LAST + 1}-02-06"
    text = "\n".join([f"{day},holiday,春节", f"{day},holiday,春节", "2027/02/07,holiday,春节"])
    parsed = parse_import(text, TODAY, existing={date(LAST + 1, 2, 6)})
    assert [p.line for p in parsed.problems] == [1, 2, 3]
    assert parsed.days == ()


def test_too_many_lines_are_refused_before_reading_them() -> None:
    text = "\n".join(f"{LAST + 1}-01-01,holiday,元旦" for _ in range(MAX_IMPORT_LINES + 1))
    parsed = parse_import(text, TODAY, existing=())
    assert [p.line for p in parsed.problems] == [0] and parsed.days == ()
