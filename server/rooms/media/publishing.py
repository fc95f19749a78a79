"""Publishing: a participant's publisher connection and the sources it feeds.

The browser offers one send-only audio and one send-only video m-section; the
server answers (:meth:`Publisher.offer`). Each RTP packet is taken from
aiortc's receiver as it arrives (see ``aiortc_adapter``) and sent on at once,
rewritten, to the subscriber m-sections the routes allow: nothing is
re-assembled, buffered or queued. A later offer on the same connection (same
ICE ufrag) renegotiates it; an offer with new ICE credentials (an ICE
restart, or a brand-new browser connection after a network drop) gets a new
server-side connection, because aiortc cannot restart ICE. Subscribers then
wait for the next keyframe, which is requested at once.

A :class:`Source` is one participant's audio or video and outlives publisher
connections: subscribers stay attached to it while the publisher reconnects.

Keyframes: a subscriber's video starts (and restarts, after each new run) at
the first packet of a keyframe in the room's codec (VP8's keyframe flag,
H.264's parameter sets or IDR slice: ``server/rooms/h264.py``); a keyframe
request (RTCP PLI) goes to the publisher when a subscriber starts waiting for
one and whenever the subscriber sends PLI/FIR. Requests are rate-limited per publisher to one per
``keyframe_request_interval``; those that arrive meanwhile are folded into one
PLI at the end of the interval, dropped if a keyframe arrives first.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.sdp import SessionDescription

from server.rooms import aiortc_adapter as adapter
from server.rooms.aiortc_adapter import Kind, OutboundStream
from server.rooms.codecs import VideoCodec
from server.rooms.counters import MediaCounters
from server.rooms.media.connections import Connections
from server.rooms.media.errors import MediaError, MediaPortsExhausted
from server.rooms.media.opus_fmtp import ask_for_opus_fec
from server.rooms.routing import KINDS

#: Starts a background task owned by the media server.
Spawn = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[Any]"]


class Source:
    """One participant's audio or video; outlives publisher connections.

    Its :class:`~server.rooms.aiortc_adapter.PacketFanout` gets every RTP
    packet of the current publisher receiver and sends it on to ``sinks``.
    """

    def __init__(
        self,
        pid: str,
        kind: Kind,
        *,
        keyframe_interval: float,
        spawn: Spawn,
        counters: MediaCounters | None = None,
    ) -> None:
        self.pid = pid
        self.kind = kind
        self.fanout = adapter.PacketFanout(kind, on_keyframe=self._keyframe_arrived)
        self.receiver: RTCRtpReceiver | None = None
        self.keyframe_requests = 0  # asked for by subscribers or the forwarder
        self.keyframes_requested = 0  # PLIs actually sent to the publisher
        self._keyframe_interval = keyframe_interval
        self._spawn = spawn
        self._counters = counters if counters is not None else MediaCounters()
        self._last_pli = -math.inf
        self._deferred: asyncio.TimerHandle | None = None

    @property
    def sinks(self) -> set[OutboundStream]:
        return self.fanout.sinks

    def attach(self, receiver: RTCRtpReceiver, video_codec: VideoCodec) -> None:
        """Take packets from this (new) publisher receiver, sending ``video_codec``, from now on."""
        self._silence_receiver()
        self.receiver = receiver
        self.fanout.reset(video_codec)
        adapter.tap_rtp_packets(receiver, self.fanout)
        # A new stream: every subscriber starts a new run and, for video,
        # waits for (and asks for) a keyframe.
        for sink in list(self.sinks):
            sink.switch(self.pid)

    def detach(self) -> None:
        self._silence_receiver()
        self.receiver = None
        self.cancel()

    def _silence_receiver(self) -> None:
        """The old receiver (its connection is closing) feeds nobody any more."""
        if self.receiver is not None:
            adapter.tap_rtp_packets(self.receiver, _ignore_packet)

    def _keyframe_arrived(self) -> None:
        if self._deferred is not None:  # that request is answered
            self._deferred.cancel()
            self._deferred = None

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe, at most once per interval."""
        if self.kind != "video":
            return
        self.keyframe_requests += 1
        if self._deferred is not None:
            return
        loop = asyncio.get_running_loop()
        wait = self._last_pli + self._keyframe_interval - loop.time()
        if wait <= 0:
            self._send_pli()
        else:
            self._deferred = loop.call_later(wait, self._send_pli)

    def _send_pli(self) -> None:
        self._deferred = None
        receiver = self.receiver
        if receiver is None:
            return
        self._last_pli = asyncio.get_running_loop().time()
        self._spawn(self._pli(receiver), f"pli {self.pid}")

    async def _pli(self, receiver: RTCRtpReceiver) -> None:
        if await adapter.request_keyframe(receiver):
            self.keyframes_requested += 1
            self._counters.keyframe_requests_sent += 1
        elif (
            receiver is self.receiver
            and self._deferred is None
            and any(sink.waiting_for_keyframe and sink.sending for sink in self.sinks)
        ):
            # No media from this receiver yet (a new connection): a PLI has no
            # SSRC to go to. Ask again after the interval unless a keyframe
            # arrives first.
            self._deferred = asyncio.get_running_loop().call_later(
                self._keyframe_interval, self._send_pli
            )

    def cancel(self) -> None:
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "frames_in": self.fanout.frames_in,
            "packets_in": self.fanout.packets_in,
            "late_packets": self.fanout.late_packets,
            "subscribers": len(self.sinks),
        }
        if self.kind == "video":
            out |= {
                "keyframes_in": self.fanout.keyframes_in,
                "keyframe_requests": self.keyframe_requests,
                "keyframes_requested": self.keyframes_requested,
            }
        return out


