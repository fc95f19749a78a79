"""A participant's session, room record and media legs come and go together (``LiveRoom``).

Real aiortc participants in a real room (the fixtures of
``tests/integration/test_room.py``): after a leave, a removal, a drop past
the grace period or a reconnection on a new connection, the live room holds
no session and the media server no legs that the room's record does not
account for, and a replaced connection can no longer reach its successor's.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from server.keys import HUBS
from server.live.room import LiveRoom
from server.live.rooms import LiveRooms
from server.live.session import ParticipantSession
from server.rooms.media import MediaError
from server.rooms.participant import Admission
from tests.conftest import Client
from tests.http.test_door import Booked
from tests.integration.room_client import RoomClient, wait_until
from tests.integration.test_room import (  # noqa: F401  (fixtures)
    Room,
    booked,
    everyone_sees_everyone,
    room,
    room_client,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:Changing state of started or joined application is deprecated:DeprecationWarning"
)


@dataclass
class Present:
    """The room's people (host, applicant, respondent), and their live room."""

    people: Room
    live: LiveRoom
    rooms: LiveRooms


@pytest.fixture
def present(room: Room, booked: Booked, room_client: Client) -> Present:  # noqa: F811
    """The fixtures of ``tests/integration/test_room.py``, with the live room they made."""
    rooms = room_client.app[HUBS]
    live = rooms.get(booked.session_id)
    assert live is not None
    return Present(room, live, rooms)


def consistent(live: LiveRoom) -> None:
    """Every session holds open legs of its own, and the media server has no others."""
    for pid, session in live.sessions.items():
        assert session.pid == pid
        assert session.media is not None and not session.media.closed, pid
    assert live.media.attached == set(live.sessions)
    assert set(live.media.stats()) == set(live.sessions)


async def test_leaving_takes_the_session_and_its_legs(present: Present) -> None:
    people, live = present.people, present.live
    await everyone_sees_everyone(people)
    pid = people.applicant.pid
    session = live.sessions[pid]
    consistent(live)

    assert (await people.applicant.request("leave"))["ok"]
    await wait_until(
        lambda: people.applicant.close_code == 4006, what="the leaver's socket closing"
    )
    await wait_until(lambda: pid not in live.sessions, what="the session to end")
    assert live.room.participants[pid].admission == Admission.LEFT
    assert session.media is not None and session.media.closed
    assert pid not in live.media.attached
    consistent(live)


async def test_a_removal_takes_the_session_and_its_legs(present: Present) -> None:
    people, live = present.people, present.live
    await everyone_sees_everyone(people)
    pid = people.respondent.pid
    session = live.sessions[pid]

    assert (await people.host.request("remove", participant_id=pid))["ok"]
    await wait_until(lambda: people.respondent.close_code == 4001, what="the removed socket")
    assert live.room.participants[pid].admission == Admission.REMOVED
    assert pid not in live.sessions
    assert session.media is not None and session.media.closed
    assert pid not in live.media.attached
    consistent(live)


async def test_a_drop_ends_the_legs_and_the_grace_period_the_record(present: Present) -> None:
    people, live = present.people, present.live
    await everyone_sees_everyone(people)
    pid = people.applicant.pid

    await people.applicant.drop()
    record = live.room.participants[pid]
    await wait_until(lambda: not record.connected, what="the room to see the drop")
    # Within the grace period the room keeps their place, and nothing of the connection.
    assert record.admission == Admission.ADMITTED and not record.connected
    assert pid not in live.media.attached
    consistent(live)

    live.room.grace_seconds = 0.0
    async with live.lock:
        await present.rooms.publish(live, live.room.expire_disconnected())
    assert live.room.participants[pid].admission == Admission.LEFT
    assert pid not in live.sessions and pid not in live.media.attached
    consistent(live)


async def test_a_new_connection_replaces_the_old_one_and_its_legs(present: Present) -> None:
    people, live = present.people, present.live
    await everyone_sees_everyone(people)
    pid = people.applicant.pid
    old: ParticipantSession = live.sessions[pid]
    old_media = old.media
    assert old_media is not None

    # The same person opens the room again (a new tab) while the old socket lives.
    second = RoomClient(people.applicant.client, people.applicant.query)
    try:
        joined = await second.connect()
        assert joined["admission"] == "admitted"
        await wait_until(lambda: people.applicant.close_code == 4004, what="the old tab closing")
        new = live.sessions[pid]
        assert new is not old
        assert old_media.closed and new.media is not None and new.media is not old_media
        consistent(live)
        # The routes the room already had reach the new connection without a room change.
        await second.publish()
        await wait_until(
            lambda: (
                people.respondent.count(second, "video") > 5
                and second.count(people.respondent, "video") > 5
            ),
            within=20,
            what="media over the new connection",
        )
        # A late request of the replaced connection cannot touch the new one's legs.
        publisher = new.media.publisher
        assert publisher is not None
        with pytest.raises(MediaError):
            await old_media.publisher_offer("v=0\r\n")
        with pytest.raises(MediaError):
            await old_media.restart_subscriber()
        assert new.media.publisher is publisher and not new.media.closed
        consistent(live)
    finally:
        await second.close()
    await wait_until(lambda: pid not in live.sessions, what="the new tab's session to end")
    consistent(live)
