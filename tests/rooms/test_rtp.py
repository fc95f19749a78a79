"""The pure RTP/VP8 helpers of packet forwarding (``server/rooms/rtp.py``)."""

from __future__ import annotations

import struct

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket, unwrap_rtx

from server.rooms.rtp import (
    RtpRewriter,
    one_byte_extensions,
    rtx_packet,
    vp8_keyframe_start,
)

#: A VP8 keyframe's first bytes: frame tag (P bit 0), start code, 160x120.
KEY = bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0xA0, 0x00, 0x78, 0x00, 0x00])
DELTA = bytes([0x11, 0x02, 0x00, 0x00, 0x00, 0x00])


def test_vp8_keyframe_start_reads_the_payload_descriptor() -> None:
    # S=1, PID=0, no extension.
    assert vp8_keyframe_start(bytes([0x10]) + KEY)
    assert not vp8_keyframe_start(bytes([0x10]) + DELTA)
    # Not the start of the partition, or not partition 0.
    assert not vp8_keyframe_start(bytes([0x00]) + KEY)
    assert not vp8_keyframe_start(bytes([0x11]) + KEY)
    # X with a 15-bit picture id (as Chrome sends), then TL0PICIDX and TID/KEYIDX.
    assert vp8_keyframe_start(bytes([0x90, 0x80, 0x81, 0x23]) + KEY)
    assert vp8_keyframe_start(bytes([0x90, 0xF0, 0x05, 0x07, 0x20]) + KEY)
    assert not vp8_keyframe_start(bytes([0x90, 0xF0, 0x05, 0x07, 0x20]) + DELTA)
    # A 7-bit picture id.
    assert vp8_keyframe_start(bytes([0x90, 0x80, 0x05]) + KEY)
    # Truncated or empty payloads are not keyframes (and do not raise).
    for cut in range(0, 9):
        assert not vp8_keyframe_start((bytes([0x90, 0x80, 0x81, 0x23]) + KEY)[:cut])
    assert not vp8_keyframe_start(b"")


def test_one_byte_extensions_parse_back_with_aiortc() -> None:
    block = one_byte_extensions([(1, b"12")])
    assert block[:2] == b"\xbe\xde" and len(block) % 4 == 0
    assert one_byte_extensions([]) == b""
    with pytest.raises(ValueError):
        one_byte_extensions([(15, b"x")])
    with pytest.raises(ValueError):
        one_byte_extensions([(1, b"")])

    header = struct.pack("!BBHII", 0x90, 96, 7, 1234, 42)
    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid")
            ]
        )
    )
    packet = RtpPacket.parse(header + block + b"payload", extensions)
    assert packet.extensions.mid == "12" and packet.payload == b"payload"


def _parse(data: bytes) -> RtpPacket:
    return RtpPacket.parse(data)


def test_rewriter_keeps_one_stream_across_runs() -> None:
    rw = RtpRewriter(90000, first_seq=100, first_ts=5000)
    rw.configure(ssrc=0xAABBCCDD, payload_type=97)
    # Before configure there is no SSRC; after, every packet carries ours.
    out = rw.rewrite(40000, 3_000_000, 0, b"a", now=10.0)
    assert out is not None
    seq, _ts, data = out
    first = _parse(data)
    assert (seq, first.sequence_number, first.timestamp) == (100, 100, 5000)
    assert (first.ssrc, first.payload_type, first.marker, first.payload) == (
        0xAABBCCDD,
        97,
        0,
        b"a",
    )
    # Within the run the source's spacing is kept, gaps included.
    out = rw.rewrite(40002, 3_003_000, 1, b"c", now=10.1)
    assert out is not None
    second = _parse(out[2])
    assert (second.sequence_number, second.timestamp, second.marker) == (102, 8000, 1)
    # A late packet of the run fills the gap.
    out = rw.rewrite(40001, 3_000_000, 0, b"b", now=10.11)
    assert out is not None and _parse(out[2]).sequence_number == 101
    # Another source, with its own numbering: the output goes on where it stopped,
    # its timestamp moved by the wall-clock time elapsed.
    rw.restart()
    out = rw.rewrite(7, 100, 0, b"d", now=10.6)
    assert out is not None
    third = _parse(out[2])
    assert third.sequence_number == 103
    assert third.timestamp == 8000 + int(0.5 * 90000)
    # Packets from before the run began are dropped.
    assert rw.rewrite(6, 90, 0, b"old", now=10.61) is None
    assert rw.rewrite(0xFFF0, 90, 0, b"older", now=10.61) is None
    assert (rw.packet_count, rw.octet_count) == (4, 4)


def test_rewriter_wraps_sequence_numbers_and_timestamps() -> None:
    rw = RtpRewriter(48000, first_seq=0xFFFF, first_ts=0xFFFFFF00)
    rw.configure(ssrc=1, payload_type=111)
    seqs = []
    stamps = []
    for i in range(3):
        out = rw.rewrite(500 + i, 960 * i, 0, b"x", now=1.0 + i * 0.02)
        assert out is not None
        packet = _parse(out[2])
        seqs.append(packet.sequence_number)
        stamps.append(packet.timestamp)
    assert seqs == [0xFFFF, 0, 1]
    assert stamps == [0xFFFFFF00, (0xFFFFFF00 + 960) & 0xFFFFFFFF, (0xFFFFFF00 + 1920) & 0xFFFFFFFF]
    # The source wrapping around within a run is fine too.
    rw.restart()
    first = rw.rewrite(0xFFFF, 1000, 0, b"y", now=2.0)
    wrapped = rw.rewrite(0, 1960, 0, b"z", now=2.02)
    assert first is not None and wrapped is not None
    assert wrapped[0] == (first[0] + 1) & 0xFFFF


def test_rewriter_header_extensions_and_report() -> None:
    rw = RtpRewriter(90000, first_seq=1, first_ts=0)
    assert rw.report(now=5.0) == 0  # nothing sent yet
    block = one_byte_extensions([(1, b"3")])
    rw.configure(ssrc=9, payload_type=97, extensions=block)
    assert rw.header_length == 12 + len(block)
    out = rw.rewrite(10, 90000, 1, b"frame", now=5.0)
    assert out is not None
    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid")
            ]
        )
    )
    packet = RtpPacket.parse(out[2], extensions)
    assert packet.extensions.mid == "3" and packet.payload == b"frame" and packet.marker == 1
    # The report's RTP time runs on with the wall clock from the last packet.
    assert rw.report(now=6.0) == 90000


def test_rtx_packet_unwraps_to_the_original() -> None:
    rw = RtpRewriter(90000, first_seq=1234, first_ts=777)
    block = one_byte_extensions([(1, b"1")])
    rw.configure(ssrc=0x01020304, payload_type=97, extensions=block)
    out = rw.rewrite(1, 1, 1, b"payload bytes", now=0.0)
    assert out is not None
    seq, _ts, original = out
    assert rw.build(seq, _ts, 1, b"payload bytes") == original
    wrapped = rtx_packet(original, rw.header_length, payload_type=98, seq=55, ssrc=0x0A0B0C0D)
    packet = _parse(wrapped)
    assert (packet.payload_type, packet.sequence_number, packet.ssrc) == (98, 55, 0x0A0B0C0D)
    assert packet.marker == 1 and packet.timestamp == 777
    restored = unwrap_rtx(packet, payload_type=97, ssrc=0x01020304)
    assert restored.sequence_number == seq == 1234
    assert restored.payload == b"payload bytes"
