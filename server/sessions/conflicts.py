"""Soft conflicts of a session, and the experts suggested for one.

Booking, moving and the booking form all ask the same question: who is
already busy at that time, and which expert looks like a party? The answer
is a list of warnings, never a refusal; the booker confirms or fixes them
(``NeedsConfirmation``). The suggested experts are the other side of the same
question: those who are free and fit the dispute. The booking permission and
the loading of chosen experts live here too, as the form's early check needs
them as much as booking does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.auth import roles
from server.auth.roles import Actor
from server.disputes import service as disputes
from server.errors import N_, Conflict, NotAllowed, ValidationFailed
from server.experts import service as experts
from server.experts.schemas import normalise_phone
from server.models import Dispute, Expert, MediationSession, Party, StaffUser
from server.sessions.rules import SessionStatus

M = TypeVar("M", Expert, StaffUser)


@dataclass(frozen=True)
class Warning:
    """A soft conflict: an English msgid and its parameters, translated at the edge."""

    message: str
    params: dict[str, Any] = field(default_factory=dict)


class NeedsConfirmation(Conflict):
    """Soft conflicts were found and the booker has not confirmed them."""

    def __init__(self, warnings: list[Warning]) -> None:
        super().__init__(
            N_("Check the warnings below, then confirm to book anyway."),
            fields={"confirm_conflicts": "needed"},
        )
        self.warnings = warnings


def _require_book(actor: Actor) -> None:
    if not roles.can_book(actor):
        raise NotAllowed(N_("Your role does not allow booking sessions."))


async def _load_active(
    db: AsyncSession, actor: Actor, model: type[M], ids: list[int], field: str, message: str
) -> list[M]:
    """Active records of the actor's station, in the order given, or a refusal naming ``field``."""
    found: list[M] = []
    for record_id in dict.fromkeys(ids):
        record = await db.get(model, record_id)
        if record is None or record.station_id != actor.station_id or not record.active:
            raise ValidationFailed(message, fields={field: "unknown"})
        found.append(record)
    return found


async def _load_experts(db: AsyncSession, actor: Actor, ids: list[int]) -> list[Expert]:
    return await _load_active(
        db, actor, Expert, ids, "expert_ids", N_("Choose active experts from the pool.")
    )


async def _overlapping(
    db: AsyncSession,
    station_id: int,
    starts_at: datetime,
    ends_at: datetime,
    exclude_id: int | None,
) -> list[MediationSession]:
    query = select(MediationSession).where(
        MediationSession.station_id == station_id,
        MediationSession.status == SessionStatus.SCHEDULED,
        col(MediationSession.starts_at) < ends_at,
        col(MediationSession.ends_at) > starts_at,
    )
    if exclude_id is not None:
        query = query.where(col(MediationSession.id) != exclude_id)
    return list(await db.exec(query))


async def conflicts_for(
    db: AsyncSession,
    actor: Actor,
    *,
    starts_at: datetime,
    ends_at: datetime,
    presiding_officer_id: int,
    expert_list: list[Expert],
    parties: list[Party],
    exclude_session_id: int | None = None,
) -> list[Warning]:
    """Soft conflicts of a planned session; empty when everything is clear."""
    warnings: list[Warning] = []
    busy = await experts.busy_expert_ids(
        db, actor.station_id, starts_at, ends_at, exclude_session_id=exclude_session_id
    )
    for expert in expert_list:
        if expert.id in busy:
            warnings.append(
                Warning(
                    N_("%(name)s is already booked for another session at this time."),
                    {"name": expert.name},
                )
            )
    party_phones = {normalise_phone(p.phone) for p in parties if p.phone}
    party_names = {p.name for p in parties}
    for expert in expert_list:
        if expert.phone in party_phones or expert.name in party_names:
            warnings.append(
                Warning(
                    N_("Expert %(name)s looks like a party to this dispute (same name or phone)."),
                    {"name": expert.name},
                )
            )
    for other in await _overlapping(db, actor.station_id, starts_at, ends_at, exclude_session_id):
        if other.presiding_officer_id == presiding_officer_id:
            warnings.append(
                Warning(N_("The presiding officer already presides another session at this time."))
            )
            break
    return warnings


async def planned_conflicts(
    db: AsyncSession,
    actor: Actor,
    dispute_id: int,
    *,
    starts_at: datetime,
    ends_at: datetime,
    presiding_officer_id: int | None,
    expert_ids: list[int],
) -> list[Warning]:
    """The soft conflicts of a booking still being filled in, for the form to show early.

    The same check that booking runs (``conflicts_for``), on what is chosen so far: a
    presiding officer not chosen yet simply has no conflict.
    """
    await disputes.get_dispute(db, actor, dispute_id)
    _require_book(actor)
    expert_list = await _load_experts(db, actor, expert_ids)
    return await conflicts_for(
        db,
        actor,
        starts_at=starts_at,
        ends_at=ends_at,
        presiding_officer_id=presiding_officer_id or 0,
        expert_list=expert_list,
        parties=await disputes.parties_of(db, dispute_id),
    )


async def suggested_experts(
    db: AsyncSession, actor: Actor, dispute: Dispute, starts_at: datetime, ends_at: datetime
) -> list[experts.ExpertView]:
    """Active experts free at that time whose specialty is the dispute's category,
    those who serve the dispute's beat office first."""
    views = await experts.list_experts(
        db, actor, specialty=dispute.category, free_from=starts_at, free_until=ends_at
    )
    return sorted(views, key=lambda v: (dispute.office_id not in v.office_ids, v.expert.id or 0))
