"""The routing rules of docs/room.md, one by one and over hundreds of random rooms.

``routes(room)`` is the only thing that decides forwarding, so its rules are
tested against the room API itself (the way the signalling layer drives it)
and, for random rooms, against an independent restatement of the rules.
"""

from __future__ import annotations

import random
from itertools import product

import pytest

from server.errors import DomainError
from server.rooms.events import Event, RoutesChanged
from server.rooms.participant import Admission, Participant
from server.rooms.roles import RoomRole
from server.rooms.room import Room
from server.rooms.routing import Route, receivers_of, routes, sources_for

HOST = "staff-1"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def room_with(*pids: str) -> Room:
    """A room with the presiding officer and the given invitees admitted and connected."""
    room = Room(7, host_staff_id=1, title="t", clock=Clock())
    room.join(Participant.for_staff(1, "Host"))
    for pid in pids:
        number = int(pid.split("-")[1])
        room.join(Participant.for_invitation(number, pid.upper(), RoomRole.PARTY))
        room.admit(HOST, pid)
    return room


def pairs(table: frozenset[Route], kind: str) -> set[tuple[str, str]]:
    return {(r.source, r.receiver) for r in table if r.kind == kind}


def everyone_to_everyone(pids: list[str]) -> set[tuple[str, str]]:
    return {(a, b) for a, b in product(pids, pids) if a != b}


def test_empty_room_has_no_routes() -> None:
    assert routes(Room(1, host_staff_id=1, title="t")) == frozenset()


def test_host_alone_receives_nothing_from_themself() -> None:
    assert routes(room_with()) == frozenset()


def test_admitted_connected_participants_exchange_audio_and_video() -> None:
    room = room_with("inv-1", "inv-2")
    table = routes(room)
    everyone = everyone_to_everyone([HOST, "inv-1", "inv-2"])
    assert pairs(table, "audio") == everyone
    assert pairs(table, "video") == everyone
    assert len(table) == 12


def test_lobby_participant_neither_sends_nor_receives() -> None:
    room = room_with("inv-1")
    room.join(Participant.for_invitation(2, "Waiting", RoomRole.PARTY))
    assert room.participants["inv-2"].admission == Admission.LOBBY
    assert all("inv-2" not in (r.source, r.receiver) for r in routes(room))


@pytest.mark.parametrize("how", ["disconnect", "leave", "remove", "decline"])
def test_only_admitted_and_connected_participants_route(how: str) -> None:
    room = room_with("inv-1", "inv-2")
    gone = "inv-2"
    if how == "disconnect":
        room.disconnect(gone)
    elif how == "leave":
        room.leave(gone)
    elif how == "remove":
        room.remove(HOST, gone, revoke_link=False)
    else:
        gone = "inv-3"
        room.join(Participant.for_invitation(3, "Knocker", RoomRole.PARTY))
        room.decline(HOST, gone)
    table = routes(room)
    assert all(gone not in (r.source, r.receiver) for r in table)
    assert pairs(table, "audio") >= {(HOST, "inv-1"), ("inv-1", HOST)}


def test_host_mute_stops_audio_everywhere_but_not_video_or_listening() -> None:
    room = room_with("inv-1", "inv-2")
    room.mute(HOST, "inv-1")
    table = routes(room)
    assert receivers_of(table, "inv-1", "audio") == set()
    assert receivers_of(table, "inv-1", "video") == {HOST, "inv-2"}
    assert ("inv-2", "audio") in sources_for(table, "inv-1")


def test_host_video_stop_stops_video_everywhere_but_not_audio() -> None:
    room = room_with("inv-1", "inv-2")
    room.stop_video(HOST, "inv-1")
    table = routes(room)
    assert receivers_of(table, "inv-1", "video") == set()
    assert receivers_of(table, "inv-1", "audio") == {HOST, "inv-2"}
    assert ("inv-2", "video") in sources_for(table, "inv-1")


def test_self_mute_is_display_only() -> None:
    room = room_with("inv-1")
    room.set_self_state("inv-1", muted=True, video_off=True)
    assert receivers_of(routes(room), "inv-1") == {HOST}


def test_audio_only_receiver_gets_no_video_but_still_sends_it() -> None:
    room = room_with("inv-1", "inv-2")
    room.set_audio_only("inv-1", True)
    table = routes(room)
    assert sources_for(table, "inv-1") == {(HOST, "audio"), ("inv-2", "audio")}
    assert receivers_of(table, "inv-1", "video") == {HOST, "inv-2"}


