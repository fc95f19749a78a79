"""The one module that reaches into aiortc (and aioice) internals.

The media plane forwards *encoded* Opus and VP8 frames: it never decodes or
encodes. aiortc has no public API for that, so this module holds the few hooks
it needs, each small and named, and pinned to ``aiortc==1.16.0``
(``tests/rooms/test_aiortc_adapter.py`` fails loudly when an upgrade moves
them). Nothing else in the project touches a private aiortc attribute.

Private attributes used (aiortc 1.16.0, aioice 0.13.0):

- ``RTCRtpReceiver._RTCRtpReceiver__decoder_queue``: the receiver puts every
  re-assembled encoded frame ``(codec, JitterFrame)`` on it from the event
  loop; :func:`capture_encoded_frames` swaps it for a queue that hands the
  frame to a callback instead (the decoder thread then idles until the
  receiver stops). ``RTCRtpReceiver._RTCRtpReceiver__decoder_thread`` is read
  to refuse a receiver that already started.
- ``RTCRtpReceiver._RTCRtpReceiver__rtx_ssrc`` (read) and
  ``RTCRtpReceiver._send_rtcp_pli()``: :func:`request_keyframe` sends a PLI to
  the remote sender's media SSRC.
- ``RTCRtpSender._send_keyframe``: called by the sender for every PLI/FIR it
  receives; in pack mode it does nothing, :func:`hook_keyframe_requests`
  replaces it per instance with a callback.
- ``RTCRtpSender._stream_id`` / ``RTCRtpSender._track_id``: the ``a=msid``
  written in offers; :func:`label_sender` sets them.
- ``RTCIceGatherer._connection`` (the ``aioice.Connection``) and
  ``aioice.Connection._protocols``: :func:`configure_ice` overrides, per
  connection, the public ``Connection.get_component_candidates`` so host
  candidates come from configured addresses (aioice skips 127.0.0.1 when it
  gathers by itself), and raises ``SO_RCVBUF`` on the sockets it opened.

Public aiortc behaviour relied on: ``RTCRtpSender`` packetises ``av.Packet``
objects returned by its track's ``recv()`` without encoding (see
:class:`ForwardingTrack`).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import socket
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from fractions import Fraction
from typing import Any, Literal, cast

import aioice
import aiortc
from aiortc import (
    RTCIceCandidate,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from aiortc.sdp import candidate_from_sdp
from av.packet import Packet
from av.stream import Stream

logger = logging.getLogger(__name__)

#: The aiortc release whose internals this module was written against.
AIORTC_VERSION = "1.16.0"

Kind = Literal["audio", "video"]

#: RTP clock rates of the two forwarded codecs.
CLOCK_RATES: dict[str, int] = {"audio": 48000, "video": 90000}
#: The only codec forwarded per kind (lower-case MIME type).
FORWARDED_MIME: dict[str, str] = {"audio": "audio/opus", "video": "video/vp8"}

_SO_RCVBUFFORCE = 33  # Linux; not exported by the socket module

# Private names (see the module docstring).
_RX_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_RX_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
_RX_DECODER_THREAD = "_RTCRtpReceiver__decoder_thread"
_RX_RTX_SSRC = "_RTCRtpReceiver__rtx_ssrc"
_RX_SEND_PLI = "_send_rtcp_pli"
_TX_SEND_KEYFRAME = "_send_keyframe"
_TX_STREAM_ID = "_stream_id"
_TX_TRACK_ID = "_track_id"
_GATHERER_CONNECTION = "_connection"
_ICE_PROTOCOLS = "_protocols"
_ICE_GATHER_METHOD = "get_component_candidates"  # public, overridden per instance
_HOOK_MARK = "_concord_hooked"


def aiortc_version_supported() -> bool:
    """Whether the installed aiortc is the release these hooks were written for."""
    return bool(aiortc.__version__ == AIORTC_VERSION)


# --- codecs ---------------------------------------------------------------------------


def codec_preferences(kind: str) -> list[RTCRtpCodecCapability]:
    """Opus for audio; VP8 (and its RTX, for retransmissions) for video."""
    capabilities = RTCRtpSender.getCapabilities(kind).codecs
    wanted = {FORWARDED_MIME[kind]} | ({"video/rtx"} if kind == "video" else set())
    chosen = [c for c in capabilities if c.mimeType.lower() in wanted]
    if not any(c.mimeType.lower() == FORWARDED_MIME[kind] for c in chosen):
        raise RuntimeError(f"aiortc offers no {FORWARDED_MIME[kind]}")
    return chosen


def restrict_codecs(transceiver: RTCRtpTransceiver) -> None:
    """Negotiate only the forwarded codec on this transceiver (public aiortc API)."""
    transceiver.setCodecPreferences(codec_preferences(transceiver.kind))


def is_vp8_keyframe(data: bytes) -> bool:
    """A VP8 frame (payload descriptor already stripped) that starts a keyframe.

    RFC 6386 section 9.1: bit 0 of the frame tag is the inverse key-frame flag
    (the "P bit" of RFC 7741 section 4.3), and a keyframe's tag is followed by
    the start code 9d 01 2a.
    """
    return len(data) >= 10 and (data[0] & 0x01) == 0 and data[3:6] == b"\x9d\x01\x2a"


# --- capture at the publisher's receiver ----------------------------------------------

#: ``on_frame(mime_type_lower, encoded_bytes, rtp_timestamp)``; called on the event loop.
FrameCallback = Callable[[str, bytes, int], None]


class _CaptureQueue(queue.Queue[Any]):
    """Stands in for the receiver's decoder queue: frames go to a callback.

    The receiver puts ``(codec, JitterFrame)`` for each re-assembled frame and
    ``None`` when it stops; ``None`` is queued so the (idle) decoder thread
    wakes up and ends as before.
    """

    def __init__(self, on_frame: FrameCallback) -> None:
        super().__init__()
        self.on_frame = on_frame

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            super().put(None, block, timeout)
            return
        try:
            codec, frame = item
            self.on_frame(codec.mimeType.lower(), frame.data, frame.timestamp)
        except Exception:  # never break aiortc's receive loop
            logger.exception("encoded frame callback failed")


class PromptJitterBuffer(JitterBuffer):
    """Hands audio on at once instead of holding four frames.

    aiortc's buffer feeds a decoder, so it holds four Opus frames (80 ms); a
    forwarder decodes nothing and every Opus packet is a frame, so each goes
    on as it arrives (the receiving browser does its own jitter buffering).
    Video keeps aiortc's rule (a frame goes when the next one begins): releasing
    it at the RTP marker instead cut 67 ms from joins but left some subscribers
    unable to decode after quick renegotiations (tests/rooms/test_media.py
    ``test_renegotiation_is_serialised_per_subscriber``), cause not yet found.
    """

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        if self._is_video:
            return super()._remove_frame(sequence_number)
        packets: list[Any] = []
        timestamp: int | None = None
        assert self._origin is not None
        for count in range(self.capacity):
            packet = self._packets[(self._origin + count) % self._capacity]
            if packet is None:
                return None
            if timestamp is None:
                timestamp = packet.timestamp
            elif packet.timestamp != timestamp:
                return self._take(packets, timestamp, count)
            packets.append(packet)
            if packet.marker or not self._is_video:
                return self._take(packets, timestamp, count + 1)
        return None

    def _take(self, packets: list[Any], timestamp: int, count: int) -> JitterFrame:
        frame = JitterFrame(data=b"".join(p._data for p in packets), timestamp=timestamp)
        self.remove(count)
        return frame


def capture_encoded_frames(receiver: RTCRtpReceiver, on_frame: FrameCallback) -> None:
    """Hand every encoded frame this receiver re-assembles to ``on_frame``.

    Call it after ``setRemoteDescription(offer)`` and before the connection
    connects (the receiver starts its decoder thread on connection, reading the
    queue it holds then). Frame timestamps are the receiver's RTP timestamps
    re-based to 0 at its first frame (aiortc's ``TimestampMapper``), unwrapped.
    Calling it again replaces the callback.
    """
    current = getattr(receiver, _RX_DECODER_QUEUE)
    if isinstance(current, _CaptureQueue):
        current.on_frame = on_frame
        return
    if not isinstance(current, queue.Queue):
        raise RuntimeError("aiortc changed: RTCRtpReceiver has no decoder queue")
    if getattr(receiver, _RX_DECODER_THREAD) is not None:
        raise RuntimeError("the receiver already started: capture must precede connection")
    current_buffer = getattr(receiver, _RX_JITTER_BUFFER)
    if not isinstance(current_buffer, JitterBuffer):
        raise RuntimeError("aiortc changed: RTCRtpReceiver has no jitter buffer")
    setattr(
        receiver,
        _RX_JITTER_BUFFER,
        PromptJitterBuffer(capacity=current_buffer.capacity, is_video=current_buffer._is_video),
    )
    setattr(receiver, _RX_DECODER_QUEUE, _CaptureQueue(on_frame))


def is_capturing(receiver: RTCRtpReceiver) -> bool:
    return isinstance(getattr(receiver, _RX_DECODER_QUEUE, None), _CaptureQueue)


async def request_keyframe(receiver: RTCRtpReceiver) -> int:
    """Send an RTCP PLI for each media SSRC this receiver heard in the last 10 s.

    Returns the number of PLIs sent (0 before any media arrived).
    """
    rtx: dict[int, int] = getattr(receiver, _RX_RTX_SSRC)
    send_pli = cast(Callable[[int], Awaitable[None]], getattr(receiver, _RX_SEND_PLI))
    sent = 0
    for source in receiver.getSynchronizationSources():
        if source.source not in rtx:
            await send_pli(source.source)
            sent += 1
    return sent


# --- the subscriber side: senders -----------------------------------------------------


def hook_keyframe_requests(sender: RTCRtpSender, on_request: Callable[[], None]) -> None:
    """Call ``on_request`` for each PLI or FIR the remote receiver sends to ``sender``."""
    if not callable(getattr(RTCRtpSender, _TX_SEND_KEYFRAME, None)):
        raise RuntimeError("aiortc changed: RTCRtpSender._send_keyframe is gone")

    def send_keyframe() -> None:
        try:
            on_request()
        except Exception:  # never break aiortc's RTCP handling
            logger.exception("keyframe request callback failed")

    setattr(sender, _TX_SEND_KEYFRAME, send_keyframe)


def label_sender(sender: RTCRtpSender, stream_id: str, track_id: str) -> None:
    """Set the ``a=msid:<stream_id> <track_id>`` the next offer carries for this sender."""
    if not hasattr(sender, _TX_STREAM_ID) or not hasattr(sender, _TX_TRACK_ID):
        raise RuntimeError("aiortc changed: RTCRtpSender has no _stream_id/_track_id")
    setattr(sender, _TX_STREAM_ID, stream_id)
    setattr(sender, _TX_TRACK_ID, track_id)


class ForwardingTrack(MediaStreamTrack):
    """An outbound track whose ``recv()`` returns encoded frames as ``av.Packet``.

    ``RTCRtpSender`` packetises packets as they are (VP8 payload descriptor
    added, Opus as is) without an encoder. The track:

    - accepts frames only once the sender pulls (so nothing piles up while the
      connection is being negotiated);
    - for video, drops frames after each :meth:`switch` until a keyframe and
      asks for one through ``on_keyframe_needed`` (on the first pull, on a
      switch while pulling, and when its queue overflows);
    - keeps RTP timestamps monotonic across switches: after each switch the
      incoming timestamps are re-based so the output continues from the last
      one plus the wall-clock time elapsed (at least one tick);
    - never raises from ``recv()`` (that would end the sender's task for good):
      with nothing queued it waits, and it is cancelled when the sender stops.
    """

    def __init__(
        self,
        kind: Kind,
        *,
        on_keyframe_needed: Callable[[], None] | None = None,
        max_queue: int | None = None,
    ) -> None:
        super().__init__()
        self.kind = kind
        self._clock_rate = CLOCK_RATES[kind]
        self._time_base = Fraction(1, self._clock_rate)
        self._on_keyframe_needed = on_keyframe_needed
        self._max_queue = max_queue or (60 if kind == "video" else 25)
        self._queue: deque[tuple[bytes, int, str | None]] = deque()
        self._wakeup = asyncio.Event()
        self._pulling = False
        self._label: str | None = None
        self._waiting_keyframe = kind == "video"
        self._offset: int | None = None
        self._last_out: int | None = None
        self._last_wall = 0.0
        # statistics
        self.frames_out = 0
        self.frames_out_by_label: dict[str, int] = {}
        self.frames_dropped = 0
        self.resumed_with_keyframe = 0
        self.resumed_without_keyframe = 0
        self._first_after_switch = True

    @property
    def label(self) -> str | None:
        """Who the frames come from now (the source participant id), or None."""
        return self._label

    @property
    def pulling(self) -> bool:
        return self._pulling

    @property
    def waiting_for_keyframe(self) -> bool:
        return self._waiting_keyframe

    def switch(self, label: str | None) -> None:
        """Start a new run of frames (another source, or the same one resumed)."""
        self._queue.clear()
        self._label = label
        self._offset = None
        self._first_after_switch = True
        if self.kind == "video":
            self._waiting_keyframe = True
            if label is not None and self._pulling:
                self._ask_keyframe()

    def push(self, data: bytes, timestamp: int, keyframe: bool = False) -> bool:
        """Queue one encoded frame; returns whether it was accepted."""
        if not self._pulling or self._label is None:
            return False
        if self._waiting_keyframe:
            if not keyframe:
                self.frames_dropped += 1
                return False
            self._waiting_keyframe = False
        if len(self._queue) >= self._max_queue:
            self.frames_dropped += 1
            if self.kind == "video":
                self.frames_dropped += len(self._queue)
                self._queue.clear()
                self._waiting_keyframe = True
                self._ask_keyframe()
                return False
            self._queue.popleft()
        now = time.monotonic()
        if self._offset is None:
            if self._last_out is None:
                self._offset = -timestamp
            else:
                gap = max(1, int((now - self._last_wall) * self._clock_rate))
                self._offset = self._last_out + gap - timestamp
        out = timestamp + self._offset
        if self._last_out is not None and out <= self._last_out:
            # The source's clock went backwards: keep ours moving.
            self._offset += self._last_out + 1 - out
            out = self._last_out + 1
        self._last_out = out
        self._last_wall = now
        if self._first_after_switch:
            self._first_after_switch = False
            if self.kind == "video":
                if keyframe:
                    self.resumed_with_keyframe += 1
                else:
                    self.resumed_without_keyframe += 1
        self._queue.append((data, out, self._label))
        self._wakeup.set()
        return True

    async def recv(self) -> Packet[Stream]:
        if not self._pulling:
            self._pulling = True
            if self.kind == "video" and self._label is not None and self._waiting_keyframe:
                self._ask_keyframe()
        while not self._queue:
            self._wakeup.clear()
            await self._wakeup.wait()
        data, pts, label = self._queue.popleft()
        packet: Packet[Stream] = Packet(data)
        packet.pts = pts
        packet.time_base = self._time_base
        self.frames_out += 1
        if label is not None:
            self.frames_out_by_label[label] = self.frames_out_by_label.get(label, 0) + 1
        return packet

    def _ask_keyframe(self) -> None:
        if self._on_keyframe_needed is not None:
            try:
                self._on_keyframe_needed()
            except Exception:
                logger.exception("keyframe-needed callback failed")


# --- ICE: host addresses, socket buffers, bundled candidates ---------------------------


def _set_receive_buffer(sock: socket.socket, size: int) -> int:
    """Raise SO_RCVBUF to ``size``, past ``net.core.rmem_max`` when privileged.

    Returns what the kernel reports (Linux doubles the value it grants, for
    its bookkeeping).
    """
    linux = sys.platform.startswith("linux")
    granted = 2 * size if linux else size
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        if linux and sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) < granted:
            try:
                sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, size)
            except PermissionError:
                logger.warning(
                    "UDP receive buffer capped at %d bytes: raise net.core.rmem_max to %d",
                    sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2,
                    size,
                )
    except OSError as exc:
        logger.warning("could not set SO_RCVBUF=%d: %s", size, exc)
    return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


def _ice_connections(pc: RTCPeerConnection) -> list[aioice.Connection]:
    connections: list[aioice.Connection] = []
    for transceiver in pc.getTransceivers():
        gatherer = transceiver.receiver.transport.transport.iceGatherer
        connection = getattr(gatherer, _GATHERER_CONNECTION)
        if not isinstance(connection, aioice.Connection):
            raise RuntimeError("aiortc changed: RTCIceGatherer has no aioice connection")
        if connection not in connections:
            connections.append(connection)
    return connections


def _gather_on(
    connection: aioice.Connection, host_addresses: list[str], receive_buffer: int
) -> Callable[..., Awaitable[list[aioice.Candidate]]]:
    original = connection.get_component_candidates

    async def get_component_candidates(
        component: int,
        addresses: list[str],
        timeout: int = 5,  # noqa: ASYNC109 (aioice's signature)
    ) -> list[aioice.Candidate]:
        protocols: list[Any] = getattr(connection, _ICE_PROTOCOLS)
        before = len(protocols)
        candidates = await original(
            component=component, addresses=host_addresses or addresses, timeout=timeout
        )
        for protocol in protocols[before:]:
            transport = getattr(protocol, "transport", None)
            sock = transport.get_extra_info("socket") if transport is not None else None
            if sock is not None:
                _set_receive_buffer(sock, receive_buffer)
        return candidates

    return get_component_candidates


def configure_ice(
    pc: RTCPeerConnection, host_addresses: Sequence[str], receive_buffer: int
) -> None:
    """Gather host candidates on ``host_addresses`` only; raise UDP receive buffers.

    Overrides ``get_component_candidates`` on each ``aioice.Connection`` of the
    peer connection (that instance only; nothing global). With an empty list
    aioice picks the machine's addresses as usual (and skips loopback). Call it
    after the transceivers exist and before ``setLocalDescription`` (which
    gathers); calling it again is harmless.
    """
    for connection in _ice_connections(pc):
        if getattr(connection, _HOOK_MARK, False):
            continue
        if not isinstance(getattr(connection, _ICE_PROTOCOLS, None), list):
            raise RuntimeError("aioice changed: Connection has no _protocols list")
        hook = _gather_on(connection, list(host_addresses), receive_buffer)
        setattr(connection, _ICE_GATHER_METHOD, hook)
        setattr(connection, _HOOK_MARK, True)


def receive_buffer_sizes(pc: RTCPeerConnection) -> list[int]:
    """SO_RCVBUF of each UDP socket the connection's ICE agents opened (as the kernel reports)."""
    sizes: list[int] = []
    for connection in _ice_connections(pc):
        for protocol in getattr(connection, _ICE_PROTOCOLS):
            transport = getattr(protocol, "transport", None)
            sock = transport.get_extra_info("socket") if transport is not None else None
            if sock is not None:
                sizes.append(int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)))
    return sizes


