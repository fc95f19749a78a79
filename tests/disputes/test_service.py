"""Dispute register operations against a real, migrated SQLite database."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import col, func, select

from server.auth.roles import Actor
from server.db import transaction
from server.disputes import service
from server.disputes.lifecycle import RiskLevel, Route, Status
from server.disputes.schemas import (
    DisputeFilter,
    PartyInput,
    RevealInput,
    TransitionInput,
    TriageInput,
)
from server.errors import Conflict, IllegalTransition, NotAllowed, NotFound, ValidationFailed
from server.models import AuditEvent, BeatOffice, Dispute, DisputeEvent, Party, StaffUser, utcnow
from tests.disputes.conftest import Env
from tests.disputes.helpers import ADULT_ID, dispute_input, resident_id, years_ago

# --- helpers --------------------------------------------------------------


async def register(env: Env, username: str = "officer", **overrides: Any) -> Dispute:
    async with transaction(env.factory) as db:
        return await service.register(
            db, env.actor(username), dispute_input(**overrides), vault=env.vault, tz=env.tz
        )


async def triage(
    env: Env,
    dispute_id: int,
    *,
    by: str = "officer",
    risk: str = "general",
    assignee: str = "officer",
    criminal: bool = False,
    reason: str = "邻里矛盾，可调解",
) -> Dispute:
    data = TriageInput.model_validate(
        {
            "risk_level": risk,
            "criminal": criminal,
            "assignee_id": env.seed.uid(assignee),
            "reason": reason,
        }
    )
    async with transaction(env.factory) as db:
        return await service.triage(db, env.actor(by), dispute_id, data)


async def move(
    env: Env,
    dispute_id: int,
    to: Status,
    *,
    by: str = "officer",
    note: str = "按流程推进",
    expected_version: int | None = None,
) -> Dispute:
    data = TransitionInput(to_status=to, note=note, expected_version=expected_version)
    async with transaction(env.factory) as db:
        return await service.transition(db, env.actor(by), dispute_id, data)


async def walk(env: Env, dispute_id: int, *statuses: Status, by: str = "officer") -> Dispute:
    dispute = None
    for status in statuses:
        dispute = await move(env, dispute_id, status, by=by)
    assert dispute is not None
    return dispute


async def events(env: Env, dispute_id: int) -> list[DisputeEvent]:
    async with transaction(env.factory) as db:
        return await service.timeline_of(db, dispute_id)


async def audit(env: Env, action: str) -> list[AuditEvent]:
    async with transaction(env.factory) as db:
        rows = await db.exec(
            select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.id))
        )
        return list(rows)


async def count(env: Env, model: type[Any]) -> int:
    async with transaction(env.factory) as db:
        return (await db.exec(select(func.count()).select_from(model))).one()


async def fetch(env: Env, dispute_id: int) -> Dispute:
    async with transaction(env.factory) as db:
        dispute = await db.get(Dispute, dispute_id)
        assert dispute is not None
        return dispute


async def parties(env: Env, dispute_id: int) -> list[Party]:
    async with transaction(env.factory) as db:
        return await service.parties_of(db, dispute_id)


def did(dispute: Dispute) -> int:
    assert dispute.id is not None
    return dispute.id


# --- register -------------------------------------------------------------


async def test_register_creates_the_dispute(env: Env) -> None:
    before = utcnow()
    dispute = await register(env)
    stored = await fetch(env, did(dispute))
    assert stored.status == Status.REGISTERED
    assert stored.station_id == env.seed.station_id
    assert stored.office_id == env.seed.office_a
    assert stored.created_by_id == env.seed.uid("officer")
    assert stored.version == 1
    assert stored.risk_level is None and stored.route is None and stored.assignee_id is None
    assert stored.title == "养犬扰邻纠纷"
    assert stored.created_at >= before
    assert stored.created_at.tzinfo is not None


@pytest.mark.around_local_midnight
async def test_reference_format(env: Env) -> None:
    first = await register(env)
    second = await register(env)
    year = datetime.now(env.tz).year
    assert re.fullmatch(r"白石\d{4}-\d{5}", first.reference)
    assert first.reference == f"白石{year}-{did(first):05d}"
    assert second.reference == f"白石{year}-{did(second):05d}"
    assert first.reference != second.reference
    stored = await fetch(env, did(first))
    assert stored.reference == first.reference


async def test_reference_uses_the_station_of_the_actor(env: Env) -> None:
    dispute = await register(env, "outsider", office_id=env.office_c)
    assert dispute.reference.startswith("青山")
    assert dispute.station_id == env.seed.other_station_id


async def test_register_adds_timeline_entry(env: Env) -> None:
    dispute = await register(env)
    timeline = await events(env, did(dispute))
    assert len(timeline) == 1
    event = timeline[0]
    assert event.kind == "registered"
    assert event.from_status is None
    assert event.to_status == Status.REGISTERED
    assert event.actor_id == env.seed.uid("officer")


async def test_register_writes_audit_row(env: Env) -> None:
    dispute = await register(env)
    rows = await audit(env, "dispute.register")
    assert len(rows) == 1
    row = rows[0]
    assert row.object_type == "dispute"
    assert row.object_id == str(dispute.id)
    assert row.actor_id == env.seed.uid("officer")
    assert row.station_id == env.seed.station_id
    assert row.ip == "10.0.0.1"
    assert row.user_agent == "pytest"
    assert ADULT_ID not in row.detail


async def test_party_id_number_is_encrypted_at_rest(env: Env) -> None:
    dispute = await register(env)
    async with transaction(env.factory) as db:
        raw = (await db.exec(text("SELECT * FROM party"))).all()  # type: ignore[call-overload]
    assert len(raw) == 1
    for value in raw[0]:
        assert ADULT_ID not in str(value)
    [party] = await parties(env, did(dispute))
    assert party.id_number_masked == "110***********4514"
    assert party.id_number_encrypted
    assert env.vault.decrypt(party.id_number_encrypted) == ADULT_ID
    assert party.id_number_digest == env.vault.digest(f"resident_id:{ADULT_ID}")
    assert party.phone == "13800138001"
    assert party.minor is False


async def test_no_plain_id_number_anywhere_in_the_database_files(env: Env) -> None:
    await register(env)
    await env.factory.kw["bind"].dispose()
    db_path = Path(env.config.effective_database_url.split(":///", 1)[1])
    for path in [db_path, *db_path.parent.glob(db_path.name + "-*")]:
        assert ADULT_ID.encode() not in path.read_bytes(), path


async def test_minor_is_detected_from_a_resident_id(env: Env) -> None:
    child = resident_id(years_ago(10))
    dispute = await register(
        env,
        parties=[
            {"name": "小明", "role": "applicant", "id_number": child},
            {"name": "王丽华", "role": "respondent", "id_number": ADULT_ID},
            {"name": "Tom", "role": "respondent", "id_type": "passport", "id_number": "E1234567"},
            {"name": "小红", "role": "respondent", "minor": True},
        ],
    )
    by_name = {p.name: p for p in await parties(env, did(dispute))}
    assert by_name["小明"].minor is True
    assert by_name["王丽华"].minor is False
    assert by_name["Tom"].minor is False
    assert by_name["Tom"].id_type == "passport"
    assert by_name["Tom"].id_number_masked == "E12*4567"
    assert by_name["小红"].minor is True
    assert by_name["小红"].id_number_encrypted == ""
    assert by_name["小红"].id_number_masked == ""


@pytest.mark.around_local_midnight
async def test_seventeen_year_old_is_a_minor_eighteen_is_not(env: Env) -> None:
    today = datetime.now(env.tz).date()
    almost = years_ago(18, today) + timedelta(days=1)
    adult = years_ago(18, today) - timedelta(days=1)
    dispute = await register(
        env,
        parties=[
            {"name": "甲", "role": "applicant", "id_number": resident_id(almost)},
            {"name": "乙", "role": "respondent", "id_number": resident_id(adult)},
        ],
    )
    by_name = {p.name: p for p in await parties(env, did(dispute))}
    assert by_name["甲"].minor is True
    assert by_name["乙"].minor is False


async def test_naive_occurred_at_is_local_time(env: Env) -> None:
    local = (datetime.now(env.tz) - timedelta(days=2)).replace(microsecond=0, tzinfo=None)
    dispute = await register(env, occurred_at=local)
    stored = await fetch(env, did(dispute))
    assert stored.occurred_at == local.replace(tzinfo=env.tz)
    assert stored.occurred_at.utcoffset() == timedelta(0)


async def test_occurred_in_the_future_is_refused(env: Env) -> None:
    with pytest.raises(ValidationFailed) as exc:
        await register(env, occurred_at=datetime.now(UTC) + timedelta(hours=1))
    assert exc.value.fields == {"occurred_at": "future"}
    # A few minutes of clock skew are tolerated.
    await register(env, occurred_at=datetime.now(UTC) + timedelta(minutes=5))


async def test_occurred_too_long_ago_is_refused(env: Env) -> None:
    with pytest.raises(ValidationFailed) as exc:
        await register(env, occurred_at=datetime.now(UTC) - timedelta(days=365 * 21))
    assert exc.value.fields == {"occurred_at": "too_old"}


async def test_register_refuses_represented_parties(env: Env) -> None:
    with pytest.raises(ValidationFailed) as exc:
        await register(env, parties=[{"name": "代理人", "role": "agent", "represents_party_id": 1}])
    assert exc.value.fields == {"parties": "represents"}


async def test_auxiliary_registers_in_own_office(env: Env) -> None:
    dispute = await register(env, "auxiliary")
    assert dispute.office_id == env.seed.office_a
    dispute = await register(env, "auxiliary", office_id=env.seed.office_a)
    assert dispute.office_id == env.seed.office_a


@pytest.mark.parametrize("username", ["auxiliary", "officer"])
async def test_office_roles_cannot_register_for_another_office(env: Env, username: str) -> None:
    with pytest.raises(NotAllowed):
        await register(env, username, office_id=env.seed.office_b)
    assert await count(env, Dispute) == 0


@pytest.mark.parametrize("username", ["clerk", "admin"])
async def test_clerk_and_admin_cannot_register(env: Env, username: str) -> None:
    with pytest.raises(NotAllowed):
        await register(env, username, office_id=env.seed.office_a)
    assert await count(env, Dispute) == 0
    assert await count(env, AuditEvent) == 0


async def test_chief_registers_for_any_office_of_the_station(env: Env) -> None:
    dispute = await register(env, "chief", office_id=env.seed.office_b)
    assert dispute.office_id == env.seed.office_b


async def test_chief_must_choose_an_office(env: Env) -> None:
    with pytest.raises(ValidationFailed) as exc:
        await register(env, "chief")
    assert exc.value.fields == {"office_id": "missing"}


async def test_chief_cannot_register_for_another_station(env: Env) -> None:
    with pytest.raises(ValidationFailed) as exc:
        await register(env, "chief", office_id=env.office_c)
    assert exc.value.fields == {"office_id": "unknown"}


async def test_unknown_or_inactive_office_is_refused(env: Env) -> None:
    with pytest.raises(ValidationFailed):
        await register(env, "chief", office_id=9999)
    async with transaction(env.factory) as db:
        office = await db.get(BeatOffice, env.seed.office_b)
        assert office is not None
        office.active = False
    with pytest.raises(ValidationFailed) as exc:
        await register(env, "chief", office_id=env.seed.office_b)
    assert exc.value.fields == {"office_id": "unknown"}


async def test_failed_register_leaves_nothing_behind(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    # The audit write comes after the dispute was flushed and its parties added.
    monkeypatch.setattr(service, "record", crash)
    with pytest.raises(RuntimeError):
        await register(env)
    assert await count(env, Dispute) == 0
    assert await count(env, Party) == 0
    assert await count(env, DisputeEvent) == 0
    assert await count(env, AuditEvent) == 0


async def test_error_after_register_rolls_everything_back(env: Env) -> None:
    with pytest.raises(ZeroDivisionError):
        async with transaction(env.factory) as db:
            await service.register(
                db, env.actor("officer"), dispute_input(), vault=env.vault, tz=env.tz
            )
            assert (await db.exec(select(func.count()).select_from(Party))).one() == 1
            _ = 1 / 0
    assert await count(env, Dispute) == 0
    assert await count(env, Party) == 0
    assert await count(env, DisputeEvent) == 0
    assert await count(env, AuditEvent) == 0


# --- visibility -----------------------------------------------------------


async def test_officer_of_another_office_is_not_allowed(env: Env) -> None:
    dispute = await register(env, "officer_b")
    async with transaction(env.factory) as db:
        with pytest.raises(NotAllowed):
            await service.get_dispute(db, env.actor("officer"), did(dispute))
        with pytest.raises(NotAllowed):
            await service.get_dispute(db, env.actor("auxiliary"), did(dispute))
        assert (await service.get_dispute(db, env.actor("officer_b"), did(dispute))).id == did(
            dispute
        )


@pytest.mark.parametrize("username", ["chief", "clerk"])
async def test_station_roles_see_every_office(env: Env, username: str) -> None:
    dispute = await register(env, "officer_b")
    async with transaction(env.factory) as db:
        seen = await service.get_dispute(db, env.actor(username), did(dispute))
    assert seen.id == dispute.id


async def test_admin_does_not_read_case_files(env: Env) -> None:
    dispute = await register(env)
    async with transaction(env.factory) as db:
        with pytest.raises(NotAllowed):
            await service.get_dispute(db, env.actor("admin"), did(dispute))


@pytest.mark.parametrize("username", ["chief", "officer", "clerk"])
async def test_another_stations_dispute_is_not_found(env: Env, username: str) -> None:
    dispute = await register(env, "officer_c")
    async with transaction(env.factory) as db:
        with pytest.raises(NotFound):
            await service.get_dispute(db, env.actor(username), did(dispute))


async def test_unknown_dispute_is_not_found(env: Env) -> None:
    async with transaction(env.factory) as db:
        with pytest.raises(NotFound):
            await service.get_dispute(db, env.actor("chief"), 12345)


# --- triage ---------------------------------------------------------------


async def test_triage_general(env: Env) -> None:
    dispute = await register(env)
    triaged = await triage(env, did(dispute), risk="general", assignee="officer")
    stored = await fetch(env, did(triaged))
    assert stored.status == Status.TRIAGED
    assert stored.risk_level == RiskLevel.GENERAL
    assert stored.route == Route.COMMUNITY_TEAM
    assert stored.assignee_id == env.seed.uid("officer")
    assert stored.triage_reason == "邻里矛盾，可调解"
    assert stored.version == 2
    assert stored.updated_at >= dispute.updated_at
    last = (await events(env, did(dispute)))[-1]
    assert (last.kind, last.from_status, last.to_status, last.note) == (
        "triaged",
        Status.REGISTERED,
        Status.TRIAGED,
        "邻里矛盾，可调解",
    )
    [row] = await audit(env, "dispute.triage")
    assert json.loads(row.detail) == {
        "risk": "general",
        "route": "community_team",
        "assignee": env.seed.uid("officer"),
    }


async def test_triage_attention_is_led_by_the_community_officer(env: Env) -> None:
    dispute = await register(env)
    triaged = await triage(env, did(dispute), risk="attention", assignee="auxiliary")
    assert triaged.route == Route.COMMUNITY_OFFICER
    assert triaged.assignee_id == env.seed.uid("auxiliary")


async def test_high_risk_needs_a_chief(env: Env) -> None:
    dispute = await register(env)
    with pytest.raises(ValidationFailed) as exc:
        await triage(env, did(dispute), risk="high", assignee="officer")
    assert exc.value.fields == {"assignee_id": "needs_chief"}
    stored = await fetch(env, did(dispute))
    assert stored.status == Status.REGISTERED and stored.risk_level is None
    triaged = await triage(env, did(dispute), risk="high", assignee="chief")
    assert triaged.status == Status.TRIAGED
    assert triaged.route == Route.DEPUTY_CHIEF
    assert triaged.assignee_id == env.seed.uid("chief")


@pytest.mark.parametrize("risk", ["high", "attention", "general"])
async def test_criminal_is_referred_to_the_case_team(env: Env, risk: str) -> None:
    dispute = await register(env)
    triaged = await triage(env, did(dispute), risk=risk, criminal=True, assignee="officer")
    stored = await fetch(env, did(triaged))
    assert stored.status == Status.REFERRED
    assert stored.route == Route.CASE_TEAM
    last = (await events(env, did(dispute)))[-1]
    assert (last.from_status, last.to_status) == (Status.REGISTERED, Status.REFERRED)


async def test_assignee_of_another_office_is_refused(env: Env) -> None:
    dispute = await register(env)
    with pytest.raises(ValidationFailed) as exc:
        await triage(env, did(dispute), assignee="officer_b")
    assert exc.value.fields == {"assignee_id": "office"}


@pytest.mark.parametrize("assignee", ["admin", "clerk"])
async def test_admins_and_clerks_cannot_lead(env: Env, assignee: str) -> None:
    dispute = await register(env)
    with pytest.raises(ValidationFailed) as exc:
        await triage(env, did(dispute), assignee=assignee)
    assert exc.value.fields == {"assignee_id": "role"}


@pytest.mark.parametrize("assignee", ["outsider", "officer_c"])
async def test_assignee_of_another_station_is_unknown(env: Env, assignee: str) -> None:
    dispute = await register(env)
    with pytest.raises(ValidationFailed) as exc:
        await triage(env, did(dispute), assignee=assignee)
    assert exc.value.fields == {"assignee_id": "unknown"}


async def test_inactive_or_missing_assignee_is_unknown(env: Env) -> None:
    dispute = await register(env)
    data = TriageInput(risk_level=RiskLevel.GENERAL, assignee_id=9999, reason="理由")
    with pytest.raises(ValidationFailed):
        async with transaction(env.factory) as db:
            await service.triage(db, env.actor("officer"), did(dispute), data)
    async with transaction(env.factory) as db:
        user = await db.get(StaffUser, env.seed.uid("officer"))
        assert user is not None
        user.active = False
    with pytest.raises(ValidationFailed) as exc:
        await triage(env, did(dispute), by="chief", assignee="officer")
    assert exc.value.fields == {"assignee_id": "unknown"}


@pytest.mark.parametrize("username", ["auxiliary", "clerk"])
async def test_roles_that_cannot_triage(env: Env, username: str) -> None:
    dispute = await register(env)
    with pytest.raises(NotAllowed):
        await triage(env, did(dispute), by=username)


async def test_officer_cannot_triage_another_offices_dispute(env: Env) -> None:
    dispute = await register(env, "officer_b")
    with pytest.raises(NotAllowed):
        await triage(env, did(dispute), by="officer", assignee="officer_b")


async def test_chief_triages_any_office(env: Env) -> None:
    dispute = await register(env, "officer_b")
    triaged = await triage(env, did(dispute), by="chief", assignee="officer_b")
    assert triaged.status == Status.TRIAGED


async def test_retriage_keeps_triaged_status(env: Env) -> None:
    dispute = await register(env)
    await triage(env, did(dispute))
    again = await triage(env, did(dispute), risk="high", assignee="chief", reason="情绪激化")
    assert again.status == Status.TRIAGED
    assert again.risk_level == RiskLevel.HIGH
    assert again.route == Route.DEPUTY_CHIEF
    assert again.version == 3
    *_, last, alert = await events(env, did(dispute))
    assert (last.from_status, last.to_status) == (Status.TRIAGED, Status.TRIAGED)
    assert alert.kind == "risk_alert"  # graded high: the office's dashboard is alerted


async def test_regrading_during_mediation_keeps_the_status(env: Env) -> None:
    dispute = await register(env)
    await triage(env, did(dispute))
    await move(env, did(dispute), Status.IN_MEDIATION)
    regraded = await triage(env, did(dispute), risk="attention")
    assert regraded.status == Status.IN_MEDIATION
    assert regraded.risk_level == RiskLevel.ATTENTION
    referred = await triage(env, did(dispute), risk="attention", criminal=True)
    assert referred.status == Status.REFERRED
    assert referred.route == Route.CASE_TEAM


async def test_untriaged_dispute_past_registered_cannot_be_triaged(env: Env) -> None:
    dispute = await register(env)
    await move(env, did(dispute), Status.WITHDRAWN)
    with pytest.raises(IllegalTransition):
        await triage(env, did(dispute))


async def test_criminal_triage_from_agreement_is_illegal(env: Env) -> None:
    dispute = await register(env)
    await triage(env, did(dispute))
    await walk(env, did(dispute), Status.IN_MEDIATION, Status.AGREEMENT)
    with pytest.raises(IllegalTransition):
        await triage(env, did(dispute), criminal=True)
    assert (await fetch(env, did(dispute))).status == Status.AGREEMENT


async def test_closed_dispute_cannot_be_triaged(env: Env) -> None:
    dispute = await register(env)
    await triage(env, did(dispute))
    await walk(env, did(dispute), Status.WITHDRAWN, Status.FOLLOW_UP, Status.CLOSED)
    with pytest.raises(IllegalTransition):
        await triage(env, did(dispute))


# --- transitions ----------------------------------------------------------


async def test_full_loop(env: Env) -> None:
    dispute = await register(env)
    await triage(env, did(dispute))
    path = [
        Status.IN_MEDIATION,
        Status.NO_AGREEMENT,
        Status.IN_MEDIATION,
        Status.AGREEMENT,
        Status.FOLLOW_UP,
        Status.IN_MEDIATION,
        Status.AGREEMENT,
        Status.FOLLOW_UP,
        Status.CLOSED,
    ]
    previous = Status.TRIAGED
    for number, status in enumerate(path, start=1):
        moved = await move(env, did(dispute), status, note=f"第{number}步")
        assert moved.status == status
        assert moved.version == 2 + number
        last = (await events(env, did(dispute)))[-1]
        assert (last.kind, last.from_status, last.to_status, last.note) == (
            "status_changed",
            previous,
            status,
            f"第{number}步",
        )
        assert last.actor_id == env.seed.uid("officer")
        previous = status
    assert len(await events(env, did(dispute))) == 2 + len(path)
    rows = await audit(env, "dispute.transition")
    assert len(rows) == len(path)
    assert json.loads(rows[-1].detail) == {"from": "follow_up", "to": "closed"}


@pytest.mark.parametrize(
    "path",
    [
        [Status.REFERRED, Status.FOLLOW_UP, Status.CLOSED],
        [Status.WITHDRAWN, Status.FOLLOW_UP, Status.CLOSED],
    ],
)
async def test_registered_may_be_referred_or_withdrawn(env: Env, path: list[Status]) -> None:
    dispute = await register(env)
    final = await walk(env, did(dispute), *path, by="chief")
    assert final.status == Status.CLOSED


@pytest.mark.parametrize(
    "target", [Status.IN_MEDIATION, Status.AGREEMENT, Status.FOLLOW_UP, Status.CLOSED]
)
async def test_illegal_transition_from_registered(env: Env, target: Status) -> None:
    dispute = await register(env)
    with pytest.raises(IllegalTransition):
        await move(env, did(dispute), target)
    stored = await fetch(env, did(dispute))
    assert stored.status == Status.REGISTERED and stored.version == 1
    assert len(await events(env, did(dispute))) == 1


async def test_triaged_cannot_be_reached_by_a_plain_transition(env: Env) -> None:
    dispute = await register(env)
    with pytest.raises(IllegalTransition):
        await move(env, did(dispute), Status.TRIAGED)
    assert (await fetch(env, did(dispute))).status == Status.REGISTERED


async def test_closed_has_no_exits(env: Env) -> None:
    dispute = await register(env)
    await walk(env, did(dispute), Status.WITHDRAWN, Status.FOLLOW_UP, Status.CLOSED)
    for target in Status:
        with pytest.raises(IllegalTransition):
            await move(env, did(dispute), target)


async def test_version_mismatch_is_a_conflict(env: Env) -> None:
    dispute = await register(env)
    await triage(env, did(dispute))  # version 2
    with pytest.raises(Conflict):
        await move(env, did(dispute), Status.IN_MEDIATION, expected_version=1)
    assert (await fetch(env, did(dispute))).status == Status.TRIAGED
    moved = await move(env, did(dispute), Status.IN_MEDIATION, expected_version=2)
    assert moved.version == 3


@pytest.mark.parametrize("username", ["auxiliary", "clerk", "admin"])
async def test_roles_that_cannot_change_status(env: Env, username: str) -> None:
    dispute = await register(env)
    with pytest.raises(NotAllowed):
        await move(env, did(dispute), Status.WITHDRAWN, by=username)


async def test_officer_cannot_move_another_offices_dispute(env: Env) -> None:
    dispute = await register(env, "officer_b")
    with pytest.raises(NotAllowed):
        await move(env, did(dispute), Status.WITHDRAWN, by="officer")
    with pytest.raises(NotFound):
        await move(env, did(dispute), Status.WITHDRAWN, by="outsider")


# --- parties --------------------------------------------------------------


async def add_party(env: Env, dispute_id: int, by: str = "officer", **data: Any) -> Party:
    async with transaction(env.factory) as db:
        return await service.add_party(
            db,
            env.actor(by),
            dispute_id,
            PartyInput.model_validate(data),
            vault=env.vault,
            tz=env.tz,
        )


async def test_add_guardian_for_a_party(env: Env) -> None:
    dispute = await register(env)
    [principal] = await parties(env, did(dispute))
    guardian = await add_party(
        env, did(dispute), name="王父", role="guardian", represents_party_id=principal.id
    )
    assert guardian.represents_id == principal.id
    stored = await fetch(env, did(dispute))
    assert stored.version == 2
    last = (await events(env, did(dispute)))[-1]
    assert (last.kind, last.note) == ("party_added", "王父")
    assert len(await audit(env, "party.add")) == 1


async def test_agent_must_name_a_principal_of_this_dispute(env: Env) -> None:
    dispute = await register(env)
    other = await register(env)
    [foreign] = await parties(env, did(other))
    with pytest.raises(ValidationFailed) as exc:
        await add_party(env, did(dispute), name="律师", role="agent")
    assert exc.value.fields == {"represents_party_id": "missing"}
    with pytest.raises(ValidationFailed) as exc:
        await add_party(
            env, did(dispute), name="律师", role="agent", represents_party_id=foreign.id
        )
    assert exc.value.fields == {"represents_party_id": "unknown"}


async def test_add_party_permissions(env: Env) -> None:
    dispute = await register(env)
    await add_party(env, did(dispute), by="auxiliary", name="李四", role="respondent")
    with pytest.raises(NotAllowed):
        await add_party(env, did(dispute), by="clerk", name="赵五", role="respondent")
    with pytest.raises(NotAllowed):
        await add_party(env, did(dispute), by="officer_b", name="赵五", role="respondent")
    await walk(env, did(dispute), Status.WITHDRAWN, Status.FOLLOW_UP, Status.CLOSED)
    with pytest.raises(IllegalTransition):
        await add_party(env, did(dispute), name="赵五", role="respondent")


async def test_at_most_20_people(env: Env) -> None:
    dispute = await register(
        env, parties=[{"name": f"人{i}", "role": "respondent"} for i in range(20)]
    )
    with pytest.raises(ValidationFailed):
        await add_party(env, did(dispute), name="第21人", role="respondent")


# --- reveal_id_number -----------------------------------------------------


async def reveal(env: Env, party_id: int, by: str, reason: str = "核对当事人身份") -> str:
    async with transaction(env.factory) as db:
        return await service.reveal_id_number(
            db, env.actor(by), party_id, RevealInput(reason=reason), vault=env.vault
        )


@pytest.mark.parametrize("username", ["officer", "chief"])
async def test_reveal_id_number_is_audited(env: Env, username: str) -> None:
    dispute = await register(env)
    [party] = await parties(env, did(dispute))
    assert party.id is not None
    assert await reveal(env, party.id, username) == ADULT_ID
    [row] = await audit(env, "party.reveal_id_number")
    assert row.actor_id == env.seed.uid(username)
    assert row.object_type == "party"
    assert row.object_id == str(party.id)
    assert json.loads(row.detail) == {"reason": "核对当事人身份", "dispute": did(dispute)}
    assert ADULT_ID not in row.detail


@pytest.mark.parametrize("username", ["auxiliary", "clerk", "admin", "officer_b"])
async def test_reveal_refused(env: Env, username: str) -> None:
    dispute = await register(env)
    [party] = await parties(env, did(dispute))
    assert party.id is not None
    with pytest.raises(NotAllowed):
        await reveal(env, party.id, username)
    assert await audit(env, "party.reveal_id_number") == []


async def test_reveal_of_another_station_or_missing_party_is_not_found(env: Env) -> None:
    dispute = await register(env)
    [party] = await parties(env, did(dispute))
    assert party.id is not None
    with pytest.raises(NotFound):
        await reveal(env, party.id, "outsider")
    with pytest.raises(NotFound):
        await reveal(env, 99999, "chief")


async def test_reveal_without_a_recorded_number_is_not_found(env: Env) -> None:
    dispute = await register(env, parties=[{"name": "无证人", "role": "applicant"}])
    [party] = await parties(env, did(dispute))
    assert party.id is not None
    with pytest.raises(NotFound):
        await reveal(env, party.id, "officer")


# --- list_disputes --------------------------------------------------------


async def listing(env: Env, username: str = "chief", **flt: Any) -> tuple[list[str], int]:
    async with transaction(env.factory) as db:
        rows, total = await service.list_disputes(
            db, env.actor(username), DisputeFilter.model_validate(flt), tz=env.tz
        )
    return [d.title for d in rows], total


async def set_created(env: Env, dispute_id: int, when: datetime) -> None:
    async with transaction(env.factory) as db:
        dispute = await db.get(Dispute, dispute_id)
        assert dispute is not None
        dispute.created_at = when
        dispute.updated_at = when


@pytest.fixture
async def register_set(env: Env) -> dict[str, int]:
    """Five disputes across both offices and the other station."""
    ids = {}
    ids["dog"] = did(await register(env, "officer", title="养犬扰邻", category="neighbour"))
    ids["wages"] = did(
        await register(
            env,
            "officer",
            title="拖欠工资",
            category="labour",
            place="工业园",
            parties=[{"name": "陈老板", "role": "respondent"}],
        )
    )
    ids["rent"] = did(await register(env, "officer_b", title="房租押金", category="tenancy"))
    ids["car"] = did(await register(env, "officer_b", title="车辆剐蹭", category="traffic"))
    ids["foreign"] = did(await register(env, "officer_c", title="养犬扰邻 青山"))
    await triage(env, ids["dog"], risk="high", assignee="chief")
    await triage(env, ids["rent"], by="officer_b", risk="attention", assignee="officer_b")
    await move(env, ids["car"], Status.WITHDRAWN, by="officer_b")
    return ids


async def test_list_is_newest_first_and_station_only(
    env: Env, register_set: dict[str, int]
) -> None:
    titles, total = await listing(env)
    assert titles == ["车辆剐蹭", "房租押金", "拖欠工资", "养犬扰邻"]
    assert total == 4


async def test_officer_sees_only_own_office(env: Env, register_set: dict[str, int]) -> None:
    assert await listing(env, "officer") == (["拖欠工资", "养犬扰邻"], 2)
    assert await listing(env, "auxiliary") == (["拖欠工资", "养犬扰邻"], 2)
    assert await listing(env, "officer_b") == (["车辆剐蹭", "房租押金"], 2)
    # Asking for the other office does not widen the view.
    assert await listing(env, "officer", office_id=env.seed.office_b) == ([], 0)
    assert await listing(env, "clerk") == (["车辆剐蹭", "房租押金", "拖欠工资", "养犬扰邻"], 4)


async def test_admin_cannot_list(env: Env) -> None:
    with pytest.raises(NotAllowed):
        await listing(env, "admin")


async def test_search_title_party_place_reference(env: Env, register_set: dict[str, int]) -> None:
    assert await listing(env, q="养犬") == (["养犬扰邻"], 1)
    assert await listing(env, q="陈老板") == (["拖欠工资"], 1)
    assert await listing(env, q="王丽华") == (["车辆剐蹭", "房租押金", "养犬扰邻"], 3)
    assert await listing(env, q="工业园") == (["拖欠工资"], 1)
    reference = (await fetch(env, register_set["rent"])).reference
    assert await listing(env, q=reference) == (["房租押金"], 1)
    assert await listing(env, q="不存在") == ([], 0)


async def test_search_treats_wildcards_literally(env: Env, register_set: dict[str, int]) -> None:
    assert await listing(env, q="%") == ([], 0)
    assert await listing(env, q="_") == ([], 0)


async def test_filters(env: Env, register_set: dict[str, int]) -> None:
    assert await listing(env, office_id=env.seed.office_a) == (["拖欠工资", "养犬扰邻"], 2)
    assert await listing(env, category="labour") == (["拖欠工资"], 1)
    assert await listing(env, risk_level="high") == (["养犬扰邻"], 1)
    assert await listing(env, risk_level="attention") == (["房租押金"], 1)
    assert await listing(env, status="registered") == (["拖欠工资"], 1)
    assert await listing(env, status="withdrawn") == (["车辆剐蹭"], 1)
    assert await listing(env, status="triaged", office_id=env.seed.office_b) == (["房租押金"], 1)
    assert await listing(env, q="养犬", category="labour") == ([], 0)


async def test_open_only(env: Env, register_set: dict[str, int]) -> None:
    await walk(env, register_set["car"], Status.FOLLOW_UP, Status.CLOSED, by="chief")
    titles, total = await listing(env, open_only=True)
    assert titles == ["房租押金", "拖欠工资", "养犬扰邻"] and total == 3
    assert (await listing(env, status="closed"))[1] == 1


async def test_date_range_in_local_days(env: Env, register_set: dict[str, int]) -> None:
    # 23:30 and 00:30 Beijing time on either side of midnight, 10/11 March.
    await set_created(env, register_set["dog"], datetime(2024, 3, 10, 15, 30, tzinfo=UTC))
    await set_created(env, register_set["wages"], datetime(2024, 3, 10, 16, 30, tzinfo=UTC))
    await set_created(env, register_set["rent"], datetime(2024, 3, 12, 2, 0, tzinfo=UTC))
    await set_created(env, register_set["car"], datetime(2024, 3, 9, 12, 0, tzinfo=UTC))
    assert await listing(env, date_from="2024-03-11") == (["房租押金", "拖欠工资"], 2)
    assert await listing(env, date_to="2024-03-10") == (["养犬扰邻", "车辆剐蹭"], 2)
    assert await listing(env, date_from="2024-03-10", date_to="2024-03-10") == (["养犬扰邻"], 1)
    assert await listing(env, date_from="2024-03-11", date_to="2024-03-11") == (["拖欠工资"], 1)
    assert await listing(env, date_from="2024-03-13") == ([], 0)


async def test_paging(env: Env, register_set: dict[str, int]) -> None:
    assert await listing(env, per_page=3) == (["车辆剐蹭", "房租押金", "拖欠工资"], 4)
    assert await listing(env, per_page=3, page=2) == (["养犬扰邻"], 4)
    assert await listing(env, per_page=3, page=3) == ([], 4)
    assert await listing(env, per_page=1, page=2, office_id=env.seed.office_a) == (
        ["养犬扰邻"],
        2,
    )


# --- dashboard ------------------------------------------------------------


async def board(env: Env, username: str = "chief") -> service.Dashboard:
    async with transaction(env.factory) as db:
        return await service.dashboard(db, env.actor(username), tz=env.tz)


def titles(disputes: list[Dispute]) -> list[str]:
    return [d.title for d in disputes]


@pytest.mark.around_local_midnight
async def test_dashboard_counts(env: Env, register_set: dict[str, int]) -> None:
    escalating = did(
        await register(env, "officer", title="楼上漏水", trend="escalating", category="property")
    )
    closed = did(await register(env, "officer", title="已结案"))
    await walk(env, closed, Status.WITHDRAWN, Status.FOLLOW_UP, Status.CLOSED)
    await set_created(env, register_set["wages"], utcnow() - timedelta(days=30))

    data = await board(env, "chief")
    # untriaged: wages, the withdrawn car and the leak (never graded).
    assert data.by_risk == {"high": 1, "attention": 1, "general": 0, "untriaged": 3}
    assert [(o.id, n) for o, n in data.by_office] == [
        (env.seed.office_a, 3),
        (env.seed.office_b, 2),
    ]
    assert titles(data.untriaged) == ["楼上漏水", "拖欠工资"]
    assert titles(data.high_risk) == ["养犬扰邻"]
    assert titles(data.escalating) == ["楼上漏水"]
    assert titles(data.mine) == ["养犬扰邻"]
    assert titles(data.stale) == ["拖欠工资"]
    # wages was moved back 30 days; the other four open ones and the one closed
    # since were all registered today.
    assert data.registered_today == 5
    assert escalating


async def test_dashboard_for_an_officer_is_own_office(
    env: Env, register_set: dict[str, int]
) -> None:
    data = await board(env, "officer_b")
    assert [(o.id, n) for o, n in data.by_office] == [(env.seed.office_b, 2)]
    assert data.by_risk == {"high": 0, "attention": 1, "general": 0, "untriaged": 1}
    assert titles(data.mine) == ["房租押金"]
    assert data.untriaged == []
    assert titles(data.high_risk) == []


async def test_dashboard_refused_to_admin(env: Env) -> None:
    with pytest.raises(NotAllowed):
        await board(env, "admin")


async def test_dashboard_of_an_empty_station(env: Env) -> None:
    data = await board(env)
    assert data.by_risk == {"high": 0, "attention": 0, "general": 0, "untriaged": 0}
    assert [n for _, n in data.by_office] == [0, 0]
    assert data.registered_today == 0


async def test_actor_type_is_used(env: Env) -> None:
    assert isinstance(env.actor("chief"), Actor)
