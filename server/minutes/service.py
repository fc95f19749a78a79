"""Writing the minutes: add, edit and delete timed entries, list them in time order.

The rules, in one place, for every edge (today the room's socket):

- Who writes: the session's presiding officer and the station's clerks
  (``server.auth.roles.can_write_minutes``); who reads is the room's business
  (``server.minutes.access``), as only the room knows who hosts it.
- A speaker is one of the session's participants (``server.minutes.speakers``),
  by participant id; anything else is ``MinutesUnknownSpeaker`` and nothing is written.
- The time said defaults to now and may be set to another moment of the session's
  local day(s), not later than now: the clerk may catch up on what was said a
  minute ago, not invent another day's hearing. The session's days run from the
  day its room opens (``opens_before`` its start) to the day it is booked to end,
  so a sitting that crosses midnight is still one hearing.
- An entry is edited many times while it is typed: each edit is a compare-and-set on
  its ``version`` (``server.versioned``), so of two edits from the same base one wins
  and the other is told (``MinutesConflict``), never silently overwritten.
- Once the presiding officer has signed the minutes off (a ``MinutesSignoff`` row)
  every write is ``MinutesSignedOff``; edits and deletions check it in the same
  statement that changes the row, so a sign-off committed meanwhile still wins.
- Every write leaves an audit record (without the words, which are in the entry).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, delete, exists
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.audit import record
from server.auth.roles import Actor, can_write_minutes, require
from server.errors import (
    N_,
    MinutesConflict,
    MinutesSignedOff,
    MinutesUnknownSpeaker,
    NotFound,
    ValidationFailed,
)
from server.local_time import local_date
from server.minutes.speakers import Speaker, speaker_of
from server.models import MediationSession, MinutesEntry, MinutesSignoff, StaffUser
from server.models.base import utcnow
from server.rooms.participant import staff_pid
from server.versioned import claim_next_version

#: The column's width: an entry is one statement, not the whole hearing.
MAX_TEXT = 2000
#: A phone clock a little fast does not make "now" the future.
CLOCK_SLACK = timedelta(minutes=1)

NO_SESSION = N_("No such session.")
NO_ENTRY = N_("No such minutes entry.")
SIGNED_OFF = N_("The minutes have already been signed off; they can no longer be changed.")
UNKNOWN_SPEAKER = N_("The speaker is not a participant of this session.")
CHANGED_MEANWHILE = N_("Someone else changed this entry meanwhile; it now reads as they left it.")
TOO_LONG = N_("An entry holds at most %(max)d characters; start a new entry to go on.")
OTHER_DAY = N_("The time must be on the day of the session.")
FUTURE = N_("The time cannot be later than now.")


@dataclass(frozen=True, slots=True)
class EntryChange:
    """What an edit changes; None leaves a field as it is."""

    base_version: int
    text: str | None = None
    speaker_key: str | None = None
    at: datetime | None = None


async def session_for_writer(db: AsyncSession, actor: Actor, session_id: int) -> MediationSession:
    """The session, when ``actor`` may write its minutes (another station's is not found)."""
    session = await db.get(MediationSession, session_id)
    if session is None or session.station_id != actor.station_id:
        raise NotFound(NO_SESSION)
    require(can_write_minutes(actor, session.office_id, session.presiding_officer_id))
    return session


async def is_signed_off(db: AsyncSession, session_id: int) -> bool:
    """Whether the presiding officer has signed this session's minutes off."""
    return await db.get(MinutesSignoff, session_id) is not None


async def list_entries(db: AsyncSession, session_id: int) -> list[MinutesEntry]:
    """The session's entries in the order things were said (ties: the order written)."""
    rows = await db.exec(
        select(MinutesEntry)
        .where(MinutesEntry.session_id == session_id)
        .order_by(col(MinutesEntry.at), col(MinutesEntry.id))
    )
    return list(rows)


async def add_entry(
    db: AsyncSession,
    actor: Actor,
    session_id: int,
    speaker_key: str,
    text: str = "",
    *,
    tz: ZoneInfo,
    at: datetime | None = None,
    now: datetime | None = None,
    opens_before: timedelta = timedelta(0),
) -> MinutesEntry:
    """A new entry: ``speaker_key`` said ``text`` at ``at`` (default: now)."""
    session = await session_for_writer(db, actor, session_id)
    await _refuse_if_signed_off(db, session_id)
    _check_text(text)
    now = now or datetime.now(UTC)
    said_at = _check_time(session, at or now, now, tz, opens_before)
    speaker = await _speaker(db, session, speaker_key)
    author = await db.get(StaffUser, actor.user_id)
    entry = MinutesEntry(
        session_id=session_id,
        at=said_at,
        speaker_key=speaker.key,
        speaker_name=speaker.name[:40],
        speaker_role=str(speaker.role),
        text=text,
        author_key=staff_pid(actor.user_id),
        author_name=(author.display_name if author else actor.label)[:40],
    )
    db.add(entry)
    await db.flush()
    record(
        db,
        actor,
        "minutes.add",
        object_type="mediation_session",
        object_id=session_id,
        detail={"entry": entry.id, "speaker": speaker.key},
    )
    return entry


async def edit_entry(
    db: AsyncSession,
    actor: Actor,
    session_id: int,
    entry_id: int,
    change: EntryChange,
    *,
    tz: ZoneInfo,
    now: datetime | None = None,
    opens_before: timedelta = timedelta(0),
) -> MinutesEntry:
    """The entry with ``change`` applied, if nobody changed it since ``base_version``."""
    entry = await _entry(db, session_id, entry_id)
    session = await session_for_writer(db, actor, entry.session_id)
    await _refuse_if_signed_off(db, entry.session_id)
    values: dict[str, object] = {"updated_at": utcnow()}
    if change.text is not None:
        _check_text(change.text)
        values["text"] = change.text
    if change.at is not None:
        values["at"] = _check_time(session, change.at, now or datetime.now(UTC), tz, opens_before)
    if change.speaker_key is not None and change.speaker_key != entry.speaker_key:
        speaker = await _speaker(db, session, change.speaker_key)
        values.update(
            speaker_key=speaker.key, speaker_name=speaker.name[:40], speaker_role=str(speaker.role)
        )
    if change.base_version != entry.version or not await claim_next_version(
        db, entry, change.base_version, values, also=(_not_signed_off(entry.session_id),)
    ):
        await _refuse_if_signed_off(db, entry.session_id)
        await db.refresh(entry)
        raise MinutesConflict(CHANGED_MEANWHILE, params={"version": entry.version})
    record(
        db,
        actor,
        "minutes.edit",
        object_type="mediation_session",
        object_id=entry.session_id,
        detail={"entry": entry.id, "version": entry.version},
    )
    return entry


async def delete_entry(
    db: AsyncSession, actor: Actor, session_id: int, entry_id: int, base_version: int
) -> MinutesEntry:
    """Remove an entry (one started by mistake); refused if it changed since ``base_version``."""
    entry = await _entry(db, session_id, entry_id)
    await session_for_writer(db, actor, entry.session_id)
    await _refuse_if_signed_off(db, entry.session_id)
    result = await db.exec(
        delete(MinutesEntry)
        .where(
            col(MinutesEntry.id) == entry_id,
            col(MinutesEntry.version) == base_version,
            _not_signed_off(entry.session_id),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        await _refuse_if_signed_off(db, entry.session_id)
        raise MinutesConflict(CHANGED_MEANWHILE)
    db.expunge(entry)
    record(
        db,
        actor,
        "minutes.delete",
        object_type="mediation_session",
        object_id=entry.session_id,
        detail={"entry": entry_id, "version": base_version},
    )
    return entry


# -- the rules -----------------------------------------------------------------------------


def _check_text(text: str) -> None:
    if len(text) > MAX_TEXT:
        raise ValidationFailed(TOO_LONG, params={"max": MAX_TEXT}, fields={"text": TOO_LONG})


def _check_time(
    session: MediationSession,
    at: datetime,
    now: datetime,
    tz: ZoneInfo,
    opens_before: timedelta,
) -> datetime:
    """``at`` in UTC, when it is on the session's local day(s) and not in the future."""
    if at.tzinfo is None:
        raise ValidationFailed(OTHER_DAY, fields={"at": OTHER_DAY})
    at = at.astimezone(UTC)
    first = local_date(session.starts_at - opens_before, tz)
    if not first <= local_date(at, tz) <= local_date(session.ends_at, tz):
        raise ValidationFailed(OTHER_DAY, fields={"at": OTHER_DAY})
    if at > now + CLOCK_SLACK:
        raise ValidationFailed(FUTURE, fields={"at": FUTURE})
    return at


async def _speaker(db: AsyncSession, session: MediationSession, key: str) -> Speaker:
    speaker = await speaker_of(db, session, key)
    if speaker is None:
        raise MinutesUnknownSpeaker(UNKNOWN_SPEAKER, fields={"speaker": UNKNOWN_SPEAKER})
    return speaker


async def _entry(db: AsyncSession, session_id: int, entry_id: int) -> MinutesEntry:
    """Entry ``entry_id`` of session ``session_id`` (another session's is not found)."""
    entry = await db.get(MinutesEntry, entry_id)
    if entry is None or entry.session_id != session_id:
        raise NotFound(NO_ENTRY)
    return entry


async def _refuse_if_signed_off(db: AsyncSession, session_id: int) -> None:
    if await is_signed_off(db, session_id):
        raise MinutesSignedOff(SIGNED_OFF)


def _not_signed_off(session_id: int) -> ColumnElement[bool]:
    return ~exists().where(col(MinutesSignoff.session_id) == session_id)
