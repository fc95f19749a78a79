"""A room's live state as values: taken from one room, put back in a fresh one, fail closed."""

from __future__ import annotations

import pytest

from server.rooms.participant import Participant
from server.rooms.roles import RoomRole
from server.rooms.room import Room
from server.rooms.routing import Route, receivers_of, routes
from server.rooms.state import CaucusState, Controls, LiveState

HOST, APPLICANT, RESPONDENT, EXPERT = "staff-1", "inv-11", "inv-12", "inv-21"


def candidates() -> dict[str, Participant]:
    return {
        HOST: Participant.for_staff(1, "王警官"),
        APPLICANT: Participant.for_invitation(11, "张三", RoomRole.PARTY),
        RESPONDENT: Participant.for_invitation(12, "李四", RoomRole.PARTY),
        EXPERT: Participant.for_invitation(21, "赵医生", RoomRole.EXPERT),
    }


def fresh_room() -> Room:
    return Room(7, host_staff_id=1, title="邻里纠纷")


def full_room() -> Room:
    room = fresh_room()
    people = candidates()
    room.join(people[HOST])
    for pid in (APPLICANT, RESPONDENT, EXPERT):
        room.join(people[pid])
        room.admit(HOST, pid)
    return room


def restarted(state: LiveState) -> Room:
    """A new process's room: admission came back from the database, and ``state``."""
    room = fresh_room()
    for pid in (HOST, APPLICANT, RESPONDENT, EXPERT):
        room.restore_admitted(pid)
    room.restore_state(state)
    return room


def test_the_state_holds_caucuses_lock_controls_and_hands() -> None:
    room = full_room()
    room.open_caucus(HOST, [APPLICANT], "与申请人")
    room.lock(HOST, True)
    room.mute(HOST, RESPONDENT)
    room.stop_video(HOST, EXPERT)
    room.request_unmute(HOST, EXPERT)
    room.raise_hand(RESPONDENT, True)
    assert room.live_state() == LiveState(
        locked=True,
        next_caucus=2,
        caucuses=(CaucusState("c1", "与申请人", HOST, frozenset({HOST, APPLICANT})),),
        controls=(
            (RESPONDENT, Controls(muted_by_host=True, hand_raised=True)),
            (EXPERT, Controls(video_stopped_by_host=True, unmute_requested=True)),
        ),
    )
    assert fresh_room().live_state() == LiveState(), "an untouched room keeps nothing"


def test_after_a_restart_nobody_hears_what_the_caucus_kept_from_them() -> None:
    before = full_room()
    before.open_caucus(HOST, [APPLICANT])
    room = restarted(before.live_state())
    people = candidates()
    # The parties come back first, before the mediator.
    room.join(people[RESPONDENT])
    room.join(people[APPLICANT])
    assert receivers_of(routes(room), APPLICANT) == set()
    assert receivers_of(routes(room), RESPONDENT) == set()
    room.join(people[HOST])
    room.join(people[EXPERT])
    assert receivers_of(routes(room), APPLICANT) == {HOST}
    assert receivers_of(routes(room), RESPONDENT) == {EXPERT}
    # Until a host changes it: then everyone hears everyone again.
    room.close_all_caucuses(HOST)
    assert receivers_of(routes(room), APPLICANT) == {HOST, RESPONDENT, EXPERT}


def test_controls_wait_for_their_participant_and_are_kept_meanwhile() -> None:
    before = full_room()
    before.mute(HOST, APPLICANT)
    before.stop_video(HOST, APPLICANT)
    before.raise_hand(RESPONDENT, True)
    before.lock(HOST, True)
    room = restarted(before.live_state())
    people = candidates()
    room.join(people[HOST])
    room.join(people[RESPONDENT])
    # The applicant is not back, yet a write now must not lose their mute.
    assert room.live_state() == before.live_state()
    room.join(people[APPLICANT])
    applicant = room.participants[APPLICANT]
    assert applicant.audio_muted_by_host and applicant.video_stopped_by_host
    assert room.participants[RESPONDENT].hand_raised
    assert room.locked
    assert not any(r.source == APPLICANT for r in routes(room))
    assert Route(RESPONDENT, "audio", APPLICANT) in routes(room)


def test_caucus_ids_are_not_reused_after_a_restart() -> None:
    before = full_room()
    before.open_caucus(HOST, [APPLICANT])
    before.close_all_caucuses(HOST)
    room = restarted(before.live_state())
    people = candidates()
    room.join(people[HOST])
    room.join(people[RESPONDENT])
    room.open_caucus(HOST, [RESPONDENT])
    assert list(room.caucuses) == ["c2"]


def test_state_goes_back_only_into_an_empty_room() -> None:
    room = full_room()
    with pytest.raises(RuntimeError):
        room.restore_state(LiveState())
