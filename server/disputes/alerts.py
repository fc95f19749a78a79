"""预警: a dispute graded high risk alerts its office's dashboard until someone responsible
acknowledges it (签收).

Raised in the transaction of the grading itself (registration's first assessment or
a triage), with the route the grade sets, a timeline line and an audit row, so an
alert exists exactly when its grading does. No HTTP here: callers pass an Actor.

One open alert per dispute: grading it high again while an alert is open adds
nothing, and neither does a triage that confirms a grade already alerted; a
dispute triaged down and later graded high again alerts afresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.audit import record
from server.auth import roles
from server.auth.roles import Actor
from server.disputes.lifecycle import ROUTE_FOR_RISK, Category, RiskLevel, Route, Trend
from server.disputes.risk import (
    Assessment,
    PartyFacts,
    Reason,
    assess,
    decode_reasons,
    encode_reasons,
    initial,
)
from server.disputes.schemas import PartyInput, ProposalParty
from server.errors import N_, Conflict, NotAllowed, NotFound
from server.models import BeatOffice, Dispute, DisputeEvent, RiskAlert, StaffUser, utcnow
from server.pii import age_on, birth_date_from_resident_id, normalise_id_number


class RaisedOn(StrEnum):
    REGISTRATION = "registration"
    TRIAGE = "triage"


RAISED_ON_LABELS: dict[str, str] = {
    RaisedOn.REGISTRATION: N_("At registration"),
    RaisedOn.TRIAGE: N_("At triage"),
}

#: Who set the first grade, as the audit trail names it.
GRADED_BY_LABELS: dict[str, str] = {
    "rule": N_("The rule"),
    "registrar": N_("The registrar"),
}

#: The route as the alert band says it, in the words of the station's own rule
#: (重点高危风险矛盾纠纷由分管所领导牵头处置 …).
ALERT_ROUTE_LABELS: dict[str, str] = {
    Route.DEPUTY_CHIEF: N_("To be handled under the lead of the deputy chief in charge"),
    Route.COMMUNITY_OFFICER: N_("To be handled directly by the community officer"),
    Route.COMMUNITY_TEAM: N_("To be handled by the community policing team"),
    Route.CASE_TEAM: N_("Handed to the case team"),
}


@dataclass(frozen=True)
class AlertView:
    """An alert with what a reader needs beside it: the dispute, the office, the reasons."""

    alert: RiskAlert
    dispute: Dispute
    office_name: str
    reasons: tuple[Reason, ...]
    acknowledged_by: str = ""


def party_facts(*, minor: bool, id_type: str, id_number: str, today: date) -> PartyFacts:
    """Whether a minor, and the age a resident ID number tells (nothing else is kept)."""
    age = None
    number = normalise_id_number(id_number)
    if id_type == "resident_id" and len(number) == 18:
        birth = birth_date_from_resident_id(number)
        if birth is not None and birth <= today:
            age = age_on(birth, today)
    return PartyFacts(minor=minor, age=age)


def proposal(
    *,
    trend: Trend,
    scale: int,
    category: Category,
    parties: Sequence[PartyInput | ProposalParty],
    today: date,
) -> Assessment:
    """The rule's proposal for a registration, saved or still being typed (the form asks)."""
    return assess(
        trend=trend,
        scale=scale,
        category=category,
        parties=[
            party_facts(minor=p.minor, id_type=p.id_type, id_number=p.id_number, today=today)
            for p in parties
        ],
    )


def should_raise(level: RiskLevel, *, has_open: bool, has_any: bool, previous: str | None) -> bool:
    """Whether a grading alerts: high, nothing open, and not a grade already alerted.

    ``previous`` is the dispute's triage grade before this one (None: never triaged,
    so an earlier alert can only have come from registration's assessment).
    """
    if level != RiskLevel.HIGH or has_open:
        return False
    if not has_any:
        return True
    return previous not in (None, RiskLevel.HIGH)


