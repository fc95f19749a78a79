"""The room as one participant may see it: the ``room`` of ``room_updated``.

Codes, not words: each page shows role and state labels in its own
language. Hosts see the lobby and every caucus; others see who is in the
room and their own caucus only. Parties' names are shortened for non-police
experts and observers, as on the invitation page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.pii import mask_name
from server.rooms.events import ChatMessage
from server.rooms.participant import Participant
from server.rooms.roles import RoomRole
from server.rooms.room import Room

#: Roles whose names are personal data a non-police expert need not see in full.
PARTY_ROLES = frozenset({RoomRole.PARTY, RoomRole.AGENT, RoomRole.GUARDIAN})


def display_name(person: Participant, *, full_names: bool) -> str:
    if full_names or person.role not in PARTY_ROLES:
        return person.name
    return mask_name(person.name)


def participant_view(
    room: Room, person: Participant, *, viewer_is_host: bool, full_names: bool
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": person.id,
        "name": display_name(person, full_names=full_names),
        "role": person.role.value,
        "is_host": person.is_host,
        "admission": person.admission.value,
        "connected": person.connected,
        "muted_by_host": person.audio_muted_by_host,
        "video_stopped_by_host": person.video_stopped_by_host,
        "self_muted": person.self_muted,
        "self_video_off": person.self_video_off,
        "hand_raised": person.hand_raised,
        "audio_only": person.audio_only,
        "link_audio_only": person.link_audio_only,
        "unmute_requested": person.unmute_requested,
    }
    if viewer_is_host:
        view["caucus_id"] = room.caucus_of(person.id)
        view["knock_message"] = person.knock_message
    return view


def chat_view(
    message: ChatMessage, posted_at: datetime | None, *, sender_name: str
) -> dict[str, Any]:
    return {
        "id": message.id,
        "sender_id": message.sender_id,
        "sender_name": sender_name,
        "text": message.text,
        "private_to_hosts": message.private_to_hosts,
        "at": posted_at.isoformat() if posted_at else None,
    }


def chat_lines(
    room: Room,
    messages: list[ChatMessage],
    *,
    full_names: bool,
    chat_times: dict[int, datetime],
) -> list[dict[str, Any]]:
    """Chat lines as one participant sees them (senders' names shortened as elsewhere)."""
    people = room.participants

    def display(sender_id: str, stored: str) -> str:
        sender = people.get(sender_id)
        return display_name(sender, full_names=full_names) if sender else stored

    return [
        chat_view(m, chat_times.get(m.id), sender_name=display(m.sender_id, m.sender_name))
        for m in messages
    ]


def room_view(
    room: Room,
    pid: str,
    *,
    full_names: bool,
    chat_times: dict[int, datetime],
) -> dict[str, Any]:
    """Everything ``pid`` may see of the room right now, but the chat.

    The chat goes line by line (``chat_posted``) and is paged on request
    (``chat_history``): carried in every update, a long chat made each raised
    hand cost every participant megabytes.
    """
    viewer = room.participants[pid]
    is_host = viewer.is_host and viewer.is_admitted
    visible = room.admitted() + (room.lobby() if is_host else [])

    if is_host:
        caucuses = [
            {"id": c.id, "name": c.name, "members": sorted(c.members)}
            for c in room.caucuses.values()
        ]
    else:
        own = room.caucus_of(pid)
        caucuses = (
            [
                {
                    "id": own,
                    "name": room.caucuses[own].name,
                    "members": sorted(room.caucuses[own].members),
                }
            ]
            if own
            else []
        )
    notice = room.private_talk_notice(pid)
    if notice is not None and not full_names:
        # The notice names people; those who see parties' names shortened see them so here too.
        by_name = {p.name: p for p in room.participants.values()}
        notice = (
            notice[0],
            [display_name(by_name[n], full_names=False) if n in by_name else n for n in notice[1]],
        )
    return {
        "session_id": room.session_id,
        "title": room.title,
        "locked": room.locked,
        "ended": room.ended,
        "you": pid,
        "you_are_host": is_host,
        "admission": viewer.admission.value,
        "participants": [
            participant_view(room, p, viewer_is_host=is_host, full_names=full_names)
            for p in visible
        ],
        "caucuses": caucuses,
        "your_caucus": room.caucus_of(pid),
        "hears_you": sorted(room.hears(pid)),
        "private_talk": {"host": notice[0], "with": notice[1]} if notice else None,
    }
