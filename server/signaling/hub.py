"""Live rooms of this process: the room, its media server, its sockets.

The service layer between the wire and the domain (LiveKit's RoomManager):
it creates a room on first use (reading back what the database kept), turns
the room's events into notifications, database writes and forwarding
changes, and drops rooms nobody uses any more. One lock per room serialises
changes, so events go out in the order they happened. The session's
agreement is the ``AgreementDesk``'s (``server/signaling/agreement.py``); the
hubs tell it when someone is admitted, and let pages outside the room say
that the agreement changed (``agreement_changed``).

With several workers (``server/cluster.py``) the hubs hold only the rooms
their worker owns: asked for another's, they refuse (``NotOwner``), and an
agreement change for another's room is passed to its owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from server.audit import record
from server.auth.roles import Actor
from server.auth.sessions import actor_for
from server.cluster import NotOwner, Peers
from server.db import SessionFactory, transaction
from server.errors import DomainError
from server.live.lock import RoomLock
from server.live.store import RoomStore, Standing
from server.live.writes import WriteQueue
from server.models import Dispute, MediationSession, StaffUser, utcnow
from server.rooms import events as ev
from server.rooms.media import MediaConfig, MediaServer
from server.rooms.room import Room
from server.rooms.state import LiveState
from server.sessions import invitations
from server.sessions.rules import SessionStatus
from server.signaling import messages as m
from server.signaling.agreement import AgreementDesk, AgreementSettings
from server.signaling.connection import CloseReason, SignalConnection
from server.signaling.views import chat_view, display_name, room_view

logger = logging.getLogger(__name__)

#: How often disconnected participants past their grace period are let go.
EXPIRE_EVERY = 5.0
#: A room nobody is connected to is dropped from memory after this long.
IDLE_ROOM_SECONDS = 600.0

#: Host actions worth a line in the audit trail.
AUDITED = {
    ev.ParticipantAdmitted: "room.admit",
    ev.ParticipantDeclined: "room.decline",
    ev.ParticipantRemoved: "room.remove",
    ev.AudioMuted: "room.mute",
    ev.VideoStopped: "room.stop_video",
    ev.RoomLocked: "room.lock",
    ev.RoomEnded: "room.end",
    ev.CaucusOpened: "room.caucus_open",
    ev.CaucusClosed: "room.caucus_close",
}


@dataclass
class Hub:
    """One live room."""

    session_id: int
    station_id: int
    #: The beat office holding the session: whose staff may draft its agreement.
    office_id: int
    room: Room
    media: MediaServer
    connections: dict[str, SignalConnection] = field(default_factory=dict)
    #: Participants who may see parties' full names (staff, parties, police experts).
    full_names: set[str] = field(default_factory=set)
    #: Staff participants' accounts, as they logged in: the agreement service acts as them.
    actors: dict[str, Actor] = field(default_factory=dict)
    #: Each participant's page language, for what the server words for them.
    languages: dict[str, str] = field(default_factory=dict)
    #: The frozen text ("version:sha256") each signer was last asked to sign.
    prompted: dict[str, str] = field(default_factory=dict)
    #: Serialises the agreement's notifications (see server/signaling/agreement.py).
    agreement_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    chat_times: dict[int, datetime] = field(default_factory=dict)
    lock: RoomLock = field(default_factory=RoomLock)
    #: Sockets to close once the request that caused it has been answered.
    pending_closes: list[tuple[str, CloseReason]] = field(default_factory=list)
    idle_since: float | None = None
    #: The room's database writes, in the order of its decisions (``server.live.writes``).
    writes: WriteQueue = field(default_factory=lambda: WriteQueue("room"))
    #: The live state last handed to ``writes``, and its write number.
    saved_state: LiveState = field(default_factory=LiveState)
    state_revision: int = 0


class Hubs:
    """Every live room of this process, owned by the app (``keys.HUBS``)."""

    def __init__(
        self,
        factory: SessionFactory,
        media_config: MediaConfig,
        *,
        grace: float,
        agreements: AgreementSettings,
        peers: Peers | None = None,
    ) -> None:
        self._factory = factory
        #: The other workers, when this process is one of several; None in a single process.
        self._peers = peers
        self._media_config = media_config
        self._grace = grace
        self._store = RoomStore(factory)
        self._agreements = AgreementDesk(factory, agreements)
        self._hubs: dict[int, Hub] = {}
        self._creating = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def store(self) -> RoomStore:
        return self._store

    @property
    def agreements(self) -> AgreementDesk:
        return self._agreements

    def track(self, task: asyncio.Task[None]) -> asyncio.Task[None]:
        """Keep a background task alive until done, and wait for it at shutdown."""
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        return task

    # -- life cycle ----------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._housekeeping(), name="rooms-housekeeping")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for hub in list(self._hubs.values()):
            for conn in list(hub.connections.values()):
                await conn.close(CloseReason.GOING_AWAY)
            await hub.media.close()
            await hub.writes.close()
        self._hubs.clear()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        if self._peers is not None:
            await self._peers.close()

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(EXPIRE_EVERY)
            for hub in list(self._hubs.values()):
                try:
                    async with hub.lock:
                        await self.publish(hub, hub.room.expire_disconnected())
                    await self._maybe_drop(hub)
                except Exception:
                    logger.exception("room %s: housekeeping failed", hub.session_id)

    async def _maybe_drop(self, hub: Hub) -> None:
        if hub.connections:
            hub.idle_since = None
            return
        now = time.monotonic()
        if hub.idle_since is None:
            hub.idle_since = now
        elif now - hub.idle_since > IDLE_ROOM_SECONDS or hub.room.ended:
            self._hubs.pop(hub.session_id, None)
            await hub.media.close()
            await hub.writes.close()

    # -- rooms -------------------------------------------------------------------------

    def get(self, session_id: int) -> Hub | None:
        return self._hubs.get(session_id)

    async def hub_for(self, session: MediationSession) -> Hub:
        """The live room of a session, created (and restored) on first use.

        Creation is serialised, so two first joins cannot make twin rooms; a
        session whose room belongs to another worker is refused (``NotOwner``),
        so no two processes make twin rooms either.
        """
        assert session.id is not None
        if self._peers is not None and not self._peers.worker.owns(session.id):
            raise NotOwner(session.id, self._peers.worker.owner(session.id))
        existing = self._hubs.get(session.id)
        if existing is not None:
            return existing
        async with self._creating:
            existing = self._hubs.get(session.id)
            if existing is not None:
                return existing
            async with self._factory() as db:
                host = await db.get(StaffUser, session.presiding_officer_id)
                dispute = await db.get(Dispute, session.dispute_id)
            room = Room(
                session.id,
                host_staff_id=session.presiding_officer_id,
                title=dispute.title if dispute else "",
                grace_seconds=self._grace,
            )
            restored = await self._store.load(session.id)
            for pid in restored.admitted:
                room.restore_admitted(pid)
            for pid in restored.removed:
                room.restore_removed(pid)
            room.restore_chat(message for message, _ in restored.chat)
            if restored.state is not None:
                room.restore_state(restored.state)
            session_id = session.id

            async def on_offer(pid: str, sdp: str) -> None:
                await self._send_offer(session_id, pid, sdp)

            hub = Hub(
                session_id=session.id,
                station_id=session.station_id,
                office_id=session.office_id,
                room=room,
                media=MediaServer(self._media_config, on_offer=on_offer),
                chat_times={message.id: at for message, at in restored.chat},
                writes=WriteQueue(f"room {session.id}"),
                saved_state=room.live_state(),
                state_revision=restored.revision,
            )
            self._hubs[session.id] = hub
            logger.info("room %s: opened (host %s)", session.id, host.username if host else "?")
            if self._peers is not None:
                worker = self._peers.worker
                logger.debug("room %s: on worker %d of %d", session.id, worker.index, worker.count)
            return hub

    def agreement_changed(self, session_id: int) -> None:
        """The session's agreement changed outside the room (a signature, a page's edit).

        The room, if it is live in this process, gets ``agreement_updated`` (and any
        new signing prompts) from a task of its own: the caller's transaction has
        committed, and its request need not wait for the sockets. A room another
        worker owns is told through that worker (``Peers``), also from a task.
        """
        if self._peers is not None and not self._peers.worker.owns(session_id):
            self.track(
                asyncio.create_task(
                    self._peers.agreement_changed(session_id), name=f"agreement-{session_id}"
                )
            )
            return
        hub = self._hubs.get(session_id)
        if hub is None:
            return
        self.track(
            asyncio.create_task(self._agreement_task(hub, None), name=f"agreement-{session_id}")
        )

    async def _agreement_task(self, hub: Hub, pids: list[str] | None) -> None:
        """Tell the room about the agreement; a failure is logged, the room goes on."""
        try:
            if pids is None:
                await self._agreements.broadcast(hub)
            else:
                await self._agreements.send_state(hub, pids)
        except Exception:
            logger.exception("room %s: agreement notification failed", hub.session_id)

    async def _send_offer(self, session_id: int, pid: str, sdp: str) -> None:
        hub = self._hubs.get(session_id)
        conn = hub.connections.get(pid) if hub else None
        if hub is None or conn is None:
            return
        offer = hub.media.subscriber_offer(pid)
        await conn.send(
            m.SubscriberOffered(
                sdp=sdp,
                sources=offer.sources if offer else {},
                connection=offer.connection if offer else 0,
            )
        )

    # -- events -> the world -------------------------------------------------------------

    async def publish(self, hub: Hub, events: list[ev.Event], *, defer_close: bool = False) -> None:
        """Apply a batch of room events: media, database, notifications, snapshots.

        Called with ``hub.lock`` held. With ``defer_close`` the sockets to close
        wait in ``hub.pending_closes`` until ``close_pending``, so the request
        that ended a session is still answered on its own socket.
        """
        if not events:
            return
        closing = hub.pending_closes
        admitted: list[str] = []
        for event in events:
            self._persist(hub, event)
            match event:
                case ev.RoutesChanged(routes=routes):
                    await hub.media.apply_routes(routes)
                case ev.ParticipantAdmitted(pid=pid):
                    await self._tell(hub, pid, m.YouWereAdmitted())
                    admitted.append(pid)
                case ev.ParticipantDeclined(pid=pid):
                    await self._tell(hub, pid, m.YouWereDeclined())
                    closing.append((pid, CloseReason.DECLINED))
                case ev.ParticipantRemoved(pid=pid):
                    await self._tell(hub, pid, m.YouWereRemoved())
                    closing.append((pid, CloseReason.REMOVED_BY_HOST))
                case ev.AudioMuted(by=by, target=target):
                    await self._tell(hub, target, m.YouWereMuted(by=self._name(hub, by)))
                case ev.UnmuteRequested(by=by, target=target):
                    await self._tell(hub, target, m.UnmuteRequested(by=self._name(hub, by)))
                case ev.VideoStopped(by=by, target=target):
                    await self._tell(hub, target, m.YourVideoWasStopped(by=self._name(hub, by)))
                case ev.ChatPosted(message=message):
                    for pid in hub.room.chat_recipients(message):
                        full = pid in hub.full_names
                        sender = hub.room.participants.get(message.sender_id)
                        name = message.sender_name
                        if sender is not None:
                            name = display_name(sender, full_names=full)
                        await self._tell(
                            hub,
                            pid,
                            m.ChatPosted(
                                message=chat_view(
                                    message, hub.chat_times.get(message.id), sender_name=name
                                )
                            ),
                        )
                case ev.RoomEnded():
                    for pid in list(hub.connections):
                        await self._tell(hub, pid, m.SessionEnded())
                        closing.append((pid, CloseReason.SESSION_ENDED))
                case _:
                    pass
        self._persist_state(hub)
        await self.broadcast_snapshots(hub)
        if admitted:
            # Reading the draft takes the database: not while the room's lock is held.
            self.track(
                asyncio.create_task(
                    self._agreement_task(hub, admitted), name=f"agreement-{hub.session_id}"
                )
            )
        if not defer_close:
            await self.close_pending(hub)

    async def close_pending(self, hub: Hub) -> None:
        """Close the sockets of those who were removed, declined or ended.

        The sockets are closed in tasks of their own: a close waits for the
        peer's reply, which the peer's own handler must read, and that handler
        may be waiting for the room lock that our caller holds.
        """
        while hub.pending_closes:
            pid, reason = hub.pending_closes.pop(0)
            conn = hub.connections.pop(pid, None)
            await hub.media.close_participant(pid)
            if conn is not None:
                self.track(asyncio.create_task(conn.close(reason), name=f"close-{pid}"))

    async def broadcast_snapshots(self, hub: Hub) -> None:
        for pid, conn in list(hub.connections.items()):
            if pid in hub.room.participants:
                await conn.send(m.RoomUpdated(room=self.snapshot(hub, pid)))

    def snapshot(self, hub: Hub, pid: str) -> dict[str, Any]:
        return room_view(hub.room, pid, full_names=pid in hub.full_names, chat_times=hub.chat_times)

    async def _tell(self, hub: Hub, pid: str, message: BaseModel) -> None:
        conn = hub.connections.get(pid)
        if conn is not None:
            await conn.send(message)

    @staticmethod
    def _name(hub: Hub, pid: str) -> str:
        person = hub.room.participants.get(pid)
        return person.name if person else ""

    def _persist(self, hub: Hub, event: ev.Event) -> None:
        """Queue what ``event`` writes to the database, bound to the values decided now."""
        room, sid, writes = hub.room, hub.session_id, hub.writes
        pid = getattr(event, "pid", None) or getattr(event, "target", None)
        if (
            isinstance(
                event,
                ev.ParticipantAdmitted
                | ev.ParticipantDeclined
                | ev.ParticipantRemoved
                | ev.ParticipantLeft,
            )
            and pid in room.participants
        ):
            standing = Standing.of(room.participants[pid])
            writes.submit("admission", lambda: self._store.save_participant(sid, standing))
        if isinstance(event, ev.ChatPosted):
            message, at = event.message, utcnow()
            hub.chat_times[message.id] = at
            writes.submit("chat", lambda: self._store.save_chat(sid, message, at))
        if isinstance(event, ev.ParticipantRemoved) and event.revoke_link:
            person, remover = room.participants.get(event.pid), room.participants.get(event.by)
            if person is not None and person.invitation_id is not None and remover is not None:
                invitation_id, staff_id = person.invitation_id, remover.staff_id
                writes.submit("revocation", lambda: self._revoke_link(invitation_id, staff_id))
        if isinstance(event, ev.RoomEnded):
            writes.submit("session held", lambda: self._mark_held(sid))
        action = AUDITED.get(type(event))
        if action is not None and not getattr(event, "returning", False):
            detail = {"by": getattr(event, "by", None) or "", "target": pid or ""}
            writes.submit("audit", lambda: self._audit(hub.station_id, sid, action, detail))

    def _persist_state(self, hub: Hub) -> None:
        """Queue the room's live state if it moved: the promise a restart must keep."""
        state = hub.room.live_state()
        if state == hub.saved_state:
            return
        hub.saved_state = state
        hub.state_revision += 1
        revision, sid = hub.state_revision, hub.session_id
        hub.writes.submit("live state", lambda: self._store.save_state(sid, state, revision))

    async def _audit(
        self, station_id: int, session_id: int, action: str, detail: dict[str, str]
    ) -> None:
        async with transaction(self._factory) as db:
            record(
                db,
                None,
                action,
                object_type="session",
                object_id=session_id,
                detail=detail,
                station_id=station_id,
            )

    async def _revoke_link(self, invitation_id: int, staff_id: int | None) -> None:
        """Revoke a removed participant's link, as the member of staff who removed them."""
        async with transaction(self._factory) as db:
            staff = await db.get(StaffUser, staff_id) if staff_id else None
            if staff is None:
                return
            with contextlib.suppress(DomainError):  # already revoked, or not theirs to revoke
                await invitations.revoke(
                    db, actor_for(staff), invitation_id, "removed from the room"
                )

    async def _mark_held(self, session_id: int) -> None:
        async with transaction(self._factory) as db:
            session = await db.get(MediationSession, session_id)
            if session is not None and session.status == SessionStatus.SCHEDULED:
                session.status = SessionStatus.HELD
                session.updated_at = utcnow()
