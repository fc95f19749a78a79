"""Booking's expert suggestions follow the rota and declared availability, and say why;
a declared relation to a party is a warning like a shared name or phone."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import pytest

from server.db import transaction
from server.disputes import service as disputes
from server.experts import availability, relations, rota
from server.experts.availability import EntryKind, Window
from server.experts.relations import RelationInput, RelationKind
from server.models import MediationSession
from server.sessions import conflicts, service
from server.sessions.conflicts import NeedsConfirmation, Reason
from tests.disputes.conftest import Env
from tests.sessions.helpers import booking, local, new_dispute, new_expert

RELATION_WARNING = "%(name)s declared a relation (%(relation)s) to %(party)s."


async def window(env: Env, expert_id: int, entry: Window) -> None:
    async with transaction(env.factory) as db:
        await availability.add_entry(db, env.actor("officer"), expert_id, entry)


async def suggestions(env: Env, dispute_id: int, starts: datetime) -> conflicts.ExpertChoices:
    starts_at = starts.replace(tzinfo=env.tz)
    async with transaction(env.factory) as db:
        dispute = await disputes.get_dispute(db, env.actor("officer"), dispute_id)
        parties = await disputes.parties_of(db, dispute_id)
        return await conflicts.expert_choices(
            db,
            env.actor("officer"),
            dispute,
            (starts_at, starts_at + timedelta(hours=1)),
            env.tz,
            parties=parties,
        )


async def book(env: Env, dispute_id: int, party_ids: list[int], **kw: Any) -> service.Booking:
    presiding = kw.pop("presiding", env.seed.uid("officer"))
    async with transaction(env.factory) as db:
        return await service.book(
            db,
            env.actor("officer"),
            dispute_id,
            booking(presiding, party_ids, **kw),
            vault=env.vault,
            tz=env.tz,
        )


@pytest.mark.around_local_midnight
async def test_on_duty_then_free_then_undeclared_and_why_the_others_are_not(env: Env) -> None:
    officer = env.actor("officer")
    office_a, office_b = env.seed.office_a, env.seed.office_b
    starts = local(3, 10)
    day, weekday = starts.date(), starts.weekday()
    add = new_expert
    undeclared = await add(env.factory, officer, "丁调解员", "13600000004", kind="people_mediator")
    free_b = await add(env.factory, officer, "乙律师", "13600000002", office_ids=[office_b])
    free_a = await add(env.factory, officer, "丙律师", "13600000003", office_ids=[office_a])
    on_duty = await add(env.factory, officer, "甲律师", "13600000001")
    off = await add(env.factory, officer, "戊律师", "13600000005")
    busy = await add(env.factory, officer, "己律师", "13600000006")
    debt_only = await add(env.factory, officer, "庚律师", "13600000007", specialties=["debt"])
    kin = await add(env.factory, officer, "辛律师", "13600000008")

    all_day = Window(EntryKind.WEEKLY, time(8), time(18), weekday=weekday)
    for expert_id in (free_a, free_b, busy):
        await window(env, expert_id, all_day)
    await window(
        env, off, Window(EntryKind.EXCEPTION, time(9), time(12), on_date=day, available=False)
    )
    async with transaction(env.factory) as db:
        await rota.add_slots(
            db,
            officer,
            rota.SlotInput(office_a, day, time(9), time(12), "lawyer", on_duty),
        )
        await relations.add_relation(
            db, officer, kin, RelationInput(RelationKind.KIN, person_name="张国强")
        )
    other_id, other_parties = await new_dispute(
        env.factory, officer, vault=env.vault, tz=env.tz, title="漏水纠纷"
    )
    await book(
        env,
        other_id,
        other_parties,
        expert_ids=[busy],
        starts_at=starts,
        presiding=env.seed.uid("chief"),
    )
    dispute_id, _ = await new_dispute(env.factory, officer, vault=env.vault, tz=env.tz)

    choices = await suggestions(env, dispute_id, starts)

    assert [(c.view.expert.id, c.reason) for c in choices.suggested] == [
        (on_duty, Reason.ON_DUTY),
        (free_a, Reason.FREE),  # serves the dispute's office: before 乙律师
        (free_b, Reason.FREE),
        (undeclared, Reason.UNDECLARED),
    ]
    others = {c.view.expert.id: c.reasons for c in choices.others}
    assert others == {
        off: (Reason.NOT_FREE,),
        busy: (Reason.BUSY,),
        debt_only: (Reason.SPECIALTY,),
        kin: (Reason.RELATION,),
    }
    not_free = next(c for c in choices.others if c.view.expert.id == off)
    assert not_free.detail == availability.NOT_FREE_EXCEPTION

    # Out of the duty slot's hours, the lawyer on duty is just undeclared.
    later = await suggestions(env, dispute_id, local(3, 14))
    assert (on_duty, Reason.UNDECLARED) in [(c.view.expert.id, c.reason) for c in later.suggested]

    async with transaction(env.factory) as db:
        dispute = await disputes.get_dispute(db, officer, dispute_id)
        top = await conflicts.suggested_experts(
            db, officer, dispute, *(await _span(env, starts)), env.tz
        )
    assert [c.view.expert.id for c in top] == [on_duty, free_a, free_b, undeclared]


async def _span(env: Env, starts: datetime) -> tuple[datetime, datetime]:
    aware = starts.replace(tzinfo=env.tz)
    return aware, aware + timedelta(hours=1)


async def test_a_declared_relation_to_a_party_needs_confirmation(env: Env) -> None:
    officer = env.actor("officer")
    expert_id = await new_expert(env.factory, officer, "辛律师", "13600000008")
    async with transaction(env.factory) as db:
        await relations.add_relation(
            db,
            officer,
            expert_id,
            RelationInput(
                RelationKind.PRIOR_COUNSEL, person_name="某某", person_phone="139-0013-9002"
            ),
        )
    dispute_id, party_ids = await new_dispute(env.factory, officer, vault=env.vault, tz=env.tz)
    with pytest.raises(NeedsConfirmation) as caught:
        await book(env, dispute_id, party_ids, expert_ids=[expert_id])
    [warning] = caught.value.warnings
    assert warning.message == RELATION_WARNING
    assert warning.params == {"name": "辛律师", "relation": "Prior counsel", "party": "张国强"}
    async with env.factory() as db:
        assert await db.get(MediationSession, 1) is None

    done = await book(env, dispute_id, party_ids, expert_ids=[expert_id], confirm_conflicts=True)
    assert [w.message for w in done.warnings] == [RELATION_WARNING]


async def test_an_organisation_named_in_the_dispute_is_warned_on(env: Env) -> None:
    officer = env.actor("officer")
    expert_id = await new_expert(
        env.factory, officer, "壬律师", "13600000009", specialties=["labour"]
    )
    async with transaction(env.factory) as db:
        await relations.add_relation(
            db,
            officer,
            expert_id,
            RelationInput(RelationKind.EMPLOYER, organisation="宏达建筑公司"),
        )
    dispute_id, _ = await new_dispute(
        env.factory,
        officer,
        vault=env.vault,
        tz=env.tz,
        category="labour",
        title="宏达建筑公司欠薪纠纷",
    )
    starts = local(2, 10).replace(tzinfo=env.tz)
    async with transaction(env.factory) as db:
        warnings = await conflicts.planned_conflicts(
            db,
            officer,
            dispute_id,
            starts_at=starts,
            ends_at=starts + timedelta(hours=1),
            presiding_officer_id=None,
            expert_ids=[expert_id],
        )
    assert [(w.message, w.params["party"]) for w in warnings] == [
        (RELATION_WARNING, "宏达建筑公司")
    ]
