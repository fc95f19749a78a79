"""The media plane: forward Opus and VP8 RTP packets between participants.

A library on aiortc; the signalling layer drives it and the room's pure
routing function decides who receives what. :class:`MediaServer` only applies
the routes it is given.

Connection model (see ``docs/room.md``): two ``RTCPeerConnection`` per
participant, both ``max-bundle``, VP8 the only video codec, Opus the only
audio codec.

- **Publisher**: the browser offers one send-only audio and one send-only video
  m-section (:meth:`MediaServer.publisher_offer`); the server answers. Each
  RTP packet is taken from aiortc's receiver as it arrives (see
  ``aiortc_adapter``) and sent on at once, rewritten, to the subscriber
  m-sections the routes allow: nothing is re-assembled, buffered or queued. A
  later offer on the same connection (same ICE ufrag) renegotiates
  it; an offer with new ICE credentials (an ICE restart, or a brand-new
  browser connection after a network drop) gets a new server-side connection,
  because aiortc cannot restart ICE. Subscribers then wait for the next
  keyframe, which is requested at once.
- **Subscriber**: only the server offers (through ``on_offer``; the browser
  answers with :meth:`MediaServer.subscriber_answer`). It carries one *slot*
  per source the participant may receive: a send-only audio m-section followed
  by a send-only video m-section. Each active m-section's ``a=msid`` stream id
  is the source's participant id (and its track id ``<kind><slot number>``),
  so a browser's ``track`` event carries ``streams[0].id == source``; inactive
  m-sections carry the stream id ``-``. :meth:`MediaServer.subscriber_offer`
  returns the same mapping (and the mids) for the offer just sent.

  When a source is no longer routed to the receiver, forwarding stops at once
  (inside :meth:`MediaServer.apply_routes`: the next packet is not sent) and
  its slot's two m-sections are
  re-offered ``inactive``. A slot is reused for *another* source only once an
  answer to that ``inactive`` offer came back, so in the browser every new
  source on an m-section is an ``inactive`` → ``sendonly`` transition, which
  fires a fresh ``track`` event with the new stream id (Chrome and Firefox do
  not fire one when only the msid of a live m-section changes). A source that
  comes back takes its old slot again if it is still free. Slots are never
  removed (m-sections cannot be), only reused.

  Renegotiation is serialised per subscriber: one offer at a time, the next
  only after the answer (or after ``negotiation_timeout``); changes made
  meanwhile are folded into the next offer. No offer is made while there is no
  slot (aiortc rejects an offer without m-sections).
  :meth:`MediaServer.restart_subscriber` (and a failed or unanswered
  negotiation) replaces the server-side connection, since aiortc cannot
  restart ICE: the next offer then has a new ``connection`` number in
  :meth:`MediaServer.subscriber_offer` and the browser must answer it on a
  *new* ``RTCPeerConnection`` (closing the old one).

  A slot's m-sections are fed only while they are *live*: the last answer had
  the slot on this source and no offer awaiting its answer changes that.
  Packets sent to an m-section the browser has not (or no longer) enabled are
  dropped there and would leave holes in the stream's sequence numbers.

Packets: each subscriber m-section is one continuous RTP stream (its own SSRC,
sequence numbers and timestamps) whatever source feeds it; a new source, a
resumed one or a new publisher connection starts a new *run* that continues
the numbering. Subscribers' NACKs are answered from a short per-stream history
over RTX; RTCP sender reports carry what each stream really sent.

Keyframes: a subscriber's video starts (and restarts, after each new run) at
the first packet of a VP8 keyframe; a keyframe request (RTCP PLI) goes to the
publisher when a subscriber starts waiting for one and whenever the
subscriber sends PLI/FIR. Requests are rate-limited per publisher to one per
``keyframe_request_interval``; those that arrive meanwhile are folded into one
PLI at the end of the interval, dropped if a keyframe arrives first.

ICE: every connection uses ``RTCConfiguration(iceServers=config.ice_servers)``
(possibly empty: never aiortc's default public STUN server), gathers host
candidates on ``config.host_addresses`` when given (aioice skips 127.0.0.1 by
itself) and raises its UDP sockets' ``SO_RCVBUF``. The server's candidates
are all in its SDP (no trickle from the server). Trickled browser candidates
go to the one bundled ICE transport whatever m-section they name; those that
arrive before the description they belong to are kept until it is set; those
whose ``ufrag`` names other ICE credentials are dropped.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import re
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Literal

import aiortc
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.sdp import SessionDescription

from server.rooms import aiortc_adapter as adapter
from server.rooms.aiortc_adapter import Kind, OutboundStream
from server.rooms.routing import Route

logger = logging.getLogger(__name__)

KINDS: tuple[Kind, Kind] = ("audio", "video")
Target = Literal["publisher", "subscriber"]

#: Stream id of an inactive subscriber m-section ("no stream", RFC 8830).
NO_STREAM = "-"
#: Participant ids go into ``a=msid`` lines: RFC 4566 token characters, at most 64.
PARTICIPANT_ID = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`{|}~-]{1,64}")
#: Trickled candidates kept per connection until its description is set.
MAX_PENDING_CANDIDATES = 64


class MediaError(Exception):
    """A request the media plane cannot honour (bad SDP, no offer pending, ...)."""


@dataclass(frozen=True)
class MediaConfig:
    #: STUN/TURN servers for every connection; dicts like the browser's
    #: ``RTCIceServer`` (``urls``, ``username``, ``credential``) or aiortc objects.
    ice_servers: list[RTCIceServer | Mapping[str, Any]] = field(default_factory=list)
    #: Addresses to gather host candidates on (e.g. ``["127.0.0.1"]``); empty
    #: lets aioice pick the machine's interfaces (it skips loopback).
    host_addresses: list[str] = field(default_factory=list)
    udp_receive_buffer: int = 4 * 1024 * 1024
    #: Least time between two keyframe requests (PLI) to one publisher.
    keyframe_request_interval: float = 0.5
    #: How long a subscriber offer waits for its answer before the connection
    #: is given up (and replaced at the next negotiation).
    negotiation_timeout: float = 15.0
    #: Upper bound on closing one peer connection.
    close_timeout: float = 5.0


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


# --- sources --------------------------------------------------------------------------


class _Source:
    """One participant's audio or video; outlives publisher connections.

    Its :class:`~server.rooms.aiortc_adapter.PacketFanout` gets every RTP
    packet of the current publisher receiver and sends it on to ``sinks``.
    """

    def __init__(self, server: MediaServer, pid: str, kind: Kind) -> None:
        self.server = server
        self.pid = pid
        self.kind = kind
        self.fanout = adapter.PacketFanout(kind, on_keyframe=self._keyframe_arrived)
        self.receiver: RTCRtpReceiver | None = None
        self.keyframe_requests = 0  # asked for by subscribers or the forwarder
        self.keyframes_requested = 0  # PLIs actually sent to the publisher
        self._last_pli = -math.inf
        self._deferred: asyncio.TimerHandle | None = None

    @property
    def sinks(self) -> set[OutboundStream]:
        return self.fanout.sinks

    def attach(self, receiver: RTCRtpReceiver) -> None:
        """Take packets from this (new) publisher receiver from now on."""
        self._silence_receiver()
        self.receiver = receiver
        self.fanout.reset()
        adapter.tap_rtp_packets(receiver, self.fanout)
        # A new stream: every subscriber starts a new run and, for video,
        # waits for (and asks for) a keyframe.
        for sink in list(self.sinks):
            sink.switch(self.pid)

    def detach(self) -> None:
        self._silence_receiver()
        self.receiver = None
        self.cancel()

    def _silence_receiver(self) -> None:
        """The old receiver (its connection is closing) feeds nobody any more."""
        if self.receiver is not None:
            adapter.tap_rtp_packets(self.receiver, _ignore_packet)

    def _keyframe_arrived(self) -> None:
        if self._deferred is not None:  # that request is answered
            self._deferred.cancel()
            self._deferred = None

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe, at most once per interval."""
        if self.kind != "video":
            return
        self.keyframe_requests += 1
        if self._deferred is not None:
            return
        loop = asyncio.get_running_loop()
        wait = self._last_pli + self.server.config.keyframe_request_interval - loop.time()
        if wait <= 0:
            self._send_pli()
        else:
            self._deferred = loop.call_later(wait, self._send_pli)

    def _send_pli(self) -> None:
        self._deferred = None
        receiver = self.receiver
        if receiver is None:
            return
        self._last_pli = asyncio.get_running_loop().time()
        self.server._spawn(self._pli(receiver), f"pli {self.pid}")

    async def _pli(self, receiver: RTCRtpReceiver) -> None:
        if await adapter.request_keyframe(receiver):
            self.keyframes_requested += 1
        elif (
            receiver is self.receiver
            and self._deferred is None
            and any(sink.waiting_for_keyframe and sink.sending for sink in self.sinks)
        ):
            # No media from this receiver yet (a new connection): a PLI has no
            # SSRC to go to. Ask again after the interval unless a keyframe
            # arrives first.
            self._deferred = asyncio.get_running_loop().call_later(
                self.server.config.keyframe_request_interval, self._send_pli
            )

    def cancel(self) -> None:
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "frames_in": self.fanout.frames_in,
            "packets_in": self.fanout.packets_in,
            "subscribers": len(self.sinks),
        }
        if self.kind == "video":
            out |= {
                "keyframes_in": self.fanout.keyframes_in,
                "keyframe_requests": self.keyframe_requests,
                "keyframes_requested": self.keyframes_requested,
            }
        return out


