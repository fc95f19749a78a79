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
from enum import StrEnum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.auth import roles
from server.auth.roles import Actor
from server.disputes import service as disputes
from server.errors import N_, Conflict, NotAllowed, ValidationFailed
from server.experts import availability, relations, rota
from server.experts import service as experts
from server.experts.availability import FreeState
from server.experts.relations import RELATION_LABELS
from server.experts.schemas import normalise_phone
from server.models import Dispute, Expert, MediationSession, Party, StaffUser
from server.sessions.rules import SessionStatus

M = TypeVar("M", Expert, StaffUser)


@dataclass(frozen=True)
class Warning:
    """A soft conflict: an English msgid and its parameters, translated at the edge."""

    message: str
    params: dict[str, Any] = field(default_factory=dict)
    #: Parameters that are msgids themselves (a relation's label), translated with it.
    translated: tuple[str, ...] = ()


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
    dispute: Dispute,
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
    declared = await relations.relations_of(db, [e.id for e in expert_list if e.id is not None])
    text = relations.dispute_text(dispute)
    for expert in expert_list:
        for match in relations.relation_matches(declared.get(expert.id or 0, []), parties, text):
            warnings.append(
                Warning(
                    N_("%(name)s declared a relation (%(relation)s) to %(party)s."),
                    {
                        "name": expert.name,
                        "relation": RELATION_LABELS.get(match.relation.relation, "other"),
                        "party": match.party_name,
                    },
                    translated=("relation",),
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
    dispute = await disputes.get_dispute(db, actor, dispute_id)
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
        dispute=dispute,
    )


class Reason(StrEnum):
    """Why an expert is suggested (the first three, in that order) or not (the rest)."""

    ON_DUTY = "on_duty"
    FREE = "free"
    UNDECLARED = "undeclared"
    FITS = "fits"  # no time chosen yet: the specialty fits
    BUSY = "busy"
    RELATION = "relation"
    NOT_FREE = "not_free"
    SPECIALTY = "specialty"


REASON_LABELS: dict[str, str] = {
    Reason.ON_DUTY: N_("On duty (值班) at this beat office then"),
    Reason.FREE: N_("Free at that time by declared availability"),
    Reason.UNDECLARED: N_("No availability declared"),
    Reason.FITS: N_("Specialty fits; choose a time to see who is free"),
    Reason.BUSY: N_("Booked elsewhere at this time"),
    Reason.RELATION: N_("Declared a relation to a party"),
    Reason.NOT_FREE: N_("Declared not free at that time"),
    Reason.SPECIALTY: N_("Specialty does not fit this dispute"),
}

SUGGESTED_REASONS = (Reason.ON_DUTY, Reason.FREE, Reason.UNDECLARED, Reason.FITS)


@dataclass(frozen=True)
class ExpertChoice:
    """An expert as the booking form offers them, with why: ``reasons[0]`` decides whether
    they are suggested and where; any further reasons say what else stands against them."""

    view: experts.ExpertView
    reasons: tuple[Reason, ...]
    #: The availability rule's own wording (e.g. "Outside the declared weekly hours").
    detail: str = ""

    @property
    def reason(self) -> Reason:
        return self.reasons[0]

    @property
    def suggested(self) -> bool:
        return self.reason in SUGGESTED_REASONS


@dataclass(frozen=True)
class ExpertChoices:
    suggested: list[ExpertChoice]
    others: list[ExpertChoice]


def _against(busy: bool, related: bool, state: FreeState | None, fits: bool) -> tuple[Reason, ...]:
    found: list[Reason] = []
    if busy:
        found.append(Reason.BUSY)
    if related:
        found.append(Reason.RELATION)
    if state == FreeState.NOT_FREE:
        found.append(Reason.NOT_FREE)
    if not fits:
        found.append(Reason.SPECIALTY)
    return tuple(found)


async def expert_choices(
    db: AsyncSession,
    actor: Actor,
    dispute: Dispute,
    span: tuple[datetime, datetime] | None,
    tz: ZoneInfo,
    *,
    parties: list[Party],
    exclude_session_id: int | None = None,
) -> ExpertChoices:
    """Every active expert of the pool, split into those suggested and the others.

    Suggested, in this order: on duty at the dispute's office during the whole span (the
    rota), then free by their declared availability, then those who declared none; the
    office's own experts first within each. Not suggested, with the reasons: booked for
    another session then, a declared relation to a party, declared not free then, or a
    specialty that does not fit. Without a time, the specialty alone decides.
    """
    pool = await experts.list_experts(db, actor, active_only=True)
    ids = [v.expert.id for v in pool if v.expert.id is not None]
    declared = await relations.relations_of(db, ids)
    text = relations.dispute_text(dispute)
    busy: set[int] = set()
    duty: set[int] = set()
    entries: dict[int, list[Any]] = {}
    if span is not None:
        busy = await experts.busy_expert_ids(
            db, actor.station_id, *span, exclude_session_id=exclude_session_id
        )
        duty = await rota.duty_of(db, actor.station_id, dispute.office_id, *span, tz)
        entries = await availability.entries_of(db, ids)
    suggested: list[tuple[int, ExpertChoice]] = []
    others: list[ExpertChoice] = []
    for view in pool:
        expert_id = view.expert.id or 0
        fits = dispute.category in view.specialties
        related = bool(relations.relation_matches(declared.get(expert_id, []), parties, text))
        state: FreeState | None = None
        detail = ""
        if span is not None:
            state, detail = availability.state_for_session(entries.get(expert_id, []), *span, tz)
        against = _against(expert_id in busy, related, state, fits)
        if against:
            others.append(ExpertChoice(view, against, detail))
            continue
        if span is None:
            reason = Reason.FITS
        elif expert_id in duty:
            reason = Reason.ON_DUTY
        elif state == FreeState.FREE:
            reason = Reason.FREE
        else:
            reason = Reason.UNDECLARED
        suggested.append((SUGGESTED_REASONS.index(reason), ExpertChoice(view, (reason,), detail)))
    suggested.sort(
        key=lambda pair: (
            pair[0],
            dispute.office_id not in pair[1].view.office_ids,
            pair[1].view.expert.id or 0,
        )
    )
    return ExpertChoices([choice for _, choice in suggested], others)


async def suggested_experts(
    db: AsyncSession,
    actor: Actor,
    dispute: Dispute,
    starts_at: datetime,
    ends_at: datetime,
    tz: ZoneInfo,
) -> list[ExpertChoice]:
    """The experts booking suggests for that time, best first, each with why."""
    assert dispute.id is not None
    parties = await disputes.parties_of(db, dispute.id)
    choices = await expert_choices(db, actor, dispute, (starts_at, ends_at), tz, parties=parties)
    return choices.suggested
