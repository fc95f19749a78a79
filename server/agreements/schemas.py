"""The structured draft: what the drafter types, validated before it is kept."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Text4000 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
Text500 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Term = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)]

MAX_TERMS = 30
#: The clerk's minutes (调解笔录): a product limit, and the column's width.
MAX_MINUTES_CHARS = 20000
Minutes = Annotated[str, StringConstraints(max_length=MAX_MINUTES_CHARS)]


class DraftContent(BaseModel):
    """The agreement's own words. Parties, presiding officer and time come from the record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    facts: Text4000 = ""
    disputed_matters: Text4000 = ""
    responsibility: Text4000 = ""
    terms: tuple[Term, ...] = Field(default=(), max_length=MAX_TERMS)
    performance_manner: Text500 = ""
    performance_deadline: date | None = None
    copies: int | None = Field(default=None, ge=1, le=20)
    others_present: Text500 = ""

    @field_validator("terms")
    @classmethod
    def _drop_empty_terms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        """Blank lines in the term list are layout, not terms."""
        return tuple(term for term in value if term)


class DraftEdit(BaseModel):
    """A save from the drafting panel: the version it was based on, and the new content."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_version: int = Field(ge=1)
    content: DraftContent
    minutes: Minutes | None = None


class MinutesEdit(BaseModel):
    """A save of the minutes alone: refused whole when too long, never cut short."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    minutes: Minutes = ""


class SignInput(BaseModel):
    """A signer's answer: the hash of the text they read, and a drawn signature."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    agree: bool
    image_data_url: Annotated[str, StringConstraints(max_length=600_000)]


class RefuseInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    text_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class CorrectionInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: Reason


class ArchiveQuery(BaseModel):
    """The case-record search."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    case_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)] = ""
    party_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] = ""
    date_from: date | None = None
    date_to: date | None = None
    office_id: int | None = Field(default=None, ge=1)
