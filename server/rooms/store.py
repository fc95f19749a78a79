"""What a room writes through to the database, and reads back after a restart.

Admission decisions and chat lines are durable the moment they happen; the
rest of a room (connections, caucuses, mutes) is live state that a restart
may lose without harm: people rejoin by themselves and are let in again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from server.db import SessionFactory, transaction
from server.models import ChatMessage as ChatRow
from server.models import RoomEntry, utcnow
from server.rooms.events import ChatMessage
from server.rooms.participant import Admission, Participant


@dataclass(frozen=True)
class Restored:
    admitted: list[str]
    removed: list[str]
    chat: list[tuple[ChatMessage, datetime]]


class RoomStore:
    def __init__(self, factory: SessionFactory) -> None:
        self._factory = factory

    async def load(self, session_id: int) -> Restored:
        async with self._factory() as db:
            entries = list(
                await db.exec(select(RoomEntry).where(RoomEntry.session_id == session_id))
            )
            rows = list(
                await db.exec(
                    select(ChatRow)
                    .where(ChatRow.session_id == session_id)
                    .order_by(col(ChatRow.id))
                )
            )
        chat = [
            (
                ChatMessage(
                    id=number,
                    sender_id=row.sender_key,
                    sender_name=row.sender_name,
                    text=row.text,
                    private_to_hosts=row.private_to_hosts,
                    caucus_id=row.caucus_id,
                    at=0.0,
                    audience=frozenset(filter(None, row.audience.split(","))),
                ),
                row.at,
            )
            for number, row in enumerate(rows, start=1)
        ]
        return Restored(
            admitted=[e.participant_key for e in entries if e.admission == Admission.ADMITTED],
            removed=[e.participant_key for e in entries if e.admission == Admission.REMOVED],
            chat=chat,
        )

    async def save_participant(self, session_id: int, participant: Participant) -> None:
        """Record where the participant stands (one row per participant, updated)."""
        async with transaction(self._factory) as db:
            entry = (
                await db.exec(
                    select(RoomEntry).where(
                        RoomEntry.session_id == session_id,
                        RoomEntry.participant_key == participant.id,
                    )
                )
            ).first()
            if entry is None:
                entry = RoomEntry(
                    session_id=session_id,
                    participant_key=participant.id,
                    name=participant.name[:40],
                    role=participant.role,
                    admission=participant.admission,
                )
                db.add(entry)
            else:
                entry.admission = participant.admission
                entry.updated_at = utcnow()

    async def save_chat(self, session_id: int, message: ChatMessage) -> datetime:
        at = utcnow()
        async with transaction(self._factory) as db:
            db.add(
                ChatRow(
                    session_id=session_id,
                    sender_key=message.sender_id,
                    sender_name=message.sender_name[:40],
                    text=message.text,
                    private_to_hosts=message.private_to_hosts,
                    caucus_id=message.caucus_id,
                    audience=",".join(sorted(message.audience))[:2000],
                    at=at,
                )
            )
        return at
