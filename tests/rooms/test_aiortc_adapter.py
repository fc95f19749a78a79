"""Regression test of the hooks ``server/rooms/aiortc_adapter/`` puts into aiortc.

The adapter reaches into aiortc 1.16.0 (and aioice) private attributes. If an
upgrade moves any of them, these tests fail here, loudly, rather than the
media plane going quiet. They use real ``RTCPeerConnection`` pairs on
127.0.0.1, without MediaServer:

    publisher ──► tap (server in) ──packets──► PacketFanout
        ──► OutboundStream (server out) ──► viewer

``capture_encoded_frames`` (frames, not packets) is what the benchmark's
clients use to count what they receive; it is covered too.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import queue
import socket
import time
from collections.abc import Callable

import aioice
import aiortc
import pytest
from aiortc import (
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, MediaStreamTrack
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtp import RtpPacket
from aiortc.sdp import SessionDescription

from server.rooms import aiortc_adapter as adapter
from server.rooms.aiortc_adapter import ice
from server.rooms.counters import MediaCounters
from server.rooms.latency import PROBE
from tests.rooms.media_clients import HOST, PatternVideoTrack, client_configuration

BUFFER = 4 * 1024 * 1024


async def wait_until(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def test_aiortc_is_the_pinned_release() -> None:
    assert aiortc.__version__ == "1.16.0" == adapter.AIORTC_VERSION
    assert adapter.aiortc_version_supported()
    assert aioice.__version__ == "0.13.0"


async def test_private_attributes_are_where_the_adapter_expects_them() -> None:
    pc = RTCPeerConnection(client_configuration())
    try:
        transceiver = pc.addTransceiver("video", direction="sendonly")
        receiver, sender = transceiver.receiver, transceiver.sender
        assert isinstance(vars(receiver)["_RTCRtpReceiver__decoder_queue"], queue.Queue)
        assert isinstance(vars(receiver)["_RTCRtpReceiver__jitter_buffer"], JitterBuffer)
        assert vars(receiver)["_RTCRtpReceiver__decoder_thread"] is None
        assert vars(receiver)["_RTCRtpReceiver__rtx_ssrc"] == {}
        assert inspect.iscoroutinefunction(RTCRtpReceiver._send_rtcp_pli)
        handle_rtp = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
        assert "self.__decoder_queue.put((codec, encoded_frame))" in handle_rtp
        # The tap: every packet (RTX unwrapped) goes through the jitter buffer's add().
        assert "self.__jitter_buffer.add(packet)" in handle_rtp
        assert handle_rtp.index("unwrap_rtx(") < handle_rtp.index("self.__jitter_buffer.add(")

        # The sender: keyframe requests, NACKs, sender reports, parameters.
        assert callable(RTCRtpSender._send_keyframe)
        handle_rtcp = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
        assert "self._send_keyframe()" in handle_rtcp
        assert "await self._retransmit(seq)" in handle_rtcp
        assert inspect.iscoroutinefunction(RTCRtpSender._retransmit)
        assert inspect.iscoroutinefunction(RTCRtpSender._send_rtcp)
        assert inspect.iscoroutinefunction(RTCRtpSender.send)
        run_rtcp = inspect.getsource(RTCRtpSender._run_rtcp)
        assert "await self._send_rtcp(packets)" in run_rtcp
        assert "self.__packet_count" in run_rtcp and "self.__octet_count" in run_rtcp
        for name in ("lsr", "lsr_time", "ntp_timestamp", "rtp_timestamp"):
            assert f"_RTCRtpSender__{name}" in vars(sender), name
        for name in ("packet_count", "octet_count"):
            assert vars(sender)[f"_RTCRtpSender__{name}"] == 0, name
        assert isinstance(sender._ssrc, int) and isinstance(sender._rtx_ssrc, int)
        assert "transceiver.sender.send(" in inspect.getsource(RTCPeerConnection)
        assert isinstance(sender._stream_id, str) and isinstance(sender._track_id, str)
        # The sender's RTP loop pulls from its track (which never answers in packet mode).
        source = inspect.getsource(RTCRtpSender._next_encoded_frame)
        assert "await self.__track.recv()" in source
        assert "self.__encoder.pack(data)" in source

        # DTLS and ICE: where forwarded packets are protected and sent.
        dtls = sender.transport
        assert dtls._state is DtlsState.NEW
        assert "_tx_srtp" in vars(dtls) and dtls._tx_srtp is None
        assert "data = self._tx_srtp.protect(data)" in inspect.getsource(RTCDtlsTransport._send_rtp)
        assert "await self.transport._recv()" in inspect.getsource(RTCDtlsTransport._recv_next)
        ice_transport = dtls.transport
        connection = ice_transport._connection
        assert isinstance(connection, aioice.Connection)
        assert ice_transport._recv == connection.recv
        assert connection._nominated == {}
        assert "self._queue.put_nowait((data, component))" in inspect.getsource(
            aioice.Connection.data_received
        )
        assert "self.receiver.data_received(" in inspect.getsource(
            aioice.ice.StunProtocol.datagram_received
        )
        assert "active_pair.protocol.send_data(data, active_pair.remote_addr)" in (
            inspect.getsource(aioice.Connection.sendto)
        )
        assert "self.transport.sendto(data, addr)" in inspect.getsource(
            aioice.ice.StunProtocol.send_data
        )

        gatherer = receiver.transport.transport.iceGatherer
        assert gatherer._connection is connection
        assert connection._protocols == []
        assert "addresses" in inspect.signature(connection.get_component_candidates).parameters
        assert "self.get_component_candidates(" in inspect.getsource(
            aioice.Connection.gather_candidates
        )
    finally:
        await pc.close()


def test_vp8_keyframe_detection() -> None:
    key = bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0xA0, 0x00, 0x78, 0x00, 0x00])
    delta = bytes([0x11]) + key[1:]
    assert adapter.is_vp8_keyframe(key)
    assert not adapter.is_vp8_keyframe(delta)
    assert not adapter.is_vp8_keyframe(key[:5])


def test_candidate_parsing() -> None:
    line = "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host generation 0 ufrag abcd"
    parsed = adapter.parse_candidate(line)
    assert parsed is not None and (parsed.ip, parsed.port, parsed.type) == (
        "127.0.0.1",
        5000,
        "host",
    )
    assert adapter.parse_candidate("a=" + line) is not None
    assert adapter.parse_candidate("") is None
    assert adapter.candidate_ufrag(line) == "abcd"
    assert adapter.candidate_ufrag(line.replace(" ufrag abcd", "")) is None
    with pytest.raises(ValueError):
        adapter.parse_candidate("candidate:1 1 udp")


async def _connect(offerer: RTCPeerConnection, answerer: RTCPeerConnection) -> None:
    adapter.configure_ice(offerer, HOST, BUFFER)
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    adapter.configure_ice(answerer, HOST, BUFFER)
    await answerer.setLocalDescription(await answerer.createAnswer())
    await offerer.setRemoteDescription(answerer.localDescription)


async def test_tap_forward_and_keyframe_hooks_on_real_connections() -> None:
    publisher = RTCPeerConnection(client_configuration())
    server_in = RTCPeerConnection(client_configuration())
    server_out = RTCPeerConnection(client_configuration())
    viewer = RTCPeerConnection(client_configuration())
    pcs = [publisher, server_in, server_out, viewer]
    PROBE.enable()
    PROBE.snapshot(reset=True)
    try:
        # publisher → server_in, packets tapped at the receivers.
        publisher.addTransceiver(PatternVideoTrack(), direction="sendonly")
        publisher.addTransceiver(AudioStreamTrack(), direction="sendonly")
        for kind in ("video", "audio"):
            adapter.restrict_codecs(server_in.addTransceiver(kind, direction="recvonly"))
        adapter.configure_ice(publisher, HOST, BUFFER)
        await publisher.setLocalDescription(await publisher.createOffer())
        await server_in.setRemoteDescription(publisher.localDescription)

        rx_video, rx_audio = (t.receiver for t in server_in.getTransceivers())
        keyframe_needed: list[asyncio.Task[int]] = []

        def ask_publisher() -> None:  # what MediaServer does, rate limit aside
            keyframe_needed.append(asyncio.create_task(adapter.request_keyframe(rx_video)))

        keyframes_seen: list[int] = []
        video_in = adapter.PacketFanout("video", on_keyframe=lambda: keyframes_seen.append(1))
        audio_in = adapter.PacketFanout("audio")
        adapter.tap_rtp_packets(rx_video, video_in)
        adapter.tap_rtp_packets(rx_audio, audio_in)
        assert adapter.is_tapped(rx_video) and adapter.is_tapped(rx_audio)
        adapter.configure_ice(server_in, HOST, BUFFER)
        await server_in.setLocalDescription(await server_in.createAnswer())
        await publisher.setRemoteDescription(server_in.localDescription)
        # The answer negotiated VP8 only.
        answer = SessionDescription.parse(server_in.localDescription.sdp)
        video_codecs = {c.mimeType.lower() for c in answer.media[0].rtp.codecs}
        assert video_codecs == {"video/vp8", "video/rtx"}

        # server_out → viewer, fed by OutboundStreams.
        totals = MediaCounters()
        out_video = adapter.OutboundStream(
            "video", on_keyframe_needed=ask_publisher, counters=totals
        )
        out_audio = adapter.OutboundStream("audio", counters=totals)
        requests_from_viewer: list[str] = []
        tx_video = server_out.addTransceiver(out_video, direction="sendonly")
        tx_audio = server_out.addTransceiver(out_audio, direction="sendonly")
        for stream, transceiver in ((out_video, tx_video), (out_audio, tx_audio)):
            adapter.restrict_codecs(transceiver)
            stream.attach(transceiver.sender)
        adapter.hook_keyframe_requests(tx_video.sender, lambda: requests_from_viewer.append("pli"))
        adapter.label_sender(tx_video.sender, "alice", "video0")
        adapter.label_sender(tx_audio.sender, "alice", "audio0")
        for stream, fanout in ((out_video, video_in), (out_audio, audio_in)):
            stream.switch("alice")
            stream.set_live(True)
            fanout.sinks.add(stream)

        decoded: dict[str, int] = {"audio": 0, "video": 0}
        loops: list[asyncio.Task[None]] = []

        @viewer.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            async def count() -> None:
                with contextlib.suppress(MediaStreamError):
                    while True:
                        await track.recv()
                        decoded[track.kind] += 1

            loops.append(asyncio.create_task(count()))

        await _connect(server_out, viewer)
        assert "a=msid:alice video0" in server_out.localDescription.sdp

        # Host candidates come from the configured addresses, with big buffers.
        for pc in pcs:
            candidates = adapter.local_candidates(pc)
            assert candidates and {c.ip for c in candidates} == {"127.0.0.1"}
            sizes = adapter.receive_buffer_sizes(pc)
            assert sizes and min(sizes) >= BUFFER

        await wait_until(lambda: decoded["video"] >= 10 and decoded["audio"] >= 20)
        # The first forwarded video packet started a keyframe, asked for when the
        # sender started; the publisher was asked through the hook.
        assert out_video.sending and out_audio.sending
        assert keyframe_needed and keyframes_seen
        assert out_video.resumed_with_keyframe == 1 and out_video.resumed_without_keyframe == 0
        assert video_in.frames_in > 0 and audio_in.frames_in > 0
        assert out_video.frames_out_by_label["alice"] > 0

        # What the viewer got is the stream the server wrote: its SSRC, the
        # negotiated payload type, one continuous run of sequence numbers.
        viewer_video = next(t for t in viewer.getTransceivers() if t.kind == "video")
        streams = vars(viewer_video.receiver)["_RTCRtpReceiver__remote_streams"]
        assert list(streams) == [tx_video.sender._ssrc]
        assert streams[tx_video.sender._ssrc].packets_lost == 0

        # Sender reports carry what was really sent (aiortc's own counts stay 0).
        def reported() -> int:
            stats = viewer_video.receiver._RTCRtpReceiver__stats  # type: ignore[attr-defined]
            sent = [s.packetsSent for s in stats.values() if s.type == "remote-outbound-rtp"]
            return int(sent[0]) if sent else 0

        await wait_until(lambda: reported() > 0)
        assert 0 < reported() <= out_video.packets_out
        # The process totals count the same packets as the two streams.
        assert totals.packets_forwarded == out_video.packets_out + out_audio.packets_out
        assert totals.bytes_forwarded > 12 * totals.packets_forwarded

        # A NACK is answered from the history, over RTX (the viewer sees the RTX SSRC).
        last = (out_video._rewriter._next_seq - 1) & 0xFFFF  # noqa: SLF001 (test)
        await tx_video.sender._retransmit(last)
        await wait_until(lambda: tx_video.sender._rtx_ssrc in streams)
        assert out_video.retransmissions == 1
        await tx_video.sender._retransmit((last + 1000) & 0xFFFF)  # never sent: ignored
        assert out_video.retransmissions == 1
        assert (totals.nacked_packets, totals.retransmissions) == (2, 1)

        # A PLI from the viewer reaches the sender hook; one to the publisher
        # makes its encoder produce a keyframe, which the tap sees.
        assert await adapter.request_keyframe(viewer_video.receiver) == 1
        await wait_until(lambda: bool(requests_from_viewer))
        before = video_in.keyframes_in
        assert await adapter.request_keyframe(rx_video) == 1
        await wait_until(lambda: video_in.keyframes_in > before)

        # Not live: nothing goes out, and going live again waits for a keyframe.
        out_video.set_live(False)
        sent = out_video.packets_out
        await asyncio.sleep(0.3)
        assert out_video.packets_out == sent
        asked = len(keyframe_needed)
        out_video.set_live(True)
        assert out_video.waiting_for_keyframe and len(keyframe_needed) == asked + 1
        await wait_until(lambda: out_video.packets_out > sent)
        assert out_video.resumed_with_keyframe == 2

        # The latency probe saw the forwarded copies, stamped at arrival.
        snapshot = PROBE.snapshot(reset=True)
        assert snapshot["packets"] > 0
        assert snapshot["p50_ms"] is not None and 0 <= snapshot["p50_ms"] < 1000

        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        # Closing is quick: the tracks' recv() waits and is cancelled cleanly.
        started = time.monotonic()
        await asyncio.gather(*(pc.close() for pc in pcs))
        assert time.monotonic() - started < 2.0
    finally:
        PROBE.disable()
        PROBE.snapshot(reset=True)
        for pc in pcs:
            await pc.close()


async def test_capture_encoded_frames_on_real_connections() -> None:
    """The frame capture the benchmark's clients count with: whole frames, keyframes first."""
    sender_pc = RTCPeerConnection(client_configuration())
    receiver_pc = RTCPeerConnection(client_configuration())
    try:
        sender_pc.addTransceiver(PatternVideoTrack(), direction="sendonly")
        sender_pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        adapter.configure_ice(sender_pc, HOST, BUFFER)
        await sender_pc.setLocalDescription(await sender_pc.createOffer())
        await receiver_pc.setRemoteDescription(sender_pc.localDescription)
        captured: dict[str, list[tuple[bytes, int]]] = {"video/vp8": [], "audio/opus": []}

        def on_frame(mime: str, data: bytes, timestamp: int) -> None:
            captured.setdefault(mime, []).append((data, timestamp))

        for transceiver in receiver_pc.getTransceivers():
            adapter.capture_encoded_frames(transceiver.receiver, on_frame)
            assert adapter.is_capturing(transceiver.receiver)
        adapter.configure_ice(receiver_pc, HOST, BUFFER)
        await receiver_pc.setLocalDescription(await receiver_pc.createAnswer())
        await sender_pc.setRemoteDescription(receiver_pc.localDescription)
        await wait_until(
            lambda: len(captured["video/vp8"]) >= 5 and len(captured["audio/opus"]) >= 20
        )
        assert adapter.is_vp8_keyframe(captured["video/vp8"][0][0])
        timestamps = [t for _, t in captured["video/vp8"]]
        assert timestamps == sorted(timestamps)
    finally:
        await sender_pc.close()
        await receiver_pc.close()


