"""Personal invitation links: issue, revoke, reissue, and open.

A token is 32 random bytes (256 bits) in URL-safe base64; only its SHA-256
is stored. Reissuing replaces the hash, so the old link stops working at
once. Links expire at the end of the session plus a grace period.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.audit import record
from server.auth import roles
from server.auth.roles import Actor
from server.errors import N_, Conflict, NotAllowed, NotFound
from server.models import Dispute, Invitation, MediationSession, utcnow
from server.sessions.rules import SessionStatus

TOKEN_BYTES = 32
#: The revocation reason written when a whole session is cancelled.
CANCELLED_REASON = "session cancelled"
DEFAULT_GRACE = timedelta(hours=12)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Issued:
    """An invitation together with its token, which exists only in this response."""

    invitation: Invitation
    token: str


def issue(
    db: AsyncSession,
    actor: Actor,
    session: MediationSession,
    *,
    role: str,
    display_name: str,
    phone: str = "",
    party_id: int | None = None,
    expert_id: int | None = None,
    staff_id: int | None = None,
    grace: timedelta = DEFAULT_GRACE,
) -> Issued:
    token = new_token()
    invitation = Invitation(
        session_id=session.id,  # type: ignore[arg-type]
        role=role,
        party_id=party_id,
        expert_id=expert_id,
        staff_id=staff_id,
        display_name=display_name[:40],
        phone=phone[:20],
        token_hash=hash_token(token),
        issued_by_id=actor.user_id,
        expires_at=session.ends_at + grace,
    )
    db.add(invitation)
    return Issued(invitation, token)


async def session_invitations(db: AsyncSession, session_id: int) -> list[Invitation]:
    rows = await db.exec(
        select(Invitation).where(Invitation.session_id == session_id).order_by(col(Invitation.id))
    )
    return list(rows)


async def _own_invitation(
    db: AsyncSession, actor: Actor, invitation_id: int
) -> tuple[Invitation, MediationSession]:
    """The invitation, if the actor books sessions for its beat office."""
    invitation = await db.get(Invitation, invitation_id)
    session = await db.get(MediationSession, invitation.session_id) if invitation else None
    if invitation is None or session is None or session.station_id != actor.station_id:
        raise NotFound(N_("No such invitation."))
    if not roles.can_book(actor) or not roles.can_see_office(actor, session.office_id):
        raise NotAllowed(N_("Only staff who book this office's sessions manage its invitations."))
    return invitation, session


async def revoke(db: AsyncSession, actor: Actor, invitation_id: int, reason: str) -> Invitation:
    invitation, _session = await _own_invitation(db, actor, invitation_id)
    if invitation.revoked_at is not None:
        raise Conflict(N_("This invitation was already revoked."))
    invitation.revoked_at = utcnow()
    invitation.revoked_reason = reason[:200]
    record(
        db,
        actor,
        "invitation.revoke",
        object_type="invitation",
        object_id=invitation.id,
        detail={"session": invitation.session_id, "reason": reason},
    )
    return invitation


async def reissue(
    db: AsyncSession, actor: Actor, invitation_id: int, *, grace: timedelta = DEFAULT_GRACE
) -> Issued:
    """A fresh link for the same invitee; the old one stops working now.

    Reissuing a revoked invitation reinstates it, unless the same person has
    been invited again meanwhile: one person never holds two live links.
    """
    invitation, session = await _own_invitation(db, actor, invitation_id)
    if session.status != SessionStatus.SCHEDULED:
        raise Conflict(N_("The session was cancelled; its invitations cannot be reissued."))
    if invitation.revoked_at is not None and (
        invitation.party_id is not None or invitation.expert_id is not None
    ):
        for other in await session_invitations(db, session.id or 0):
            if (
                other.id != invitation.id
                and other.revoked_at is None
                and (
                    (other.party_id is not None and other.party_id == invitation.party_id)
                    or (other.expert_id is not None and other.expert_id == invitation.expert_id)
                )
            ):
                raise Conflict(
                    N_("%(name)s holds another live invitation to this session."),
                    params={"name": invitation.display_name},
                )
    invitation.expires_at = session.ends_at + grace
    token = new_token()
    invitation.token_hash = hash_token(token)
    invitation.issue_count += 1
    invitation.issued_at = utcnow()
    invitation.issued_by_id = actor.user_id
    invitation.revoked_at = None
    invitation.revoked_reason = ""
    record(
        db,
        actor,
        "invitation.reissue",
        object_type="invitation",
        object_id=invitation.id,
        detail={"session": invitation.session_id, "issue": invitation.issue_count},
    )
    return Issued(invitation, token)


@dataclass(frozen=True)
class Door:
    """What an opened link leads to."""

    invitation: Invitation
    session: MediationSession
    dispute: Dispute


async def find_live(db: AsyncSession, token: str, *, now: datetime | None = None) -> Door | None:
    """The invitation behind a link, or None for unknown, expired, revoked or cancelled.

    Read-only: the device check's pings use it without counting anything.
    Callers show one refusal for every None, so a guesser learns nothing
    about which it was.
    """
    if not token or len(token) > 100:
        return None
    now = now or utcnow()
    invitation = (
        await db.exec(select(Invitation).where(Invitation.token_hash == hash_token(token)))
    ).first()
    if invitation is None or invitation.revoked_at is not None or invitation.expires_at <= now:
        return None
    session = await db.get(MediationSession, invitation.session_id)
    if session is None or session.status != SessionStatus.SCHEDULED:
        return None
    dispute = await db.get(Dispute, session.dispute_id)
    if dispute is None:
        return None
    return Door(invitation, session, dispute)


async def open_link(
    db: AsyncSession, token: str, *, ip: str, user_agent: str, now: datetime | None = None
) -> Door | None:
    """Like ``find_live``, and a successful open is counted and audited."""
    now = now or utcnow()
    door = await find_live(db, token, now=now)
    if door is None:
        return None
    invitation, session = door.invitation, door.session
    invitation.open_count += 1
    invitation.last_opened_at = now
    if invitation.first_opened_at is None:
        invitation.first_opened_at = now
    record(
        db,
        None,
        "invitation.open",
        object_type="invitation",
        object_id=invitation.id,
        detail={"session": session.id, "role": invitation.role},
        station_id=session.station_id,
        ip=ip,
        user_agent=user_agent,
    )
    return door
