"""The media server: one process's publisher and subscriber connections, behind one façade.

The signalling layer drives it through the public methods of
:class:`MediaServer` and hands it the routes the room's pure routing function
decided; it applies them and nothing else. Each participant has a
:class:`~server.rooms.media.publishing.Publisher` and, once someone is routed
to them, a :class:`~server.rooms.media.negotiation.Subscriber`; this module
keeps them together and turns a change of routes into slots, feeds and
negotiations.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

import aiortc
from aiortc import RTCPeerConnection

from server.rooms import aiortc_adapter as adapter
from server.rooms.media import slots as slot_rules
from server.rooms.media.config import MediaConfig
from server.rooms.media.connections import (
    MAX_PENDING_CANDIDATES,
    Connections,
    Target,
    check_pid,
    parse_sdp,
)
from server.rooms.media.errors import MediaError
from server.rooms.media.negotiation import Subscriber, SubscriberOffer
from server.rooms.media.publishing import Publisher, Sources
from server.rooms.routing import KINDS, Route

logger = logging.getLogger(__name__)


class _Participant:
    """Both sides of one participant."""

    def __init__(self, pid: str, publishing: Publisher) -> None:
        self.pid = pid
        self.publishing = publishing
        self.subscriber: Subscriber | None = None

    @property
    def publisher(self) -> RTCPeerConnection | None:
        """The current publisher connection, if the participant published."""
        return self.publishing.pc


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
        self._connections = Connections(config, on_state=on_state)
        self._sources = Sources(
            keyframe_interval=config.keyframe_request_interval, spawn=self._connections.spawn
        )
        self._participants: dict[str, _Participant] = {}
        self._routes: frozenset[Route] = frozenset()

    @property
    def _tasks(self) -> set[asyncio.Task[Any]]:
        """The background tasks still running (none once closed)."""
        return self._connections.tasks

    # -- public API --------------------------------------------------------------------

    async def publisher_offer(self, pid: str, sdp: str) -> str:
        """Answer the browser's publisher offer (first, renegotiation or ICE restart)."""
        self._connections.check_open()
        check_pid(pid)
        offer = parse_sdp(sdp)
        kinds = [m.kind for m in offer.media]
        if not kinds or kinds[0] not in KINDS:
            raise MediaError("the publisher offer must start with an audio or video section")
        return await self._participant(pid).publishing.offer(sdp, offer)

    async def subscriber_answer(self, pid: str, sdp: str) -> None:
        """Apply the browser's answer to the latest subscriber offer."""
        self._connections.check_open()
        participant = self._participants.get(pid)
        sub = participant.subscriber if participant else None
        if sub is None:
            raise MediaError("no subscriber offer is waiting for an answer")
        await sub.answer(sdp)

    async def add_ice_candidate(
        self, pid: str, target: Target, candidate: Mapping[str, Any]
    ) -> None:
        """Add a trickled browser candidate; an empty one means end-of-candidates."""
        self._connections.check_open()
        if target not in ("publisher", "subscriber"):
            raise MediaError(f"unknown ICE target {target!r}")
        line = str(candidate.get("candidate") or "")
        try:
            adapter.parse_candidate(line)
        except ValueError as exc:
            raise MediaError(str(exc)) from exc
        entry = dict(candidate)
        pc: RTCPeerConnection | None
        if target == "publisher":
            # It may overtake the offer it belongs to: keep it until then.
            check_pid(pid)
            publishing = self._participant(pid).publishing
            pc, pending = publishing.pc, publishing.pending
        else:
            sub = self._participant_or_error(pid).subscriber
            if sub is None:
                raise MediaError("this participant has no subscriber connection")
            pc, pending = sub.pc, sub.pending
        if pc is None or pc.remoteDescription is None:
            if len(pending) < MAX_PENDING_CANDIDATES:
                pending.append(entry)
            return
        await self._connections.flush_candidates(pc, [entry])

    async def apply_routes(self, routes: AbstractSet[Route]) -> None:
        """Forward exactly these (source, kind, receiver) routes from now on.

        Forwarding starts and stops before this returns; subscriber connections
        whose slots changed renegotiate in the background (through ``on_offer``).
        """
        self._connections.check_open()
        for route in routes:
            if route.kind not in KINDS:
                raise ValueError(f"unknown media kind {route.kind!r}")
            check_pid(route.source)
            check_pid(route.receiver)
        self._routes = frozenset(routes)
        self._sync()

    async def restart_subscriber(self, pid: str) -> None:
        """Re-offer the subscriber on a new connection (after a network drop)."""
        self._connections.check_open()
        sub = self._participant_or_error(pid).subscriber
        if sub is not None:
            sub.restart()

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
            sub.release()
            if (pc := sub.take_pc()) is not None:
                closing.append(pc)
        self._sources.remove(pid)
        if (pc := participant.publishing.take_pc()) is not None:
            closing.append(pc)
        if not self._connections.closed:
            self._sync()
        await asyncio.gather(*(self._connections.close_pc(pc) for pc in closing))

    async def close(self) -> None:
        """Close every connection and cancel the background tasks."""
        if self._connections.closed:
            return
        self._connections.closed = True
        await asyncio.gather(*(self.close_participant(pid) for pid in list(self._participants)))
        self._sources.clear()
        await self._connections.close()

    def stats(self) -> dict[str, Any]:
        """Per participant: publisher frames in / keyframes, subscriber frames out."""
        return {
            pid: {
                "publisher": participant.publishing.stats(),
                "subscriber": participant.subscriber.stats() if participant.subscriber else None,
            }
            for pid, participant in self._participants.items()
        }

    # -- routes to slots ---------------------------------------------------------------

    def _sync(self) -> None:
        """Bring every subscriber's slots and feeds in line with the routes."""
        wanted = slot_rules.wanted_by_receiver(self._routes)
        receivers = set(wanted) | {
            pid for pid, p in self._participants.items() if p.subscriber is not None
        }
        kicks: list[Subscriber] = []
        for pid in sorted(receivers):
            sources = wanted.get(pid, {})
            participant = self._participant(pid)
            sub = participant.subscriber
            if sub is None:
                if not sources:
                    continue
                sub = participant.subscriber = self._new_subscriber(pid)
            if sub.assign(sources.keys()):
                kicks.append(sub)
            sub.feed(sources)
        # Someone who sees nobody yet (a newcomer, a replaced connection) waits
        # for this offer to see anything; the others only add a slot to what
        # they already see. Start the newcomers' negotiations first.
        kicks.sort(key=lambda sub: not sub.waits_for_first_offer)
        for sub in kicks:
            sub.kick()

    # -- participants ------------------------------------------------------------------

    def _new_subscriber(self, pid: str) -> Subscriber:
        return Subscriber(
            pid,
            connections=self._connections,
            sources=self._sources,
            on_offer=self._on_offer,
            is_current=self._is_current_subscriber,
            wanted=lambda: slot_rules.wanted_by(self._routes, pid),
        )

    def _is_current_subscriber(self, sub: Subscriber) -> bool:
        participant = self._participants.get(sub.pid)
        return participant is not None and participant.subscriber is sub

    def _participant(self, pid: str) -> _Participant:
        participant = self._participants.get(pid)
        if participant is None:
            publishing = Publisher(
                pid,
                connections=self._connections,
                sources=self._sources,
                is_current=lambda: self._participants.get(pid) is participant,
            )
            participant = self._participants[pid] = _Participant(pid, publishing)
        return participant

    def _participant_or_error(self, pid: str) -> _Participant:
        participant = self._participants.get(pid)
        if participant is None:
            raise MediaError(f"unknown participant {pid!r}")
        return participant
