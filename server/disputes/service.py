"""Dispute register operations. No HTTP here: callers pass an Actor and inputs.

Every operation runs inside the caller's transaction, checks permissions
first, and writes its timeline entry and audit row in that same transaction,
so a refusal or a crash leaves nothing half-written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.audit import record
from server.auth import roles
from server.auth.roles import Actor, Role
from server.disputes import alerts
from server.disputes.lifecycle import (
    OPEN_STATUSES,
    REOPEN_FROM,
    REOPEN_TO,
    TRIAGE_FROM,
    RiskLevel,
    Status,
    can_transition,
    route_for,
)
from server.disputes.schemas import (
    DisputeFilter,
    DisputeInput,
    PartyInput,
    RevealInput,
    TransitionInput,
    TriageInput,
)
from server.errors import N_, Conflict, IllegalTransition, NotAllowed, NotFound, ValidationFailed
from server.local_time import local_today
from server.models import BeatOffice, Dispute, DisputeEvent, Party, StaffUser, Station, utcnow
from server.pii import PiiVault, age_on, birth_date_from_resident_id, mask_id_number
from server.versioned import claim_next_version

MAX_FUTURE = timedelta(minutes=10)
MAX_PAST = timedelta(days=365 * 20)
#: Said by the service and, for a form with other gaps too, by the registration page.
NO_OFFICE = N_("Choose a beat office.")


def _aware(value: datetime, tz: ZoneInfo) -> datetime:
    """Form input is local wall-clock time; store it as UTC."""
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


async def _office_in_station(db: AsyncSession, station_id: int, office_id: int) -> BeatOffice:
    office = await db.get(BeatOffice, office_id)
    if office is None or office.station_id != station_id or not office.active:
        raise ValidationFailed(
            N_("Choose one of your station's beat offices."), fields={"office_id": "unknown"}
        )
    return office


async def get_dispute(db: AsyncSession, actor: Actor, dispute_id: int) -> Dispute:
    """The dispute, if the actor may see it. Another station's is simply not found."""
    dispute = await db.get(Dispute, dispute_id)
    if dispute is None or dispute.station_id != actor.station_id:
        raise NotFound(N_("No such dispute."))
    if not roles.can_see_office(actor, dispute.office_id):
        raise NotAllowed(N_("This dispute belongs to another beat office."))
    return dispute


def _add_event(
    db: AsyncSession,
    dispute: Dispute,
    actor: Actor,
    kind: str,
    *,
    from_status: str | None = None,
    to_status: str | None = None,
    note: str = "",
    link_kind: str = "",
    link_id: int | None = None,
) -> None:
    assert dispute.id is not None
    db.add(
        DisputeEvent(
            dispute_id=dispute.id,
            actor_id=actor.user_id,
            kind=kind,
            from_status=from_status,
            to_status=to_status,
            note=note,
            link_kind=link_kind,
            link_id=link_id,
        )
    )


def note_on_timeline(
    db: AsyncSession,
    actor: Actor,
    dispute: Dispute,
    kind: str,
    note: str = "",
    *,
    link_kind: str = "",
    link_id: int | None = None,
) -> None:
    """A line on the dispute's timeline for what another part of the case record did
    (a spot check's finding, a court filing). The dispute itself does not change, so its
    version stays: someone editing the dispute meanwhile is not refused for it."""
    _add_event(db, dispute, actor, kind, note=note, link_kind=link_kind, link_id=link_id)


def _build_party(dispute_id: int, data: PartyInput, vault: PiiVault, today: date) -> Party:
    minor = data.minor
    encrypted = masked = digest = ""
    if data.id_number:
        encrypted = vault.encrypt(data.id_number)
        masked = mask_id_number(data.id_number)
        digest = vault.digest(f"{data.id_type}:{data.id_number}")
        if data.id_type == "resident_id":
            birth = birth_date_from_resident_id(data.id_number)
            if birth is not None and age_on(birth, today) < 18:
                minor = True
    return Party(
        dispute_id=dispute_id,
        name=data.name,
        role=data.role,
        id_type=data.id_type,
        id_number_encrypted=encrypted,
        id_number_masked=masked,
        id_number_digest=digest,
        phone=data.phone,
        address=data.address,
        minor=minor,
        represents_id=data.represents_party_id,
    )


