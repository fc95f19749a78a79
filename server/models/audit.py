"""The audit trail. Rows are only ever added; the database refuses changes."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from server.models.base import utcnow


class AuditEvent(SQLModel, table=True):
    """Who did what, when, from which address."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    station_id: int | None = Field(default=None, foreign_key="station.id", index=True)
    actor_id: int | None = Field(default=None, foreign_key="staff_user.id", index=True)
    actor_label: str = Field(default="", max_length=80)
    action: str = Field(max_length=60, index=True)
    object_type: str = Field(default="", max_length=40)
    object_id: str = Field(default="", max_length=40)
    detail: str = Field(default="", max_length=2000)
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=300)
