"""The tables the figures read, as SQLAlchemy Core tables (typed for mypy)."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table
from sqlmodel import SQLModel

from server.models import (
    Agreement,
    BeatOffice,
    Dispute,
    DisputeEvent,
    Expert,
    FollowUpRecord,
    FollowUpTask,
    Invitation,
    MediationSession,
    Party,
)


def table_of(model: type[SQLModel]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


AGREEMENT = table_of(Agreement)
BEAT_OFFICE = table_of(BeatOffice)
DISPUTE = table_of(Dispute)
DISPUTE_EVENT = table_of(DisputeEvent)
EXPERT = table_of(Expert)
FOLLOWUP_RECORD = table_of(FollowUpRecord)
FOLLOWUP_TASK = table_of(FollowUpTask)
INVITATION = table_of(Invitation)
MEDIATION_SESSION = table_of(MediationSession)
PARTY = table_of(Party)
