"""What adding or editing an expert takes."""

from __future__ import annotations

import re
from datetime import date, time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from server.disputes.lifecycle import Category
from server.experts.kinds import ExpertKind

PHONE = re.compile(r"^\+?[0-9][0-9\- ]{4,17}[0-9]$")

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Organisation = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
Notes = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


def normalise_phone(value: str) -> str:
    """Phones compare without spaces and dashes, so one person is not entered twice."""
    return re.sub(r"[\s\-]", "", value)


class ExpertInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    kind: ExpertKind
    organisation: Organisation = ""
    phone: Phone
    specialties: list[Category] = Field(default_factory=list, max_length=len(Category))
    office_ids: list[int] = Field(default_factory=list, max_length=50)
    active: bool = True
    notes: Notes = ""

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        if not PHONE.match(value):
            raise PydanticCustomError("invalid_phone", "not a phone number")
        return normalise_phone(value)

    @field_validator("specialties")
    @classmethod
    def _unique_specialties(cls, value: list[Category]) -> list[Category]:
        return list(dict.fromkeys(value))

    @field_validator("office_ids")
    @classmethod
    def _unique_offices(cls, value: list[int]) -> list[int]:
        return list(dict.fromkeys(value))


Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class AvailabilityForm(BaseModel):
    """A weekly window or a dated exception, as the expert's page posts it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["weekly", "exception"]
    weekday: int | None = Field(default=None, ge=0, le=6)
    on_date: date | None = None
    starts: time
    ends: time
    available: bool = True
    note: Note = ""


class RelationForm(BaseModel):
    """A declared relation to a person (name, phone) or to an organisation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    relation: Literal["kin", "employer", "prior_counsel", "other"]
    person_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] = ""
    person_phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] = ""
    organisation: Organisation = ""
    note: Note = ""

    @field_validator("person_phone")
    @classmethod
    def _person_phone(cls, value: str) -> str:
        if value and not PHONE.match(value):
            raise PydanticCustomError("invalid_phone", "not a phone number")
        return normalise_phone(value)


class SlotForm(BaseModel):
    """A duty slot as the rota page posts it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    office_id: int = Field(ge=1)
    on_date: date
    starts: time
    ends: time
    expert_kind: ExpertKind
    expert_id: int = Field(ge=1)
    repeat_weeks: int = Field(default=1, ge=1, le=13)
    note: Note = ""
