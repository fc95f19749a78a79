"""Booking sessions for a dispute, moving and cancelling them, inviting people.

Hard rules refuse (wrong track, a minor without a guardian, a cancelled
session); soft conflicts (an expert booked elsewhere, an invitee who is also
a party) come back as warnings that the booker confirms or fixes. Finding
those warnings, and the experts to suggest, is conflicts.py's part; this
module books, moves, cancels and invites.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.audit import record
from server.auth import roles
from server.auth.roles import Actor, Role
from server.disputes import service as disputes
from server.disputes.lifecycle import BOOKED_NOTE, Status
from server.errors import N_, Conflict, IllegalTransition, NotAllowed, NotFound, ValidationFailed
from server.local_time import local_today
from server.models import (
    Dispute,
    DisputeEvent,
    Expert,
    Invitation,
    MediationSession,
    Party,
    StaffUser,
    utcnow,
)
from server.pii import PiiVault, age_on, birth_date_from_resident_id
from server.sessions import invitations
from server.sessions.conflicts import (
    NeedsConfirmation,
    Warning,
    _load_active,
    _load_experts,
    _require_book,
    conflicts_for,
)
from server.sessions.invitations import DEFAULT_GRACE, Issued
from server.sessions.rules import (
    BOOKABLE_STATUSES,
    GUARDIAN_BELOW_AGE,
    MAX_POLICE_SESSIONS,
    InviteeRole,
    LegalTrack,
    SessionStatus,
    missing_police_checks,
    track_allowed,
)
from server.sessions.schemas import BookingInput, CancelInput, ObserverInput, RescheduleInput

#: How far ahead a session may be booked, and how late (a session starting now is fine).
MAX_AHEAD = timedelta(days=366)
LATE_START = timedelta(minutes=15)


@dataclass(frozen=True)
class Booking:
    session: MediationSession
    issued: list[Issued]
    warnings: list[Warning]


def _local(value: datetime, tz: ZoneInfo) -> datetime:
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def _check_time(starts_at: datetime, now: datetime) -> None:
    if starts_at < now - LATE_START:
        raise ValidationFailed(
            N_("The session cannot start in the past."), fields={"starts_at": "past"}
        )
    if starts_at > now + MAX_AHEAD:
        raise ValidationFailed(
            N_("Sessions can be booked at most a year ahead."), fields={"starts_at": "far"}
        )


async def _presiding(db: AsyncSession, actor: Actor, dispute: Dispute, user_id: int) -> StaffUser:
    officer = await db.get(StaffUser, user_id)
    if (
        officer is None
        or officer.station_id != actor.station_id
        or not officer.active
        or officer.role not in (Role.CHIEF, Role.OFFICER)
        or (officer.office_id is not None and officer.office_id != dispute.office_id)
    ):
        raise ValidationFailed(
            N_("The presiding officer must be an officer of this beat office or a chief."),
            fields={"presiding_officer_id": "invalid"},
        )
    return officer


def _age(party: Party, vault: PiiVault, today: date) -> int | None:
    if party.id_type == "resident_id" and party.id_number_encrypted:
        birth = birth_date_from_resident_id(vault.decrypt(party.id_number_encrypted))
        if birth is not None:
            return age_on(birth, today)
    return None


async def _load_staff(db: AsyncSession, actor: Actor, ids: list[int]) -> list[StaffUser]:
    return await _load_active(
        db, actor, StaffUser, ids, "staff_ids", N_("Choose active members of staff.")
    )


def _check_guardians(
    invited: list[Party], all_parties: list[Party], vault: PiiVault, today: date
) -> None:
    """A party under 16 (or a minor of unknown age) comes with an invited guardian."""
    invited_ids = {p.id for p in invited}
    for party in invited:
        age = _age(party, vault, today)
        needs_guardian = (age is not None and age < GUARDIAN_BELOW_AGE) or (
            age is None and party.minor
        )
        if needs_guardian and not any(
            p.role == "guardian" and p.represents_id == party.id and p.id in invited_ids
            for p in all_parties
        ):
            raise ValidationFailed(
                N_("%(name)s is under 16 and takes part through a guardian: invite one."),
                params={"name": party.name},
                fields={"party_ids": "guardian"},
            )


def _role_of(party: Party) -> InviteeRole:
    if party.role == "agent":
        return InviteeRole.AGENT
    if party.role == "guardian":
        return InviteeRole.GUARDIAN
    return InviteeRole.PARTY


async def book(
    db: AsyncSession,
    actor: Actor,
    dispute_id: int,
    data: BookingInput,
    *,
    vault: PiiVault,
    tz: ZoneInfo,
    grace: timedelta = DEFAULT_GRACE,
) -> Booking:
    """Book a session and issue every invitation, all in the caller's transaction."""
    dispute = await disputes.get_dispute(db, actor, dispute_id)
    _require_book(actor)
    if dispute.status not in BOOKABLE_STATUSES:
        raise IllegalTransition(
            N_("Sessions can be booked once the dispute is triaged and until it is settled."),
        )
    now = utcnow()
    starts_at = _local(data.starts_at, tz)
    _check_time(starts_at, now)
    ends_at = starts_at + timedelta(minutes=data.duration_minutes)

    if not track_allowed(data.legal_track, dispute.category):
        raise ValidationFailed(
            N_("Police mediation is only for minor public-order matters; use people's mediation."),
            fields={"legal_track": "not_eligible"},
        )
    if data.legal_track == LegalTrack.POLICE:
        missing = missing_police_checks(set(data.police_checks))
        if missing:
            raise ValidationFailed(
                N_("Confirm every condition for police mediation."),
                fields={f"police_checks.{key}": "missing" for key in missing},
            )
        earlier = await db.exec(
            select(MediationSession.id).where(
                MediationSession.dispute_id == dispute_id,
                MediationSession.legal_track == LegalTrack.POLICE,
                MediationSession.status != SessionStatus.CANCELLED,
            )
        )
        if len(list(earlier)) >= MAX_POLICE_SESSIONS:
            raise ValidationFailed(
                N_(
                    "Police mediation allows at most two sessions; hand the dispute on "
                    "(to people's mediation, the court or the case team) instead."
                ),
                fields={"legal_track": "too_many"},
            )

    officer = await _presiding(db, actor, dispute, data.presiding_officer_id)
    all_parties = await disputes.parties_of(db, dispute_id)
    by_id = {p.id: p for p in all_parties}
    invited = []
    for party_id in dict.fromkeys(data.party_ids):
        if party_id not in by_id:
            raise ValidationFailed(
                N_("Choose people of this dispute."), fields={"party_ids": "unknown"}
            )
        invited.append(by_id[party_id])
    if not any(p.role in ("applicant", "respondent") for p in invited):
        raise ValidationFailed(
            N_("Invite at least one party to the dispute."), fields={"party_ids": "missing"}
        )
    _check_guardians(invited, all_parties, vault, now.astimezone(tz).date())
    expert_list = await _load_experts(db, actor, data.expert_ids)
    staff_list = await _load_staff(db, actor, data.staff_ids)

    warnings = await conflicts_for(
        db,
        actor,
        starts_at=starts_at,
        ends_at=ends_at,
        presiding_officer_id=officer.id or 0,
        expert_list=expert_list,
        parties=all_parties,
        dispute=dispute,
    )
    if warnings and not data.confirm_conflicts:
        raise NeedsConfirmation(warnings)

    session = MediationSession(
        station_id=dispute.station_id,
        office_id=dispute.office_id,
        dispute_id=dispute_id,
        starts_at=starts_at,
        ends_at=ends_at,
        duration_minutes=data.duration_minutes,
        legal_track=data.legal_track,
        police_checks_confirmed=data.legal_track == LegalTrack.POLICE,
        presiding_officer_id=officer.id,  # type: ignore[arg-type]
        status=SessionStatus.SCHEDULED,
        note=data.note,
        created_by_id=actor.user_id,
    )
    db.add(session)
    await db.flush()
    issued = [_invite_party(db, actor, session, p, grace) for p in invited]
    issued += [_invite_expert(db, actor, session, e, grace) for e in expert_list]
    issued += [
        invitations.issue(
            db,
            actor,
            session,
            role=InviteeRole.STAFF,
            display_name=u.display_name,
            phone=u.phone,
            staff_id=u.id,
            grace=grace,
        )
        for u in staff_list
    ]
    issued += [_observer(db, actor, session, o, grace) for o in data.observers]
    await db.flush()

    if dispute.status in (Status.TRIAGED, Status.NO_AGREEMENT):
        await disputes.transition_internal(db, actor, dispute, Status.IN_MEDIATION, BOOKED_NOTE)
    db.add(
        DisputeEvent(
            dispute_id=dispute_id,
            actor_id=actor.user_id,
            kind="session_booked",
            note=f"#{session.id}",
        )
    )
    record(
        db,
        actor,
        "session.book",
        object_type="session",
        object_id=session.id,
        detail={
            "dispute": dispute_id,
            "track": data.legal_track.value,
            "invitations": [i.invitation.id for i in issued],
            "warnings_confirmed": len(warnings),
        },
    )
    for item in issued:
        record(
            db,
            actor,
            "invitation.issue",
            object_type="invitation",
            object_id=item.invitation.id,
            detail={"session": session.id, "role": item.invitation.role},
        )
    return Booking(session, issued, warnings)


