"""Real aiortc participants in a real room, through the signalling protocol.

Everything runs on 127.0.0.1: the server's ICE host address is configured,
the clients gather on loopback too, and no STUN server is contacted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial

import pytest

from server.app import create_app
from server.config import Config
from server.db import SessionFactory
from tests.conftest import AiohttpClient, Client, Seed, login
from tests.http.test_door import Booked, book_session
from tests.integration.room_client import RoomClient, wait_until

# The mediator needs a cookie jar of their own: a second test client on the same app.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Changing state of started or joined application is deprecated:DeprecationWarning"
)


@pytest.fixture
async def room_client(aiohttp_client: AiohttpClient, config: Config, seed: Seed) -> Client:
    loopback = config.model_copy(update={"ice_host_addresses": ["127.0.0.1"]})
    return await aiohttp_client(create_app(loopback))


@pytest.fixture
async def booked(factory: SessionFactory, seed: Seed, config: Config) -> Booked:
    return await book_session(factory, seed, config, starts_in=timedelta(minutes=5))


class Room:
    """The mediator and two parties, admitted and publishing."""

    def __init__(self, host: RoomClient, applicant: RoomClient, respondent: RoomClient) -> None:
        self.host, self.applicant, self.respondent = host, applicant, respondent

    @property
    def everyone(self) -> list[RoomClient]:
        return [self.host, self.applicant, self.respondent]


@pytest.fixture
async def room(
    room_client: Client, aiohttp_client: AiohttpClient, booked: Booked
) -> AsyncIterator[Room]:
    staff_http = await aiohttp_client(room_client.app)  # its own cookie jar
    await login(staff_http, "officer")
    host = RoomClient(staff_http, f"session={booked.session_id}")
    applicant = RoomClient(room_client, f"token={booked.tokens['applicant']}")
    respondent = RoomClient(room_client, f"token={booked.tokens['respondent']}")
    try:
        await host.connect()
        for party in (applicant, respondent):
            joined = await party.connect()
            assert joined["admission"] == "lobby"
            admitted = await host.request("admit", participant_id=party.pid)
            assert admitted["ok"], admitted
            await wait_until(partial(party.got, "you_were_admitted"), what="admission")
        for person in (host, applicant, respondent):
            await person.publish()
        yield Room(host, applicant, respondent)
    finally:
        for person in (host, applicant, respondent):
            await person.close()


async def everyone_sees_everyone(room: Room, frames: int = 5) -> None:
    for receiver in room.everyone:
        for source in room.everyone:
            if source is not receiver:
                await wait_until(
                    partial(receiver.sees, source, "video", frames),
                    within=20,
                    what=f"{receiver.pid} seeing {source.pid}",
                )


async def test_media_flows_between_three_participants(room: Room) -> None:
    await everyone_sees_everyone(room)
    for receiver in room.everyone:
        for source in room.everyone:
            if source is not receiver:
                await wait_until(partial(receiver.sees, source, "audio", 1))
    assert room.applicant.room["hears_you"] == sorted([room.host.pid, room.respondent.pid])


async def test_a_caucus_hides_its_media_from_everyone_outside(room: Room) -> None:
    await everyone_sees_everyone(room)
    opened = await room.host.request("open_caucus", participant_ids=[room.applicant.pid])
    assert opened["ok"], opened
    await wait_until(lambda: room.respondent.room.get("private_talk") is not None)
    await asyncio.sleep(1.0)  # let frames already in flight land
    outside = room.respondent
    before = {
        (s.pid, kind): outside.count(s, kind)
        for s in (room.host, room.applicant)
        for kind in ("audio", "video")
    }
    inside_before = room.applicant.count(room.host, "video")
    await asyncio.sleep(2.0)
    after = {
        (s.pid, kind): outside.count(s, kind)
        for s in (room.host, room.applicant)
        for kind in ("audio", "video")
    }
    assert after == before, "nothing from inside the caucus reaches the respondent"
    assert room.applicant.count(room.host, "video") > inside_before, "inside, media flows"
    assert room.respondent.room["hears_you"] == []
    assert room.applicant.room["hears_you"] == [room.host.pid]

    closed = await room.host.request("close_all_caucuses")
    assert closed["ok"]
    resumed = outside.count(room.applicant, "video")
    await wait_until(lambda: outside.count(room.applicant, "video") > resumed + 5, within=15)


async def test_mute_stops_forwarding_and_the_party_is_told(room: Room) -> None:
    await everyone_sees_everyone(room)
    muted = await room.host.request("mute", participant_id=room.applicant.pid)
    assert muted["ok"]
    await wait_until(lambda: room.applicant.got("you_were_muted"))
    await asyncio.sleep(1.0)
    before = room.respondent.count(room.applicant, "audio")
    video_before = room.respondent.count(room.applicant, "video")
    await asyncio.sleep(1.5)
    assert room.respondent.count(room.applicant, "audio") == before
    assert room.respondent.count(room.applicant, "video") > video_before, "video still flows"


async def test_removal_disconnects(room: Room) -> None:
    await everyone_sees_everyone(room)
    removed = await room.host.request("remove", participant_id=room.respondent.pid)
    assert removed["ok"]
    await wait_until(lambda: room.respondent.close_code == 4001, what="the removed socket closing")
    assert room.respondent.got("you_were_removed")
    assert all(p["id"] != room.respondent.pid for p in room.host.room["participants"])


async def test_a_dropped_participant_comes_back_without_knocking(room: Room) -> None:
    await everyone_sees_everyone(room)
    await room.applicant.drop()
    rejoined = await room.applicant.connect()
    assert rejoined["admission"] == "admitted"
    await room.applicant.publish()
    base = room.respondent.count(room.applicant, "video")
    await wait_until(
        lambda: room.respondent.count(room.applicant, "video") > base + 5,
        within=20,
        what="media after the reconnection",
    )
    await wait_until(lambda: room.applicant.count(room.respondent, "video") > 5, within=20)
