"""Who may be named as the speaker of a minutes entry: the session's participants.

A speaker is someone the session brought in: the holder of one of its
invitations (parties, agents, guardians, experts, invited staff; not observers,
who watch) or a member of staff in the room (the presiding officer always;
other staff once they have entered, as the room remembers them in
``room_entry``). They are named by the room's stable participant ids
(``inv-N``, ``staff-N``), so an entry keeps its speaker across reconnections
and restarts; the name and room role are copied into the entry when it is
written, so the paper reads as it was said even if an invitation is revoked
later.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.models import Invitation, MediationSession, RoomEntry, StaffUser
from server.rooms.participant import PARTICIPANT_ID, invitation_pid, staff_pid
from server.rooms.roles import RoomRole, role_for_invitation


@dataclass(frozen=True, slots=True)
class Speaker:
    """One person who may be named as speaking in a session."""

    key: str
    name: str
    role: RoomRole


async def speakers_of(db: AsyncSession, session: MediationSession) -> list[Speaker]:
    """The session's speakers: the presiding officer first, then invitees, then other staff."""
    session_id = session.id or 0
    found: dict[str, Speaker] = {}
    presiding = await db.get(StaffUser, session.presiding_officer_id)
    if presiding is not None:
        key = staff_pid(session.presiding_officer_id)
        found[key] = Speaker(key, presiding.display_name, RoomRole.HOST)
    invitations = await db.exec(
        select(Invitation).where(Invitation.session_id == session_id).order_by(col(Invitation.id))
    )
    for invitation in invitations:
        if invitation.id is None:
            continue
        # A revoked link still names someone who was invited: what they said before
        # the revocation is theirs. The room role is what the link brought them in as.
        role = role_for_invitation(invitation.role)
        if role == RoomRole.OBSERVER:
            continue  # observers watch; they are not heard in the record
        key = invitation_pid(invitation.id)
        found[key] = Speaker(key, invitation.display_name, role)
    entries = await db.exec(
        select(RoomEntry).where(RoomEntry.session_id == session_id).order_by(col(RoomEntry.id))
    )
    for entry in entries:
        key = entry.participant_key
        if key in found or not key.startswith("staff-") or not PARTICIPANT_ID.fullmatch(key):
            continue
        found[key] = Speaker(key, entry.name, RoomRole(entry.role))
    return list(found.values())


async def speaker_of(db: AsyncSession, session: MediationSession, key: str) -> Speaker | None:
    """The session's speaker ``key``, or None when nobody of the session has that id."""
    return next((s for s in await speakers_of(db, session) if s.key == key), None)
