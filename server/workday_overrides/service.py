"""The station's working-day overrides: listed by year, added, deleted, imported; audited.

Administrators change them (station configuration, like offices and accounts);
chiefs may read them, since their deadlines are reckoned with them. A day is
unique per station (the table's constraint): a second entry for it is refused
with a message, and two administrators adding the same day at once find the
constraint decide, one of them told.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.audit import record
from server.auth import roles
from server.auth.roles import Actor
from server.errors import N_, Conflict, NotAllowed, NotFound, ValidationFailed
from server.models.followup import WorkdayOverride
from server.workday_overrides.rules import LineProblem, parse_import, too_far
from server.workday_overrides.schemas import OverrideInput

NOT_ALLOWED = N_("Only administrators change the station's working days.")
ALREADY_SET = N_("%(day)s is already set; delete it first to change it.")


class ImportRefused(ValidationFailed):
    """A pasted schedule with lines that cannot be taken: nothing of it was kept."""

    def __init__(self, problems: tuple[LineProblem, ...]) -> None:
        super().__init__(
            N_("Nothing was imported: %(count)d lines need correcting."),
            params={"count": len(problems)},
            fields={"lines": "invalid"},
        )
        self.problems = problems


def _require_manager(actor: Actor) -> None:
    if not roles.can_manage_workdays(actor):
        raise NotAllowed(NOT_ALLOWED)


def _require_reader(actor: Actor) -> None:
    if not roles.can_read_workdays(actor):
        raise NotAllowed(N_("Your role does not allow this."))


async def days_of_year(db: AsyncSession, actor: Actor, year: int) -> list[WorkdayOverride]:
    _require_reader(actor)
    rows = await db.exec(
        select(WorkdayOverride)
        .where(
            WorkdayOverride.station_id == actor.station_id,
            col(WorkdayOverride.day) >= date(year, 1, 1),
            col(WorkdayOverride.day) <= date(year, 12, 31),
        )
        .order_by(col(WorkdayOverride.day))
    )
    return list(rows)


async def days_by_year(db: AsyncSession, actor: Actor) -> dict[int, int]:
    """How many days the station has set, by year (a station keeps tens a year)."""
    _require_reader(actor)
    return dict(Counter(day.year for day in await _set_days(db, actor.station_id)))


async def _set_days(db: AsyncSession, station_id: int) -> set[date]:
    rows = await db.exec(select(WorkdayOverride).where(WorkdayOverride.station_id == station_id))
    return {row.day for row in rows}


async def _flush_unique(db: AsyncSession, day: date) -> None:
    """Flush; the unique (station, day) constraint turns a race into a clear refusal."""
    try:
        await db.flush()
    except IntegrityError as exc:
        raise Conflict(
            ALREADY_SET, params={"day": day.isoformat()}, fields={"day": "taken"}
        ) from exc


async def add(
    db: AsyncSession, actor: Actor, data: OverrideInput, *, today: date
) -> WorkdayOverride:
    _require_manager(actor)
    if too_far(data.day, today):
        raise ValidationFailed(
            N_("Only days within two years of today can be set."), fields={"day": "too_far"}
        )
    if data.day in await _set_days(db, actor.station_id):
        raise Conflict(ALREADY_SET, params={"day": data.day.isoformat()}, fields={"day": "taken"})
    row = WorkdayOverride(
        station_id=actor.station_id,
        day=data.day,
        workday=data.workday,
        name=data.name,
        created_by_id=actor.user_id,
    )
    db.add(row)
    await _flush_unique(db, data.day)
    record(
        db,
        actor,
        "workday.add",
        object_type="workday_override",
        object_id=row.id,
        detail={"day": data.day.isoformat(), "day_kind": data.kind, "day_name": data.name},
    )
    return row


async def delete(db: AsyncSession, actor: Actor, override_id: int) -> WorkdayOverride:
    _require_manager(actor)
    row = await db.get(WorkdayOverride, override_id)
    if row is None or row.station_id != actor.station_id:
        raise NotFound(N_("That day is not set (any more)."))
    await db.delete(row)
    record(
        db,
        actor,
        "workday.delete",
        object_type="workday_override",
        object_id=override_id,
        detail={
            "day": row.day.isoformat(),
            "day_kind": "workday" if row.workday else "holiday",
            "day_name": row.name,
        },
    )
    return row


async def import_days(db: AsyncSession, actor: Actor, text: str, *, today: date) -> int:
    """Every line, or none of them: a schedule half imported would be wrong without a word."""
    _require_manager(actor)
    parsed = parse_import(text, today, await _set_days(db, actor.station_id))
    if parsed.problems:
        raise ImportRefused(parsed.problems)
    if not parsed.days:
        raise ValidationFailed(N_("Paste at least one line."), fields={"lines": "missing"})
    for entry in parsed.days:
        db.add(
            WorkdayOverride(
                station_id=actor.station_id,
                day=entry.day,
                workday=entry.workday,
                name=entry.name,
                created_by_id=actor.user_id,
            )
        )
    await _flush_unique(db, parsed.days[0].day)
    days = [entry.day for entry in parsed.days]
    record(
        db,
        actor,
        "workday.import",
        object_type="station",
        object_id=actor.station_id,
        detail={
            "count": len(days),
            "first": min(days).isoformat(),
            "last": max(days).isoformat(),
        },
    )
    return len(days)
