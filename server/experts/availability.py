"""When an expert can serve: weekly windows and dated exceptions (the rules and the service).

The rules are pure: ``overlapping`` says whether a new window clashes with the expert's
others, ``availability_at`` whether the expert is free for a span of local wall-clock
time. Entries are local times (the station's zone, ``settings.timezone``): an expert says
"Tuesdays 14:00-17:00" in the office's time, while sessions are stored as UTC instants, so
``state_for_session`` converts a session's instants before asking.

What a declaration means, and why:

- An exception on a date wins over the weekly windows of that weekday, as the table's
  docstring says: a lawyer on leave on a Tuesday is not free on that Tuesday afternoon.
- An ``available=False`` exception touching any part of the span makes the expert not free:
  an hour off in the middle of a session is no help.
- Free needs one window covering the whole span: two windows that touch (14-15, 15-16)
  are two declarations, and the expert chose to declare them apart.
- An expert who declared something, but nothing covering the span, is not free (they said
  when they can serve, and this is not it); only an expert who declared nothing at all is
  "undeclared", and booking may still suggest them after those who are free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.audit import record
from server.auth.roles import Actor
from server.errors import N_, NotFound, ValidationFailed
from server.experts import service
from server.models import ExpertAvailability


class EntryKind(StrEnum):
    WEEKLY = "weekly"
    EXCEPTION = "exception"


class FreeState(StrEnum):
    FREE = "free"
    NOT_FREE = "not_free"
    UNDECLARED = "undeclared"


WEEKDAY_LABELS: dict[int, str] = {
    0: N_("Monday"),
    1: N_("Tuesday"),
    2: N_("Wednesday"),
    3: N_("Thursday"),
    4: N_("Friday"),
    5: N_("Saturday"),
    6: N_("Sunday"),
}

#: Why an expert is or is not free; English msgids, translated at the edge.
FREE_BY_WEEKLY = N_("Free: within the weekly hours declared")
FREE_BY_EXCEPTION = N_("Free: within the hours declared for that date")
NOT_FREE_EXCEPTION = N_("Declared not free at that time")
NOT_FREE_OUTSIDE_DATE = N_("Outside the hours declared for that date")
NOT_FREE_OUTSIDE_WEEKLY = N_("Outside the declared weekly hours")
UNDECLARED = N_("No availability declared")

ENDS_BEFORE_START = N_("The end must be later than the start.")
OVERLAPS_WEEKLY = N_(
    "This overlaps an existing window on the same weekday (%(starts)s–%(ends)s): "
    "change or delete that one first."
)
OVERLAPS_EXCEPTION = N_(
    "This overlaps an existing exception on the same date (%(starts)s–%(ends)s): "
    "change or delete that one first."
)


@dataclass(frozen=True)
class Window:
    """What a new entry declares, before it is stored."""

    kind: EntryKind
    starts: time
    ends: time
    weekday: int | None = None
    on_date: date | None = None
    available: bool = True
    note: str = ""


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def check_window(window: Window) -> None:
    """A window ends after it starts and names its weekday or its date, not both."""
    if window.starts >= window.ends:
        raise ValidationFailed(ENDS_BEFORE_START, fields={"ends": "before_start"})
    if window.kind == EntryKind.WEEKLY:
        if window.weekday is None or not 0 <= window.weekday <= 6:
            raise ValidationFailed(N_("Choose a weekday."), fields={"weekday": "missing"})
        if window.available is False:
            raise ValidationFailed(
                N_(
                    "A weekly window says when the expert is free; record time off as an exception."
                ),
                fields={"available": "weekly"},
            )
    elif window.on_date is None:
        raise ValidationFailed(N_("Choose a date."), fields={"on_date": "missing"})


def overlapping(entries: Sequence[ExpertAvailability], window: Window) -> ExpertAvailability | None:
    """The entry of the same expert ``window`` would overlap, if any: a weekly window on the
    same weekday, or an exception on the same date (free or not: the two would contradict)."""
    for entry in entries:
        if entry.kind != window.kind:
            continue
        if window.kind == EntryKind.WEEKLY and entry.weekday != window.weekday:
            continue
        if window.kind == EntryKind.EXCEPTION and entry.on_date != window.on_date:
            continue
        if entry.starts < window.ends and window.starts < entry.ends:
            return entry
    return None


def _day_state(
    entries: Sequence[ExpertAvailability], day: date, starts: time, ends: time
) -> tuple[FreeState, str]:
    """The state for one local day's part of a span (``ends`` may be ``time.max``)."""
    dated = [e for e in entries if e.kind == EntryKind.EXCEPTION and e.on_date == day]
    if dated:
        if any(not e.available and e.starts < ends and starts < e.ends for e in dated):
            return FreeState.NOT_FREE, NOT_FREE_EXCEPTION
        if any(e.available and e.starts <= starts and ends <= e.ends for e in dated):
            return FreeState.FREE, FREE_BY_EXCEPTION
        return FreeState.NOT_FREE, NOT_FREE_OUTSIDE_DATE
    weekly = [e for e in entries if e.kind == EntryKind.WEEKLY]
    if any(e.weekday == day.weekday() and e.starts <= starts and ends <= e.ends for e in weekly):
        return FreeState.FREE, FREE_BY_WEEKLY
    if weekly:
        return FreeState.NOT_FREE, NOT_FREE_OUTSIDE_WEEKLY
    # Nothing weekly, and no exception on this date (maybe some on others): nothing said.
    return FreeState.UNDECLARED, UNDECLARED


