"""Spot checks through the real services: the draw, its refusals, recording, the race, reopening."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from sqlmodel import col, select

from server.db import transaction
from server.disputes import service as disputes
from server.disputes.schemas import DisputeInput
from server.errors import Conflict, NotAllowed, NotFound, ValidationFailed
from server.models import AuditEvent, Dispute, DisputeEvent, SpotCheck, SpotCheckDraw
from server.spotchecks import service
from server.spotchecks.draw import Mode
from server.spotchecks.schemas import CheckInput, DrawInput
from tests.disputes.conftest import Env
from tests.disputes.conftest import env as env
from tests.disputes.helpers import dispute_data

#: 10:00 in Shanghai on 10 November 2026.
NOW = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
START, END = date(2026, 11, 1), date(2026, 11, 30)

pytestmark = pytest.mark.usefixtures("frozen")


@pytest.fixture
def frozen() -> Any:
    with time_machine.travel(NOW, tick=True):
        yield


async def resolved(
    env: Env, username: str = "officer", *, at: datetime | None = None, status: str = "closed"
) -> int:
    """A dispute that reached an agreement at ``at`` and now stands at ``status``."""
    async with transaction(env.factory) as db:
        dispute = await disputes.register(
            db, env.actor(username), DisputeInput(**dispute_data()), vault=env.vault, tz=env.tz
        )
        assert dispute.id is not None
        dispute.status = status
        db.add(
            DisputeEvent(
                dispute_id=dispute.id,
                kind="status_changed",
                from_status="in_mediation",
                to_status="agreement",
                at=at or NOW - timedelta(days=2),
            )
        )
        return dispute.id


async def draw(env: Env, username: str = "chief", **data: Any) -> SpotCheckDraw:
    values: dict[str, Any] = {
        "period_start": START,
        "period_end": END,
        "mode": Mode.PERCENT,
        "amount": 100,
    } | data
    async with transaction(env.factory) as db:
        return await service.draw(db, env.actor(username), DrawInput(**values), tz=env.tz)


async def checks(env: Env, draw_id: int) -> list[SpotCheck]:
    async with env.factory() as db:
        rows = await db.exec(select(SpotCheck).where(SpotCheck.draw_id == draw_id))
        return list(rows)


async def record(env: Env, check: SpotCheck, username: str = "officer", **data: Any) -> SpotCheck:
    values: dict[str, Any] = {
        "expected_version": check.version,
        "checked_at": datetime.now(UTC),
        "method": "phone",
        "reached": "王丽华本人",
        "stays_resolved": True,
    } | data
    async with transaction(env.factory) as db:
        return await service.record_check(
            db, env.actor(username), check.id or 0, CheckInput(**values), tz=env.tz
        )


async def counts(env: Env) -> tuple[int, int]:
    async with env.factory() as db:
        draws = len(list(await db.exec(select(SpotCheckDraw))))
        rows = len(list(await db.exec(select(SpotCheck))))
        return draws, rows


async def test_the_draw_is_stored_and_can_be_drawn_again(env: Env) -> None:
    ids = [await resolved(env) for _ in range(5)]
    ids.append(await resolved(env, "officer_b"))
    row = await draw(env, mode=Mode.PERCENT, amount=40)
    sampled = sorted(c.dispute_id for c in await checks(env, row.id or 0))
    # 40 % of five rounded up is two; office B has one, and gets its one.
    assert len(sampled) == 3 and ids[-1] in sampled
    assert service.redraw(row) == sampled
    assert sum(len(v) for v in service.stored_population(row).values()) == 6


async def test_only_disputes_resolved_in_the_period_and_still_resolved_are_drawn(env: Env) -> None:
    inside = await resolved(env)
    # Agreed at 23:30 on 31 October in Shanghai (15:30 UTC): before the period.
    await resolved(env, at=datetime(2026, 10, 31, 15, 30, tzinfo=UTC))
    # Agreed in the period, then reopened into mediation: not resolved any more.
    await resolved(env, status="in_mediation")
    # 00:30 on 1 November in Shanghai is 16:30 UTC on 31 October: inside.
    edge = await resolved(env, at=datetime(2026, 10, 31, 16, 30, tzinfo=UTC))
    row = await draw(env)
    assert sorted(c.dispute_id for c in await checks(env, row.id or 0)) == sorted([inside, edge])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"amount": 0}, "Give a percentage from 1 to 100."),
        ({"amount": 101}, "Give a percentage from 1 to 100."),
        ({"mode": Mode.COUNT, "amount": 0}, "Draw at least one dispute."),
        (
            {"mode": Mode.COUNT, "amount": 3},
            "Only %(total)d disputes were resolved in this period: draw at most that many.",
        ),
        ({"period_end": date(2026, 10, 31)}, "The period ends before it starts."),
        (
            {"period_start": date(2025, 1, 1), "period_end": date(2025, 1, 31)},
            "No dispute was resolved in this period: there is nothing to check.",
        ),
    ],
)
async def test_bad_draws_are_refused_and_write_nothing(
    env: Env, data: dict[str, Any], message: str
) -> None:
    await resolved(env)
    await resolved(env)
    with pytest.raises(ValidationFailed) as caught:
        await draw(env, **data)
    assert caught.value.message == message
    assert await counts(env) == (0, 0)


async def test_an_office_of_another_station_is_refused(env: Env) -> None:
    await resolved(env)
    with pytest.raises(ValidationFailed):
        await draw(env, office_id=env.office_c)
    assert await counts(env) == (0, 0)


@pytest.mark.parametrize("username", ["officer", "auxiliary", "clerk", "admin"])
async def test_only_the_chief_draws(env: Env, username: str) -> None:
    await resolved(env)
    with pytest.raises(NotAllowed):
        await draw(env, username)


async def test_a_check_that_stays_resolved_counts_in_the_figures(env: Env) -> None:
    await resolved(env)
    await resolved(env)
    row = await draw(env)
    first, _second = await checks(env, row.id or 0)
    await record(env, first)
    async with env.factory() as db:
        view = await service.get_draw(db, env.actor("chief"), row.id or 0)
    assert (view.figures.sampled, view.figures.checked, view.figures.stayed) == (2, 1, 1)
    assert view.figures.share_checked == 0.5 and view.figures.share_stayed == 1.0
    async with env.factory() as db:
        actions = [a.action for a in await db.exec(select(AuditEvent).order_by(col(AuditEvent.id)))]
    assert actions[-2:] == ["spot_check.draw", "spot_check.record"]


async def test_it_flared_up_reopens_the_dispute_linked_to_the_check(env: Env) -> None:
    dispute_id = await resolved(env)
    row = await draw(env)
    (check,) = await checks(env, row.id or 0)
    await record(env, check, stays_resolved=False, note="双方又因犬只问题争吵")
    async with env.factory() as db:
        dispute = await db.get(Dispute, dispute_id)
        assert dispute is not None and dispute.status == "in_mediation"
        events = list(
            await db.exec(select(DisputeEvent).where(DisputeEvent.dispute_id == dispute_id))
        )
    reopened = [e for e in events if e.kind == "reopened"]
    assert [(e.link_kind, e.link_id, e.note) for e in reopened] == [
        ("spot_check", check.id, "双方又因犬只问题争吵")
    ]
    assert len(events) >= 3  # registered, agreement, reopened: the timeline is intact


async def test_two_recording_at_once_one_wins(env: Env) -> None:
    await resolved(env)
    row = await draw(env)
    (check,) = await checks(env, row.id or 0)
    await record(env, check, "officer")
    with pytest.raises(Conflict):
        await record(env, check, "chief", stays_resolved=False)
    (after,) = await checks(env, row.id or 0)
    assert after.stays_resolved is True and after.version == 2


async def test_bad_checks_are_refused(env: Env) -> None:
    await resolved(env)
    row = await draw(env)
    (check,) = await checks(env, row.id or 0)
    for when in (datetime.now(UTC) + timedelta(hours=1), NOW - timedelta(days=1)):
        with pytest.raises(ValidationFailed):
            await record(env, check, checked_at=when)
    for username, error in [
        ("officer_b", NotFound),
        ("auxiliary", NotAllowed),
        ("clerk", NotAllowed),
        ("officer_c", NotFound),
    ]:
        with pytest.raises(error):
            await record(env, check, username)
    (after,) = await checks(env, row.id or 0)
    assert after.status == "open" and after.version == 1


async def test_a_local_wall_clock_time_is_read_in_the_office_zone(env: Env) -> None:
    await resolved(env)
    row = await draw(env)
    (check,) = await checks(env, row.id or 0)
    # 10:00 local, a naive form value, is 02:00 UTC: now, not eight hours ahead.
    recorded = await record(env, check, checked_at=datetime(2026, 11, 10, 10, 0))
    assert recorded.checked_at is not None
    assert recorded.checked_at.astimezone(UTC).hour == 2