async def register(
    db: AsyncSession, actor: Actor, data: DisputeInput, *, vault: PiiVault, tz: ZoneInfo
) -> Dispute:
    """登记建档: create the dispute with its parties and its first timeline entry."""
    roles.require(roles.can_register(actor))
    if actor.role in roles.OFFICE_ROLES:
        if data.office_id not in (None, actor.office_id):
            raise NotAllowed(N_("You can register disputes only for your own beat office."))
        office_id = actor.office_id
    else:
        office_id = data.office_id
    if office_id is None:
        raise ValidationFailed(NO_OFFICE, fields={"office_id": "missing"})
    await _office_in_station(db, actor.station_id, office_id)
    occurred = _aware(data.occurred_at, tz)
    now = utcnow()
    if occurred > now + MAX_FUTURE:
        raise ValidationFailed(
            N_("The time it happened cannot be in the future."), fields={"occurred_at": "future"}
        )
    if occurred < now - MAX_PAST:
        raise ValidationFailed(
            N_("The time it happened is too far in the past."), fields={"occurred_at": "too_old"}
        )
    if any(
        p.represents_party_id is not None or p.role not in ("applicant", "respondent")
        for p in data.parties
    ):
        raise ValidationFailed(
            N_("Agents and guardians are added on the dispute page once the party exists."),
            fields={"parties": "represents"},
        )
    station = await db.get(Station, actor.station_id)
    assert station is not None
    dispute = Dispute(
        station_id=actor.station_id,
        office_id=office_id,
        title=data.title,
        category=data.category,
        cause=data.cause,
        occurred_at=occurred,
        place=data.place,
        scale=data.scale,
        people_involved=data.people_involved,
        trend=data.trend,
        development=data.development,
        description=data.description,
        source=data.source,
        status=Status.REGISTERED,
        created_by_id=actor.user_id,
        created_at=now,
        updated_at=now,
    )
    db.add(dispute)
    await db.flush()
    assert dispute.id is not None
    dispute.reference = f"{station.short_name}{now.astimezone(tz).year}-{dispute.id:05d}"
    today = now.astimezone(tz).date()
    for party in data.parties:
        db.add(_build_party(dispute.id, party, vault, today))
    # 初判 rides on the registration's own timeline line (note: the grade, link_kind: who
    # graded it); it is not triage, so the dispute's risk level stays unset.
    kept, proposed = alerts.assess_registration(
        dispute, data.parties, data.initial_risk, today=today
    )
    _add_event(
        db,
        dispute,
        actor,
        "registered",
        to_status=Status.REGISTERED,
        note=kept.level,
        link_kind="registrar" if data.initial_risk is not None else "rule",
    )
    record(db, actor, "dispute.register", object_type="dispute", object_id=dispute.id)
    await alerts.alert_at_registration(db, actor, dispute, kept, proposed)
    await db.flush()
    return dispute


async def add_party(
    db: AsyncSession,
    actor: Actor,
    dispute_id: int,
    data: PartyInput,
    *,
    vault: PiiVault,
    tz: ZoneInfo,
) -> Party:
    dispute = await get_dispute(db, actor, dispute_id)
    roles.require(roles.can_edit_parties(actor))
    if dispute.status == Status.CLOSED:
        raise IllegalTransition(N_("A closed dispute cannot be changed."))
    if data.represents_party_id is not None:
        principal = await db.get(Party, data.represents_party_id)
        if principal is None or principal.dispute_id != dispute_id:
            raise ValidationFailed(
                N_("Choose a party of this dispute."), fields={"represents_party_id": "unknown"}
            )
    elif data.role in ("agent", "guardian"):
        raise ValidationFailed(
            N_("Say whom the agent or guardian acts for."),
            fields={"represents_party_id": "missing"},
        )
    count = (
        await db.exec(select(func.count()).select_from(Party).where(Party.dispute_id == dispute_id))
    ).one()
    if count >= 20:
        raise ValidationFailed(
            N_("A dispute can have at most 20 people."), fields={"name": "limit"}
        )
    party = _build_party(dispute_id, data, vault, local_today(tz))
    db.add(party)
    await db.flush()
    await _touch(db, dispute)
    _add_event(db, dispute, actor, "party_added", note=data.name)
    record(db, actor, "party.add", object_type="party", object_id=party.id)
    return party


