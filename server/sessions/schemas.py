"""Inputs for booking, rescheduling, cancelling and inviting."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from server.experts.schemas import PHONE, normalise_phone
from server.sessions.rules import MAX_MINUTES, MIN_MINUTES, POLICE_CHECKS, LegalTrack

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
OptPhone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObserverInput(_Input):
    """Someone invited by name only: an interpreter, a relative, a grid worker."""

    name: Name
    phone: OptPhone = ""

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        if value and not PHONE.match(value):
            raise PydanticCustomError("invalid_phone", "not a phone number")
        return normalise_phone(value)


class BookingInput(_Input):
    starts_at: datetime
    duration_minutes: int = Field(ge=MIN_MINUTES, le=MAX_MINUTES)
    legal_track: LegalTrack
    police_checks: list[str] = Field(default_factory=list, max_length=20)
    presiding_officer_id: int = Field(ge=1)
    party_ids: list[int] = Field(default_factory=list, max_length=20)
    expert_ids: list[int] = Field(default_factory=list, max_length=20)
    staff_ids: list[int] = Field(default_factory=list, max_length=10)
    observers: list[ObserverInput] = Field(default_factory=list, max_length=10)
    note: Note = ""
    confirm_conflicts: bool = False

    @field_validator("police_checks")
    @classmethod
    def _known_checks(cls, value: list[str]) -> list[str]:
        unknown = [key for key in value if key not in POLICE_CHECKS]
        if unknown:
            raise PydanticCustomError("enum", "unknown police check")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _checks_only_for_police(self) -> BookingInput:
        # The checklist belongs to police mediation: ticks left over from a form switched
        # back to people's mediation say nothing and are not kept.
        if self.legal_track != LegalTrack.POLICE and self.police_checks:
            object.__setattr__(self, "police_checks", [])
        return self


class RescheduleInput(_Input):
    starts_at: datetime
    duration_minutes: int = Field(ge=MIN_MINUTES, le=MAX_MINUTES)
    confirm_conflicts: bool = False


class CancelInput(_Input):
    reason: Reason


class RevokeInput(_Input):
    reason: Reason


class CalendarQuery(_Input):
    day: date | None = None
    view: str = Field(default="week", pattern="^(day|week)$")
    office_id: int | None = Field(default=None, ge=1)
