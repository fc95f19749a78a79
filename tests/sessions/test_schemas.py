"""The booking input: what the police-mediation checklist means on each track."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from server.sessions.rules import POLICE_CHECKS
from server.sessions.schemas import BookingInput
from tests.sessions.helpers import local

CHECKS = list(POLICE_CHECKS)


def booking_data(track: str, checks: list[str]) -> dict[str, object]:
    return {
        "starts_at": local(),
        "duration_minutes": 60,
        "legal_track": track,
        "presiding_officer_id": 1,
        "police_checks": checks,
    }


def test_the_checklist_is_kept_for_police_mediation() -> None:
    assert BookingInput.model_validate(booking_data("police", CHECKS)).police_checks == CHECKS


def test_the_checklist_is_dropped_for_peoples_mediation() -> None:
    assert BookingInput.model_validate(booking_data("people", CHECKS[:2])).police_checks == []


def test_an_unknown_check_is_refused_on_either_track() -> None:
    for track in ("people", "police"):
        with pytest.raises(ValidationError):
            BookingInput.model_validate(booking_data(track, ["made_up"]))
