"""What a follow-up form or API body may carry, validated before the service sees it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from server.followups.rules import Method, NextStep, ReferTo, TaskStatus, TermResult

Reached = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Detail = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]

#: More terms than an agreement can have (server/agreements/schemas.py MAX_TERMS is 30).
MAX_RESULTS = 30


class RecordInput(BaseModel):
    """One follow-up: when, how, who was reached, the result per term, what happens next.

    ``expected_version`` is the task's version the form was built from: two
    officers recording the same follow-up at once both send the same one, and
    only the first finds it still current.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    expected_version: int = Field(ge=1)
    contacted_at: datetime
    method: Method
    reached: Reached
    results: dict[Annotated[int, Field(ge=1, le=1000)], TermResult] = Field(
        default_factory=dict,
        max_length=MAX_RESULTS,
        description="Term number (1-based) → result, for a follow-up of an agreement.",
    )
    outcome: TermResult | None = Field(
        default=None, description="The result of a follow-up that covers no terms."
    )
    note: Note = ""
    next_step: NextStep | None = None
    refer_to: ReferTo | None = None
    next_detail: Detail = ""


class TaskFilter(BaseModel):
    """The follow-up list: an office within the reader's scope, their own tasks, a status."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    office_id: int | None = Field(default=None, ge=1)
    mine: bool = False
    status: TaskStatus = TaskStatus.OPEN
