"""The media plane end to end: aiortc clients exchange media through MediaServer.

Everything runs in-process on 127.0.0.1. The clients (``media_clients``)
encode real VP8 and Opus and decode what they receive, so a frame counted
here went publisher → server (captured encoded) → subscriber (decoded).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import pytest
from aiortc.sdp import SessionDescription

from server.rooms import aiortc_adapter as adapter
from server.rooms.link_quality import Verdict
from server.rooms.media import MediaConfig, MediaError, MediaServer, ParticipantMedia
from server.rooms.routing import MediaKind, Route
from tests.rooms.media_clients import HOST, MediaClient

KINDS: tuple[MediaKind, ...] = ("audio", "video")


def all_routes(
    pids: Iterable[str], *, groups: Iterable[set[str]] = (), audio_only: Iterable[str] = ()
) -> frozenset[Route]:
    """Everyone to everyone, except across groups (a caucus and the main room)."""
    group_of = {pid: i for i, group in enumerate(groups) for pid in group}
    audio_only = set(audio_only)
    routes = set()
    for source in pids:
        for receiver in pids:
            if source == receiver or group_of.get(source) != group_of.get(receiver):
                continue
            for kind in KINDS:
                if kind == "video" and receiver in audio_only:
                    continue
                routes.add(Route(source, kind, receiver))
    return frozenset(routes)


async def wait_until(condition: Callable[[], bool], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


class Harness:
    """A MediaServer plus clients; offers are answered the way signalling would."""

    def __init__(self, **config: Any) -> None:
        self.clients: dict[str, MediaClient] = {}
        self.legs: dict[str, ParticipantMedia] = {}  # as the participants' sessions hold them
        self.states: list[tuple[str, str, str]] = []
        self.links: list[tuple[str, Verdict, str]] = []  # the link rule's verdicts
        self.offers: list[tuple[str, int]] = []
        self.ignore_offers: set[str] = set()  # participants who never answer
        self.answer_delay = 0.0
        self.outstanding: dict[str, int] = {}  # offers sent, not yet answered
        self.max_outstanding = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.server = MediaServer(
            MediaConfig(host_addresses=list(HOST), **config),
            on_offer=self.on_offer,
            on_state=self.on_state,
            on_link=lambda pid, verdict, reason: self.links.append((pid, verdict, reason)),
        )

    async def on_offer(self, pid: str, sdp: str) -> None:
        info = self.legs[pid].subscriber_offer()
        assert info is not None
        self.offers.append((pid, info.connection))
        if pid in self.ignore_offers:
            return
        self.outstanding[pid] = self.outstanding.get(pid, 0) + 1
        self.max_outstanding = max(self.max_outstanding, self.outstanding[pid])
        # Like a WebSocket message: sent now, answered later.
        task = asyncio.create_task(self._answer(pid, sdp, info.connection))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, pid: str, sdp: str, connection: int) -> None:
        client = self.clients.get(pid)
        if client is None:
            return
        await asyncio.sleep(self.answer_delay)
        answer = await client.subscriber.handle_offer(sdp, connection)
        self.outstanding[pid] -= 1
        with contextlib.suppress(MediaError):
            await self.legs[pid].subscriber_answer(answer)

    async def on_state(self, pid: str, role: str, state: str) -> None:
        self.states.append((pid, role, state))

    async def attach(self, pid: str) -> ParticipantMedia:
        media = self.legs[pid] = await self.server.attach(pid)
        return media

    async def join(self, *pids: str) -> list[MediaClient]:
        joined = []
        for pid in pids:
            client = self.clients[pid] = MediaClient(pid)
            media = await self.attach(pid)
            answer = await media.publisher_offer(await client.publisher.offer())
            await client.publisher.accept(answer)
            joined.append(client)
        return joined

    async def route(self, routes: frozenset[Route]) -> None:
        await self.server.apply_routes(routes)

    async def receiving(self, expected: dict[str, set[str]], frames: int = 5) -> None:
        """Wait until each receiver decoded ``frames`` audio and video frames per source."""

        def ok() -> bool:
            return all(
                self.clients[receiver].count(source, kind) >= frames
                for receiver, sources in expected.items()
                for source in sources
                for kind in KINDS
            )

        await wait_until(ok, within=30.0)

    def frames_from(self, receiver: str, source: str) -> dict[str, int]:
        sub = self.server.stats()[receiver]["subscriber"]
        counts: dict[str, int] = sub["frames_from"].get(source, {"audio": 0, "video": 0})
        return counts

    async def close(self) -> None:
        await self.server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(c.close() for c in self.clients.values()))


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = Harness()
    try:
        yield h
    finally:
        await h.close()


async def test_two_clients_exchange_media(harness: Harness) -> None:
    a, b = await harness.join("inv-1", "inv-2")
    await harness.route(all_routes(["inv-1", "inv-2"]))
    await harness.receiving({"inv-1": {"inv-2"}, "inv-2": {"inv-1"}}, frames=10)

    stats = harness.server.stats()
    for pid in ("inv-1", "inv-2"):
        assert stats[pid]["publisher"]["state"] == "connected"
        assert stats[pid]["subscriber"]["state"] == "connected"
        assert stats[pid]["publisher"]["video"]["frames_in"] > 0
        assert stats[pid]["publisher"]["audio"]["frames_in"] > 0
        assert stats[pid]["subscriber"]["slots"] == 1
        assert stats[pid]["subscriber"]["video"]["resumed_without_keyframe"] == 0
    # The subscriber slot is labelled with the source's participant id.
    info = harness.legs["inv-1"].subscriber_offer()
    assert info is not None
    assert info.sources == {"inv-2": "inv-2"}
    assert a.subscriber.slots[info.slots[0].video_mid or ""].source == "inv-2"
    assert b.unlabelled() == 0
    assert ("inv-1", "publisher", "connected") in harness.states
    assert ("inv-1", "subscriber", "connected") in harness.states


async def test_the_answer_asks_publishers_for_opus_fec_and_dtx(harness: Harness) -> None:
    """What a browser's encoder reads from the server's answer; media flows with it."""
    a, _ = await harness.join("inv-1", "inv-2")
    pc = a.publisher.pc
    assert pc is not None
    opus = [
        codec
        for media in SessionDescription.parse(pc.remoteDescription.sdp).media
        for codec in media.rtp.codecs
        if codec.mimeType.lower() == "audio/opus"
    ]
    assert opus and all(
        str(c.parameters.get("useinbandfec")) == "1" and str(c.parameters.get("usedtx")) == "1"
        for c in opus
    )
    await harness.route(all_routes(["inv-1", "inv-2"]))
    await harness.receiving({"inv-1": {"inv-2"}, "inv-2": {"inv-1"}}, frames=5)


async def test_three_clients_caucus_stops_and_resumes_forwarding(harness: Harness) -> None:
    pids = ["inv-1", "inv-2", "staff-3"]
    a, b, c = await harness.join(*pids)
    everyone = all_routes(pids)
    await harness.route(everyone)
    await harness.receiving({p: set(pids) - {p} for p in pids})
    kf_before = {p: harness.server.stats()[p]["publisher"]["video"]["keyframes_in"] for p in pids}

    # inv-1 and inv-2 go into a caucus; staff-3 stays in the main room.
    await harness.route(all_routes(pids, groups=[{"inv-1", "inv-2"}]))
    # Forwarding stopped inside apply_routes: the server hands nothing more over.
    stopped = {src: harness.frames_from("staff-3", src) for src in ("inv-1", "inv-2")}
    await asyncio.sleep(0.4)  # frames already in flight arrive
    for client in (a, b, c):
        client.subscriber.reset()
    await asyncio.sleep(1.5)
    for src in ("inv-1", "inv-2"):
        for kind in KINDS:
            assert c.count(src, kind) == 0, (src, kind)
        assert harness.frames_from("staff-3", src) == stopped[src]
        assert a.count("staff-3", "video") == 0
    assert c.unlabelled() == 0
    # Inside the caucus media still flows.
    assert a.count("inv-2", "video") > 5 and a.count("inv-2", "audio") > 20
    assert b.count("inv-1", "video") > 5 and b.count("inv-1", "audio") > 20
    # The released slots were re-offered inactive.
    await wait_until(lambda: all(s.source is None for s in c.subscriber.slots.values()))
    assert harness.server.stats()["staff-3"]["subscriber"]["active_slots"] == 0

    # Back in the main room: the old slots are reused, video restarts on a keyframe.
    await harness.route(everyone)
    await harness.receiving({"staff-3": {"inv-1", "inv-2"}, "inv-1": {"staff-3"}})
    stats = harness.server.stats()
    sub = stats["staff-3"]["subscriber"]
    assert sub["slots"] == 2
    assert sub["video"]["resumed_without_keyframe"] == 0
    assert sub["video"]["resumed_with_keyframe"] >= 4  # first start, then the resume
    for p in ("inv-1", "inv-2"):
        assert stats[p]["publisher"]["video"]["keyframes_in"] > kf_before[p]
        assert stats[p]["publisher"]["video"]["keyframes_requested"] >= 2


async def test_audio_only_receiver_gets_no_video(harness: Harness) -> None:
    pids = ["inv-1", "inv-2"]
    a, b = await harness.join(*pids)
    await harness.route(all_routes(pids, audio_only=["inv-2"]))
    await wait_until(lambda: b.count("inv-1", "audio") > 20 and a.count("inv-2", "video") > 5)
    assert b.count("inv-1", "video") == 0
    assert harness.frames_from("inv-2", "inv-1")["video"] == 0


async def test_nobody_to_receive_means_no_offer(harness: Harness) -> None:
    await harness.join("inv-1")
    await harness.route(frozenset())
    await harness.route(frozenset({Route("inv-1", "audio", "inv-1")}))  # own media: ignored
    await asyncio.sleep(0.3)
    assert harness.offers == []
    assert harness.server.stats()["inv-1"]["subscriber"] is None


async def test_close_participant_cleans_up_and_slot_is_reused(harness: Harness) -> None:
    pids = ["inv-1", "inv-2", "inv-3"]
    a, b, c = await harness.join(*pids)
    await harness.route(all_routes(pids))
    await harness.receiving({p: set(pids) - {p} for p in pids})
    publisher_pc = a.publisher.pc
    assert publisher_pc is not None

    started = time.monotonic()
    await harness.legs["inv-1"].close()
    assert time.monotonic() - started < 2.0
    assert "inv-1" not in harness.server.stats()
    await wait_until(lambda: publisher_pc.connectionState in ("closed", "failed"))
    # The others' slots for inv-1 went inactive.
    for client in (b, c):
        await wait_until(
            lambda client=client: all(  # type: ignore[misc]
                s.source != "inv-1" for s in client.subscriber.slots.values()
            )
        )
    await harness.route(all_routes(["inv-2", "inv-3"]))
    b.subscriber.reset()
    await asyncio.sleep(0.5)
    assert b.count("inv-1", "video") == 0

    # A newcomer takes the freed slot instead of a new pair of m-sections.
    await harness.join("inv-4")
    await harness.route(all_routes(["inv-2", "inv-3", "inv-4"]))
    await harness.receiving({"inv-2": {"inv-3", "inv-4"}, "inv-4": {"inv-2", "inv-3"}})
    stats = harness.server.stats()
    assert stats["inv-2"]["subscriber"]["slots"] == 2
    assert stats["inv-2"]["subscriber"]["sources"] == ["inv-3", "inv-4"]
    await harness.legs["inv-1"].close()  # again: nothing happens


async def test_routes_reach_attached_participants_only(harness: Harness) -> None:
    await harness.join("inv-1")
    # inv-9 is routed but has no connection: the server makes nothing for them.
    await harness.route(all_routes(["inv-1", "inv-9"]))
    await asyncio.sleep(0.3)
    assert set(harness.server.stats()) == {"inv-1"} == harness.server.attached
    assert harness.offers == []

    # Once attached, the routes already applied reach them.
    await harness.join("inv-9")
    await harness.receiving({"inv-9": {"inv-1"}, "inv-1": {"inv-9"}})
    assert harness.server.attached == {"inv-1", "inv-9"}


async def test_attaching_again_replaces_the_old_legs(harness: Harness) -> None:
    a, b = await harness.join("inv-1", "inv-2")
    await harness.route(all_routes(["inv-1", "inv-2"]))
    await harness.receiving({"inv-1": {"inv-2"}, "inv-2": {"inv-1"}})
    old = harness.legs["inv-1"]
    old_pc = old.publisher
    assert old_pc is not None

    # The same participant on a new connection (a new tab): the old legs close.
    await a.close()
    client = harness.clients["inv-1"] = MediaClient("inv-1")
    new = await harness.attach("inv-1")
    assert old.closed and not new.closed
    assert harness.server.attached == {"inv-1", "inv-2"}
    await wait_until(lambda: old_pc.connectionState in ("closed", "failed"))
    # The old handle refuses; it cannot reach the new connection's legs.
    with pytest.raises(MediaError):
        await old.publisher_offer("v=0\r\n")
    with pytest.raises(MediaError):
        await old.restart_subscriber()
    assert new.publisher is None

    answer = await new.publisher_offer(await client.publisher.offer())
    await client.publisher.accept(answer)
    b.subscriber.reset()
    # No routes applied again: those already applied reach the new legs.
    await harness.receiving({"inv-1": {"inv-2"}, "inv-2": {"inv-1"}})
    await old.close()  # again: nothing happens
    assert harness.server.attached == {"inv-1", "inv-2"} and not new.closed


async def test_keyframe_requests_are_rate_limited(harness: Harness) -> None:
    from server.rooms import aiortc_adapter as adapter

    a, b = await harness.join("inv-1", "inv-2")
    await harness.route(all_routes(["inv-1", "inv-2"]))
    await harness.receiving({"inv-2": {"inv-1"}})
    before = harness.server.stats()["inv-1"]["publisher"]["video"]
    receiver = b.subscriber.receiver_for("inv-1", "video")

    started = time.monotonic()
    sent = 0
    for _ in range(20):  # a PLI storm from the subscriber: 20 in about 1 s
        sent += await adapter.request_keyframe(receiver)
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.7)  # the last folded request goes out
    elapsed = time.monotonic() - started
    after = harness.server.stats()["inv-1"]["publisher"]["video"]

    assert sent == 20
    assert after["keyframe_requests"] - before["keyframe_requests"] >= 20
    forwarded = after["keyframes_requested"] - before["keyframes_requested"]
    interval = harness.server.config.keyframe_request_interval
    assert 1 <= forwarded <= elapsed / interval + 1
    assert after["keyframes_in"] > before["keyframes_in"]


async def test_restart_subscriber_makes_a_new_connection(harness: Harness) -> None:
    a, b = await harness.join("inv-1", "inv-2")
    await harness.route(all_routes(["inv-1", "inv-2"]))
    await harness.receiving({"inv-2": {"inv-1"}})
    old_pc = b.subscriber.pc

    await harness.legs["inv-2"].restart_subscriber()
    await wait_until(lambda: ("inv-2", 1) in harness.offers)
    b.subscriber.reset()
    await harness.receiving({"inv-2": {"inv-1"}})
    assert b.subscriber.pc is not old_pc
    stats = harness.server.stats()["inv-2"]["subscriber"]
    assert stats["connection"] == 1
    assert stats["slots"] == 1
    assert stats["video"]["resumed_without_keyframe"] == 0
    with pytest.raises(MediaError):
        await harness.legs["inv-2"].subscriber_answer("v=0\r\n")  # no offer pending


async def test_publisher_renegotiation_and_ice_restart(harness: Harness) -> None:
    a, b = await harness.join("inv-1", "inv-2")
    await harness.route(all_routes(["inv-1", "inv-2"]))
    await harness.receiving({"inv-2": {"inv-1"}})

    # A re-offer with the same ICE credentials renegotiates the same connection.
    pc = a.publisher.pc
    assert pc is not None
    await pc.setLocalDescription(await pc.createOffer())
    answer = await harness.legs["inv-1"].publisher_offer(pc.localDescription.sdp)
    await a.publisher.accept(answer)
    b.subscriber.reset()
    await harness.receiving({"inv-2": {"inv-1"}})

    # New ICE credentials (here: a new client connection) get a new server connection;
    # subscribers keep their slot and restart on a keyframe.
    answer = await harness.legs["inv-1"].publisher_offer(await a.publisher.offer())
    await a.publisher.accept(answer)
    b.subscriber.reset()
    await harness.receiving({"inv-2": {"inv-1"}})
    stats = harness.server.stats()
    assert stats["inv-2"]["subscriber"]["slots"] == 1
    assert stats["inv-2"]["subscriber"]["offers"] == 1
    assert stats["inv-2"]["subscriber"]["video"]["resumed_without_keyframe"] == 0


async def test_trickled_candidates_go_to_the_bundled_transport(harness: Harness) -> None:
    from server.rooms import aiortc_adapter as adapter

    client = MediaClient("inv-1")
    harness.clients["inv-1"] = client
    media = await harness.attach("inv-1")
    offer = await client.publisher.offer()
    candidates = [line[2:] for line in offer.splitlines() if line.startswith("a=candidate:")]
    assert candidates
    # As a browser that trickles: no candidates, no end-of-candidates in the offer.
    stripped = "\r\n".join(
        line
        for line in offer.splitlines()
        if not line.startswith(("a=candidate:", "a=end-of-candidates"))
    )
    ufrag = next(line.split(":", 1)[1] for line in offer.splitlines() if "ice-ufrag" in line)

    # One arrives before the offer is applied: kept until then.
    await media.add_ice_candidate(
        "publisher", {"candidate": candidates[0], "sdpMid": "1", "sdpMLineIndex": 1}
    )
    answer = await harness.legs["inv-1"].publisher_offer(stripped + "\r\n")
    await client.publisher.accept(answer)
    pc = media.publisher
    assert pc is not None
    remote = adapter.remote_candidates(pc)
    assert [(c.ip, c.port) for c in remote] == [
        (c.ip, c.port) for c in [adapter.parse_candidate(candidates[0])] if c is not None
    ]
    # A candidate for other ICE credentials is dropped; end-of-candidates is fine.
    other = (
        candidates[0]
        .replace(" typ host", " typ host ufrag stale")
        .replace(candidates[0].split()[5], "9")
    )
    await media.add_ice_candidate(
        "publisher", {"candidate": other, "sdpMid": "0", "sdpMLineIndex": 0}
    )
    assert len(adapter.remote_candidates(pc)) == 1
    assert ufrag
    await media.add_ice_candidate("publisher", {"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0})
    with pytest.raises(MediaError):
        await media.add_ice_candidate("publisher", {"candidate": "bogus"})
    await wait_until(lambda: pc.connectionState == "connected")


async def test_close_is_quick_and_leaves_no_tasks() -> None:
    h = Harness()
    await h.join("inv-1", "inv-2")
    await h.route(all_routes(["inv-1", "inv-2"]))
    await h.receiving({"inv-1": {"inv-2"}, "inv-2": {"inv-1"}})
    started = time.monotonic()
    await h.server.close()
    assert time.monotonic() - started < 2.0
    assert h.server._tasks == set()  # noqa: SLF001 (test)
    with pytest.raises(MediaError):
        await h.server.apply_routes(frozenset())
    await h.close()


async def test_renegotiation_is_serialised_per_subscriber(harness: Harness) -> None:
    pids = ["inv-1", "inv-2", "inv-3", "inv-4"]
    clients = await harness.join(*pids)
    harness.answer_delay = 0.15
    layouts = [
        all_routes(pids[:2]),
        all_routes(pids),
        all_routes(pids, groups=[{"inv-1", "inv-2"}]),
        all_routes(pids, groups=[{"inv-1", "inv-3"}, {"inv-2"}]),
        all_routes(pids[1:]),
        all_routes(pids, groups=[{"inv-4"}]),
    ]
    for routes in layouts:  # faster than the answers come back
        await harness.route(routes)
        await asyncio.sleep(0.05)
    await harness.route(all_routes(pids))
    await harness.receiving({p: set(pids) - {p} for p in pids})
    assert harness.max_outstanding == 1
    offers = [sum(1 for pid, _ in harness.offers if pid == p) for p in pids]
    assert max(offers) >= 3, offers  # changes were folded into later offers
    stats = harness.server.stats()
    for client in clients:
        sub = stats[client.pid]["subscriber"]
        assert sub["active_slots"] == 3
        assert sub["slots"] <= 4
        assert sub["video"]["resumed_without_keyframe"] == 0
        # The client's view of its slots matches the server's last offer.
        labelled = sorted(s.source for s in client.subscriber.slots.values() if s.source)
        assert labelled == sorted(2 * sorted(set(pids) - {client.pid}))


async def test_unanswered_offer_gives_up_the_connection() -> None:
    h = Harness(negotiation_timeout=0.4)
    try:
        await h.join("inv-1", "inv-2")
        h.ignore_offers.add("inv-2")
        await h.route(all_routes(["inv-1", "inv-2"]))
        # One retry on a new connection, then it waits for a change or a restart.
        await wait_until(lambda: ("inv-2", 1) in h.offers)
        await asyncio.sleep(1.0)
        assert [o for o in h.offers if o[0] == "inv-2"] == [("inv-2", 0), ("inv-2", 1)]
        h.ignore_offers.clear()
        await h.legs["inv-2"].restart_subscriber()
        await h.receiving({"inv-2": {"inv-1"}, "inv-1": {"inv-2"}})
        assert h.server.stats()["inv-2"]["subscriber"]["connection"] == 2
    finally:
        await h.close()


async def test_receiver_reports_reach_the_link_rule_and_a_clean_link_keeps_video(
    harness: Harness,
) -> None:
    """Real aiortc subscribers' RTCP (receiver reports) feed each subscriber's link watch;
    on loopback nothing is congested, so nobody is moved to audio-only."""
    await harness.join("inv-1", "inv-2")
    await harness.route(all_routes(["inv-1", "inv-2"]))
    await harness.receiving({"inv-1": {"inv-2"}, "inv-2": {"inv-1"}}, frames=10)

    def reported() -> bool:
        stats = harness.server.stats()
        return all(stats[pid]["subscriber"]["link"]["samples"] >= 3 for pid in ("inv-1", "inv-2"))

    await wait_until(reported, within=20.0)
    for pid in ("inv-1", "inv-2"):
        assert harness.server.stats()[pid]["subscriber"]["link"]["verdict"] == "video"
    assert harness.links == []


async def test_a_link_verdict_reaches_the_media_servers_owner(harness: Harness) -> None:
    """The watch's verdict (here handed to it as a congested sample would) is passed on
    with the participant's id and the reason, and a probe timer is set."""
    await harness.join("inv-1", "inv-2")
    await harness.route(all_routes(["inv-1", "inv-2"]))
    await harness.receiving({"inv-2": {"inv-1"}}, frames=3)
    legs = harness.legs["inv-2"]
    assert legs.subscriber is not None
    watch = legs.subscriber.link
    watch.judge.start(-100.0)  # past the settling time
    watch.judge.bad_since = -100.0
    watch.judge.best_rtt = 0.01
    watch.feedback(adapter.ReceiverFeedback(fraction_lost=0.9))
    assert harness.links == [("inv-2", Verdict.AUDIO_ONLY, "loss")]
    assert watch._timer is not None