async def _touch(db: AsyncSession, dispute: Dispute) -> None:
    """Claim the next version in the database itself (optimistic locking).

    The conditional UPDATE is what makes two concurrent changes safe on any
    database: the second finds the version moved on and is refused.
    """
    if not await claim_next_version(db, dispute, dispute.version, {"updated_at": utcnow()}):
        raise Conflict(N_("Someone else changed this dispute meanwhile; reload and try again."))


async def triage(db: AsyncSession, actor: Actor, dispute_id: int, data: TriageInput) -> Dispute:
    """分流: grade the risk, derive the route, name who leads."""
    dispute = await get_dispute(db, actor, dispute_id)
    roles.require(roles.can_triage(actor))
    current = Status(dispute.status)
    if current not in TRIAGE_FROM:
        raise IllegalTransition(
            N_("A dispute in status “%(status)s” cannot be triaged."),
            params={"status": current.value},
        )
    assignee = await db.get(StaffUser, data.assignee_id)
    if assignee is None or assignee.station_id != actor.station_id or not assignee.active:
        raise ValidationFailed(
            N_("Choose an active member of staff."), fields={"assignee_id": "unknown"}
        )
    if assignee.role in (Role.ADMIN, Role.CLERK):
        raise ValidationFailed(
            N_("Administrators and clerks cannot lead a dispute."), fields={"assignee_id": "role"}
        )
    if assignee.role in roles.OFFICE_ROLES and assignee.office_id != dispute.office_id:
        raise ValidationFailed(
            N_("The assignee must work at the dispute's beat office."),
            fields={"assignee_id": "office"},
        )
    if data.risk_level == RiskLevel.HIGH and not data.criminal and assignee.role != Role.CHIEF:
        raise ValidationFailed(
            N_("A high-risk dispute is led by the chief or deputy chief."),
            fields={"assignee_id": "needs_chief"},
        )
    route = route_for(data.risk_level, criminal=data.criminal)
    target = (
        Status.REFERRED
        if data.criminal
        else (Status.TRIAGED if current == Status.REGISTERED else current)
    )
    if target != current and not can_transition(current, target):
        raise IllegalTransition(
            N_("A dispute in status “%(status)s” cannot be handed to the case team."),
            params={"status": current.value},
        )
    previous = dispute.risk_level
    dispute.risk_level = data.risk_level
    dispute.route = route
    dispute.assignee_id = assignee.id
    dispute.triage_reason = data.reason
    dispute.status = target
    await _touch(db, dispute)
    _add_event(
        db,
        dispute,
        actor,
        "triaged",
        from_status=current,
        to_status=target,
        note=data.reason,
    )
    record(
        db,
        actor,
        "dispute.triage",
        object_type="dispute",
        object_id=dispute.id,
        detail={"risk": data.risk_level.value, "route": route.value, "assignee": assignee.id},
    )
    await alerts.after_triage(db, actor, dispute, previous=previous)
    return dispute


async def transition(
    db: AsyncSession, actor: Actor, dispute_id: int, data: TransitionInput
) -> Dispute:
    """Move along the closed loop; anything not in the transition table is refused."""
    dispute = await get_dispute(db, actor, dispute_id)
    roles.require(roles.can_change_status(actor))
    if data.expected_version is not None and data.expected_version != dispute.version:
        raise Conflict(N_("Someone else changed this dispute meanwhile; reload and try again."))
    if data.to_status == Status.TRIAGED:
        raise IllegalTransition(N_("Use the triage form to grade and route a dispute."))
    await transition_internal(db, actor, dispute, data.to_status, data.note)
    return dispute


