"""Caucuses (背对背调解): subsets of a room that are cut off from everyone else.

A caucus is only a set of members; routing does the isolating (rule 4 in
docs/room.md). This module keeps the one invariant the room relies on, *a
participant is in at most one caucus*, and holds the hosts' caucus controls
as a mixin of ``Room`` so that ``room.py`` stays about the door and the
media controls. The mixin reaches the room only through the abstract
methods below, which ``Room`` implements.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field

from server.errors import N_, NotFound, ValidationFailed
from server.rooms.events import CaucusChanged, CaucusClosed, CaucusOpened, Event
from server.rooms.participant import Participant
from server.rooms.roles import RoomRole
from server.rooms.routing import Route

#: Long enough for "with the claimant and her agent", short enough for a tab label.
MAX_CAUCUS_NAME = 40


@dataclass(eq=False)
class Caucus:
    """A private conversation inside the room: its members hear only each other."""

    id: str
    members: set[str] = field(default_factory=set)
    opened_by: str = ""
    #: Optional label the host gives it; screens fall back to "Caucus <n>".
    name: str = ""


def caucus_of(caucuses: dict[str, Caucus], pid: str) -> str | None:
    """The id of the caucus ``pid`` is in, None for the main room."""
    for caucus in caucuses.values():
        if pid in caucus.members:
            return caucus.id
    return None


def withdraw(
    caucuses: dict[str, Caucus], pids: Iterable[str], *, keep: str | None = None
) -> list[Event]:
    """Take ``pids`` out of every caucus but ``keep``, back to the main room.

    A caucus left without members closes: an empty caucus would only be a
    trap for whoever is moved into it next, and screens would list ghosts.
    """
    leaving = set(pids)
    events: list[Event] = []
    for caucus in list(caucuses.values()):
        if caucus.id == keep or not caucus.members & leaving:
            continue
        caucus.members -= leaving
        if caucus.members:
            events.append(CaucusChanged(caucus.id, frozenset(caucus.members)))
        else:
            del caucuses[caucus.id]
            events.append(CaucusClosed(caucus.id))
    return events


class CaucusControls(ABC):
    """The hosts' caucus controls and the caucus queries, mixed into ``Room``."""

    caucuses: dict[str, Caucus]
    _next_caucus: int

    @abstractmethod
    def _host(self, actor_id: str) -> Participant:
        """The acting host, or NotAllowed."""

    @abstractmethod
    def _target(self, pid: str) -> Participant:
        """An admitted participant a host acts on, or NotFound/Conflict."""

    @abstractmethod
    def _routes(self) -> frozenset[Route]:
        """``routing.routes`` of this room."""

    @abstractmethod
    def _finish(self, before: frozenset[Route], events: list[Event]) -> list[Event]:
        """``events`` plus ``RoutesChanged`` if the routes moved since ``before``."""

    @abstractmethod
    def admitted(self) -> list[Participant]:
        """Admitted participants in order of entry."""

    def open_caucus(self, actor_id: str, member_ids: list[str], name: str = "") -> list[Event]:
        """Open a caucus with ``member_ids`` and the opening host, taken from wherever they are."""
        actor = self._host(actor_id)
        name = _caucus_name(name)
        members = self._caucus_members(member_ids) | {actor.id}
        if len(members) < 2:
            raise ValidationFailed(
                N_("A caucus needs at least one participant besides you."),
                fields={"member_ids": "too_few"},
            )
        before = self._routes()
        events = withdraw(self.caucuses, members)
        cid = f"c{self._next_caucus}"
        self._next_caucus += 1
        self.caucuses[cid] = Caucus(cid, set(members), opened_by=actor.id, name=name)
        events.append(CaucusOpened(cid, frozenset(members), name=name, by=actor.id))
        return self._finish(before, events)

    def set_caucus_members(
        self, actor_id: str, caucus_id: str, member_ids: list[str]
    ) -> list[Event]:
        """Replace a caucus's members; those no longer in it return to the main room."""
        self._host(actor_id)
        caucus = self._caucus(caucus_id)
        members = self._caucus_members(member_ids)
        if not members:
            raise ValidationFailed(
                N_("A caucus needs at least one member."), fields={"member_ids": "too_few"}
            )
        if members == caucus.members:
            return []
        before = self._routes()
        events = withdraw(self.caucuses, members, keep=caucus_id)
        caucus.members = set(members)
        events.append(CaucusChanged(caucus_id, frozenset(members)))
        return self._finish(before, events)

    def move_to(self, actor_id: str, caucus_id: str | None) -> list[Event]:
        """The acting host goes into caucus ``caucus_id``, or back to the main room (None)."""
        actor = self._host(actor_id)
        if self.caucus_of(actor.id) == caucus_id:
            return []
        target = None if caucus_id is None else self._caucus(caucus_id)
        before = self._routes()
        events = withdraw(self.caucuses, [actor.id])
        if target is not None:
            target.members.add(actor.id)
            events.append(CaucusChanged(target.id, frozenset(target.members)))
        return self._finish(before, events)

    def close_caucus(self, actor_id: str, caucus_id: str) -> list[Event]:
        """Close a caucus; its members return to the main room."""
        self._host(actor_id)
        self._caucus(caucus_id)
        before = self._routes()
        del self.caucuses[caucus_id]
        return self._finish(before, [CaucusClosed(caucus_id)])

    def close_all_caucuses(self, actor_id: str) -> list[Event]:
        """ "Bring everyone back": close every caucus at once."""
        self._host(actor_id)
        before = self._routes()
        events: list[Event] = [CaucusClosed(cid) for cid in self.caucuses]
        self.caucuses.clear()
        return self._finish(before, events)

    def caucus_of(self, pid: str) -> str | None:
        """The caucus ``pid`` is in, None for the main room."""
        return caucus_of(self.caucuses, pid)

    def private_talk_notice(self, pid: str) -> tuple[str, list[str]] | None:
        """(mediator's name, names of those with them) while the mediator is in a
        caucus ``pid`` is not in: "the mediator is talking privately with …, please wait".

        The mediator is the presiding officer, or the earliest co-host while the
        presiding officer is not in the room. Whoever cannot hear the mediator
        should know why, rather than think the connection broke.
        """
        admitted = self.admitted()
        hosts = [p for p in admitted if p.is_host]
        if not hosts or pid not in {p.id for p in admitted}:
            return None
        mediator = next((p for p in hosts if p.role == RoomRole.HOST), hosts[0])
        cid = self.caucus_of(mediator.id)
        if mediator.id == pid or cid is None or cid == self.caucus_of(pid):
            return None
        members = self.caucuses[cid].members
        names = [p.name for p in admitted if p.id in members and p.id != mediator.id]
        return mediator.name, names

    def _caucus(self, caucus_id: str) -> Caucus:
        caucus = self.caucuses.get(caucus_id)
        if caucus is None:
            raise NotFound(N_("No such caucus."), params={"caucus_id": caucus_id})
        return caucus

    def _caucus_members(self, member_ids: Iterable[str]) -> set[str]:
        """Only admitted participants can be put in a caucus (they may be reconnecting)."""
        members = set(member_ids)
        for pid in members:
            self._target(pid)
        return members


def _caucus_name(name: str) -> str:
    name = name.strip()
    if len(name) > MAX_CAUCUS_NAME:
        raise ValidationFailed(
            N_("A caucus name may have at most %(max)d characters."),
            params={"max": MAX_CAUCUS_NAME},
            fields={"name": "too_long"},
        )
    return name
