"""Debian's Chromium, driven by Playwright, running inside a network namespace.

Playwright starts the browser itself (``executable_path``) and talks to it over the
pipe it hands the child (``--remote-debugging-pipe``: file descriptors 3 and 4, no
TCP port), so a browser in another namespace needs only a launcher that enters the
namespace and ``exec``s Chromium: ``ip netns exec`` keeps the descriptors open, and
everything the browser sends (pages, signalling, ICE, media) leaves from the
namespace's own interfaces.

The pages are served over plain http from an address inside the test's namespaces;
Chromium gives the camera only to secure origins, so that one origin is declared
secure (``--unsafely-treat-insecure-origin-as-secure``) rather than running TLS.

An init script records every ``RTCPeerConnection`` the page makes, so a test can read
the statistics and descriptions of the room page's connections (which the page keeps
to itself) with :func:`media_report`.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, Playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS


def write_launcher(directory: Path, namespace: str) -> Path:
    """An executable that runs Chromium, with the arguments it is given, in ``namespace``."""
    launcher = directory / f"chromium-in-{namespace}"
    launcher.write_text(
        f'#!/bin/sh\nexec ip netns exec {shlex.quote(namespace)} {shlex.quote(CHROMIUM)} "$@"\n'
    )
    launcher.chmod(0o755)
    return launcher


async def launch_in(
    playwright: Playwright,
    namespace: str,
    origin: str,
    directory: Path,
    extra_args: Sequence[str] = (),
) -> Browser:
    """Chromium in ``namespace`` with the fake camera and microphone, ``origin`` secure."""
    return await playwright.chromium.launch(
        executable_path=write_launcher(directory, namespace),
        args=[
            *CHROMIUM_ARGS,
            f"--unsafely-treat-insecure-origin-as-secure={origin}",
            *extra_args,
        ],
    )


def noise_camera(directory: Path, width: int = 640, height: int = 480, frames: int = 30) -> str:
    """A Chromium flag making the fake camera show faint fresh noise on grey every frame.

    Chromium's own fake camera (a mostly still pattern) encodes below a modest
    target, so it hardly tests a rate limit. Faint noise is elastic: the encoder keeps
    more of it the more bitrate it is allowed, and quantises it away (still at its
    frame rate) when allowed little; full-range noise would make it drop frames
    instead. The clip (Y4M, 4:2:0, 15 fps) loops.
    """
    clip = directory / "noise.y4m"
    chroma = bytes([128]) * (width * height // 2)
    faint = bytes(120 + (value & 0x0F) for value in range(256))
    with clip.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F15:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            luma = os.urandom(width * height).translate(faint)
            out.write(b"FRAME\n" + luma + chroma)
    return f"--use-file-for-fake-video-capture={clip}"


#: Runs before the page's own scripts: keeps each peer connection the page builds.
RECORD_PEER_CONNECTIONS = """
(() => {
  const Native = window.RTCPeerConnection;
  if (!Native || window.__recordedPeerConnections) { return; }
  const made = [];
  const events = [];
  window.__recordedPeerConnections = made;
  window.__recordedEvents = events;
  const note = (what) => events.push([Math.round(performance.now()), what]);
  class Recorded extends Native {
    constructor(...args) {
      super(...args);
      const index = made.length;
      made.push(this);
      this.addEventListener("iceconnectionstatechange", () => {
        note(index + " ice " + this.iceConnectionState);
      });
    }
  }
  window.RTCPeerConnection = Recorded;
  const NativeSocket = window.WebSocket;
  let sockets = 0;
  class RecordedSocket extends NativeSocket {
    constructor(...args) {
      super(...args);
      const index = sockets;
      sockets += 1;
      note("socket " + index + " new");
      this.addEventListener("open", () => note("socket " + index + " open"));
      this.addEventListener("close", (e) => note("socket " + index + " closed " + e.code));
    }
  }
  window.WebSocket = RecordedSocket;
  window.addEventListener("online", () => note("online"));
  window.addEventListener("offline", () => note("offline"));
  if (navigator.connection) {
    navigator.connection.addEventListener("change", () => note("connection change"));
  }
})();
"""

#: Per recorded connection: its index, role, state, descriptions, the local address of
#: its selected candidate pair and the counters the tests read.
_REPORT = """
async () => {
  const out = [];
  const made = window.__recordedPeerConnections || [];
  for (let i = 0; i < made.length; i += 1) {
    const pc = made[i];
    const entry = {
      index: i,
      state: pc.connectionState,
      ice: pc.iceConnectionState,
      // The room page offers on its publisher connection and answers on its subscriber one.
      role: pc.localDescription && pc.localDescription.type === "offer"
        ? "publisher" : "subscriber",
      local: pc.localDescription ? pc.localDescription.sdp : "",
      remote: pc.remoteDescription ? pc.remoteDescription.sdp : "",
      inbound: [],
      outbound: [],
      pair: null,
    };
    if (pc.connectionState !== "closed") {
      const report = await pc.getStats();
      report.forEach((s) => {
        if (s.type === "inbound-rtp") {
          entry.inbound.push({
            kind: s.kind, framesDecoded: s.framesDecoded || 0,
            packetsReceived: s.packetsReceived || 0, packetsLost: s.packetsLost || 0,
            totalSamplesReceived: s.totalSamplesReceived || 0,
            concealedSamples: s.concealedSamples || 0,
            silentConcealedSamples: s.silentConcealedSamples || 0,
            fecPacketsReceived: s.fecPacketsReceived, fecPacketsDiscarded: s.fecPacketsDiscarded,
          });
        } else if (s.type === "outbound-rtp") {
          entry.outbound.push({
            kind: s.kind, packetsSent: s.packetsSent || 0, framesEncoded: s.framesEncoded || 0,
          });
        } else if (s.type === "transport" && s.selectedCandidatePairId) {
          const pair = report.get(s.selectedCandidatePairId);
          const local = pair ? report.get(pair.localCandidateId) : null;
          entry.pair = local ? local.address || local.ip || "" : "";
        }
      });
    }
    out.push(entry);
  }
  return out;
}
"""


async def record_peer_connections(context: BrowserContext) -> None:
    """Every page opened in ``context`` from now on keeps its peer connections."""
    await context.add_init_script(RECORD_PEER_CONNECTIONS)


async def media_report(page: Page) -> list[dict[str, Any]]:
    """Every peer connection the page has made so far, closed ones included."""
    report: list[dict[str, Any]] = await page.evaluate(_REPORT)
    return report


class FrameTally:
    """Video frames a page has decoded, summed over all its subscriber connections.

    A closed connection reports nothing any more, so the largest count each one ever
    reported is kept: the total only grows, and a rebuilt connection adds to it.
    """

    def __init__(self, page: Page) -> None:
        self.page = page
        self.seen: dict[int, int] = {}

    async def total(self) -> int:
        for entry in await media_report(self.page):
            if entry["role"] != "subscriber":
                continue
            frames = sum(s["framesDecoded"] for s in entry["inbound"] if s["kind"] == "video")
            self.seen[entry["index"]] = max(frames, self.seen.get(entry["index"], 0))
        return sum(self.seen.values())


async def page_events(page: Page, since_ms: float = 0.0) -> list[tuple[int, str]]:
    """What the page saw (peer connections' ICE states, its sockets opening and closing,
    online/offline), with the page's
    ``performance.now()`` in ms, from ``since_ms`` on."""
    events: list[tuple[int, str]] = await page.evaluate(
        "(since) => (window.__recordedEvents || []).filter((e) => e[0] >= since)", since_ms
    )
    return events


async def page_clock(page: Page) -> float:
    clock: float = await page.evaluate("() => performance.now()")
    return clock
