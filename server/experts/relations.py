"""Declared conflicts (利害关系): an expert's relations to people and organisations.

An expert records that they are kin of someone, employed by a company, or once acted as
someone's counsel; booking then warns when a party of the dispute matches, as it warns
on an expert who shares a party's name or phone. ``relation_matches`` is the pure rule;
the rest keeps the declarations, with the pool's own permission and audit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.audit import record
from server.auth import roles
from server.auth.roles import Actor
from server.errors import N_, NotAllowed, NotFound, ValidationFailed
from server.experts import service
from server.experts.schemas import normalise_phone
from server.models import Dispute, ExpertRelation, Party


class RelationKind(StrEnum):
    KIN = "kin"
    EMPLOYER = "employer"
    PRIOR_COUNSEL = "prior_counsel"
    OTHER = "other"


RELATION_LABELS: dict[str, str] = {
    RelationKind.KIN: N_("Kin"),
    RelationKind.EMPLOYER: N_("Employer"),
    RelationKind.PRIOR_COUNSEL: N_("Prior counsel"),
    RelationKind.OTHER: N_("Other relation"),
}

#: An organisation's name shorter than this would match half the dispute texts.
MIN_ORGANISATION = 2


@dataclass(frozen=True)
class RelationInput:
    """A relation to record: to a person (name, optionally phone) or to an organisation."""

    relation: RelationKind
    person_name: str = ""
    person_phone: str = ""
    organisation: str = ""
    note: str = ""


@dataclass(frozen=True)
class Match:
    """A declared relation that a party (or the dispute's account) matches."""

    relation: ExpertRelation
    party_name: str
    by: str  # name, phone, organisation


def _clean(value: str) -> str:
    return "".join(value.split())


def relation_matches(
    relations: Sequence[ExpertRelation], parties: Sequence[Party], dispute_text: str = ""
) -> list[Match]:
    """The relations the dispute touches: a person by exact name or by phone (compared
    without spaces and dashes); an organisation when its name appears in a party's name
    or in the dispute's text (title, people involved, cause, description). One match per relation.
    """
    matches: list[Match] = []
    text = _clean(dispute_text)
    for relation in relations:
        found: Match | None = None
        name = relation.person_name.strip()
        phone = normalise_phone(relation.person_phone) if relation.person_phone else ""
        organisation = _clean(relation.organisation)
        for party in parties:
            if name and party.name.strip() == name:
                found = Match(relation, party.name, "name")
            elif phone and party.phone and normalise_phone(party.phone) == phone:
                found = Match(relation, party.name, "phone")
            elif len(organisation) >= MIN_ORGANISATION and organisation in _clean(party.name):
                found = Match(relation, party.name, "organisation")
            if found is not None:
                break
        if found is None and len(organisation) >= MIN_ORGANISATION and organisation in text:
            found = Match(relation, relation.organisation, "organisation")
        if found is not None:
            matches.append(found)
    return matches


def dispute_text(dispute: Dispute) -> str:
    """The parts of a dispute's account an organisation's name may appear in (its title
    too: "宏达公司欠薪纠纷" names the company before anyone lists it as a party)."""
    return "\n".join((dispute.title, dispute.people_involved, dispute.cause, dispute.description))


def _require_manage(actor: Actor) -> None:
    # Relations name people and carry phones: only those who keep the pool read them.
    if not roles.can_manage_experts(actor):
        raise NotAllowed(N_("Only officers and chiefs manage the expert pool."))


async def relations_of(
    db: AsyncSession, expert_ids: Sequence[int]
) -> dict[int, list[ExpertRelation]]:
    """Every declared relation of these experts (no role check: for booking's warnings)."""
    result: dict[int, list[ExpertRelation]] = {i: [] for i in expert_ids}
    if not expert_ids:
        return result
    query = (
        select(ExpertRelation)
        .where(col(ExpertRelation.expert_id).in_(expert_ids))
        .order_by(col(ExpertRelation.id))
    )
    for relation in await db.exec(query):
        result.setdefault(relation.expert_id, []).append(relation)
    return result


async def list_relations(db: AsyncSession, actor: Actor, expert_id: int) -> list[ExpertRelation]:
    _require_manage(actor)
    await service.get_expert(db, actor, expert_id)
    return (await relations_of(db, [expert_id]))[expert_id]


def check_relation(data: RelationInput) -> None:
    """A relation names exactly one side: a person or an organisation."""
    person = bool(data.person_name.strip() or data.person_phone.strip())
    organisation = bool(data.organisation.strip())
    if person and organisation:
        raise ValidationFailed(
            N_("Record a relation to a person or to an organisation, one at a time."),
            fields={"organisation": "both"},
        )
    if not person and not organisation:
        raise ValidationFailed(
            N_("Name the person or the organisation the relation is to."),
            fields={"person_name": "missing"},
        )
    if person and not data.person_name.strip():
        raise ValidationFailed(
            N_("Name the person the relation is to."), fields={"person_name": "missing"}
        )
    if organisation and len(_clean(data.organisation)) < MIN_ORGANISATION:
        raise ValidationFailed(
            N_("An organisation's name has at least two characters."),
            fields={"organisation": "too_short"},
        )


async def add_relation(
    db: AsyncSession, actor: Actor, expert_id: int, data: RelationInput
) -> ExpertRelation:
    _require_manage(actor)
    await service.get_expert(db, actor, expert_id)
    check_relation(data)
    relation = ExpertRelation(
        expert_id=expert_id,
        relation=data.relation,
        person_name=data.person_name.strip(),
        person_phone=normalise_phone(data.person_phone.strip()),
        organisation=data.organisation.strip(),
        note=data.note.strip(),
        created_by_id=actor.user_id,
    )
    db.add(relation)
    await db.flush()
    # The audit names no person: the trail is read more widely than the pool.
    record(
        db,
        actor,
        "relation.add",
        object_type="expert",
        object_id=expert_id,
        detail={"relation": relation.id, "kind": str(data.relation)},
    )
    return relation


async def delete_relation(db: AsyncSession, actor: Actor, expert_id: int, relation_id: int) -> None:
    _require_manage(actor)
    await service.get_expert(db, actor, expert_id)
    relation = await db.get(ExpertRelation, relation_id)
    if relation is None or relation.expert_id != expert_id:
        raise NotFound(N_("No such relation."))
    await db.delete(relation)
    record(
        db,
        actor,
        "relation.delete",
        object_type="expert",
        object_id=expert_id,
        detail={"relation": relation_id},
    )
