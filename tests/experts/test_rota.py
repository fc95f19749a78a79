"""The duty rota: who may keep it, the kinds, the overlaps, weekly repeats all or nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from server.auth.sessions import actor_for
from server.db import SessionFactory, transaction
from server.errors import NotAllowed, NotFound, ValidationFailed
from server.experts import rota, service
from server.experts.rota import SlotInput, SlotOverlaps, WrongExpertKind
from server.experts.schemas import ExpertInput
from server.models import DutySlot
from tests.conftest import Seed

MONDAY = date(2026, 12, 7)
TZ = ZoneInfo("Asia/Shanghai")


async def new_expert(
    factory: SessionFactory,
    seed: Seed,
    kind: str = "lawyer",
    phone: str = "13600136000",
    active: bool = True,
) -> int:
    async with transaction(factory) as db:
        expert = await service.create_expert(
            db,
            actor_for(seed.users["chief"]),
            ExpertInput(name=f"专家{phone[-2:]}", kind=kind, phone=phone, active=active),
        )
    assert expert.id is not None
    return expert.id


def slot(seed: Seed, expert_id: int, **overrides: object) -> SlotInput:
    fields: dict[str, object] = {
        "office_id": seed.office_a,
        "on_date": MONDAY,
        "starts": time(9),
        "ends": time(12),
        "expert_kind": "lawyer",
        "expert_id": expert_id,
    }
    fields.update(overrides)
    return SlotInput(**fields)  # type: ignore[arg-type]


async def slots(factory: SessionFactory) -> list[DutySlot]:
    async with transaction(factory) as db:
        return list(await db.exec(select(DutySlot)))


async def test_a_slot_for_an_expert_of_the_wrong_kind_is_refused(
    factory: SessionFactory, seed: Seed
) -> None:
    mediator = await new_expert(factory, seed, kind="people_mediator")
    with pytest.raises(WrongExpertKind) as caught:
        async with transaction(factory) as db:
            await rota.add_slots(
                db, actor_for(seed.users["officer"]), slot(seed, mediator, expert_kind="lawyer")
            )
    assert caught.value.fields == {"expert_id": "wrong_kind"}
    assert caught.value.params == {"name": "专家00"}
    assert await slots(factory) == []


async def test_only_rota_kinds_take_turns(factory: SessionFactory, seed: Seed) -> None:
    cadre = await new_expert(factory, seed, kind="community_cadre")
    with pytest.raises(ValidationFailed) as caught:
        async with transaction(factory) as db:
            await rota.add_slots(
                db, actor_for(seed.users["chief"]), slot(seed, cadre, expert_kind="community_cadre")
            )
    assert caught.value.fields == {"expert_kind": "not_on_rota"}


async def test_an_inactive_expert_cannot_be_put_on_duty(
    factory: SessionFactory, seed: Seed
) -> None:
    retired = await new_expert(factory, seed, active=False)
    with pytest.raises(ValidationFailed) as caught:
        async with transaction(factory) as db:
            await rota.add_slots(db, actor_for(seed.users["chief"]), slot(seed, retired))
    assert caught.value.fields == {"expert_id": "inactive"}


async def test_a_slot_ends_after_it_starts(factory: SessionFactory, seed: Seed) -> None:
    lawyer = await new_expert(factory, seed)
    with pytest.raises(ValidationFailed) as caught:
        async with transaction(factory) as db:
            await rota.add_slots(
                db, actor_for(seed.users["chief"]), slot(seed, lawyer, ends=time(9))
            )
    assert caught.value.fields == {"ends": "before_start"}


async def test_nobody_sits_in_two_places_and_repeats_are_all_or_nothing(
    factory: SessionFactory, seed: Seed
) -> None:
    lawyer = await new_expert(factory, seed)
    chief = actor_for(seed.users["chief"])
    # The third Monday is already taken at the other office.
    async with transaction(factory) as db:
        await rota.add_slots(
            db,
            chief,
            slot(
                seed,
                lawyer,
                office_id=seed.office_b,
                on_date=date(2026, 12, 21),
                starts=time(11),
                ends=time(13),
            ),
        )
    with pytest.raises(SlotOverlaps) as caught:
        async with transaction(factory) as db:
            await rota.add_slots(db, chief, slot(seed, lawyer, repeat_weeks=4))
    assert caught.value.params["date"] == "2026-12-21"
    assert len(await slots(factory)) == 1
    # Touching slots are fine; four weeks are stored together.
    async with transaction(factory) as db:
        added = await rota.add_slots(
            db, chief, slot(seed, lawyer, starts=time(8), ends=time(11), repeat_weeks=4)
        )
    assert [s.on_date.isoformat() for s in added] == [
        "2026-12-07",
        "2026-12-14",
        "2026-12-21",
        "2026-12-28",
    ]


async def test_office_roles_keep_their_own_office_only(factory: SessionFactory, seed: Seed) -> None:
    lawyer = await new_expert(factory, seed)
    officer = actor_for(seed.users["officer"])
    with pytest.raises(NotAllowed):
        async with transaction(factory) as db:
            await rota.add_slots(db, officer, slot(seed, lawyer, office_id=seed.office_b))
    for username in ("clerk", "auxiliary"):
        with pytest.raises(NotAllowed):
            async with transaction(factory) as db:
                await rota.add_slots(db, actor_for(seed.users[username]), slot(seed, lawyer))
    # Another station's office is not one of ours at all.
    with pytest.raises(ValidationFailed) as caught:
        async with transaction(factory) as db:
            other_office = seed.users["officer_c"].office_id
            await rota.add_slots(
                db, actor_for(seed.users["chief"]), slot(seed, lawyer, office_id=other_office)
            )
    assert caught.value.fields == {"office_id": "unknown"}
    async with transaction(factory) as db:
        [added] = await rota.add_slots(db, officer, slot(seed, lawyer))
    assert added.id is not None
    # The clerk reads the week; the other office's officer neither reads nor deletes it.
    async with transaction(factory) as db:
        week = await rota.list_week(
            db, actor_for(seed.users["clerk"]), seed.office_a, date(2026, 12, 10)
        )
    assert [s.id for s in week] == [added.id]
    with pytest.raises(NotAllowed):
        async with transaction(factory) as db:
            await rota.list_week(db, actor_for(seed.users["officer_b"]), seed.office_a, MONDAY)
    with pytest.raises(NotAllowed):
        async with transaction(factory) as db:
            await rota.delete_slot(db, actor_for(seed.users["officer_b"]), added.id)
    with pytest.raises(NotFound):
        async with transaction(factory) as db:
            await rota.delete_slot(db, actor_for(seed.users["outsider"]), added.id)
    async with transaction(factory) as db:
        await rota.delete_slot(db, officer, added.id)
    assert await slots(factory) == []


async def test_on_duty_means_the_whole_session_in_local_time(
    factory: SessionFactory, seed: Seed
) -> None:
    lawyer = await new_expert(factory, seed)
    async with transaction(factory) as db:
        await rota.add_slots(db, actor_for(seed.users["chief"]), slot(seed, lawyer))
    # 09:30-10:30 in Shanghai is 01:30-02:30 UTC.
    inside = (datetime(2026, 12, 7, 1, 30, tzinfo=UTC), datetime(2026, 12, 7, 2, 30, tzinfo=UTC))
    past_end = (datetime(2026, 12, 7, 3, 30, tzinfo=UTC), datetime(2026, 12, 7, 4, 30, tzinfo=UTC))
    async with transaction(factory) as db:
        assert await rota.duty_of(db, seed.station_id, seed.office_a, *inside, TZ) == {lawyer}
        assert await rota.duty_of(db, seed.station_id, seed.office_a, *past_end, TZ) == set()
        assert await rota.duty_of(db, seed.station_id, seed.office_b, *inside, TZ) == set()
