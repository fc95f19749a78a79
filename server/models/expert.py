"""The expert pool (调解专家库): people outside the office who join sessions by link."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from server.models.base import utcnow


class Expert(SQLModel, table=True):
    """A member of the pool. Never deleted once a session refers to them: deactivated."""

    __tablename__ = "expert"

    id: int | None = Field(default=None, primary_key=True)
    station_id: int = Field(foreign_key="station.id", index=True)
    name: str = Field(max_length=40)
    kind: str = Field(max_length=30, index=True)
    organisation: str = Field(default="", max_length=100)
    phone: str = Field(max_length=20, index=True)
    active: bool = True
    notes: str = Field(default="", max_length=1000)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ExpertSpecialty(SQLModel, table=True):
    """A dispute category the expert is suited to."""

    __tablename__ = "expert_specialty"

    expert_id: int = Field(foreign_key="expert.id", primary_key=True)
    category: str = Field(max_length=20, primary_key=True)


class ExpertOffice(SQLModel, table=True):
    """A beat office the expert serves."""

    __tablename__ = "expert_office"

    expert_id: int = Field(foreign_key="expert.id", primary_key=True)
    office_id: int = Field(foreign_key="beat_office.id", primary_key=True)
