"""One live room of this process: the domain room, its media server, who is connected.

``LiveRoom`` is the state the live layer keeps around a ``server.rooms.Room``:
the participant sessions (``server.live.session``), the lock that serialises
the room's decisions, the ordered write queue that persists them, and the
media server that forwards what ``routing.routes`` allows. It holds no
behaviour of its own; ``LiveRooms`` (``server.live.rooms``) acts on it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from server.live.lock import RoomLock
from server.live.session import EndReason, ParticipantSession
from server.live.writes import WriteQueue
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

    def session(self, pid: str) -> ParticipantSession | None:
        """The connected session of ``pid``, if any."""
        return self.sessions.get(pid)