async def test_trickled_candidate_for_a_bundled_section_reaches_the_transport() -> None:
    offerer = RTCPeerConnection(client_configuration())
    answerer = RTCPeerConnection(client_configuration())
    try:
        offerer.addTransceiver("audio", direction="sendonly")
        offerer.addTransceiver("video", direction="sendonly")
        adapter.configure_ice(offerer, HOST, BUFFER)
        await offerer.setLocalDescription(await offerer.createOffer())
        # As a browser that trickles: no candidates, no end-of-candidates.
        sdp = "\r\n".join(
            line
            for line in offerer.localDescription.sdp.splitlines()
            if not line.startswith(("a=candidate:", "a=end-of-candidates"))
        )
        await answerer.setRemoteDescription(RTCSessionDescription(sdp=sdp + "\r\n", type="offer"))
        line = "candidate:9 1 udp 100 127.0.0.1 9 typ host"
        bundled_mid = answerer.getTransceivers()[1].mid

        # aiortc itself drops a candidate that names a bundled section (issue 1437) ...
        plain = adapter.parse_candidate(line)
        assert plain is not None
        plain.sdpMid = bundled_mid
        await answerer.addIceCandidate(plain)
        assert adapter.remote_candidates(answerer) == []
        # ... the adapter re-addresses it to the transport's owner.
        again = adapter.parse_candidate(line)
        assert again is not None
        again.sdpMid = bundled_mid
        await adapter.add_bundled_candidate(answerer, again)
        assert [(c.ip, c.port) for c in adapter.remote_candidates(answerer)] == [("127.0.0.1", 9)]
        await adapter.add_bundled_candidate(answerer, None)  # end-of-candidates
    finally:
        await offerer.close()
        await answerer.close()


