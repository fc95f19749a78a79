"""The demo station's declarations: weekly windows, a rota at the first beat office, and
one declared relation, so ``make run`` shows booking's order and its reasons at once.

The rota starts in the current local week and runs for eight weeks; the demo station is
created once, so a demo left running for months shows an empty rota again, as a real
office whose rota nobody kept would.
"""

from __future__ import annotations

from datetime import time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.auth.roles import Actor
from server.experts import availability, relations, rota
from server.experts.availability import EntryKind, Window
from server.experts.relations import RelationInput, RelationKind
from server.local_time import local_today
from server.models import Expert

#: (expert, weekdays, from, until): when the demo's experts say they can serve.
WEEKLY: list[tuple[str, tuple[int, ...], time, time]] = [
    ("孙律", (0, 1, 2, 3, 4), time(14), time(18)),
    ("吴建华", (0, 1, 2, 3, 4), time(9), time(17)),
    ("周正", (1, 3), time(9), time(12)),
    ("冯秀英", (5,), time(9), time(12)),
]
#: (expert, weekday, from, until): the first office's 轮流坐班.
ROTA: list[tuple[str, int, time, time]] = [
    ("孙律", 0, time(9), time(12)),
    ("孙律", 2, time(9), time(12)),
    ("蒋文", 1, time(14), time(17)),
    ("蒋文", 3, time(14), time(17)),
    ("卫国", 4, time(9), time(17)),
]
ROTA_WEEKS = 8
#: 陈德厚 is the respondent's uncle in the dog dispute: booking warns if he is chosen.
RELATION = ("陈德厚", RelationInput(RelationKind.KIN, person_name="张国强", note="舅舅"))


async def seed_declarations(db: AsyncSession, chief: Actor, office_id: int, tz: ZoneInfo) -> None:
    """Declare the demo's windows, rota and relation (through the services, audited)."""
    pool = await db.exec(select(Expert).where(Expert.station_id == chief.station_id))
    ids = {e.name: e.id for e in pool if e.id is not None}
    for name, weekdays, starts, ends in WEEKLY:
        for weekday in weekdays:
            window = Window(EntryKind.WEEKLY, starts, ends, weekday=weekday)
            await availability.add_entry(db, chief, ids[name], window)
    monday = rota.week_of(local_today(tz))
    for name, weekday, starts, ends in ROTA:
        expert = await db.get(Expert, ids[name])
        assert expert is not None
        await rota.add_slots(
            db,
            chief,
            rota.SlotInput(
                office_id=office_id,
                on_date=monday + timedelta(days=weekday),
                starts=starts,
                ends=ends,
                expert_kind=expert.kind,
                expert_id=ids[name],
                repeat_weeks=ROTA_WEEKS,
            ),
        )
    name, data = RELATION
    await relations.add_relation(db, chief, ids[name], data)
