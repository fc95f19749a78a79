"""The duty rota (轮流坐班): which expert sits at which beat office, and when.

The reports describe public-interest lawyers, judicial office staff and people's
mediators taking turns at the beat office. Each turn is a ``DutySlot``: one date and
local hours, one office, the kind of expert the turn is for and the expert taking it.
Booking puts an expert on duty at the dispute's office during the whole session first.

Rules, each refused with a specific error and nothing stored: the kind must be one that
sits on the rota, the expert must be of that kind, active and of the station; the office
must be the station's (an officer's own); a slot must end after it starts and must not
overlap another slot of the same expert (at any office: nobody sits in two places). A
slot repeated weekly is stored for every week or for none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.audit import record
from server.auth import roles
from server.auth.roles import Actor
from server.errors import N_, NotAllowed, NotFound, ValidationFailed
from server.experts import service
from server.experts.kinds import ExpertKind
from server.models import BeatOffice, DutySlot, Expert

#: The kinds that take turns at an office.
ROTA_KINDS: tuple[ExpertKind, ...] = (
    ExpertKind.LAWYER,
    ExpertKind.JUDICIAL_OFFICE,
    ExpertKind.PEOPLE_MEDIATOR,
)
#: How many weeks one slot may be repeated for at once (a quarter).
MAX_REPEAT_WEEKS = 13


class WrongExpertKind(ValidationFailed):
    """The expert is not of the kind the slot is for."""


class SlotOverlaps(ValidationFailed):
    """The expert already has a slot at that time."""


@dataclass(frozen=True)
class SlotInput:
    """One turn to add, optionally repeated on the same weekday for ``repeat_weeks`` weeks."""

    office_id: int
    on_date: date
    starts: time
    ends: time
    expert_kind: str
    expert_id: int
    note: str = ""
    repeat_weeks: int = 1


def week_of(day: date) -> date:
    """The Monday of ``day``'s week: the rota is read a week at a time."""
    return day - timedelta(days=day.weekday())


def on_duty(
    slots: Sequence[DutySlot], office_id: int, local_start: datetime, local_end: datetime
) -> bool:
    """Whether one of ``slots`` (one expert's) covers the whole local span at ``office_id``."""
    if local_start.date() != local_end.date():
        return False
    return any(
        s.office_id == office_id
        and s.on_date == local_start.date()
        and s.starts <= local_start.time()
        and local_end.time() <= s.ends
        for s in slots
    )


def clash(slots: Sequence[DutySlot], on_date: date, starts: time, ends: time) -> DutySlot | None:
    """The slot among ``slots`` (one expert's) overlapping that date and hours, if any."""
    for slot in slots:
        if slot.on_date == on_date and slot.starts < ends and starts < slot.ends:
            return slot
    return None


async def _office(db: AsyncSession, actor: Actor, office_id: int, *, manage: bool) -> BeatOffice:
    office = await db.get(BeatOffice, office_id)
    if office is None or office.station_id != actor.station_id:
        raise ValidationFailed(
            N_("Choose one of your station's beat offices."), fields={"office_id": "unknown"}
        )
    allowed = (
        roles.can_manage_rota(actor, office_id) if manage else roles.can_read_rota(actor, office_id)
    )
    if not allowed:
        raise NotAllowed(N_("Your role does not allow this."))
    return office


async def slots_between(
    db: AsyncSession, station_id: int, first: date, last: date, *, office_id: int | None = None
) -> list[DutySlot]:
    """The station's slots from ``first`` to ``last`` inclusive (no role check)."""
    query = select(DutySlot).where(
        DutySlot.station_id == station_id,
        col(DutySlot.on_date) >= first,
        col(DutySlot.on_date) <= last,
    )
    if office_id is not None:
        query = query.where(DutySlot.office_id == office_id)
    return list(
        await db.exec(query.order_by(col(DutySlot.on_date), col(DutySlot.starts), col(DutySlot.id)))
    )


async def duty_of(
    db: AsyncSession,
    station_id: int,
    office_id: int,
    starts_at: datetime,
    ends_at: datetime,
    tz: ZoneInfo,
) -> set[int]:
    """Experts on duty at ``office_id`` during the whole session (stored UTC instants)."""
    local_start = starts_at.astimezone(tz).replace(tzinfo=None)
    local_end = ends_at.astimezone(tz).replace(tzinfo=None)
    slots = await slots_between(
        db, station_id, local_start.date(), local_start.date(), office_id=office_id
    )
    by_expert: dict[int, list[DutySlot]] = {}
    for slot in slots:
        by_expert.setdefault(slot.expert_id, []).append(slot)
    return {e for e, own in by_expert.items() if on_duty(own, office_id, local_start, local_end)}


