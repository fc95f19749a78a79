"""What adding or editing an expert takes."""

from __future__ import annotations

import re
from typing import Annotated

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
