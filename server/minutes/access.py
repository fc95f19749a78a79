"""Who in a room sees the minutes: a pure rule, beside the writers' rule in auth.roles.

Writers (the presiding officer and clerks, ``can_write_minutes``) read what they
write; the other hosts of the room (co-hosts: the presiding officer's colleagues)
follow it. Parties, agents, guardians, experts and observers do not: the record is
the office's, and they see it when it is read back to them or on the paper.
"""

from __future__ import annotations

from server.rooms.roles import RoomRole, is_host


def reads_minutes(room_role: RoomRole, *, writes: bool) -> bool:
    """Whether a participant with ``room_role`` (who ``writes`` or not) reads the minutes."""
    return writes or is_host(room_role)
