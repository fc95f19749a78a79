"""Subscriber negotiation: the serialised offer/answer loop of one subscriber connection.

Only the server offers on a subscriber connection (through ``on_offer``; the
browser answers with :meth:`Subscriber.answer`). It carries one slot per
source the participant may receive (the rules are in
:mod:`server.rooms.media.slots`): a send-only audio m-section followed by a
send-only video m-section. Each active m-section's ``a=msid`` stream id is
the source's participant id (and its track id ``<kind><slot number>``), so a
browser's ``track`` event carries ``streams[0].id == source``; inactive
m-sections carry the stream id ``-``. :attr:`Subscriber.offer` holds the
same mapping (and the mids) for the offer just sent.

When a source is no longer routed to the receiver, forwarding stops at once
(:meth:`Subscriber.feed`: the next packet is not sent) and its slot's two
m-sections are re-offered ``inactive``.

Renegotiation is serialised per subscriber: one offer at a time, the next
only after the answer (or after ``negotiation_timeout``); changes made
meanwhile are folded into the next offer. No offer is made while there is no
slot (aiortc rejects an offer without m-sections). :meth:`Subscriber.restart`
(and a failed or unanswered negotiation) replaces the server-side
connection, since aiortc cannot restart ICE: the next offer then has a new
``connection`` number and the browser must answer it on a *new*
``RTCPeerConnection`` (closing the old one).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription

from server.rooms import aiortc_adapter as adapter
from server.rooms.aiortc_adapter import OutboundStream
from server.rooms.codecs import VideoCodec
from server.rooms.counters import MediaCounters
from server.rooms.link_quality import Verdict
from server.rooms.media import slots as slot_rules
from server.rooms.media.connections import Connections
from server.rooms.media.errors import MediaError, Superseded
from server.rooms.media.link_watch import LinkWatch
from server.rooms.media.publishing import Source, Sources
from server.rooms.media.slots import SlotState
from server.rooms.routing import KINDS, MediaKind

logger = logging.getLogger(__name__)

#: Source → kinds routed to one receiver.
Wanted = Mapping[str, AbstractSet[MediaKind]]


@dataclass(frozen=True)
class SlotInfo:
    """One subscriber slot as offered: its source (None: inactive) and mids."""

    source: str | None
    audio_mid: str | None
    video_mid: str | None


@dataclass(frozen=True)
class SubscriberOffer:
    """What the latest subscriber offer carries, for the signalling message.

    ``connection`` changes when the server replaced the subscriber connection:
    the browser must then answer on a new ``RTCPeerConnection``.
    ``sources`` maps media stream id → participant id (the same string).
    """

    connection: int
    sources: dict[str, str]
    slots: tuple[SlotInfo, ...]


class SubscriberSlot:
    """A slot's state and its send-only audio+video m-section pair on one connection."""

    def __init__(
        self,
        state: SlotState,
        on_keyframe_needed: Callable[[SubscriberSlot], None],
        video_codec: VideoCodec = VideoCodec.VP8,
        *,
        counters: MediaCounters | None = None,
        on_first_keyframe: Callable[[], None] | None = None,
    ):
        self.state = state
        self.transceivers: dict[MediaKind, RTCRtpTransceiver] = {}
        self.feeding: dict[MediaKind, Source | None] = {"audio": None, "video": None}
        self.tracks: dict[MediaKind, OutboundStream] = {
            "audio": OutboundStream("audio", counters=counters),
            "video": OutboundStream(
                "video",
                video_codec=video_codec,
                on_keyframe_needed=lambda: on_keyframe_needed(self),
                counters=counters,
                on_first_keyframe=on_first_keyframe,
            ),
        }

    def update_live(self) -> None:
        """Feed the m-sections only while the browser has them on for the slot's source.

        Sending while an offer that disables the m-section is in flight, or
        before the browser enabled it, only makes holes in the stream: see
        ``OutboundStream.set_live``.
        """
        live = self.state.live
        for track in self.tracks.values():
            track.set_live(live)

    def stop_feeding(self) -> None:
        for kind in KINDS:
            current = self.feeding[kind]
            if current is not None:
                current.sinks.discard(self.tracks[kind])
            self.feeding[kind] = None


