"""What a room writes to the database, and reads back when it is opened again.

Three kinds of record: each participant's standing at the door (one row per
participant, updated), the chat (one row per line), and the room's live
state (``server.rooms.state.LiveState``: lock, caucuses, host controls),
replaced as a whole in one transaction so that a restart reads back the
state of one decision, never half of two. The writes come from the room's
ordered write queue (``server.live.writes``), after the decision and outside
the room's lock; ``revision`` refuses a write older than one already made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, delete, select

from server.db import SessionFactory, transaction
from server.models import ChatMessage as ChatRow
from server.models import RoomCaucus, RoomControl, RoomEntry, RoomState, utcnow
from server.rooms.events import ChatMessage
from server.rooms.participant import Admission, Participant
from server.rooms.state import CaucusState, Controls, LiveState

#: Column widths the rows hold (server/models/room.py).
NAME_CHARS = 40
MEMBERS_CHARS = 2000


@dataclass(frozen=True)
class Standing:
    """A participant's door record as the room decided it (a copy, not the live record)."""

    pid: str
    name: str
    role: str
    admission: Admission

    @classmethod
    def of(cls, p: Participant) -> Standing:
        return cls(p.id, p.name, p.role.value, p.admission)


@dataclass(frozen=True)
class Restored:
    """Everything a room reads back when it opens again."""

    admitted: list[str]
    removed: list[str]
    chat: list[tuple[ChatMessage, datetime]]
    #: None when the room never wrote one (opened for the first time).
    state: LiveState | None
    revision: int


class RoomStore:
    """Reads and writes a session's room records."""

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
            head = await db.get(RoomState, session_id)
            caucuses = list(
                await db.exec(select(RoomCaucus).where(RoomCaucus.session_id == session_id))
            )
            controls = list(
                await db.exec(select(RoomControl).where(RoomControl.session_id == session_id))
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
                    audience=_ids(row.audience),
                ),
                row.at,
            )
            for number, row in enumerate(rows, start=1)
        ]
        state = None
        if head is not None:
            kept = [
                CaucusState(c.caucus_key, c.name, c.opened_by, _ids(c.members)) for c in caucuses
            ]
            on = [
                (
                    c.participant_key,
                    Controls(
                        muted_by_host=c.muted_by_host,
                        video_stopped_by_host=c.video_stopped_by_host,
                        hand_raised=c.hand_raised,
                        unmute_requested=c.unmute_requested,
                    ),
                )
                for c in controls
            ]
            state = LiveState(
                locked=head.locked,
                next_caucus=head.next_caucus,
                caucuses=tuple(sorted(kept, key=lambda c: c.id)),
                controls=tuple(sorted(on, key=lambda pair: pair[0])),
            )
        return Restored(
            admitted=[e.participant_key for e in entries if e.admission == Admission.ADMITTED],
            removed=[e.participant_key for e in entries if e.admission == Admission.REMOVED],
            chat=chat,
            state=state,
            revision=head.revision if head is not None else 0,
        )

    async def save_state(self, session_id: int, state: LiveState, revision: int) -> bool:
        """Replace the room's live state with ``state``, decided as write ``revision``.

        A revision not newer than the stored one is not written (False): the
        room's writes are ordered, so it can only be a replay.
        """
        async with transaction(self._factory) as db:
            head = await db.get(RoomState, session_id)
            if head is None:
                head = RoomState(session_id=session_id)
                db.add(head)
            elif head.revision >= revision:
                return False
            head.locked = state.locked
            head.next_caucus = state.next_caucus
            head.revision = revision
            head.updated_at = utcnow()
            await db.exec(delete(RoomCaucus).where(col(RoomCaucus.session_id) == session_id))
            await db.exec(delete(RoomControl).where(col(RoomControl.session_id) == session_id))
            for caucus in state.caucuses:
                members = ",".join(sorted(caucus.members))
                if len(members) > MEMBERS_CHARS:  # 20 people's ids fit many times over
                    raise ValueError(f"room {session_id}: caucus {caucus.id} too large to store")
                db.add(
                    RoomCaucus(
                        session_id=session_id,
                        caucus_key=caucus.id,
                        name=caucus.name,
                        opened_by=caucus.opened_by,
                        members=members,
                    )
                )
            for pid, controls in state.controls:
                db.add(
                    RoomControl(
                        session_id=session_id,
                        participant_key=pid,
                        muted_by_host=controls.muted_by_host,
                        video_stopped_by_host=controls.video_stopped_by_host,
                        hand_raised=controls.hand_raised,
                        unmute_requested=controls.unmute_requested,
                    )
                )
        return True

    async def save_participant(self, session_id: int, standing: Standing) -> None:
        """Record where the participant stands (one row per participant, updated)."""
        async with transaction(self._factory) as db:
            entry = (
                await db.exec(
                    select(RoomEntry).where(
                        RoomEntry.session_id == session_id,
                        RoomEntry.participant_key == standing.pid,
                    )
                )
            ).first()
            if entry is None:
                entry = RoomEntry(
                    session_id=session_id,
                    participant_key=standing.pid,
                    name=standing.name[:NAME_CHARS],
                    role=standing.role,
                    admission=standing.admission,
                )
                db.add(entry)
            else:
                entry.admission = standing.admission
                entry.updated_at = utcnow()

    async def save_chat(self, session_id: int, message: ChatMessage, at: datetime) -> None:
        """Keep a chat line with the session's record, stamped ``at`` (when it was posted)."""
        async with transaction(self._factory) as db:
            db.add(
                ChatRow(
                    session_id=session_id,
                    sender_key=message.sender_id,
                    sender_name=message.sender_name[:NAME_CHARS],
                    text=message.text,
                    private_to_hosts=message.private_to_hosts,
                    caucus_id=message.caucus_id,
                    audience=",".join(sorted(message.audience))[:MEMBERS_CHARS],
                    at=at,
                )
            )


def _ids(joined: str) -> frozenset[str]:
    return frozenset(filter(None, joined.split(",")))
