"""The minutes in the live room: the clerk's and presiding officer's entries, live.

Writers (``server.auth.roles.can_write_minutes``) add, edit and delete entries
through the room's socket; each write is committed before it is answered, so
what the writer's page shows as saved survives a reconnect and a restart. Every
admitted reader (``server.minutes.access.reads_minutes``: writers and the room's
hosts) then gets one ``minutes_updated`` with the entry as it now reads, or the
id of the one deleted; nobody else hears anything of the minutes. The rules
themselves are in ``server.minutes.service``; this module calls them, one
transaction per request, and turns the result into messages.

Decisions made here:

- Notifications are not serialised across requests: each carries the entry's
  version, and the page keeps the highest version it has seen of each entry (a
  deletion is final), so the order two notifications arrive in does not matter.
- The speakers are listed with ``minutes_list`` (the join answer says only
  whether this participant may write or read, and whether the minutes are signed
  off), because staff may enter after the page has loaded: it asks again then.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from server.auth.roles import Actor, can_write_minutes
from server.db import SessionFactory, transaction
from server.errors import N_, NotAllowed
from server.live.session import ParticipantSession
from server.minutes import service
from server.minutes.access import reads_minutes
from server.minutes.speakers import speakers_of
from server.models import MediationSession, MinutesEntry
from server.signaling import messages as m
from server.signaling import notifications as n

if TYPE_CHECKING:
    from server.live.room import LiveRoom

logger = logging.getLogger(__name__)

NOT_A_WRITER = N_("Only the presiding officer and the clerk write the minutes.")
NOT_A_READER = N_("The minutes are for the presiding officer, the hosts and the clerk.")


@dataclass(frozen=True, slots=True)
class MinutesAccess:
    """What one participant may do with the minutes of the room they are in."""

    write: bool
    read: bool


def entry_view(entry: MinutesEntry) -> dict[str, Any]:
    """An entry as the wire carries it."""
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "speaker_key": entry.speaker_key,
        "speaker_name": entry.speaker_name,
        "speaker_role": entry.speaker_role,
        "text": entry.text,
        "author_key": entry.author_key,
        "author_name": entry.author_name,
        "version": entry.version,
    }


class MinutesDesk:
    """Answers the minutes requests of every room, and tells each room's readers."""

    def __init__(
        self, factory: SessionFactory, tz: ZoneInfo, opens_before: timedelta = timedelta(0)
    ) -> None:
        self._factory = factory
        self.tz = tz
        #: How long before its start a room opens: what was said then is the session's too.
        self.opens_before = opens_before

    def access(self, hub: LiveRoom, pid: str, actor: Actor | None) -> MinutesAccess:
        """What participant ``pid`` (staff account ``actor``, if any) may do in ``hub``."""
        write = (
            actor is not None
            and actor.station_id == hub.station_id
            and can_write_minutes(actor, hub.office_id, hub.room.host_staff_id)
        )
        person = hub.room.participants.get(pid)
        read = person is not None and reads_minutes(person.role, writes=write)
        return MinutesAccess(write=write, read=read)

    async def signed_off(self, hub: LiveRoom) -> bool:
        async with self._factory() as db:
            return await service.is_signed_off(db, hub.session_id)

    async def handle(
        self, hub: LiveRoom, session: ParticipantSession, request: m.MinutesRequest
    ) -> dict[str, Any]:
        """One request from an admitted participant; DomainErrors go back to the handler."""
        allowed = self.access(hub, session.pid, session.actor)
        if isinstance(request, m.MinutesList):
            if not allowed.read:
                raise NotAllowed(NOT_A_READER)
            return await self._listing(hub, allowed)
        actor = session.actor
        if not allowed.write or actor is None:
            raise NotAllowed(NOT_A_WRITER)
        match request:
            case m.MinutesAdd(speaker_key=speaker, text=text, at=at):
                async with transaction(self._factory) as db:
                    entry = await service.add_entry(
                        db,
                        actor,
                        hub.session_id,
                        speaker,
                        text,
                        tz=self.tz,
                        at=at,
                        opens_before=self.opens_before,
                    )
                    view = entry_view(entry)
                await self._tell(hub, n.MinutesUpdated(entry=view))
                return {"entry": view}
            case m.MinutesEdit(entry_id=entry_id, base_version=base):
                change = service.EntryChange(
                    base_version=base,
                    text=request.text,
                    speaker_key=request.speaker_key,
                    at=request.at,
                )
                async with transaction(self._factory) as db:
                    entry = await service.edit_entry(
                        db,
                        actor,
                        hub.session_id,
                        entry_id,
                        change,
                        tz=self.tz,
                        opens_before=self.opens_before,
                    )
                    view = entry_view(entry)
                await self._tell(hub, n.MinutesUpdated(entry=view))
                return {"entry": view}
            case m.MinutesDelete(entry_id=entry_id, base_version=base):
                async with transaction(self._factory) as db:
                    await service.delete_entry(db, actor, hub.session_id, entry_id, base)
                await self._tell(hub, n.MinutesUpdated(deleted_id=entry_id))
                return {"deleted_id": entry_id}

    async def _listing(self, hub: LiveRoom, allowed: MinutesAccess) -> dict[str, Any]:
        async with self._factory() as db:
            entries = await service.list_entries(db, hub.session_id)
            signed_off = await service.is_signed_off(db, hub.session_id)
            session = await db.get(MediationSession, hub.session_id)
            speakers = await speakers_of(db, session) if session is not None else []
        return {
            "entries": [entry_view(e) for e in entries],
            "speakers": [{"key": s.key, "name": s.name, "role": str(s.role)} for s in speakers],
            "signed_off": signed_off,
            "can_write": allowed.write and not signed_off,
        }

    async def _tell(self, hub: LiveRoom, message: n.MinutesUpdated) -> None:
        """After a committed change: a failure to notify must not turn it into an error."""
        try:
            for pid, session in list(hub.sessions.items()):
                person = hub.room.participants.get(pid)
                if person is None or not person.is_admitted:
                    continue
                if self.access(hub, pid, session.actor).read:
                    await session.channel.send(message)
        except Exception:
            logger.exception("room %s: minutes notification failed", hub.session_id)
