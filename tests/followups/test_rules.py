"""The follow-up rules, pure: when a check falls due per track, the worst result, next steps."""

from __future__ import annotations

from datetime import date

import pytest

from server.agreements.document import PEOPLE, POLICE
from server.followups.rules import (
    NextStep,
    Settings,
    TermResult,
    Urgency,
    format_terms,
    list_order,
    next_steps,
    outcome_due,
    overall,
    parse_terms,
    performance_due,
    urgency,
)
from server.workdays import WorkCalendar

DEFAULTS = Settings()


def test_police_checks_three_working_days_after_the_deadline_across_national_day() -> None:
    # 2025: 1-8 October off; Saturday 11 October is a make-up working day (调休).
    due = performance_due(POLICE, date(2025, 9, 30), WorkCalendar(), DEFAULTS)
    assert due == date(2025, 10, 11)
    assert due.weekday() == 5  # a Saturday, and still the third working day


def test_police_across_a_plain_weekend() -> None:
    # Friday 2025-11-14: Monday, Tuesday, Wednesday.
    assert performance_due(POLICE, date(2025, 11, 14), WorkCalendar(), DEFAULTS) == date(
        2025, 11, 19
    )


def test_people_mediation_is_due_on_the_deadline_by_default() -> None:
    cal = WorkCalendar()
    assert performance_due(PEOPLE, date(2025, 9, 30), cal, DEFAULTS) == date(2025, 9, 30)
    # Even a deadline that falls in the holiday: the committee may call that day.
    assert performance_due(PEOPLE, date(2025, 10, 3), cal, DEFAULTS) == date(2025, 10, 3)


def test_the_offsets_are_settings() -> None:
    cal = WorkCalendar()
    settings = Settings(police_workdays=1, people_workdays=2, outcome_workdays=0)
    assert performance_due(POLICE, date(2025, 9, 30), cal, settings) == date(2025, 10, 9)
    assert performance_due(PEOPLE, date(2025, 9, 30), cal, settings) == date(2025, 10, 10)
    assert outcome_due(date(2025, 9, 30), cal, settings) == date(2025, 9, 30)


def test_an_outcome_follow_up_counts_working_days_across_spring_festival() -> None:
    # 2025 Spring Festival: 28 January-4 February off; Sunday 26 January and Saturday
    # 8 February are make-up working days. Five working days after 27 January:
    # 5, 6, 7, 8 (Saturday, make-up) and 10 February.
    assert outcome_due(date(2025, 1, 27), WorkCalendar(), DEFAULTS) == date(2025, 2, 10)


def test_a_station_override_moves_the_due_day() -> None:
    # The station declares Thursday 9 October 2025 a local holiday.
    cal = WorkCalendar({date(2025, 10, 9): False})
    assert performance_due(POLICE, date(2025, 9, 30), cal, DEFAULTS) == date(2025, 10, 13)


def test_an_unknown_track_follows_peoples_mediation() -> None:
    assert performance_due("other", date(2025, 9, 30), WorkCalendar(), DEFAULTS) == date(
        2025, 9, 30
    )


@pytest.mark.parametrize(
    ("results", "worst"),
    [
        ([TermResult.PERFORMED, TermResult.PERFORMED], TermResult.PERFORMED),
        ([TermResult.PERFORMED, TermResult.NOT_RELEVANT], TermResult.PERFORMED),
        ([TermResult.NOT_RELEVANT], TermResult.NOT_RELEVANT),
        ([TermResult.PERFORMED, TermResult.PARTLY], TermResult.PARTLY),
        (
            [TermResult.PARTLY, TermResult.NOT_PERFORMED, TermResult.PERFORMED],
            TermResult.NOT_PERFORMED,
        ),
    ],
)
def test_the_overall_outcome_is_the_worst(results: list[TermResult], worst: TermResult) -> None:
    assert overall(results) == worst


def test_no_result_has_no_outcome() -> None:
    with pytest.raises(ValueError):
        overall([])


def test_next_steps_per_track() -> None:
    assert next_steps(PEOPLE, TermResult.PERFORMED) == ()
    assert next_steps(POLICE, TermResult.NOT_RELEVANT) == ()
    assert next_steps(PEOPLE, TermResult.NOT_PERFORMED) == (
        NextStep.BOOK,
        NextStep.REFER,
        NextStep.CLOSE,
    )
    # 治安调解: not performed leaves no choice; partly performed is weighed, punishment first.
    assert next_steps(POLICE, TermResult.NOT_PERFORMED) == (NextStep.PUNISH,)
    assert next_steps(POLICE, TermResult.PARTLY)[0] == NextStep.PUNISH
    assert NextStep.PUNISH not in next_steps(PEOPLE, TermResult.PARTLY)


def test_term_numbers_round_trip() -> None:
    assert format_terms([3, 1, 2, 1]) == "1,2,3"
    assert parse_terms("1,2,3") == (1, 2, 3)
    assert parse_terms("") == ()


def test_urgency_against_the_day_given() -> None:
    today = date(2025, 10, 9)
    assert urgency(today, today) == Urgency.TODAY
    assert urgency(date(2025, 10, 8), today) == Urgency.OVERDUE
    assert urgency(date(2025, 10, 10), today) == Urgency.LATER


def test_the_list_order_is_overdue_then_today_then_later() -> None:
    today = date(2025, 10, 9)
    days = [date(2025, 10, 20), date(2025, 10, 9), date(2025, 10, 1), date(2025, 9, 30)]
    ordered = sorted(enumerate(days), key=lambda pair: list_order(pair[1], today, pair[0]))
    assert [d for _, d in ordered] == [
        date(2025, 9, 30),
        date(2025, 10, 1),
        date(2025, 10, 9),
        date(2025, 10, 20),
    ]
