"""Chromium in an H.264 room: the page declares what it decodes, prefers the room's codec
on both connections, and decodes H.264 forwarded from another browser or an aiortc party.

Debian's Chromium offers H.264 (packetization-mode 1, constrained baseline
42e01f among others) in ``RTCRtpSender.getCapabilities`` and
``RTCRtpReceiver.getCapabilities``, so the page declares ``["VP8", "H264"]``; a
page whose receiver capabilities lack H.264 (made so by an init script) is
refused from an H.264 room with the server's reason on its screen; and the
page declares H.264 only when the browser has the format the server takes
(packetization-mode 1, constrained baseline). Media stays on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial

import aiohttp
import pytest
from aiohttp import web
from aiortc.sdp import SessionDescription
from playwright.async_api import Browser, expect

from server.app import create_app
from server.config import Config
from server.db import SessionFactory
from server.keys import HUBS
from server.live.room import LiveRoom
from server.rooms.codecs import VideoCodec
from tests.browser.conftest import AiohttpServer
from tests.browser.test_room import PHONE, TIMEOUT, admitted_party, officer_in_room, video_plays
from tests.conftest import Seed
from tests.http.test_door import Booked, book_session
from tests.integration.room_client import RoomClient, wait_until

pytestmark = pytest.mark.browser

#: ``await start(preference)``: the server's base URL and app, with that ``video_codec``.
Start = Callable[[str], Awaitable[tuple[str, web.Application]]]


@pytest.fixture
async def start(aiohttp_server: AiohttpServer, config: Config, seed: Seed) -> Start:
    async def run(preference: str) -> tuple[str, web.Application]:
        app = create_app(
            config.model_copy(
                update={"ice_host_addresses": ["127.0.0.1"], "video_codec": preference}
            )
        )
        running = await aiohttp_server(app)
        return str(running.make_url("")).rstrip("/"), app

    return run


@pytest.fixture
async def booked(factory: SessionFactory, seed: Seed, config: Config) -> Booked:
    return await book_session(factory, seed, config, starts_in=timedelta(minutes=5))


def video_codecs(sdp: str) -> set[str]:
    """The video codecs of ``sdp``'s active video m-sections (lower case, RTX left out)."""
    return {
        codec.mimeType.lower()
        for media in SessionDescription.parse(sdp).media
        if media.kind == "video" and media.direction != "inactive" and media.port != 0
        for codec in media.rtp.codecs
        if codec.mimeType.lower() != "video/rtx"
    }


def browser_sdps(live: LiveRoom, pid: str) -> tuple[str, str]:
    """What ``pid``'s page sent: its publisher offer and its latest subscriber answer."""
    session = live.session(pid)
    assert session is not None and session.media is not None
    publisher = session.media.publisher
    subscriber = session.media.subscriber
    assert publisher is not None and publisher.remoteDescription is not None
    assert subscriber is not None and subscriber.pc is not None
    assert subscriber.pc.remoteDescription is not None
    return publisher.remoteDescription.sdp, subscriber.pc.remoteDescription.sdp


async def test_chromium_declares_h264_and_two_pages_see_each_other_in_h264(
    browser: Browser, start: Start, booked: Booked
) -> None:
    base, app = await start("h264")
    contexts = [await browser.new_context(viewport=PHONE, locale="zh-CN") for _ in range(2)]
    try:
        officer, host_pid = await officer_in_room(contexts[0], base, booked.session_id)
        applicant, applicant_pid = await admitted_party(
            officer, contexts[1], f"{base}/j/{booked.tokens['applicant']}/room"
        )
        await video_plays(officer, applicant_pid)
        await video_plays(applicant, host_pid)

        live = app[HUBS].get(booked.session_id)
        assert live is not None
        assert live.video_codec.codec is VideoCodec.H264
        for pid in (host_pid, applicant_pid):
            offer, answer = browser_sdps(live, pid)
            # The page preferred H.264 alone: its own offer names no other codec.
            assert video_codecs(offer) == {"video/h264"}, pid
            assert "packetization-mode=1" in offer and "42e01f" in offer
            assert video_codecs(answer) == {"video/h264"}, pid
        stats = live.media.stats()
        for pid in (host_pid, applicant_pid):
            assert stats[pid]["publisher"]["video"]["keyframes_in"] >= 1
            assert stats[pid]["subscriber"]["video"]["resumed_without_keyframe"] == 0
    finally:
        for context in contexts:
            await context.close()


