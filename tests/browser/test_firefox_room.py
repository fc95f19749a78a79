"""Firefox ESR at the door and in the room, beside the officer's Chromium.

A party runs the door's device check on Debian's firefox-esr (tests/browser/firefox.py),
which meanwhile sends nothing beyond the test's network. Then a party opens their personal
link in Firefox, goes from the door to the lobby, is admitted by the officer, and joins
with the fake camera. The officer's Chromium decodes the party's video (the tile plays,
and its receiver's ``framesDecoded`` grows), and Firefox plays the officer's video. And
Firefox, which decodes no H.264 here, is told why it cannot enter a room that uses it.

Firefox gathers no loopback candidates (tests/browser/firefox.py), so each test runs in a
network namespace it makes (tests/browser/private_network.py), with media on its 10.84.0.2.
Server, Chromium and Firefox start in it; nothing they send can leave it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
from playwright.async_api import Browser, Page, expect

from server.app import create_app
from server.config import Config
from server.db import SessionFactory
from tests.browser import firefox as ff
from tests.browser.conftest import AiohttpServer
from tests.browser.private_network import ADDRESS, PrivateNetwork, is_root, private_network
from tests.browser.screens import PHONE
from tests.browser.test_room import TIMEOUT, admit, officer_in_room, video_plays
from tests.conftest import Seed
from tests.http.test_door import TITLE, Booked, book_session

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not ff.installed(),
        reason=f"firefox-esr is not installed ({ff.FIREFOX} missing; apt-get install firefox-esr)",
    ),
    pytest.mark.skipif(
        not is_root(), reason="the Firefox tests run in a network namespace they make: needs root"
    ),
]

TIMEOUT_S = TIMEOUT / 1000


@pytest.fixture(autouse=True)
def network() -> Iterator[PrivateNetwork]:
    """The test's thread in a network namespace of its own until the test has ended.

    Autouse, so it is set up before the server and browser fixtures (which then open
    their sockets and start their processes inside) and torn down after them.
    """
    with private_network() as made:
        yield made


async def serve(aiohttp_server: AiohttpServer, config: Config, **settings: object) -> str:
    """test_room.py's server with media on the namespace's address; its base URL."""
    update = {"ice_host_addresses": [ADDRESS], **settings}
    running = await aiohttp_server(create_app(config.model_copy(update=update)))
    return str(running.make_url("")).rstrip("/")


@pytest.fixture
async def server(
    network: PrivateNetwork, aiohttp_server: AiohttpServer, config: Config, seed: Seed
) -> str:
    return await serve(aiohttp_server, config)


@pytest.fixture
async def h264_server(
    network: PrivateNetwork, aiohttp_server: AiohttpServer, config: Config, seed: Seed
) -> str:
    """Rooms prefer H.264 (a station serving phones): the first joiner who decodes it gets it."""
    return await serve(aiohttp_server, config, video_codec="h264")


@pytest.fixture
async def proxy_requests(network: PrivateNetwork) -> AsyncIterator[list[str]]:
    """First lines of the requests that reach Firefox's proxy (none should: all is local)."""
    seen: list[str] = []

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append((await reader.readline()).decode(errors="replace").strip())
        writer.close()

    trap = await asyncio.start_server(refuse, "127.0.0.1", ff.DEAD_PROXY_PORT)
    try:
        yield seen
    finally:
        trap.close()
        await trap.wait_closed()


# The room page keeps its peer connections to itself; this records them before its
# scripts run, so the test can read the receivers' statistics.
RECORD_CONNECTIONS = """
(() => {
  const Native = window.RTCPeerConnection;
  const made = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); made.push(this); }
  };
  Object.defineProperty(window, "__concordConnections", { value: made });
})();
"""

# What came in for one kind of a participant's tile: decoded frames of its video track, or
# packets of its audio track, from the inbound-rtp statistics of the track's receiver.
RECEIVED = """async ([pid, kind]) => {
  const video = document.querySelector('video[data-participant="' + pid + '"]');
  const stream = video && video.srcObject;
  const track = stream && (kind === "video" ? stream.getVideoTracks() : stream.getAudioTracks())[0];
  if (!track) return 0;
  for (const pc of window.__concordConnections) {
    for (const receiver of pc.getReceivers()) {
      if (receiver.track !== track) continue;
      let count = 0;
      (await receiver.getStats()).forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === kind) {
          count += (kind === "video" ? s.framesDecoded : s.packetsReceived) || 0;
        }
      });
      return count;
    }
  }
  return 0;
}"""

