"""Roles and what each may do: pure functions, no I/O, one place to read them.

Least privilege: officers and auxiliaries work inside their own beat office;
chiefs see and act across the station; clerks read the station's records;
admins manage offices and accounts but do not read case files.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from server.errors import N_, NotAllowed


class Role(StrEnum):
    ADMIN = "admin"
    CHIEF = "chief"
    OFFICER = "officer"
    AUXILIARY = "auxiliary"
    CLERK = "clerk"


ROLE_LABELS: dict[Role, str] = {
    Role.ADMIN: N_("Administrator"),
    Role.CHIEF: N_("Chief / deputy chief"),
    Role.OFFICER: N_("Community officer"),
    Role.AUXILIARY: N_("Auxiliary officer"),
    Role.CLERK: N_("Clerk"),
}

#: Roles tied to one beat office; the others work station-wide.
OFFICE_ROLES = frozenset({Role.OFFICER, Role.AUXILIARY})


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting and from where: enough to decide and to audit, without a database."""

    user_id: int
    station_id: int
    office_id: int | None
    role: Role
    label: str
    ip: str = ""
    user_agent: str = ""


def can_read_disputes(actor: Actor) -> bool:
    return actor.role != Role.ADMIN


def can_see_office(actor: Actor, office_id: int) -> bool:
    """Whether the actor may see disputes of ``office_id`` (same station assumed)."""
    if not can_read_disputes(actor):
        return False
    if actor.role in OFFICE_ROLES:
        return actor.office_id == office_id
    return True


def can_register(actor: Actor) -> bool:
    return actor.role in {Role.CHIEF, Role.OFFICER, Role.AUXILIARY}


def can_edit_parties(actor: Actor) -> bool:
    return actor.role in {Role.CHIEF, Role.OFFICER, Role.AUXILIARY}


def can_triage(actor: Actor) -> bool:
    return actor.role in {Role.CHIEF, Role.OFFICER}


def can_change_status(actor: Actor) -> bool:
    return actor.role in {Role.CHIEF, Role.OFFICER}


def can_reveal_id_number(actor: Actor) -> bool:
    return actor.role in {Role.CHIEF, Role.OFFICER}


def can_manage_org(actor: Actor) -> bool:
    return actor.role == Role.ADMIN


def can_read_audit(actor: Actor) -> bool:
    return actor.role in {Role.ADMIN, Role.CHIEF}


def can_manage_experts(actor: Actor) -> bool:
    return actor.role in {Role.CHIEF, Role.OFFICER}


def can_read_experts(actor: Actor) -> bool:
    return actor.role != Role.ADMIN


def can_read_rota(actor: Actor, office_id: int) -> bool:
    """The duty rota of an office: everyone who reads the pool, office staff for their own."""
    if not can_read_experts(actor):
        return False
    return actor.role not in OFFICE_ROLES or actor.office_id == office_id


def can_manage_rota(actor: Actor, office_id: int) -> bool:
    """Who keeps an office's 轮流坐班: those who keep the pool, officers for their own office."""
    return can_manage_experts(actor) and can_read_rota(actor, office_id)


def can_book(actor: Actor) -> bool:
    """Beat-office staff book sessions; clerks keep records and do not."""
    return actor.role in {Role.CHIEF, Role.OFFICER, Role.AUXILIARY}


def can_draft_agreement(actor: Actor, office_id: int) -> bool:
    """The presiding officer's colleagues and the clerk who keeps the minutes draft the text."""
    return actor.role in {Role.CHIEF, Role.OFFICER, Role.AUXILIARY, Role.CLERK} and (
        can_see_office(actor, office_id)
    )


def can_write_minutes(actor: Actor, office_id: int, presiding_officer_id: int) -> bool:
    """The 调解笔录 is written by the session's presiding officer and the station's clerks,
    who keep the record; the other staff in the room read it as hosts."""
    if actor.user_id == presiding_officer_id and can_see_office(actor, office_id):
        return True
    return actor.role == Role.CLERK and can_see_office(actor, office_id)