async def transition_internal(
    db: AsyncSession, actor: Actor, dispute: Dispute, target: Status, note: str
) -> None:
    """The one place a status changes: checked against the table, timed, audited.

    Also used by other services (booking a session moves a triaged dispute
    into mediation); callers have already checked permissions.
    """
    current = Status(dispute.status)
    if not can_transition(current, target):
        raise IllegalTransition(
            N_("A dispute cannot go from “%(from)s” to “%(to)s”."),
            params={"from": current.value, "to": target.value},
        )
    dispute.status = target
    await _touch(db, dispute)
    _add_event(
        db, dispute, actor, "status_changed", from_status=current, to_status=target, note=note
    )
    record(
        db,
        actor,
        "dispute.transition",
        object_type="dispute",
        object_id=dispute.id,
        detail={"from": current.value, "to": target.value},
    )


async def reopen(
    db: AsyncSession,
    actor: Actor,
    dispute: Dispute,
    target: Status,
    note: str,
    *,
    link_kind: str,
    link_id: int | None,
    kind: str = "reopened",
) -> None:
    """Reopen a dispute thought resolved, saying what found it flaring up.

    Outside the transition table on purpose: a closed dispute has no way
    forward except this one, and the timeline event (kind ``reopened``, linked to
    the follow-up or spot check) is what the station's figures count. A police
    mediation that was not performed goes back for punishment under its own
    kind (``returned_for_punishment``), so it is not counted as a flare-up.
    """
    current = Status(dispute.status)
    if current not in REOPEN_FROM or target not in REOPEN_TO:
        raise IllegalTransition(
            N_("A dispute cannot go from “%(from)s” to “%(to)s”."),
            params={"from": current.value, "to": target.value},
        )
    dispute.status = target
    await _touch(db, dispute)
    _add_event(
        db,
        dispute,
        actor,
        kind,
        from_status=current,
        to_status=target,
        note=note,
        link_kind=link_kind,
        link_id=link_id,
    )
    record(
        db,
        actor,
        "dispute.reopen",
        object_type="dispute",
        object_id=dispute.id,
        detail={"from": current.value, "to": target.value, "by": link_kind, "id": link_id},
    )


async def reveal_id_number(
    db: AsyncSession, actor: Actor, party_id: int, data: RevealInput, *, vault: PiiVault
) -> str:
    """The full ID number, for a stated reason that lands in the audit trail."""
    party = await db.get(Party, party_id)
    if party is None:
        raise NotFound(N_("No such person."))
    await get_dispute(db, actor, party.dispute_id)
    roles.require(roles.can_reveal_id_number(actor))
    if not party.id_number_encrypted:
        raise NotFound(N_("No ID number was recorded for this person."))
    record(
        db,
        actor,
        "party.reveal_id_number",
        object_type="party",
        object_id=party.id,
        detail={"reason": data.reason, "dispute": party.dispute_id},
    )
    return vault.decrypt(party.id_number_encrypted)


def _visible(actor: Actor):  # type: ignore[no-untyped-def]
    roles.require(roles.can_read_disputes(actor))
    query = select(Dispute).where(Dispute.station_id == actor.station_id)
    if actor.role in roles.OFFICE_ROLES:
        query = query.where(Dispute.office_id == actor.office_id)
    return query


