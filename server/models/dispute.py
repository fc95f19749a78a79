"""Disputes, their parties and their timeline."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from server.models.base import utcnow


class Dispute(SQLModel, table=True):
    """纠纷: one registered dispute and where it stands on the closed loop."""

    __tablename__ = "dispute"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(default="", max_length=40, index=True)
    station_id: int = Field(foreign_key="station.id", index=True)
    office_id: int = Field(foreign_key="beat_office.id", index=True)
    title: str = Field(max_length=100)
    category: str = Field(max_length=20, index=True)
    cause: str = Field(max_length=500)
    occurred_at: datetime
    place: str = Field(max_length=200)
    scale: int
    people_involved: str = Field(default="", max_length=500)
    trend: str = Field(max_length=20)
    development: str = Field(default="", max_length=1000)
    description: str = Field(default="", max_length=4000)
    source: str = Field(max_length=20)
    status: str = Field(max_length=20, index=True)
    risk_level: str | None = Field(default=None, max_length=20, index=True)
    route: str | None = Field(default=None, max_length=20)
    assignee_id: int | None = Field(default=None, foreign_key="staff_user.id", index=True)
    triage_reason: str = Field(default="", max_length=1000)
    created_by_id: int = Field(foreign_key="staff_user.id")
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)
    version: int = 1
    criminal_on: date | None = Field(
        default=None, description="民转刑: the day the dispute turned into a criminal case."
    )
    criminal_case_ref: str = Field(default="", max_length=60)


class Party(SQLModel, table=True):
    """当事人 and those acting for them. The ID number is kept encrypted."""

    __tablename__ = "party"

    id: int | None = Field(default=None, primary_key=True)
    dispute_id: int = Field(foreign_key="dispute.id", index=True)
    name: str = Field(max_length=40)
    role: str = Field(max_length=20)
    id_type: str = Field(default="resident_id", max_length=20)
    id_number_encrypted: str = Field(default="", max_length=400)
    id_number_masked: str = Field(default="", max_length=40)
    id_number_digest: str = Field(default="", max_length=64, index=True)
    phone: str = Field(default="", max_length=20)
    address: str = Field(default="", max_length=200)
    minor: bool = False
    represents_id: int | None = Field(default=None, foreign_key="party.id")
    created_at: datetime = Field(default_factory=utcnow)


class DisputeEvent(SQLModel, table=True):
    """One line of a dispute's timeline: every change adds one."""

    __tablename__ = "dispute_event"

    id: int | None = Field(default=None, primary_key=True)
    dispute_id: int = Field(foreign_key="dispute.id", index=True)
    at: datetime = Field(default_factory=utcnow)
    actor_id: int | None = Field(default=None, foreign_key="staff_user.id")
    kind: str = Field(max_length=30)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str | None = Field(default=None, max_length=20)
    note: str = Field(default="", max_length=1000)
    link_kind: str = Field(
        default="", max_length=20, description="What caused it: followup / spot_check / …"
    )
    link_id: int | None = Field(default=None, description="The id of that follow-up or check.")


class RiskAlert(SQLModel, table=True):
    """预警: a dispute graded high risk, shown on its office's dashboard until someone
    responsible acknowledges it. Raised at registration (the first assessment) or at triage."""

    __tablename__ = "risk_alert"

    id: int | None = Field(default=None, primary_key=True)
    station_id: int = Field(foreign_key="station.id", index=True)
    office_id: int = Field(foreign_key="beat_office.id", index=True)
    dispute_id: int = Field(foreign_key="dispute.id", index=True)
    risk_level: str = Field(max_length=20)
    route: str = Field(max_length=20, description="Who leads, as the risk grade sets it.")
    raised_on: str = Field(max_length=20, description="registration / triage")
    reasons: str = Field(default="", max_length=500, description="Why: the rule's findings.")
    raised_at: datetime = Field(default_factory=utcnow, index=True)
    raised_by_id: int = Field(foreign_key="staff_user.id")
    acknowledged_at: datetime | None = None
    acknowledged_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