class Subscriber:
    """One participant's subscriber connection: its slots, feeds and negotiation loop."""

    def __init__(
        self,
        pid: str,
        *,
        connections: Connections,
        sources: Sources,
        on_offer: Callable[[str, str], Awaitable[None]],
        is_current: Callable[[Subscriber], bool],
        wanted: Callable[[], Wanted],
        on_link: Callable[[str, Verdict, str], None] | None = None,
        video_codec: VideoCodec = VideoCodec.VP8,
        joined_at: float | None = None,
    ) -> None:
        self.pid = pid
        #: The room's video codec: the only one this connection offers.
        self.video_codec = video_codec
        self.pc: RTCPeerConnection | None = None
        self.connection = 0
        self.slots: list[SubscriberSlot] = []
        self.offer: SubscriberOffer | None = None
        self.offers = 0
        self.pending: list[dict[str, Any]] = []  # trickled candidates awaiting the answer
        self._connections = connections
        self._sources = sources
        self._on_offer = on_offer
        self._is_current = is_current
        self._wanted = wanted
        self._lock = asyncio.Lock()
        self._dirty = False
        self._restart = False
        self._failures = 0
        self._task: asyncio.Task[None] | None = None
        self._answer: asyncio.Future[BaseException | None] | None = None
        self._offered: list[tuple[SubscriberSlot, str]] = []  # (slot, stream id) in the offer
        self._on_link = on_link
        #: When the participant's media was attached; None once their first
        #: keyframe went out (and the join time was reported), or when not measured.
        self._joined_at = joined_at
        #: What the browser says of its downlink (server/rooms/link_quality.py).
        self.link = LinkWatch(sent_octets=self._octets_out, on_verdict=self._link_verdict)

    @property
    def waits_for_first_offer(self) -> bool:
        """Sees nobody yet (a newcomer, a replaced connection) until an offer is answered."""
        return self.pc is None or self.offers == 0

    # -- slots and feeds ---------------------------------------------------------------

    def assign(self, sources: AbstractSet[str]) -> bool:
        """Put exactly ``sources`` on slots; whether an offer must describe a change."""
        before = tuple(slot.state for slot in self.slots)
        after = slot_rules.allocate(before, sources)
        for slot, state in zip(self.slots, after, strict=False):
            slot.state = state
        for state in after[len(self.slots) :]:
            self.slots.append(self._new_slot(state))
        return after != before

    def feed(self, wanted: Wanted) -> None:
        """Attach each slot's tracks to the sources routed to it, detach the rest."""
        for slot in self.slots:
            for kind in KINDS:
                source: Source | None = None
                if slot.state.source is not None and kind in wanted.get(slot.state.source, ()):
                    source = self._sources.get(slot.state.source, kind)
                current = slot.feeding[kind]
                if current is source:
                    continue
                track = slot.tracks[kind]
                if current is not None:
                    current.sinks.discard(track)
                slot.feeding[kind] = source
                track.switch(source.pid if source is not None else None)
                if source is not None:
                    source.sinks.add(track)
            slot.update_live()

    def _octets_out(self) -> int:
        return sum(track.octets_out for slot in self.slots for track in slot.tracks.values())

    def _link_verdict(self, verdict: Verdict, reason: str) -> None:
        logger.info("subscriber %s: link verdict %s (%s)", self.pid, verdict, reason or "-")
        if self._on_link is not None:
            self._on_link(self.pid, verdict, reason)

    def release(self) -> None:
        """Stop feeding the subscriber and end its negotiation (it leaves)."""
        self.link.close()
        for slot in self.slots:
            slot.stop_feeding()
            for track in slot.tracks.values():
                track.switch(None)
        self._supersede()
        if self._task is not None:
            self._task.cancel()

    def _new_slot(self, state: SlotState) -> SubscriberSlot:
        return SubscriberSlot(
            state,
            self._keyframe_needed,
            self.video_codec,
            counters=self._connections.counters,
            on_first_keyframe=self._first_keyframe,
        )

    def _first_keyframe(self) -> None:
        """A video keyframe went out to this participant: the first one ends their join."""
        if self._joined_at is not None:
            seconds = time.monotonic() - self._joined_at
            self._joined_at = None
            self._connections.counters.joined(seconds)

    def _keyframe_asked(self, slot: SubscriberSlot) -> None:
        """The subscriber's browser sent a PLI or FIR for the slot's video."""
        self._connections.counters.keyframe_requests_received += 1
        self._keyframe_needed(slot)

    def _keyframe_needed(self, slot: SubscriberSlot) -> None:
        source = slot.feeding["video"]
        # Only while the browser has the m-section sending this source: until
        # the answer comes back the sender drops frames, and applying the
        # answer asks again (see answer()).
        if source is not None and slot.state.negotiated == slot.state.source:
            source.request_keyframe()

    # -- negotiation -------------------------------------------------------------------

    def kick(self) -> None:
        """Something changed: negotiate (now, or after the offer in flight)."""
        self._dirty = True
        if self._connections.closed or not self._is_current(self):
            return
        if self._task is None or self._task.done():
            self._task = self._connections.spawn(self._negotiate(), f"negotiate {self.pid}")

    def restart(self) -> None:
        """Re-offer on a new connection (after a network drop), giving up any offer in flight."""
        self._restart = True
        self._failures = 0
        self._supersede()
        self.kick()

    async def answer(self, sdp: str) -> None:
        """Apply the browser's answer to the offer in flight."""
        waiting = self._answer
        if self.pc is None or waiting is None or waiting.done():
            raise MediaError("no subscriber offer is waiting for an answer")
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception as exc:
            if not waiting.done():
                waiting.set_result(exc)
            raise MediaError(f"the subscriber answer was refused: {exc}") from exc
        for slot, stream_id in self._offered:
            slot.state = slot.state.answered(stream_id)
            # The m-section (re)starts receiving this source now: it becomes
            # live and starts over with a keyframe.
            slot.update_live()
        if not waiting.done():
            waiting.set_result(None)
        pending, self.pending = self.pending, []
        await self._connections.flush_candidates(self.pc, pending)

    def _supersede(self) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(Superseded())

    async def _negotiate(self) -> None:
        async with self._lock:
            while self._dirty and not self._connections.closed:
                self._dirty = False
                if self._restart:
                    self._restart = False
                    self._replace_pc()
                if not self.slots or not slot_rules.needs_offer(s.state for s in self.slots):
                    continue
                try:
                    await self._offer_once()
                    self._failures = 0
                except Superseded:
                    continue
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._failures += 1
                    logger.warning(
                        "subscriber negotiation with %s failed (%s): %s",
                        self.pid,
                        type(exc).__name__,
                        exc,
                    )
                    # The connection is stuck in have-local-offer: close it now;
                    # the next negotiation starts a new one. Retry at once
                    # unless it keeps failing (then wait for a change or a
                    # restart()).
                    if self.pc is not None:
                        self._connections.close_later(self.pc, f"failed subscriber {self.pid}")
                        self.pc = None
                    self._restart = True
                    if self._failures < 2:
                        self._dirty = True

    async def _offer_once(self) -> None:
        connections = self._connections
        if connections.closed or not self._is_current(self):
            raise Superseded()
        if self.pc is None:
            self.pc = connections.new()
            connections.watch(
                self.pc, self.pid, "subscriber", lambda: self.pc if self._is_current(self) else None
            )
        pc = self.pc
        for slot in self.slots:
            if not slot.transceivers:
                self._add_transceivers(pc, slot)
            stream_id = slot.state.stream_id
            for kind in KINDS:
                transceiver = slot.transceivers[kind]
                transceiver.direction = "sendonly" if slot.state.source is not None else "inactive"
                adapter.label_sender(transceiver.sender, stream_id, f"{kind}{slot.state.index}")
            slot.state = slot.state.offering()
            slot.update_live()
        connections.configure_ice(pc)
        await connections.set_local_description(
            pc, await pc.createOffer(), f"subscriber {self.pid}"
        )
        sdp = str(pc.localDescription.sdp)
        infos = tuple(
            SlotInfo(
                source=slot.state.source,
                audio_mid=slot.transceivers["audio"].mid,
                video_mid=slot.transceivers["video"].mid,
            )
            for slot in self.slots
        )
        self.offer = SubscriberOffer(
            connection=self.connection,
            sources={s.source: s.source for s in infos if s.source is not None},
            slots=infos,
        )
        waiting: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        self._answer = waiting
        self._offered = [(slot, slot.state.stream_id) for slot in self.slots]
        self.offers += 1
        try:
            await self._on_offer(self.pid, sdp)
            async with asyncio.timeout(connections.config.negotiation_timeout):
                outcome = await waiting
        finally:
            self._answer = None
            self._offered = []
            for slot in self.slots:
                slot.state = slot.state.settled()
                slot.update_live()
        if isinstance(outcome, Superseded):
            raise outcome
        if outcome is not None:
            raise MediaError(f"the answer was refused: {outcome}")

    def _add_transceivers(self, pc: RTCPeerConnection, slot: SubscriberSlot) -> None:
        for kind in KINDS:
            transceiver = pc.addTransceiver(slot.tracks[kind], direction="sendonly")
            adapter.restrict_codecs(transceiver, self.video_codec)
            slot.tracks[kind].attach(transceiver.sender)
            adapter.hook_feedback(transceiver.sender, self.link.feedback)
            if kind == "video":
                adapter.hook_keyframe_requests(
                    transceiver.sender, functools.partial(self._keyframe_asked, slot)
                )
            slot.transceivers[kind] = transceiver

    def _replace_pc(self) -> None:
        """A new connection with fresh slots for the sources routed now."""
        for slot in self.slots:
            slot.stop_feeding()
        if self.pc is not None:
            self._connections.close_later(self.pc, f"old subscriber {self.pid}")
            self.pc = None
        self.connection += 1
        self.pending = []
        self.link.restart()
        self.slots = [
            self._new_slot(state) for state in slot_rules.fresh_slots(s.state for s in self.slots)
        ]
        self.feed(self._wanted())

    def take_pc(self) -> RTCPeerConnection | None:
        """Hand over the connection for closing; the subscriber has none afterwards."""
        pc, self.pc = self.pc, None
        return pc

    # -- statistics --------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        per_kind: dict[str, dict[str, int]] = {}
        frames_from: dict[str, dict[str, int]] = {}
        for kind in KINDS:
            totals = {
                "frames_out": 0,
                "packets_out": 0,
                "frames_dropped": 0,
                "retransmissions": 0,
                "resumed_with_keyframe": 0,
                "resumed_without_keyframe": 0,
            }
            for slot in self.slots:
                track = slot.tracks[kind]
                totals["frames_out"] += track.frames_out
                totals["packets_out"] += track.packets_out
                totals["frames_dropped"] += track.frames_dropped
                totals["retransmissions"] += track.retransmissions
                totals["resumed_with_keyframe"] += track.resumed_with_keyframe
                totals["resumed_without_keyframe"] += track.resumed_without_keyframe
                for label, n in track.frames_out_by_label.items():
                    by_kind = frames_from.setdefault(label, {"audio": 0, "video": 0})
                    by_kind[kind] += n
            per_kind[kind] = totals
        active = [s.state.source for s in self.slots if s.state.source is not None]
        return {
            "state": self.pc.connectionState if self.pc else None,
            "connection": self.connection,
            "offers": self.offers,
            "slots": len(self.slots),
            "active_slots": len(active),
            "sources": sorted(active),
            **per_kind,
            "frames_from": frames_from,
            "link": {
                "verdict": self.link.verdict.value,
                "reason": self.link.judge.reason,
                "samples": self.link.samples,
                "best_rtt": self.link.judge.best_rtt,
                "loss": self.link.judge.recent_loss,
                "estimate_bps": self.link.judge.recent_estimate,
                "sent_bps": self.link.judge.recent_sent,
            },
        }
