"""What a caller must supply to register, triage or move a dispute.

Validated with pydantic; custom checks raise ``PydanticCustomError`` with a
stable type (``invalid_id_number`` ...) that the edges turn into a message in
the reader's language.
"""

from __future__ import annotations

import re
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

from server.disputes.lifecycle import (
    Category,
    IdType,
    PartyRole,
    RiskLevel,
    Source,
    Status,
    Trend,
)
from server.pii import normalise_id_number, resident_id_is_valid

_PHONE = re.compile(r"^\+?[0-9][0-9\- ]{4,18}[0-9]$")
_OTHER_ID = re.compile(r"^[A-Z0-9\-]{4,32}$")


Text40 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Text100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text500 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Text1000 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
OptText20 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=0, max_length=20)]
OptText40 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=0, max_length=40)]
OptText100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=0, max_length=100)]
OptText200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=0, max_length=200)]
OptText500 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=0, max_length=500)]
OptText1000 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=0, max_length=1000)
]
OptText4000 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=0, max_length=4000)
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PartyInput(_Input):
    """A person in the dispute, or someone acting for one."""

    name: Text40
    role: PartyRole
    id_type: IdType = IdType.RESIDENT_ID
    id_number: OptText40 = ""
    phone: OptText20 = ""
    address: OptText200 = ""
    minor: bool = False
    represents_party_id: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _check(self) -> PartyInput:
        if self.id_number:
            number = normalise_id_number(self.id_number)
            if self.id_type == IdType.RESIDENT_ID and not resident_id_is_valid(number):
                raise PydanticCustomError(
                    "invalid_id_number", "not a valid resident ID number", {"field": "id_number"}
                )
            if self.id_type != IdType.RESIDENT_ID and not _OTHER_ID.match(number):
                raise PydanticCustomError(
                    "invalid_document_number", "not a valid document number", {"field": "id_number"}
                )
            object.__setattr__(self, "id_number", number)
        if self.phone and not _PHONE.match(self.phone):
            raise PydanticCustomError("invalid_phone", "not a phone number", {"field": "phone"})
        return self


class DisputeInput(_Input):
    """The registration elements (登记建档) of a dispute."""

    office_id: int | None = Field(default=None, ge=1)
    title: Text100
    category: Category
    cause: Text500
    occurred_at: datetime
    place: Text200
    scale: int = Field(ge=1, le=10000)
    people_involved: OptText500 = ""
    trend: Trend
    development: OptText1000 = ""
    description: OptText4000 = ""
    source: Source = Source.WALK_IN
    initial_risk: RiskLevel | None = Field(
        default=None,
        description="初判: the registrar's first grade; left empty, the rule proposes one.",
    )
    parties: list[PartyInput] = Field(default_factory=list, max_length=20, validate_default=True)

    @field_validator("parties")
    @classmethod
    def _at_least_one(cls, parties: list[PartyInput]) -> list[PartyInput]:
        # A field check, not a model check: it is reported together with every other
        # missing field, where a check after validation would wait for a second round.
        if not parties:
            raise PydanticCustomError("no_party", "register at least one party")
        return parties


class ProposalParty(_Input):
    """What the 初判 rule reads of a person still being typed on the form: no check of the
    number here (the registration checks it); one that is not a resident ID tells no age."""

    id_type: IdType = IdType.RESIDENT_ID
    id_number: OptText40 = ""
    minor: bool = False


class RiskProposalInput(_Input):
    """The registration form's fields the 初判 rule reads, to show its proposal live."""

    trend: Trend
    scale: int = Field(ge=1, le=10000)
    category: Category
    parties: list[ProposalParty] = Field(default_factory=list, max_length=20)


class TriageInput(_Input):
    """分流: the risk grade, whether it is a crime, who leads, and why."""

    risk_level: RiskLevel
    criminal: bool = False
    assignee_id: int = Field(ge=1)
    reason: Text1000


class TransitionInput(_Input):
    """A move along the closed loop, with the note that explains it."""

    to_status: Status
    note: Text1000
    expected_version: int | None = Field(default=None, ge=1)


class RevealInput(_Input):
    """Why someone needs to see a full ID number; it goes into the audit trail."""

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=200)]


class DisputeFilter(_Input):
    """Search and filters for the register."""

    q: OptText100 = ""
    office_id: int | None = Field(default=None, ge=1)
    category: Category | None = None
    risk_level: RiskLevel | None = None
    status: Status | None = None
    open_only: bool = False
    date_from: date | None = None
    date_to: date | None = None
    page: int = Field(default=1, ge=1, le=10000)
    per_page: int = Field(default=25, ge=1, le=100)
