"""The one module that reaches into aiortc (and aioice) internals.

The media plane forwards RTP *packets*: it never decodes, encodes or even
re-assembles frames. A publisher's packets are taken from its receiver as
they arrive and sent on at once, rewritten per subscriber (SSRC, payload
type, sequence number, timestamp, mid), on each subscriber connection's own
SRTP session and ICE pair. aiortc has no public API for any of that, so this
module holds the hooks it needs, each small and named, pinned to
``aiortc==1.16.0`` (``tests/rooms/test_aiortc_adapter.py`` fails loudly when
an upgrade moves them). Nothing else in the project touches a private aiortc
attribute. Why packets and not frames: measured, re-packetising frames in
aiortc's sender cost about half the server's CPU, and the receiver's jitter
buffer held every video frame one frame interval (67 ms at 15 fps) before it
could be forwarded.

Private attributes used (aiortc 1.16.0, aioice 0.13.0):

- Publisher side. ``RTCRtpReceiver._RTCRtpReceiver__jitter_buffer``: the
  receiver hands it every RTP packet (SRTP removed, RTX unwrapped) after its
  own bookkeeping (receiver reports, REMB, NACKs upstream);
  :func:`tap_rtp_packets` swaps it for a tap that hands the packet to a
  callback. ``RTCIceTransport._connection`` / ``._recv`` and
  ``aioice.Connection.data_received`` (public, overridden per instance):
  wrapped to time each datagram's arrival for the latency probe.
  ``RTCRtpReceiver._RTCRtpReceiver__rtx_ssrc`` (read) and
  ``RTCRtpReceiver._send_rtcp_pli()``: :func:`request_keyframe` sends a PLI.
- Subscriber side (:class:`OutboundStream`). ``RTCRtpSender.send`` (public,
  wrapped per instance) to learn the negotiated payload types, header
  extension ids and mid; ``RTCRtpSender._ssrc`` / ``._rtx_ssrc``;
  ``RTCDtlsTransport._state`` / ``._tx_srtp`` and the ICE connection's
  ``_nominated`` pair, to protect and send a packet synchronously;
  ``RTCRtpSender._retransmit`` (replaced per instance: NACKs are answered from
  the stream's own history) and ``RTCRtpSender._send_rtcp`` (wrapped per
  instance: sender reports get the stream's counts and RTP time, and
  ``__lsr``/``__lsr_time``/``__ntp_timestamp``/``__rtp_timestamp``/
  ``__packet_count``/``__octet_count`` are set for RTT and ``getStats()``);
  ``RTCRtpSender._send_keyframe``: called for every PLI/FIR the subscriber
  sends, :func:`hook_keyframe_requests` replaces it per instance;
  ``RTCRtpSender._stream_id`` / ``._track_id``: the ``a=msid`` written in
  offers, :func:`label_sender` sets them. ``RTCRtpSender._handle_rtcp_packet``
  (wrapped per instance) and ``__rtt`` (read): :func:`hook_feedback` passes the
  subscriber's receiver reports and REMB on, for the link-quality rule.
- Frames, for the benchmark's clients (not the server):
  ``RTCRtpReceiver._RTCRtpReceiver__decoder_queue`` (and ``__decoder_thread``,
  read): :func:`capture_encoded_frames` takes the re-assembled encoded frames
  off it.
- ICE. ``RTCIceGatherer._connection`` (the ``aioice.Connection``) and
  ``aioice.Connection._protocols``: :func:`configure_ice` overrides, per
  connection, the public ``Connection.get_component_candidates`` so host
  candidates come from configured addresses (aioice skips 127.0.0.1 when it
  gathers by itself), and raises ``SO_RCVBUF`` on the sockets it opened.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import random
import socket
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import aioice
import aiortc
import pylibsrtp
from aiortc import (
    RTCIceCandidate,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    clock,
)
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpSendParameters
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpSenderInfo,
    RtcpSrPacket,
    RtpPacket,
    unpack_remb_fci,
)
from aiortc.sdp import candidate_from_sdp
from av.packet import Packet
from av.stream import Stream

from server.rooms.latency import PROBE
from server.rooms.rtp import RtpRewriter, one_byte_extensions, rtx_packet, vp8_keyframe_start

logger = logging.getLogger(__name__)

#: The aiortc release whose internals this module was written against.
AIORTC_VERSION = "1.16.0"

Kind = Literal["audio", "video"]

#: RTP clock rates of the two forwarded codecs.
CLOCK_RATES: dict[str, int] = {"audio": 48000, "video": 90000}
#: The only codec forwarded per kind (lower-case MIME type).
FORWARDED_MIME: dict[str, str] = {"audio": "audio/opus", "video": "video/vp8"}
#: The one header extension written on forwarded packets.
MID_EXTENSION = "urn:ietf:params:rtp-hdrext:sdes:mid"
#: Packets kept per video stream to answer NACKs (about 1.5 s at 500 kbps).
HISTORY_SIZE = 512

_SO_RCVBUFFORCE = 33  # Linux; not exported by the socket module

# Private names (see the module docstring).
_RX_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_RX_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
_RX_DECODER_THREAD = "_RTCRtpReceiver__decoder_thread"
_RX_RTX_SSRC = "_RTCRtpReceiver__rtx_ssrc"
_RX_SEND_PLI = "_send_rtcp_pli"
_TX_SEND_KEYFRAME = "_send_keyframe"
_TX_HANDLE_RTCP = "_handle_rtcp_packet"
_TX_RTT = "_RTCRtpSender__rtt"
_TX_STREAM_ID = "_stream_id"
_TX_TRACK_ID = "_track_id"
_TX_SEND = "send"
_TX_SEND_RTCP = "_send_rtcp"
_TX_RETRANSMIT = "_retransmit"
_TX_LSR = "_RTCRtpSender__lsr"
_TX_LSR_TIME = "_RTCRtpSender__lsr_time"
_TX_NTP_TIMESTAMP = "_RTCRtpSender__ntp_timestamp"
_TX_RTP_TIMESTAMP = "_RTCRtpSender__rtp_timestamp"
_TX_PACKET_COUNT = "_RTCRtpSender__packet_count"
_TX_OCTET_COUNT = "_RTCRtpSender__octet_count"
_DTLS_STATE = "_state"
_DTLS_CONNECTED = DtlsState.CONNECTED
_DTLS_TX_SRTP = "_tx_srtp"
_ICE_CONNECTION = "_connection"  # RTCIceTransport's aioice.Connection
_ICE_RECV = "_recv"
_ICE_NOMINATED = "_nominated"
_ICE_DATA_RECEIVED = "data_received"  # public, overridden per instance
_STAMPS_MARK = "_concord_arrivals"
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


@dataclass(frozen=True, slots=True)
class ReceiverFeedback:
    """What a subscriber's receiver said about one of our senders' streams.

    From a receiver report: ``fraction_lost`` (0..1) and the round trip aiortc
    worked out from it (seconds, None before the first); from a REMB: the
    receiver's estimate of what its link can take (bits/s).
    """

    fraction_lost: float | None = None
    rtt: float | None = None
    estimate_bps: int | None = None


def hook_feedback(sender: RTCRtpSender, on_feedback: Callable[[ReceiverFeedback], None]) -> None:
    """Call ``on_feedback`` for each receiver report block and REMB about ``sender``'s SSRC.

    aiortc handles them first (its round-trip estimate needs the report); the
    callback then reads the result. ``_handle_rtcp_packet`` is wrapped per instance.
    """
    handle = getattr(sender, _TX_HANDLE_RTCP, None)
    if not callable(handle):
        raise RuntimeError("aiortc changed: RTCRtpSender._handle_rtcp_packet is gone")

    async def handle_rtcp_packet(packet: Any) -> None:
        await handle(packet)
        feedback: ReceiverFeedback | None = None
        if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
            for report in packet.reports:
                if report.ssrc == sender._ssrc:
                    rtt = getattr(sender, _TX_RTT, None)
                    feedback = ReceiverFeedback(
                        fraction_lost=report.fraction_lost / 256,
                        rtt=float(rtt) if rtt is not None else None,
                    )
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            try:
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
            except ValueError:
                return
            if sender._ssrc in ssrcs:
                feedback = ReceiverFeedback(estimate_bps=int(bitrate))
        if feedback is not None:
            try:
                on_feedback(feedback)
            except Exception:  # never break aiortc's RTCP handling
                logger.exception("receiver feedback callback failed")

    setattr(sender, _TX_HANDLE_RTCP, handle_rtcp_packet)


def label_sender(sender: RTCRtpSender, stream_id: str, track_id: str) -> None:
    """Set the ``a=msid:<stream_id> <track_id>`` the next offer carries for this sender."""
    if not hasattr(sender, _TX_STREAM_ID) or not hasattr(sender, _TX_TRACK_ID):
        raise RuntimeError("aiortc changed: RTCRtpSender has no _stream_id/_track_id")
    setattr(sender, _TX_STREAM_ID, stream_id)
    setattr(sender, _TX_TRACK_ID, track_id)


class OutboundStream(MediaStreamTrack):
    """One subscriber m-section: source packets in, rewritten SRTP packets out.

    It is the track of the m-section's ``RTCRtpSender`` (which pulls from it
    and gets nothing: it waits until the sender stops), and the sink a
    :class:`PacketFanout` hands each source packet to. :meth:`attach` hooks
    the sender so that the stream learns the negotiated SSRC, payload types
    and mid when the sender starts, answers the subscriber's NACKs from a
    short history (over RTX), and fills the sender's RTCP sender reports with
    what was really sent. Packets go out synchronously, on the DTLS
    transport's SRTP session and the ICE pair it uses: nothing queues, so a
    stream that stops being fed (a caucus opens) stops at the next packet.

    - Sequence numbers and timestamps are rewritten by an
      :class:`~server.rooms.rtp.RtpRewriter`: one continuous stream across
      sources and pauses, the source's gaps kept within a run.
    - Packets go out only while the stream is :meth:`live <set_live>` (the
      subscriber has this source's m-section enabled) and the sender started.
    - Video starts (after each :meth:`switch` and on becoming live) only at
      the first packet of a VP8 keyframe, and asks for one through
      ``on_keyframe_needed`` whenever it starts waiting while live and sending.
    - Only the mid header extension is written (the subscriber's own id and
      mid); the publisher's extensions belong to its own negotiation.
    """

    def __init__(
        self,
        kind: Kind,
        *,
        on_keyframe_needed: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.kind = kind
        self._video = kind == "video"
        self._rewriter = RtpRewriter(CLOCK_RATES[kind])
        self._on_keyframe_needed = on_keyframe_needed
        self._label: str | None = None
        self._waiting_keyframe = self._video
        self._first_after_switch = True
        self._sender: RTCRtpSender | None = None
        self._sending = False
        self._live = False
        self._dtls: RTCDtlsTransport | None = None
        self._ice: aioice.Connection | None = None
        # (sequence number, timestamp, marker, payload) of the packets sent, by
        # sequence number modulo HISTORY_SIZE.
        self._history: list[tuple[int, int, int, bytes] | None] | None = (
            [None] * HISTORY_SIZE if self._video else None
        )
        self._rtx_payload_type: int | None = None
        self._rtx_ssrc = 0
        self._rtx_seq = random.randrange(0x8000)
        # statistics
        self.packets_out = 0
        self.frames_out = 0
        self.frames_out_by_label: dict[str, int] = {}
        self.frames_dropped = 0
        self.resumed_with_keyframe = 0
        self.resumed_without_keyframe = 0
        self.retransmissions = 0

    @property
    def label(self) -> str | None:
        """Who the packets come from now (the source participant id), or None."""
        return self._label

    @property
    def octets_out(self) -> int:
        """Payload bytes sent so far (what the sender reports count)."""
        return self._rewriter.octet_count

    @property
    def sending(self) -> bool:
        """The sender started: the m-section was negotiated and DTLS is up."""
        return self._sending

    @property
    def waiting_for_keyframe(self) -> bool:
        return self._waiting_keyframe

    def attach(self, sender: RTCRtpSender) -> None:
        """Hook the sender whose track this is (once, right after ``addTransceiver``)."""
        for name in (_TX_SEND_RTCP, _TX_RETRANSMIT):
            if not callable(getattr(RTCRtpSender, name, None)):
                raise RuntimeError(f"aiortc changed: RTCRtpSender.{name} is gone")
        self._sender = sender
        start = sender.send
        send_rtcp = cast(Callable[[list[Any]], Awaitable[None]], getattr(sender, _TX_SEND_RTCP))

        async def send(parameters: RTCRtpSendParameters) -> None:
            await start(parameters)
            self._start(sender, parameters)

        async def retransmit(sequence_number: int) -> None:
            self._retransmit(sequence_number)

        async def send_rtcp_reports(packets: list[Any]) -> None:
            for packet in packets:
                if isinstance(packet, RtcpSrPacket) and packet.ssrc == sender._ssrc:
                    self._fill_sender_report(sender, packet)
            await send_rtcp(packets)

        setattr(sender, _TX_SEND, send)  # public, overridden per instance
        setattr(sender, _TX_RETRANSMIT, retransmit)
        setattr(sender, _TX_SEND_RTCP, send_rtcp_reports)

    @property
    def live(self) -> bool:
        return self._live

    def switch(self, label: str | None) -> None:
        """Start a new run of packets (another source, or the same one resumed)."""
        self._label = label
        self._restart()

    def set_live(self, live: bool) -> None:
        """Whether the subscriber's m-section is receiving this source now.

        Packets are sent only while live, and becoming live starts a new run.
        A browser drops what arrives on an m-section it has not (or no longer)
        enabled; had those packets been numbered, the receiver would see a
        hole that no retransmission may fill (aiortc receivers, for one,
        cannot route RTX with more than one video m-section and stall at the
        hole), so a stream numbers only packets that can arrive.
        """
        if live and not self._live:
            self._live = True
            self._restart()
        else:
            self._live = live

    def _restart(self) -> None:
        self._rewriter.restart()
        self._first_after_switch = True
        if self._video:
            self._waiting_keyframe = True
            if self._label is not None and self._sending and self._live:
                self._ask_keyframe()

    def forward(self, packet: RtpPacket, keyframe: bool, now: float, arrival_ns: int) -> bool:
        """Send one source packet on (rewritten); returns whether it went out.

        ``keyframe``: the packet starts a VP8 keyframe; ``now``: its arrival on
        the monotonic clock (seconds); ``arrival_ns``: its datagram's arrival
        for the latency probe (0: not stamped).
        """
        if not (self._sending and self._live) or self._label is None:
            return False
        if self._waiting_keyframe:
            if not keyframe:
                if packet.marker:
                    self.frames_dropped += 1
                return False
            self._waiting_keyframe = False
        out = self._rewriter.rewrite(
            packet.sequence_number, packet.timestamp, packet.marker, packet.payload, now
        )
        if out is None:
            return False
        sequence_number, timestamp, data = out
        if self._history is not None:
            # The payload is shared with every other subscriber of the source;
            # the header is rebuilt if a NACK asks for the packet again.
            self._history[sequence_number % HISTORY_SIZE] = (
                sequence_number,
                timestamp,
                packet.marker,
                packet.payload,
            )
        if not self._send(data):
            return False
        if arrival_ns and PROBE.enabled:
            PROBE.record(arrival_ns, time.monotonic_ns())
        self.packets_out += 1
        if packet.marker or not self._video:
            self.frames_out += 1
            label = self._label
            self.frames_out_by_label[label] = self.frames_out_by_label.get(label, 0) + 1
        if self._first_after_switch:
            self._first_after_switch = False
            if self._video:
                if keyframe:
                    self.resumed_with_keyframe += 1
                else:
                    self.resumed_without_keyframe += 1
        return True

    async def recv(self) -> Packet[Stream]:
        """Never returns: packets bypass the sender's RTP loop (see the class docstring).

        It must not raise either (that would end the sender's task for good);
        it is cancelled when the sender stops.
        """
        while True:
            await asyncio.Event().wait()

    # -- internals ---------------------------------------------------------------------

    def _start(self, sender: RTCRtpSender, parameters: RTCRtpSendParameters) -> None:
        if not parameters.codecs:
            return
        codec = parameters.codecs[0]
        if codec.mimeType.lower() != FORWARDED_MIME[self.kind] or codec.payloadType is None:
            logger.warning("subscriber negotiated %s, not %s", codec.mimeType, self.kind)
            return
        elements: list[tuple[int, bytes]] = []
        mid = (parameters.muxId or "").encode()
        for extension in parameters.headerExtensions:
            if extension.uri == MID_EXTENSION and 1 <= len(mid) <= 16:
                elements.append((extension.id, mid))
        self._rewriter.configure(sender._ssrc, codec.payloadType, one_byte_extensions(elements))
        self._rtx_payload_type = next(
            (
                c.payloadType
                for c in parameters.codecs
                if c.mimeType.lower() == "video/rtx"
                and c.parameters.get("apt") == codec.payloadType
            ),
            None,
        )
        self._rtx_ssrc = sender._rtx_ssrc
        was_sending, self._sending = self._sending, True
        if not was_sending and self._video and self._label is not None and self._live:
            self._ask_keyframe()

    def _send(self, data: bytes) -> bool:
        """SRTP-protect and send one RTP packet on the sender's transport, now."""
        sender = self._sender
        if sender is None:
            return False
        dtls = sender.transport
        if dtls is not self._dtls:
            self._dtls = dtls
            ice = getattr(dtls.transport, _ICE_CONNECTION, None)
            self._ice = ice if isinstance(ice, aioice.Connection) else None
        if self._ice is None or getattr(dtls, _DTLS_STATE) is not _DTLS_CONNECTED:
            return False
        pair = getattr(self._ice, _ICE_NOMINATED).get(1)
        if pair is None:
            return False
        try:
            protected = getattr(dtls, _DTLS_TX_SRTP).protect(data)
        except pylibsrtp.Error as exc:
            logger.debug("SRTP protect failed: %s", exc)
            return False
        pair.protocol.transport.sendto(protected, pair.remote_addr)
        return True

    def _retransmit(self, sequence_number: int) -> None:
        """Answer a subscriber's NACK from the history, over RTX (never the same SSRC+seq twice)."""
        if self._history is None or self._rtx_payload_type is None:
            return
        entry = self._history[sequence_number % HISTORY_SIZE]
        if entry is None or entry[0] != sequence_number:
            return
        packet = rtx_packet(
            self._rewriter.build(*entry),
            self._rewriter.header_length,
            payload_type=self._rtx_payload_type,
            seq=self._rtx_seq,
            ssrc=self._rtx_ssrc,
        )
        self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
        if self._send(packet):
            self.retransmissions += 1

    def _fill_sender_report(self, sender: RTCRtpSender, report: RtcpSrPacket) -> None:
        """Put what this stream sent in the SR aiortc's sender is about to send.

        The sender's own counts stay 0: its RTP loop never sends anything.
        """
        rewriter = self._rewriter
        ntp = clock.current_ntp_time()
        rtp_timestamp = rewriter.report(time.monotonic())
        report.sender_info = RtcpSenderInfo(
            ntp_timestamp=ntp,
            rtp_timestamp=rtp_timestamp,
            packet_count=rewriter.packet_count & 0xFFFFFFFF,
            octet_count=rewriter.octet_count & 0xFFFFFFFF,
        )
        # Round-trip time (from the receiver's report of this SR) and getStats().
        for name, value in (
            (_TX_LSR, (ntp >> 16) & 0xFFFFFFFF),
            (_TX_LSR_TIME, time.time()),
            (_TX_NTP_TIMESTAMP, ntp),
            (_TX_RTP_TIMESTAMP, rtp_timestamp),
            (_TX_PACKET_COUNT, rewriter.packet_count),
            (_TX_OCTET_COUNT, rewriter.octet_count),
        ):
            setattr(sender, name, value)

    def _ask_keyframe(self) -> None:
        if self._on_keyframe_needed is not None:
            try:
                self._on_keyframe_needed()
            except Exception:
                logger.exception("keyframe-needed callback failed")


class PacketFanout:
    """A publisher track's packets, handed to every subscriber stream routed to it.

    Called (through :func:`tap_rtp_packets`) for each packet the publisher's
    receiver takes in; ``sinks`` is the set of :class:`OutboundStream` to feed,
    which the media server changes as routes change: a stream removed from it
    gets nothing from the next packet on. A new SSRC on the same receiver is
    a new stream: every sink starts a new run (video at the next keyframe).
    """

    def __init__(self, kind: Kind, *, on_keyframe: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self.sinks: set[OutboundStream] = set()
        self.on_keyframe = on_keyframe
        self.packets_in = 0
        self.frames_in = 0
        self.keyframes_in = 0
        #: Packets older than the newest seen: retransmissions that filled a loss
        #: (the publisher answered the receiver's NACK) or reordering on the way.
        self.late_packets = 0
        self._video = kind == "video"
        self._ssrc: int | None = None
        self._newest: int | None = None

    def reset(self) -> None:
        """A new publisher receiver: forget the stream seen so far."""
        self._ssrc = None

    def __call__(self, packet: RtpPacket, arrival_ns: int) -> None:
        self.packets_in += 1
        if packet.ssrc != self._ssrc:
            if self._ssrc is not None:
                for sink in list(self.sinks):
                    sink.switch(sink.label)
            self._ssrc = packet.ssrc
            self._newest = None
        if self._newest is None or 0 < (packet.sequence_number - self._newest) & 0xFFFF < 0x8000:
            self._newest = packet.sequence_number
        else:
            self.late_packets += 1
        keyframe = False
        if self._video:
            keyframe = vp8_keyframe_start(packet.payload)
            if packet.marker:
                self.frames_in += 1
            if keyframe:
                self.keyframes_in += 1
                if self.on_keyframe is not None:
                    self.on_keyframe()
        else:
            self.frames_in += 1
        if self.sinks:
            now = time.monotonic()
            for sink in self.sinks:
                try:
                    sink.forward(packet, keyframe, now, arrival_ns)
                except Exception:  # one broken subscriber must not starve the others
                    logger.exception("forwarding a packet to a subscriber failed")


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
