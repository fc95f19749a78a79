"""Who someone is in a live room, and the pure permission checks that follow.

These roles are not staff account roles (``server.auth.roles``): they say what a
person does in one session. The presiding officer is the **host**; other staff
who run rooms (those who may book sessions) are **co-hosts** with the same
controls, except that nobody may mute, stop or remove the presiding officer;
staff who keep the record (clerks) are **observers**, as the page shows them.

``room_role`` is the one decision of a participant's room role: the room
calls it on every join, with what the door claimed (``staff_claim`` for staff
from the session page, ``role_for_invitation`` for a link).
"""

from __future__ import annotations

from enum import StrEnum

from server.errors import N_


class RoomRole(StrEnum):
    HOST = "host"  # the presiding officer (主持调解的民警/调解员)
    COHOST = "cohost"  # other staff in the room, with the host's controls
    PARTY = "party"
    AGENT = "agent"
    GUARDIAN = "guardian"
    EXPERT = "expert"
    OBSERVER = "observer"


ROOM_ROLE_LABELS: dict[RoomRole, str] = {
    RoomRole.HOST: N_("Presiding officer"),
    RoomRole.COHOST: N_("Co-host"),
    RoomRole.PARTY: N_("Party"),
    RoomRole.AGENT: N_("Agent"),
    RoomRole.GUARDIAN: N_("Guardian"),
    RoomRole.EXPERT: N_("Expert"),
    RoomRole.OBSERVER: N_("Observer"),
}

#: Roles with the room's controls (admit, mute, caucus, end...).
HOST_ROLES = frozenset({RoomRole.HOST, RoomRole.COHOST})
#: What staff entering from the session page may be.
STAFF_ROLES = frozenset({RoomRole.HOST, RoomRole.COHOST, RoomRole.OBSERVER})


def is_host(role: RoomRole) -> bool:
    """Whether ``role`` has the room's controls: the presiding officer or a co-host."""
    return role in HOST_ROLES


def is_protected(role: RoomRole) -> bool:
    """Whether the role is out of reach of the controls (mute, stop video, remove).

    Only the presiding officer: a co-host who could silence or eject the person
    legally responsible for the mediation would turn a helper into a rival.
    """
    return role == RoomRole.HOST


def role_for_invitation(invitee_role: str) -> RoomRole:
    """The room role of someone entering through an invitation link.

    Invitation roles (``server.sessions.rules.InviteeRole``) mirror the room
    roles, except that invited staff come in as co-hosts: the presiding officer
    is always the session's own host, who enters from the session page.
    """
    if invitee_role == "staff":
        return RoomRole.COHOST
    role = RoomRole(invitee_role)  # ValueError for a role the invitation model cannot hold
    if role in HOST_ROLES:
        raise ValueError(f"an invitation cannot carry the room role {role!s}")
    return role


def staff_claim(*, runs_rooms: bool) -> RoomRole:
    """What a member of staff entering from the session page claims to be.

    ``runs_rooms``: their account may book sessions (``server.auth.roles.can_book``).
    Whoever may book a session may help run it; a clerk, who keeps the record,
    watches.
    """
    return RoomRole.COHOST if runs_rooms else RoomRole.OBSERVER


def room_role(claimed: RoomRole, *, staff_id: int | None, host_staff_id: int) -> RoomRole:
    """The role a participant holds in the room: the one place that decides it.

    The session's own presiding officer presides whatever was claimed; nobody
    else may (a claim to preside becomes co-host). Other staff co-host or
    observe; a staff claim to anything else (a party's role) observes, the
    least a member of staff may do. Every other claim stands.
    """
    if staff_id is not None and staff_id == host_staff_id:
        return RoomRole.HOST
    if claimed == RoomRole.HOST:
        return RoomRole.COHOST
    if staff_id is not None and claimed not in STAFF_ROLES:
        return RoomRole.OBSERVER
    return claimed
