"""Managing the expert pool, and finding who is free and suited for a session."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from server.audit import record
from server.auth import roles
from server.auth.roles import Actor
from server.errors import N_, Conflict, NotAllowed, NotFound, ValidationFailed
from server.experts.schemas import ExpertInput
from server.models import (
    BeatOffice,
    Expert,
    ExpertOffice,
    ExpertSpecialty,
    Invitation,
    MediationSession,
    utcnow,
)

#: Session statuses that hold an expert's time.
BOOKED_STATUSES = ("scheduled",)


@dataclass
class ExpertView:
    """An expert with the specialties and offices that live in link tables."""

    expert: Expert
    specialties: list[str] = field(default_factory=list)
    office_ids: list[int] = field(default_factory=list)


def _require_read(actor: Actor) -> None:
    if not roles.can_read_experts(actor):
        raise NotAllowed(N_("Your role does not allow this."))


def _require_manage(actor: Actor) -> None:
    if not roles.can_manage_experts(actor):
        raise NotAllowed(N_("Only officers and chiefs manage the expert pool."))


async def _views(db: AsyncSession, experts: Sequence[Expert]) -> list[ExpertView]:
    ids = [e.id for e in experts if e.id is not None]
    views = {e.id: ExpertView(e) for e in experts}
    if not ids:
        return []
    for spec in await db.exec(
        select(ExpertSpecialty).where(col(ExpertSpecialty.expert_id).in_(ids))
    ):
        views[spec.expert_id].specialties.append(spec.category)
    for link in await db.exec(select(ExpertOffice).where(col(ExpertOffice.expert_id).in_(ids))):
        views[link.expert_id].office_ids.append(link.office_id)
    return [views[e.id] for e in experts]


async def busy_expert_ids(
    db: AsyncSession,
    station_id: int,
    starts_at: datetime,
    ends_at: datetime,
    *,
    exclude_session_id: int | None = None,
) -> set[int]:
    """Experts invited (with a live invitation) to a booked session overlapping the span."""
    query = (
        select(Invitation.expert_id)
        .join(MediationSession, col(MediationSession.id) == col(Invitation.session_id))
        .where(
            MediationSession.station_id == station_id,
            col(MediationSession.status).in_(BOOKED_STATUSES),
            col(MediationSession.starts_at) < ends_at,
            col(MediationSession.ends_at) > starts_at,
            col(Invitation.expert_id).is_not(None),
            col(Invitation.revoked_at).is_(None),
        )
    )
    if exclude_session_id is not None:
        query = query.where(col(MediationSession.id) != exclude_session_id)
    return {expert_id for expert_id in await db.exec(query) if expert_id is not None}


async def list_experts(
    db: AsyncSession,
    actor: Actor,
    *,
    kind: str | None = None,
    specialty: str | None = None,
    office_id: int | None = None,
    free_from: datetime | None = None,
    free_until: datetime | None = None,
    q: str = "",
    active_only: bool = False,
) -> list[ExpertView]:
    _require_read(actor)
    query = select(Expert).where(Expert.station_id == actor.station_id)
    if kind:
        query = query.where(Expert.kind == kind)
    if specialty:
        query = query.where(
            col(Expert.id).in_(
                select(ExpertSpecialty.expert_id).where(ExpertSpecialty.category == specialty)
            )
        )
    if office_id:
        query = query.where(
            col(Expert.id).in_(
                select(ExpertOffice.expert_id).where(ExpertOffice.office_id == office_id)
            )
        )
    if q:
        match = col(Expert.name).contains(q, autoescape=True) | col(Expert.organisation).contains(
            q, autoescape=True
        )
        if roles.can_manage_experts(actor):
            # Only those who see phones in full may search by them: a masked
            # number must not be recoverable digit by digit through the search.
            match = match | col(Expert.phone).contains(q, autoescape=True)
        query = query.where(match)
    if active_only or free_from is not None:
        query = query.where(col(Expert.active).is_(True))
    experts = list(await db.exec(query.order_by(col(Expert.kind), col(Expert.id))))
    if free_from is not None and free_until is not None:
        busy = await busy_expert_ids(db, actor.station_id, free_from, free_until)
        experts = [e for e in experts if e.id not in busy]
    return await _views(db, experts)


async def get_expert(db: AsyncSession, actor: Actor, expert_id: int) -> ExpertView:
    _require_read(actor)
    expert = await db.get(Expert, expert_id)
    if expert is None or expert.station_id != actor.station_id:
        raise NotFound(N_("No such expert."))
    return (await _views(db, [expert]))[0]


async def hold_expert(db: AsyncSession, station_id: int, expert_id: int) -> None:
    """Take the expert's row for this transaction before checking what they declared.

    Overlap checks read the expert's other windows or slots and then insert: two people
    adding clashing entries at once would both pass. Writing the expert's row first makes
    the second wait for the first to commit (a row lock on PostgreSQL, the write lock on
    SQLite), so its check sees the first entry and refuses. It must come before any read
    in the transaction: a SQLite reader's snapshot could not be upgraded to a write.
    """
    await db.exec(
        update(Expert)
        .where(col(Expert.id) == expert_id, col(Expert.station_id) == station_id)
        .values(updated_at=utcnow())
    )


async def _check_offices(db: AsyncSession, actor: Actor, office_ids: list[int]) -> None:
    for office_id in office_ids:
        office = await db.get(BeatOffice, office_id)
        if office is None or office.station_id != actor.station_id:
            raise ValidationFailed(
                N_("Choose one of your station's beat offices."), fields={"office_ids": "unknown"}
            )


async def phone_owner(db: AsyncSession, station_id: int, phone: str) -> Expert | None:
    query = select(Expert).where(Expert.station_id == station_id, Expert.phone == phone)
    return (await db.exec(query)).first()


async def _unique_phone(db: AsyncSession, actor: Actor, phone: str, exclude_id: int | None) -> None:
    owner = await phone_owner(db, actor.station_id, phone)
    if owner is not None and owner.id != exclude_id:
        raise Conflict(
            N_("Another expert (%(name)s) has this phone number."),
            params={"name": owner.name},
            fields={"phone": "duplicate"},
        )


async def _set_links(db: AsyncSession, expert_id: int, data: ExpertInput) -> None:
    await db.exec(delete(ExpertSpecialty).where(col(ExpertSpecialty.expert_id) == expert_id))
    await db.exec(delete(ExpertOffice).where(col(ExpertOffice.expert_id) == expert_id))
    for category in data.specialties:
        db.add(ExpertSpecialty(expert_id=expert_id, category=category))
    for office_id in data.office_ids:
        db.add(ExpertOffice(expert_id=expert_id, office_id=office_id))


async def create_expert(
    db: AsyncSession, actor: Actor, data: ExpertInput, *, audit: bool = True
) -> Expert:
    _require_manage(actor)
    await _check_offices(db, actor, data.office_ids)
    await _unique_phone(db, actor, data.phone, None)
    expert = Expert(
        station_id=actor.station_id,
        name=data.name,
        kind=data.kind,
        organisation=data.organisation,
        phone=data.phone,
        active=data.active,
        notes=data.notes,
    )
    db.add(expert)
    await db.flush()
    assert expert.id is not None
    await _set_links(db, expert.id, data)
    if audit:
        record(db, actor, "expert.create", object_type="expert", object_id=expert.id)
    return expert


async def update_expert(
    db: AsyncSession, actor: Actor, expert_id: int, data: ExpertInput
) -> Expert:
    _require_manage(actor)
    expert = (await get_expert(db, actor, expert_id)).expert
    await _check_offices(db, actor, data.office_ids)
    await _unique_phone(db, actor, data.phone, expert_id)
    for key in ("name", "kind", "organisation", "phone", "active", "notes"):
        setattr(expert, key, getattr(data, key))
    expert.updated_at = utcnow()
    await _set_links(db, expert_id, data)
    record(db, actor, "expert.update", object_type="expert", object_id=expert_id)
    return expert


async def set_active(db: AsyncSession, actor: Actor, expert_id: int, active: bool) -> Expert:
    """Deactivating keeps the record: past sessions and agreements still name the expert."""
    _require_manage(actor)
    expert = (await get_expert(db, actor, expert_id)).expert
    expert.active = active
    expert.updated_at = utcnow()
    record(
        db,
        actor,
        "expert.activate" if active else "expert.deactivate",
        object_type="expert",
        object_id=expert_id,
    )
    return expert


async def delete_expert(db: AsyncSession, actor: Actor, expert_id: int) -> None:
    """Only an expert no session ever referred to can be deleted (a typo, say)."""
    _require_manage(actor)
    expert = (await get_expert(db, actor, expert_id)).expert
    used = (await db.exec(select(Invitation.id).where(Invitation.expert_id == expert_id))).first()
    if used is not None:
        raise Conflict(
            N_("This expert was invited to a session and can only be deactivated."),
        )
    await db.exec(delete(ExpertSpecialty).where(col(ExpertSpecialty.expert_id) == expert_id))
    await db.exec(delete(ExpertOffice).where(col(ExpertOffice.expert_id) == expert_id))
    await db.delete(expert)
    record(db, actor, "expert.delete", object_type="expert", object_id=expert_id)