# Frames Firefox presents in a participant's tile over one second, counted by
# requestVideoFrameCallback (getVideoPlaybackQuality counts nothing for a MediaStream).
PRESENTED = """
const video = document.querySelector('video[data-participant="' + arguments[0] + '"]');
if (!video) return null;
return new Promise((resolve) => {
  const start = performance.now();
  let callbacks = 0;
  const finish = () => resolve({callbacks: callbacks, width: video.videoWidth,
                                height: video.videoHeight, time: video.currentTime});
  const step = () => {
    callbacks += 1;
    if (performance.now() - start >= 1000) finish(); else video.requestVideoFrameCallback(step);
  };
  video.requestVideoFrameCallback(step);
  setTimeout(finish, 5000);
});
"""


async def received(page: Page, pid: str, kind: str) -> int:
    return int(await page.evaluate(RECEIVED, [pid, kind]))


async def firefox_plays(browser: ff.Firefox, pid: str) -> dict[str, float]:
    """Firefox's tile of ``pid`` plays: it has a size, its time runs, and frames keep coming."""
    await browser.wait_for(
        "const v = document.querySelector('video[data-participant=\"' + arguments[0] + '\"]');"
        "return !!v && v.videoWidth > 0 && v.currentTime > 0.2 && !v.paused;",
        pid,
        within=TIMEOUT_S,
        what=f"no video from {pid}",
    )
    first = await browser.run(PRESENTED, pid)
    second = await browser.run(PRESENTED, pid)
    assert first["callbacks"] > 1 and second["callbacks"] > 1, f"{pid} froze: {first} {second}"
    assert second["time"] > first["time"], f"Firefox's tile of {pid} stopped: {first} {second}"
    # A received track is muted until its first RTP packet arrives.
    await browser.wait_for(
        "const v = document.querySelector('video[data-participant=\"' + arguments[0] + '\"]');"
        "const a = v.srcObject.getAudioTracks()[0];"
        "return !!a && a.readyState === 'live' && !a.muted;",
        pid,
        within=TIMEOUT_S,
        what=f"no audio from {pid}",
    )
    return dict(second)


async def test_a_firefox_party_checks_its_devices_and_stays_off_the_network(
    network: PrivateNetwork,
    server: str,
    proxy_requests: list[str],
    factory: SessionFactory,
    seed: Seed,
    config: Config,
) -> None:
    """The door's check passes on Firefox; no frame leaves v0 and its proxy is never asked."""
    booked: Booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    async with ff.firefox(PHONE["width"], PHONE["height"]) as party:
        await party.navigate(f"{server}/j/{booked.tokens['respondent']}")
        await party.wait_attribute("#device-check", "data-ready", "false", within=TIMEOUT_S)
        await party.click("#start-check")
        for check in ("camera", "microphone", "network"):
            await party.wait_attribute("#device-check", f"data-{check}", "ok", within=TIMEOUT_S)
        await party.wait_attribute("#device-check", "data-ready", "true", within=TIMEOUT_S)
        assert await party.run("return document.getElementById('camera-preview').videoWidth") > 0
        await party.wait_for(
            "return document.getElementById('mic-bar').style.width !== '';",
            within=TIMEOUT_S,
            what="the microphone meter never moved",
        )
        await party.click("#play-tone")
        await party.click("#heard-yes")
        await party.wait_attribute("#device-check", "data-speaker", "ok", within=TIMEOUT_S)
        await party.fits_its_width()
        # Firefox's own background work (updates, remote settings, telemetry) starts
        # within seconds of launch; give it time to show itself.
        await asyncio.sleep(5.0)
        assert party.page_errors(server) == []
    assert network.frames_out() == [], "Firefox sent something beyond the namespace's subnet"
    assert proxy_requests == [], "Firefox asked for something on the network"


