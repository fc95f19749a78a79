"""The publisher's side: packets and frames taken off aiortc's receivers, keyframe requests."""

from __future__ import annotations

import logging
import queue
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, cast

import aioice
from aiortc import (
    RTCRtpReceiver,
)
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import (
    RtpPacket,
)

from server.rooms.aiortc_adapter.names import (
    _ICE_CONNECTION,
    _ICE_DATA_RECEIVED,
    _ICE_RECV,
    _RX_DECODER_QUEUE,
    _RX_DECODER_THREAD,
    _RX_JITTER_BUFFER,
    _RX_RTX_SSRC,
    _RX_SEND_PLI,
    _STAMPS_MARK,
)
from server.rooms.latency import PROBE

logger = logging.getLogger(__name__)

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


#: ``on_packet(packet, arrival_ns)``: called on the event loop for each RTP
#: packet a tapped receiver takes in (SRTP removed, RTX unwrapped), with its
#: datagram's arrival time (``time.monotonic_ns()``; 0 when not stamped).
PacketCallback = Callable[[RtpPacket, int], None]


class _ArrivalStamps:
    """Arrival times of one ICE connection's datagrams, while the latency probe is on.

    aioice queues each datagram between the socket callback and the task that
    decrypts it; the time is taken in the socket callback and paired with the
    same ``bytes`` object when the DTLS transport takes it from the queue.
    Datagrams queued while the probe was off have no entry and get 0.
    """

    __slots__ = ("pending", "current")

    def __init__(self) -> None:
        self.pending: deque[tuple[bytes, int]] = deque()
        self.current = 0


def _stamp_arrivals(receiver: RTCRtpReceiver) -> _ArrivalStamps:
    """Hook the receiver's ICE connection so arrivals can be timed (once per connection)."""
    ice_transport = receiver.transport.transport
    stamps = getattr(ice_transport, _STAMPS_MARK, None)
    if isinstance(stamps, _ArrivalStamps):
        return stamps
    connection = getattr(ice_transport, _ICE_CONNECTION, None)
    if not isinstance(connection, aioice.Connection):
        raise RuntimeError("aiortc changed: RTCIceTransport has no aioice connection")
    if not callable(getattr(ice_transport, _ICE_RECV, None)):
        raise RuntimeError("aiortc changed: RTCIceTransport has no _recv")
    stamps = _ArrivalStamps()
    pending = stamps.pending
    queue_datagram = connection.data_received
    take_datagram = cast(Callable[[], Awaitable[bytes]], getattr(ice_transport, _ICE_RECV))
    probe = PROBE

    def data_received(data: bytes, component: int) -> None:
        if probe.enabled:
            pending.append((data, time.monotonic_ns()))
        queue_datagram(data, component)

    async def recv() -> bytes:
        data = await take_datagram()
        if pending and pending[0][0] is data:
            stamps.current = pending.popleft()[1]
        else:
            stamps.current = 0
        return data

    setattr(connection, _ICE_DATA_RECEIVED, data_received)
    setattr(ice_transport, _ICE_RECV, recv)
    setattr(ice_transport, _STAMPS_MARK, stamps)
    return stamps


class _PacketTap:
    """Stands in for the receiver's jitter buffer: every packet goes to a callback.

    aiortc's receiver hands each RTP packet to its jitter buffer after doing
    what the publisher needs from the server (receiver reports, REMB, NACKs
    for lost packets, RTX unwrapped) and before any frame is assembled; here
    the packet goes on at once: nothing is buffered, assembled or decoded.
    """

    def __init__(self, on_packet: PacketCallback, stamps: _ArrivalStamps) -> None:
        self.on_packet = on_packet
        self.stamps = stamps

    def add(self, packet: RtpPacket) -> tuple[bool, None]:
        try:
            self.on_packet(packet, self.stamps.current)
        except Exception:  # never break aiortc's receive loop
            logger.exception("RTP packet callback failed")
        return False, None


def tap_rtp_packets(receiver: RTCRtpReceiver, on_packet: PacketCallback) -> None:
    """Hand every RTP packet this receiver takes in to ``on_packet``, as it arrives.

    Call it once the receiver's transport is final (after
    ``setRemoteDescription(offer)``); calling it again replaces the callback.
    The receiver then assembles and decodes nothing (its decoder thread idles).
    """
    current = getattr(receiver, _RX_JITTER_BUFFER, None)
    if isinstance(current, _PacketTap):
        current.on_packet = on_packet
        return
    if not isinstance(current, JitterBuffer):
        raise RuntimeError("aiortc changed: RTCRtpReceiver has no jitter buffer")
    setattr(receiver, _RX_JITTER_BUFFER, _PacketTap(on_packet, _stamp_arrivals(receiver)))


def is_tapped(receiver: RTCRtpReceiver) -> bool:
    return isinstance(getattr(receiver, _RX_JITTER_BUFFER, None), _PacketTap)


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
