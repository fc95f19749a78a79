"""The room's state machine, permissions, caucuses and chat, on a fake clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from server.errors import Conflict, LimitExceeded, NotAllowed, NotFound, ValidationFailed
from server.rooms.events import (
    AudioAllowed,
    AudioMuted,
    AudioOnlyChanged,
    CaucusChanged,
    CaucusClosed,
    CaucusOpened,
    ChatMessage,
    ChatPosted,
    Event,
    HandRaised,
    KnockMessagePosted,
    LinkAudioOnlyChanged,
    ParticipantAdmitted,
    ParticipantConnected,
    ParticipantDeclined,
    ParticipantDisconnected,
    ParticipantKnocked,
    ParticipantLeft,
    ParticipantRemoved,
    RoomEnded,
    RoomLocked,
    RoutesChanged,
    SelfStateChanged,
    UnmuteRequested,
    VideoAllowed,
    VideoStopped,
)
from server.rooms.participant import Admission, Participant
from server.rooms.roles import ROOM_ROLE_LABELS, RoomRole, is_host, role_for_invitation
from server.rooms.room import DECLINE_COOLDOWN, MAX_PARTICIPANTS, Room
from server.rooms.routing import receivers_of, routes

HOST, COHOST = "staff-1", "staff-2"
PARTY_A, PARTY_B, EXPERT, OBSERVER, AGENT, GUARDIAN = (
    "inv-11",
    "inv-12",
    "inv-21",
    "inv-31",
    "inv-13",
    "inv-14",
)
WAITING = "inv-40"
GRACE = 120.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def candidate(pid: str, role: RoomRole = RoomRole.PARTY) -> Participant:
    kind, number = pid.split("-")
    if kind == "staff":
        return Participant.for_staff(int(number), f"Officer {number}")
    return Participant.for_invitation(int(number), f"Person {number}", role)


INVITEES = {
    PARTY_A: RoomRole.PARTY,
    PARTY_B: RoomRole.PARTY,
    EXPERT: RoomRole.EXPERT,
    OBSERVER: RoomRole.OBSERVER,
    AGENT: RoomRole.AGENT,
    GUARDIAN: RoomRole.GUARDIAN,
}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def room(clock: Clock) -> Room:
    """Host and co-host, every invitee role admitted, one party waiting in the lobby."""
    room = Room(5, host_staff_id=1, title="Zhang v. Li", grace_seconds=GRACE, clock=clock)
    room.join(candidate(HOST))
    room.join(candidate(COHOST))
    for pid, role in INVITEES.items():
        clock.advance(1)
        room.join(candidate(pid, role))
        room.admit(HOST, pid)
    room.join(candidate(WAITING))
    return room


def kinds(events: list[Event]) -> list[type]:
    return [type(e) for e in events]


def posted(events: list[Event]) -> ChatMessage:
    (event,) = events
    assert isinstance(event, ChatPosted)
    return event.message


# -- roles and participants ----------------------------------------------------


def test_roles() -> None:
    assert set(ROOM_ROLE_LABELS) == set(RoomRole)
    assert is_host(RoomRole.HOST) and is_host(RoomRole.COHOST)
    assert not any(is_host(r) for r in INVITEES.values())
    assert role_for_invitation("staff") == RoomRole.COHOST
    assert role_for_invitation("expert") == RoomRole.EXPERT
    for bad in ("host", "cohost", "judge"):
        with pytest.raises(ValueError):
            role_for_invitation(bad)


def test_the_package_exports_the_domain_without_media() -> None:
    import server.rooms as rooms

    assert all(hasattr(rooms, name) for name in rooms.__all__)
    assert rooms.Room is Room


def test_participant_ids_are_checked() -> None:
    assert Participant.for_invitation(3, "A", RoomRole.PARTY).id == "inv-3"
    assert Participant.for_staff(4, "B").id == "staff-4"
    with pytest.raises(ValueError):
        Participant("someone", "A", RoomRole.PARTY)
    with pytest.raises(ValueError):
        Participant("inv-3", "A", RoomRole.PARTY, invitation_id=4)
    with pytest.raises(ValueError):
        Participant("inv-3", "A", "judge")  # type: ignore[arg-type]


# -- the door ------------------------------------------------------------------


def test_hosts_are_admitted_at_once_and_the_session_host_presides(clock: Clock) -> None:
    room = Room(5, host_staff_id=1, title="t", clock=clock)
    assert room.join(Participant.for_staff(2, "B", RoomRole.HOST)) == [ParticipantAdmitted(COHOST)]
    assert room.join(Participant.for_staff(1, "A", RoomRole.COHOST))[0] == ParticipantAdmitted(HOST)
    assert room.participants[HOST].role == RoomRole.HOST
    assert room.participants[COHOST].role == RoomRole.COHOST  # only one presides
    room.join(Participant.for_staff(3, "Clerk", RoomRole.PARTY))
    assert room.participants["staff-3"].role == RoomRole.OBSERVER  # staff observe at least
    assert room.participants["staff-3"].is_admitted  # staff do not knock
    room.join(Participant.for_invitation(4, "Pretender", RoomRole.HOST))
    assert room.participants["inv-4"].role == RoomRole.COHOST  # invited staff
    assert [p.id for p in room.admitted()] == [COHOST, HOST, "staff-3", "inv-4"]  # ties: arrival


def test_knock_admit_and_lobby_order(room: Room, clock: Clock) -> None:
    clock.advance(5)
    late = candidate("inv-41")
    late.admission = Admission.ADMITTED  # a candidate's state is never trusted
    assert room.join(late) == [ParticipantKnocked("inv-41")]
    assert [p.id for p in room.lobby()] == [WAITING, "inv-41"]
    events = room.admit(COHOST, WAITING)
    assert events[0] == ParticipantAdmitted(WAITING, returning=False, by=COHOST)
    assert isinstance(events[-1], RoutesChanged)
    assert WAITING in receivers_of(events[-1].routes, HOST)
    assert room.admit(HOST, WAITING) == []  # another host was quicker
    with pytest.raises(NotFound):
        room.admit(HOST, "inv-99")


def test_admit_all_experts_admits_only_experts(room: Room) -> None:
    room.join(candidate("inv-22", RoomRole.EXPERT))
    room.join(candidate("inv-23", RoomRole.EXPERT))
    events = room.admit_all_experts(HOST)
    assert kinds(events) == [ParticipantAdmitted, ParticipantAdmitted, RoutesChanged]
    assert [p.id for p in room.lobby()] == [WAITING]
    assert room.admit_all_experts(HOST) == []


def test_decline_then_knock_again_after_the_cool_down(room: Room, clock: Clock) -> None:
    assert room.decline(HOST, WAITING) == [ParticipantDeclined(WAITING, by=HOST)]
    assert room.decline(COHOST, WAITING) == []
    with pytest.raises(Conflict):
        room.admit(HOST, WAITING)
    clock.advance(DECLINE_COOLDOWN - 10)
    with pytest.raises(NotAllowed) as refused:
        room.join(candidate(WAITING))
    assert refused.value.params == {"seconds": 11}
    clock.advance(10)
    assert room.join(candidate(WAITING)) == [ParticipantKnocked(WAITING)]
    with pytest.raises(Conflict):
        room.decline(HOST, PARTY_A)  # admitted: remove, not decline


def test_return_within_grace_skips_the_lobby(room: Room, clock: Clock) -> None:
    assert kinds(room.disconnect(PARTY_A)) == [ParticipantDisconnected, RoutesChanged]
    assert room.participants[PARTY_A].admission == Admission.ADMITTED
    clock.advance(GRACE)
    assert room.expire_disconnected() == []
    events = room.join(candidate(PARTY_A))
    assert events[0] == ParticipantAdmitted(PARTY_A, returning=True)
    assert isinstance(events[-1], RoutesChanged)
    assert room.hears(PARTY_A) >= {HOST, PARTY_B}


def test_after_grace_a_returning_participant_knocks_again(room: Room, clock: Clock) -> None:
    room.disconnect(PARTY_A)
    clock.advance(GRACE + 1)
    events = room.join(candidate(PARTY_A))  # before the periodic expiry ran
    assert events == [ParticipantLeft(PARTY_A, timed_out=True), ParticipantKnocked(PARTY_A)]
    assert room.participants[PARTY_A].admission == Admission.LOBBY


def test_expire_disconnected(room: Room, clock: Clock) -> None:
    room.disconnect(PARTY_A)
    room.disconnect(WAITING)
    clock.advance(GRACE + 1)
    events = room.expire_disconnected()
    assert set(events) == {
        ParticipantLeft(PARTY_A, timed_out=True),
        ParticipantLeft(WAITING, timed_out=True),
    }
    assert room.participants[PARTY_A].admission == Admission.LEFT
    assert room.lobby() == []
    assert room.expire_disconnected() == []


def test_lobby_participant_reconnecting_keeps_their_place(room: Room, clock: Clock) -> None:
    joined = room.participants[WAITING].joined_at
    room.disconnect(WAITING)
    clock.advance(30)
    assert room.join(candidate(WAITING)) == [ParticipantConnected(WAITING)]
    assert room.participants[WAITING].joined_at == joined


def test_second_tab_and_stale_disconnect(room: Room) -> None:
    first = room.participants[PARTY_A].generation
    assert room.join(candidate(PARTY_A)) == [ParticipantAdmitted(PARTY_A, returning=True)]
    assert room.disconnect(PARTY_A, generation=first) == []  # the old tab closing
    assert room.participants[PARTY_A].connected
    assert room.disconnect(PARTY_A, generation=first + 1) != []
    assert room.disconnect(PARTY_A) == []
    assert room.disconnect("inv-99") == []


def test_restart_restores_admitted_for_the_first_rejoin(clock: Clock) -> None:
    room = Room(5, host_staff_id=1, title="t", grace_seconds=GRACE, clock=clock)
    room.restore_admitted(PARTY_A)
    room.restore_removed(PARTY_B)
    room.join(candidate(HOST))
    room.lock(HOST, True)
    clock.advance(10 * GRACE)
    assert room.join(candidate(PARTY_A))[0] == ParticipantAdmitted(PARTY_A, returning=True)
    with pytest.raises(NotAllowed):
        room.join(candidate(PARTY_B))
    room.leave(PARTY_A)
    room.lock(HOST, False)
    assert room.join(candidate(PARTY_A)) == [ParticipantKnocked(PARTY_A)]  # only the first


def test_leave_and_knock_again(room: Room) -> None:
    assert kinds(room.leave(PARTY_A)) == [ParticipantLeft, RoutesChanged]
    assert room.leave(PARTY_A) == []
    assert room.leave(WAITING) == [ParticipantLeft(WAITING)]
    assert room.lobby() == []
    assert room.join(candidate(PARTY_A)) == [ParticipantKnocked(PARTY_A)]
    with pytest.raises(NotFound):
        room.leave("inv-99")


def test_removed_participant_cannot_knock_again(room: Room) -> None:
    events = room.remove(COHOST, PARTY_A, revoke_link=True)
    assert events[0] == ParticipantRemoved(PARTY_A, by=COHOST, revoke_link=True)
    assert room.participants[PARTY_A].admission == Admission.REMOVED
    assert room.remove(HOST, PARTY_A, revoke_link=False) == []
    with pytest.raises(NotAllowed):
        room.join(candidate(PARTY_A))
    assert room.remove(HOST, WAITING, revoke_link=False) == [
        ParticipantRemoved(WAITING, by=HOST, revoke_link=False)
    ]


def test_locked_room_takes_no_new_knocks(room: Room, clock: Clock) -> None:
    assert room.lock(HOST, True) == [RoomLocked(True, by=HOST)]
    assert room.lock(COHOST, True) == []
    with pytest.raises(NotAllowed) as refused:
        room.join(candidate("inv-50"))
    assert refused.value.message == "The room is locked."
    assert room.join(candidate("staff-3"))[0] == ParticipantAdmitted("staff-3")
    room.disconnect(PARTY_A)
    assert room.join(candidate(PARTY_A))[0] == ParticipantAdmitted(PARTY_A, returning=True)
    room.leave(PARTY_B)
    assert room.join(candidate(PARTY_B)) == [ParticipantKnocked(PARTY_B)]  # admitted before
    assert room.admit(HOST, WAITING)[0] == ParticipantAdmitted(WAITING, by=HOST)
    assert room.lock(HOST, False) == [RoomLocked(False, by=HOST)]
    assert room.join(candidate("inv-50")) == [ParticipantKnocked("inv-50")]


def test_full_room_refuses_knocks_but_not_staff(clock: Clock) -> None:
    room = Room(5, host_staff_id=1, title="t", clock=clock)
    room.join(candidate(HOST))
    for n in range(1, MAX_PARTICIPANTS):
        room.join(candidate(f"inv-{n}"))
    with pytest.raises(LimitExceeded):
        room.join(candidate("inv-100"))
    assert room.join(candidate(COHOST))[0] == ParticipantAdmitted(COHOST)
    room.leave("inv-1")  # the co-host took that place
    with pytest.raises(LimitExceeded):
        room.join(candidate("inv-100"))
    room.leave("inv-2")
    assert room.join(candidate("inv-100")) == [ParticipantKnocked("inv-100")]


def test_ended_room(room: Room) -> None:
    events = room.end(COHOST)
    assert events[0] == RoomEnded(by=COHOST)
    assert isinstance(events[-1], RoutesChanged) and events[-1].routes == frozenset()
    attempts: list[Callable[[], object]] = [
        lambda: room.join(candidate("inv-50")),
        lambda: room.join(candidate(HOST)),
        lambda: room.end(HOST),
        lambda: room.admit(HOST, WAITING),
        lambda: room.post_chat(PARTY_A, "hello", to_hosts=False),
        lambda: room.raise_hand(PARTY_A, True),
        lambda: room.knock_message(WAITING, "hi"),
    ]
    for attempt in attempts:
        with pytest.raises(NotAllowed):
            attempt()
    assert kinds(room.disconnect(PARTY_A)) == [ParticipantDisconnected]
    assert room.leave(PARTY_B) == [ParticipantLeft(PARTY_B)]


# -- host actions: who may --------------------------------------------------------

HostAction = Callable[[Room, str], list[Event]]
HOST_ACTIONS: dict[str, HostAction] = {
    "admit": lambda r, a: r.admit(a, WAITING),
    "decline": lambda r, a: r.decline(a, WAITING),
    "admit_all_experts": lambda r, a: r.admit_all_experts(a),
    "mute": lambda r, a: r.mute(a, PARTY_A),
    "request_unmute": lambda r, a: r.request_unmute(a, PARTY_A),
    "allow_audio": lambda r, a: r.allow_audio(a, PARTY_A),
    "stop_video": lambda r, a: r.stop_video(a, PARTY_A),
    "allow_video": lambda r, a: r.allow_video(a, PARTY_A),
    "lower_hand": lambda r, a: r.lower_hand(a, PARTY_A),
    "remove": lambda r, a: r.remove(a, PARTY_B, revoke_link=False),
    "lock": lambda r, a: r.lock(a, True),
    "end": lambda r, a: r.end(a),
    "open_caucus": lambda r, a: r.open_caucus(a, [PARTY_A]),
    "set_caucus_members": lambda r, a: r.set_caucus_members(a, "c1", [PARTY_B, EXPERT]),
    "move_to": lambda r, a: r.move_to(a, None if r.caucus_of(a) else "c1"),
    "close_caucus": lambda r, a: r.close_caucus(a, "c1"),
    "close_all_caucuses": lambda r, a: r.close_all_caucuses(a),
}


@pytest.fixture
def busy_room(room: Room) -> Room:
    """The room with a caucus c1 (host and party B) and party A's hand up."""
    room.open_caucus(HOST, [PARTY_B])
    room.raise_hand(PARTY_A, True)
    return room