def test_a_link_too_weak_for_video_gets_none_and_each_audio_only_is_undone_alone() -> None:
    room = room_with("inv-1", "inv-2")
    room.set_link_audio_only("inv-1", True, "queue")
    assert sources_for(routes(room), "inv-1") == {(HOST, "audio"), ("inv-2", "audio")}
    # The participant's own choice and the server's are separate: lifting one keeps the other.
    room.set_audio_only("inv-1", True)
    room.set_link_audio_only("inv-1", False)
    assert ("inv-2", "video") not in sources_for(routes(room), "inv-1")
    room.set_audio_only("inv-1", False)
    assert ("inv-2", "video") in sources_for(routes(room), "inv-1")
    # Nobody else is touched.
    assert ("inv-1", "video") in sources_for(routes(room), "inv-2")


def test_caucus_members_hear_only_each_other() -> None:
    room = room_with("inv-1", "inv-2", "inv-3")
    room.open_caucus(HOST, ["inv-1"])
    table = routes(room)
    assert pairs(table, "audio") == {
        (HOST, "inv-1"),
        ("inv-1", HOST),
        ("inv-2", "inv-3"),
        ("inv-3", "inv-2"),
    }
    assert pairs(table, "video") == pairs(table, "audio")


def test_two_caucuses_are_isolated_from_each_other_and_from_the_main_room() -> None:
    room = room_with("inv-1", "inv-2", "inv-3", "inv-4")
    room.open_caucus(HOST, ["inv-1"])
    room.set_caucus_members(HOST, "c1", ["inv-1", "inv-2"])  # the host steps out
    room.join(Participant.for_staff(2, "Cohost"))
    room.open_caucus("staff-2", ["inv-3"])
    table = routes(room)
    assert pairs(table, "audio") == {
        ("inv-1", "inv-2"),
        ("inv-2", "inv-1"),
        ("staff-2", "inv-3"),
        ("inv-3", "staff-2"),
        (HOST, "inv-4"),
        ("inv-4", HOST),
    }


def test_a_participant_alone_in_a_caucus_hears_nobody() -> None:
    room = room_with("inv-1", "inv-2")
    room.open_caucus(HOST, ["inv-1"])
    room.move_to(HOST, None)
    assert room.hears("inv-1") == set()
    assert sources_for(routes(room), "inv-1") == set()


def test_disconnected_caucus_member_keeps_the_caucus_closed_to_others() -> None:
    room = room_with("inv-1", "inv-2")
    room.open_caucus(HOST, ["inv-1"])
    room.disconnect(HOST)
    table = routes(room)
    assert table == frozenset()  # inv-1 alone in c1, inv-2 alone in the main room


def test_ended_room_forwards_nothing() -> None:
    room = room_with("inv-1", "inv-2")
    room.end(HOST)
    assert routes(room) == frozenset()


def test_route_is_a_hashable_value() -> None:
    route = Route("a", "audio", "b")
    assert route == Route("a", "audio", "b")
    assert len({route, Route("a", "audio", "b"), Route("a", "video", "b")}) == 2
    with pytest.raises(AttributeError):
        route.source = "c"  # type: ignore[misc]


def test_receivers_of_defaults_to_audio() -> None:
    table = frozenset({Route("a", "audio", "b"), Route("a", "video", "c")})
    assert receivers_of(table, "a") == {"b"}
    assert receivers_of(table, "a", "video") == {"c"}
    assert sources_for(table, "c") == {("a", "video")}


# -- random rooms ------------------------------------------------------------

ROLES = [RoomRole.PARTY, RoomRole.AGENT, RoomRole.GUARDIAN, RoomRole.EXPERT, RoomRole.OBSERVER]


