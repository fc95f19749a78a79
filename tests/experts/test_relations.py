"""Declared relations: the matching rule and the service."""

from __future__ import annotations

import pytest
from sqlmodel import select

from server.auth.sessions import actor_for
from server.db import SessionFactory, transaction
from server.errors import NotAllowed, NotFound, ValidationFailed
from server.experts import relations, service
from server.experts.relations import RelationInput, RelationKind
from server.experts.schemas import ExpertInput
from server.models import ExpertRelation, Party
from tests.conftest import Seed


def relation(
    relation: str = "kin", person_name: str = "", person_phone: str = "", organisation: str = ""
) -> ExpertRelation:
    return ExpertRelation(
        expert_id=1,
        relation=relation,
        person_name=person_name,
        person_phone=person_phone,
        organisation=organisation,
        created_by_id=1,
    )


def party(name: str, phone: str = "") -> Party:
    return Party(dispute_id=1, role="applicant", name=name, phone=phone)


def test_a_person_matches_by_exact_name() -> None:
    found = relations.relation_matches(
        [relation(person_name="王丽华")], [party("王丽华"), party("张国强")]
    )
    assert [(m.party_name, m.by) for m in found] == [("王丽华", "name")]
    assert relations.relation_matches([relation(person_name="王丽")], [party("王丽华")]) == []


def test_a_person_matches_by_phone_however_it_was_typed() -> None:
    declared = [relation(person_name="王阿姨", person_phone="138-0013-8001")]
    found = relations.relation_matches(declared, [party("王丽华", "138 0013 8001")])
    assert [(m.party_name, m.by) for m in found] == [("王丽华", "phone")]


def test_an_organisation_matches_a_partys_name_or_the_disputes_account() -> None:
    declared = [relation(relation="employer", organisation="宏达建筑公司")]
    by_party = relations.relation_matches(declared, [party("宏达建筑公司（法定代表人李某）")])
    assert [(m.party_name, m.by) for m in by_party] == [
        ("宏达建筑公司（法定代表人李某）", "organisation")
    ]
    by_text = relations.relation_matches(
        declared, [party("张三")], "工人讨薪，涉及宏达 建筑公司项目部"
    )
    assert [(m.party_name, m.by) for m in by_text] == [("宏达建筑公司", "organisation")]
    assert relations.relation_matches(declared, [party("张三")], "邻里噪音") == []


def test_one_match_per_relation() -> None:
    declared = [relation(person_name="王丽华", person_phone="13800138001")]
    found = relations.relation_matches(declared, [party("王丽华", "13800138001"), party("王丽华")])
    assert len(found) == 1


def test_a_relation_names_one_person_or_one_organisation() -> None:
    with pytest.raises(ValidationFailed):
        relations.check_relation(RelationInput(RelationKind.KIN))
    with pytest.raises(ValidationFailed):
        relations.check_relation(
            RelationInput(RelationKind.KIN, person_name="王", organisation="宏达公司")
        )
    with pytest.raises(ValidationFailed):
        relations.check_relation(RelationInput(RelationKind.KIN, person_phone="13800138001"))
    with pytest.raises(ValidationFailed):
        relations.check_relation(RelationInput(RelationKind.EMPLOYER, organisation="宏"))
    relations.check_relation(RelationInput(RelationKind.KIN, person_name="王丽华"))


async def new_expert(factory: SessionFactory, seed: Seed, by: str = "chief") -> int:
    async with transaction(factory) as db:
        expert = await service.create_expert(
            db,
            actor_for(seed.users[by]),
            ExpertInput(name="陈律师", kind="lawyer", phone="13600136000"),
        )
    assert expert.id is not None
    return expert.id


async def test_declare_list_and_delete(factory: SessionFactory, seed: Seed) -> None:
    expert_id = await new_expert(factory, seed)
    officer = actor_for(seed.users["officer"])
    async with transaction(factory) as db:
        added = await relations.add_relation(
            db,
            officer,
            expert_id,
            RelationInput(
                RelationKind.PRIOR_COUNSEL, person_name=" 王丽华 ", person_phone="138 0013 8001"
            ),
        )
    assert added.id is not None
    async with transaction(factory) as db:
        listed = await relations.list_relations(db, officer, expert_id)
    assert [(r.person_name, r.person_phone) for r in listed] == [("王丽华", "13800138001")]
    with pytest.raises(NotFound):
        async with transaction(factory) as db:
            await relations.delete_relation(db, officer, expert_id, added.id + 100)
    async with transaction(factory) as db:
        await relations.delete_relation(db, officer, expert_id, added.id)
    async with transaction(factory) as db:
        assert list(await db.exec(select(ExpertRelation))) == []


async def test_relations_are_for_those_who_keep_the_pool(
    factory: SessionFactory, seed: Seed
) -> None:
    expert_id = await new_expert(factory, seed)
    data = RelationInput(RelationKind.KIN, person_name="王丽华")
    for username in ("clerk", "auxiliary", "admin"):
        actor = actor_for(seed.users[username])
        with pytest.raises(NotAllowed):
            async with transaction(factory) as db:
                await relations.add_relation(db, actor, expert_id, data)
        with pytest.raises(NotAllowed):
            async with transaction(factory) as db:
                await relations.list_relations(db, actor, expert_id)
    # Another station's chief does not find the expert at all.
    with pytest.raises(NotFound):
        async with transaction(factory) as db:
            await relations.add_relation(db, actor_for(seed.users["outsider"]), expert_id, data)