@pytest.mark.parametrize("actor", [HOST, COHOST])
@pytest.mark.parametrize("action", HOST_ACTIONS)
def test_hosts_may(busy_room: Room, action: str, actor: str) -> None:
    HOST_ACTIONS[action](busy_room, actor)


@pytest.mark.parametrize("actor", [PARTY_A, EXPERT, OBSERVER, AGENT, GUARDIAN, WAITING, "inv-99"])
@pytest.mark.parametrize("action", HOST_ACTIONS)
def test_others_may_not(busy_room: Room, action: str, actor: str) -> None:
    before = routes(busy_room)
    with pytest.raises(NotAllowed):
        HOST_ACTIONS[action](busy_room, actor)
    assert routes(busy_room) == before
    assert not busy_room.ended and not busy_room.locked


def test_a_host_who_left_has_no_controls(room: Room) -> None:
    room.leave(COHOST)
    with pytest.raises(NotAllowed):
        room.mute(COHOST, PARTY_A)


def test_the_presiding_officer_is_out_of_reach(room: Room) -> None:
    attempts: list[Callable[[], object]] = [
        lambda: room.mute(COHOST, HOST),
        lambda: room.stop_video(COHOST, HOST),
        lambda: room.remove(COHOST, HOST, revoke_link=False),
        lambda: room.remove(HOST, HOST, revoke_link=False),
        lambda: room.remove(COHOST, COHOST, revoke_link=False),
    ]
    for attempt in attempts:
        with pytest.raises(NotAllowed):
            attempt()
    assert kinds(room.mute(HOST, COHOST)) == [AudioMuted, RoutesChanged]
    assert room.remove(HOST, COHOST, revoke_link=False)[0] == ParticipantRemoved(
        COHOST, by=HOST, revoke_link=False
    )


