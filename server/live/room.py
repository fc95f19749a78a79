"""One live room of this process: the domain room, its media server, who is connected.

``LiveRoom`` is the state the live layer keeps around a ``server.rooms.Room``:
the participant sessions (``server.live.session``), the lock that serialises
the room's decisions, the ordered write queue that persists them, and the
media server that forwards what ``routing.routes`` allows. ``LiveRooms``
(``server.live.rooms``) acts on it; the one rule it keeps itself is that a
session is in ``sessions`` exactly while its media legs are attached
(``enter`` and ``drop``), so no connection's media outlives it; and the
room's video codec (``server.rooms.codecs``) counts exactly those sessions.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from server.live.lock import RoomLock
from server.live.session import EndReason, ParticipantSession
from server.live.writes import WriteQueue
from server.rooms.codecs import UNDECLARED, RoomVideoCodec, VideoCodec
from server.rooms.media import MediaServer
from server.rooms.room import Room
from server.rooms.state import LiveState


@dataclass
class LiveRoom:
    """One live room."""

    session_id: int
    station_id: int
    #: The beat office holding the session: whose staff may draft its agreement.
    office_id: int
    room: Room
    media: MediaServer
    #: Who is connected, by participant id: one session per person (a new tab replaces).
    sessions: dict[str, ParticipantSession] = field(default_factory=dict)
    #: Serialises the agreement's notifications (see server/signaling/agreement.py).
    agreement_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    chat_times: dict[int, datetime] = field(default_factory=dict)
    lock: RoomLock = field(default_factory=RoomLock)
    #: Sessions to end once the request that caused it has been answered.
    pending_closes: list[tuple[str, EndReason]] = field(default_factory=list)
    idle_since: float | None = None
    #: The room's database writes, in the order of its decisions (``server.live.writes``).
    writes: WriteQueue = field(default_factory=lambda: WriteQueue("room"))
    #: The live state last handed to ``writes``, and its write number.
    saved_state: LiveState = field(default_factory=LiveState)
    state_revision: int = 0
    #: The one video codec of the connected sessions' media (``server.rooms.codecs``).
    video_codec: RoomVideoCodec = field(default_factory=RoomVideoCodec)

    def session(self, pid: str) -> ParticipantSession | None:
        """The connected session of ``pid``, if any."""
        return self.sessions.get(pid)

    async def enter(
        self, session: ParticipantSession, can_decode: frozenset[VideoCodec] = UNDECLARED
    ) -> ParticipantSession | None:
        """``session`` becomes its participant's one session, with fresh media legs.

        A session the same person still had (a new tab, a reconnect before the
        old socket died) is ended as replaced, its legs closed, and returned.
        The legs use the room's video codec, which the session's browser must
        decode (``can_decode``): check with ``video_codec.choose`` first, since
        a refusal here (``CodecUnsupported``) comes after the replaced session ended.
        """
        previous = self.sessions.get(session.pid)
        replaced = previous if previous is not None and previous is not session else None
        if replaced is not None:
            await self.drop(replaced)
            await replaced.channel.end(EndReason.REPLACED)
        codec = self.video_codec.admit(session.pid, can_decode)
        try:
            session.media = await self.media.attach(session.pid, codec)
        except BaseException:
            self.video_codec.release(session.pid)
            raise
        self.sessions[session.pid] = session
        return replaced

    async def drop(self, session: ParticipantSession) -> bool:
        """``session`` ends: out of ``sessions`` if it is still current, its legs closed.

        Returns whether it was the participant's current session. A session
        that was replaced only closes its own legs (already closed), never
        those of the session that replaced it.
        """
        current = self.sessions.get(session.pid) is session
        if current:
            del self.sessions[session.pid]
            self.video_codec.release(session.pid)
        if session.media is not None:
            await session.media.close()
        return current
