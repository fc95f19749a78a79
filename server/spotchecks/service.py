"""Spot checks on the case desk: drawing a sample, recording each check, the figures.

"Resolved" has one definition, ``RESOLVED_DEFINITION``: the dispute reached an
agreement during the period (its timeline says so) and has not been reopened
since (it is still agreed, in follow-up, or closed). The draw stores its seed and
the population it drew from, so the sample can be drawn again and compared.
A check's finding is a compare-and-set on its ``version``: of two people
recording the same check at once, one wins and the other is told.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.audit import record
from server.auth import roles
from server.auth.roles import Actor
from server.disputes import service as disputes
from server.disputes.lifecycle import REOPEN_FROM, Status
from server.errors import N_, Conflict, NotFound, ValidationFailed
from server.local_time import to_the_minute
from server.models import BeatOffice, Dispute, DisputeEvent, SpotCheck, SpotCheckDraw, utcnow
from server.spotchecks.draw import Mode, draw_sample
from server.spotchecks.schemas import CheckInput, DrawInput
from server.versioned import claim_next_version

RESOLVED_DEFINITION = N_(
    "Resolved: an agreement was reached during the period (the dispute's timeline records "
    "it) and the dispute has not been reopened since: it is still agreed, in follow-up or "
    "closed."
)
RESOLVED_NOW = (Status.AGREEMENT, Status.FOLLOW_UP, Status.CLOSED)
METHODS = ("phone", "visit", "video")


@dataclass(frozen=True, slots=True)
class Figures:
    sampled: int
    checked: int
    stayed: int

    @property
    def share_checked(self) -> float | None:
        return self.checked / self.sampled if self.sampled else None

    @property
    def share_stayed(self) -> float | None:
        return self.stayed / self.checked if self.checked else None


@dataclass(frozen=True, slots=True)
class CheckRow:
    check: SpotCheck
    dispute: Dispute
    can_record: bool


@dataclass(frozen=True, slots=True)
class DrawView:
    draw: SpotCheckDraw
    figures: Figures
    checks: list[CheckRow]


def _local_bounds(start: date, end: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The period's local days as an instant range [from, to), in UTC."""
    low = datetime.combine(start, time.min, tzinfo=tz).astimezone(UTC)
    high = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC)
    return low, high


async def resolved_population(
    db: AsyncSession, station_id: int, start: date, end: date, office_id: int | None, tz: ZoneInfo
) -> dict[int, list[int]]:
    """Office id -> ids of the disputes resolved in the period, by ``RESOLVED_DEFINITION``."""
    low, high = _local_bounds(start, end, tz)
    query = (
        select(Dispute.office_id, Dispute.id)
        .where(
            Dispute.station_id == station_id,
            col(Dispute.status).in_([s.value for s in RESOLVED_NOW]),
            col(Dispute.id).in_(
                select(DisputeEvent.dispute_id).where(
                    DisputeEvent.to_status == Status.AGREEMENT.value,
                    col(DisputeEvent.at) >= low,
                    col(DisputeEvent.at) < high,
                )
            ),
        )
        .order_by(col(Dispute.office_id), col(Dispute.id))
    )
    if office_id is not None:
        query = query.where(Dispute.office_id == office_id)
    population: dict[int, list[int]] = {}
    for office, dispute_id in await db.exec(query):
        assert dispute_id is not None
        population.setdefault(office, []).append(dispute_id)
    return population


async def draw(db: AsyncSession, actor: Actor, data: DrawInput, *, tz: ZoneInfo) -> SpotCheckDraw:
    roles.require(roles.can_draw_spot_checks(actor))
    if data.period_end < data.period_start:
        raise ValidationFailed(
            N_("The period ends before it starts."), fields={"period_end": "before_start"}
        )
    if data.office_id is not None:
        office = await db.get(BeatOffice, data.office_id)
        if office is None or office.station_id != actor.station_id:
            raise ValidationFailed(
                N_("Choose one of your station's beat offices."), fields={"office_id": "unknown"}
            )
    population = await resolved_population(
        db, actor.station_id, data.period_start, data.period_end, data.office_id, tz
    )
    seed = secrets.token_hex(16)
    sample = draw_sample(population, data.mode, data.amount, seed)
    office_of = {d: office for office, ids in population.items() for d in ids}
    row = SpotCheckDraw(
        station_id=actor.station_id,
        office_id=data.office_id,
        period_start=data.period_start,
        period_end=data.period_end,
        mode=data.mode.value,
        amount=data.amount,
        seed=seed,
        population=json.dumps({str(k): v for k, v in sorted(population.items())}),
        drawn_by_id=actor.user_id,
    )
    db.add(row)
    await db.flush()
    assert row.id is not None
    for dispute_id in sample:
        db.add(SpotCheck(draw_id=row.id, dispute_id=dispute_id, office_id=office_of[dispute_id]))
    record(
        db,
        actor,
        "spot_check.draw",
        object_type="spot_check_draw",
        object_id=row.id,
        detail={
            "period": f"{data.period_start.isoformat()}–{data.period_end.isoformat()}",
            "mode": data.mode.value,
            "amount": data.amount,
            "count": len(sample),
            "population": sum(len(ids) for ids in population.values()),
        },
    )
    await db.flush()
    return row


def stored_population(row: SpotCheckDraw) -> dict[int, list[int]]:
    return {int(k): list(v) for k, v in json.loads(row.population).items()}


def redraw(row: SpotCheckDraw) -> list[int]:
    """The sample drawn again from what the draw stored: equal to its checks' disputes."""
    return draw_sample(stored_population(row), Mode(row.mode), row.amount, row.seed)