# --- subscribers ----------------------------------------------------------------------


class _Unset:
    """Marks a slot that no answered offer described yet."""


_UNSET = _Unset()


class _Slot:
    """A send-only audio+video m-section pair on one subscriber connection."""

    def __init__(self, server: MediaServer, index: int, source: str) -> None:
        self.index = index
        self.source: str | None = source  # wanted now
        self.last_source = source
        self.negotiated: str | _Unset = _UNSET  # stream id in the last answered offer
        self.in_flight: str | _Unset = _UNSET  # stream id in the offer awaiting its answer
        self.transceivers: dict[str, RTCRtpTransceiver] = {}
        self.feeding: dict[str, _Source | None] = {"audio": None, "video": None}
        self.tracks: dict[str, OutboundStream] = {
            "audio": OutboundStream("audio"),
            "video": OutboundStream(
                "video", on_keyframe_needed=lambda: server._keyframe_needed(self)
            ),
        }

    @property
    def stream_id(self) -> str:
        return self.source if self.source is not None else NO_STREAM

    def reusable(self) -> bool:
        """Free for another source: inactive, and the browser has said so."""
        return (
            self.source is None
            and self.negotiated == NO_STREAM
            and self.in_flight in (_UNSET, NO_STREAM)
        )


def _update_live(slot: _Slot) -> None:
    """Feed the slot's m-sections only while the browser has them on for its source.

    That is: the last answered offer had this source on the slot, and no offer
    awaiting its answer changes that. (Sending while an offer that disables
    the m-section is in flight, or before the browser enabled it, only makes
    holes in the stream: see ``OutboundStream.set_live``.)
    """
    live = (
        slot.source is not None
        and slot.negotiated == slot.source
        and (slot.in_flight is _UNSET or slot.in_flight == slot.source)
    )
    for track in slot.tracks.values():
        track.set_live(live)


