"""The structured draft: what the drafter types, validated before it is kept."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Text4000 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
Text500 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Term = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)]

MAX_TERMS = 30


class DraftContent(BaseModel):
    """The agreement's own words. Parties, presiding officer and time come from the record.

    A term may have a deadline of its own (``term_deadlines``, by the term's
    position); a term without one falls due on ``performance_deadline``, which
    stays the agreement's overall deadline (its 履行期限). The deadlines sit
    beside ``terms`` rather than inside them so that every stored draft, whose
    terms are plain strings, loads as it was and prints the very same text.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    facts: Text4000 = ""
    disputed_matters: Text4000 = ""
    responsibility: Text4000 = ""
    terms: tuple[Term, ...] = Field(default=(), max_length=MAX_TERMS)
    #: Empty when no term has a deadline of its own; else one entry per term (None: the
    #: overall deadline).
    term_deadlines: tuple[date | None, ...] = Field(default=(), max_length=MAX_TERMS)
    performance_manner: Text500 = ""
    performance_deadline: date | None = None
    copies: int | None = Field(default=None, ge=1, le=20)
    others_present: Text500 = ""

    @model_validator(mode="before")
    @classmethod
    def _pair_terms_with_deadlines(cls, data: Any) -> Any:
        """Blank lines in the term list are layout, not terms: each goes with its deadline.

        Deadlines are kept aligned with the terms they belong to: a shorter list
        means the rest have none, a longer one is refused (a deadline for no term),
        an empty date (a form's blank field) is no deadline, and a list holding no
        deadline at all is stored as none, as drafts were before terms had them.
        """
        if not isinstance(data, dict):
            return data
        terms, deadlines = data.get("terms", ()), data.get("term_deadlines", ())
        if not isinstance(terms, list | tuple) or not isinstance(deadlines, list | tuple):
            return data  # the wrong shape: the field's own validation says so
        if len(deadlines) > len(terms):
            raise ValueError("more term deadlines than terms")
        padded = [None if d == "" else d for d in deadlines]
        padded += [None] * (len(terms) - len(padded))
        kept = [
            (term, deadline)
            for term, deadline in zip(terms, padded, strict=True)
            if not (isinstance(term, str) and not term.strip())
        ]
        result = {**data, "terms": tuple(term for term, _ in kept)}
        own = tuple(deadline for _, deadline in kept)
        result["term_deadlines"] = own if any(d is not None for d in own) else ()
        return result

    def deadline_of(self, index: int) -> date | None:
        """The term's own deadline (0-based index), or None when it has none."""
        return self.term_deadlines[index] if index < len(self.term_deadlines) else None

    def due_on(self, index: int) -> date | None:
        """When the term (0-based index) falls due: its own deadline, else the overall one."""
        return self.deadline_of(index) or self.performance_deadline


class DraftEdit(BaseModel):
    """A save from the drafting panel: the version it was based on, and the new content."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_version: int = Field(ge=1)
    content: DraftContent


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