async def list_disputes(
    db: AsyncSession, actor: Actor, flt: DisputeFilter, *, tz: ZoneInfo
) -> tuple[list[Dispute], int]:
    """The register, newest first, filtered and paged; only what the actor may see."""
    query = _visible(actor)
    if flt.q:
        party_match = select(Party.dispute_id).where(
            col(Party.name).contains(flt.q, autoescape=True)
        )
        query = query.where(
            or_(
                col(Dispute.title).contains(flt.q, autoescape=True),
                col(Dispute.reference).contains(flt.q, autoescape=True),
                col(Dispute.place).contains(flt.q, autoescape=True),
                col(Dispute.cause).contains(flt.q, autoescape=True),
                col(Dispute.id).in_(party_match),
            )
        )
    if flt.office_id is not None:
        query = query.where(Dispute.office_id == flt.office_id)
    if flt.category is not None:
        query = query.where(Dispute.category == flt.category)
    if flt.risk_level is not None:
        query = query.where(Dispute.risk_level == flt.risk_level)
    if flt.status is not None:
        query = query.where(Dispute.status == flt.status)
    if flt.open_only:
        query = query.where(col(Dispute.status).in_(list(OPEN_STATUSES)))
    if flt.date_from is not None:
        start = datetime.combine(flt.date_from, time.min, tzinfo=tz)
        query = query.where(Dispute.created_at >= start)
    if flt.date_to is not None:
        end = datetime.combine(flt.date_to + timedelta(days=1), time.min, tzinfo=tz)
        query = query.where(Dispute.created_at < end)
    total = (await db.exec(select(func.count()).select_from(query.subquery()))).one()
    rows = await db.exec(
        query.order_by(col(Dispute.created_at).desc(), col(Dispute.id).desc())
        .offset((flt.page - 1) * flt.per_page)
        .limit(flt.per_page)
    )
    return list(rows), total


async def parties_of(db: AsyncSession, dispute_id: int) -> list[Party]:
    rows = await db.exec(
        select(Party).where(Party.dispute_id == dispute_id).order_by(col(Party.id))
    )
    return list(rows)


async def timeline_of(db: AsyncSession, dispute_id: int) -> list[DisputeEvent]:
    rows = await db.exec(
        select(DisputeEvent)
        .where(DisputeEvent.dispute_id == dispute_id)
        .order_by(col(DisputeEvent.at), col(DisputeEvent.id))
    )
    return list(rows)


@dataclass(frozen=True)
class Dashboard:
    """What the case desk sees first: the load by risk and office, and today's list."""

    by_risk: dict[str, int]
    by_office: list[tuple[BeatOffice, int]]
    untriaged: list[Dispute]
    high_risk: list[Dispute]
    escalating: list[Dispute]
    mine: list[Dispute]
    stale: list[Dispute]
    registered_today: int


STALE_AFTER = timedelta(days=7)


async def dashboard(db: AsyncSession, actor: Actor, *, tz: ZoneInfo) -> Dashboard:
    open_query = _visible(actor).where(col(Dispute.status).in_(list(OPEN_STATUSES)))
    open_disputes = list(await db.exec(open_query.order_by(col(Dispute.created_at).desc())))
    by_risk = {"high": 0, "attention": 0, "general": 0, "untriaged": 0}
    per_office: dict[int, int] = {}
    for d in open_disputes:
        by_risk[d.risk_level or "untriaged"] += 1
        per_office[d.office_id] = per_office.get(d.office_id, 0) + 1
    office_query = select(BeatOffice).where(BeatOffice.station_id == actor.station_id)
    if actor.role in roles.OFFICE_ROLES:
        office_query = office_query.where(BeatOffice.id == actor.office_id)
    offices = list(await db.exec(office_query.order_by(col(BeatOffice.id))))
    now = utcnow()
    start_of_day = datetime.combine(now.astimezone(tz).date(), time.min, tzinfo=tz)
    active = [d for d in open_disputes if d.status != Status.FOLLOW_UP]
    return Dashboard(
        by_risk=by_risk,
        by_office=[(o, per_office.get(o.id or 0, 0)) for o in offices],
        untriaged=[d for d in open_disputes if d.status == Status.REGISTERED],
        high_risk=[d for d in open_disputes if d.risk_level == RiskLevel.HIGH],
        escalating=[d for d in active if d.trend in ("escalating", "urgent")],
        mine=[d for d in open_disputes if d.assignee_id == actor.user_id],
        stale=[d for d in active if d.updated_at < now - STALE_AFTER],
        registered_today=(
            await db.exec(
                select(func.count()).select_from(
                    _visible(actor).where(Dispute.created_at >= start_of_day).subquery()
                )
            )
        ).one(),
    )
