"""The closed loop 排查 → 分流 → 处置 → 回访 as data: statuses, transitions, routes.

Pure: nothing here touches the database, so the rules can be read and tested
on their own.
"""

from __future__ import annotations

from enum import StrEnum

from server.errors import N_


class Status(StrEnum):
    REGISTERED = "registered"
    TRIAGED = "triaged"
    IN_MEDIATION = "in_mediation"
    AGREEMENT = "agreement"
    NO_AGREEMENT = "no_agreement"
    REFERRED = "referred"
    WITHDRAWN = "withdrawn"
    FOLLOW_UP = "follow_up"
    CLOSED = "closed"


class Category(StrEnum):
    NEIGHBOUR = "neighbour"
    FAMILY = "family"
    LABOUR = "labour"
    CONTRACT = "contract"
    PROPERTY = "property"
    TENANCY = "tenancy"
    DEBT = "debt"
    TRAFFIC = "traffic"
    MINOR_INJURY = "minor_injury"
    OTHER = "other"


class RiskLevel(StrEnum):
    HIGH = "high"
    ATTENTION = "attention"
    GENERAL = "general"


class Route(StrEnum):
    """Who leads the handling; follows from the risk level (or a crime)."""

    DEPUTY_CHIEF = "deputy_chief"
    COMMUNITY_OFFICER = "community_officer"
    COMMUNITY_TEAM = "community_team"
    CASE_TEAM = "case_team"


class Trend(StrEnum):
    """事态发展: how the dispute is developing."""

    EASING = "easing"
    STABLE = "stable"
    ESCALATING = "escalating"
    URGENT = "urgent"


class Source(StrEnum):
    WALK_IN = "walk_in"
    PHONE = "phone"
    PATROL = "patrol"
    CALL_110 = "call_110"
    REFERRAL = "referral"
    GRID = "grid"


class PartyRole(StrEnum):
    APPLICANT = "applicant"
    RESPONDENT = "respondent"
    AGENT = "agent"
    GUARDIAN = "guardian"


class IdType(StrEnum):
    RESIDENT_ID = "resident_id"
    PASSPORT = "passport"
    HK_MACAO_TAIWAN = "hk_macao_taiwan"
    OTHER = "other"


OPEN_STATUSES = frozenset(Status) - {Status.CLOSED}

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.REGISTERED: frozenset({Status.TRIAGED, Status.REFERRED, Status.WITHDRAWN}),
    Status.TRIAGED: frozenset({Status.IN_MEDIATION, Status.REFERRED, Status.WITHDRAWN}),
    Status.IN_MEDIATION: frozenset(
        {Status.AGREEMENT, Status.NO_AGREEMENT, Status.REFERRED, Status.WITHDRAWN}
    ),
    Status.AGREEMENT: frozenset({Status.FOLLOW_UP}),
    # Failing once is not the end: another session may be booked.
    Status.NO_AGREEMENT: frozenset({Status.IN_MEDIATION, Status.REFERRED, Status.FOLLOW_UP}),
    Status.REFERRED: frozenset({Status.FOLLOW_UP}),
    Status.WITHDRAWN: frozenset({Status.FOLLOW_UP}),
    # A follow-up that finds the dispute flaring up again (隐患反弹) reopens it.
    Status.FOLLOW_UP: frozenset({Status.CLOSED, Status.IN_MEDIATION}),
    Status.CLOSED: frozenset(),
}

#: A dispute thought resolved may flare up again (隐患反弹): a follow-up visit or a spot
#: check reopens it from here, into another mediation or a referral, keeping its timeline.
REOPEN_FROM = frozenset({Status.AGREEMENT, Status.FOLLOW_UP, Status.CLOSED})
REOPEN_TO = frozenset({Status.IN_MEDIATION, Status.REFERRED})

#: Triage happens through its own form; it is the only way into TRIAGED. The risk may
#: be graded again while the dispute is still being handled, not once it has an outcome.
TRIAGE_FROM = frozenset(
    {Status.REGISTERED, Status.TRIAGED, Status.IN_MEDIATION, Status.NO_AGREEMENT}
)

