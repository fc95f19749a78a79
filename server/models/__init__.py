"""SQLModel tables. The schema itself is created only by Alembic migrations.

``encrypted`` is imported for its ORM hooks: frozen agreement texts are kept encrypted.
"""

from server.models import encrypted  # noqa: F401
from server.models import stats_indexes as stats_indexes  # noqa: E402  (registers the indexes)
from server.models.agreement import (
    Agreement,
    AgreementDraft,
    CaseCounter,
    DraftRevision,
    Signature,
    Signer,
)
from server.models.audit import AuditEvent
from server.models.base import utcnow
from server.models.dispute import Dispute, DisputeEvent, Party, RiskAlert
from server.models.expert import (
    DutySlot,
    Expert,
    ExpertAvailability,
    ExpertOffice,
    ExpertRelation,
    ExpertSpecialty,
)
from server.models.followup import (
    FollowUpRecord,
    FollowUpTask,
    FollowUpTermResult,
    WorkdayOverride,
)
from server.models.judicial import JudicialConfirmation
from server.models.minutes import MinutesEntry, MinutesSignoff
from server.models.org import BeatOffice, LoginThrottle, StaffSession, StaffUser, Station
from server.models.room import ChatMessage, RoomCaucus, RoomControl, RoomEntry, RoomState
from server.models.session import Invitation, MediationSession
from server.models.spotcheck import SpotCheck, SpotCheckDraw

__all__ = [
    "Agreement",
    "AgreementDraft",
    "CaseCounter",
    "DraftRevision",
    "Signature",
    "Signer",
    "AuditEvent",
    "BeatOffice",
    "ChatMessage",
    "Dispute",
    "DisputeEvent",
    "Expert",
    "ExpertOffice",
    "ExpertSpecialty",
    "Invitation",
    "LoginThrottle",
    "MediationSession",
    "Party",
    "RoomCaucus",
    "RoomControl",
    "RoomEntry",
    "RoomState",
    "StaffSession",
    "StaffUser",
    "Station",
    "FollowUpRecord",
    "FollowUpTask",
    "FollowUpTermResult",
    "WorkdayOverride",
    "JudicialConfirmation",
    "SpotCheck",
    "SpotCheckDraw",
    "DutySlot",
    "ExpertAvailability",
    "ExpertRelation",
    "RiskAlert",
    "MinutesEntry",
    "MinutesSignoff",
    "utcnow",
]