def _scoped(actor: Actor):  # type: ignore[no-untyped-def]
    """Checks the actor may see: the station's, and only their office's for office roles."""
    roles.require(roles.can_read_disputes(actor))
    query = (
        select(SpotCheck)
        .join(SpotCheckDraw, col(SpotCheckDraw.id) == SpotCheck.draw_id)
        .where(SpotCheckDraw.station_id == actor.station_id)
    )
    if actor.role in roles.OFFICE_ROLES:
        query = query.where(SpotCheck.office_id == actor.office_id)
    return query


async def figures_by_draw(db: AsyncSession, actor: Actor) -> dict[int, Figures]:
    scoped = _scoped(actor).subquery()
    rows = await db.exec(
        select(
            scoped.c.draw_id,
            func.count(),
            func.sum(case((scoped.c.status == "done", 1), else_=0)),
            func.sum(case((scoped.c.stays_resolved.is_(True), 1), else_=0)),
        ).group_by(scoped.c.draw_id)
    )
    return {
        draw_id: Figures(int(sampled), int(checked or 0), int(stayed or 0))
        for draw_id, sampled, checked, stayed in rows
    }


async def list_draws(db: AsyncSession, actor: Actor) -> list[tuple[SpotCheckDraw, Figures]]:
    figures = await figures_by_draw(db, actor)
    rows = await db.exec(
        select(SpotCheckDraw)
        .where(SpotCheckDraw.station_id == actor.station_id)
        .order_by(col(SpotCheckDraw.drawn_at).desc(), col(SpotCheckDraw.id).desc())
    )
    return [(row, figures.get(row.id or 0, Figures(0, 0, 0))) for row in rows]


async def get_draw(db: AsyncSession, actor: Actor, draw_id: int) -> DrawView:
    row = await db.get(SpotCheckDraw, draw_id)
    if row is None or row.station_id != actor.station_id:
        raise NotFound(N_("No such spot check."))
    figures = (await figures_by_draw(db, actor)).get(draw_id, Figures(0, 0, 0))
    found = list(
        await db.exec(
            _scoped(actor)
            .where(SpotCheck.draw_id == draw_id)
            .order_by(col(SpotCheck.office_id), col(SpotCheck.id))
        )
    )
    ids = [check.dispute_id for check in found]
    by_id = {d.id: d for d in await db.exec(select(Dispute).where(col(Dispute.id).in_(ids)))}
    checks = [
        CheckRow(
            check, by_id[check.dispute_id], roles.can_record_spot_check(actor, check.office_id)
        )
        for check in found
    ]
    return DrawView(row, figures, checks)


async def checks_of_dispute(db: AsyncSession, actor: Actor, dispute_id: int) -> list[SpotCheck]:
    rows = await db.exec(
        _scoped(actor).where(SpotCheck.dispute_id == dispute_id).order_by(col(SpotCheck.id))
    )
    return list(rows)


async def get_check(db: AsyncSession, actor: Actor, check_id: int) -> SpotCheck:
    check: SpotCheck | None = (
        await db.exec(_scoped(actor).where(SpotCheck.id == check_id))
    ).first()
    if check is None:
        raise NotFound(N_("No such spot check."))
    return check


async def record_check(
    db: AsyncSession, actor: Actor, check_id: int, data: CheckInput, *, tz: ZoneInfo
) -> SpotCheck:
    """One check's finding; "it flared up" reopens the dispute, linked to this check."""
    check = await get_check(db, actor, check_id)
    roles.require(roles.can_record_spot_check(actor, check.office_id))
    row = await db.get(SpotCheckDraw, check.draw_id)
    assert row is not None
    if check.status == "done" or data.expected_version != check.version:
        raise Conflict(N_("Someone else recorded this spot check meanwhile; reload to see it."))
    checked_at = data.checked_at
    if checked_at.tzinfo is None:
        checked_at = checked_at.replace(tzinfo=tz)
    now = utcnow()
    if checked_at > now + timedelta(minutes=5):
        raise ValidationFailed(
            N_("The time of the check is in the future."), fields={"checked_at": "future"}
        )
    drawn_at = row.drawn_at if row.drawn_at.tzinfo else row.drawn_at.replace(tzinfo=UTC)
    if checked_at < to_the_minute(drawn_at):
        raise ValidationFailed(
            N_("The check is dated before the sample was drawn."),
            fields={"checked_at": "before_draw"},
        )
    finding = {
        "status": "done",
        "checked_at": checked_at,
        "method": data.method,
        "reached": data.reached,
        "stays_resolved": data.stays_resolved,
        "note": data.note,
        "checked_by_id": actor.user_id,
    }
    if not await claim_next_version(db, check, data.expected_version, finding):
        raise Conflict(N_("Someone else recorded this spot check meanwhile; reload to see it."))
    dispute = await db.get(Dispute, check.dispute_id)
    assert dispute is not None
    if data.stays_resolved:
        # A flare-up shows on the timeline as the reopening, linked to this check.
        disputes.note_on_timeline(
            db, actor, dispute, "spot_checked", data.note, link_kind="spot_check", link_id=check.id
        )
    else:
        if Status(dispute.status) in REOPEN_FROM:
            note = data.note or N_("Flared up again, found by a spot check")
            await disputes.reopen(
                db,
                actor,
                dispute,
                Status.IN_MEDIATION,
                note,
                link_kind="spot_check",
                link_id=check.id,
            )
    record(
        db,
        actor,
        "spot_check.record",
        object_type="spot_check",
        object_id=check.id,
        detail={
            "dispute": check.dispute_id,
            "method": data.method,
            "stays_resolved": data.stays_resolved,
        },
    )
    await db.flush()
    return check