async def test_a_firefox_party_joins_publishes_and_receives(
    browser: Browser,
    server: str,
    proxy_requests: list[str],
    factory: SessionFactory,
    seed: Seed,
    config: Config,
) -> None:
    base = server
    booked: Booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    context = await browser.new_context(viewport=PHONE, locale="zh-CN")
    await context.add_init_script(RECORD_CONNECTIONS)
    try:
        officer, host_pid = await officer_in_room(context, base, booked.session_id)
        async with ff.firefox(PHONE["width"], PHONE["height"]) as party:
            # The door: the party's own invitation, then into the room's lobby.
            await party.navigate(f"{base}/j/{booked.tokens['applicant']}")
            await party.wait_for(
                "const e = document.getElementById('case-title');"
                "return !!e && e.textContent.trim() === arguments[0];",
                TITLE,
                within=TIMEOUT_S,
                what="the door shows no case title",
            )
            await party.click("#enter-room")
            await party.wait_attribute("#room", "data-state", "lobby", within=TIMEOUT_S)
            pid = await party.attribute("#room", "data-participant-id")
            assert pid

            await admit(officer, pid)
            await party.wait_attribute("#room", "data-state", "admitted", within=TIMEOUT_S)
            await party.click("#join-media")
            await party.wait_attribute("#room", "data-media", "started", within=TIMEOUT_S)

            # Publishes: the officer's Chromium decodes Firefox's camera.
            await video_plays(officer, pid)
            width = await officer.evaluate(
                "(pid) => document.querySelector('video[data-participant=\"' + pid + '\"]')"
                ".videoWidth",
                pid,
            )
            assert width > 0
            before = {kind: await received(officer, pid, kind) for kind in ("video", "audio")}
            await asyncio.sleep(1.0)
            after = {kind: await received(officer, pid, kind) for kind in ("video", "audio")}
            for kind in ("video", "audio"):
                assert 0 < before[kind] < after[kind], f"{kind} from Firefox: {before} {after}"

            # Receives: Firefox plays the officer's video.
            await firefox_plays(party, host_pid)
            await party.fits_its_width()
            # Firefox's statistics differ from Chromium's; on a clean link they must not
            # read as weak. The watch polls every 2 s and needs two weak readings in a row.
            await asyncio.sleep(5.0)
            notice = await party.run(
                "const n = document.getElementById('network-notice');"
                "return [n.hidden, n.dataset.state || 'ok'];"
            )
            assert notice == [True, "ok"], f"Firefox shows a network notice: {notice}"
            await expect(officer.locator("#room")).to_have_attribute("data-state", "admitted")
            assert party.page_errors(base) == []
    finally:
        await context.close()
    assert proxy_requests == [], "Firefox asked for something on the network"


async def test_firefox_without_h264_is_told_why_it_cannot_enter_an_h264_room(
    browser: Browser,
    h264_server: str,
    factory: SessionFactory,
    seed: Seed,
    config: Config,
) -> None:
    """Firefox decodes H.264 only with OpenH264, a download it never makes here.

    Its page declares VP8 alone (RTCRtpReceiver.getCapabilities), so once the officer's
    Chromium has made the room H.264, the server refuses the party with the reason, and
    the page says it instead of showing a black tile.
    """
    booked: Booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    context = await browser.new_context(viewport=PHONE, locale="zh-CN")
    try:
        await officer_in_room(context, h264_server, booked.session_id)
        async with ff.firefox(PHONE["width"], PHONE["height"]) as party:
            await party.navigate(f"{h264_server}/j/{booked.tokens['applicant']}/room")
            await party.wait_attribute("#room", "data-state", "refused", within=TIMEOUT_S)
            reason = await party.run(
                "return document.getElementById('refused-reason').textContent;"
            )
            assert "H264" in reason and "无法解码" in reason, reason
            shown = await party.run(
                "const e = document.getElementById('refused-reason');"
                "return e.getClientRects().length > 0;"
            )
            assert shown, "the reason is not on the screen"
            assert party.page_errors(h264_server) == []
    finally:
        await context.close()
