"""初判: the first risk assessment at registration, proposed by a rule from what was registered.

Pure: the registrar may choose the grade; when they leave it empty this rule
proposes one, and its findings are kept (as stable reason codes, translated
when shown) on the alert a high grade raises. The rule is deliberately small,
so the registrar can read it on the form and predict it:

重点高危 (high) when any of
  - the dispute is urgent and may turn violent (事态紧急);
  - it is a group dispute of ``GROUP_SIZE`` (10) people or more (群体性);
  - a minor or an elderly person (60 or over, 老年人权益保障法 art. 2) is injured
    (the nature is 轻微伤害).
关注类 (attention) when none of those but any of
  - it is escalating; ``SEVERAL`` (5) to 9 people are involved; a minor or an
    elderly person is a party; someone is injured.
一般 (general) otherwise.

Triage (分流) stays the station's decision: this grade raises the alert at
once, but it never sets the dispute's risk level, route or lead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from server.disputes.lifecycle import Category, RiskLevel, Trend
from server.errors import N_

GROUP_SIZE = 10
SEVERAL = 5
ELDERLY_AGE = 60


class Reason(StrEnum):
    """Why a grade: the rule's findings, and who graded it when a person did."""

    URGENT = "urgent"
    GROUP = "group"
    VULNERABLE_INJURED = "vulnerable_injured"
    ESCALATING = "escalating"
    SEVERAL_PEOPLE = "several_people"
    VULNERABLE_PARTY = "vulnerable_party"
    INJURY = "injury"
    REGISTRAR = "registrar"
    TRIAGE = "triage"


REASON_LABELS: dict[str, str] = {
    Reason.URGENT: N_("Urgent: it may turn violent"),
    Reason.GROUP: N_("A group dispute of 10 or more people"),
    Reason.VULNERABLE_INJURED: N_("A minor or an elderly person is injured"),
    Reason.ESCALATING: N_("It is escalating"),
    Reason.SEVERAL_PEOPLE: N_("5 to 9 people are involved"),
    Reason.VULNERABLE_PARTY: N_("A minor or an elderly person is a party"),
    Reason.INJURY: N_("Someone is injured"),
    Reason.REGISTRAR: N_("Graded by the registrar"),
    Reason.TRIAGE: N_("Graded high risk at triage"),
}

#: Said on the registration form beside the choice, so the rule is never a surprise.
RULE_SUMMARY = N_(
    "Left empty, the rule grades it: high risk if urgent, 10 or more people, or a minor or "
    "elderly person injured; needs attention if escalating, 5 or more people, a minor or "
    "elderly party, or an injury; otherwise general."
)


@dataclass(frozen=True, slots=True)
class PartyFacts:
    """What the rule needs of a person: whether a minor, and the age when known."""

    minor: bool = False
    age: int | None = None

    @property
    def vulnerable(self) -> bool:
        return self.minor or (self.age is not None and (self.age < 18 or self.age >= ELDERLY_AGE))


@dataclass(frozen=True, slots=True)
class Assessment:
    """A grade and the reasons for it, in the order the rule found them."""

    level: RiskLevel
    reasons: tuple[Reason, ...]


def assess(
    *, trend: Trend, scale: int, category: Category, parties: Sequence[PartyFacts]
) -> Assessment:
    """The rule's proposal for what was registered (see the module docstring)."""
    vulnerable = any(p.vulnerable for p in parties)
    injured = category == Category.MINOR_INJURY
    high: list[Reason] = []
    if trend == Trend.URGENT:
        high.append(Reason.URGENT)
    if scale >= GROUP_SIZE:
        high.append(Reason.GROUP)
    if vulnerable and injured:
        high.append(Reason.VULNERABLE_INJURED)
    if high:
        return Assessment(RiskLevel.HIGH, tuple(high))
    attention: list[Reason] = []
    if trend == Trend.ESCALATING:
        attention.append(Reason.ESCALATING)
    if scale >= SEVERAL:
        attention.append(Reason.SEVERAL_PEOPLE)
    if vulnerable:
        attention.append(Reason.VULNERABLE_PARTY)
    if injured:
        attention.append(Reason.INJURY)
    if attention:
        return Assessment(RiskLevel.ATTENTION, tuple(attention))
    return Assessment(RiskLevel.GENERAL, ())


def initial(chosen: RiskLevel | None, proposed: Assessment) -> Assessment:
    """The grade registration keeps: the registrar's choice when made, else the rule's.

    A registrar's choice keeps the rule's findings beside it (they are still true), led
    by the reason that a person chose the grade.
    """
    if chosen is None:
        return proposed
    return Assessment(chosen, (Reason.REGISTRAR, *proposed.reasons))


def encode_reasons(reasons: Iterable[Reason]) -> str:
    """The stored form: reason codes, comma-separated (fits ``RiskAlert.reasons``)."""
    return ",".join(str(r) for r in reasons)


def decode_reasons(text: str) -> tuple[Reason, ...]:
    """Back from the stored form; a code this version does not know is left out."""
    known = {r.value: r for r in Reason}
    return tuple(known[code] for code in text.split(",") if code in known)