class Sources:
    """Every participant's sources, made on first use.

    A subscriber may be routed a source before its publisher has connected:
    the source exists from then on and the publisher's receiver is attached
    to it when it comes.
    """

    def __init__(
        self, *, keyframe_interval: float, spawn: Spawn, counters: MediaCounters | None = None
    ) -> None:
        self._keyframe_interval = keyframe_interval
        self._spawn = spawn
        self._counters = counters
        self._sources: dict[tuple[str, Kind], Source] = {}

    def get(self, pid: str, kind: Kind) -> Source:
        source = self._sources.get((pid, kind))
        if source is None:
            source = self._sources[(pid, kind)] = Source(
                pid,
                kind,
                keyframe_interval=self._keyframe_interval,
                spawn=self._spawn,
                counters=self._counters,
            )
        return source

    def find(self, pid: str, kind: Kind) -> Source | None:
        return self._sources.get((pid, kind))

    def remove(self, pid: str) -> None:
        """``pid`` left: its sources stop taking packets and asking for keyframes."""
        for kind in KINDS:
            source = self._sources.pop((pid, kind), None)
            if source is not None:
                source.detach()

    def clear(self) -> None:
        for source in self._sources.values():
            source.cancel()
        self._sources.clear()

    def __iter__(self) -> Iterator[Source]:
        return iter(list(self._sources.values()))


class Publisher:
    """One participant's publisher connection, renegotiated or replaced per offer."""

    def __init__(
        self,
        pid: str,
        *,
        connections: Connections,
        sources: Sources,
        is_current: Callable[[], bool],
        video_codec: VideoCodec = VideoCodec.VP8,
    ) -> None:
        self.pid = pid
        #: The room's video codec: the only one this connection negotiates.
        self.video_codec = video_codec
        self.pc: RTCPeerConnection | None = None
        self.ufrag: str | None = None
        self.lock = asyncio.Lock()
        self.pending: list[dict[str, Any]] = []  # trickled candidates awaiting the offer
        self._connections = connections
        self._sources = sources
        self._is_current = is_current

    async def offer(self, sdp: str, offer: SessionDescription) -> str:
        """Answer the browser's offer: renegotiate, or a new connection on new credentials."""
        ufrag = next((m.ice.usernameFragment for m in offer.media if m.ice), None)
        async with self.lock:
            pc = self.pc
            if (
                pc is not None
                and pc.connectionState not in ("failed", "closed")
                and (ufrag == self.ufrag)
            ):
                return await self._renegotiate(pc, sdp)
            return await self._new_connection(sdp, ufrag, offer)

    async def _new_connection(self, sdp: str, ufrag: str | None, offer: SessionDescription) -> str:
        connections = self._connections
        pc = connections.new()
        try:
            # Our own recv-only transceivers, in the offer's order (the first one
            # owns the bundled transport), so the codec preferences apply.
            seen: set[str] = set()
            for media in offer.media:
                if media.kind in KINDS and media.kind not in seen:
                    seen.add(media.kind)
                    adapter.restrict_codecs(
                        pc.addTransceiver(media.kind, direction="recvonly"), self.video_codec
                    )
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            connections.configure_ice(pc)
            await connections.set_local_description(
                pc, await self._answer(pc), f"publisher {self.pid}"
            )
        except MediaPortsExhausted:
            connections.close_later(pc, "publisher without a port")
            raise
        except Exception as exc:
            connections.close_later(pc, "refused publisher")
            raise MediaError(f"the publisher offer was refused: {exc}") from exc
        if connections.closed or not self._is_current():
            connections.close_later(pc, "publisher of a leaver")
            raise MediaError("the participant left meanwhile")
        old = self.pc
        self.pc = pc
        self.ufrag = ufrag
        connections.watch(
            pc, self.pid, "publisher", lambda: self.pc if self._is_current() else None
        )
        self._capture(pc)
        pending, self.pending = self.pending, []
        await connections.flush_candidates(pc, pending)
        if old is not None:
            connections.close_later(old, f"old publisher {self.pid}")
        return str(pc.localDescription.sdp)

    async def _renegotiate(self, pc: RTCPeerConnection, sdp: str) -> str:
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            self._capture(pc)
            await pc.setLocalDescription(await self._answer(pc))
        except Exception as exc:
            raise MediaError(f"the publisher offer was refused: {exc}") from exc
        return str(pc.localDescription.sdp)

    @staticmethod
    async def _answer(pc: RTCPeerConnection) -> RTCSessionDescription:
        """aiortc's answer, asking the publisher's Opus encoder for FEC and DTX."""
        answer = await pc.createAnswer()
        return RTCSessionDescription(sdp=ask_for_opus_fec(answer.sdp), type=answer.type)

    def _capture(self, pc: RTCPeerConnection) -> None:
        """Capture the first audio and the first video receiver of the connection."""
        done: set[str] = set()
        for transceiver in pc.getTransceivers():
            kind = transceiver.kind
            if kind not in KINDS or kind in done:
                continue
            done.add(kind)
            source = self._sources.get(self.pid, "audio" if kind == "audio" else "video")
            if source.receiver is not transceiver.receiver:
                source.attach(transceiver.receiver, self.video_codec)

    def take_pc(self) -> RTCPeerConnection | None:
        """Hand over the connection for closing; the publisher has none afterwards."""
        pc, self.pc = self.pc, None
        return pc

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.pc.connectionState if self.pc else None}
        for kind in KINDS:
            source = self._sources.find(self.pid, kind)
            out[kind] = source.stats() if source else {"frames_in": 0}
        return out


def _ignore_packet(packet: Any, arrival_ns: int) -> None:
    """The packet callback of a receiver that feeds nobody."""
