"""The media server: one process's publisher and subscriber connections, behind one façade.

A participant's connection is attached (:meth:`MediaServer.attach`) and gets a
:class:`~server.rooms.media.participant_media.ParticipantMedia`, the handle
that holds their :class:`~server.rooms.media.publishing.Publisher` and, once
someone is routed to them, their
:class:`~server.rooms.media.negotiation.Subscriber`; the caller keeps it and
sends the browser's requests through it. The server keeps no participant of
its own: it indexes the open handles by participant id, and an entry comes
and goes with its handle. The routes the room's pure routing function
decided are applied to whoever is attached; turning a change of them into
slots, feeds and negotiations is this module's part.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from collections.abc import Set as AbstractSet
from typing import Any

import aiortc

from server.rooms import aiortc_adapter as adapter
from server.rooms.codecs import VideoCodec
from server.rooms.counters import MediaCounters
from server.rooms.link_quality import Verdict
from server.rooms.media import slots as slot_rules
from server.rooms.media.config import MediaConfig
from server.rooms.media.connections import Connections, check_pid
from server.rooms.media.errors import MediaError
from server.rooms.media.negotiation import Subscriber
from server.rooms.media.participant_media import ParticipantMedia
from server.rooms.media.publishing import Publisher, Sources
from server.rooms.routing import KINDS, Route

logger = logging.getLogger(__name__)


class MediaServer:
    """Publisher and subscriber connections of every participant of one process."""

    def __init__(
        self,
        config: MediaConfig,
        *,
        on_offer: Callable[[str, str], Awaitable[None]],
        on_state: Callable[[str, str, str], Awaitable[None]] | None = None,
        on_link: Callable[[str, Verdict, str], None] | None = None,
        counters: MediaCounters | None = None,
    ) -> None:
        if not adapter.aiortc_version_supported():
            logger.warning(
                "aiortc %s is not the pinned %s: the media adapter may be broken",
                aiortc.__version__,
                adapter.AIORTC_VERSION,
            )
        self.config = config
        self._on_offer = on_offer
        self._on_link = on_link
        self._connections = Connections(config, on_state=on_state, counters=counters)
        self._sources = Sources(
            keyframe_interval=config.keyframe_request_interval,
            spawn=self._connections.spawn,
            counters=self._connections.counters,
        )
        #: The open handles, by participant id: an entry lives exactly as long as its handle.
        self._attached: dict[str, ParticipantMedia] = {}
        #: The routes last applied, whoever of them is attached.
        self._routes: frozenset[Route] = frozenset()
        #: Those of ``_routes`` between two attached participants: what is forwarded.
        self._forwarded: frozenset[Route] = frozenset()

    @property
    def _tasks(self) -> set[asyncio.Task[Any]]:
        """The background tasks still running (none once closed)."""
        return self._connections.tasks

    # -- public API --------------------------------------------------------------------

    async def attach(self, pid: str, video_codec: VideoCodec = VideoCodec.VP8) -> ParticipantMedia:
        """A connection of ``pid`` joined: their media, to hold until it ends.

        A handle ``pid`` still had (the same person on a new connection) is
        closed first: one connection per participant. The routes already
        applied reach the new handle at once. Both legs negotiate only
        ``video_codec``, which must be that of everyone attached: packets are
        forwarded, never transcoded (``server/rooms/codecs.py`` decides it).
        """
        self._connections.check_open()
        check_pid(pid)
        previous = self._attached.get(pid)
        if previous is not None:
            await previous.close()
            self._connections.check_open()
        others = {media.video_codec for media in self._attached.values()}
        if others - {video_codec}:
            raise MediaError(
                f"{pid} would use {video_codec}, the room's connections use "
                f"{', '.join(sorted(others))}"
            )
        media: ParticipantMedia
        publishing = Publisher(
            pid,
            connections=self._connections,
            sources=self._sources,
            is_current=lambda: not media.closed,
            video_codec=video_codec,
        )
        media = ParticipantMedia(
            pid, publishing, connections=self._connections, on_close=self._detach
        )
        self._attached[pid] = media
        self._sync()
        return media

    @property
    def attached(self) -> frozenset[str]:
        """The participants whose media is open now."""
        return frozenset(self._attached)

    async def apply_routes(self, routes: AbstractSet[Route]) -> None:
        """Forward exactly these (source, kind, receiver) routes from now on.

        Only routes between attached participants are forwarded. Forwarding
        starts and stops before this returns; subscriber connections whose
        slots changed renegotiate in the background (through ``on_offer``).
        """
        self._connections.check_open()
        for route in routes:
            if route.kind not in KINDS:
                raise ValueError(f"unknown media kind {route.kind!r}")
            check_pid(route.source)
            check_pid(route.receiver)
        self._routes = frozenset(routes)
        self._sync()

    async def close(self) -> None:
        """Close every connection and cancel the background tasks."""
        if self._connections.closed:
            return
        self._connections.closed = True
        await asyncio.gather(*(media.close() for media in list(self._attached.values())))
        self._sources.clear()
        await self._connections.close()

    @property
    def forwarded_routes(self) -> int:
        """How many (source, kind, receiver) routes run between attached participants now."""
        return len(self._forwarded)

    def stats(self) -> dict[str, Any]:
        """Per attached participant: publisher frames in / keyframes, subscriber frames out."""
        return {pid: media.stats() for pid, media in self._attached.items()}

    # -- routes to slots ---------------------------------------------------------------

    def _sync(self) -> None:
        """Bring every subscriber's slots and feeds in line with the routes."""
        attached = self._attached
        self._forwarded = frozenset(
            r for r in self._routes if r.source in attached and r.receiver in attached
        )
        wanted = slot_rules.wanted_by_receiver(self._forwarded)
        kicks: list[Subscriber] = []
        for pid in sorted(attached):
            media = attached[pid]
            sources = wanted.get(pid, {})
            sub = media.subscriber
            if sub is None:
                if not sources:
                    continue
                sub = media.subscriber = self._new_subscriber(media)
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

    def _new_subscriber(self, media: ParticipantMedia) -> Subscriber:
        pid = media.pid
        return Subscriber(
            pid,
            connections=self._connections,
            sources=self._sources,
            on_offer=self._on_offer,
            is_current=lambda sub: not media.closed and media.subscriber is sub,
            wanted=lambda: slot_rules.wanted_by(self._forwarded, pid),
            on_link=self._on_link,
            video_codec=media.video_codec,
            joined_at=media.attached_at,
        )

    def _detach(self, media: ParticipantMedia) -> None:
        """A handle closed: forget its participant, and stop forwarding from and to them."""
        if self._attached.get(media.pid) is not media:
            return
        del self._attached[media.pid]
        self._sources.remove(media.pid)
        if not self._connections.closed:
            self._sync()
