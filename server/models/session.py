"""Mediation sessions and the personal invitations to them."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from server.models.base import utcnow


class MediationSession(SQLModel, table=True):
    """调解场次: one booked sitting for a dispute, on one legal track."""

    __tablename__ = "mediation_session"

    id: int | None = Field(default=None, primary_key=True)
    station_id: int = Field(foreign_key="station.id", index=True)
    office_id: int = Field(foreign_key="beat_office.id", index=True)
    dispute_id: int = Field(foreign_key="dispute.id", index=True)
    starts_at: datetime = Field(index=True)
    ends_at: datetime = Field(index=True)
    duration_minutes: int
    legal_track: str = Field(max_length=20)
    police_checks_confirmed: bool = False
    presiding_officer_id: int = Field(foreign_key="staff_user.id", index=True)
    status: str = Field(max_length=20, index=True)
    note: str = Field(default="", max_length=500)
    cancel_reason: str = Field(default="", max_length=500)
    created_by_id: int = Field(foreign_key="staff_user.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Invitation(SQLModel, table=True):
    """One invitee's personal link to one session, bound to a role.

    Only the SHA-256 of the token is stored: the link is shown when issued
    and can be replaced (reissued) but never read back from the database.
    """

    __tablename__ = "invitation"

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="mediation_session.id", index=True)
    role: str = Field(max_length=20)
    party_id: int | None = Field(default=None, foreign_key="party.id", index=True)
    expert_id: int | None = Field(default=None, foreign_key="expert.id", index=True)
    staff_id: int | None = Field(default=None, foreign_key="staff_user.id")
    display_name: str = Field(max_length=40)
    phone: str = Field(default="", max_length=20)
    token_hash: str = Field(max_length=64, unique=True)
    issued_at: datetime = Field(default_factory=utcnow)
    issued_by_id: int = Field(foreign_key="staff_user.id")
    issue_count: int = 1
    expires_at: datetime
    revoked_at: datetime | None = None
    revoked_reason: str = Field(default="", max_length=200)
    first_opened_at: datetime | None = None
    last_opened_at: datetime | None = None
    open_count: int = 0