async def test_receive_buffer_setting_reports_kernel_size() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        assert ice._set_receive_buffer(sock, BUFFER) >= BUFFER  # noqa: SLF001 (test)
    finally:
        sock.close()


def _packet(seq: int, timestamp: int, marker: bool, data: bytes) -> RtpPacket:
    packet = RtpPacket(sequence_number=seq, timestamp=timestamp, marker=int(marker))
    packet._data = data  # type: ignore[attr-defined]  # set by aiortc after depayloading
    return packet


def test_prompt_jitter_buffer_keeps_aiortcs_rule_for_video() -> None:
    video = adapter.PromptJitterBuffer(capacity=128, is_video=True)
    assert video.add(_packet(1, 3000, False, b"ab")) == (False, None)
    assert video.add(_packet(2, 3000, True, b"cd")) == (False, None)
    _pli, frame = video.add(_packet(3, 6000, True, b"ef"))
    assert frame is not None and frame.data == b"abcd" and frame.timestamp == 3000
    # aiortc's own audio buffer holds four frames before the first comes out.
    stock = JitterBuffer(capacity=16, prefetch=4)
    assert stock.add(_packet(1, 960, False, b"a"))[1] is None


def test_prompt_jitter_buffer_releases_each_audio_packet() -> None:
    audio = adapter.PromptJitterBuffer(capacity=16)
    for seq in range(1, 4):
        _pli, frame = audio.add(_packet(seq, seq * 960, False, bytes([seq])))
        assert frame is not None and frame.data == bytes([seq])


async def test_the_receiver_gets_the_prompt_buffer() -> None:
    pc = RTCPeerConnection(client_configuration())
    try:
        receiver = pc.addTransceiver("video", direction="recvonly").receiver
        adapter.capture_encoded_frames(receiver, lambda mime, data, ts: None)
        assert isinstance(getattr(receiver, JITTER_BUFFER), adapter.PromptJitterBuffer)
    finally:
        await pc.close()


JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