def random_room(seed: int) -> Room:
    """A room driven through the public API by random, mostly legal, actions."""
    rng = random.Random(seed)
    clock = Clock()
    room = Room(seed, host_staff_id=1, title="random", grace_seconds=30.0, clock=clock)
    staff = [f"staff-{n}" for n in range(1, rng.randint(1, 3) + 1)]
    for n, pid in enumerate(staff, start=1):
        room.join(Participant.for_staff(n, pid))
    invitees = [f"inv-{n}" for n in range(1, rng.randint(0, 12) + 1)]
    for n, pid in enumerate(invitees, start=1):
        room.join(Participant.for_invitation(n, pid, rng.choice(ROLES)))
    everyone = staff + invitees
    actions = [
        "admit",
        "admit",
        "admit",
        "decline",
        "disconnect",
        "rejoin",
        "leave",
        "remove",
        "mute",
        "request_unmute",
        "unmute_self",
        "allow_audio",
        "stop_video",
        "allow_video",
        "audio_only",
        "link_audio_only",
        "open_caucus",
        "open_caucus",
        "set_members",
        "set_members",
        "move_to",
        "close_caucus",
        "close_all",
        "tick",
        "expire",
    ]
    for _ in range(rng.randint(0, 60)):
        action = rng.choice(actions)
        actor = rng.choice(staff)
        pid = rng.choice(everyone)
        # Mostly admitted people, so caucuses open; sometimes anyone, so refusals happen.
        pool = [p.id for p in room.admitted()] if rng.random() < 0.9 else everyone
        some = rng.sample(pool, rng.randint(0, min(4, len(pool))))
        caucus_ids = [*room.caucuses, "c99"]
        before = routes(room)
        events: list[Event] = []
        try:
            if action == "admit":
                events = room.admit(actor, pid)
            elif action == "decline":
                events = room.decline(actor, pid)
            elif action == "disconnect":
                events = room.disconnect(pid)
            elif action == "rejoin":
                record = room.participants[pid]
                events = room.join(
                    Participant(
                        record.id, record.name, record.role, record.invitation_id, record.staff_id
                    )
                )
            elif action == "leave":
                events = room.leave(pid)
            elif action == "remove":
                events = room.remove(actor, pid, revoke_link=rng.random() < 0.5)
            elif action == "mute":
                events = room.mute(actor, pid)
            elif action == "request_unmute":
                events = room.request_unmute(actor, pid)
            elif action == "unmute_self":
                events = room.unmute_self(pid)
            elif action == "allow_audio":
                events = room.allow_audio(actor, pid)
            elif action == "stop_video":
                events = room.stop_video(actor, pid)
            elif action == "allow_video":
                events = room.allow_video(actor, pid)
            elif action == "audio_only":
                events = room.set_audio_only(pid, rng.random() < 0.5)
            elif action == "link_audio_only":
                events = room.set_link_audio_only(pid, rng.random() < 0.5, "queue")
            elif action == "open_caucus":
                events = room.open_caucus(actor, some)
            elif action == "set_members":
                events = room.set_caucus_members(actor, rng.choice(caucus_ids), some)
            elif action == "move_to":
                events = room.move_to(actor, rng.choice([*caucus_ids, None]))
            elif action == "close_caucus":
                events = room.close_caucus(actor, rng.choice(caucus_ids))
            elif action == "close_all":
                events = room.close_all_caucuses(actor)
            elif action == "tick":
                clock.now += rng.choice([1.0, 10.0, 40.0])
            else:
                events = room.expire_disconnected()
        except DomainError:
            pass  # a refusal is part of the game: the state must stay consistent
        check_routes_changed(before, events, routes(room))
    hosts = [p.id for p in room.admitted() if p.is_host]
    if hosts and rng.random() < 0.05:
        before = routes(room)
        check_routes_changed(before, room.end(hosts[0]), routes(room))
    return room


def check_routes_changed(
    before: frozenset[Route], events: list[Event], after: frozenset[Route]
) -> None:
    """Every change of the routing table, and only that, ends a batch with RoutesChanged."""
    changes = [e for e in events if isinstance(e, RoutesChanged)]
    if after == before:
        assert changes == []
    else:
        assert changes == [events[-1]]
        assert changes[0] == RoutesChanged(after, added=after - before, removed=before - after)


def expected_routes(room: Room) -> set[Route]:
    """docs/room.md rules 1-5, restated through partitions rather than pairs."""
    if room.ended:
        return set()
    partitions: dict[str | None, list[Participant]] = {}
    for p in room.participants.values():
        if p.admission == Admission.ADMITTED and p.connected:
            partitions.setdefault(room.caucus_of(p.id), []).append(p)
    expected: set[Route] = set()
    for members in partitions.values():
        for source, receiver in product(members, members):
            if source is receiver:
                continue
            if not source.audio_muted_by_host:
                expected.add(Route(source.id, "audio", receiver.id))
            if not source.video_stopped_by_host and not (
                receiver.audio_only or receiver.link_audio_only
            ):
                expected.add(Route(source.id, "video", receiver.id))
    return expected


SEEDS = range(400)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_room_obeys_every_rule(seed: int) -> None:
    room = random_room(seed)
    table = routes(room)
    by_id = room.participants
    memberships = [pid for caucus in room.caucuses.values() for pid in caucus.members]
    assert len(memberships) == len(set(memberships)), "someone is in two caucuses"
    assert all(caucus.members for caucus in room.caucuses.values()), "an empty caucus"
    for route in table:
        source, receiver = by_id[route.source], by_id[route.receiver]
        assert route.source != route.receiver
        assert room.caucus_of(route.source) == room.caucus_of(route.receiver)
        assert source.is_active and receiver.is_active
        if route.kind == "audio":
            assert not source.audio_muted_by_host
        else:
            assert not source.video_stopped_by_host
            assert not receiver.audio_only and not receiver.link_audio_only
    assert set(table) == expected_routes(room)
