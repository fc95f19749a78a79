"""A publisher on a slow uplink sends what the link carries, and more again once it is lifted.

The party's Chromium (tests/netlab/test_browser_links.py's room) publishes its fake
camera over an uplink limited to LINK_KBIT with the emulator's tail-drop queue; its
downlink stays clean. The server gives the publisher feedback the browser acts on:
the answer's video m-section carries ``goog-remb`` and the ``abs-send-time`` header
extension, so aiortc's receiver estimates the arriving rate and sends REMB; its
receiver reports tell the loss. Chromium's encoder rate is read from the party's
own ``getStats`` (outbound-rtp bytes, ``targetBitrate``; the candidate pair's
``availableOutgoingBitrate``) and the officer's decoding from the officer's page.
Figures are printed (``-s``) for the closing notes.
"""

from __future__ import annotations

import asyncio
import json
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCRtpReceiver
from aiortc.rtp import RTCP_PSFB_APP, AnyRtcpPacket, RtcpPsfbPacket, unpack_remb_fci
from playwright.async_api import Page

from server.config import Config
from server.db import SessionFactory
from tests.conftest import Seed
from tests.netlab.browser_room import BROWSER_ON_A_BAD_LINK, BrowserRoom, browser_room, latest
from tests.netlab.chromium import media_report, noise_camera

pytestmark = BROWSER_ON_A_BAD_LINK

#: The party's uplink while limited: below what its encoder reaches on the clean link
#: after CLEAN_S (400-450 kbit/s here, under the page's 500 kbit/s cap).
LINK_KBIT = 300
#: What the party's video may average over the measured window: room is left for the
#: party's audio, RTCP and packet headers on the same link.
SETTLED_SHARE = 0.9
#: Seconds over which a rate counts as settled, and the longest wait for it.
WINDOW_S = 10.0
SETTLE_WITHIN_S = 90.0
#: Seconds given to the encoder to climb back once the link is lifted.
CLIMB_WITHIN_S = 60.0
#: Seconds on the clean link before the limit, for the encoder to ramp up.
CLEAN_S = 15.0

#: The party's publisher connection: what its video encoder is sending and aiming at,
#: its audio, and what Chromium's estimator thinks the path carries.
_PUBLISHER_STATS = """
async () => {
  const made = window.__recordedPeerConnections || [];
  const publishers = made.filter((pc) => pc.connectionState !== "closed"
    && pc.localDescription && pc.localDescription.type === "offer");
  const pc = publishers[publishers.length - 1];
  const out = { now: performance.now(), videoBytes: 0, audioPackets: 0, targetBitrate: null,
    fps: null, width: null, limitation: null, available: null, pairRtt: null, rtcpRtt: null };
  if (!pc) { return out; }
  const report = await pc.getStats();
  report.forEach((s) => {
    if (s.type === "outbound-rtp" && s.kind === "video") {
      out.videoBytes += (s.bytesSent || 0) + (s.headerBytesSent || 0);
      out.targetBitrate = s.targetBitrate === undefined ? null : s.targetBitrate;
      out.fps = s.framesPerSecond === undefined ? null : s.framesPerSecond;
      out.width = s.frameWidth === undefined ? null : s.frameWidth;
      out.limitation = s.qualityLimitationReason || null;
      out.ssrc = s.ssrc;
    } else if (s.type === "outbound-rtp" && s.kind === "audio") {
      out.audioPackets += s.packetsSent || 0;
    } else if (s.type === "remote-inbound-rtp" && s.kind === "video") {
      out.rtcpRtt = s.roundTripTime === undefined ? null : s.roundTripTime;
    } else if (s.type === "transport" && s.selectedCandidatePairId) {
      const pair = report.get(s.selectedCandidatePairId);
      if (pair) {
        out.available = pair.availableOutgoingBitrate === undefined
          ? null : pair.availableOutgoingBitrate;
        out.pairRtt = pair.currentRoundTripTime === undefined ? null : pair.currentRoundTripTime;
      }
    }
  });
  return out;
}
"""


async def publisher_stats(page: Page) -> dict[str, Any]:
    stats: dict[str, Any] = await page.evaluate(_PUBLISHER_STATS)
    return stats


def video_m_section(sdp: str) -> list[str]:
    """The lines of the first video m-section of ``sdp``."""
    lines = sdp.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("m=video"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("m=")), len(lines))
    return lines[start:end]