def _event(
    db: AsyncSession, actor: Actor, dispute: Dispute, kind: str, note: str, link_id: int | None
) -> None:
    assert dispute.id is not None
    db.add(
        DisputeEvent(
            dispute_id=dispute.id,
            actor_id=actor.user_id,
            kind=kind,
            note=note,
            link_kind="risk_alert" if link_id is not None else "",
            link_id=link_id,
        )
    )


async def _alerts_of(db: AsyncSession, dispute_id: int) -> list[RiskAlert]:
    rows = await db.exec(
        select(RiskAlert)
        .where(RiskAlert.dispute_id == dispute_id)
        .order_by(col(RiskAlert.raised_at).desc(), col(RiskAlert.id).desc())
    )
    return list(rows)


async def _raise(
    db: AsyncSession,
    actor: Actor,
    dispute: Dispute,
    *,
    on: RaisedOn,
    reasons: Sequence[Reason],
    route: str,
) -> RiskAlert:
    assert dispute.id is not None
    alert = RiskAlert(
        station_id=dispute.station_id,
        office_id=dispute.office_id,
        dispute_id=dispute.id,
        risk_level=RiskLevel.HIGH,
        route=route,
        raised_on=on,
        reasons=encode_reasons(reasons),
        raised_at=utcnow(),
        raised_by_id=actor.user_id,
    )
    db.add(alert)
    await db.flush()
    _event(db, actor, dispute, "risk_alert", route, alert.id)
    record(
        db,
        actor,
        "risk_alert.raise",
        object_type="risk_alert",
        object_id=alert.id,
        detail={"dispute": dispute.id, "risk": RiskLevel.HIGH.value, "route": route, "stage": on},
    )
    return alert


def assess_registration(
    dispute: Dispute, parties: Sequence[PartyInput], chosen: RiskLevel | None, *, today: date
) -> tuple[Assessment, Assessment]:
    """初判 of a registration: (the grade kept, the rule's proposal). The registrar's
    choice wins when made; the proposal is kept beside it for the audit trail."""
    proposed = proposal(
        trend=Trend(dispute.trend),
        scale=dispute.scale,
        category=Category(dispute.category),
        parties=parties,
        today=today,
    )
    return initial(chosen, proposed), proposed


async def alert_at_registration(
    db: AsyncSession, actor: Actor, dispute: Dispute, kept: Assessment, proposed: Assessment
) -> RiskAlert | None:
    """Audit the first grade, and alert at once when it is high.

    The dispute's own risk level, route and lead are left for triage to set.
    """
    record(
        db,
        actor,
        "dispute.assess_risk",
        object_type="dispute",
        object_id=dispute.id,
        detail={
            "risk": kept.level.value,
            "proposed": proposed.level.value,
            "graded_by": "registrar" if Reason.REGISTRAR in kept.reasons else "rule",
            "reasons": encode_reasons(kept.reasons),
        },
    )
    if not should_raise(kept.level, has_open=False, has_any=False, previous=None):
        return None
    return await _raise(
        db,
        actor,
        dispute,
        on=RaisedOn.REGISTRATION,
        reasons=kept.reasons,
        route=ROUTE_FOR_RISK[RiskLevel.HIGH],
    )


async def after_triage(
    db: AsyncSession, actor: Actor, dispute: Dispute, *, previous: str | None
) -> RiskAlert | None:
    """A triage that grades the dispute high alerts, unless that grade is already alerted.

    A crime handed to the case team leaves the office's mediation, so it does not alert
    the office's dashboard.
    """
    assert dispute.id is not None and dispute.risk_level is not None
    if dispute.route == Route.CASE_TEAM:
        return None
    existing = await _alerts_of(db, dispute.id)
    if not should_raise(
        RiskLevel(dispute.risk_level),
        has_open=any(a.acknowledged_at is None for a in existing),
        has_any=bool(existing),
        previous=previous,
    ):
        return None
    return await _raise(
        db,
        actor,
        dispute,
        on=RaisedOn.TRIAGE,
        reasons=(Reason.TRIAGE,),
        route=ROUTE_FOR_RISK[RiskLevel.HIGH],
    )