class _Subscriber:
    def __init__(self, pid: str) -> None:
        self.pid = pid
        self.pc: RTCPeerConnection | None = None
        self.connection = 0
        self.slots: list[_Slot] = []
        self.lock = asyncio.Lock()
        self.dirty = False
        self.restart = False
        self.failures = 0
        self.task: asyncio.Task[None] | None = None
        self.answer: asyncio.Future[BaseException | None] | None = None
        self.offer: SubscriberOffer | None = None
        self.offered: list[tuple[_Slot, str]] = []  # (slot, stream id) in the pending offer
        self.offers = 0
        self.pending: list[dict[str, Any]] = []

    def needs_offer(self) -> bool:
        return any(
            not slot.transceivers or slot.stream_id != slot.negotiated for slot in self.slots
        )


class _Participant:
    def __init__(self, pid: str) -> None:
        self.pid = pid
        self.publisher: RTCPeerConnection | None = None
        self.publisher_ufrag: str | None = None
        self.publisher_lock = asyncio.Lock()
        self.pending: list[dict[str, Any]] = []  # publisher candidates
        self.subscriber: _Subscriber | None = None


class _Superseded(Exception):
    """The offer awaiting its answer was replaced (restart or close)."""


# --- the server -----------------------------------------------------------------------


class MediaServer:
    """Publisher and subscriber connections of every participant of one process."""

    def __init__(
        self,
        config: MediaConfig,
        *,
        on_offer: Callable[[str, str], Awaitable[None]],
        on_state: Callable[[str, str, str], Awaitable[None]] | None = None,
    ) -> None:
        if not adapter.aiortc_version_supported():
            logger.warning(
                "aiortc %s is not the pinned %s: the media adapter may be broken",
                aiortc.__version__,
                adapter.AIORTC_VERSION,
            )
        self.config = config
        self._on_offer = on_offer
        self._on_state = on_state
        self._ice_servers = [_ice_server(s) for s in config.ice_servers]
        self._participants: dict[str, _Participant] = {}
        self._sources: dict[tuple[str, str], _Source] = {}
        self._routes: frozenset[Route] = frozenset()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closers: set[asyncio.Task[Any]] = set()  # awaited, not cancelled, on close()
        self._closed = False

    # -- public API --------------------------------------------------------------------

    async def publisher_offer(self, pid: str, sdp: str) -> str:
        """Answer the browser's publisher offer (first, renegotiation or ICE restart)."""
        self._check_open()
        _check_pid(pid)
        offer = _parse_sdp(sdp)
        kinds = [m.kind for m in offer.media]
        if not kinds or kinds[0] not in KINDS:
            raise MediaError("the publisher offer must start with an audio or video section")
        ufrag = next((m.ice.usernameFragment for m in offer.media if m.ice), None)
        participant = self._participant(pid)
        async with participant.publisher_lock:
            pc = participant.publisher
            if (
                pc is not None
                and pc.connectionState not in ("failed", "closed")
                and ufrag == participant.publisher_ufrag
            ):
                return await self._renegotiate_publisher(participant, pc, sdp)
            return await self._new_publisher(participant, sdp, ufrag, offer)

    async def subscriber_answer(self, pid: str, sdp: str) -> None:
        """Apply the browser's answer to the latest subscriber offer."""
        self._check_open()
        participant = self._participants.get(pid)
        sub = participant.subscriber if participant else None
        waiting = sub.answer if sub else None
        if sub is None or sub.pc is None or waiting is None or waiting.done():
            raise MediaError("no subscriber offer is waiting for an answer")
        try:
            await sub.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception as exc:
            if not waiting.done():
                waiting.set_result(exc)
            raise MediaError(f"the subscriber answer was refused: {exc}") from exc
        for slot, stream_id in sub.offered:
            slot.negotiated = stream_id
            # The m-section (re)starts receiving this source now: it becomes
            # live and starts over with a keyframe.
            _update_live(slot)
        if not waiting.done():
            waiting.set_result(None)
        pending, sub.pending = sub.pending, []
        await self._flush_candidates(sub.pc, pending)

    async def add_ice_candidate(
        self, pid: str, target: Target, candidate: Mapping[str, Any]
    ) -> None:
        """Add a trickled browser candidate; an empty one means end-of-candidates."""
        self._check_open()
        if target not in ("publisher", "subscriber"):
            raise MediaError(f"unknown ICE target {target!r}")
        line = str(candidate.get("candidate") or "")
        try:
            adapter.parse_candidate(line)
        except ValueError as exc:
            raise MediaError(str(exc)) from exc
        entry = dict(candidate)
        if target == "publisher":
            # It may overtake the offer it belongs to: keep it until then.
            _check_pid(pid)
            participant = self._participant(pid)
            pc, pending = participant.publisher, participant.pending
        else:
            participant = self._participant_or_error(pid)
            sub = participant.subscriber
            if sub is None:
                raise MediaError("this participant has no subscriber connection")
            pc, pending = sub.pc, sub.pending
        if pc is None or pc.remoteDescription is None:
            if len(pending) < MAX_PENDING_CANDIDATES:
                pending.append(entry)
            return
        await self._flush_candidates(pc, [entry])

    async def apply_routes(self, routes: AbstractSet[Route]) -> None:
        """Forward exactly these (source, kind, receiver) routes from now on.

        Forwarding starts and stops before this returns; subscriber connections
        whose slots changed renegotiate in the background (through ``on_offer``).
        """
        self._check_open()
        for route in routes:
            if route.kind not in KINDS:
                raise ValueError(f"unknown media kind {route.kind!r}")
            _check_pid(route.source)
            _check_pid(route.receiver)
        self._routes = frozenset(routes)
        self._sync()

    async def restart_subscriber(self, pid: str) -> None:
        """Re-offer the subscriber on a new connection (after a network drop)."""
        self._check_open()
        participant = self._participant_or_error(pid)
        sub = participant.subscriber
        if sub is None:
            return
        sub.restart = True
        sub.failures = 0
        if sub.answer is not None and not sub.answer.done():
            sub.answer.set_result(_Superseded())
        self._kick(sub)

    def subscriber_offer(self, pid: str) -> SubscriberOffer | None:
        """The slots of the latest subscriber offer sent to ``pid`` (call it in ``on_offer``)."""
        participant = self._participants.get(pid)
        sub = participant.subscriber if participant else None
        return sub.offer if sub else None

    async def close_participant(self, pid: str) -> None:
        """Stop forwarding from and to ``pid`` and close both of its connections."""
        participant = self._participants.pop(pid, None)
        if participant is None:
            return
        self._routes = frozenset(r for r in self._routes if r.source != pid and r.receiver != pid)
        closing: list[RTCPeerConnection] = []
        sub = participant.subscriber
        if sub is not None:
            self._release_subscriber(sub)
            if sub.pc is not None:
                closing.append(sub.pc)
                sub.pc = None
        for kind in KINDS:
            source = self._sources.pop((pid, kind), None)
            if source is not None:
                source.detach()
        if participant.publisher is not None:
            closing.append(participant.publisher)
            participant.publisher = None
        if not self._closed:
            self._sync()
        await asyncio.gather(*(self._close_pc(pc) for pc in closing))

    async def close(self) -> None:
        """Close every connection and cancel the background tasks."""
        if self._closed:
            return
        self._closed = True
        await asyncio.gather(*(self.close_participant(pid) for pid in list(self._participants)))
        for source in self._sources.values():
            source.cancel()
        self._sources.clear()
        tasks = [t for t in self._tasks if t not in self._closers]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, *self._closers, return_exceptions=True)

    def stats(self) -> dict[str, Any]:
        """Per participant: publisher frames in / keyframes, subscriber frames out."""
        out: dict[str, Any] = {}
        for pid, participant in self._participants.items():
            publisher: dict[str, Any] = {
                "state": participant.publisher.connectionState if participant.publisher else None
            }
            for kind in KINDS:
                source = self._sources.get((pid, kind))
                publisher[kind] = source.stats() if source else {"frames_in": 0}
            entry: dict[str, Any] = {"publisher": publisher, "subscriber": None}
            sub = participant.subscriber
            if sub is not None:
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
                    for slot in sub.slots:
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
                entry["subscriber"] = {
                    "state": sub.pc.connectionState if sub.pc else None,
                    "connection": sub.connection,
                    "offers": sub.offers,
                    "slots": len(sub.slots),
                    "active_slots": sum(1 for s in sub.slots if s.source is not None),
                    "sources": sorted(s.source for s in sub.slots if s.source is not None),
                    **per_kind,
                    "frames_from": frames_from,
                }
            out[pid] = entry
        return out

    # -- publisher ---------------------------------------------------------------------

    async def _new_publisher(
        self,
        participant: _Participant,
        sdp: str,
        ufrag: str | None,
        offer: SessionDescription,
    ) -> str:
        pc = RTCPeerConnection(self._rtc_configuration())
        try:
            # Our own recv-only transceivers, in the offer's order (the first one
            # owns the bundled transport), so the codec preferences apply.
            seen: set[str] = set()
            for media in offer.media:
                if media.kind in KINDS and media.kind not in seen:
                    seen.add(media.kind)
                    adapter.restrict_codecs(pc.addTransceiver(media.kind, direction="recvonly"))
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            adapter.configure_ice(pc, self.config.host_addresses, self.config.udp_receive_buffer)
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            self._close_later(pc, "refused publisher")
            raise MediaError(f"the publisher offer was refused: {exc}") from exc
        if self._closed or self._participants.get(participant.pid) is not participant:
            self._close_later(pc, "publisher of a leaver")
            raise MediaError("the participant left meanwhile")
        old = participant.publisher
        participant.publisher = pc
        participant.publisher_ufrag = ufrag
        self._watch(pc, participant.pid, "publisher")
        self._capture(participant, pc)
        pending, participant.pending = participant.pending, []
        await self._flush_candidates(pc, pending)
        if old is not None:
            self._close_later(old, f"old publisher {participant.pid}")
        return str(pc.localDescription.sdp)

    async def _renegotiate_publisher(
        self, participant: _Participant, pc: RTCPeerConnection, sdp: str
    ) -> str:
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            self._capture(participant, pc)
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            raise MediaError(f"the publisher offer was refused: {exc}") from exc
        return str(pc.localDescription.sdp)

    def _capture(self, participant: _Participant, pc: RTCPeerConnection) -> None:
        """Capture the first audio and the first video receiver of the connection."""
        done: set[str] = set()
        for transceiver in pc.getTransceivers():
            kind = transceiver.kind
            if kind not in KINDS or kind in done:
                continue
            done.add(kind)
            source = self._source(participant.pid, kind)
            if source.receiver is not transceiver.receiver:
                source.attach(transceiver.receiver)

    # -- subscribers -------------------------------------------------------------------

    def _sync(self) -> None:
        """Bring every subscriber's slots and feeds in line with the routes."""
        wanted: dict[str, dict[str, set[str]]] = {}
        for route in self._routes:
            if route.source != route.receiver:
                wanted.setdefault(route.receiver, {}).setdefault(route.source, set()).add(
                    route.kind
                )
        receivers = set(wanted) | {
            pid for pid, p in self._participants.items() if p.subscriber is not None
        }
        kicks: list[_Subscriber] = []
        for pid in sorted(receivers):
            sources = wanted.get(pid, {})
            participant = self._participant(pid)
            sub = participant.subscriber
            if sub is None:
                if not sources:
                    continue
                sub = participant.subscriber = _Subscriber(pid)
            if self._assign_slots(sub, sources):
                kicks.append(sub)
            self._feed(sub, sources)
        # Someone who sees nobody yet (a newcomer, a replaced connection) waits
        # for this offer to see anything; the others only add a slot to what
        # they already see. Start the newcomers' negotiations first.
        kicks.sort(key=lambda sub: sub.pc is not None and sub.offers > 0)
        for sub in kicks:
            self._kick(sub)

    def _assign_slots(self, sub: _Subscriber, sources: Mapping[str, AbstractSet[str]]) -> bool:
        changed = False
        for slot in sub.slots:
            if slot.source is not None and slot.source not in sources:
                slot.source = None
                changed = True
        placed = {slot.source for slot in sub.slots}
        for source in sorted(sources):
            if source in placed:
                continue
            found = next(
                (s for s in sub.slots if s.source is None and s.last_source == source), None
            ) or next((s for s in sub.slots if s.reusable()), None)
            if found is None:
                found = _Slot(self, len(sub.slots), source)
                sub.slots.append(found)
            slot = found
            slot.source = slot.last_source = source
            changed = True
        return changed

    def _feed(self, sub: _Subscriber, sources: Mapping[str, AbstractSet[str]]) -> None:
        for slot in sub.slots:
            for kind in KINDS:
                wanted: _Source | None = None
                if slot.source is not None and kind in sources.get(slot.source, ()):
                    wanted = self._source(slot.source, kind)
                current = slot.feeding[kind]
                if current is wanted:
                    continue
                track = slot.tracks[kind]
                if current is not None:
                    current.sinks.discard(track)
                slot.feeding[kind] = wanted
                track.switch(wanted.pid if wanted is not None else None)
                if wanted is not None:
                    wanted.sinks.add(track)
            _update_live(slot)

    def _release_subscriber(self, sub: _Subscriber) -> None:
        """Stop feeding the subscriber and end its negotiation."""
        for slot in sub.slots:
            for kind in KINDS:
                current = slot.feeding[kind]
                if current is not None:
                    current.sinks.discard(slot.tracks[kind])
                slot.feeding[kind] = None
                slot.tracks[kind].switch(None)
        if sub.answer is not None and not sub.answer.done():
            sub.answer.set_result(_Superseded())
        if sub.task is not None:
            sub.task.cancel()

    def _keyframe_needed(self, slot: _Slot) -> None:
        source = slot.feeding["video"]
        # Only while the browser has the m-section sending this source: until
        # the answer comes back the sender drops frames, and applying the
        # answer asks again (see subscriber_answer).
        if source is not None and slot.negotiated == slot.source:
            source.request_keyframe()

    def _kick(self, sub: _Subscriber) -> None:
        sub.dirty = True
        if self._closed or sub.pid not in self._participants:
            return
        if sub.task is None or sub.task.done():
            sub.task = self._spawn(self._negotiate(sub), f"negotiate {sub.pid}")

    async def _negotiate(self, sub: _Subscriber) -> None:
        async with sub.lock:
            while sub.dirty and not self._closed:
                sub.dirty = False
                if sub.restart:
                    sub.restart = False
                    self._replace_subscriber_pc(sub)
                if not sub.slots or not sub.needs_offer():
                    continue
                try:
                    await self._offer_once(sub)
                    sub.failures = 0
                except _Superseded:
                    continue
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    sub.failures += 1
                    logger.warning(
                        "subscriber negotiation with %s failed (%s): %s",
                        sub.pid,
                        type(exc).__name__,
                        exc,
                    )
                    # The connection is stuck in have-local-offer: close it now;
                    # the next negotiation starts a new one. Retry at once
                    # unless it keeps failing (then wait for a change or a
                    # restart_subscriber).
                    if sub.pc is not None:
                        self._close_later(sub.pc, f"failed subscriber {sub.pid}")
                        sub.pc = None
                    sub.restart = True
                    if sub.failures < 2:
                        sub.dirty = True

    async def _offer_once(self, sub: _Subscriber) -> None:
        participant = self._participants.get(sub.pid)
        if self._closed or participant is None or participant.subscriber is not sub:
            raise _Superseded()
        if sub.pc is None:
            sub.pc = RTCPeerConnection(self._rtc_configuration())
            self._watch(sub.pc, sub.pid, "subscriber")
        pc = sub.pc
        for slot in sub.slots:
            if not slot.transceivers:
                for kind in KINDS:
                    transceiver = pc.addTransceiver(slot.tracks[kind], direction="sendonly")
                    adapter.restrict_codecs(transceiver)
                    slot.tracks[kind].attach(transceiver.sender)
                    if kind == "video":
                        adapter.hook_keyframe_requests(
                            transceiver.sender, functools.partial(self._keyframe_needed, slot)
                        )
                    slot.transceivers[kind] = transceiver
            stream_id = slot.stream_id
            for kind in KINDS:
                transceiver = slot.transceivers[kind]
                transceiver.direction = "sendonly" if slot.source is not None else "inactive"
                adapter.label_sender(transceiver.sender, stream_id, f"{kind}{slot.index}")
            slot.in_flight = stream_id
            _update_live(slot)
        adapter.configure_ice(pc, self.config.host_addresses, self.config.udp_receive_buffer)
        await pc.setLocalDescription(await pc.createOffer())
        sdp = str(pc.localDescription.sdp)
        slots = tuple(
            SlotInfo(
                source=slot.source,
                audio_mid=slot.transceivers["audio"].mid,
                video_mid=slot.transceivers["video"].mid,
            )
            for slot in sub.slots
        )
        sub.offer = SubscriberOffer(
            connection=sub.connection,
            sources={s.source: s.source for s in slots if s.source is not None},
            slots=slots,
        )
        loop = asyncio.get_running_loop()
        waiting: asyncio.Future[BaseException | None] = loop.create_future()
        sub.answer = waiting
        sub.offered = [(slot, slot.stream_id) for slot in sub.slots]
        sub.offers += 1
        try:
            await self._on_offer(sub.pid, sdp)
            async with asyncio.timeout(self.config.negotiation_timeout):
                outcome = await waiting
        finally:
            sub.answer = None
            sub.offered = []
            for slot in sub.slots:
                slot.in_flight = _UNSET
                _update_live(slot)
        if isinstance(outcome, _Superseded):
            raise outcome
        if outcome is not None:
            raise MediaError(f"the answer was refused: {outcome}")

    def _replace_subscriber_pc(self, sub: _Subscriber) -> None:
        """A new connection with fresh slots for the sources routed now."""
        self._release_subscriber_feeds(sub)
        if sub.pc is not None:
            self._close_later(sub.pc, f"old subscriber {sub.pid}")
            sub.pc = None
        sub.connection += 1
        sub.pending = []
        active = [slot.source for slot in sub.slots if slot.source is not None]
        sub.slots = [_Slot(self, i, source) for i, source in enumerate(active)]
        self._feed(sub, self._wanted(sub.pid))

    def _release_subscriber_feeds(self, sub: _Subscriber) -> None:
        for slot in sub.slots:
            for kind in KINDS:
                current = slot.feeding[kind]
                if current is not None:
                    current.sinks.discard(slot.tracks[kind])
                slot.feeding[kind] = None

    def _wanted(self, receiver: str) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for route in self._routes:
            if route.receiver == receiver and route.source != receiver:
                out.setdefault(route.source, set()).add(route.kind)
        return out

    # -- plumbing ----------------------------------------------------------------------

    def _rtc_configuration(self) -> RTCConfiguration:
        return RTCConfiguration(
            iceServers=list(self._ice_servers), bundlePolicy=RTCBundlePolicy.MAX_BUNDLE
        )

    def _participant(self, pid: str) -> _Participant:
        participant = self._participants.get(pid)
        if participant is None:
            participant = self._participants[pid] = _Participant(pid)
        return participant

    def _participant_or_error(self, pid: str) -> _Participant:
        participant = self._participants.get(pid)
        if participant is None:
            raise MediaError(f"unknown participant {pid!r}")
        return participant

    def _source(self, pid: str, kind: str) -> _Source:
        key = (pid, kind)
        source = self._sources.get(key)
        if source is None:
            source = self._sources[key] = _Source(
                self, pid, "audio" if kind == "audio" else "video"
            )
        return source

    def _check_open(self) -> None:
        if self._closed:
            raise MediaError("the media server is closed")

    async def _flush_candidates(
        self, pc: RTCPeerConnection, entries: Iterable[Mapping[str, Any]]
    ) -> None:
        remote = pc.remoteDescription
        ufrag = _ufrag(remote.sdp) if remote is not None else None
        for entry in entries:
            line = str(entry.get("candidate") or "")
            named = adapter.candidate_ufrag(line)
            if named is not None and ufrag is not None and named != ufrag:
                continue  # for other ICE credentials (an older or newer connection)
            try:
                await adapter.add_bundled_candidate(pc, adapter.parse_candidate(line))
            except ValueError as exc:
                logger.info("ICE candidate ignored: %s", exc)

    def _watch(self, pc: RTCPeerConnection, pid: str, role: Target) -> None:
        @pc.on("connectionstatechange")
        def on_state() -> None:
            participant = self._participants.get(pid)
            if participant is None:
                return
            current = (
                participant.publisher
                if role == "publisher"
                else (participant.subscriber.pc if participant.subscriber else None)
            )
            if current is pc and self._on_state is not None:
                self._spawn(self._report_state(pid, role, pc.connectionState), f"state {pid}")

    async def _report_state(self, pid: str, role: Target, state: str) -> None:
        if self._on_state is not None:
            await self._on_state(pid, role, state)

    async def _close_pc(self, pc: RTCPeerConnection) -> None:
        try:
            async with asyncio.timeout(self.config.close_timeout):
                await pc.close()
        except TimeoutError:
            logger.warning("closing a peer connection took over %.0f s", self.config.close_timeout)

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _close_later(self, pc: RTCPeerConnection, why: str) -> None:
        self._closers.add(self._spawn(self._close_pc(pc), f"close {why}"))

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._closers.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("media task %s failed", task.get_name(), exc_info=task.exception())


# --- helpers --------------------------------------------------------------------------


def _ignore_packet(packet: Any, arrival_ns: int) -> None:
    """The packet callback of a receiver that feeds nobody."""


def _ice_server(server: RTCIceServer | Mapping[str, Any]) -> RTCIceServer:
    if isinstance(server, RTCIceServer):
        return server
    return RTCIceServer(
        urls=server["urls"],
        username=server.get("username"),
        credential=server.get("credential"),
    )


def _check_pid(pid: str) -> None:
    if not PARTICIPANT_ID.fullmatch(pid) or pid == NO_STREAM:
        raise ValueError(f"participant id {pid!r} cannot be a media stream id")


def _parse_sdp(sdp: str) -> SessionDescription:
    try:
        return SessionDescription.parse(sdp)
    except Exception as exc:
        raise MediaError(f"malformed SDP: {exc}") from exc


def _ufrag(sdp: str) -> str | None:
    for line in sdp.splitlines():
        if line.startswith("a=ice-ufrag:"):
            return line[len("a=ice-ufrag:") :].strip()
    return None
