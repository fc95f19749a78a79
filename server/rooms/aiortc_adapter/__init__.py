"""The one package that reaches into aiortc (and aioice) internals.

The media plane forwards RTP *packets*: it never decodes, encodes or even
re-assembles frames. A publisher's packets are taken from its receiver as
they arrive and sent on at once, rewritten per subscriber (SSRC, payload
type, sequence number, timestamp, mid), on each subscriber connection's own
SRTP session and ICE pair. aiortc has no public API for any of that, so this
package holds the hooks it needs, each small and named, pinned to
``aiortc==1.16.0`` (``tests/rooms/test_aiortc_adapter_pins.py`` fails loudly when
an upgrade moves them). Nothing outside this package touches a private aiortc
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
  With a media port range it binds the host candidates' sockets itself
  (``ports``) and wraps them in ``aioice.ice.StunProtocol``, asking the STUN
  server through ``aioice.ice.server_reflexive_candidate`` as aioice would.

Modules, by side: ``names`` (the pinned release and every private name),
``codecs``, ``receiving`` (the publisher's side), ``sending`` (the subscriber's
side), ``ice`` and ``ports``. Everything the rest of the project uses is imported from here.
"""

from server.rooms.aiortc_adapter.codecs import (
    KEYFRAME_START,
    codec_preferences,
    forwarded_mime,
    is_vp8_keyframe,
    restrict_codecs,
)
from server.rooms.aiortc_adapter.ice import (
    add_bundled_candidate,
    candidate_ufrag,
    configure_ice,
    local_candidates,
    parse_candidate,
    receive_buffer_sizes,
    remote_candidates,
)
from server.rooms.aiortc_adapter.names import (
    AIORTC_VERSION,
    CLOCK_RATES,
    FORWARDED_MIME,
    H264_PROFILE_LEVEL_ID,
    HISTORY_SIZE,
    MID_EXTENSION,
    VIDEO_MIME,
    Kind,
    aiortc_version_supported,
)
from server.rooms.aiortc_adapter.ports import NoFreePort, PortRange, bind_in_range
from server.rooms.aiortc_adapter.receiving import (
    FrameCallback,
    PacketCallback,
    PromptJitterBuffer,
    capture_encoded_frames,
    is_capturing,
    is_tapped,
    request_keyframe,
    tap_rtp_packets,
)
from server.rooms.aiortc_adapter.sending import (
    OutboundStream,
    PacketFanout,
    ReceiverFeedback,
    hook_feedback,
    hook_keyframe_requests,
    label_sender,
)

__all__ = [
    "AIORTC_VERSION",
    "CLOCK_RATES",
    "FORWARDED_MIME",
    "H264_PROFILE_LEVEL_ID",
    "HISTORY_SIZE",
    "KEYFRAME_START",
    "MID_EXTENSION",
    "VIDEO_MIME",
    "FrameCallback",
    "Kind",
    "NoFreePort",
    "OutboundStream",
    "PacketCallback",
    "PacketFanout",
    "PortRange",
    "PromptJitterBuffer",
    "ReceiverFeedback",
    "add_bundled_candidate",
    "aiortc_version_supported",
    "bind_in_range",
    "candidate_ufrag",
    "capture_encoded_frames",
    "codec_preferences",
    "configure_ice",
    "forwarded_mime",
    "hook_feedback",
    "hook_keyframe_requests",
    "is_capturing",
    "is_tapped",
    "is_vp8_keyframe",
    "label_sender",
    "local_candidates",
    "parse_candidate",
    "receive_buffer_sizes",
    "remote_candidates",
    "request_keyframe",
    "restrict_codecs",
    "tap_rtp_packets",
]
