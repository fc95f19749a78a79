"""Small aiortc clients that stand in for browsers in the media-plane tests.

A :class:`MediaClient` holds the two connections a browser holds:

- a publisher connection that offers one send-only audio track (silence,
  Opus-encoded by aiortc) and one send-only video track (small frames with a
  moving pattern, VP8-encoded by aiortc, which like Chrome sends keyframes
  only when asked; or H.264, encoded by libx264 through PyAV, when the client
  is made with ``video_codec=VideoCodec.H264``: it then offers H.264 only);
- a subscriber connection that answers the server's offers and *decodes*
  what it receives, counting decoded frames per source and kind.

Which source a subscriber slot carries is read from the server's offer: each
active m-section's ``a=msid`` stream id is the source participant id (an
inactive one carries ``-``). Everything stays on 127.0.0.1 (the ICE host
addresses are configured through the adapter; no STUN server).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import os
import time
from collections import Counter
from dataclasses import dataclass

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.sdp import SessionDescription
from av import VideoFrame

from server.rooms import aiortc_adapter as adapter
from server.rooms.codecs import VideoCodec

HOST = ["127.0.0.1"]
#: STUN/TURN servers of the clients' connections, as a page takes the join reply's
#: ``ice_servers``; none unless a test sets them (never aiortc's public default).
ICE_SERVERS: list[RTCIceServer] = []
WIDTH, HEIGHT, FPS = 160, 120, 15


def client_configuration() -> RTCConfiguration:
    return RTCConfiguration(iceServers=list(ICE_SERVERS), bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


class PatternVideoTrack(MediaStreamTrack):
    """Small frames with a bar that moves each frame, paced at ``FPS``.

    ``size`` and ``noisy`` make a heavier stream, as a real camera's is: fresh noise in
    a quarter of each frame keeps the encoder near its target bitrate (~500 kbit/s).
    """

    kind = "video"

    def __init__(self, size: tuple[int, int] = (WIDTH, HEIGHT), noisy: bool = False) -> None:
        super().__init__()
        self._start: float | None = None
        self._count = 0
        self._width, self._height = size
        self._noisy = noisy
        width = self._width
        row = bytes((x * 255) // width for x in range(width))
        self._luma = row * 2
        self._chroma = bytes([128]) * ((width // 2) * (self._height // 2))

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            await asyncio.sleep(max(0.0, self._start + self._count / FPS - time.monotonic()))
        width, height = self._width, self._height
        shift = (self._count * 7) % width
        plane = self._luma[shift : shift + width] * height
        if self._noisy:
            band = height // 4
            plane = os.urandom(width * band) + plane[width * band :]
        frame = VideoFrame(width=width, height=height, format="yuv420p")
        frame.planes[0].update(plane)
        frame.planes[1].update(self._chroma)
        frame.planes[2].update(self._chroma)
        frame.pts = self._count * (90000 // FPS)
        frame.time_base = fractions.Fraction(1, 90000)
        self._count += 1
        return frame


@dataclass
class Slot:
    mid: str
    kind: str
    source: str | None


def parse_slots(sdp: str) -> dict[str, Slot]:
    """mid → (kind, source) as the server's offer describes its m-sections."""
    description = SessionDescription.parse(sdp)
    slots: dict[str, Slot] = {}
    for media in description.media:
        mid = media.rtp.muxId
        source = None
        if media.direction == "sendonly" and media.msid:
            stream_id = media.msid.split()[0]
            source = None if stream_id == "-" else stream_id
        slots[mid] = Slot(mid=mid, kind=media.kind, source=source)
    return slots


def video_codecs_in(sdp: str) -> set[str]:
    """The video codecs (lower-case MIME types, RTX left out) an active m-section of ``sdp`` has."""
    return {
        codec.mimeType.lower()
        for media in SessionDescription.parse(sdp).media
        if media.kind == "video" and media.direction != "inactive"
        for codec in media.rtp.codecs
        if codec.mimeType.lower() != "video/rtx"
    }


