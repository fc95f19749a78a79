"""SQLModel tables. The schema itself is created only by Alembic migrations."""

from server.models.audit import AuditEvent
from server.models.base import utcnow
from server.models.dispute import Dispute, DisputeEvent, Party
from server.models.org import BeatOffice, LoginThrottle, StaffSession, StaffUser, Station

__all__ = [
    "AuditEvent",
    "BeatOffice",
    "Dispute",
    "DisputeEvent",
    "LoginThrottle",
    "Party",
    "StaffSession",
    "StaffUser",
    "Station",
    "utcnow",
]
