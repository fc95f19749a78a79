"""One participant's media: their publisher and subscriber legs, as one handle.

:meth:`MediaServer.attach <server.rooms.media.server.MediaServer.attach>`
makes a :class:`ParticipantMedia` when a participant's connection joins, and
whoever represents that connection's presence holds it (the live layer's
``ParticipantSession``). The handle *is* the media server's record of the
participant: the server indexes the handles that are open, by participant id,
so that routes can name them, and an entry lives exactly as long as its
handle. Closing it (the participant left, was removed, or their connection
dropped or was replaced) stops forwarding from and to them, drops their
sources and closes both connections, together.

Every request of the participant's browser goes through their own handle, so
a closed one refuses them: a late message of a replaced connection can never
reach the connections of the one that replaced it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from aiortc import RTCPeerConnection

from server.rooms import aiortc_adapter as adapter
from server.rooms.codecs import VideoCodec
from server.rooms.media.connections import (
    MAX_PENDING_CANDIDATES,
    Connections,
    Target,
    parse_sdp,
)
from server.rooms.media.errors import MediaError
from server.rooms.media.negotiation import Subscriber, SubscriberOffer
from server.rooms.media.publishing import Publisher
from server.rooms.routing import KINDS


class ParticipantMedia:
    """Both legs of one participant's connection to one media server."""

    def __init__(
        self,
        pid: str,
        publishing: Publisher,
        *,
        connections: Connections,
        on_close: Callable[[ParticipantMedia], None],
    ) -> None:
        self.pid = pid
        self.publishing = publishing
        #: Made by the media server once someone is routed to this participant.
        self.subscriber: Subscriber | None = None
        self._connections = connections
        self._on_close = on_close
        self._closed = False
        #: When the media server attached this connection (``time.monotonic()``): where
        #: the join time the metrics report starts.
        self.attached_at = time.monotonic()

    @property
    def video_codec(self) -> VideoCodec:
        """The room's video codec, the only one both legs negotiate."""
        return self.publishing.video_codec

    @property
    def closed(self) -> bool:
        """Closed (left, removed, dropped, replaced, or the server stopped): refuses everything."""
        return self._closed

    @property
    def publisher(self) -> RTCPeerConnection | None:
        """The current publisher connection, if the participant published."""
        return self.publishing.pc

    def _check_open(self) -> None:
        self._connections.check_open()
        if self._closed:
            raise MediaError("this connection's media was closed")

    # -- the browser's requests --------------------------------------------------------

    async def publisher_offer(self, sdp: str) -> str:
        """Answer the browser's publisher offer (first, renegotiation or ICE restart)."""
        self._check_open()
        offer = parse_sdp(sdp)
        kinds = [m.kind for m in offer.media]
        if not kinds or kinds[0] not in KINDS:
            raise MediaError("the publisher offer must start with an audio or video section")
        return await self.publishing.offer(sdp, offer)

    async def subscriber_answer(self, sdp: str) -> None:
        """Apply the browser's answer to the latest subscriber offer."""
        self._check_open()
        if self.subscriber is None:
            raise MediaError("no subscriber offer is waiting for an answer")
        await self.subscriber.answer(sdp)

    async def add_ice_candidate(self, target: Target, candidate: Mapping[str, Any]) -> None:
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
        pc: RTCPeerConnection | None
        if target == "publisher":
            # It may overtake the offer it belongs to: keep it until then.
            pc, pending = self.publishing.pc, self.publishing.pending
        else:
            if self.subscriber is None:
                raise MediaError("this participant has no subscriber connection")
            pc, pending = self.subscriber.pc, self.subscriber.pending
        if pc is None or pc.remoteDescription is None:
            if len(pending) < MAX_PENDING_CANDIDATES:
                pending.append(entry)
            return
        await self._connections.flush_candidates(pc, [entry])

    async def restart_subscriber(self) -> None:
        """Re-offer the subscriber on a new connection (after a network drop)."""
        self._check_open()
        if self.subscriber is not None:
            self.subscriber.restart()

    def subscriber_offer(self) -> SubscriberOffer | None:
        """The slots of the latest subscriber offer sent (read it in the server's ``on_offer``)."""
        return self.subscriber.offer if self.subscriber else None

    # -- life cycle --------------------------------------------------------------------

    async def close(self) -> None:
        """Stop forwarding from and to this participant and close both connections.

        The media server forgets the participant (its routes, its sources)
        before anything is awaited, so nothing is forwarded to or from a
        closing leg; closing again does nothing.
        """
        if self._closed:
            return
        self._closed = True
        closing: list[RTCPeerConnection] = []
        if self.subscriber is not None:
            self.subscriber.release()
            if (pc := self.subscriber.take_pc()) is not None:
                closing.append(pc)
        if (pc := self.publishing.take_pc()) is not None:
            closing.append(pc)
        self._on_close(self)
        await asyncio.gather(*(self._connections.close_pc(pc) for pc in closing))

    def stats(self) -> dict[str, Any]:
        """Publisher frames in and keyframes, subscriber frames out."""
        return {
            "publisher": self.publishing.stats(),
            "subscriber": self.subscriber.stats() if self.subscriber else None,
        }
