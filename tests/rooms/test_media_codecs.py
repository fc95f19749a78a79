"""The media plane in an H.264 room: aiortc clients exchange H.264 through MediaServer.

The clients (``media_clients``) encode H.264 with libx264 (through PyAV, as
aiortc does) and decode what they receive, so a frame counted here went
publisher → server (forwarded packet by packet, unchanged) → subscriber
(decoded). Both connections of every participant negotiate only the room's
codec; the server starts each subscriber at an H.264 keyframe.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from server.rooms.codecs import VideoCodec
from server.rooms.media import MediaError, ParticipantMedia
from tests.rooms.media_clients import MediaClient
from tests.rooms.test_media import Harness, all_routes, wait_until

H264_MIME = "video/h264"


class CodecHarness(Harness):
    """The media-plane harness with every participant attached in one codec."""

    def __init__(self, video_codec: VideoCodec) -> None:
        super().__init__()
        self.video_codec = video_codec

    async def attach(self, pid: str) -> ParticipantMedia:
        media = self.legs[pid] = await self.server.attach(pid, self.video_codec)
        return media

    async def join(self, *pids: str) -> list[MediaClient]:
        joined = []
        for pid in pids:
            client = self.clients[pid] = MediaClient(pid, video_codec=self.video_codec)
            media = await self.attach(pid)
            answer = await media.publisher_offer(await client.publisher.offer())
            await client.publisher.accept(answer)
            joined.append(client)
        return joined


@pytest.fixture
async def h264() -> AsyncIterator[CodecHarness]:
    h = CodecHarness(VideoCodec.H264)
    try:
        yield h
    finally:
        await h.close()


async def test_h264_is_forwarded_and_decoded_both_ways(h264: CodecHarness) -> None:
    a, b = await h264.join("inv-1", "inv-2")
    await h264.route(all_routes(["inv-1", "inv-2"]))
    await h264.receiving({"inv-1": {"inv-2"}, "inv-2": {"inv-1"}}, frames=15)

    stats = h264.server.stats()
    for client in (a, b):
        # Only H.264 (constrained baseline, packetization mode 1) on either leg.
        assert client.publisher.video_codecs == {H264_MIME}
        assert client.subscriber.video_codecs == {H264_MIME}
        assert client.publisher.pc is not None
        answer = client.publisher.pc.remoteDescription.sdp
        assert "profile-level-id=42e01f" in answer and "packetization-mode=1" in answer
        assert "42001f" not in answer
        publisher = stats[client.pid]["publisher"]["video"]
        assert publisher["keyframes_in"] >= 1
        subscriber = stats[client.pid]["subscriber"]["video"]
        # Each subscriber began at a keyframe the packet reader found.
        assert subscriber["resumed_with_keyframe"] >= 1
        assert subscriber["resumed_without_keyframe"] == 0


async def test_a_late_subscriber_starts_at_a_requested_h264_keyframe(h264: CodecHarness) -> None:
    """libx264 sends keyframes rarely: the late one gets a PLI-driven IDR, not a wait."""
    pids = ["inv-1", "inv-2"]
    await h264.join(*pids)
    await h264.route(all_routes(pids))
    await h264.receiving({"inv-1": {"inv-2"}, "inv-2": {"inv-1"}}, frames=10)
    before = h264.server.stats()["inv-1"]["publisher"]["video"]["keyframes_in"]

    pids.append("staff-3")
    await h264.join("staff-3")
    await h264.route(all_routes(pids))
    await h264.receiving({"staff-3": {"inv-1", "inv-2"}}, frames=10)
    stats = h264.server.stats()
    assert stats["inv-1"]["publisher"]["video"]["keyframes_in"] > before
    assert stats["inv-1"]["publisher"]["video"]["keyframes_requested"] >= 1
    assert stats["staff-3"]["subscriber"]["video"]["resumed_without_keyframe"] == 0


async def test_one_codec_per_media_server(h264: CodecHarness) -> None:
    await h264.attach("inv-1")
    with pytest.raises(MediaError, match="h264"):
        await h264.server.attach("inv-2", VideoCodec.VP8)
    # The same participant again (a new tab) replaces its own handle, so it may
    # change codec when nobody else is attached; so may the next first one.
    replaced = await h264.server.attach("inv-1", VideoCodec.VP8)
    assert replaced.video_codec is VideoCodec.VP8
    await replaced.close()
    assert (await h264.server.attach("inv-2", VideoCodec.H264)).video_codec is VideoCodec.H264


async def test_vp8_rooms_negotiate_vp8_only() -> None:
    vp8 = CodecHarness(VideoCodec.VP8)
    try:
        a, b = await vp8.join("inv-1", "inv-2")
        await vp8.route(all_routes(["inv-1", "inv-2"]))
        await vp8.receiving({"inv-1": {"inv-2"}, "inv-2": {"inv-1"}}, frames=5)
        for client in (a, b):
            assert client.publisher.video_codecs == {"video/vp8"}
            assert client.subscriber.video_codecs == {"video/vp8"}
        await wait_until(lambda: vp8.server.stats()["inv-1"]["publisher"]["video"]["frames_in"] > 0)
    finally:
        await vp8.close()
