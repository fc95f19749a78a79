"""司法确认: a people's-mediation agreement on its way to the basic people's court."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from server.models.base import utcnow


class JudicialConfirmation(SQLModel, table=True):
    """The 30-day window (People's Mediation Law art. 33) of one sealed agreement, and what
    became of it. One per agreement draft: a correction keeps the window of the case."""

    __tablename__ = "judicial_confirmation"

    id: int | None = Field(default=None, primary_key=True)
    draft_id: int = Field(foreign_key="agreement_draft.id", unique=True)
    agreement_id: int = Field(foreign_key="agreement.id", index=True)
    dispute_id: int = Field(foreign_key="dispute.id", index=True)
    station_id: int = Field(foreign_key="station.id", index=True)
    office_id: int = Field(foreign_key="beat_office.id", index=True)
    effective_on: date
    window_ends_on: date = Field(index=True)
    court_name: str = Field(default="", max_length=100)
    status: str = Field(
        default="open",
        max_length=20,
        index=True,
        description="open / filed / confirmed / not_confirmed / not_filed",
    )
    packet_made_at: datetime | None = None
    filed_on: date | None = None
    decided_on: date | None = None
    ruling_number: str = Field(default="", max_length=60)
    note: str = Field(default="", max_length=1000)
    version: int = 1
    updated_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