def test_targets_must_be_in_the_room(room: Room) -> None:
    with pytest.raises(Conflict):
        room.mute(HOST, WAITING)
    with pytest.raises(NotFound):
        room.mute(HOST, "inv-99")


# -- media controls --------------------------------------------------------------


def test_mute_request_and_accept(room: Room) -> None:
    events = room.mute(HOST, PARTY_A)
    assert events[0] == AudioMuted(by=HOST, target=PARTY_A)
    assert isinstance(events[-1], RoutesChanged) and room.hears(PARTY_A) == set()
    assert room.mute(COHOST, PARTY_A) == []
    with pytest.raises(NotAllowed):
        room.unmute_self(PARTY_A)  # nobody asked
    assert room.request_unmute(COHOST, PARTY_A) == [UnmuteRequested(by=COHOST, target=PARTY_A)]
    room.set_self_state(PARTY_A, muted=True, video_off=False)
    events = room.unmute_self(PARTY_A)
    assert kinds(events) == [AudioAllowed, SelfStateChanged, RoutesChanged]
    assert events[0] == AudioAllowed(by=PARTY_A, target=PARTY_A)
    assert HOST in room.hears(PARTY_A)


def test_a_new_mute_cancels_an_open_request(room: Room) -> None:
    room.request_unmute(HOST, PARTY_A)
    room.mute(HOST, PARTY_A)
    with pytest.raises(NotAllowed):
        room.unmute_self(PARTY_A)
    assert room.unmute_self(PARTY_B) == []  # not muted: nothing to lift


