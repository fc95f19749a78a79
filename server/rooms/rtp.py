"""Pure RTP and VP8 helpers for packet-level forwarding (no aiortc, no I/O).

The forwarder sends every packet a publisher sends on to each subscriber it
is routed to, under the subscriber's own SSRC, payload type and header
extensions, with sequence numbers and timestamps rewritten so that each
subscriber m-section carries one continuous stream even when its source
changes (another participant, a reconnected publisher, a resumed m-section).
What has to be decided per packet lives here, as small pure pieces, so it can
be tested without a network:

- :func:`vp8_keyframe_start`: whether a VP8 RTP payload begins a keyframe
  (where a subscriber may start decoding);
- :func:`one_byte_extensions`: an RFC 8285 one-byte header extension block;
- :class:`RtpRewriter`: the per-subscriber mapping from the source's
  sequence numbers and timestamps to the outgoing ones, and the outgoing
  packet bytes;
- :func:`rtx_packet`: an RFC 4588 retransmission of an outgoing packet.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence

#: V=2, no padding, no CSRC; with and without the header-extension bit.
_V2 = 0x80
_V2_EXTENSION = 0x90
#: Marker+payload type, sequence number, timestamp (bytes 1-7 of the header).
_PATCH = struct.Struct("!BHI")
_HEADER = struct.Struct("!BBHII")
_SEQ = struct.Struct("!H")
#: The "defined by profile" value of RFC 8285 one-byte header extensions.
_ONE_BYTE_PROFILE = b"\xbe\xde"
RTP_HEADER_LENGTH = 12


def vp8_keyframe_start(payload: bytes) -> bool:
    """Whether this VP8 RTP payload is the first packet of a keyframe.

    RFC 7741: the payload descriptor's S bit marks the start of a partition
    and PID=0 the first partition, so the VP8 payload header follows the
    descriptor; its P bit (bit 0 of the first byte) is 0 for a keyframe, and a
    keyframe's frame tag is followed by the start code 9d 01 2a (RFC 6386
    section 9.1). Only here can a subscriber start (or restart) decoding.
    """
    if len(payload) < 1:
        return False
    first = payload[0]
    if (first & 0x17) != 0x10:  # S=1, PID=0
        return False
    at = 1
    if first & 0x80:  # X: extended control bits follow
        if len(payload) < 2:
            return False
        control = payload[1]
        at = 2
        if control & 0x80:  # I: picture id, 7 or 15 bits
            if len(payload) <= at:
                return False
            at += 2 if payload[at] & 0x80 else 1
        if control & 0x40:  # L: TL0PICIDX
            at += 1
        if control & 0x30:  # T or K: TID/Y/KEYIDX
            at += 1
    return (
        len(payload) >= at + 6
        and (payload[at] & 0x01) == 0
        and payload[at + 3 : at + 6] == b"\x9d\x01\x2a"
    )


def one_byte_extensions(elements: Sequence[tuple[int, bytes]]) -> bytes:
    """An RFC 8285 one-byte-header extension block (``b""`` when there is none).

    Each element is ``(id, value)`` with id 1-14 and a value of 1-16 bytes;
    the block is padded with zero bytes to a multiple of four.
    """
    body = bytearray()
    for ident, value in elements:
        if not 1 <= ident <= 14 or not 1 <= len(value) <= 16:
            raise ValueError(f"one-byte extension {ident} with {len(value)} bytes")
        body.append((ident << 4) | (len(value) - 1))
        body += value
    if not body:
        return b""
    body += bytes(-len(body) % 4)
    return _ONE_BYTE_PROFILE + _SEQ.pack(len(body) // 4) + bytes(body)


class RtpRewriter:
    """One outgoing RTP stream (a subscriber m-section) fed by runs of source packets.

    A *run* is an uninterrupted piece of one source's stream; :meth:`restart`
    begins a new one (another source, the same one after a pause, a new
    publisher connection). Within a run, sequence numbers and timestamps keep
    the source's spacing (a gap upstream stays a gap, so the subscriber can
    ask for it again and a retransmitted packet fills it); across runs the
    output continues where it stopped: the next sequence number, and the last
    timestamp plus the wall-clock time elapsed (at least one tick). Packets
    older than the first packet of the current run are dropped, so nothing
    from before a switch lands inside the new stream.

    The outgoing header carries the subscriber's SSRC and payload type and
    only the header extensions given to :meth:`configure` (the source's are
    not copied: their ids and meaning belong to the publisher's negotiation).
    It also counts what it produced, for RTCP sender reports.
    """

    __slots__ = (
        "clock_rate",
        "ssrc",
        "payload_type",
        "_prefix",
        "_seq_offset",
        "_ts_offset",
        "_run_base",
        "_in_run",
        "_next_seq",
        "_last_ts",
        "_last_wall",
        "_started",
        "packet_count",
        "octet_count",
    )

    def __init__(
        self,
        clock_rate: int,
        *,
        first_seq: int | None = None,
        first_ts: int | None = None,
    ) -> None:
        self.clock_rate = clock_rate
        self.ssrc = 0
        self.payload_type = 0
        self._prefix = bytearray(RTP_HEADER_LENGTH)
        # Chrome's SRTP gets confused by a wraparound right at the start:
        # begin in the lower half, as aiortc's senders do.
        self._next_seq = random.randrange(0x8000) if first_seq is None else first_seq
        self._last_ts = random.randrange(1 << 32) if first_ts is None else first_ts
        self._last_wall = 0.0
        self._started = False  # any packet produced yet
        self._in_run = False
        self._run_base = 0
        self._seq_offset = 0
        self._ts_offset = 0
        self.packet_count = 0
        self.octet_count = 0

    def configure(self, ssrc: int, payload_type: int, extensions: bytes = b"") -> None:
        """The outgoing SSRC, payload type and (constant) header extension block."""
        self.ssrc = ssrc
        self.payload_type = payload_type
        self._prefix = bytearray(
            _HEADER.pack(_V2_EXTENSION if extensions else _V2, payload_type, 0, 0, ssrc)
            + extensions
        )

    @property
    def header_length(self) -> int:
        return len(self._prefix)

    def restart(self) -> None:
        """The next packet begins a new run."""
        self._in_run = False

    def rewrite(
        self, seq: int, timestamp: int, marker: int, payload: bytes, now: float
    ) -> tuple[int, int, bytes] | None:
        """``(sequence number, timestamp, packet)`` to send for a source packet, or None.

        None: drop it (it is from before the current run). ``now`` is the wall
        clock (seconds, monotonic) when the packet arrived.
        """
        if not self._in_run:
            self._in_run = True
            self._run_base = seq
            self._seq_offset = (self._next_seq - seq) & 0xFFFF
            if self._started:
                gap = max(1, int((now - self._last_wall) * self.clock_rate))
                self._ts_offset = (self._last_ts + gap - timestamp) & 0xFFFFFFFF
            else:
                self._ts_offset = (self._last_ts - timestamp) & 0xFFFFFFFF
        elif ((seq - self._run_base) & 0xFFFF) >= 0x8000:
            return None  # from before this run began
        out_seq = (seq + self._seq_offset) & 0xFFFF
        out_ts = (timestamp + self._ts_offset) & 0xFFFFFFFF
        if not self._started or ((out_seq - self._next_seq) & 0xFFFF) < 0x8000:
            # The newest packet so far (not a late or retransmitted one).
            self._started = True
            self._next_seq = (out_seq + 1) & 0xFFFF
            self._last_ts = out_ts
            self._last_wall = now
        self.packet_count += 1
        self.octet_count += len(payload)
        return out_seq, out_ts, self.build(out_seq, out_ts, marker, payload)

    def build(self, seq: int, timestamp: int, marker: int, payload: bytes) -> bytes:
        """The outgoing packet with these header fields (also to resend one)."""
        prefix = self._prefix
        _PATCH.pack_into(prefix, 1, (marker << 7) | self.payload_type, seq, timestamp)
        return b"".join((prefix, payload))  # one copy: the header is patched in place

    def report(self, now: float) -> int:
        """The RTP timestamp that corresponds to wall-clock ``now`` (for a sender report)."""
        if not self._started:
            return self._last_ts
        return (self._last_ts + int((now - self._last_wall) * self.clock_rate)) & 0xFFFFFFFF


def rtx_packet(
    packet: bytes, header_length: int, *, payload_type: int, seq: int, ssrc: int
) -> bytes:
    """RFC 4588: ``packet`` resent on the RTX stream (new PT, sequence number, SSRC).

    The original sequence number goes in front of the payload; the timestamp,
    marker and header extensions stay.
    """
    header = bytearray(packet[:header_length])
    header[1] = (header[1] & 0x80) | payload_type
    header[2:4] = _SEQ.pack(seq)
    header[8:12] = ssrc.to_bytes(4, "big")
    return bytes(header) + packet[2:4] + packet[header_length:]
