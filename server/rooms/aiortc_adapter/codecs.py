"""Which codecs the SFU negotiates, and what a keyframe looks like."""

from __future__ import annotations

from aiortc import (
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc.rtcrtpparameters import RTCRtpCodecCapability

from server.rooms.aiortc_adapter.names import (
    FORWARDED_MIME,
)

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