class Subscriber:
    """Answers the server's offers; decodes and counts frames per (source, kind)."""

    def __init__(self) -> None:
        self.pc: RTCPeerConnection | None = None
        self.connection: int | None = None
        self.slots: dict[str, Slot] = {}
        self.counts: Counter[tuple[str | None, str]] = Counter()
        self.offers = 0
        #: The video codecs of every answer given so far (lower-case MIME types).
        self.video_codecs: set[str] = set()
        self.states: list[str] = []
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._tracks: dict[str, MediaStreamTrack] = {}

    async def handle_offer(self, sdp: str, connection: int) -> str:
        if self.pc is None or connection != self.connection:
            await self.close()
            self.pc = RTCPeerConnection(client_configuration())
            self.connection = connection
            pc = self.pc

            @pc.on("connectionstatechange")
            def on_state() -> None:
                self.states.append(pc.connectionState)

        pc = self.pc
        self.offers += 1
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        self.slots = parse_slots(sdp)
        for transceiver in pc.getTransceivers():
            mid = transceiver.mid
            track = transceiver.receiver.track
            if mid is None or track is None:
                continue
            running = self._loops.get(mid)
            # A slot that went inactive ended its track; when it is reused, count anew.
            if running is None or self._tracks.get(mid) is not track:
                if running is not None:
                    running.cancel()
                self._tracks[mid] = track
                self._loops[mid] = asyncio.create_task(self._count(mid, track))
        adapter.configure_ice(pc, HOST, 1 << 20)
        await pc.setLocalDescription(await pc.createAnswer())
        self.video_codecs |= video_codecs_in(pc.localDescription.sdp)
        return pc.localDescription.sdp

    async def _count(self, mid: str, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                slot = self.slots.get(mid)
                if slot is not None:
                    self.counts[(slot.source, slot.kind)] += 1

    def receiver_for(self, source: str, kind: str) -> RTCRtpReceiver:
        assert self.pc is not None
        for transceiver in self.pc.getTransceivers():
            slot = self.slots.get(transceiver.mid or "")
            if slot is not None and slot.source == source and slot.kind == kind:
                return transceiver.receiver
        raise LookupError((source, kind))

    async def packets(self) -> int:
        """RTP packets received on this connection so far, on every slot, whatever their source."""
        if self.pc is None:
            return 0
        total = 0
        for transceiver in self.pc.getTransceivers():
            report = await transceiver.receiver.getStats()
            total += sum(
                int(getattr(stats, "packetsReceived", 0))
                for stats in report.values()
                if getattr(stats, "type", "") == "inbound-rtp"
            )
        return total

    def reset(self) -> None:
        self.counts.clear()

    async def close(self) -> None:
        for task in self._loops.values():
            task.cancel()
        for task in self._loops.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops.clear()
        self._tracks.clear()
        if self.pc is not None:
            await self.pc.close()
            self.pc = None


class Publisher:
    def __init__(
        self,
        size: tuple[int, int] = (WIDTH, HEIGHT),
        noisy: bool = False,
        video_codec: VideoCodec = VideoCodec.VP8,
    ) -> None:
        self.pc: RTCPeerConnection | None = None
        self.video_codec = video_codec
        #: The video codecs of the server's latest answer (lower-case MIME types).
        self.video_codecs: set[str] = set()
        self._video_kind = (size, noisy)
        self.video = PatternVideoTrack(size, noisy)
        self.audio = AudioStreamTrack()

    async def offer(self) -> str:
        """A fresh publisher connection's offer (also how a client restarts ICE here)."""
        if self.pc is not None:
            await self.pc.close()  # this also ends the old tracks
            self.video = PatternVideoTrack(*self._video_kind)
            self.audio = AudioStreamTrack()
        self.pc = RTCPeerConnection(client_configuration())
        self.pc.addTransceiver(self.audio, direction="sendonly")
        video = self.pc.addTransceiver(self.video, direction="sendonly")
        adapter.restrict_codecs(video, self.video_codec)
        adapter.configure_ice(self.pc, HOST, 1 << 20)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, sdp: str) -> None:
        assert self.pc is not None
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        self.video_codecs = video_codecs_in(sdp)

    async def close(self) -> None:
        if self.pc is not None:
            await self.pc.close()
            self.pc = None


class MediaClient:
    """One simulated participant: a publisher and a subscriber connection."""

    def __init__(
        self,
        pid: str,
        size: tuple[int, int] = (WIDTH, HEIGHT),
        noisy: bool = False,
        video_codec: VideoCodec = VideoCodec.VP8,
    ):
        self.pid = pid
        self.publisher = Publisher(size, noisy, video_codec)
        self.subscriber = Subscriber()

    def count(self, source: str, kind: str) -> int:
        return self.subscriber.counts[(source, kind)]

    def unlabelled(self) -> int:
        """Frames that arrived on a slot the latest offer left without a source."""
        return sum(n for (source, _), n in self.subscriber.counts.items() if source is None)

    async def close(self) -> None:
        await self.subscriber.close()
        await self.publisher.close()
