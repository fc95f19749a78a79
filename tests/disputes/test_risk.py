"""The 初判 rule: what each finding grades, the borders, the registrar's choice, storage."""

from __future__ import annotations

import pytest

from server.disputes.lifecycle import Category, RiskLevel, Trend
from server.disputes.risk import (
    ELDERLY_AGE,
    GROUP_SIZE,
    Assessment,
    PartyFacts,
    Reason,
    assess,
    decode_reasons,
    encode_reasons,
    initial,
)

ADULT = PartyFacts(age=35)


def grade(
    *,
    trend: Trend = Trend.STABLE,
    scale: int = 2,
    category: Category = Category.NEIGHBOUR,
    parties: tuple[PartyFacts, ...] = (ADULT,),
) -> Assessment:
    return assess(trend=trend, scale=scale, category=category, parties=parties)


def test_a_calm_two_party_dispute_is_general_with_no_reasons() -> None:
    assert grade() == Assessment(RiskLevel.GENERAL, ())


def test_urgent_is_high() -> None:
    assert grade(trend=Trend.URGENT) == Assessment(RiskLevel.HIGH, (Reason.URGENT,))


@pytest.mark.parametrize(
    ("scale", "expected"),
    [
        (4, Assessment(RiskLevel.GENERAL, ())),
        (5, Assessment(RiskLevel.ATTENTION, (Reason.SEVERAL_PEOPLE,))),
        (GROUP_SIZE - 1, Assessment(RiskLevel.ATTENTION, (Reason.SEVERAL_PEOPLE,))),
        (GROUP_SIZE, Assessment(RiskLevel.HIGH, (Reason.GROUP,))),
    ],
)
def test_the_number_of_people_borders(scale: int, expected: Assessment) -> None:
    assert grade(scale=scale) == expected


@pytest.mark.parametrize(
    "person",
    [PartyFacts(minor=True), PartyFacts(age=15), PartyFacts(age=ELDERLY_AGE), PartyFacts(age=82)],
)
def test_a_minor_or_elderly_person_injured_is_high(person: PartyFacts) -> None:
    found = grade(category=Category.MINOR_INJURY, parties=(ADULT, person))
    assert found == Assessment(RiskLevel.HIGH, (Reason.VULNERABLE_INJURED,))


def test_a_vulnerable_party_without_injury_or_an_injury_alone_needs_attention() -> None:
    elderly = PartyFacts(age=70)
    assert grade(parties=(elderly,)) == Assessment(RiskLevel.ATTENTION, (Reason.VULNERABLE_PARTY,))
    assert grade(category=Category.MINOR_INJURY) == Assessment(
        RiskLevel.ATTENTION, (Reason.INJURY,)
    )
    # 59 is not elderly, 18 not a minor: an injury between adults is attention, not high.
    adults = (PartyFacts(age=ELDERLY_AGE - 1), PartyFacts(age=18))
    assert grade(category=Category.MINOR_INJURY, parties=adults).level == RiskLevel.ATTENTION


def test_escalating_needs_attention_and_every_finding_is_kept_in_order() -> None:
    assert grade(trend=Trend.ESCALATING).reasons == (Reason.ESCALATING,)
    many = grade(trend=Trend.ESCALATING, scale=6, parties=(PartyFacts(minor=True),))
    assert many == Assessment(
        RiskLevel.ATTENTION,
        (Reason.ESCALATING, Reason.SEVERAL_PEOPLE, Reason.VULNERABLE_PARTY),
    )
    worst = grade(
        trend=Trend.URGENT,
        scale=30,
        category=Category.MINOR_INJURY,
        parties=(PartyFacts(age=75),),
    )
    # High findings only: the attention findings are implied and would only add noise.
    assert worst.reasons == (Reason.URGENT, Reason.GROUP, Reason.VULNERABLE_INJURED)


def test_an_unknown_age_is_not_vulnerable() -> None:
    assert not PartyFacts().vulnerable
    assert grade(category=Category.MINOR_INJURY, parties=(PartyFacts(),)).level == (
        RiskLevel.ATTENTION
    )


def test_the_registrars_choice_wins_and_keeps_the_rules_findings() -> None:
    proposed = grade(trend=Trend.URGENT)
    assert initial(None, proposed) == proposed
    lowered = initial(RiskLevel.GENERAL, proposed)
    assert lowered == Assessment(RiskLevel.GENERAL, (Reason.REGISTRAR, Reason.URGENT))
    raised = initial(RiskLevel.HIGH, grade())
    assert raised == Assessment(RiskLevel.HIGH, (Reason.REGISTRAR,))


def test_reasons_round_trip_and_unknown_codes_are_dropped() -> None:
    reasons = (Reason.URGENT, Reason.GROUP, Reason.REGISTRAR)
    stored = encode_reasons(reasons)
    assert stored == "urgent,group,registrar"
    assert decode_reasons(stored) == reasons
    assert decode_reasons("") == ()
    assert decode_reasons("urgent,from_a_newer_version,group") == (Reason.URGENT, Reason.GROUP)
    every = encode_reasons(Reason)
    assert len(every) <= 500  # RiskAlert.reasons holds them all