def test_allow_audio_lifts_the_mute_and_it_survives_reconnects(room: Room) -> None:
    room.mute(HOST, PARTY_A)
    room.disconnect(PARTY_A)
    room.join(candidate(PARTY_A))
    assert room.participants[PARTY_A].audio_muted_by_host
    assert room.hears(PARTY_A) == set()
    assert kinds(room.allow_audio(COHOST, PARTY_A)) == [AudioAllowed, RoutesChanged]
    assert room.allow_audio(COHOST, PARTY_A) == []


def test_stop_and_allow_video(room: Room) -> None:
    events = room.stop_video(HOST, PARTY_A)
    assert events[0] == VideoStopped(by=HOST, target=PARTY_A)
    assert receivers_of(routes(room), PARTY_A, "video") == set()
    assert room.stop_video(HOST, PARTY_A) == []
    assert room.allow_video(COHOST, PARTY_A)[0] == VideoAllowed(by=COHOST, target=PARTY_A)
    assert room.allow_video(COHOST, PARTY_A) == []


def test_hands_self_state_and_audio_only(room: Room) -> None:
    assert room.raise_hand(PARTY_A, True) == [HandRaised(PARTY_A, raised=True, by=PARTY_A)]
    assert room.raise_hand(PARTY_A, True) == []
    assert room.lower_hand(HOST, PARTY_A) == [HandRaised(PARTY_A, raised=False, by=HOST)]
    assert room.lower_hand(HOST, PARTY_A) == []
    assert room.set_self_state(EXPERT, muted=True, video_off=True) == [
        SelfStateChanged(EXPERT, muted=True, video_off=True)
    ]
    assert room.set_self_state(EXPERT, muted=True, video_off=True) == []
    assert kinds(room.set_audio_only(OBSERVER, True)) == [AudioOnlyChanged, RoutesChanged]
    assert OBSERVER not in receivers_of(routes(room), PARTY_A, "video")
    assert OBSERVER in receivers_of(routes(room), PARTY_A, "audio")
    assert room.set_audio_only(OBSERVER, True) == []
    # The server's audio-only for a weak link: an event of its own, for active people only.
    changed = room.set_link_audio_only(OBSERVER, True, "queue")
    assert kinds(changed) == [LinkAudioOnlyChanged]  # already audio-only: routes unchanged
    assert room.set_link_audio_only(OBSERVER, True, "queue") == []
    assert room.set_link_audio_only("inv-999", True, "queue") == []


