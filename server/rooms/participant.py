"""A person in a live room: identity, admission state and media controls.

A ``Participant`` is plain data; the ``Room`` is the only thing that changes it,
so every change goes through a method that checks permissions and reports
events. The signalling layer builds a *candidate* (identity only) for
``Room.join`` and serialises the room's own records; state fields on a
candidate are ignored, so a client can never talk its way past the lobby.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum

from server.errors import N_, NotAllowed
from server.rooms.events import (
    AudioAllowed,
    AudioMuted,
    AudioOnlyChanged,
    Event,
    HandRaised,
    LinkAudioOnlyChanged,
    SelfStateChanged,
    UnmuteRequested,
    VideoAllowed,
    VideoStopped,
)
from server.rooms.roles import RoomRole, is_host, is_protected
from server.rooms.routing import Route

#: Refusal shared with the room's other controls.
PROTECTED = N_("This cannot be done to the presiding officer.")

#: Stable across reconnections: the invitation or the staff account behind the person.
PARTICIPANT_ID = re.compile(r"(inv|staff)-[1-9][0-9]*")


class Admission(StrEnum):
    """Where someone stands at the door (docs/room.md, "Admission")."""

    LOBBY = "lobby"  # knocked, waiting for a host
    ADMITTED = "admitted"  # in the room (possibly disconnected, within the grace period)
    DECLINED = "declined"  # a host said no; may knock again after a cool-down
    REMOVED = "removed"  # a host removed them; may not knock again
    LEFT = "left"  # left, or dropped for longer than the grace period


def invitation_pid(invitation_id: int) -> str:
    """The participant id of whoever holds invitation ``invitation_id``."""
    return f"inv-{invitation_id}"


def staff_pid(staff_id: int) -> str:
    """The participant id of staff member ``staff_id`` entering from the session page."""
    return f"staff-{staff_id}"


@dataclass(eq=False)
class Participant:
    """One person in one room. Compared by identity: a record, not a value."""

    id: str
    name: str
    role: RoomRole
    invitation_id: int | None = None
    staff_id: int | None = None
    admission: Admission = Admission.LOBBY
    #: A live signalling connection exists. Admitted and connected is what routing needs.
    connected: bool = False
    #: Room-clock time of the last disconnect, while the participant keeps their place.
    disconnected_at: float | None = None
    audio_muted_by_host: bool = False
    video_stopped_by_host: bool = False
    #: What the client says about its own microphone and camera: display only,
    #: the server cannot verify it and does not route on it.
    self_muted: bool = False
    self_video_off: bool = False
    hand_raised: bool = False
    #: Receive no video (a weak phone connection); the participant still sends.
    audio_only: bool = False
    #: The server's own audio-only for a link too weak for video (link_quality.py):
    #: kept apart from the participant's choice, so each is undone on its own.
    link_audio_only: bool = False
    knock_message: str = ""
    #: Room-clock time of the knock (lobby order) or of a host's entry.
    joined_at: float = 0.0
    #: A host asked this participant to unmute: accepting lifts a host mute.
    unmute_requested: bool = False
    #: Admitted at least once: a locked room still lets them back in.
    was_admitted: bool = False
    #: Room-clock time of the last decline, for the cool-down before knocking again.
    declined_at: float | None = None
    #: Bumped by every join, so a stale connection's late close does not
    #: disconnect the newer one (``Room.disconnect(pid, generation=...)``).
    generation: int = 0

    def __post_init__(self) -> None:
        # Programming errors, not user errors: the signalling layer builds these.
        if not PARTICIPANT_ID.fullmatch(self.id):
            raise ValueError(f"participant id must be inv-<n> or staff-<n>, not {self.id!r}")
        self.role = RoomRole(self.role)
        self.admission = Admission(self.admission)
        if self.invitation_id is not None and self.id != invitation_pid(self.invitation_id):
            raise ValueError(f"{self.id} does not match invitation {self.invitation_id}")
        if self.staff_id is not None and self.id != staff_pid(self.staff_id):
            raise ValueError(f"{self.id} does not match staff member {self.staff_id}")

    @classmethod
    def for_invitation(cls, invitation_id: int, name: str, role: RoomRole) -> Participant:
        """A candidate entering through personal link ``invitation_id``."""
        return cls(
            id=invitation_pid(invitation_id), name=name, role=role, invitation_id=invitation_id
        )

    @classmethod
    def for_staff(cls, staff_id: int, name: str, role: RoomRole = RoomRole.COHOST) -> Participant:
        """A candidate member of staff entering from the session page.

        The room makes the session's own host the presiding officer whatever
        ``role`` says, so callers need not know who presides.
        """
        return cls(id=staff_pid(staff_id), name=name, role=role, staff_id=staff_id)

    @property
    def is_host(self) -> bool:
        """Holds the room's controls (presiding officer or co-host)."""
        return is_host(self.role)

    @property
    def is_admitted(self) -> bool:
        return self.admission == Admission.ADMITTED

    @property
    def is_active(self) -> bool:
        """Sends and receives media (docs/room.md, rule 1)."""
        return self.admission == Admission.ADMITTED and self.connected


