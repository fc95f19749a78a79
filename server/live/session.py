"""One participant's live session: the object the room, the wire and the media server share.

A participant's state is in one place per connection: this object, made by
the wire when their socket opens and held by the live room
(``LiveRoom.sessions``) while they are in it. It carries their channel,
what they may see, their staff account, their page language, their join
generation, their last signing prompt, and their media
(``server.rooms.media.ParticipantMedia``: their publisher and subscriber
legs, which the media server attaches when they join and forgets when the
handle closes). The room's own record of them (``Participant`` in
``Room.participants``, changed only by ``Room``) is reached by their id
(``record``); it is the room's memory of the person, not of the
connection, and outlives it: a removal bars them, a drop keeps their place
for the grace period.

``LiveRoom.enter`` and ``LiveRoom.drop`` are the only ways in and out, so the
session and its media legs come and go together.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel

from server.auth.roles import Actor
from server.rooms.media import ParticipantMedia
from server.rooms.participant import Participant


class EndReason(StrEnum):
    """Why the live layer ends someone's session; the wire turns it into a close code."""

    GOING_AWAY = "going_away"  # the server stops
    REMOVED = "removed_by_host"
    SESSION_ENDED = "session_ended"
    REPLACED = "replaced"  # the same person opened the room again elsewhere
    DECLINED = "declined"
    LEFT = "left"
    SIGNED_OUT = "signed_out"  # their account logged out, changed password, or was deactivated


class Channel(Protocol):
    """What the live layer needs of a participant's connection (the wire provides it)."""

    @property
    def closed(self) -> bool:
        """The connection is gone: nothing sent now arrives."""

    async def send(self, message: BaseModel) -> None:
        """Send one message; a vanished peer is not an error."""

    async def end(self, reason: EndReason) -> None:
        """Close the connection for ``reason``."""


@dataclass(eq=False)
class ParticipantSession:
    """One participant's presence in one live room, over one connection."""

    pid: str
    channel: Channel
    #: Sees parties' names in full (staff, parties, police experts), as on the door page.
    full_names: bool
    #: The staff member's account (None for invitees): what the agreement service acts as.
    actor: Actor | None = None
    #: The page's language, for words the server sends outside this participant's requests.
    language: str = "zh"
    #: The room's join count when this session joined: a late close of an older
    #: connection of the same person must not disconnect this one.
    generation: int | None = None
    #: The frozen text ("version:sha256") this signer was last asked to sign.
    prompted: str | None = None
    #: Their publisher and subscriber legs, from joining (``LiveRoom.enter``) until the end.
    media: ParticipantMedia | None = None

    @property
    def staff_id(self) -> int | None:
        return self.actor.user_id if self.actor is not None else None

    def record(self, participants: dict[str, Participant]) -> Participant | None:
        """The room's record of this participant (``Room.participants``)."""
        return participants.get(self.pid)
