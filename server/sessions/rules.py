"""The legal tracks and the booking rules that follow from them. Pure, no I/O."""

from __future__ import annotations

from enum import StrEnum

from server.disputes.lifecycle import Category, Status
from server.errors import N_


class LegalTrack(StrEnum):
    PEOPLE = "people"  # 人民调解, People's Mediation Law arts. 28-33
    POLICE = "police"  # 治安调解, Public Security Administration Punishments Law art. 9


class SessionStatus(StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    #: The presiding officer ended the live session: it took place.
    HELD = "held"


class InviteeRole(StrEnum):
    PARTY = "party"
    AGENT = "agent"
    GUARDIAN = "guardian"
    EXPERT = "expert"
    OBSERVER = "observer"
    STAFF = "staff"


TRACK_LABELS: dict[str, str] = {
    LegalTrack.PEOPLE: N_("People's mediation"),
    LegalTrack.POLICE: N_("Police mediation (public order)"),
}
SESSION_STATUS_LABELS: dict[str, str] = {
    SessionStatus.SCHEDULED: N_("Scheduled"),
    SessionStatus.CANCELLED: N_("Cancelled"),
    SessionStatus.HELD: N_("Held"),
}
INVITEE_ROLE_LABELS: dict[str, str] = {
    InviteeRole.PARTY: N_("Party"),
    InviteeRole.AGENT: N_("Agent"),
    InviteeRole.GUARDIAN: N_("Guardian"),
    InviteeRole.EXPERT: N_("Expert"),
    InviteeRole.OBSERVER: N_("Observer"),
    InviteeRole.STAFF: N_("Staff"),
}

#: Police mediation covers minor public-order matters between the parties:
#: minor fights and injury, insult, damage to property, disturbing others.
#: Purely civil matters (debts, wages, contracts, family) go to people's mediation.
POLICE_ELIGIBLE = frozenset({Category.MINOR_INJURY, Category.PROPERTY, Category.NEIGHBOUR})

#: What the officer confirms before choosing police mediation; every box must be ticked.
POLICE_CHECKS: dict[str, str] = {
    "both_parties_agree": N_("Both parties agree to police mediation."),
    "not_hired_violence": N_("It is not violence for hire."),
    "not_group_fight": N_("It is not a group fight."),
    "not_provoking_trouble": N_("It is not a case of picking quarrels and provoking trouble."),
    "not_repeat_offender": N_("No party has offended against public order several times."),
    "not_during_mediation": N_(
        "No party committed a new public-order offence against the other during mediation."
    ),
}

#: Police mediation is normally one session and at most two.
MAX_POLICE_SESSIONS = 2

#: A party younger than this takes part through a guardian.
GUARDIAN_BELOW_AGE = 16

#: Disputes that can have a session booked: triaged and not yet settled.
BOOKABLE_STATUSES = frozenset({Status.TRIAGED, Status.IN_MEDIATION, Status.NO_AGREEMENT})

MIN_MINUTES = 15
MAX_MINUTES = 8 * 60


def track_allowed(track: LegalTrack, category: str) -> bool:
    return track == LegalTrack.PEOPLE or category in POLICE_ELIGIBLE


def missing_police_checks(confirmed: set[str]) -> list[str]:
    return [key for key in POLICE_CHECKS if key not in confirmed]