def kbit_per_s(earlier: dict[str, Any], later: dict[str, Any]) -> float:
    """The video rate between two samples, RTP headers included."""
    seconds = float(later["now"] - earlier["now"]) / 1000
    sent = float(later["videoBytes"] - earlier["videoBytes"])
    return sent * 8 / 1000 / max(seconds, 1e-3)


def kbit(value: float | None) -> float | None:
    return None if value is None else round(value / 1000, 1)


class RembSpy:
    """Each REMB the server's aiortc receivers send: when, the bitrate asked, for which SSRCs.

    aiortc's receiver estimates the arriving video rate from the ``abs-send-time``
    stamps and sends REMB on its own; wrapping its ``_send_rtcp`` only watches.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[tuple[float, int, list[int]]] = []
        original = RTCRtpReceiver._send_rtcp
        sent = self.sent

        async def watched(receiver: RTCRtpReceiver, packet: AnyRtcpPacket) -> None:
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
                sent.append((time.monotonic(), bitrate, ssrcs))
            await original(receiver, packet)

        monkeypatch.setattr(RTCRtpReceiver, "_send_rtcp", watched)

    def kbit_for(self, ssrc: int, start: float, end: float) -> list[float]:
        return [b / 1000 for t, b, ssrcs in self.sent if ssrc in ssrcs and start <= t <= end]


class Samples:
    """One sample of the party's publisher stats a second, with the officer's decoding."""

    def __init__(self, room: BrowserRoom) -> None:
        self.room = room
        self.taken: list[dict[str, Any]] = []

    async def take(self) -> dict[str, Any]:
        sample = await publisher_stats(self.room.party)
        sample["officerFrames"] = await self.room.officer_frames.total()
        sample["officerAudio"] = await officer_audio_packets(self.room.officer)
        sample["monotonic"] = time.monotonic()
        self.taken.append(sample)
        return sample

    def back(self, seconds: float) -> dict[str, Any]:
        """The latest sample at least ``seconds`` older than the newest one."""
        newest = self.taken[-1]["monotonic"]
        older = [s for s in self.taken if newest - s["monotonic"] >= seconds]
        return older[-1] if older else self.taken[0]

    def window_kbit(self, seconds: float) -> float:
        return kbit_per_s(self.back(seconds), self.taken[-1])


async def officer_audio_packets(officer: Page) -> int:
    """Audio packets the officer's page has received on its current subscriber connection."""
    inbound = latest(await media_report(officer), "subscriber")["inbound"]
    return sum(s["packetsReceived"] for s in inbound if s["kind"] == "audio")