PARTICIPANT_ACTIONS: dict[str, Callable[[Room, str], list[Event]]] = {
    "raise_hand": lambda r, p: r.raise_hand(p, True),
    "set_self_state": lambda r, p: r.set_self_state(p, True, True),
    "unmute_self": lambda r, p: r.unmute_self(p),
    "set_audio_only": lambda r, p: r.set_audio_only(p, True),
    "post_chat": lambda r, p: r.post_chat(p, "hello", to_hosts=False),
}


@pytest.mark.parametrize("action", PARTICIPANT_ACTIONS)
@pytest.mark.parametrize("who", [WAITING, "inv-99"])
def test_only_admitted_participants_act(room: Room, action: str, who: str) -> None:
    with pytest.raises(NotAllowed):
        PARTICIPANT_ACTIONS[action](room, who)


# -- caucuses ----------------------------------------------------------------------


def test_open_caucus_includes_the_host_and_isolates(room: Room) -> None:
    events = room.open_caucus(HOST, [PARTY_A, PARTY_A], name=" claimant ")
    assert events[0] == CaucusOpened("c1", frozenset({HOST, PARTY_A}), name="claimant", by=HOST)
    assert isinstance(events[-1], RoutesChanged)
    assert room.caucus_of(PARTY_A) == room.caucus_of(HOST) == "c1"
    assert room.hears(PARTY_A) == {HOST}
    assert HOST not in room.hears(PARTY_B)
    assert room.caucuses["c1"].opened_by == HOST