class MediaControls(ABC):
    """Controls over one participant's media, hand and self state, mixed into ``Room``.

    Hosts mute, stop video, ask to unmute and lower hands; participants raise
    their hand, report their own microphone and camera, accept an unmute
    request and choose audio-only. The mixin reaches the room only through
    the abstract methods, which ``Room`` implements.
    """

    @abstractmethod
    def _host(self, actor_id: str) -> Participant:
        """The acting host, or NotAllowed."""

    @abstractmethod
    def _target(self, pid: str) -> Participant:
        """An admitted participant a host acts on, or NotFound/Conflict."""

    @abstractmethod
    def _admitted(self, pid: str) -> Participant:
        """An admitted participant acting for themself, or NotAllowed."""

    @abstractmethod
    def _find(self, pid: str) -> Participant | None:
        """The participant ``pid``, whatever their state, or None."""

    @abstractmethod
    def _routes(self) -> frozenset[Route]:
        """``routing.routes`` of this room."""

    @abstractmethod
    def _finish(self, before: frozenset[Route], events: list[Event]) -> list[Event]:
        """``events`` plus ``RoutesChanged`` if the routes moved since ``before``."""

    def mute(self, actor_id: str, pid: str) -> list[Event]:
        """Stop ``pid``'s audio reaching anyone, until allowed again."""
        actor, p = self._host(actor_id), self._target(pid)
        if is_protected(p.role):
            raise NotAllowed(PROTECTED)
        if p.audio_muted_by_host:
            return []
        before = self._routes()
        p.audio_muted_by_host = True
        p.unmute_requested = False  # a new mute overrides an earlier invitation to speak
        return self._finish(before, [AudioMuted(by=actor.id, target=pid)])

    def request_unmute(self, actor_id: str, pid: str) -> list[Event]:
        """Ask ``pid`` to speak; only they can open their microphone (``unmute_self``)."""
        actor, p = self._host(actor_id), self._target(pid)
        p.unmute_requested = True
        return [UnmuteRequested(by=actor.id, target=pid)]

    def allow_audio(self, actor_id: str, pid: str) -> list[Event]:
        """Lift a host mute; the participant's own microphone setting stays theirs."""
        actor, p = self._host(actor_id), self._target(pid)
        if not p.audio_muted_by_host:
            return []
        before = self._routes()
        p.audio_muted_by_host = False
        p.unmute_requested = False
        return self._finish(before, [AudioAllowed(by=actor.id, target=pid)])

    def stop_video(self, actor_id: str, pid: str) -> list[Event]:
        """Stop ``pid``'s video reaching anyone, until allowed again."""
        actor, p = self._host(actor_id), self._target(pid)
        if is_protected(p.role):
            raise NotAllowed(PROTECTED)
        if p.video_stopped_by_host:
            return []
        before = self._routes()
        p.video_stopped_by_host = True
        return self._finish(before, [VideoStopped(by=actor.id, target=pid)])

    def allow_video(self, actor_id: str, pid: str) -> list[Event]:
        """Lift a host video stop; the participant's camera stays theirs to switch on."""
        actor, p = self._host(actor_id), self._target(pid)
        if not p.video_stopped_by_host:
            return []
        before = self._routes()
        p.video_stopped_by_host = False
        return self._finish(before, [VideoAllowed(by=actor.id, target=pid)])

    def lower_hand(self, actor_id: str, pid: str) -> list[Event]:
        """A host lowers someone's hand (they were given the floor, or it was a slip)."""
        actor, p = self._host(actor_id), self._target(pid)
        if not p.hand_raised:
            return []
        p.hand_raised = False
        return [HandRaised(pid, raised=False, by=actor.id)]

    # -- participants --------------------------------------------------------

    def raise_hand(self, pid: str, raised: bool) -> list[Event]:
        """Ask for the floor without talking over anyone, or take the request back."""
        p = self._admitted(pid)
        if p.hand_raised == raised:
            return []
        p.hand_raised = raised
        return [HandRaised(pid, raised=raised, by=pid)]

    def set_self_state(self, pid: str, muted: bool, video_off: bool) -> list[Event]:
        """Record what the client says of its microphone and camera, for others' screens."""
        p = self._admitted(pid)
        if (p.self_muted, p.self_video_off) == (muted, video_off):
            return []
        p.self_muted, p.self_video_off = muted, video_off
        return [SelfStateChanged(pid, muted=muted, video_off=video_off)]

    def unmute_self(self, pid: str) -> list[Event]:
        """The participant unmutes; this lifts a host mute only if a host asked them to speak."""
        p = self._admitted(pid)
        if p.audio_muted_by_host and not p.unmute_requested:
            raise NotAllowed(N_("The mediator has muted you. You can speak when asked to."))
        before = self._routes()
        events: list[Event] = []
        if p.audio_muted_by_host:
            p.audio_muted_by_host = False
            events.append(AudioAllowed(by=pid, target=pid))
        p.unmute_requested = False
        if p.self_muted:
            p.self_muted = False
            events.append(SelfStateChanged(pid, muted=False, video_off=p.self_video_off))
        return self._finish(before, events)

    def set_audio_only(self, pid: str, on: bool) -> list[Event]:
        """Receive no video (the participant's own video still goes out)."""
        p = self._admitted(pid)
        if p.audio_only == on:
            return []
        before = self._routes()
        p.audio_only = on
        return self._finish(before, [AudioOnlyChanged(pid, on=on)])

    def set_link_audio_only(self, pid: str, on: bool, reason: str = "") -> list[Event]:
        """The media server judged ``pid``'s downlink (too weak for video, or recovered).

        Not a participant's act: nothing to permit. A participant who left (or is not
        admitted) is simply not changed.
        """
        p = self._find(pid)
        if p is None or not p.is_active or p.link_audio_only == on:
            return []
        before = self._routes()
        p.link_audio_only = on
        return self._finish(before, [LinkAudioOnlyChanged(pid, on=on, reason=reason)])