def _invite_party(
    db: AsyncSession, actor: Actor, session: MediationSession, party: Party, grace: timedelta
) -> Issued:
    return invitations.issue(
        db,
        actor,
        session,
        role=_role_of(party),
        display_name=party.name,
        phone=party.phone,
        party_id=party.id,
        grace=grace,
    )


def _invite_expert(
    db: AsyncSession, actor: Actor, session: MediationSession, expert: Expert, grace: timedelta
) -> Issued:
    return invitations.issue(
        db,
        actor,
        session,
        role=InviteeRole.EXPERT,
        display_name=expert.name,
        phone=expert.phone,
        expert_id=expert.id,
        grace=grace,
    )


def _observer(
    db: AsyncSession,
    actor: Actor,
    session: MediationSession,
    observer: ObserverInput,
    grace: timedelta,
) -> Issued:
    return invitations.issue(
        db,
        actor,
        session,
        role=InviteeRole.OBSERVER,
        display_name=observer.name,
        phone=observer.phone,
        grace=grace,
    )


async def get_session(
    db: AsyncSession, actor: Actor, session_id: int
) -> tuple[MediationSession, Dispute]:
    session = await db.get(MediationSession, session_id)
    if session is None or session.station_id != actor.station_id:
        raise NotFound(N_("No such session."))
    dispute = await disputes.get_dispute(db, actor, session.dispute_id)
    return session, dispute


