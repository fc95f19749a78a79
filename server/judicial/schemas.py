"""Inputs for recording what became of a window: the filing and the court's decision."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Opt100 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
Opt60 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)]
Opt20 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


class FilingInput(BaseModel):
    """The parties filed their joint application on ``filed_on`` with ``court_name``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    expected_version: int = Field(ge=1, description="The row's version the form was read at.")
    filed_on: date
    court_name: Opt100 = Field(default="", description="Empty: the office's configured court.")
    note: Note = ""


class DecisionInput(BaseModel):
    """The court's ruling: confirmed or not, when, and its number (checked in ``rules``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    expected_version: int = Field(ge=1)
    decision: Opt20
    decided_on: date
    ruling_number: Opt60 = ""
    note: Note = ""
