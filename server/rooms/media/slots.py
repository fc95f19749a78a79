"""Subscriber slots: which source takes which slot, when a slot may be reused, when it is live.

Pure data and functions (no aiortc, no asyncio, no I/O), so the rules can be
tested on their own; :mod:`server.rooms.media.negotiation` holds the
m-sections and tracks that go with each slot and applies these states.

A subscriber connection carries one *slot* per source the participant may
receive: a send-only audio m-section followed by a send-only video one. The
rules, and why:

- **Slots are never removed**, only reused: an m-section cannot be taken out
  of a connection again. A source no longer routed to the receiver leaves its
  slot (``source`` becomes None) and the slot is re-offered ``inactive``.
- **A slot is reused for another source only once the browser has answered
  the offer that made it inactive** (:attr:`SlotState.reusable`). So in the
  browser every new source on an m-section is an ``inactive`` → ``sendonly``
  transition, which fires a fresh ``track`` event with the new stream id;
  Chrome and Firefox fire none when only the ``a=msid`` of a live m-section
  changes.
- **A source that comes back takes its old slot again** if that slot is still
  free, whatever its negotiation state: for the same source nothing in the
  browser has to change.
- **A slot is fed only while it is live** (:attr:`SlotState.live`): the last
  answered offer had the slot on this source and no offer awaiting its answer
  changes that. A browser drops packets that reach an m-section it has not
  (or no longer) enabled, and numbered packets that never arrive are holes in
  the stream.

A slot's stream id, written into its m-sections' ``a=msid``, is the source's
participant id, or :data:`NO_STREAM` while inactive.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from typing import Final, Literal, TypeAlias

from server.rooms.routing import MediaKind, Route

#: Stream id of an inactive subscriber m-section ("no stream", RFC 8830).
NO_STREAM: Final = "-"


class _Unset(enum.Enum):
    """Marks a slot that no (answered, or awaiting an answer) offer described."""

    UNSET = "unset"


UNSET: Final = _Unset.UNSET
#: A stream id as an offer carried it, or :data:`UNSET`.
Negotiated: TypeAlias = str | Literal[_Unset.UNSET]


@dataclass(frozen=True, slots=True)
class SlotState:
    """What one slot carries now and what the browser was told about it."""

    #: Position on the connection (the m-sections' track ids end in it).
    index: int
    #: The source wanted on the slot now; None: the slot is to be inactive.
    source: str | None
    #: The last source the slot carried, so that it can come back to it.
    last_source: str
    #: The stream id in the last offer the browser answered.
    negotiated: Negotiated = UNSET
    #: The stream id in the offer awaiting its answer.
    in_flight: Negotiated = UNSET

    @classmethod
    def new(cls, index: int, source: str) -> SlotState:
        """A slot added for ``source``; no offer has described it yet."""
        return cls(index=index, source=source, last_source=source)

    @property
    def stream_id(self) -> str:
        """The stream id the next offer gives the slot."""
        return self.source if self.source is not None else NO_STREAM

    @property
    def reusable(self) -> bool:
        """Free for another source: inactive, and the browser has said so."""
        return (
            self.source is None
            and self.negotiated == NO_STREAM
            and self.in_flight in (UNSET, NO_STREAM)
        )

    @property
    def live(self) -> bool:
        """Whether the slot's m-sections are to be fed with its source's packets now."""
        return (
            self.source is not None
            and self.negotiated == self.source
            and (self.in_flight is UNSET or self.in_flight == self.source)
        )

    @property
    def needs_offer(self) -> bool:
        """The browser does not have the slot as it is wanted now."""
        return self.stream_id != self.negotiated

    def offering(self) -> SlotState:
        """An offer describing the slot as it is now was sent."""
        return replace(self, in_flight=self.stream_id)

    def settled(self) -> SlotState:
        """The offer is over: answered, refused, timed out or superseded."""
        return replace(self, in_flight=UNSET)

    def answered(self, stream_id: str) -> SlotState:
        """The browser accepted an offer that had ``stream_id`` on the slot."""
        return replace(self, negotiated=stream_id)


def allocate(slots: Sequence[SlotState], sources: AbstractSet[str]) -> tuple[SlotState, ...]:
    """The slots after routing exactly ``sources`` to the receiver.

    Slots whose source is no longer wanted become inactive. Each wanted source
    not on a slot yet takes back the free slot it last had; the others (in
    sorted order, so the result does not depend on set order) then take the
    first :attr:`~SlotState.reusable` one, else a new slot at the end. The
    result equals ``tuple(slots)`` when nothing changes.
    """
    out = [
        replace(slot, source=None)
        if slot.source is not None and slot.source not in sources
        else slot
        for slot in slots
    ]
    placed = {slot.source for slot in out}
    waiting = sorted(sources - placed)
    # Returning sources first, so that no newcomer takes a slot its last
    # source is coming back to in the same change.
    for source in list(waiting):
        index = next(
            (i for i, s in enumerate(out) if s.source is None and s.last_source == source), None
        )
        if index is not None:
            out[index] = replace(out[index], source=source)
            waiting.remove(source)
    for source in waiting:
        index = next((i for i, s in enumerate(out) if s.reusable), None)
        if index is None:
            out.append(SlotState.new(len(out), source))
        else:
            out[index] = replace(out[index], source=source, last_source=source)
    return tuple(out)


def fresh_slots(slots: Iterable[SlotState]) -> tuple[SlotState, ...]:
    """Slots for a new connection: one per source active now, in their order, none offered."""
    active = [slot.source for slot in slots if slot.source is not None]
    return tuple(SlotState.new(i, source) for i, source in enumerate(active))


def needs_offer(slots: Iterable[SlotState]) -> bool:
    """Whether the connection must be re-offered for the browser to have these slots."""
    return any(slot.needs_offer for slot in slots)


def wanted_by_receiver(routes: Iterable[Route]) -> dict[str, dict[str, set[MediaKind]]]:
    """Receiver → source → kinds, leaving out anyone's own media."""
    wanted: dict[str, dict[str, set[MediaKind]]] = {}
    for route in routes:
        if route.source != route.receiver:
            wanted.setdefault(route.receiver, {}).setdefault(route.source, set()).add(route.kind)
    return wanted


def wanted_by(routes: Iterable[Route], receiver: str) -> dict[str, set[MediaKind]]:
    """Source → kinds routed to ``receiver`` (its own media left out)."""
    return wanted_by_receiver(r for r in routes if r.receiver == receiver).get(receiver, {})