def availability_at(
    entries: Sequence[ExpertAvailability], local_start: datetime, local_end: datetime
) -> tuple[FreeState, str]:
    """Whether one expert (``entries`` are all theirs) is free from ``local_start`` to
    ``local_end``, naive or aware local wall-clock times, and why.

    A span past midnight is asked day by day: free only if free on every day, not free if
    not free on any.
    """
    if local_end <= local_start:
        raise ValueError("a span ends after it starts")
    states: list[tuple[FreeState, str]] = []
    day = local_start.date()
    while True:
        starts = local_start.time() if day == local_start.date() else time.min
        if day == local_end.date():
            ends = local_end.time()
        else:
            ends = time.max
        if starts < ends:
            states.append(_day_state(entries, day, starts, ends))
        if day >= local_end.date():
            break
        day += timedelta(days=1)
    for state in (FreeState.NOT_FREE, FreeState.UNDECLARED):
        for found in states:
            if found[0] == state:
                return found
    return states[0]


def state_for_session(
    entries: Sequence[ExpertAvailability], starts_at: datetime, ends_at: datetime, tz: ZoneInfo
) -> tuple[FreeState, str]:
    """``availability_at`` for stored (UTC-aware) instants, read in the office's zone."""
    local_start = starts_at.astimezone(tz).replace(tzinfo=None)
    local_end = ends_at.astimezone(tz).replace(tzinfo=None)
    return availability_at(entries, local_start, local_end)


# --- the service ----------------------------------------------------------------------


def _require_manage(actor: Actor) -> None:
    # The same people who keep the pool keep what its members declared.
    service._require_manage(actor)


async def entries_of(
    db: AsyncSession, expert_ids: Sequence[int]
) -> dict[int, list[ExpertAvailability]]:
    """Every entry of these experts, by expert (no role check: for booking's suggestions)."""
    result: dict[int, list[ExpertAvailability]] = {i: [] for i in expert_ids}
    if not expert_ids:
        return result
    query = select(ExpertAvailability).where(col(ExpertAvailability.expert_id).in_(expert_ids))
    for entry in await db.exec(query):
        result.setdefault(entry.expert_id, []).append(entry)
    return result


def _ordered(entries: Sequence[ExpertAvailability]) -> list[ExpertAvailability]:
    return sorted(
        entries,
        key=lambda e: (
            e.kind != EntryKind.WEEKLY,
            e.weekday if e.weekday is not None else 9,
            e.on_date or date.min,
            e.starts,
        ),
    )


async def list_entries(db: AsyncSession, actor: Actor, expert_id: int) -> list[ExpertAvailability]:
    """The expert's weekly windows (Monday first), then the exceptions by date."""
    await service.get_expert(db, actor, expert_id)
    return _ordered((await entries_of(db, [expert_id]))[expert_id])


async def add_entry(
    db: AsyncSession, actor: Actor, expert_id: int, window: Window
) -> ExpertAvailability:
    """Declare a window; one overlapping another of the same expert is refused, unchanged."""
    _require_manage(actor)
    check_window(window)
    await service.hold_expert(db, actor.station_id, expert_id)
    await service.get_expert(db, actor, expert_id)
    current = (await entries_of(db, [expert_id]))[expert_id]
    clash = overlapping(current, window)
    if clash is not None:
        raise ValidationFailed(
            OVERLAPS_WEEKLY if window.kind == EntryKind.WEEKLY else OVERLAPS_EXCEPTION,
            params={"starts": _hhmm(clash.starts), "ends": _hhmm(clash.ends)},
            fields={"starts": "overlap"},
        )
    entry = ExpertAvailability(
        expert_id=expert_id,
        kind=window.kind,
        weekday=window.weekday if window.kind == EntryKind.WEEKLY else None,
        on_date=window.on_date if window.kind == EntryKind.EXCEPTION else None,
        starts=window.starts,
        ends=window.ends,
        available=window.available,
        note=window.note,
        created_by_id=actor.user_id,
    )
    db.add(entry)
    await db.flush()
    record(
        db,
        actor,
        "availability.add",
        object_type="expert",
        object_id=expert_id,
        detail={
            "entry": entry.id,
            "kind": str(window.kind),
            "weekday": entry.weekday,
            "date": entry.on_date.isoformat() if entry.on_date else None,
            "starts": _hhmm(window.starts),
            "ends": _hhmm(window.ends),
            "available": window.available,
        },
    )
    return entry


async def delete_entry(db: AsyncSession, actor: Actor, expert_id: int, entry_id: int) -> None:
    _require_manage(actor)
    await service.get_expert(db, actor, expert_id)
    entry = await db.get(ExpertAvailability, entry_id)
    if entry is None or entry.expert_id != expert_id:
        raise NotFound(N_("No such availability entry."))
    await db.delete(entry)
    record(
        db,
        actor,
        "availability.delete",
        object_type="expert",
        object_id=expert_id,
        detail={"entry": entry_id},
    )
