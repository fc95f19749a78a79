"""The subscriber's side: rewritten packets sent on aiortc's senders, and what the
subscriber's receiver reports back."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import aioice
import pylibsrtp
from aiortc import (
    RTCRtpSender,
    clock,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpSenderInfo,
    RtcpSrPacket,
    RtpPacket,
    unpack_remb_fci,
)
from av.packet import Packet
from av.stream import Stream

from server.rooms.aiortc_adapter.codecs import KEYFRAME_START, forwarded_mime
from server.rooms.aiortc_adapter.names import (
    _DTLS_CONNECTED,
    _DTLS_STATE,
    _DTLS_TX_SRTP,
    _ICE_CONNECTION,
    _ICE_NOMINATED,
    _TX_HANDLE_RTCP,
    _TX_LSR,
    _TX_LSR_TIME,
    _TX_NTP_TIMESTAMP,
    _TX_OCTET_COUNT,
    _TX_PACKET_COUNT,
    _TX_RETRANSMIT,
    _TX_RTP_TIMESTAMP,
    _TX_RTT,
    _TX_SEND,
    _TX_SEND_KEYFRAME,
    _TX_SEND_RTCP,
    _TX_STREAM_ID,
    _TX_TRACK_ID,
    CLOCK_RATES,
    HISTORY_SIZE,
    MID_EXTENSION,
    Kind,
)
from server.rooms.codecs import VideoCodec
from server.rooms.counters import MediaCounters
from server.rooms.latency import PROBE
from server.rooms.rtp import RtpRewriter, one_byte_extensions, rtx_packet

logger = logging.getLogger(__name__)

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
      the first packet of a keyframe of the room's codec (VP8, or H.264's
      parameter sets or IDR slice), and asks for one through
      ``on_keyframe_needed`` whenever it starts waiting while live and sending.
    - Only the mid header extension is written (the subscriber's own id and
      mid); the publisher's extensions belong to its own negotiation.
    """

    def __init__(
        self,
        kind: Kind,
        *,
        video_codec: VideoCodec = VideoCodec.VP8,
        on_keyframe_needed: Callable[[], None] | None = None,
        counters: MediaCounters | None = None,
        on_first_keyframe: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.kind = kind
        #: The MIME type the subscriber must have negotiated (the room's codec for video).
        self.mime = forwarded_mime(kind, video_codec)
        self._video = kind == "video"
        self._rewriter = RtpRewriter(CLOCK_RATES[kind])
        self._on_keyframe_needed = on_keyframe_needed
        #: The process's totals (a private set when none is given: no branch per packet).
        self._counters = counters if counters is not None else MediaCounters()
        #: Called at the first run of video this stream starts (with a keyframe).
        self._on_first_keyframe = on_first_keyframe
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

        ``keyframe``: a decoder can start at the packet (a keyframe of the
        room's codec); ``now``: its arrival on the monotonic clock (seconds);
        ``arrival_ns``: its datagram's arrival for the latency probe (0: not
        stamped).
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
        counters = self._counters
        counters.packets_forwarded += 1
        counters.bytes_forwarded += len(data)
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
                if self._on_first_keyframe is not None:
                    first, self._on_first_keyframe = self._on_first_keyframe, None
                    try:
                        first()
                    except Exception:  # never break forwarding
                        logger.exception("first-keyframe callback failed")
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
        if codec.mimeType.lower() != self.mime or codec.payloadType is None:
            logger.warning("subscriber negotiated %s, not %s", codec.mimeType, self.mime)
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
        self._counters.nacked_packets += 1
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
            self._counters.retransmissions += 1

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

    Which packets are keyframe starts depends on the room's video codec,
    given at construction and again with each new receiver (:meth:`reset`).
    An H.264 keyframe may have two starts (its SPS, then its IDR slice, in
    separate packets of one timestamp): each is flagged to the sinks (one
    that began waiting in between starts at the IDR slice), but counted once.
    """

    def __init__(
        self,
        kind: Kind,
        *,
        video_codec: VideoCodec = VideoCodec.VP8,
        on_keyframe: Callable[[], None] | None = None,
    ) -> None:
        self.kind = kind
        self.sinks: set[OutboundStream] = set()
        self.on_keyframe = on_keyframe
        self.video_codec = video_codec
        self._keyframe_start = KEYFRAME_START[video_codec]
        self._keyframe_timestamp: int | None = None
        self.packets_in = 0
        self.frames_in = 0
        self.keyframes_in = 0
        #: Packets older than the newest seen: retransmissions that filled a loss
        #: (the publisher answered the receiver's NACK) or reordering on the way.
        self.late_packets = 0
        self._video = kind == "video"
        self._ssrc: int | None = None
        self._newest: int | None = None

    def reset(self, video_codec: VideoCodec | None = None) -> None:
        """A new publisher receiver (sending ``video_codec``, if given): forget the stream."""
        self._ssrc = None
        self._keyframe_timestamp = None
        if video_codec is not None:
            self.video_codec = video_codec
            self._keyframe_start = KEYFRAME_START[video_codec]

    def __call__(self, packet: RtpPacket, arrival_ns: int) -> None:
        self.packets_in += 1
        if packet.ssrc != self._ssrc:
            if self._ssrc is not None:
                for sink in list(self.sinks):
                    sink.switch(sink.label)
            self._ssrc = packet.ssrc
            self._newest = None
            self._keyframe_timestamp = None
        if self._newest is None or 0 < (packet.sequence_number - self._newest) & 0xFFFF < 0x8000:
            self._newest = packet.sequence_number
        else:
            self.late_packets += 1
        keyframe = False
        if self._video:
            keyframe = self._keyframe_start(packet.payload)
            if packet.marker:
                self.frames_in += 1
            if keyframe and packet.timestamp != self._keyframe_timestamp:
                self._keyframe_timestamp = packet.timestamp
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
