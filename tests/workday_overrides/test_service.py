"""The station calendar's service on a real database: two admins adding one day at once."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from server.auth.roles import Actor, Role
from server.db import SessionFactory, transaction
from server.errors import Conflict
from server.models.followup import WorkdayOverride
from server.workday_overrides import service
from server.workday_overrides.schemas import OverrideInput
from tests.conftest import Seed

TODAY = date(2026, 12, 7)
DAY = OverrideInput(day=date(2027, 1, 1), kind="holiday", name="元旦")


def admin(seed: Seed) -> Actor:
    return Actor(seed.uid("admin"), seed.station_id, None, Role.ADMIN, "测试admin")


async def test_two_admins_adding_one_day_at_once_one_wins_the_other_is_told(
    factory: SessionFactory, seed: Seed
) -> None:
    actor = admin(seed)
    async with factory() as first, factory() as second:
        await first.begin()
        await service.add(first, actor, DAY, today=TODAY)  # written, not yet committed
        # The second looks before the first commits, so its own check finds nothing:
        # the table's unique (station, day) decides, and says so as a conflict.
        late = asyncio.create_task(service.add(second, actor, DAY, today=TODAY))
        await asyncio.sleep(0.2)
        await first.commit()
        with pytest.raises(Conflict) as refused:
            await late
        assert isinstance(refused.value.__cause__, IntegrityError)  # the constraint, not the check
        await second.rollback()
    async with transaction(factory) as db:
        rows = list(await db.exec(select(WorkdayOverride)))
    assert [(r.day, r.name) for r in rows] == [(DAY.day, "元旦")]


async def test_a_day_already_set_is_refused_by_the_check(
    factory: SessionFactory, seed: Seed
) -> None:
    async with transaction(factory) as db:
        await service.add(db, admin(seed), DAY, today=TODAY)
    async with transaction(factory) as db:
        with pytest.raises(Conflict) as refused:
            await service.add(db, admin(seed), DAY, today=TODAY)
    assert refused.value.__cause__ is None
    assert refused.value.params == {"day": "2027-01-01"}
