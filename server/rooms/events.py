"""What happened in a room: one frozen dataclass per fact, named in the past tense.

Every mutating ``Room`` method returns the events it caused, in order, instead
of calling listeners: the caller (the signalling layer) turns them into
notifications and the persistence layer writes the durable ones
(admissions, declines, removals, chat). Events carry ids, not copies of
participants; read the room for names and roles, it is already up to date.

``RoutesChanged`` comes last in a batch whenever ``routing.routes(room)``
differs from before the call, so the forwarder has exactly one trigger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from server.rooms.routing import Route

if TYPE_CHECKING:
    from server.rooms.participant import Participant


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One chat line, as stored and as shown.

    ``audience`` is who could see a room message when it was posted: the
    admitted participants in the sender's part of the room (the same caucus,
    or the main room). A message never reaches people the sender could not
    talk to at that moment, and joining a caucus later does not reveal what
    was said in it before. Private notes to the hosts ignore ``audience``:
    every host sees them, whichever caucus they are in.
    """

    id: int
    sender_id: str
    sender_name: str
    text: str
    private_to_hosts: bool
    #: The sender's caucus when posted, None for the main room.
    caucus_id: str | None
    #: Room-clock time.
    at: float
    audience: frozenset[str] = frozenset()

    def visible_to(self, viewer: Participant) -> bool:
        """Whether ``viewer`` may read this message (admission is the room's to check)."""
        if viewer.id == self.sender_id:
            return True
        if self.private_to_hosts:
            return viewer.is_host
        return viewer.id in self.audience


@dataclass(frozen=True, slots=True)
class ParticipantKnocked:
    """Someone is waiting in the lobby (new, or knocking again)."""

    pid: str


@dataclass(frozen=True, slots=True)
class KnockMessagePosted:
    """A lobby participant left (or changed) a short message for the staff."""

    pid: str
    text: str


@dataclass(frozen=True, slots=True)
class ParticipantAdmitted:
    """Someone is in the room.

    ``returning`` is a reconnect within the grace period (or after a restart)
    that skipped the lobby; ``by`` is the admitting host, None when nobody had
    to decide (a host entering, or a return).
    """

    pid: str
    returning: bool = False
    by: str | None = None


@dataclass(frozen=True, slots=True)
class ParticipantDeclined:
    pid: str
    by: str


@dataclass(frozen=True, slots=True)
class ParticipantConnected:
    """A participant who kept their place (in the lobby) has a connection again."""

    pid: str


@dataclass(frozen=True, slots=True)
class ParticipantDisconnected:
    """The connection dropped; the place is kept for the grace period."""

    pid: str


@dataclass(frozen=True, slots=True)
class ParticipantLeft:
    """Gone from the lobby or the room: by choice, or ``timed_out`` after the grace period."""

    pid: str
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class ParticipantRemoved:
    """A host removed someone; ``revoke_link`` asks the persistence layer to revoke it."""

    pid: str
    by: str
    revoke_link: bool


@dataclass(frozen=True, slots=True)
class AudioMuted:
    by: str
    target: str


@dataclass(frozen=True, slots=True)
class AudioAllowed:
    """A host mute was lifted, by a host or by the target accepting an unmute request."""

    by: str
    target: str


@dataclass(frozen=True, slots=True)
class UnmuteRequested:
    by: str
    target: str


@dataclass(frozen=True, slots=True)
class VideoStopped:
    by: str
    target: str


@dataclass(frozen=True, slots=True)
class VideoAllowed:
    by: str
    target: str


@dataclass(frozen=True, slots=True)
class HandRaised:
    """A hand went up or down; ``by`` is a host when a host lowered it."""

    pid: str
    raised: bool
    by: str


@dataclass(frozen=True, slots=True)
class SelfStateChanged:
    """What the client says about its own microphone and camera (display only)."""

    pid: str
    muted: bool
    video_off: bool


@dataclass(frozen=True, slots=True)
class AudioOnlyChanged:
    pid: str
    on: bool


@dataclass(frozen=True, slots=True)
class LinkAudioOnlyChanged:
    """The server turned a participant's incoming video off (or back on) for their link.

    ``reason``: what the link rule saw (``queue``, ``estimate``, ``loss``; "" when video
    came back), see ``server/rooms/link_quality.py``.
    """

    pid: str
    on: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RoomLocked:
    locked: bool
    by: str


@dataclass(frozen=True, slots=True)
class RoomEnded:
    by: str


@dataclass(frozen=True, slots=True)
class CaucusOpened:
    caucus_id: str
    members: frozenset[str]
    name: str
    by: str


@dataclass(frozen=True, slots=True)
class CaucusChanged:
    caucus_id: str
    members: frozenset[str]


@dataclass(frozen=True, slots=True)
class CaucusClosed:
    caucus_id: str


@dataclass(frozen=True, slots=True)
class ChatPosted:
    message: ChatMessage


@dataclass(frozen=True, slots=True)
class RoutesChanged:
    """The full new routing table, plus the difference for the forwarder's convenience."""

    routes: frozenset[Route]
    added: frozenset[Route] = frozenset()
    removed: frozenset[Route] = frozenset()


#: Every event, as a union: ``match`` over it ends in ``assert_never`` (STYLE.md).
Event: TypeAlias = (
    ParticipantKnocked
    | KnockMessagePosted
    | ParticipantAdmitted
    | ParticipantDeclined
    | ParticipantConnected
    | ParticipantDisconnected
    | ParticipantLeft
    | ParticipantRemoved
    | AudioMuted
    | AudioAllowed
    | UnmuteRequested
    | VideoStopped
    | VideoAllowed
    | HandRaised
    | SelfStateChanged
    | AudioOnlyChanged
    | LinkAudioOnlyChanged
    | RoomLocked
    | RoomEnded
    | CaucusOpened
    | CaucusChanged
    | CaucusClosed
    | ChatPosted
    | RoutesChanged
)
