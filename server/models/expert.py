"""The expert pool (调解专家库): people outside the office who join sessions by link."""

from __future__ import annotations

from datetime import date, datetime, time

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


class ExpertAvailability(SQLModel, table=True):
    """When an expert can serve: a weekly window, or an exception on one date.

    A weekly entry names a weekday (0 Monday … 6 Sunday); an exception names a date and
    says whether the expert is free then (an extra window) or not (leave, a trial day).
    An exception on a date wins over the weekly windows of that weekday.
    """

    __tablename__ = "expert_availability"

    id: int | None = Field(default=None, primary_key=True)
    expert_id: int = Field(foreign_key="expert.id", index=True)
    kind: str = Field(max_length=10, description="weekly / exception")
    weekday: int | None = Field(default=None, description="0 Monday … 6 Sunday, weekly only")
    on_date: date | None = Field(default=None, index=True, description="exception only")
    starts: time
    ends: time
    available: bool = Field(default=True, description="False: an exception saying not free")
    note: str = Field(default="", max_length=200)
    created_by_id: int = Field(foreign_key="staff_user.id")
    created_at: datetime = Field(default_factory=utcnow)


class DutySlot(SQLModel, table=True):
    """轮流坐班: one turn of an expert on duty at a beat office (public-interest lawyers,
    judicial office staff). The slot is for a kind of expert; the expert must be of it."""

    __tablename__ = "duty_slot"

    id: int | None = Field(default=None, primary_key=True)
    station_id: int = Field(foreign_key="station.id", index=True)
    office_id: int = Field(foreign_key="beat_office.id", index=True)
    on_date: date = Field(index=True)
    starts: time
    ends: time
    expert_kind: str = Field(max_length=30)
    expert_id: int = Field(foreign_key="expert.id", index=True)
    note: str = Field(default="", max_length=200)
    created_by_id: int = Field(foreign_key="staff_user.id")
    created_at: datetime = Field(default_factory=utcnow)


class ExpertRelation(SQLModel, table=True):
    """A declared conflict (利害关系): the expert's relation to a person or an organisation.

    Booking warns when a party of the dispute matches it (by name, phone or, for an
    organisation, its name appearing among the parties or in the dispute's account).
    """

    __tablename__ = "expert_relation"

    id: int | None = Field(default=None, primary_key=True)
    expert_id: int = Field(foreign_key="expert.id", index=True)
    relation: str = Field(max_length=20, description="kin / employer / prior_counsel / other")
    person_name: str = Field(default="", max_length=40)
    person_phone: str = Field(default="", max_length=20)
    organisation: str = Field(default="", max_length=100)
    note: str = Field(default="", max_length=200)
    created_by_id: int = Field(foreign_key="staff_user.id")
    created_at: datetime = Field(default_factory=utcnow)
