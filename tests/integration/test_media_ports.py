"""The media port range from the settings to the wire: a full range is `media_ports_exhausted`.

A room whose media range has one UDP port: the mediator's publisher connection
takes it, so a party's `publish_offer` is answered with the stable error code
(and a message in the party's language) instead of an answer, and the party
gets in once the port is free again. Real aiortc clients, all on 127.0.0.1.
"""

from __future__ import annotations

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
from tests.rooms.free_ports import free_udp_block, udp_port_is_free

pytestmark = pytest.mark.filterwarnings(
    "ignore:Changing state of started or joined application is deprecated:DeprecationWarning"
)


@pytest.fixture
def port() -> int:
    first, _ = free_udp_block(1)
    return first


@pytest.fixture
async def app_client(
    aiohttp_client: AiohttpClient, config: Config, seed: Seed, port: int
) -> Client:
    ranged = config.model_copy(update={"media_port_min": port, "media_port_max": port})
    return await aiohttp_client(create_app(ranged))


@pytest.fixture
async def booked(factory: SessionFactory, seed: Seed, config: Config) -> Booked:
    return await book_session(factory, seed, config, starts_in=timedelta(minutes=5))


@pytest.fixture
async def people(
    app_client: Client, aiohttp_client: AiohttpClient, booked: Booked
) -> AsyncIterator[tuple[RoomClient, RoomClient]]:
    staff_http = await aiohttp_client(app_client.app)  # its own cookie jar
    await login(staff_http, "officer")
    host = RoomClient(staff_http, f"session={booked.session_id}")
    party = RoomClient(app_client, f"token={booked.tokens['applicant']}")
    try:
        await host.connect()
        await party.connect()
        yield host, party
    finally:
        for person in (host, party):
            await person.close()


async def test_a_full_media_range_is_a_clear_error_on_the_wire(
    people: tuple[RoomClient, RoomClient], port: int
) -> None:
    host, party = people
    await host.publish()
    assert not udp_port_is_free(port)  # the mediator's publisher connection holds the range's port
    admitted = await host.request("admit", participant_id=party.pid)
    assert admitted["ok"], admitted
    await wait_until(partial(party.got, "you_were_admitted"), what="admission")

    assert party.media is not None
    refused = await party.request("publish_offer", sdp=await party.media.publisher.offer())
    assert refused["ok"] is False
    assert refused["error"]["code"] == "media_ports_exhausted"
    assert (
        refused["error"]["message"]
        == "服务器此刻没有空闲的音视频连接（同时连接过多），请过一分钟再试。"
    )
    assert refused["error"]["fields"] == {}
    # The socket stays open and the room goes on.
    assert (await party.request("raise_hand", raised=True))["ok"]

    # The mediator drops out: the port comes back and the party's next offer is answered.
    await host.close()
    await wait_until(partial(udp_port_is_free, port), what=f"port {port} given back")
    await party.publish()