async def test_a_publisher_on_a_slow_uplink_settles_below_it_and_climbs_when_it_lifts(
    tmp_path: Path,
    config: Config,
    factory: SessionFactory,
    seed: Seed,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    remb = RembSpy(monkeypatch)
    async with browser_room(tmp_path, config, factory, seed, [noise_camera(tmp_path)]) as room:
        # What the server asks of the publisher: REMB, from the send times the publisher stamps.
        answer = video_m_section(latest(await media_report(room.party), "publisher")["remote"])
        assert any(line.startswith("a=rtcp-fb:") and "goog-remb" in line for line in answer), answer
        assert any("abs-send-time" in line for line in answer), answer

        samples = Samples(room)
        await samples.take()
        # Let the encoder ramp up on the clean link (from Chromium's start bitrate).
        await asyncio.sleep(CLEAN_S)
        before = await samples.take()
        clean_kbit = samples.window_kbit(5.0)
        # Otherwise the limit would ask nothing of the encoder.
        assert clean_kbit > LINK_KBIT, f"the clean link carried only {clean_kbit:.0f} kbit/s"

        link = room.topology.link
        await link.set("up", rate_kbit=LINK_KBIT)
        limited_at = time.monotonic()
        limit = LINK_KBIT * SETTLED_SHARE
        settle_s: float | None = None
        while time.monotonic() - limited_at < SETTLE_WITHIN_S:
            await asyncio.sleep(1.0)
            await samples.take()
            # Settled: the last 5 s averaged below the limit, counted only from after
            # the limit was set.
            if time.monotonic() - limited_at >= 5.0 and samples.window_kbit(5.0) <= limit:
                settle_s = time.monotonic() - limited_at
                break
        trail = [round(kbit_per_s(a, b)) for a, b in pairwise(samples.taken)]
        assert settle_s is not None, f"video kbit/s each second: {trail}"
        # The first second, after the limit was set, that sent less than the limit.
        first_below_s = next(
            b["monotonic"] - limited_at
            for a, b in pairwise(samples.taken)
            if b["monotonic"] > limited_at and kbit_per_s(a, b) <= limit
        )

        # A fresh window, measured only after settling.
        start = samples.taken[-1]
        window_start = time.monotonic()
        while time.monotonic() - window_start < WINDOW_S:
            await asyncio.sleep(1.0)
            await samples.take()
        end = samples.taken[-1]
        seconds = end["monotonic"] - start["monotonic"]
        settled_kbit = kbit_per_s(start, end)
        officer_fps = (end["officerFrames"] - start["officerFrames"]) / seconds
        audio_sent_per_s = (end["audioPackets"] - start["audioPackets"]) / seconds
        audio_received_per_s = (end["officerAudio"] - start["officerAudio"]) / seconds
        counters = (await link.report())["up"]["counters"]
        asked = remb.kbit_for(end["ssrc"], start["monotonic"], end["monotonic"])
        limited = {
            "remb_sent": len(asked),
            "remb_kbit_min_max": [round(min(asked), 1), round(max(asked), 1)] if asked else None,
            "clean_video_kbit": round(clean_kbit),
            "clean_target_kbit": kbit(before["targetBitrate"]),
            "link_kbit": LINK_KBIT,
            "first_second_below_s": round(first_below_s, 1),
            "settle_5s_window_s": round(settle_s, 1),
            "settled_video_kbit": round(settled_kbit, 1),
            "settled_target_kbit": kbit(end["targetBitrate"]),
            "available_outgoing_kbit": kbit(end["available"]),
            "officer_fps": round(officer_fps, 1),
            "party_fps_sent": end["fps"],
            "party_frame_width": end["width"],
            "quality_limitation": end["limitation"],
            "audio_sent_per_s": round(audio_sent_per_s, 1),
            "audio_received_per_s": round(audio_received_per_s, 1),
            "pair_rtt_ms": None if end["pairRtt"] is None else round(end["pairRtt"] * 1000),
            "rtcp_rtt_ms": None if end["rtcpRtt"] is None else round(end["rtcpRtt"] * 1000),
            "uplink_queue_dropped": counters["queue_dropped"],
        }
        print(
            f"\nuplink {LINK_KBIT} kbit/s: {json.dumps(limited)}; video kbit/s each second {trail}"
        )
        assert settled_kbit <= limit, limited
        # The server kept telling the publisher what it receives.
        assert asked, limited
        # The officer keeps decoding the party's video, and hearing it.
        assert end["officerFrames"] > start["officerFrames"] + WINDOW_S, limited
        assert audio_sent_per_s >= 10, limited
        assert audio_received_per_s >= 10, limited

        await link.set("up", rate_kbit=None)
        lifted_at = time.monotonic()
        peak_kbit = 0.0
        climb_s: float | None = None
        while time.monotonic() - lifted_at < CLIMB_WITHIN_S:
            await asyncio.sleep(1.0)
            await samples.take()
            if time.monotonic() - lifted_at >= 5.0:
                peak_kbit = max(peak_kbit, samples.window_kbit(5.0))
            if climb_s is None and samples.window_kbit(2.0) > LINK_KBIT:
                climb_s = time.monotonic() - lifted_at
        last = samples.taken[-1]
        asked = remb.kbit_for(last["ssrc"], lifted_at, last["monotonic"])
        climbed = {
            "remb_kbit_last": round(asked[-1], 1) if asked else None,
            "above_old_limit_after_s": None if climb_s is None else round(climb_s, 1),
            "peak_video_kbit_5s": round(peak_kbit, 1),
            "target_kbit": kbit(last["targetBitrate"]),
            "available_outgoing_kbit": kbit(last["available"]),
            "party_frame_width": last["width"],
            "after_s": round(CLIMB_WITHIN_S),
        }
        print(f"uplink lifted: {json.dumps(climbed)}")
        # Loose: clearly above what the limited link allowed.
        assert peak_kbit >= settled_kbit * 1.2, (limited, climbed)
