"""Which codecs the SFU negotiates, and what a keyframe looks like.

A room forwards one video codec (``server.rooms.codecs``): VP8, or H.264
constrained baseline in packetization mode 1. Every transceiver of the room's
connections is restricted to it (and its RTX), so aiortc neither offers nor
accepts anything else; the forwarder never transcodes.
"""

from __future__ import annotations

from collections.abc import Callable

from aiortc import (
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc.rtcrtpparameters import RTCRtpCodecCapability

from server.rooms.aiortc_adapter.names import (
    FORWARDED_MIME,
    H264_PACKETIZATION_MODE,
    H264_PROFILE_LEVEL_ID,
    VIDEO_MIME,
)
from server.rooms.codecs import VideoCodec
from server.rooms.h264 import h264_keyframe_start
from server.rooms.rtp import vp8_keyframe_start

#: Whether an RTP payload of the codec is where a subscriber may start decoding.
KEYFRAME_START: dict[VideoCodec, Callable[[bytes], bool]] = {
    VideoCodec.VP8: vp8_keyframe_start,
    VideoCodec.H264: h264_keyframe_start,
}

# --- codecs ---------------------------------------------------------------------------


def forwarded_mime(kind: str, video_codec: VideoCodec = VideoCodec.VP8) -> str:
    """The lower-case MIME type forwarded for ``kind`` in a room using ``video_codec``."""
    return VIDEO_MIME[video_codec] if kind == "video" else FORWARDED_MIME[kind]


def _is_forwarded(codec: RTCRtpCodecCapability, mime: str) -> bool:
    if codec.mimeType.lower() != mime:
        return False
    if mime != VIDEO_MIME[VideoCodec.H264]:
        return True
    parameters = codec.parameters
    return (
        str(parameters.get("profile-level-id", "")).lower() == H264_PROFILE_LEVEL_ID
        and str(parameters.get("packetization-mode", "0")) == H264_PACKETIZATION_MODE
    )


def codec_preferences(
    kind: str, video_codec: VideoCodec = VideoCodec.VP8
) -> list[RTCRtpCodecCapability]:
    """Opus for audio; the room's video codec (and its RTX, for retransmissions) for video.

    For H.264 only aiortc's constrained-baseline, packetization-mode 1 entry
    (``profile-level-id=42e01f``); aiortc also lists baseline (42001f).
    """
    mime = forwarded_mime(kind, video_codec)
    capabilities = RTCRtpSender.getCapabilities(kind).codecs
    chosen = [c for c in capabilities if _is_forwarded(c, mime)]
    if kind == "video":
        chosen += [c for c in capabilities if c.mimeType.lower() == "video/rtx"]
    if not any(c.mimeType.lower() == mime for c in chosen):
        raise RuntimeError(f"aiortc offers no {mime}")
    return chosen


def restrict_codecs(
    transceiver: RTCRtpTransceiver, video_codec: VideoCodec = VideoCodec.VP8
) -> None:
    """Negotiate only the forwarded codec on this transceiver (public aiortc API)."""
    transceiver.setCodecPreferences(codec_preferences(transceiver.kind, video_codec))


def is_vp8_keyframe(data: bytes) -> bool:
    """A VP8 frame (payload descriptor already stripped) that starts a keyframe.

    RFC 6386 section 9.1: bit 0 of the frame tag is the inverse key-frame flag
    (the "P bit" of RFC 7741 section 4.3), and a keyframe's tag is followed by
    the start code 9d 01 2a.
    """
    return len(data) >= 10 and (data[0] & 0x01) == 0 and data[3:6] == b"\x9d\x01\x2a"
