"""When each term falls due: the dates follow-up visits are built from."""

from __future__ import annotations

from datetime import date

from server.agreements.deadlines import due_dates
from server.agreements.schemas import DraftContent

OVERALL = date(2027, 3, 1)


def test_every_term_falls_due_on_the_overall_deadline_without_its_own() -> None:
    content = DraftContent(terms=("一", "二", "三"), performance_deadline=OVERALL)
    assert due_dates(content) == [(OVERALL, (1, 2, 3))]


def test_terms_with_their_own_deadlines_fall_due_on_them_sorted_by_date() -> None:
    content = DraftContent(
        terms=("一", "二", "三", "四"),
        term_deadlines=(date(2027, 2, 1), None, date(2027, 1, 10), date(2027, 2, 1)),
        performance_deadline=OVERALL,
    )
    assert due_dates(content) == [
        (date(2027, 1, 10), (3,)),
        (date(2027, 2, 1), (1, 4)),
        (OVERALL, (2,)),
    ]


def test_a_term_due_on_the_overall_day_joins_the_terms_without_one() -> None:
    content = DraftContent(
        terms=("一", "二"), term_deadlines=(OVERALL, None), performance_deadline=OVERALL
    )
    assert due_dates(content) == [(OVERALL, (1, 2))]


def test_without_an_overall_deadline_only_terms_with_their_own_fall_due() -> None:
    content = DraftContent(terms=("一", "二"), term_deadlines=(None, date(2027, 1, 10)))
    assert due_dates(content) == [(date(2027, 1, 10), (2,))]
    assert due_dates(DraftContent(terms=("一",))) == []


def test_no_terms_nothing_falls_due() -> None:
    assert due_dates(DraftContent(performance_deadline=OVERALL)) == []


def test_blank_terms_do_not_shift_the_numbers() -> None:
    content = DraftContent.model_validate(
        {
            "terms": ["一", "", "二"],
            "term_deadlines": [None, None, "2027-01-10"],
            "performance_deadline": OVERALL,
        }
    )
    assert due_dates(content) == [(date(2027, 1, 10), (2,)), (OVERALL, (1,))]