ROUTE_FOR_RISK: dict[RiskLevel, Route] = {
    RiskLevel.HIGH: Route.DEPUTY_CHIEF,
    RiskLevel.ATTENTION: Route.COMMUNITY_OFFICER,
    RiskLevel.GENERAL: Route.COMMUNITY_TEAM,
}


def can_transition(current: Status, target: Status) -> bool:
    return target in TRANSITIONS[current]


def route_for(risk: RiskLevel, *, criminal: bool) -> Route:
    """A crime goes to the case team whatever the risk; otherwise the risk decides."""
    return Route.CASE_TEAM if criminal else ROUTE_FOR_RISK[risk]


STATUS_LABELS: dict[str, str] = {
    Status.REGISTERED: N_("Registered"),
    Status.TRIAGED: N_("Triaged"),
    Status.IN_MEDIATION: N_("In mediation"),
    Status.AGREEMENT: N_("Agreement reached"),
    Status.NO_AGREEMENT: N_("No agreement"),
    Status.REFERRED: N_("Referred"),
    Status.WITHDRAWN: N_("Withdrawn"),
    Status.FOLLOW_UP: N_("Follow-up"),
    Status.CLOSED: N_("Closed"),
}

#: Timeline notes the system writes (booking moves a dispute into mediation). They are
#: stored as these English message ids and translated when shown; a note typed by staff
#: is shown as typed.
BOOKED_NOTE = N_("Mediation session booked")
SYSTEM_NOTES = frozenset({BOOKED_NOTE})
CATEGORY_LABELS: dict[str, str] = {
    Category.NEIGHBOUR: N_("Neighbours"),
    Category.FAMILY: N_("Family"),
    Category.LABOUR: N_("Labour and wages"),
    Category.CONTRACT: N_("Contract"),
    Category.PROPERTY: N_("Property damage"),
    Category.TENANCY: N_("Landlord and tenant"),
    Category.DEBT: N_("Debt"),
    Category.TRAFFIC: N_("Traffic"),
    Category.MINOR_INJURY: N_("Minor injury"),
    Category.OTHER: N_("Other"),
}
RISK_LABELS: dict[str, str] = {
    RiskLevel.HIGH: N_("High risk"),
    RiskLevel.ATTENTION: N_("Needs attention"),
    RiskLevel.GENERAL: N_("General"),
}
ROUTE_LABELS: dict[str, str] = {
    Route.DEPUTY_CHIEF: N_("Led by the deputy chief"),
    Route.COMMUNITY_OFFICER: N_("Led by the community officer"),
    Route.COMMUNITY_TEAM: N_("Community team"),
    Route.CASE_TEAM: N_("Handed to the case team"),
}
TREND_LABELS: dict[str, str] = {
    Trend.EASING: N_("Easing"),
    Trend.STABLE: N_("Stable"),
    Trend.ESCALATING: N_("Escalating"),
    Trend.URGENT: N_("Urgent, may turn violent"),
}
SOURCE_LABELS: dict[str, str] = {
    Source.WALK_IN: N_("Walk-in"),
    Source.PHONE: N_("Phone call"),
    Source.PATROL: N_("Found on patrol"),
    Source.CALL_110: N_("110 call"),
    Source.REFERRAL: N_("Referred by another body"),
    Source.GRID: N_("Grid worker report"),
}
PARTY_ROLE_LABELS: dict[str, str] = {
    PartyRole.APPLICANT: N_("Applicant"),
    PartyRole.RESPONDENT: N_("Respondent"),
    PartyRole.AGENT: N_("Agent"),
    PartyRole.GUARDIAN: N_("Guardian"),
}
ID_TYPE_LABELS: dict[str, str] = {
    IdType.RESIDENT_ID: N_("Resident ID card"),
    IdType.PASSPORT: N_("Passport"),
    IdType.HK_MACAO_TAIWAN: N_("HK/Macao/Taiwan permit"),
    IdType.OTHER: N_("Other document"),
}
