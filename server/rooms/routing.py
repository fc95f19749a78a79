"""Who receives what: the one pure function that decides media forwarding.

``routes(room)`` reads the room's state and returns every permitted
*(source, kind, receiver)* triple. Nothing else decides forwarding: the
forwarder applies the result, the screens' "who can hear you" is derived from
it, and the caucus is enforced here, so no client can open a path the rules
forbid (docs/room.md, "Who hears whom").

Rooms hold at most a few dozen people, so the pairwise loop is the clearest
way to say it and cheap enough to recompute after every change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias

if TYPE_CHECKING:
    from server.rooms.room import Room

MediaKind: TypeAlias = Literal["audio", "video"]
KINDS: tuple[MediaKind, ...] = ("audio", "video")


@dataclass(frozen=True, slots=True)
class Route:
    """``receiver`` may get ``source``'s ``kind`` track."""

    source: str
    kind: MediaKind
    receiver: str


def routes(room: Room) -> frozenset[Route]:
    """Every route the rules allow in ``room`` right now.

    0. An ended room forwards nothing.
    1. Only admitted, connected participants send or receive.
    2. Nobody receives their own media.
    3. A host mute stops a source's audio everywhere; a host video stop its video.
    4. Two participants exchange media only in the same caucus, or both in none.
    5. A receiver in audio-only mode gets no video: chosen by the participant, or set
       by the server while their link is too weak for it (``link_quality.py``).
    """
    if room.ended:
        return frozenset()
    active = [p for p in room.participants.values() if p.is_active]  # rule 1
    caucus_of = {pid: cid for cid, caucus in room.caucuses.items() for pid in caucus.members}
    result: set[Route] = set()
    for source in active:
        sends_audio = not source.audio_muted_by_host  # rule 3
        sends_video = not source.video_stopped_by_host
        for receiver in active:
            if receiver.id == source.id:  # rule 2
                continue
            if caucus_of.get(source.id) != caucus_of.get(receiver.id):  # rule 4
                continue
            if sends_audio:
                result.add(Route(source.id, "audio", receiver.id))
            if sends_video and not (receiver.audio_only or receiver.link_audio_only):  # rule 5
                result.add(Route(source.id, "video", receiver.id))
    return frozenset(result)


def receivers_of(routes: frozenset[Route], source: str, kind: MediaKind = "audio") -> set[str]:
    """Who gets ``source``'s ``kind``: with audio, "who can hear you right now"."""
    return {r.receiver for r in routes if r.source == source and r.kind == kind}


def sources_for(routes: frozenset[Route], receiver: str) -> set[tuple[str, MediaKind]]:
    """What ``receiver``'s subscriber connection should carry: (source, kind) pairs."""
    return {(r.source, r.kind) for r in routes if r.receiver == receiver}