def local_candidates(pc: RTCPeerConnection) -> list[RTCIceCandidate]:
    """Local candidates of the (bundled) ICE transport."""
    for transceiver in pc.getTransceivers()[:1]:
        return transceiver.receiver.transport.transport.iceGatherer.getLocalCandidates()
    return []


def remote_candidates(pc: RTCPeerConnection) -> list[RTCIceCandidate]:
    """Remote candidates known to the (bundled) ICE transport."""
    for transceiver in pc.getTransceivers()[:1]:
        return transceiver.receiver.transport.transport.getRemoteCandidates()
    return []


def parse_candidate(line: str) -> RTCIceCandidate | None:
    """``candidate:...`` (with or without ``a=``) as an aiortc candidate; None if empty."""
    text = line.strip()
    if text.startswith("a="):
        text = text[2:]
    if text.startswith("candidate:"):
        text = text[len("candidate:") :]
    if not text:
        return None
    try:
        return candidate_from_sdp(text)
    except (AssertionError, ValueError, IndexError) as exc:
        raise ValueError(f"malformed ICE candidate: {line!r}") from exc


def candidate_ufrag(line: str) -> str | None:
    """The ``ufrag`` extension attribute browsers add to trickled candidates."""
    bits = line.split()
    for i in range(len(bits) - 1):
        if bits[i] == "ufrag":
            return bits[i + 1]
    return None


async def add_bundled_candidate(pc: RTCPeerConnection, candidate: RTCIceCandidate | None) -> None:
    """Add a remote candidate to the connection's one (max-bundle) ICE transport.

    aiortc applies a candidate only to the m-section it names and ignores
    bundled ones; browsers name whichever section they like (aiortc issue
    1437). The candidate is re-addressed to the first transceiver's mid, which
    owns the transport. ``None`` signals end-of-candidates.
    """
    transceivers = pc.getTransceivers()
    if not transceivers or transceivers[0].mid is None:
        raise ValueError("no negotiated media section to add the candidate to")
    if candidate is not None:
        candidate.sdpMid = transceivers[0].mid
        candidate.sdpMLineIndex = None
    await pc.addIceCandidate(candidate)
