"""每周研判: what the weekly review meeting goes through.

- high-risk disputes still without an outcome some days after registration
  (``review_high_risk_days``), whatever their age: a backlog is the point;
- people or addresses that appear in several disputes registered in the
  period: the same ID number (matched by its keyed digest, never the number),
  the same phone, or the same address once written alike;
- disputes reopened in the period after a follow-up or a spot check.

Names and phones are shown masked to readers who compile figures but need not
know who (``roles.sees_party_names``).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.auth import roles
from server.auth.roles import Actor
from server.disputes.lifecycle import RiskLevel, Status
from server.errors import N_, ValidationFailed
from server.models import BeatOffice
from server.pii import mask_name, mask_phone
from server.stats.figures import OUTCOME_STATUSES, rows_of
from server.stats.period import Period, StatsFilter, office_scope, resolve_period
from server.stats.tables import DISPUTE, DISPUTE_EVENT, PARTY

#: What the review's "reopened" list counts: a reopening found by these.
REOPEN_LINKS = ("followup", "spot_check")
#: The late high-risk disputes listed (the longest waiting first); the count says how many.
LATE_SHOWN = 100
#: The review looks back this far unless told otherwise.
DEFAULT_DAYS = 30
MATCH_LABELS: dict[str, str] = {
    "id_number": N_("Same ID number"),
    "phone": N_("Same phone"),
    "address": N_("Same address"),
}
_ADDRESS_NOISE = re.compile(r"[\s\-—_,，.。·、()（）#＃]+")


@dataclass(frozen=True)
class LateDispute:
    id: int
    reference: str
    title: str
    office_id: int
    status: str
    created_at: datetime
    days: int


@dataclass(frozen=True)
class Appearance:
    dispute_id: int
    reference: str
    title: str
    name: str
    phone: str
    address: str


@dataclass(frozen=True)
class Repeat:
    """One person or address found in several disputes."""

    match: str  # id_number / phone / address
    shown: str  # what the reader may see of the matched value
    appearances: list[Appearance]


@dataclass(frozen=True)
class Reopening:
    dispute_id: int
    reference: str
    title: str
    office_id: int
    at: datetime
    link_kind: str
    link_id: int | None
    note: str


@dataclass(frozen=True)
class Review:
    period: Period
    office_id: int | None
    late_after_days: int
    late_total: int
    late: list[LateDispute]
    repeats: list[Repeat]
    reopened: list[Reopening]


def normalise_address(value: str) -> str:
    """Full-width to half-width, case, spaces and punctuation folded away.

    新村路 8 号 and 新村路８号 are one address.
    """
    return _ADDRESS_NOISE.sub("", unicodedata.normalize("NFKC", value)).casefold()


def review_period(flt: StatsFilter, today: date) -> Period:
    """By default the last ``DEFAULT_DAYS`` local days up to today."""
    if flt.date_from is None and flt.date_to is None:
        return Period(today - timedelta(days=DEFAULT_DAYS - 1), today)
    return resolve_period(flt, today)


async def _check_office(db: AsyncSession, actor: Actor, office_id: int | None) -> None:
    if office_id is None:
        return
    office = await db.get(BeatOffice, office_id)
    if office is None or office.station_id != actor.station_id:
        raise ValidationFailed(
            N_("Choose one of your station's beat offices."), fields={"office_id": "unknown"}
        )


async def compute(
    db: AsyncSession,
    actor: Actor,
    flt: StatsFilter,
    *,
    tz: ZoneInfo,
    now: datetime,
    late_after_days: int,
) -> Review:
    office_id = office_scope(actor, flt.office_id)
    await _check_office(db, actor, office_id)
    period = review_period(flt, now.astimezone(tz).date())
    late_total, late = await _late(db, actor, office_id, now, late_after_days)
    return Review(
        period=period,
        office_id=office_id,
        late_after_days=late_after_days,
        late_total=late_total,
        late=late,
        repeats=await _repeats(db, actor, office_id, period, tz),
        reopened=await _reopened(db, actor, office_id, period, tz),
    )


async def _late(
    db: AsyncSession, actor: Actor, office_id: int | None, now: datetime, days: int
) -> tuple[int, list[LateDispute]]:
    """How many, and the longest-waiting ``LATE_SHOWN`` of them."""
    d = DISPUTE.c
    e = DISPUTE_EVENT.c
    query = select(d.id, d.reference, d.title, d.office_id, d.status, d.created_at).where(
        d.station_id == actor.station_id,
        d.risk_level == RiskLevel.HIGH.value,
        d.status != Status.CLOSED.value,
        d.created_at < now - timedelta(days=days),
        ~exists().where(e.dispute_id == d.id, e.to_status.in_([s.value for s in OUTCOME_STATUSES])),
    )
    if office_id is not None:
        query = query.where(d.office_id == office_id)
    total = (await rows_of(db, select(func.count()).select_from(query.subquery()))).scalar_one()
    query = query.order_by(d.created_at, d.id).limit(LATE_SHOWN)
    return total, [
        LateDispute(
            id=row.id,
            reference=row.reference,
            title=row.title,
            office_id=row.office_id,
            status=row.status,
            created_at=row.created_at,
            days=(now - row.created_at).days,
        )
        for row in await rows_of(db, query)
    ]


async def _repeats(
    db: AsyncSession, actor: Actor, office_id: int | None, period: Period, tz: ZoneInfo
) -> list[Repeat]:
    """Digests and phones are grouped by SQL (HAVING two disputes or more); addresses are
    normalised here first, then grouped, because their spelling varies."""
    d = DISPUTE.c
    p = PARTY.c
    start, end = period.bounds(tz)
    scope = and_(
        d.station_id == actor.station_id,
        d.created_at >= start,
        d.created_at < end,
        *([d.office_id == office_id] if office_id is not None else []),
    )
    joined = PARTY.join(DISPUTE, d.id == p.dispute_id)
    groups: set[tuple[str, str]] = set()
    for match, column in (("id_number", p.id_number_digest), ("phone", p.phone)):
        keys = (
            select(column.label("value"))
            .select_from(joined)
            .where(scope, column != "")
            .group_by(column)
            .having(func.count(func.distinct(d.id)) > 1)
        )
        for row in await rows_of(db, keys):
            groups.add((match, row.value))
    people = list(
        await rows_of(
            db,
            select(
                p.dispute_id,
                p.name,
                p.phone,
                p.address,
                p.id_number_digest,
                p.id_number_masked,
                d.reference,
                d.title,
            )
            .select_from(joined)
            .where(scope)
            .order_by(p.dispute_id, p.id),
        )
    )
    by_key: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for person in people:
        if person.id_number_digest:
            by_key[("id_number", person.id_number_digest)].append(person)
        if person.phone:
            by_key[("phone", person.phone)].append(person)
        address = normalise_address(person.address) if person.address else ""
        if address:
            by_key[("address", address)].append(person)
    for key, matching in by_key.items():
        if key[0] == "address" and len({p.dispute_id for p in matching}) > 1:
            groups.add(key)
    full = roles.sees_party_names(actor)
    found: list[Repeat] = []
    for match, value in sorted(groups):
        matching = by_key[(match, value)]
        shown = {
            "id_number": matching[0].id_number_masked,
            "phone": value if full else mask_phone(value),
            "address": matching[0].address,
        }[match]
        found.append(
            Repeat(
                match=match,
                shown=shown,
                appearances=[
                    Appearance(
                        dispute_id=person.dispute_id,
                        reference=person.reference,
                        title=person.title,
                        name=person.name if full else mask_name(person.name),
                        phone=person.phone if full else mask_phone(person.phone),
                        address=person.address,
                    )
                    for person in matching
                ],
            )
        )
    return found


async def _reopened(
    db: AsyncSession, actor: Actor, office_id: int | None, period: Period, tz: ZoneInfo
) -> list[Reopening]:
    d = DISPUTE.c
    e = DISPUTE_EVENT.c
    start, end = period.bounds(tz)
    query = (
        select(d.id, d.reference, d.title, d.office_id, e.at, e.link_kind, e.link_id, e.note)
        .select_from(DISPUTE_EVENT.join(DISPUTE, d.id == e.dispute_id))
        .where(
            d.station_id == actor.station_id,
            e.kind == "reopened",
            e.link_kind.in_(REOPEN_LINKS),
            e.at >= start,
            e.at < end,
        )
        .order_by(e.at.desc(), e.id.desc())
    )
    if office_id is not None:
        query = query.where(d.office_id == office_id)
    return [
        Reopening(
            dispute_id=row.id,
            reference=row.reference,
            title=row.title,
            office_id=row.office_id,
            at=row.at,
            link_kind=row.link_kind,
            link_id=row.link_id,
            note=row.note,
        )
        for row in await rows_of(db, query)
    ]
