"""Who someone is in a live room, and the pure permission checks that follow.

These roles are not staff account roles (``server.auth.roles``): they say what a
person does in one session. Staff are hosts: the presiding officer is the
**host**, every other member of staff who joins is a **co-host** with the same
controls, except that nobody may mute, stop or remove the presiding officer.
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