def can_seal_agreement(actor: Actor, office_id: int) -> bool:
    """Applying the station's seal is a police officer's act, not an auxiliary's or clerk's."""
    return actor.role in {Role.CHIEF, Role.OFFICER} and can_see_office(actor, office_id)


def can_read_archive(actor: Actor, office_id: int) -> bool:
    """Case records: the office's own staff, the chief and the clerk who keeps the archive."""
    return can_see_office(actor, office_id)


def can_manage_seal(actor: Actor) -> bool:
    """The seal image is station configuration, kept by the administrator."""
    return actor.role == Role.ADMIN


def can_record_judicial(actor: Actor, office_id: int) -> bool:
    """Recording a filing with the court and its ruling: a police officer of the office."""
    return actor.role in {Role.CHIEF, Role.OFFICER} and can_see_office(actor, office_id)


def can_make_judicial_packet(actor: Actor, office_id: int) -> bool:
    """The court packet carries every applicant's full ID number: only staff who may reveal
    ID numbers, and only for their own office (the chief for the station)."""
    return can_reveal_id_number(actor) and can_see_office(actor, office_id)


def can_manage_workdays(actor: Actor) -> bool:
    """The station's own working-day calendar is station configuration, kept by the admin."""
    return actor.role == Role.ADMIN


def can_read_workdays(actor: Actor) -> bool:
    """Chiefs read it too: their offices' deadlines are reckoned with it."""
    return actor.role in {Role.ADMIN, Role.CHIEF}


def can_draw_spot_checks(actor: Actor) -> bool:
    """抽查 is the station chief's check on the offices' work."""
    return actor.role == Role.CHIEF


def can_record_spot_check(actor: Actor, office_id: int) -> bool:
    """The office's own officer makes the call or visit; the chief may too."""
    return actor.role in {Role.CHIEF, Role.OFFICER} and can_see_office(actor, office_id)


def can_read_followups(actor: Actor, office_id: int) -> bool:
    """Follow-up visits: the office's staff, the chief and the clerk read them."""
    return can_see_office(actor, office_id)


def can_record_followup(actor: Actor, office_id: int) -> bool:
    """Recording what a visit found is a police officer's act: chiefs, and officers at home."""
    return actor.role in {Role.CHIEF, Role.OFFICER} and can_see_office(actor, office_id)


def can_read_stats(actor: Actor) -> bool:
    """The station's figures and the weekly review: chiefs and officers for their scope,
    clerks (who compile the station's reports) for all of it."""
    return actor.role in {Role.CHIEF, Role.OFFICER, Role.CLERK}


def sees_party_names(actor: Actor) -> bool:
    """Whether lists that gather people across disputes (每周研判) show full names and
    phones; the clerk compiling figures sees them masked."""
    return actor.role in {Role.CHIEF, Role.OFFICER}


def can_mark_criminal(actor: Actor, office_id: int) -> bool:
    """民转刑 is an officer's finding about a case of their office (or the chief's)."""
    return actor.role in {Role.CHIEF, Role.OFFICER} and can_see_office(actor, office_id)


def can_read_alerts(actor: Actor, office_id: int) -> bool:
    """预警 of an office: its own staff, the chief and the clerk; never the administrator."""
    return can_see_office(actor, office_id)


def can_acknowledge_alert(actor: Actor, office_id: int) -> bool:
    """签收 is taking responsibility: the office's own staff or a chief, not a clerk."""
    return actor.role in {Role.CHIEF, Role.OFFICER, Role.AUXILIARY} and can_see_office(
        actor, office_id
    )


def can_sign_off_minutes(actor: Actor, office_id: int, presiding_officer_id: int) -> bool:
    """The 调解笔录 is confirmed by the one who presided, and nobody else: not the clerk
    who wrote it, not a colleague, not the chief (who may preside, and then signs)."""
    return (
        actor.user_id == presiding_officer_id
        and actor.role in {Role.CHIEF, Role.OFFICER}
        and can_see_office(actor, office_id)
    )


def require(allowed: bool) -> None:
    """Refuse with the one message every role check gives, when ``allowed`` is false."""
    if not allowed:
        raise NotAllowed(N_("Your role does not allow this."))
