"""What may be recorded about a window, pure: the filing and the decision checks."""

from __future__ import annotations

from datetime import date

import pytest

from server.errors import Conflict, DomainError, ValidationFailed
from server.judicial.clock import Status
from server.judicial.rules import Window, check_decision, check_filing

OPEN = Window(date(2026, 11, 2), date(2026, 12, 2), Status.OPEN, None)
FILED = Window(date(2026, 11, 2), date(2026, 12, 2), Status.FILED, date(2026, 11, 10))
TODAY = date(2026, 12, 20)


def refusal(call: object) -> DomainError:
    assert callable(call)
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value


def test_a_filing_inside_the_window_passes() -> None:
    for day in (date(2026, 11, 2), date(2026, 11, 20), date(2026, 12, 2)):
        check_filing(OPEN, day, TODAY)


@pytest.mark.parametrize(
    ("filed_on", "today", "field"),
    [
        (date(2026, 11, 1), TODAY, "before_effective"),
        (date(2026, 12, 3), TODAY, "lapsed"),
        (date(2026, 11, 21), date(2026, 11, 20), "future"),
    ],
)
def test_a_filing_out_of_bounds_is_refused(filed_on: date, today: date, field: str) -> None:
    error = refusal(lambda: check_filing(OPEN, filed_on, today))
    assert isinstance(error, ValidationFailed)
    assert error.fields == {"filed_on": field}


def test_a_second_filing_is_a_conflict() -> None:
    assert isinstance(refusal(lambda: check_filing(FILED, date(2026, 11, 12), TODAY)), Conflict)


def test_a_decision_needs_a_filing_a_number_and_a_sane_date() -> None:
    check_decision(FILED, Status.CONFIRMED, date(2026, 11, 10), "（2026）白法民特12号", TODAY)
    assert isinstance(
        refusal(lambda: check_decision(OPEN, Status.CONFIRMED, date(2026, 11, 20), "1", TODAY)),
        Conflict,
    )
    cases = [
        ((Status.CONFIRMED, date(2026, 11, 20), "  "), {"ruling_number": "missing"}),
        ((Status.NOT_CONFIRMED, date(2026, 11, 9), "1"), {"decided_on": "before_filing"}),
        ((Status.CONFIRMED, date(2026, 12, 21), "1"), {"decided_on": "future"}),
        (("maybe", date(2026, 11, 20), "1"), {"decision": "enum"}),
    ]
    for (decision, day, ruling), fields in cases:
        error = refusal(lambda: check_decision(FILED, decision, day, ruling, TODAY))  # noqa: B023
        assert error.fields == fields
    done = Window(date(2026, 11, 2), date(2026, 12, 2), Status.CONFIRMED, date(2026, 11, 10))
    assert isinstance(
        refusal(lambda: check_decision(done, Status.CONFIRMED, date(2026, 11, 20), "1", TODAY)),
        Conflict,
    )
