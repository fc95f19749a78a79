"""Regression test of the hooks ``server/rooms/aiortc_adapter.py`` puts into aiortc.

The adapter reaches into aiortc 1.16.0 (and aioice) private attributes. If an
upgrade moves any of them, these tests fail here, loudly, rather than the
media plane going quiet. They use real ``RTCPeerConnection`` pairs on
127.0.0.1, without MediaServer:

    publisher ──► capture (server in) ──frames──► ForwardingTrack (server out) ──► viewer
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
from aiortc.rtp import RtpPacket
from aiortc.sdp import SessionDescription

from server.rooms import aiortc_adapter as adapter
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
        assert vars(receiver)["_RTCRtpReceiver__decoder_thread"] is None
        assert vars(receiver)["_RTCRtpReceiver__rtx_ssrc"] == {}
        assert inspect.iscoroutinefunction(RTCRtpReceiver._send_rtcp_pli)
        assert callable(RTCRtpSender._send_keyframe)
        assert isinstance(sender._stream_id, str) and isinstance(sender._track_id, str)
        gatherer = receiver.transport.transport.iceGatherer
        connection = gatherer._connection
        assert isinstance(connection, aioice.Connection)
        assert connection._protocols == []
        assert "addresses" in inspect.signature(connection.get_component_candidates).parameters
        # The sender packs av.Packet objects through the encoder's pack().
        source = inspect.getsource(RTCRtpSender._next_encoded_frame)
        assert "self.__encoder.pack(data)" in source
        assert "self._send_keyframe()" in inspect.getsource(RTCRtpSender._handle_rtcp_packet)
        assert "self.__decoder_queue.put((codec, encoded_frame))" in inspect.getsource(
            RTCRtpReceiver._handle_rtp_packet
        )
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


async def test_capture_forward_and_keyframe_hooks_on_real_connections() -> None:
    publisher = RTCPeerConnection(client_configuration())
    server_in = RTCPeerConnection(client_configuration())
    server_out = RTCPeerConnection(client_configuration())
    viewer = RTCPeerConnection(client_configuration())
    pcs = [publisher, server_in, server_out, viewer]
    try:
        # publisher → server_in, frames captured encoded at the receivers.
        publisher.addTransceiver(PatternVideoTrack(), direction="sendonly")
        publisher.addTransceiver(AudioStreamTrack(), direction="sendonly")
        for kind in ("video", "audio"):
            adapter.restrict_codecs(server_in.addTransceiver(kind, direction="recvonly"))
        adapter.configure_ice(publisher, HOST, BUFFER)
        await publisher.setLocalDescription(await publisher.createOffer())
        await server_in.setRemoteDescription(publisher.localDescription)

        # server_out → viewer, fed by ForwardingTracks.
        keyframe_needed: list[asyncio.Task[int]] = []
        rx_video, rx_audio = (t.receiver for t in server_in.getTransceivers())

        def ask_publisher() -> None:  # what MediaServer does, rate limit aside
            keyframe_needed.append(asyncio.create_task(adapter.request_keyframe(rx_video)))

        out_video = adapter.ForwardingTrack("video", on_keyframe_needed=ask_publisher)
        out_audio = adapter.ForwardingTrack("audio")
        captured: dict[str, list[tuple[bytes, int]]] = {"video/vp8": [], "audio/opus": []}

        def on_frame(mime: str, data: bytes, timestamp: int) -> None:
            captured[mime].append((data, timestamp))
            if mime == "video/vp8":
                out_video.push(data, timestamp, adapter.is_vp8_keyframe(data))
            else:
                out_audio.push(data, timestamp)

        for receiver in (rx_video, rx_audio):
            adapter.capture_encoded_frames(receiver, on_frame)
            assert adapter.is_capturing(receiver)
        adapter.configure_ice(server_in, HOST, BUFFER)
        await server_in.setLocalDescription(await server_in.createAnswer())
        await publisher.setRemoteDescription(server_in.localDescription)
        # The answer negotiated VP8 only.
        answer = SessionDescription.parse(server_in.localDescription.sdp)
        video_codecs = {c.mimeType.lower() for c in answer.media[0].rtp.codecs}
        assert video_codecs == {"video/vp8", "video/rtx"}

        requests_from_viewer: list[str] = []
        tx_video = server_out.addTransceiver(out_video, direction="sendonly")
        tx_audio = server_out.addTransceiver(out_audio, direction="sendonly")
        adapter.restrict_codecs(tx_video)
        adapter.restrict_codecs(tx_audio)
        adapter.hook_keyframe_requests(tx_video.sender, lambda: requests_from_viewer.append("pli"))
        adapter.label_sender(tx_video.sender, "alice", "video0")
        adapter.label_sender(tx_audio.sender, "alice", "audio0")
        out_video.switch("alice")
        out_audio.switch("alice")

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
        # The first forwarded video frame was a keyframe, asked for when the
        # sender started pulling; the publisher was asked through the hook.
        assert keyframe_needed
        assert out_video.resumed_with_keyframe == 1 and out_video.resumed_without_keyframe == 0
        assert captured["video/vp8"] and captured["audio/opus"]
        timestamps = [t for _, t in captured["video/vp8"]]
        assert timestamps == sorted(timestamps)

        # A PLI from the viewer reaches the sender hook; one to the publisher
        # makes its encoder produce a keyframe, which the capture sees.
        viewer_video = next(t for t in viewer.getTransceivers() if t.kind == "video")
        assert await adapter.request_keyframe(viewer_video.receiver) == 1
        await wait_until(lambda: bool(requests_from_viewer))
        keyframes = sum(adapter.is_vp8_keyframe(d) for d, _ in captured["video/vp8"])
        assert await adapter.request_keyframe(rx_video) == 1
        await wait_until(
            lambda: sum(adapter.is_vp8_keyframe(d) for d, _ in captured["video/vp8"]) > keyframes
        )

        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        # Closing is quick: the tracks' recv() waits and is cancelled cleanly.
        started = time.monotonic()
        await asyncio.gather(*(pc.close() for pc in pcs))
        assert time.monotonic() - started < 2.0
    finally:
        for pc in pcs:
            await pc.close()


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


async def test_forwarding_track_keeps_timestamps_monotonic_across_sources() -> None:
    asked: list[int] = []
    track = adapter.ForwardingTrack("video", on_keyframe_needed=lambda: asked.append(1))
    key = bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0xA0, 0x00, 0x78, 0x00, 0x00])
    delta = bytes([0x11]) + key[1:]
    track.switch("alice")
    assert not track.push(key, 1000, keyframe=True)  # nobody pulls yet: not queued
    pull = asyncio.create_task(track.recv())
    await asyncio.sleep(0)
    assert asked == [1]  # first pull while waiting for a keyframe
    assert not track.push(delta, 1000)  # held until a keyframe
    assert track.push(key, 900_000, keyframe=True)
    first = await pull
    assert track.push(delta, 903_000)
    second = await track.recv()
    assert first.pts is not None and second.pts == first.pts + 3000
    assert first.time_base.denominator == 90000 and bytes(first) == key

    # Another source whose clock is far behind: output keeps increasing.
    track.switch("bob")
    assert len(asked) == 2
    assert track.push(key, 10, keyframe=True)
    third = await track.recv()
    assert third.pts is not None and third.pts > second.pts
    assert track.frames_out_by_label == {"alice": 2, "bob": 1}

    # recv() never raises: it waits, and is cancelled cleanly.
    track.stop()
    waiting = asyncio.create_task(track.recv())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_receive_buffer_setting_reports_kernel_size() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        assert adapter._set_receive_buffer(sock, BUFFER) >= BUFFER  # noqa: SLF001 (test)
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
