"""The loop after the outcome: follow-up visits (回访) and what each found.

A task is created by the system (from a sealed agreement's deadlines, or by
rule when a dispute closes without one); a record answers it once. The
``version`` column lets two officers recording the same follow-up at once
find out that one of them was first, instead of both being half-kept.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from server.models.base import utcnow


class FollowUpTask(SQLModel, table=True):
    """One follow-up due: for some terms of an agreement, or for a dispute closed without one."""

    __tablename__ = "followup_task"

    id: int | None = Field(default=None, primary_key=True)
    dispute_id: int = Field(foreign_key="dispute.id", index=True)
    station_id: int = Field(foreign_key="station.id", index=True)
    office_id: int = Field(foreign_key="beat_office.id", index=True)
    agreement_id: int | None = Field(default=None, foreign_key="agreement.id", index=True)
    kind: str = Field(max_length=20, description="performance / outcome (referred, withdrawn…)")
    legal_track: str = Field(default="", max_length=20, description="'' when no agreement")
    deadline: date | None = Field(default=None, description="The performance deadline checked.")
    due_on: date = Field(index=True)
    terms: str = Field(
        default="", max_length=200, description="Term numbers (1-based, comma-separated) due."
    )
    assignee_id: int | None = Field(default=None, foreign_key="staff_user.id", index=True)
    status: str = Field(default="open", max_length=20, index=True, description="open/done/void")
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    done_at: datetime | None = None


class FollowUpRecord(SQLModel, table=True):
    """What a follow-up found: one per task (the unique task id makes a second one fail)."""

    __tablename__ = "followup_record"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="followup_task.id", unique=True)
    dispute_id: int = Field(foreign_key="dispute.id", index=True)
    contacted_at: datetime
    method: str = Field(max_length=20, description="phone / visit / video")
    reached: str = Field(max_length=200, description="Who was reached, as typed.")
    outcome: str = Field(max_length=20, index=True, description="Overall: the worst term result.")
    next_step: str = Field(default="", max_length=20, description="'' / book / refer / close …")
    next_detail: str = Field(default="", max_length=500, description="Referral body or reason.")
    note: str = Field(default="", max_length=2000)
    recorded_by_id: int = Field(foreign_key="staff_user.id")
    recorded_at: datetime = Field(default_factory=utcnow)


class FollowUpTermResult(SQLModel, table=True):
    """The result for one term: performed, partly, not performed, no longer relevant."""

    __tablename__ = "followup_term_result"
    __table_args__ = (UniqueConstraint("record_id", "term_number"),)

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="followup_record.id", index=True)
    term_number: int = Field(ge=1)
    result: str = Field(max_length=20, index=True)


class WorkdayOverride(SQLModel, table=True):
    """A station's own word on one day: a holiday or a make-up working day (调休) that the
    holiday library does not know yet (a new year's schedule is published each autumn)."""

    __tablename__ = "workday_override"
    __table_args__ = (UniqueConstraint("station_id", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    station_id: int = Field(foreign_key="station.id", index=True)
    day: date
    workday: bool
    name: str = Field(default="", max_length=40, description="e.g. 春节, 国庆节调休")
    created_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    created_at: datetime = Field(default_factory=utcnow)
