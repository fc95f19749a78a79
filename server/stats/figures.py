"""The station's figures, counted by SQL over the records.

Which disputes: those of the station (or one office) registered in the
period. For each of them the records say whether it was

- handled: reached an outcome (agreement, no agreement, referred, withdrawn)
  at least once, per its timeline (``dispute_event.to_status``);
- resolved by mediation: reached an agreement at least once;
- referred: was referred at least once;
- reopened: was reopened at least once (timeline event ``reopened``);
- performed on follow-up: has follow-up records and every one of them found
  the terms performed or no longer relevant;
- turned criminal: carries a 民转刑 date;

and how many sealed agreements (first versions; a correction is not a new
agreement) it has, and how many days passed from its registration to its
first sealed agreement. 化解率 = resolved / handled.

One query groups the disputes by every dimension at once (office, category,
risk, legal track, local month); the margins are sums of those cells, which
is exact because every count is a count of disputes. The expert dimension
needs its own query, because a dispute may have had several experts. Medians
are not additive: the per-dispute durations are fetched by SQL and the
median is taken here.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.sql import Select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.auth.roles import Actor
from server.disputes.lifecycle import CATEGORY_LABELS, RISK_LABELS, Category, RiskLevel, Status
from server.errors import N_, ValidationFailed
from server.sessions.rules import TRACK_LABELS, LegalTrack, SessionStatus
from server.stats.period import Period, StatsFilter, office_scope, resolve_period
from server.stats.tables import (
    AGREEMENT,
    BEAT_OFFICE,
    DISPUTE,
    DISPUTE_EVENT,
    EXPERT,
    FOLLOWUP_RECORD,
    INVITATION,
    MEDIATION_SESSION,
)

OUTCOME_STATUSES = (Status.AGREEMENT, Status.NO_AGREEMENT, Status.REFERRED, Status.WITHDRAWN)
#: Follow-up results that count as "performed": the terms were carried out, or no longer apply.
PERFORMED_RESULTS = ("performed", "not_relevant")
UNTRIAGED = "untriaged"
NO_TRACK = ""

COUNTS = ("registered", "handled", "resolved", "sealed", "performed", "reopened", "referred")
COUNTS_ALL = (*COUNTS, "criminal")
DIMENSIONS = ("office", "category", "risk", "track", "month", "expert")

#: Shown on the page, in the exports and the API's documentation.
DEFINITIONS: dict[str, str] = {
    "scope": N_("Disputes registered in the period (local dates, both included)."),
    "registered": N_("Registered: disputes registered in the period."),
    "handled": N_(
        "Handled: reached an outcome at least once (agreement, no agreement, referred, withdrawn)."
    ),
    "resolved": N_("Resolved by mediation: reached an agreement at least once."),
    "sealed": N_("Agreements sealed: first versions of sealed agreements of these disputes."),
    "rate": N_("Resolution rate (化解率) = resolved by mediation ÷ handled."),
    "performed": N_(
        "Performed on follow-up: every follow-up found the terms performed or no longer relevant."
    ),
    "reopened": N_("Reopened: reopened at least once after a follow-up or spot check."),
    "referred": N_("Referred: referred at least once (court, people's mediation, case team)."),
    "criminal": N_("Turned criminal (民转刑): marked with the date it became a criminal case."),
    "median_days": N_("Median days: from registration to the first sealed agreement."),
}

DIMENSION_LABELS: dict[str, str] = {
    "office": N_("Beat office"),
    "category": N_("Category"),
    "risk": N_("Risk level"),
    "track": N_("Legal track"),
    "month": N_("Month"),
    "expert": N_("Expert"),
}


@dataclass
class Row:
    """One line of a table: the figures of one office, category, month …"""

    key: str
    label: str
    #: Whether ``label`` is a message id to translate (a category) or a name (an office).
    translate: bool = False
    registered: int = 0
    handled: int = 0
    resolved: int = 0
    sealed: int = 0
    performed: int = 0
    reopened: int = 0
    referred: int = 0
    criminal: int = 0
    durations: list[float] = field(default_factory=list, repr=False)

    @property
    def rate(self) -> float | None:
        """化解率 as a fraction, or None when nothing was handled (not 0: nothing to rate)."""
        return self.resolved / self.handled if self.handled else None

    @property
    def median_days(self) -> float | None:
        return round(statistics.median(self.durations), 1) if self.durations else None

    def add(self, counts: dict[str, int]) -> None:
        for name in COUNTS_ALL:
            setattr(self, name, getattr(self, name) + counts[name])


@dataclass
class Figures:
    period: Period
    office_id: int | None
    total: Row
    by: dict[str, list[Row]]


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def _month_key(months: Sequence[Any]) -> ColumnElement[str]:
    """The local month of registration, by boundaries computed for the time zone."""
    created = DISPUTE.c.created_at
    return case(
        *[(and_(created >= m.start, created < m.end), literal(m.key)) for m in months],
        else_=literal(""),
    )


def _track_of(dispute_id: Any) -> Any:
    """The legal track of the dispute's sessions that were not cancelled, or ''.

    A dispute with a police-mediation session counts as police mediation (the
    larger of the two codes): 治安调解 is the narrower, statutory track, and a
    dispute moved from it to people's mediation keeps its public-order element.
    """
    s = MEDIATION_SESSION.c
    return func.coalesce(
        select(func.max(s.legal_track))
        .where(s.dispute_id == dispute_id, s.status != SessionStatus.CANCELLED)
        .scalar_subquery(),
        literal(NO_TRACK),
    )


@dataclass(frozen=True)
class Scope:
    station_id: int
    office_id: int | None
    period: Period
    tz: ZoneInfo

    def where(self) -> list[ColumnElement[bool]]:
        """The disputes counted: the station's (or the office's), registered in the period."""
        d = DISPUTE.c
        start, end = self.period.bounds(self.tz)
        conditions = [d.station_id == self.station_id, d.created_at >= start, d.created_at < end]
        if self.office_id is not None:
            conditions.append(d.office_id == self.office_id)
        return conditions


def _per_dispute(scope: Scope, *, only: Any = None) -> Any:
    """One row per dispute in scope: its dimensions and its 0/1 flags (a subquery).

    The timeline flags come from one pass over each dispute's events (a left
    join grouped by the dispute) rather than one EXISTS per flag. ``only``
    narrows the disputes further (to those with an expert, say).
    """
    d = DISPUTE.c
    e = DISPUTE_EVENT.c
    inner = (
        select(
            d.id.label("id"),
            d.office_id.label("office"),
            d.category.label("category"),
            func.coalesce(d.risk_level, literal(UNTRIAGED)).label("risk"),
            _month_key(scope.period.months(scope.tz)).label("month"),
            _flag(d.criminal_on.is_not(None)).label("criminal"),
            func.max(_flag(e.to_status.in_([s.value for s in OUTCOME_STATUSES]))).label("handled"),
            func.max(_flag(e.to_status == Status.AGREEMENT.value)).label("resolved"),
            func.max(_flag(e.to_status == Status.REFERRED.value)).label("referred"),
            func.max(_flag(e.kind == "reopened")).label("reopened"),
            _track_of(d.id).label("track"),
            *[flag.label(name) for name, flag in _record_flags(d.id).items()],
        )
        .select_from(DISPUTE.outerjoin(DISPUTE_EVENT, e.dispute_id == d.id))
        .where(*scope.where())
        .group_by(d.id, d.office_id, d.category, d.risk_level, d.created_at, d.criminal_on)
    )
    if only is not None:
        inner = inner.where(d.id.in_(only))
    return inner.cte("per_dispute")


def _record_flags(dispute_id: Any) -> dict[str, Any]:
    """Sealed agreements (first versions) and follow-up performance of one dispute."""
    a = AGREEMENT.c
    r = FOLLOWUP_RECORD.c
    sealed = (
        select(func.count())
        .select_from(AGREEMENT)
        .where(a.dispute_id == dispute_id, a.version == 1)
        .scalar_subquery()
    )
    performed = _flag(
        and_(
            exists().where(r.dispute_id == dispute_id),
            ~exists().where(r.dispute_id == dispute_id, r.outcome.not_in(PERFORMED_RESULTS)),
        )
    )
    return {"sealed": sealed, "performed": performed}


def _sums(pd: Any) -> list[Any]:
    return [
        func.count().label("registered"),
        *[func.coalesce(func.sum(pd.c[name]), 0).label(name) for name in COUNTS_ALL[1:]],
    ]


def figures_query(scope: Scope) -> Any:
    """Every count in one statement: the per-dispute rows once (a CTE; both engines
    materialise a CTE read more than once), then one GROUP BY per dimension, the
    experts' over their (dispute, expert) pairs, and the total, as one UNION ALL of
    (dimension, key, counts…)."""
    pd = _per_dispute(scope)
    branches: list[Any] = [
        select(
            literal_column(f"'{dimension}'", String).label("dimension"),
            cast(pd.c[dimension], String).label("key"),
            *_sums(pd),
        ).group_by(pd.c[dimension])
        for dimension in ("office", "category", "risk", "track", "month")
    ]
    pairs = expert_pairs(scope).subquery("pairs")
    branches.append(
        select(
            literal_column("'expert'", String).label("dimension"),
            cast(pairs.c.expert_id, String).label("key"),
            *_sums(pd),
        )
        .select_from(pd.join(pairs, pairs.c.dispute_id == pd.c.id))
        .group_by(pairs.c.expert_id)
    )
    branches.append(
        select(
            literal_column("'total'", String).label("dimension"),
            literal_column("''", String).label("key"),
            *_sums(pd),
        )
    )
    return union_all(*branches)


def expert_pairs(scope: Scope) -> Select[Any]:
    """(dispute, expert) for each expert invited (and not uninvited) to a session of a
    dispute in scope that was not cancelled."""
    i = INVITATION.c
    s = MEDIATION_SESSION.c
    d = DISPUTE.c
    return (
        select(s.dispute_id.label("dispute_id"), i.expert_id.label("expert_id"))
        .select_from(
            INVITATION.join(MEDIATION_SESSION, s.id == i.session_id).join(
                DISPUTE, d.id == s.dispute_id
            )
        )
        .where(
            *scope.where(),
            i.expert_id.is_not(None),
            i.revoked_at.is_(None),
            s.status != SessionStatus.CANCELLED,
        )
        .distinct()
    )


def durations_query(scope: Scope) -> Select[Any]:
    """Per dispute in scope with a sealed agreement: its keys, registration, first sealing."""
    a = AGREEMENT.c
    d = DISPUTE.c
    first = (
        select(a.dispute_id.label("dispute_id"), func.min(a.sealed_at).label("sealed_at"))
        .where(a.version == 1)
        .group_by(a.dispute_id)
        .subquery("first_sealed")
    )
    return (
        select(
            d.id,
            d.office_id.label("office"),
            d.category,
            func.coalesce(d.risk_level, literal(UNTRIAGED)).label("risk"),
            _month_key(scope.period.months(scope.tz)).label("month"),
            _track_of(d.id).label("track"),
            d.created_at,
            first.c.sealed_at,
        )
        .select_from(DISPUTE.join(first, first.c.dispute_id == d.id))
        .where(*scope.where())
        .order_by(d.id)
    )


def _counts(row: Any) -> dict[str, int]:
    return {name: int(getattr(row, name) or 0) for name in COUNTS_ALL}


def _days(registered: datetime, sealed: datetime) -> float:
    return (sealed - registered).total_seconds() / 86400


def _ordered(rows: dict[str, Row], order: Iterable[str]) -> list[Row]:
    """Known keys in their natural order, anything else after them by key."""
    known = [rows.pop(key) for key in order if key in rows]
    return known + [rows[key] for key in sorted(rows)]


async def rows_of(db: AsyncSession, query: Any) -> Any:
    """Core queries run on the session's connection (the ORM layer adds nothing here)."""
    conn = await db.connection()
    return await conn.execute(query)


