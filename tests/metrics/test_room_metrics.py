"""A real room of three aiortc participants, scraped: the figures follow what happened."""

from __future__ import annotations

import pytest

from server.keys import HUBS
from server.live.rooms import LiveRooms
from tests.conftest import Client
from tests.integration.room_client import wait_until
from tests.integration.test_room import (  # noqa: F401  (fixtures)
    Room,
    booked,
    everyone_sees_everyone,
    room,
    room_client,
)
from tests.metrics.scrape import scrape

pytestmark = pytest.mark.filterwarnings(
    "ignore:Changing state of started or joined application is deprecated:DeprecationWarning"
)


async def test_a_room_moves_the_counters(room: Room, room_client: Client) -> None:  # noqa: F811
    client = room_client
    hubs = client.app[HUBS]
    await everyone_sees_everyone(room)
    before = media_sums(hubs)
    first = await scrape(client)
    after = media_sums(hubs)
    assert first.value("concord_rooms_open") == 1
    assert first.value("concord_room_connections") == 3
    assert first.value("concord_room_participants", admission="admitted") == 3
    assert first.value("concord_room_participants", admission="lobby") == 0
    # Everyone receives audio and video from the two others.
    assert first.value("concord_forwarded_streams") == 3 * 2 * 2
    packets = first.value("concord_media_packets_forwarded_total")
    assert packets > 0
    assert first.value("concord_media_bytes_forwarded_total") > packets * 12  # RTP headers alone
    # Each of the three received a keyframe: one join time each.
    assert first.value("concord_join_seconds_count") == 3
    assert first.value("concord_join_seconds_sum") > 0
    # The process totals are the streams' own counts (nobody has left yet), read
    # between two looks at those counts while the media keeps flowing.
    for metric, key in (
        ("concord_media_packets_forwarded_total", "packets_out"),
        ("concord_media_rtx_packets_total", "retransmissions"),
        ("concord_media_pli_sent_total", "keyframes_requested"),
    ):
        assert before[key] <= first.value(metric) <= after[key], metric

    errors_before = first.get("concord_signaling_errors_total", code="invalid_request")
    refused = await room.host.request("no_such_request")
    assert not refused["ok"] and refused["error"]["code"] == "invalid_request"
    after_error = await scrape(client)
    assert after_error.value("concord_signaling_errors_total", code="invalid_request") == (
        errors_before + 1
    )

    # Someone leaves: what was forwarded to and from them stays counted.
    await room.respondent.close()
    await wait_until(lambda: sum(len(live.sessions) for live in hubs) == 2, what="the leave")
    left = await scrape(client)
    assert left.value("concord_room_connections") == 2
    assert left.value("concord_forwarded_streams") == 2 * 2
    assert left.value("concord_media_packets_forwarded_total") >= packets
    assert left.value("concord_join_seconds_count") == 3


def media_sums(hubs: LiveRooms) -> dict[str, int]:
    """Packets, retransmissions and PLIs, as the media servers' per-stream statistics say."""
    sums = {"packets_out": 0, "retransmissions": 0, "keyframes_requested": 0}
    for live in hubs:
        for media in live.media.stats().values():
            sums["keyframes_requested"] += media["publisher"]["video"].get("keyframes_requested", 0)
            subscriber = media["subscriber"] or {}
            for kind in ("audio", "video"):
                for key in ("packets_out", "retransmissions"):
                    sums[key] += subscriber.get(kind, {}).get(key, 0)
    return sums