def test_open_caucus_refusals(room: Room) -> None:
    with pytest.raises(ValidationFailed):
        room.open_caucus(HOST, [])
    with pytest.raises(ValidationFailed):
        room.open_caucus(HOST, [HOST])
    with pytest.raises(ValidationFailed):
        room.open_caucus(HOST, [PARTY_A], name="x" * 41)
    with pytest.raises(Conflict):
        room.open_caucus(HOST, [WAITING])
    with pytest.raises(NotFound):
        room.open_caucus(HOST, ["inv-99"])
    assert room.caucuses == {}


def test_a_participant_is_in_at_most_one_caucus(room: Room) -> None:
    room.open_caucus(HOST, [PARTY_A, AGENT])
    events = room.open_caucus(COHOST, [PARTY_A])
    assert events[0] == CaucusChanged("c1", frozenset({HOST, AGENT}))
    assert isinstance(events[1], CaucusOpened) and events[1].caucus_id == "c2"
    events = room.open_caucus(COHOST, [PARTY_B])  # the co-host leaves c2: only A is left there
    assert events[0] == CaucusChanged("c2", frozenset({PARTY_A}))
    assert room.caucus_of(COHOST) == "c3"
    room.close_caucus(HOST, "c2")
    room.set_caucus_members(HOST, "c1", [HOST])  # agent back to the main room
    events = room.open_caucus(HOST, [AGENT])  # c1 is left empty: it closes
    assert events[0] == CaucusClosed("c1")
    assert set(room.caucuses) == {"c3", "c4"}  # ids are never reused


