"""Where a decoder can start in an H.264 RTP stream (``server/rooms/h264.py``).

The payloads are built by hand from RFC 6184's packet formats: a NAL unit
header is F(1) NRI(2) type(5); a STAP-A is its header then 16-bit sizes and
units; an FU-A is an indicator (type 28) then a header S(1) E(1) R(1) type(5).
"""

from __future__ import annotations

import struct

import pytest

from server.rooms.h264 import h264_keyframe_start, nal_types_started

NRI = 0x60  # nal_ref_idc 3, as encoders mark parameter sets and IDR slices


def nal(nal_type: int, body: bytes = b"\x88\x84\x21\xa0", nri: int = NRI) -> bytes:
    return bytes([nri | nal_type]) + body


SPS = nal(7, b"\x42\xe0\x1f\x8d\x68\x05\x00\x5b\xa1")
PPS = nal(8, b"\xce\x06\xe2")
SEI = nal(6, b"\x05\x10")
IDR = nal(5)
NON_IDR = nal(1, nri=0x40)


def stap_a(*units: bytes) -> bytes:
    header = NRI | 24
    return bytes([header]) + b"".join(struct.pack("!H", len(u)) + u for u in units)


def fu_a(unit: bytes, *, start: bool, end: bool = False, cut: int = 3) -> bytes:
    """One fragment of ``unit``: the first (start) or a later one."""
    indicator = (unit[0] & 0xE0) | 28
    header = (0x80 if start else 0) | (0x40 if end else 0) | (unit[0] & 0x1F)
    body = unit[1 : 1 + cut] if start else unit[1 + cut :]
    return bytes([indicator, header]) + body


def test_single_nal_units() -> None:
    assert nal_types_started(IDR) == (5,)
    assert h264_keyframe_start(IDR)
    assert not h264_keyframe_start(NON_IDR)
    # The parameter sets precede the IDR slice: the SPS is where decoding starts.
    assert h264_keyframe_start(SPS)
    # A PPS alone comes after an SPS that already started the access unit.
    assert not h264_keyframe_start(PPS)
    assert not h264_keyframe_start(SEI)


def test_stap_a_with_parameter_sets_and_idr() -> None:
    assert nal_types_started(stap_a(SPS, PPS, IDR)) == (7, 8, 5)
    assert h264_keyframe_start(stap_a(SPS, PPS, IDR))
    # SPS and PPS aggregated, the IDR slice fragmented in the next packets.
    assert h264_keyframe_start(stap_a(SPS, PPS))
    assert h264_keyframe_start(stap_a(SPS, PPS, SEI))
    # Parameter sets sent out of band: the IDR slice alone starts the unit.
    assert h264_keyframe_start(stap_a(SEI, IDR))
    assert h264_keyframe_start(stap_a(PPS, IDR))
    # Aggregated delta slices (small frames) or a lone PPS are not starts.
    assert not h264_keyframe_start(stap_a(NON_IDR, NON_IDR))
    assert not h264_keyframe_start(stap_a(PPS, SEI))


def test_fu_a_only_the_first_fragment_of_an_idr() -> None:
    big_idr = nal(5, bytes(range(200)))
    assert nal_types_started(fu_a(big_idr, start=True)) == (5,)
    assert h264_keyframe_start(fu_a(big_idr, start=True))
    assert not h264_keyframe_start(fu_a(big_idr, start=False))
    assert not h264_keyframe_start(fu_a(big_idr, start=False, end=True))
    big_delta = nal(1, bytes(range(200)), nri=0x40)
    assert not h264_keyframe_start(fu_a(big_delta, start=True))


def test_truncated_and_unread_payloads_are_not_starts() -> None:
    assert nal_types_started(b"") == ()
    assert not h264_keyframe_start(b"")
    # An FU-A with no header byte.
    assert not h264_keyframe_start(bytes([NRI | 28]))
    # A STAP-A whose first size runs past the end: nothing in it is read.
    assert nal_types_started(bytes([NRI | 24, 0x00, 0x40]) + SPS) == ()
    # A truncated second unit keeps the first.
    whole = stap_a(SPS, PPS)
    assert nal_types_started(whole[:-1]) == (7,)
    assert nal_types_started(bytes([NRI | 24, 0, 0]) + SPS) == ()  # size 0
    # Packetization-mode 2 types (STAP-B 25, MTAP16 26, MTAP24 27, FU-B 29) are not read.
    for mode2 in (25, 26, 27, 29):
        assert not h264_keyframe_start(bytes([NRI | mode2, 0x85]) + SPS)


@pytest.mark.parametrize("cut", range(0, 12))
def test_never_raises_on_a_cut_payload(cut: int) -> None:
    for payload in (stap_a(SPS, PPS, IDR), fu_a(nal(5, bytes(50)), start=True), SPS):
        h264_keyframe_start(payload[:cut])
