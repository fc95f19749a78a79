"""The case-record search finds a sealed agreement by any of its parties' names.

A dispute has up to 20 parties of up to 40 characters each; the archive keeps
every name, so the parties named last are found as well as the first.
"""

from __future__ import annotations

from typing import Any

from server.agreements import archive
from server.agreements.schemas import ArchiveQuery
from server.disputes.schemas import DisputeInput, PartyInput
from server.models import Agreement
from tests.agreements.helpers import book_session
from tests.agreements.test_sealed_text import InProcess, seal_booked
from tests.agreements.test_sealed_text import producer as producer
from tests.disputes.conftest import Env
from tests.disputes.conftest import env as env

#: The most parties a dispute takes, each with the longest name it takes.
MAX_PARTIES = DisputeInput.model_fields["parties"].metadata[0].max_length
NAME_LENGTH = 40


def many_parties() -> list[dict[str, Any]]:
    """Twenty parties, half on each side, with 40-character names that differ at the start."""
    heads = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉"
    people = [
        {"name": head + "某" * (NAME_LENGTH - 1), "role": "applicant" if n < 10 else "respondent"}
        for n, head in enumerate(heads[:MAX_PARTIES])
    ]
    for person in people:
        PartyInput.model_validate(person)  # each is a name the dispute form accepts
    return people


async def sealed_with_many_parties(env: Env, producer: archive.Producer) -> Agreement:
    """Register, book, freeze, have everyone sign and seal a case with 20 parties."""
    people = many_parties()
    agreement, _issued = await seal_booked(env, producer, await book_session(env, people=people))
    return agreement


async def search_by_party(env: Env, name: str) -> list[str]:
    async with env.factory() as db:
        found = await archive.search(
            db, env.actor("officer"), ArchiveQuery(party_name=name), tz=env.tz
        )
    return [agreement.case_number for agreement in found]


async def test_a_case_with_twenty_parties_is_found_by_the_last_partys_name(
    env: Env, producer: InProcess
) -> None:
    people = many_parties()
    assert MAX_PARTIES == len(people) == 20
    sealed = await sealed_with_many_parties(env, producer)
    names = [person["name"] for person in people]
    for name in (names[-1], names[10], names[0]):
        assert await search_by_party(env, name) == [sealed.case_number], name
    assert sealed.party_names == " ".join(names)
    assert await search_by_party(env, "无此人") == []