def test_move_to(room: Room) -> None:
    room.open_caucus(HOST, [PARTY_A])
    events = room.move_to(HOST, None)
    assert events[0] == CaucusChanged("c1", frozenset({PARTY_A}))
    assert room.hears(PARTY_A) == set()
    assert room.move_to(HOST, None) == []
    assert kinds(room.move_to(COHOST, "c1")) == [CaucusChanged, RoutesChanged]
    assert room.hears(PARTY_A) == {COHOST}
    with pytest.raises(NotFound):
        room.move_to(HOST, "c9")
    room.move_to(HOST, "c1")
    room.set_caucus_members(HOST, "c1", [HOST])
    assert room.move_to(HOST, None)[0] == CaucusClosed("c1")


def test_set_caucus_members(room: Room) -> None:
    room.open_caucus(HOST, [PARTY_A])
    events = room.set_caucus_members(COHOST, "c1", [PARTY_A, GUARDIAN])
    assert events[0] == CaucusChanged("c1", frozenset({PARTY_A, GUARDIAN}))
    assert room.caucus_of(HOST) is None
    assert room.set_caucus_members(COHOST, "c1", [GUARDIAN, PARTY_A]) == []
    with pytest.raises(ValidationFailed):
        room.set_caucus_members(COHOST, "c1", [])
    with pytest.raises(NotFound):
        room.set_caucus_members(COHOST, "c9", [PARTY_A])


def test_close_caucus_and_close_all(room: Room) -> None:
    everyone = routes(room)
    room.open_caucus(HOST, [PARTY_A])
    room.open_caucus(COHOST, [PARTY_B])
    events = room.close_caucus(HOST, "c1")
    assert events[0] == CaucusClosed("c1") and isinstance(events[-1], RoutesChanged)
    with pytest.raises(NotFound):
        room.close_caucus(HOST, "c1")
    room.open_caucus(HOST, [EXPERT])
    events = room.close_all_caucuses(COHOST)
    assert events[:2] == [CaucusClosed("c2"), CaucusClosed("c3")]
    assert routes(room) == everyone
    assert room.close_all_caucuses(COHOST) == []


def test_departures_leave_the_caucus(room: Room, clock: Clock) -> None:
    room.open_caucus(HOST, [PARTY_A, PARTY_B])
    room.disconnect(PARTY_A)
    assert room.caucus_of(PARTY_A) == "c1"  # keeps their place
    events = room.leave(PARTY_B)
    assert events[0] == CaucusChanged("c1", frozenset({HOST, PARTY_A}))
    clock.advance(GRACE + 1)
    assert room.expire_disconnected()[0] == CaucusChanged("c1", frozenset({HOST}))
    room.open_caucus(COHOST, [EXPERT])
    assert room.remove(HOST, EXPERT, revoke_link=False)[0] == CaucusChanged(
        "c2", frozenset({COHOST})
    )