async def list_week(db: AsyncSession, actor: Actor, office_id: int, week: date) -> list[DutySlot]:
    """An office's slots of the week starting on the Monday of ``week``."""
    await _office(db, actor, office_id, manage=False)
    monday = week_of(week)
    return await slots_between(
        db, actor.station_id, monday, monday + timedelta(days=6), office_id=office_id
    )


async def _expert(db: AsyncSession, actor: Actor, data: SlotInput) -> Expert:
    if data.expert_kind not in ROTA_KINDS:
        raise ValidationFailed(
            N_("The rota is for lawyers, judicial office staff and people's mediators."),
            fields={"expert_kind": "not_on_rota"},
        )
    expert = await db.get(Expert, data.expert_id)
    if expert is None or expert.station_id != actor.station_id:
        raise ValidationFailed(
            N_("Choose an expert from the pool."), fields={"expert_id": "unknown"}
        )
    if not expert.active:
        raise ValidationFailed(
            N_("%(name)s is inactive and cannot be put on the rota."),
            params={"name": expert.name},
            fields={"expert_id": "inactive"},
        )
    if expert.kind != data.expert_kind:
        raise WrongExpertKind(
            N_("%(name)s is not of the kind this slot is for: choose an expert of that kind."),
            params={"name": expert.name},
            fields={"expert_id": "wrong_kind"},
        )
    return expert


async def add_slots(db: AsyncSession, actor: Actor, data: SlotInput) -> list[DutySlot]:
    """Add the slot (and its weekly repeats): all of them, or none and a refusal."""
    await service.hold_expert(db, actor.station_id, data.expert_id)
    await _office(db, actor, data.office_id, manage=True)
    if data.starts >= data.ends:
        raise ValidationFailed(
            N_("The end must be later than the start."), fields={"ends": "before_start"}
        )
    if not 1 <= data.repeat_weeks <= MAX_REPEAT_WEEKS:
        raise ValidationFailed(
            N_("Repeat for 1 to %(max)s weeks."),
            params={"max": MAX_REPEAT_WEEKS},
            fields={"repeat_weeks": "range"},
        )
    expert = await _expert(db, actor, data)
    dates = [data.on_date + timedelta(weeks=n) for n in range(data.repeat_weeks)]
    existing = list(
        await db.exec(
            select(DutySlot).where(
                DutySlot.expert_id == data.expert_id,
                col(DutySlot.on_date) >= dates[0],
                col(DutySlot.on_date) <= dates[-1],
            )
        )
    )
    for day in dates:
        found = clash(existing, day, data.starts, data.ends)
        if found is not None:
            raise SlotOverlaps(
                N_(
                    "%(name)s already has a duty slot on %(date)s (%(starts)s–%(ends)s) "
                    "that overlaps this one."
                ),
                params={
                    "name": expert.name,
                    "date": found.on_date.isoformat(),
                    "starts": found.starts.strftime("%H:%M"),
                    "ends": found.ends.strftime("%H:%M"),
                },
                fields={"starts": "overlap"},
            )
    added = [
        DutySlot(
            station_id=actor.station_id,
            office_id=data.office_id,
            on_date=day,
            starts=data.starts,
            ends=data.ends,
            expert_kind=data.expert_kind,
            expert_id=data.expert_id,
            note=data.note.strip(),
            created_by_id=actor.user_id,
        )
        for day in dates
    ]
    db.add_all(added)
    await db.flush()
    record(
        db,
        actor,
        "rota.add",
        object_type="beat_office",
        object_id=data.office_id,
        detail={
            "expert": data.expert_id,
            "kind": data.expert_kind,
            "dates": [d.isoformat() for d in dates],
            "starts": data.starts.strftime("%H:%M"),
            "ends": data.ends.strftime("%H:%M"),
        },
    )
    return added


async def delete_slot(db: AsyncSession, actor: Actor, slot_id: int) -> DutySlot:
    slot = await db.get(DutySlot, slot_id)
    if slot is None or slot.station_id != actor.station_id:
        raise NotFound(N_("No such duty slot."))
    await _office(db, actor, slot.office_id, manage=True)
    await db.delete(slot)
    record(
        db,
        actor,
        "rota.delete",
        object_type="beat_office",
        object_id=slot.office_id,
        detail={"slot": slot_id, "expert": slot.expert_id, "date": slot.on_date.isoformat()},
    )
    return slot