async def compute(
    db: AsyncSession, actor: Actor, flt: StatsFilter, *, tz: ZoneInfo, today: date
) -> Figures:
    """Every figure for the actor's scope and the asked period."""
    office_id = office_scope(actor, flt.office_id)
    period = resolve_period(flt, today)
    office_rows = list(
        await rows_of(
            db,
            select(BEAT_OFFICE.c.id, BEAT_OFFICE.c.name)
            .where(BEAT_OFFICE.c.station_id == actor.station_id)
            .order_by(BEAT_OFFICE.c.id),
        )
    )
    office_names = {row.id: row.name for row in office_rows}
    if office_id is not None and office_id not in office_names:
        raise ValidationFailed(
            N_("Choose one of your station's beat offices."), fields={"office_id": "unknown"}
        )
    scope = Scope(actor.station_id, office_id, period, tz)

    tables: dict[str, dict[str, Row]] = {name: {} for name in DIMENSIONS}
    shown_offices = [office_id] if office_id is not None else list(office_names)
    for oid in shown_offices:
        tables["office"][str(oid)] = Row(str(oid), office_names[oid])
    for month in period.months(tz):
        tables["month"][month.key] = Row(month.key, month.key)
    total = Row("total", N_("Total"), translate=True)

    def row_for(dimension: str, key: str) -> Row:
        table = tables[dimension]
        if key not in table:
            table[key] = _new_row(dimension, key, office_names)
        return table[key]

    expert_names = {
        row.id: row.name
        for row in await rows_of(
            db, select(EXPERT.c.id, EXPERT.c.name).where(EXPERT.c.station_id == actor.station_id)
        )
    }
    for cell in await rows_of(db, figures_query(scope)):
        counts = _counts(cell)
        if cell.dimension == "total":
            total.add(counts)
        elif cell.dimension == "expert":
            key = str(cell.key)
            tables["expert"][key] = Row(key, expert_names.get(int(key), key))
            tables["expert"][key].add(counts)
        else:
            row_for(cell.dimension, cell.key).add(counts)

    experts_of: dict[int, list[str]] = defaultdict(list)
    if tables["expert"]:
        for pair in await rows_of(db, expert_pairs(scope)):
            experts_of[pair.dispute_id].append(str(pair.expert_id))
    for item in await rows_of(db, durations_query(scope)):
        days = _days(item.created_at, item.sealed_at)
        total.durations.append(days)
        row_for("office", str(item.office)).durations.append(days)
        row_for("category", item.category).durations.append(days)
        row_for("risk", item.risk).durations.append(days)
        row_for("track", item.track).durations.append(days)
        row_for("month", item.month).durations.append(days)
        for key in experts_of.get(item.id, []):
            tables["expert"][key].durations.append(days)

    by = {
        "office": _ordered(tables["office"], [str(o) for o in shown_offices]),
        "category": _ordered(tables["category"], [c.value for c in Category]),
        "risk": _ordered(tables["risk"], [*[r.value for r in RiskLevel], UNTRIAGED]),
        "track": _ordered(tables["track"], [*[t.value for t in LegalTrack], NO_TRACK]),
        "month": _ordered(tables["month"], [m.key for m in period.months(tz)]),
        "expert": sorted(tables["expert"].values(), key=lambda r: (-r.registered, r.label)),
    }
    return Figures(period=period, office_id=office_id, total=total, by=by)


def _new_row(dimension: str, key: str, office_names: dict[int, str]) -> Row:
    if dimension == "office":
        return Row(key, office_names.get(int(key), key))
    if dimension == "category":
        label = CATEGORY_LABELS.get(key)
        return Row(key, label or key, translate=label is not None)
    if dimension == "risk":
        label = RISK_LABELS.get(key) or (N_("Not triaged") if key == UNTRIAGED else None)
        return Row(key, label or key, translate=label is not None)
    if dimension == "track":
        label = TRACK_LABELS.get(key) or (N_("No session") if key == NO_TRACK else None)
        return Row(key, label or key, translate=label is not None)
    return Row(key, key)
