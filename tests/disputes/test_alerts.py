"""预警 through the real services: raised at registration and at triage, never twice, seen
by the right office, acknowledged once by someone responsible."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest
from sqlmodel import col, select

from server.db import transaction
from server.disputes import alerts, service
from server.disputes.lifecycle import RiskLevel, Route, Status
from server.disputes.schemas import TriageInput
from server.errors import Conflict, NotAllowed, NotFound
from server.models import AuditEvent, Dispute, DisputeEvent, RiskAlert
from tests.disputes.conftest import Env
from tests.disputes.helpers import dispute_input, resident_id, years_ago

# --- helpers --------------------------------------------------------------


async def register(env: Env, username: str = "officer", **overrides: Any) -> Dispute:
    async with transaction(env.factory) as db:
        return await service.register(
            db, env.actor(username), dispute_input(**overrides), vault=env.vault, tz=env.tz
        )


async def triage(
    env: Env,
    dispute_id: int,
    risk: str,
    *,
    by: str = "chief",
    assignee: str = "chief",
    criminal: bool = False,
) -> Dispute:
    data = TriageInput.model_validate(
        {
            "risk_level": risk,
            "criminal": criminal,
            "assignee_id": env.seed.uid(assignee),
            "reason": "研判",
        }
    )
    async with transaction(env.factory) as db:
        return await service.triage(db, env.actor(by), dispute_id, data)


async def alerts_of(env: Env, dispute_id: int) -> list[RiskAlert]:
    async with transaction(env.factory) as db:
        rows = await db.exec(
            select(RiskAlert).where(RiskAlert.dispute_id == dispute_id).order_by(col(RiskAlert.id))
        )
        return list(rows)


async def kinds(env: Env, dispute_id: int) -> list[str]:
    async with transaction(env.factory) as db:
        rows = await db.exec(
            select(DisputeEvent)
            .where(DisputeEvent.dispute_id == dispute_id)
            .order_by(col(DisputeEvent.id))
        )
        return [e.kind for e in rows]


async def audit_actions(env: Env, prefix: str) -> list[str]:
    async with transaction(env.factory) as db:
        rows = await db.exec(select(AuditEvent).where(col(AuditEvent.action).startswith(prefix)))
        return [e.action for e in rows]


async def open_for(env: Env, username: str) -> list[int]:
    async with transaction(env.factory) as db:
        return [v.dispute.id or 0 for v in await alerts.open_alerts(db, env.actor(username))]


async def acknowledge(env: Env, alert_id: int, username: str = "officer") -> RiskAlert:
    async with transaction(env.factory) as db:
        return await alerts.acknowledge(db, env.actor(username), alert_id)


def did(dispute: Dispute) -> int:
    assert dispute.id is not None
    return dispute.id


URGENT = {"trend": "urgent", "title": "工地欠薪聚集", "category": "labour"}

# --- raised at registration ---------------------------------------------------


async def test_an_urgent_registration_alerts_at_once_without_triaging(env: Env) -> None:
    dispute = await register(env, **URGENT)
    (alert,) = await alerts_of(env, did(dispute))
    assert (alert.risk_level, alert.route, alert.raised_on) == (
        "high",
        "deputy_chief",
        "registration",
    )
    assert alert.reasons == "urgent"
    assert (alert.office_id, alert.station_id) == (env.seed.office_a, env.seed.station_id)
    assert alert.raised_by_id == env.seed.uid("officer") and alert.acknowledged_at is None
    # Registration is not triage: the station still grades, routes and names the lead.
    assert dispute.status == Status.REGISTERED
    assert dispute.risk_level is None and dispute.route is None and dispute.assignee_id is None
    assert await kinds(env, did(dispute)) == ["registered", "risk_alert"]
    assert await audit_actions(env, "risk_alert.") == ["risk_alert.raise"]


async def test_the_first_grade_rides_on_the_registration_line(env: Env) -> None:
    calm = await register(env)
    async with transaction(env.factory) as db:
        (event,) = list(
            await db.exec(select(DisputeEvent).where(DisputeEvent.dispute_id == did(calm)))
        )
        (audit,) = list(
            await db.exec(select(AuditEvent).where(AuditEvent.action == "dispute.assess_risk"))
        )
    assert (event.kind, event.note, event.link_kind) == ("registered", "general", "rule")
    assert '"proposed": "general"' in audit.detail and '"graded_by": "rule"' in audit.detail
    assert await alerts_of(env, did(calm)) == []


async def test_the_registrars_high_grade_alerts_and_their_low_grade_does_not(env: Env) -> None:
    chosen = await register(env, initial_risk="high")
    (alert,) = await alerts_of(env, did(chosen))
    assert alert.reasons == "registrar"
    lowered = await register(env, initial_risk="attention", **URGENT)
    assert await alerts_of(env, did(lowered)) == []
    async with transaction(env.factory) as db:
        audit = (
            await db.exec(
                select(AuditEvent)
                .where(AuditEvent.action == "dispute.assess_risk")
                .order_by(col(AuditEvent.id).desc())
            )
        ).first()
    assert audit is not None
    # The rule's proposal is kept beside the registrar's choice.
    assert '"proposed": "high"' in audit.detail and '"risk": "attention"' in audit.detail


@pytest.mark.parametrize("age", [10, 75])
async def test_an_injured_child_or_elder_known_by_id_number_alerts(env: Env, age: int) -> None:
    today = date.today()
    born = years_ago(age, today).replace(day=1)
    party = {"name": "李小明", "role": "applicant", "id_number": resident_id(born)}
    dispute = await register(env, category="minor_injury", parties=[party])
    (alert,) = await alerts_of(env, did(dispute))
    assert alert.reasons == "vulnerable_injured"


async def test_a_refused_registration_leaves_no_alert(env: Env) -> None:
    with pytest.raises(NotAllowed):
        await register(env, office_id=env.seed.office_b, **URGENT)
    async with transaction(env.factory) as db:
        assert list(await db.exec(select(RiskAlert))) == []


async def test_a_failure_later_in_the_transaction_takes_the_alert_with_it(env: Env) -> None:
    class Later(Exception):
        pass

    with pytest.raises(Later):
        async with transaction(env.factory) as db:
            await service.register(
                db, env.actor("officer"), dispute_input(**URGENT), vault=env.vault, tz=env.tz
            )
            raise Later
    async with transaction(env.factory) as db:
        assert list(await db.exec(select(RiskAlert))) == []
        assert list(await db.exec(select(Dispute))) == []


# --- raised at triage, never twice ----------------------------------------------


async def test_triage_graded_high_alerts_once(env: Env) -> None:
    dispute = await register(env)
    await triage(env, did(dispute), "high")
    (alert,) = await alerts_of(env, did(dispute))
    assert (alert.raised_on, alert.route, alert.reasons) == ("triage", Route.DEPUTY_CHIEF, "triage")
    assert alert.raised_by_id == env.seed.uid("chief")
    await triage(env, did(dispute), "high")  # graded high again while open: nothing new
    assert len(await alerts_of(env, did(dispute))) == 1
    await acknowledge(env, alert.id or 0)
    await triage(env, did(dispute), "high")  # confirmed, already acknowledged: nothing new
    assert len(await alerts_of(env, did(dispute))) == 1
    assert (await kinds(env, did(dispute))).count("risk_alert") == 1


async def test_a_dispute_triaged_down_and_up_again_alerts_afresh(env: Env) -> None:
    dispute = await register(env)
    await triage(env, did(dispute), "high")
    (first,) = await alerts_of(env, did(dispute))
    await acknowledge(env, first.id or 0)
    await triage(env, did(dispute), "attention", by="officer", assignee="officer")
    await triage(env, did(dispute), "high")
    first_again, second = await alerts_of(env, did(dispute))
    assert first_again.acknowledged_at is not None and second.acknowledged_at is None
    assert second.raised_on == "triage"


async def test_triage_confirming_the_registration_alert_adds_none(env: Env) -> None:
    dispute = await register(env, **URGENT)
    (alert,) = await alerts_of(env, did(dispute))
    await triage(env, did(dispute), "high")
    assert len(await alerts_of(env, did(dispute))) == 1
    await acknowledge(env, alert.id or 0)
    await triage(env, did(dispute), "high")
    assert len(await alerts_of(env, did(dispute))) == 1


async def test_low_grades_and_crimes_handed_to_the_case_team_do_not_alert(env: Env) -> None:
    dispute = await register(env)
    await triage(env, did(dispute), "attention", by="officer", assignee="officer")
    await triage(env, did(dispute), "general", by="officer", assignee="officer")
    crime = await register(env)
    referred = await triage(env, did(crime), "high", criminal=True)
    assert referred.route == Route.CASE_TEAM
    assert await alerts_of(env, did(dispute)) == [] and await alerts_of(env, did(crime)) == []


def test_should_raise() -> None:
    high = RiskLevel.HIGH
    assert alerts.should_raise(high, has_open=False, has_any=False, previous=None)
    assert not alerts.should_raise(
        RiskLevel.ATTENTION, has_open=False, has_any=False, previous=None
    )
    assert not alerts.should_raise(high, has_open=True, has_any=True, previous="attention")
    assert not alerts.should_raise(high, has_open=False, has_any=True, previous=None)
    assert not alerts.should_raise(high, has_open=False, has_any=True, previous="high")
    assert alerts.should_raise(high, has_open=False, has_any=True, previous="general")


# --- who sees them ----------------------------------------------------------------


async def test_office_staff_see_their_own_office_chiefs_and_clerks_all(env: Env) -> None:
    here = await register(env, "officer", **URGENT)
    there = await register(env, "officer_b", **URGENT)
    assert await open_for(env, "officer") == [did(here)]
    assert await open_for(env, "auxiliary") == [did(here)]
    assert await open_for(env, "officer_b") == [did(there)]
    assert await open_for(env, "chief") == [did(there), did(here)]  # newest first
    assert await open_for(env, "clerk") == [did(there), did(here)]
    assert await open_for(env, "outsider") == []  # another station's chief
    with pytest.raises(NotAllowed):
        await open_for(env, "admin")  # administrators read no case data


async def test_an_acknowledged_alert_leaves_the_band_and_stays_on_the_dispute(env: Env) -> None:
    dispute = await register(env, **URGENT)
    (alert,) = await alerts_of(env, did(dispute))
    done = await acknowledge(env, alert.id or 0, "auxiliary")
    assert done.acknowledged_by_id == env.seed.uid("auxiliary") and done.acknowledged_at
    assert await open_for(env, "chief") == []
    async with transaction(env.factory) as db:
        (view,) = await alerts.alerts_of_dispute(db, env.actor("chief"), dispute)
        with pytest.raises(NotAllowed):
            await alerts.alerts_of_dispute(db, env.actor("officer_b"), dispute)
    assert view.acknowledged_by == "测试auxiliary" and view.office_name == "滨河社区警务室"
    assert (await kinds(env, did(dispute)))[-1] == "risk_alert_acknowledged"
    assert await audit_actions(env, "risk_alert.") == ["risk_alert.raise", "risk_alert.acknowledge"]


# --- acknowledging ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "error"),
    [
        ("officer_b", NotAllowed),
        ("clerk", NotAllowed),
        ("admin", NotAllowed),
        ("outsider", NotFound),
    ],
)
async def test_only_those_responsible_acknowledge(
    env: Env, username: str, error: type[Exception]
) -> None:
    dispute = await register(env, **URGENT)
    (alert,) = await alerts_of(env, did(dispute))
    with pytest.raises(error):
        await acknowledge(env, alert.id or 0, username)
    (after,) = await alerts_of(env, did(dispute))
    assert after.acknowledged_at is None and after.acknowledged_by_id is None


async def test_an_unknown_alert_is_not_found(env: Env) -> None:
    with pytest.raises(NotFound):
        await acknowledge(env, 999)


async def test_a_second_acknowledgement_is_told_who_was_first(env: Env) -> None:
    dispute = await register(env, **URGENT)
    (alert,) = await alerts_of(env, did(dispute))
    await acknowledge(env, alert.id or 0, "officer")
    with pytest.raises(Conflict) as refused:
        await acknowledge(env, alert.id or 0, "chief")
    assert refused.value.params == {"name": "测试officer"}
    (after,) = await alerts_of(env, did(dispute))
    assert after.acknowledged_by_id == env.seed.uid("officer")


async def test_two_acknowledging_at_once_one_wins(env: Env) -> None:
    dispute = await register(env, **URGENT)
    (alert,) = await alerts_of(env, did(dispute))
    async with env.factory() as first, env.factory() as second:
        await first.begin()
        await alerts.acknowledge(first, env.actor("officer"), alert.id or 0)  # not yet committed
        # The second reads the alert still open and tries too, while the first holds it.
        late = asyncio.create_task(alerts.acknowledge(second, env.actor("chief"), alert.id or 0))
        await asyncio.sleep(0.2)
        await first.commit()
        with pytest.raises(Conflict) as refused:
            await late
        assert refused.value.params == {"name": "测试officer"}
        await second.rollback()
    (after,) = await alerts_of(env, did(dispute))
    assert after.acknowledged_by_id == env.seed.uid("officer")
    assert (await kinds(env, did(dispute))).count("risk_alert_acknowledged") == 1
