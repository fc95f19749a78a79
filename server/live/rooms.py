"""Every live room of this process, and what follows from each of their decisions.

The service layer between the wire and the domain (LiveKit's RoomManager):
``LiveRooms`` opens a room on first use, reading back what the database
kept (admission, chat and the live state, so that a restart fails closed),
and applies a room's events in order:

1. under the room's lock, pure and quick: queue the database writes the
   decision implies (``server.live.writes``, bound to the values decided),
   apply ``routing.routes`` to the media server, tell the people concerned
   (through the ``Notifier`` the wire provides) and refresh everyone's view;
2. after the lock, in the queue's own task: the writes, in decision order
   (standing, chat, live state, revoked links, the session held, audit).

Nothing here knows JSON or sockets: the wire (``server.signaling``) gives a
``Notifier`` that turns events into messages, and a ``Channel`` per session.
With several workers (``server/cluster.py``) only the rooms this worker owns
live here: asked for another's, ``open`` refuses (``NotOwner``); news for
another's room (an agreement change) is passed to its owner, news for every
worker (an account signed out) to all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Iterator
from typing import Protocol

from server.audit import record
from server.auth.sessions import actor_for
from server.cluster import NotOwner, Peers
from server.db import SessionFactory, transaction
from server.errors import DomainError
from server.live.room import LiveRoom
from server.live.session import EndReason
from server.live.store import RoomStore, Standing
from server.live.writes import WriteQueue
from server.logs import context as log_context
from server.models import Dispute, MediationSession, StaffUser, utcnow
from server.rooms import events as ev
from server.rooms.codecs import RoomVideoCodec, VideoCodec
from server.rooms.counters import MediaCounters
from server.rooms.link_quality import Verdict
from server.rooms.media import MediaConfig, MediaServer
from server.rooms.room import Room
from server.sessions import invitations
from server.sessions.rules import SessionStatus

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


class Notifier(Protocol):
    """How the live layer tells people: the wire implements it (``server.signaling.notify``)."""

    async def events(self, live: LiveRoom, events: list[ev.Event]) -> None:
        """Tell those concerned what each event means for them (under the room's lock)."""

    async def views(self, live: LiveRoom) -> None:
        """Send every connected participant the room as they may now see it."""

    async def subscriber_offer(self, live: LiveRoom, pid: str, sdp: str) -> None:
        """Pass the media server's offer for ``pid``'s subscriber connection on."""

    async def agreement(self, live: LiveRoom, pids: list[str] | None) -> None:
        """Send the agreement to ``pids`` (just admitted), or to everyone (None)."""


class LiveRooms:
    """Every live room of this process, owned by the app (``keys.HUBS``)."""

    def __init__(
        self,
        factory: SessionFactory,
        media_config: MediaConfig,
        notifier: Notifier,
        *,
        grace: float,
        peers: Peers | None = None,
        video_codec: VideoCodec = VideoCodec.VP8,
    ) -> None:
        self._factory = factory
        #: The station's preferred video codec, for each room's first joiner.
        self._video_codec = video_codec
        #: The other workers, when this process is one of several; None in a single process.
        self._peers = peers
        self._media_config = media_config
        self._grace = grace
        self._store = RoomStore(factory)
        self.notifier = notifier
        self._rooms: dict[int, LiveRoom] = {}
        self._creating = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        #: The media totals of every room of this process (read by ``server.metrics``).
        self.counters = MediaCounters()
        #: Error responses and refusals sent to room sockets, by error code.
        self.signal_errors: Counter[str] = Counter()

    @property
    def running(self) -> bool:
        """Started, not closed, and its housekeeping (which expires and drops rooms) alive."""
        return self._task is not None and not self._task.done()

    def __iter__(self) -> Iterator[LiveRoom]:
        """The rooms open now."""
        return iter(list(self._rooms.values()))

    @property
    def store(self) -> RoomStore:
        return self._store

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
        for live in list(self._rooms.values()):
            for session in list(live.sessions.values()):
                await session.channel.end(EndReason.GOING_AWAY)
            await live.media.close()
            await live.writes.close()
        self._rooms.clear()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        if self._peers is not None:
            await self._peers.close()

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(EXPIRE_EVERY)
            for live in list(self._rooms.values()):
                with log_context.room(live.session_id):
                    try:
                        async with live.lock:
                            await self.publish(live, live.room.expire_disconnected())
                        await self._maybe_drop(live)
                    except Exception:
                        logger.exception("room %s: housekeeping failed", live.session_id)

    async def _maybe_drop(self, live: LiveRoom) -> None:
        if live.sessions:
            live.idle_since = None
            return
        now = time.monotonic()
        if live.idle_since is None:
            live.idle_since = now
        elif now - live.idle_since > IDLE_ROOM_SECONDS or live.room.ended:
            self._rooms.pop(live.session_id, None)
            await live.media.close()
            await live.writes.close()

    # -- rooms -------------------------------------------------------------------------

    def get(self, session_id: int) -> LiveRoom | None:
        return self._rooms.get(session_id)

    async def open(self, session: MediationSession) -> LiveRoom:
        """The live room of a session, created (and restored) on first use.

        Creation is serialised, so two first joins cannot make twin rooms; a
        session whose room belongs to another worker is refused (``NotOwner``),
        so no two processes make twin rooms either. A room read back after a
        restart has its caucuses, lock and controls before anyone is let in.
        """
        assert session.id is not None
        if self._peers is not None and not self._peers.worker.owns(session.id):
            raise NotOwner(session.id, self._peers.worker.owner(session.id))
        existing = self._rooms.get(session.id)
        if existing is not None:
            return existing
        async with self._creating:
            existing = self._rooms.get(session.id)
            if existing is not None:
                return existing
            async with self._factory() as db:
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
                log_context.set_session(session_id)  # in the media server's task
                live = self._rooms.get(session_id)
                if live is not None:
                    await self.notifier.subscriber_offer(live, pid, sdp)

            def on_link(pid: str, verdict: Verdict, reason: str) -> None:
                live = self._rooms.get(session_id)
                if live is not None:
                    on = verdict is Verdict.AUDIO_ONLY
                    self.track(
                        asyncio.create_task(
                            self.link_judged(live, pid, on, reason), name=f"link-{pid}"
                        )
                    )

            live = LiveRoom(
                session_id=session.id,
                station_id=session.station_id,
                office_id=session.office_id,
                room=room,
                media=MediaServer(
                    self._media_config,
                    on_offer=on_offer,
                    on_link=on_link,
                    counters=self.counters,
                ),
                chat_times={message.id: at for message, at in restored.chat},
                writes=WriteQueue(f"room {session.id}"),
                saved_state=room.live_state(),
                state_revision=restored.revision,
                video_codec=RoomVideoCodec(self._video_codec),
            )
            self._rooms[session.id] = live
            logger.info("room %s: opened (host staff %s)", session.id, session.presiding_officer_id)
            if self._peers is not None:
                worker = self._peers.worker
                logger.debug("room %s: on worker %d of %d", session.id, worker.index, worker.count)
            return live

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
        live = self._rooms.get(session_id)
        if live is None:
            return
        self.track(
            asyncio.create_task(self._agreement_task(live, None), name=f"agreement-{session_id}")
        )

    def signed_out(self, staff_id: int) -> None:
        """A staff account logged out, changed its password or was deactivated.

        Whatever room sockets it holds end (``EndReason.SIGNED_OUT``): a page left
        open elsewhere must not keep the host controls of someone who signed out.
        Rooms are spread over workers, so every sibling is told too. From tasks of
        their own: the caller's request need not wait for sockets to close.
        """
        self.track(asyncio.create_task(self.end_sessions_of(staff_id), name=f"out-{staff_id}"))
        if self._peers is not None:
            self.track(
                asyncio.create_task(self._peers.signed_out(staff_id), name=f"out-{staff_id}-peers")
            )

    async def end_sessions_of(self, staff_id: int) -> None:
        """End this process's room sessions of staff member ``staff_id``."""
        for live in list(self._rooms.values()):
            with log_context.room(live.session_id):
                for session in [s for s in live.sessions.values() if s.staff_id == staff_id]:
                    logger.info("room %s: %s signed out", live.session_id, session.pid)
                    await session.channel.end(EndReason.SIGNED_OUT)

    async def link_judged(self, live: LiveRoom, pid: str, on: bool, reason: str) -> None:
        """The media server judged ``pid``'s downlink: video off (or back on) for them."""
        log_context.set_session(live.session_id)  # a task of its own
        try:
            async with live.lock:
                await self.publish(live, live.room.set_link_audio_only(pid, on, reason))
        except Exception:
            logger.exception("room %s: link change for %s failed", live.session_id, pid)

    async def _agreement_task(self, live: LiveRoom, pids: list[str] | None) -> None:
        """Tell the room about the agreement; a failure is logged, the room goes on."""
        log_context.set_session(live.session_id)  # a task of its own
        try:
            await self.notifier.agreement(live, pids)
        except Exception:
            logger.exception("room %s: agreement notification failed", live.session_id)

    # -- events -> the world -------------------------------------------------------------

    async def publish(
        self, live: LiveRoom, events: list[ev.Event], *, defer_close: bool = False
    ) -> None:
        """Apply a batch of room events: writes queued, media, notifications, views.

        Called with ``live.lock`` held, and does no database I/O itself. With
        ``defer_close`` the sessions to end wait in ``live.pending_closes``
        until ``close_pending``, so the request that ended a session is still
        answered on its own socket.
        """
        if not events:
            return
        admitted: list[str] = []
        for event in events:
            self._persist(live, event)
            match event:
                case ev.RoutesChanged(routes=routes):
                    await live.media.apply_routes(routes)
                case ev.ParticipantAdmitted(pid=pid):
                    admitted.append(pid)
                case ev.ParticipantDeclined(pid=pid):
                    live.pending_closes.append((pid, EndReason.DECLINED))
                case ev.ParticipantRemoved(pid=pid):
                    live.pending_closes.append((pid, EndReason.REMOVED))
                case ev.RoomEnded():
                    live.pending_closes += [(pid, EndReason.SESSION_ENDED) for pid in live.sessions]
                case _:
                    pass
        await self.notifier.events(live, events)
        self._persist_state(live)
        await self.notifier.views(live)
        if admitted:
            # Reading the draft takes the database: not while the room's lock is held.
            self.track(
                asyncio.create_task(
                    self._agreement_task(live, admitted), name=f"agreement-{live.session_id}"
                )
            )
        if not defer_close:
            await self.close_pending(live)

    async def close_pending(self, live: LiveRoom) -> None:
        """End the sessions of those who were removed, declined or ended.

        The sockets are closed in tasks of their own: a close waits for the
        peer's reply, which the peer's own handler must read, and that handler
        may be waiting for the room lock that our caller holds.
        """
        while live.pending_closes:
            pid, reason = live.pending_closes.pop(0)
            session = live.session(pid)
            if session is not None:
                await live.drop(session)
                self.track(asyncio.create_task(session.channel.end(reason), name=f"close-{pid}"))

    def _persist(self, live: LiveRoom, event: ev.Event) -> None:
        """Queue what ``event`` writes to the database, bound to the values decided now."""
        room, sid, writes = live.room, live.session_id, live.writes
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
            live.chat_times[message.id] = at
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
            writes.submit("audit", lambda: self._audit(live.station_id, sid, action, detail))

    def _persist_state(self, live: LiveRoom) -> None:
        """Queue the room's live state if it moved: the promise a restart must keep."""
        state = live.room.live_state()
        if state == live.saved_state:
            return
        live.saved_state = state
        live.state_revision += 1
        revision, sid = live.state_revision, live.session_id
        live.writes.submit("live state", lambda: self._store.save_state(sid, state, revision))

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