def test_private_talk_notice(room: Room) -> None:
    assert room.private_talk_notice(PARTY_B) is None
    room.open_caucus(HOST, [PARTY_A, AGENT])
    assert room.private_talk_notice(PARTY_B) == ("Officer 1", ["Person 11", "Person 13"])
    assert room.private_talk_notice(PARTY_A) is None
    assert room.private_talk_notice(HOST) is None
    assert room.private_talk_notice(WAITING) is None
    room.leave(HOST)  # the earliest co-host mediates now, from the main room
    assert room.private_talk_notice(PARTY_B) is None
    room.open_caucus(COHOST, [EXPERT])
    assert room.private_talk_notice(PARTY_A) == ("Officer 2", ["Person 21"])


# -- chat ---------------------------------------------------------------------------


def test_post_chat_validates(room: Room) -> None:
    message = posted(room.post_chat(PARTY_A, "  hello  ", to_hosts=False))
    assert (message.id, message.text, message.sender_name) == (1, "hello", "Person 11")
    assert posted(room.post_chat(PARTY_A, "x" * 500, to_hosts=False)).id == 2
    for bad in ("", "   ", "x" * 501):
        with pytest.raises(ValidationFailed):
            room.post_chat(PARTY_A, bad, to_hosts=False)
    with pytest.raises(NotAllowed):
        room.post_chat(COHOST, "note to self", to_hosts=True)


def texts(room: Room, pid: str) -> list[str]:
    return [m.text for m in room.chat_visible_to(pid)]


def test_room_chat_is_scoped_to_the_caucus(room: Room) -> None:
    room.post_chat(HOST, "welcome", to_hosts=False)
    room.open_caucus(HOST, [PARTY_A])
    room.post_chat(PARTY_A, "in confidence", to_hosts=False)
    room.post_chat(PARTY_B, "outside", to_hosts=False)
    assert texts(room, PARTY_A) == ["welcome", "in confidence"]
    assert texts(room, HOST) == ["welcome", "in confidence"]
    assert texts(room, PARTY_B) == ["welcome", "outside"]
    assert texts(room, COHOST) == ["welcome", "outside"]
    assert room.chat[1].caucus_id == "c1"
    assert room.chat_recipients(room.chat[1]) == {HOST, PARTY_A}
    room.set_caucus_members(HOST, "c1", [HOST, PARTY_A, PARTY_B])
    assert "in confidence" not in texts(room, PARTY_B)  # joining later reveals nothing
    assert texts(room, WAITING) == []


def test_private_notes_reach_only_hosts_and_sender(room: Room) -> None:
    room.open_caucus(COHOST, [PARTY_A])
    message = posted(room.post_chat(EXPERT, "the valuation is low", to_hosts=True))
    assert message.private_to_hosts
    for pid in (EXPERT, HOST, COHOST):
        assert texts(room, pid) == ["the valuation is low"]
    for pid in (PARTY_A, PARTY_B, OBSERVER, AGENT):
        assert texts(room, pid) == []
    assert room.chat_recipients(message) == {EXPERT, HOST, COHOST}
    room.post_chat(PARTY_A, "may I speak to you alone", to_hosts=True)
    assert texts(room, HOST) == ["the valuation is low", "may I speak to you alone"]


def test_restore_chat_continues_ids(clock: Clock) -> None:
    room = Room(5, host_staff_id=1, title="t", clock=clock)
    old = ChatMessage(41, HOST, "Officer 1", "before", False, None, 0.0, frozenset({HOST}))
    room.restore_chat([old])
    room.join(candidate(HOST))
    assert posted(room.post_chat(HOST, "after", to_hosts=False)).id == 42
    assert texts(room, HOST) == ["before", "after"]


def test_knock_message(room: Room) -> None:
    assert room.knock_message(WAITING, " I am her son ") == [
        KnockMessagePosted(WAITING, "I am her son")
    ]
    assert room.participants[WAITING].knock_message == "I am her son"
    assert room.knock_message(WAITING, "I am her son") == []
    with pytest.raises(ValidationFailed):
        room.knock_message(WAITING, "x" * 201)
    with pytest.raises(NotAllowed):
        room.knock_message(PARTY_A, "hello")
