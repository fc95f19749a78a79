"""What ``server/rooms/aiortc_adapter/codecs.py`` and ``PacketFanout`` do per room codec.

aiortc must offer the one H.264 format the room forwards (constrained
baseline 42e01f, packetization mode 1), PyAV must carry libx264 (aiortc's
H.264 encoder, used by the test clients), and the fan-out must read keyframe
starts in the room's codec, counting the two starts of one H.264 keyframe once.
"""

from __future__ import annotations

from typing import cast

import av
from aiortc.rtp import RtpPacket

from server.rooms import aiortc_adapter as adapter
from server.rooms.aiortc_adapter import OutboundStream
from server.rooms.codecs import VideoCodec
from tests.rooms.test_h264 import IDR, NON_IDR, PPS, SPS, fu_a, nal, stap_a
from tests.rooms.test_rtp import KEY


def test_aiortc_offers_the_forwarded_h264_format_only() -> None:
    chosen = adapter.codec_preferences("video", VideoCodec.H264)
    h264 = [c for c in chosen if c.mimeType.lower() == "video/h264"]
    assert len(h264) == 1
    assert h264[0].parameters["profile-level-id"] == adapter.H264_PROFILE_LEVEL_ID == "42e01f"
    assert str(h264[0].parameters["packetization-mode"]) == "1"
    assert {c.mimeType.lower() for c in chosen} == {"video/h264", "video/rtx"}
    assert {c.mimeType.lower() for c in adapter.codec_preferences("video")} == {
        "video/vp8",
        "video/rtx",
    }
    # Audio is Opus whatever the room's video codec.
    for codec in VideoCodec:
        assert [c.mimeType for c in adapter.codec_preferences("audio", codec)] == ["audio/opus"]
    assert adapter.forwarded_mime("video", VideoCodec.H264) == "video/h264"


def test_pyav_has_libx264_for_aiortcs_h264_encoder() -> None:
    assert av.codec.Codec("libx264", "w").name == "libx264"
    assert av.codec.Codec("h264", "r").name == "h264"


class Sink:
    """Records what the fan-out hands a subscriber stream."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, bool]] = []
        self.label = "inv-1"

    def forward(self, packet: RtpPacket, keyframe: bool, now: float, arrival_ns: int) -> bool:
        self.seen.append((packet.sequence_number, keyframe))
        return True

    def switch(self, label: str | None) -> None:
        pass


def packet(seq: int, timestamp: int, payload: bytes, marker: int = 0) -> RtpPacket:
    return RtpPacket(
        payload_type=102,
        sequence_number=seq,
        timestamp=timestamp,
        ssrc=1234,
        marker=marker,
        payload=payload,
    )


def test_fanout_reads_h264_keyframes_and_counts_each_once() -> None:
    arrived: list[int] = []
    fanout = adapter.PacketFanout(
        "video", video_codec=VideoCodec.H264, on_keyframe=lambda: arrived.append(1)
    )
    sink = Sink()
    fanout.sinks.add(cast(OutboundStream, sink))
    big_idr = nal(5, bytes(3000))
    stream = [
        packet(1, 3000, stap_a(SPS, PPS)),  # parameter sets ...
        packet(2, 3000, fu_a(big_idr, start=True)),  # ... then the IDR slice, same frame
        packet(3, 3000, fu_a(big_idr, start=False, end=True), marker=1),
        packet(4, 6000, NON_IDR, marker=1),
        packet(5, 9000, stap_a(SPS, PPS, IDR), marker=1),  # a small keyframe, one packet
    ]
    for each in stream:
        fanout(each, 0)
    assert sink.seen == [(1, True), (2, True), (3, False), (4, False), (5, True)]
    assert fanout.keyframes_in == 2 and len(arrived) == 2
    assert fanout.frames_in == 3


def test_fanout_takes_the_codec_of_each_new_receiver() -> None:
    vp8_key = bytes([0x10]) + KEY
    fanout = adapter.PacketFanout("video")
    fanout(packet(1, 3000, vp8_key, marker=1), 0)
    fanout(packet(2, 6000, SPS), 0)
    assert fanout.keyframes_in == 1
    fanout.reset(VideoCodec.H264)
    fanout(packet(3, 9000, vp8_key, marker=1), 0)
    fanout(packet(4, 12000, SPS), 0)
    assert fanout.keyframes_in == 2
    assert fanout.video_codec is VideoCodec.H264


def test_payloads_built_here_are_rfc_6184_shaped() -> None:
    """The helpers borrowed from ``test_h264`` build what aiortc's depacketiser reads."""
    from aiortc.codecs.h264 import H264PayloadDescriptor

    _, data = H264PayloadDescriptor.parse(stap_a(SPS, PPS))
    assert data == b"\x00\x00\x00\x01" + SPS + b"\x00\x00\x00\x01" + PPS
    first, data = H264PayloadDescriptor.parse(fu_a(nal(5, bytes(10)), start=True))
    assert first.first_fragment and data[:5] == b"\x00\x00\x00\x01" + bytes([0x65])
