"""A room's one video codec, end to end: real sockets, real aiortc parties, real decoding.

Each party declares in its ``join`` what it decodes (``video_codecs``), the
reply says which codec the room uses (``video_codec``) and the party's media
client then sends that codec (H.264 through libx264, or VP8). Frames counted
here were encoded by one party, forwarded packet by packet by the server and
decoded by another. The first joiner decides (with the station's
``video_codec`` preference); a later joiner who cannot decode the room's
codec is refused with ``codec_unsupported`` and never enters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from functools import partial

import pytest

from server.app import create_app
from server.config import Config
from server.db import SessionFactory
from server.keys import HUBS
from server.rooms.codecs import VideoCodec
from tests.conftest import AiohttpClient, Client, Seed, login
from tests.http.test_door import Booked, book_session
from tests.integration.room_client import RoomClient, wait_until

pytestmark = pytest.mark.filterwarnings(
    "ignore:Changing state of started or joined application is deprecated:DeprecationWarning"
)

BOTH = ["VP8", "H264"]
H264_ONLY = ["H264"]
H264_MIME = "video/h264"


@pytest.fixture
async def booked(factory: SessionFactory, seed: Seed, config: Config) -> Booked:
    return await book_session(factory, seed, config, starts_in=timedelta(minutes=5))


class Station:
    """One app (with the station's settings) and the three people of a booked session."""

    def __init__(self, party_http: Client, staff_http: Client, booked: Booked) -> None:
        self.host = RoomClient(staff_http, f"session={booked.session_id}")
        self.applicant = RoomClient(party_http, f"token={booked.tokens['applicant']}")
        self.respondent = RoomClient(party_http, f"token={booked.tokens['respondent']}")
        self.app = party_http.app
        self.session_id = booked.session_id

    @property
    def everyone(self) -> list[RoomClient]:
        return [self.host, self.applicant, self.respondent]

    def room_codec(self) -> VideoCodec | None:
        live = self.app[HUBS].get(self.session_id)
        return live.video_codec.codec if live is not None else None

    async def admit(self, *parties: RoomClient) -> None:
        for party in parties:
            admitted = await self.host.request("admit", participant_id=party.pid)
            assert admitted["ok"], admitted
            await wait_until(partial(party.got, "you_were_admitted"), what="admission")

    async def close(self) -> None:
        for person in self.everyone:
            await person.close()


#: ``await make(preference)``: a station's app with that ``video_codec`` setting.
MakeStation = Callable[..., Awaitable[Station]]


@pytest.fixture
async def station(
    aiohttp_client: AiohttpClient, config: Config, seed: Seed, booked: Booked
) -> AsyncIterator[MakeStation]:
    """``await make(preference)``: the app with that ``video_codec`` setting, and the people."""
    made: list[Station] = []

    async def make(preference: str = "vp8") -> Station:
        app = create_app(config.model_copy(update={"video_codec": preference}))
        party_http = await aiohttp_client(app)
        staff_http = await aiohttp_client(app)  # its own cookie jar
        await login(staff_http, "officer")
        made.append(Station(party_http, staff_http, booked))
        return made[-1]

    try:
        yield make
    finally:
        for each in made:
            await each.close()


async def everyone_decodes_everyone(people: list[RoomClient], frames: int = 10) -> None:
    for person in people:
        await person.publish()
    for receiver in people:
        for source in people:
            if source is not receiver:
                await wait_until(
                    partial(receiver.sees, source, "video", frames),
                    within=30,
                    what=f"{receiver.pid} decoding {source.pid}'s video",
                )


def negotiated_only(people: list[RoomClient], mime: str) -> None:
    """Both connections of every person carry that one video codec and no other."""
    for person in people:
        assert person.media is not None
        assert person.media.publisher.video_codecs == {mime}, person.pid
        assert person.media.subscriber.video_codecs == {mime}, person.pid


async def test_an_h264_only_room_forwards_h264_both_ways(station: MakeStation) -> None:
    s = await station()
    for person in s.everyone:
        person.video_codecs = H264_ONLY
    host = await s.host.connect()
    assert host["video_codec"] == "H264"
    for party in (s.applicant, s.respondent):
        assert (await party.connect())["video_codec"] == "H264"
    await s.admit(s.applicant, s.respondent)
    await everyone_decodes_everyone(s.everyone)
    negotiated_only(s.everyone, H264_MIME)
    assert s.room_codec() is VideoCodec.H264


async def test_a_mixed_room_uses_the_codec_everyone_decodes(station: MakeStation) -> None:
    """An iPhone-like party (H.264 only) first, then two who decode both: all on H.264."""
    s = await station("vp8")
    s.applicant.video_codecs = H264_ONLY
    s.host.video_codecs = BOTH
    s.respondent.video_codecs = BOTH
    assert (await s.applicant.connect())["video_codec"] == "H264"  # waits in the lobby
    assert (await s.host.connect())["video_codec"] == "H264"
    assert (await s.respondent.connect())["video_codec"] == "H264"
    await s.admit(s.applicant, s.respondent)
    await everyone_decodes_everyone(s.everyone)
    negotiated_only(s.everyone, H264_MIME)


async def test_the_station_preference_decides_for_browsers_that_decode_both(
    station: MakeStation,
) -> None:
    s = await station("h264")
    for person in s.everyone:
        person.video_codecs = BOTH
    assert (await s.host.connect())["video_codec"] == "H264"
    await s.applicant.connect()
    await s.admit(s.applicant)
    await everyone_decodes_everyone([s.host, s.applicant])
    negotiated_only([s.host, s.applicant], H264_MIME)


async def test_the_default_preference_is_vp8(station: MakeStation) -> None:
    s = await station()
    s.host.video_codecs = BOTH
    assert (await s.host.connect())["video_codec"] == "VP8"
    # A page that declares nothing decodes VP8: it fits.
    assert (await s.applicant.connect())["video_codec"] == "VP8"
    await s.admit(s.applicant)
    await everyone_decodes_everyone([s.host, s.applicant], frames=5)
    negotiated_only([s.host, s.applicant], "video/vp8")


async def test_a_vp8_only_joiner_is_refused_from_an_h264_room(
    station: MakeStation,
) -> None:
    s = await station()
    s.host.video_codecs = H264_ONLY
    await s.host.connect()
    s.respondent.video_codecs = ["VP8"]
    refused = await s.respondent.try_connect()
    assert not refused["ok"]
    assert refused["error"]["code"] == "codec_unsupported"
    # In the page's language (Chinese by default), naming the room's codec.
    assert "H264" in refused["error"]["message"]
    assert "浏览器" in refused["error"]["message"]
    # The refused one is not in the room, not even in its lobby.
    assert all(p["id"] != s.respondent.pid for p in s.host.room["participants"])
    assert s.room_codec() is VideoCodec.H264
    # An older page (declares nothing: VP8) is refused alike; on the same socket,
    # a join that declares H.264 then enters.
    assert s.applicant.video_codecs is None
    old_page = await s.applicant.try_connect()
    assert old_page["error"]["code"] == "codec_unsupported"
    joined = await s.applicant.request("join", video_codecs=BOTH)
    assert joined["ok"] and joined["data"]["video_codec"] == "H264"


async def test_the_choice_is_made_afresh_once_everyone_has_gone(
    station: MakeStation,
) -> None:
    s = await station()
    s.host.video_codecs = H264_ONLY
    await s.host.connect()
    assert s.room_codec() is VideoCodec.H264
    left = await s.host.request("leave")
    assert left["ok"]
    await wait_until(lambda: s.room_codec() is None, what="the codec choice forgotten")
    s.applicant.video_codecs = ["VP8"]
    assert (await s.applicant.connect())["video_codec"] == "VP8"
