"""What the adapter pins: the aiortc release, the forwarded codecs, and every private
aiortc/aioice attribute name it reaches for (listed, with why, in the package docstring)."""

from __future__ import annotations

from typing import Literal

import aiortc
from aiortc.rtcdtlstransport import State as DtlsState

#: The aiortc release whose internals this module was written against.
AIORTC_VERSION = "1.16.0"

Kind = Literal["audio", "video"]

#: RTP clock rates of the two forwarded codecs.
CLOCK_RATES: dict[str, int] = {"audio": 48000, "video": 90000}
#: The codec forwarded per kind (lower-case MIME type), video in a VP8 room.
FORWARDED_MIME: dict[str, str] = {"audio": "audio/opus", "video": "video/vp8"}
#: The video codec's MIME type per room codec (``server.rooms.codecs.VideoCodec``).
VIDEO_MIME: dict[str, str] = {"vp8": "video/vp8", "h264": "video/h264"}
#: The one H.264 format negotiated: constrained baseline level 3.1 (what every
#: browser and phone decodes), non-interleaved (FU-A and STAP-A) packets.
H264_PROFILE_LEVEL_ID = "42e01f"
H264_PACKETIZATION_MODE = "1"
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
_ICE_STUN_PROTOCOL = "StunProtocol"  # aioice.ice's datagram protocol, on our own sockets
_ICE_SERVER_REFLEXIVE = "server_reflexive_candidate"  # aioice.ice's STUN query
_HOOK_MARK = "_concord_hooked"


def aiortc_version_supported() -> bool:
    """Whether the installed aiortc is the release these hooks were written for."""
    return bool(aiortc.__version__ == AIORTC_VERSION)