async def test_chromium_and_an_h264_only_party_share_h264(
    browser: Browser, start: Start, booked: Booked
) -> None:
    """An iPhone-like party (aiortc, H.264 only) is there first; Chromium, preferring VP8 by
    the station's default, is given H.264 and decodes the party's libx264 stream, and the
    party decodes Chromium's."""
    base, app = await start("vp8")
    context = await browser.new_context(viewport=PHONE, locale="zh-CN")
    http = aiohttp.ClientSession(base_url=base)
    phone = RoomClient(http, f"token={booked.tokens['applicant']}")
    phone.video_codecs = ["H264"]
    try:
        joined = await phone.connect()
        assert joined["video_codec"] == "H264" and joined["admission"] == "lobby"
        officer, host_pid = await officer_in_room(context, base, booked.session_id)
        await expect(officer.locator("#lobby-count")).to_have_text("1", timeout=TIMEOUT)
        await officer.click("#btn-host")
        await officer.locator(
            f'#lobby-list li[data-participant="{phone.pid}"] button.primary'
        ).click()
        await officer.click("#panel-host [data-close-panel]")
        await wait_until(partial(phone.got, "you_were_admitted"), what="admission")
        await phone.publish()

        await video_plays(officer, phone.pid)
        await wait_until(
            lambda: phone.count_from(host_pid, "video") >= 10,
            within=30,
            what="the phone decoding Chromium's H.264",
        )
        live = app[HUBS].get(booked.session_id)
        assert live is not None and live.video_codec.codec is VideoCodec.H264
        offer, answer = browser_sdps(live, host_pid)
        assert video_codecs(offer) == {"video/h264"}
        assert video_codecs(answer) == {"video/h264"}
        assert phone.media is not None
        assert phone.media.subscriber.video_codecs == {"video/h264"}
    finally:
        await phone.close()
        await http.close()
        await context.close()


#: Makes the page's browser look like one without H.264 (as Firefox without its
#: OpenH264 plugin): the receiver capabilities list VP8 and no H.264.
WITHOUT_H264 = """(() => {
  const original = RTCRtpReceiver.getCapabilities.bind(RTCRtpReceiver);
  RTCRtpReceiver.getCapabilities = (kind) => {
    const caps = original(kind);
    if (caps && kind === "video") {
      caps.codecs = caps.codecs.filter((c) => !/h264/i.test(c.mimeType));
    }
    return caps;
  };
})();"""


async def test_a_page_that_cannot_decode_h264_is_told_why_it_cannot_join(
    browser: Browser, start: Start, booked: Booked
) -> None:
    base, app = await start("vp8")
    http = aiohttp.ClientSession(base_url=base)
    phone = RoomClient(http, f"token={booked.tokens['applicant']}")
    phone.video_codecs = ["H264"]
    context = await browser.new_context(viewport=PHONE, locale="zh-CN")
    await context.add_init_script(WITHOUT_H264)
    try:
        assert (await phone.connect())["video_codec"] == "H264"
        page = await context.new_page()
        await page.goto(f"{base}/j/{booked.tokens['respondent']}/room")
        await expect(page.locator("#room")).to_have_attribute(
            "data-state", "refused", timeout=TIMEOUT
        )
        reason = page.locator("#refused-reason")
        await expect(reason).to_contain_text("H264")
        await expect(reason).to_contain_text("此浏览器无法解码")
        live = app[HUBS].get(booked.session_id)
        assert live is not None
        assert live.video_codec.connected == {phone.pid}
        assert len(live.sessions) == 1
    finally:
        await phone.close()
        await http.close()
        await context.close()


#: Calls the page's ``decodableVideoCodecs`` with the receiver capabilities given.
DECLARED_FOR = """(codecs) => {
  const original = RTCRtpReceiver.getCapabilities;
  RTCRtpReceiver.getCapabilities = () => ({ codecs: codecs, headerExtensions: [] });
  try {
    return window.ConcordRoom.decodableVideoCodecs();
  } finally {
    RTCRtpReceiver.getCapabilities = original;
  }
}"""


def h264(fmtp: str) -> dict[str, object]:
    return {"mimeType": "video/H264", "clockRate": 90000, "sdpFmtpLine": fmtp}


VP8_CAP = {"mimeType": "video/VP8", "clockRate": 90000}


async def test_the_page_declares_only_the_h264_the_server_can_take(
    browser: Browser, start: Start, booked: Booked
) -> None:
    base, _ = await start("vp8")
    context = await browser.new_context(viewport=PHONE, locale="zh-CN")
    try:
        page = await context.new_page()
        await page.goto(f"{base}/j/{booked.tokens['applicant']}/room")
        await expect(page.locator("#room")).to_have_attribute(
            "data-state", "lobby", timeout=TIMEOUT
        )
        # Debian's Chromium itself.
        assert await page.evaluate("window.ConcordRoom.decodableVideoCodecs()") == ["VP8", "H264"]
        cases: list[tuple[list[dict[str, object]], list[str]]] = [
            # Safari: constrained baseline and high.
            (
                [h264("packetization-mode=1;profile-level-id=42e01f"), VP8_CAP],
                ["VP8", "H264"],
            ),
            # Another constrained-baseline level is still that profile.
            ([h264("profile-level-id=42c01e;packetization-mode=1")], ["H264"]),
            # Baseline (not constrained), or single-NAL mode only: not what is forwarded.
            ([VP8_CAP, h264("packetization-mode=1;profile-level-id=42001f")], ["VP8"]),
            ([h264("packetization-mode=0;profile-level-id=42e01f")], []),
            ([h264("packetization-mode=1;profile-level-id=640c1f")], []),
        ]
        for codecs, declared in cases:
            assert await page.evaluate(DECLARED_FOR, codecs) == declared, codecs
    finally:
        await context.close()
