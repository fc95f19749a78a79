"""The expert pool service: who may search by what, who is free."""

from __future__ import annotations

from datetime import timedelta

from server.auth.sessions import actor_for
from server.db import SessionFactory, transaction
from server.experts import service
from server.experts.schemas import ExpertInput
from server.models import utcnow
from tests.conftest import Seed


async def test_only_those_who_see_phones_may_search_by_them(
    factory: SessionFactory, seed: Seed
) -> None:
    chief = actor_for(seed.users["chief"])
    clerk = actor_for(seed.users["clerk"])
    async with transaction(factory) as db:
        await service.create_expert(
            db,
            chief,
            ExpertInput(name="孙律", kind="lawyer", phone="13811110002"),
        )
    async with transaction(factory) as db:
        by_chief = await service.list_experts(db, chief, q="1110002")
        by_clerk = await service.list_experts(db, clerk, q="1110002")
        by_name = await service.list_experts(db, clerk, q="孙")
    assert [v.expert.name for v in by_chief] == ["孙律"]
    assert by_clerk == []
    assert [v.expert.name for v in by_name] == ["孙律"]


async def test_free_filter_keeps_inactive_experts_out(factory: SessionFactory, seed: Seed) -> None:
    chief = actor_for(seed.users["chief"])
    async with transaction(factory) as db:
        await service.create_expert(
            db,
            chief,
            ExpertInput(name="停用专家", kind="other", phone="13811110009", active=False),
        )
    start = utcnow() + timedelta(days=1)
    async with transaction(factory) as db:
        free = await service.list_experts(
            db, chief, free_from=start, free_until=start + timedelta(hours=1)
        )
        everyone = await service.list_experts(db, chief)
    assert free == []
    assert [v.expert.name for v in everyone] == ["停用专家"]