async def reschedule(
    db: AsyncSession,
    actor: Actor,
    session_id: int,
    data: RescheduleInput,
    *,
    tz: ZoneInfo,
    grace: timedelta = DEFAULT_GRACE,
) -> tuple[MediationSession, list[Warning]]:
    """Move a session; every live link now expires with the new end."""
    session, dispute = await get_session(db, actor, session_id)
    _require_book(actor)
    if session.status != SessionStatus.SCHEDULED:
        raise IllegalTransition(N_("A cancelled session cannot be moved."))
    starts_at = _local(data.starts_at, tz)
    _check_time(starts_at, utcnow())
    ends_at = starts_at + timedelta(minutes=data.duration_minutes)
    current = await invitations.session_invitations(db, session_id)
    expert_ids = [i.expert_id for i in current if i.expert_id and i.revoked_at is None]
    expert_list = [e for e in [await db.get(Expert, x) for x in expert_ids] if e is not None]
    warnings = await conflicts_for(
        db,
        actor,
        starts_at=starts_at,
        ends_at=ends_at,
        presiding_officer_id=session.presiding_officer_id,
        expert_list=expert_list,
        parties=await disputes.parties_of(db, dispute.id or 0),
        dispute=dispute,
        exclude_session_id=session_id,
    )
    if warnings and not data.confirm_conflicts:
        raise NeedsConfirmation(warnings)
    before = session.starts_at
    session.starts_at = starts_at
    session.ends_at = ends_at
    session.duration_minutes = data.duration_minutes
    session.updated_at = utcnow()
    for invitation in current:
        invitation.expires_at = ends_at + grace
    db.add(
        DisputeEvent(
            dispute_id=session.dispute_id,
            actor_id=actor.user_id,
            kind="session_rescheduled",
            note=f"#{session.id}",
        )
    )
    record(
        db,
        actor,
        "session.reschedule",
        object_type="session",
        object_id=session.id,
        detail={"from": before.isoformat(), "to": starts_at.isoformat()},
    )
    return session, warnings


async def cancel(
    db: AsyncSession, actor: Actor, session_id: int, data: CancelInput
) -> MediationSession:
    """Cancel a session; its links stop working and say so no more than any wrong link."""
    session, _dispute = await get_session(db, actor, session_id)
    _require_book(actor)
    if session.status != SessionStatus.SCHEDULED:
        raise IllegalTransition(N_("This session is already cancelled."))
    session.status = SessionStatus.CANCELLED
    session.cancel_reason = data.reason
    session.updated_at = utcnow()
    now = utcnow()
    for invitation in await invitations.session_invitations(db, session_id):
        if invitation.revoked_at is None:
            invitation.revoked_at = now
            invitation.revoked_reason = invitations.CANCELLED_REASON
    db.add(
        DisputeEvent(
            dispute_id=session.dispute_id,
            actor_id=actor.user_id,
            kind="session_cancelled",
            note=data.reason,
        )
    )
    record(
        db,
        actor,
        "session.cancel",
        object_type="session",
        object_id=session.id,
        detail={"reason": data.reason},
    )
    return session