async def _views(db: AsyncSession, alerts: Sequence[RiskAlert]) -> list[AlertView]:
    if not alerts:
        return []
    dispute_ids = {a.dispute_id for a in alerts}
    office_ids = {a.office_id for a in alerts}
    user_ids = {a.acknowledged_by_id for a in alerts if a.acknowledged_by_id is not None}
    disputes = {
        d.id: d for d in await db.exec(select(Dispute).where(col(Dispute.id).in_(dispute_ids)))
    }
    offices = {
        o.id: o.name
        for o in await db.exec(select(BeatOffice).where(col(BeatOffice.id).in_(office_ids)))
    }
    names: dict[int | None, str] = {}
    if user_ids:
        names = {
            u.id: u.display_name
            for u in await db.exec(select(StaffUser).where(col(StaffUser.id).in_(user_ids)))
        }
    return [
        AlertView(
            alert=a,
            dispute=disputes[a.dispute_id],
            office_name=offices.get(a.office_id, ""),
            reasons=decode_reasons(a.reasons),
            acknowledged_by=names.get(a.acknowledged_by_id, ""),
        )
        for a in alerts
    ]


async def view_of(db: AsyncSession, alert: RiskAlert) -> AlertView:
    """One alert with its dispute, office and reasons."""
    (view,) = await _views(db, [alert])
    return view


async def open_alerts(db: AsyncSession, actor: Actor) -> list[AlertView]:
    """The open alerts the actor may see, newest first: an office's staff their own
    office's, chiefs and the clerk the station's; the administrator is refused."""
    roles.require(roles.can_read_disputes(actor))
    query = select(RiskAlert).where(
        RiskAlert.station_id == actor.station_id, col(RiskAlert.acknowledged_at).is_(None)
    )
    if actor.role in roles.OFFICE_ROLES:
        query = query.where(RiskAlert.office_id == actor.office_id)
    rows = await db.exec(query.order_by(col(RiskAlert.raised_at).desc(), col(RiskAlert.id).desc()))
    return await _views(db, list(rows))


async def alerts_of_dispute(db: AsyncSession, actor: Actor, dispute: Dispute) -> list[AlertView]:
    """Every alert of one dispute, newest first, open or acknowledged (for its page)."""
    assert dispute.id is not None
    roles.require(roles.can_read_alerts(actor, dispute.office_id))
    return await _views(db, await _alerts_of(db, dispute.id))


async def acknowledge(db: AsyncSession, actor: Actor, alert_id: int) -> RiskAlert:
    """签收: who took it and when. Compare-and-set on "still open", so of two people
    acknowledging at once one wins and the other is told who was first."""
    alert = await db.get(RiskAlert, alert_id)
    if alert is None or alert.station_id != actor.station_id:
        raise NotFound(N_("No such alert."))
    roles.require(roles.can_read_disputes(actor))
    if not roles.can_read_alerts(actor, alert.office_id):
        raise NotAllowed(N_("This alert belongs to another beat office."))
    roles.require(roles.can_acknowledge_alert(actor, alert.office_id))
    now = utcnow()
    result = await db.exec(
        update(RiskAlert)
        .where(col(RiskAlert.id) == alert_id, col(RiskAlert.acknowledged_at).is_(None))
        .values(acknowledged_at=now, acknowledged_by_id=actor.user_id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        await db.refresh(alert)
        first = (
            await db.get(StaffUser, alert.acknowledged_by_id)
            if alert.acknowledged_by_id is not None
            else None
        )
        raise Conflict(
            N_("This alert was already acknowledged by %(name)s."),
            params={"name": first.display_name if first is not None else ""},
        )
    # The row already says so; keep the loaded object in step without a second UPDATE.
    set_committed_value(alert, "acknowledged_at", now)
    set_committed_value(alert, "acknowledged_by_id", actor.user_id)
    dispute = await db.get(Dispute, alert.dispute_id)
    assert dispute is not None
    _event(db, actor, dispute, "risk_alert_acknowledged", "", alert.id)
    record(
        db,
        actor,
        "risk_alert.acknowledge",
        object_type="risk_alert",
        object_id=alert.id,
        detail={"dispute": alert.dispute_id},
    )
    return alert
