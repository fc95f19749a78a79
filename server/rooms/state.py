"""The part of a room that carries a promise, as plain values: what a restart must keep.

A party talking privately with the mediator was promised that the other
party cannot hear them; a muted participant, that they stay muted; a locked
room, that nobody new gets in. ``LiveState`` is that promise frozen at one
decision: caucuses (who is in, and so who may hear whom), the lock, host
mutes and video stops, raised hands and unmute requests. ``Room.live_state``
takes it, ``Room.restore_state`` puts it back in a fresh room. Admission and
removals are kept apart, row by row, by the room store.

Values only: comparing two states says whether anything worth writing moved.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CaucusState:
    """One caucus as it stood: its id, label, opener and members (ids of participants)."""

    id: str
    name: str
    opened_by: str
    members: frozenset[str]


@dataclass(frozen=True, slots=True)
class Controls:
    """The host controls on one participant, and their own raised hand."""

    muted_by_host: bool = False
    video_stopped_by_host: bool = False
    hand_raised: bool = False
    unmute_requested: bool = False

    @property
    def any(self) -> bool:
        """Whether there is anything to keep: a participant with none is not stored."""
        return (
            self.muted_by_host
            or self.video_stopped_by_host
            or self.hand_raised
            or self.unmute_requested
        )


@dataclass(frozen=True, slots=True)
class LiveState:
    """Everything of a room's live state that a restart must not lose."""

    locked: bool = False
    #: The number the next caucus takes: ids are never reused within a session.
    next_caucus: int = 1
    #: Sorted by id, so equal states compare equal.
    caucuses: tuple[CaucusState, ...] = ()
    #: (participant id, controls), sorted by id; only participants with some control set.
    controls: tuple[tuple[str, Controls], ...] = ()

    def controls_of(self, pid: str) -> Controls:
        """The controls on ``pid`` (all off when none were kept)."""
        return dict(self.controls).get(pid, Controls())