async def sessions_between(
    db: AsyncSession,
    actor: Actor,
    start: date,
    days: int,
    *,
    tz: ZoneInfo,
    office_id: int | None = None,
) -> list[tuple[MediationSession, Dispute]]:
    """The calendar: sessions starting in [start, start + days), in local days."""
    if not roles.can_read_disputes(actor):
        raise NotAllowed(N_("Your role does not allow this."))
    begin = datetime.combine(start, time.min, tzinfo=tz)
    end = begin + timedelta(days=days)
    query = (
        select(MediationSession, Dispute)
        .join(Dispute, col(Dispute.id) == col(MediationSession.dispute_id))
        .where(
            MediationSession.station_id == actor.station_id,
            col(MediationSession.starts_at) >= begin,
            col(MediationSession.starts_at) < end,
        )
    )
    if actor.role in roles.OFFICE_ROLES:
        query = query.where(MediationSession.office_id == actor.office_id)
    elif office_id is not None:
        query = query.where(MediationSession.office_id == office_id)
    rows = await db.exec(query.order_by(col(MediationSession.starts_at)))
    return [(s, d) for s, d in rows]


async def sessions_of_dispute(db: AsyncSession, dispute_id: int) -> list[MediationSession]:
    rows = await db.exec(
        select(MediationSession)
        .where(MediationSession.dispute_id == dispute_id)
        .order_by(col(MediationSession.starts_at))
    )
    return list(rows)


async def invite_more(
    db: AsyncSession,
    actor: Actor,
    session_id: int,
    *,
    party_ids: list[int],
    expert_ids: list[int],
    observers: list[ObserverInput],
    vault: PiiVault,
    tz: ZoneInfo,
    grace: timedelta = DEFAULT_GRACE,
) -> list[Issued]:
    """Add invitees to a booked session (someone forgotten, a late expert).

    The guardian rule holds as at booking; an expert busy elsewhere is not
    refused here (the session page shows who is booked where).
    """
    session, dispute = await get_session(db, actor, session_id)
    _require_book(actor)
    if session.status != SessionStatus.SCHEDULED:
        raise IllegalTransition(N_("A cancelled session cannot take new invitees."))
    existing = await invitations.session_invitations(db, session_id)
    live_parties = {i.party_id for i in existing if i.revoked_at is None}
    live_experts = {i.expert_id for i in existing if i.revoked_at is None}
    all_parties = await disputes.parties_of(db, dispute.id or 0)
    by_id = {p.id: p for p in all_parties}
    newly = [by_id[i] for i in dict.fromkeys(party_ids) if i in by_id]
    _check_guardians(
        [p for p in all_parties if p.id in live_parties] + newly,
        all_parties,
        vault,
        local_today(tz),
    )
    issued: list[Issued] = []
    for party_id in dict.fromkeys(party_ids):
        if party_id not in by_id:
            raise ValidationFailed(
                N_("Choose people of this dispute."), fields={"party_ids": "unknown"}
            )
        if party_id in live_parties:
            raise Conflict(
                N_("%(name)s is already invited."), params={"name": by_id[party_id].name}
            )
        issued.append(_invite_party(db, actor, session, by_id[party_id], grace))
    for expert in await _load_experts(db, actor, expert_ids):
        if expert.id in live_experts:
            raise Conflict(N_("%(name)s is already invited."), params={"name": expert.name})
        issued.append(_invite_expert(db, actor, session, expert, grace))
    issued += [_observer(db, actor, session, o, grace) for o in observers]
    if not issued:
        raise ValidationFailed(N_("Choose whom to invite."), fields={"party_ids": "missing"})
    await db.flush()
    for item in issued:
        record(
            db,
            actor,
            "invitation.issue",
            object_type="invitation",
            object_id=item.invitation.id,
            detail={"session": session.id, "role": item.invitation.role},
        )
    return issued


async def invitation_of_session(
    db: AsyncSession, actor: Actor, session_id: int, invitation_id: int
) -> Invitation:
    await get_session(db, actor, session_id)
    invitation = await db.get(Invitation, invitation_id)
    if invitation is None or invitation.session_id != session_id:
        raise NotFound(N_("No such invitation."))
    return invitation
