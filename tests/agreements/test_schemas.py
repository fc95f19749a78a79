"""The structured draft: terms and the deadlines some of them have of their own."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from server.agreements.schemas import DraftContent

DAY = date(2027, 1, 5)


def test_blank_terms_are_dropped_with_their_deadlines() -> None:
    content = DraftContent.model_validate(
        {"terms": ["赔礼道歉。", "  ", "赔偿800元。"], "term_deadlines": [None, "2027-01-01", DAY]}
    )
    assert content.terms == ("赔礼道歉。", "赔偿800元。")
    assert content.term_deadlines == (None, DAY)


def test_a_shorter_deadline_list_leaves_the_rest_on_the_overall_deadline() -> None:
    content = DraftContent(terms=("一", "二", "三"), term_deadlines=(DAY,))
    assert content.term_deadlines == (DAY, None, None)
    assert [content.deadline_of(i) for i in range(3)] == [DAY, None, None]


def test_no_deadline_of_its_own_anywhere_is_stored_as_none() -> None:
    """A form's blank date fields: the draft is stored as drafts were before."""
    content = DraftContent.model_validate({"terms": ["一", "二"], "term_deadlines": ["", None]})
    assert content.term_deadlines == ()
    assert '"term_deadlines":[]' in content.model_dump_json()


def test_due_on_is_the_terms_own_deadline_else_the_overall_one() -> None:
    overall = date(2027, 2, 1)
    content = DraftContent(
        terms=("一", "二"), term_deadlines=(DAY, None), performance_deadline=overall
    )
    assert (content.due_on(0), content.due_on(1)) == (DAY, overall)
    assert DraftContent(terms=("一",)).due_on(0) is None


@pytest.mark.parametrize(
    "deadlines",
    [
        ["2027-01-05", "2027-01-06"],  # a deadline for no term
        ["5 January"],
        ["2027-02-30"],
    ],
)
def test_bad_term_deadlines_are_refused(deadlines: list[str]) -> None:
    with pytest.raises(ValidationError):
        DraftContent.model_validate({"terms": ["一"], "term_deadlines": deadlines})
