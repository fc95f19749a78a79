"""What an administrator types: one day of the station's own working-day calendar."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from server.errors import N_

#: The name's column width (``WorkdayOverride.name``): refused when longer, never cut.
MAX_NAME = 40
#: What a day is: a day off (放假) or a make-up working day (调休上班).
Kind = Literal["holiday", "workday"]
KIND_LABELS: dict[str, str] = {
    "holiday": N_("Holiday (day off)"),
    "workday": N_("Make-up working day"),
}
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME)]


class OverrideInput(BaseModel):
    """One day and what it is, e.g. 2027-02-06, holiday, 春节."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    day: date
    kind: Kind
    name: Name

    @property
    def workday(self) -> bool:
        return self.kind == "workday"
