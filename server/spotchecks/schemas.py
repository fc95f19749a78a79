"""Inputs for a draw and for one check's finding."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from server.spotchecks.draw import Mode

Reached = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class DrawInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    period_start: date
    period_end: date
    office_id: int | None = Field(default=None, ge=1, description="None: every office.")
    mode: Mode
    amount: int = Field(ge=0, le=100_000)


class CheckInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    expected_version: int = Field(ge=1)
    checked_at: datetime
    method: Annotated[str, StringConstraints(pattern=r"^(phone|visit|video)$")]
    reached: Reached
    stays_resolved: bool
    note: Note = ""
