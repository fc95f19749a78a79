"""The rules of the paper, pure: who signs, what must be there, the exact signed text.

Nothing here touches the database. The agreement itself is a Chinese legal
form, so its fixed wording (titles, headings, notes) is Chinese whatever the
reader's interface language; refusals are English msgids translated at the edge.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from server.agreements.document import (
    PEOPLE,
    POLICE,
    LineKind,
    Part,
    PersonBlock,
    SignedLine,
    SignedText,
)
from server.agreements.schemas import DraftContent
from server.errors import N_


class DraftStatus(StrEnum):
    DRAFTING = "drafting"
    #: The text is fixed and out for signature.
    FROZEN = "frozen"
    SEALED = "sealed"


class SignerKind(StrEnum):
    PARTY = "party"
    PRESIDING = "presiding"


class Outcome(StrEnum):
    SIGNED = "signed"
    REFUSED = "refused"


class Via(StrEnum):
    """How a signer was identified when they answered."""

    SIGNING_LINK = "signing_link"
    INVITATION = "invitation"
    STAFF = "staff"


DRAFT_STATUS_LABELS: dict[str, str] = {
    DraftStatus.DRAFTING: N_("Drafting"),
    DraftStatus.FROZEN: N_("Out for signature"),
    DraftStatus.SEALED: N_("Sealed"),
}
OUTCOME_LABELS: dict[str, str] = {
    Outcome.SIGNED: N_("Signed"),
    Outcome.REFUSED: N_("Refused to sign"),
}
VIA_LABELS_ZH: dict[str, str] = {
    Via.SIGNING_LINK: "个人签名链接",
    Via.INVITATION: "本人调解邀请链接",
    Via.STAFF: "工作人员账号登录",
}

TITLES: dict[str, str] = {PEOPLE: "人民调解协议书", POLICE: "治安调解协议书"}
#: The word in the case number: （2026）白石调字第0042号 / （2026）白石治调字第0007号.
CASE_KINDS: dict[str, str] = {PEOPLE: "调", POLICE: "治调"}
PRESIDING_LABELS: dict[str, str] = {PEOPLE: "调解员", POLICE: "主持人"}
PARTY_ROLES_ZH: dict[str, str] = {
    "applicant": "申请人",
    "respondent": "被申请人",
    "agent": "委托代理人",
    "guardian": "法定代理人",
}
PRINCIPAL_ROLES = ("applicant", "respondent")


def signer_label(kind: str, role: str, track: str) -> str:
    """How the paper names a signer: 调解员 / 主持人, or the party's role."""
    if kind == SignerKind.PRESIDING:
        return PRESIDING_LABELS[track]
    return PARTY_ROLES_ZH.get(role, "当事人")


#: Full civil capacity: a younger party signs through their guardian.
FULL_CAPACITY_AGE = 18
#: 治安调解协议书 is made in three copies.
POLICE_COPIES = 3
#: The parties may jointly apply for judicial confirmation within this many days.
JUDICIAL_CONFIRMATION_DAYS = 30


@dataclass(frozen=True)
class PartyFacts:
    """A dispute's party as the rules need it."""

    id: int
    name: str
    role: str
    represents_id: int | None
    minor: bool
    invited: bool


@dataclass(frozen=True)
class PlannedSigner:
    kind: SignerKind
    role: str
    name: str
    party_id: int | None = None
    principal_party_id: int | None = None
    staff_id: int | None = None

    @property
    def key(self) -> tuple[str, int | None, int | None]:
        """Who this is, so a re-plan keeps the same signer (and link) for the same person."""
        return (self.kind, self.party_id, self.staff_id)


@dataclass(frozen=True)
class Problem:
    """One thing missing before the text can be frozen: a field and an English msgid."""

    field: str
    message: str
    params: dict[str, Any]


def principals(parties: Sequence[PartyFacts]) -> list[PartyFacts]:
    return [p for p in parties if p.role in PRINCIPAL_ROLES]


def plan_signers(
    parties: Sequence[PartyFacts], presiding: tuple[int, str] | None
) -> tuple[list[PlannedSigner], list[Problem]]:
    """Who must sign: each principal party, or for them an agent or guardian; then the officer.

    A party with full capacity signs themselves when invited (or when no one
    invited acts for them); a minor signs only through a guardian. Someone
    acting for a party signs when they were invited and the party was not.
    """
    signers: list[PlannedSigner] = []
    problems: list[Problem] = []
    for party in principals(parties):
        acting = [p for p in parties if p.represents_id == party.id]
        guardians = [p for p in acting if p.role == "guardian"]
        agents = [p for p in acting if p.role == "agent"]
        chosen: PartyFacts | None
        if party.minor:
            chosen = next((g for g in guardians if g.invited), guardians[0] if guardians else None)
        elif party.invited:
            chosen = party
        else:
            chosen = next((a for a in agents + guardians if a.invited), party)
        if chosen is None:
            problems.append(
                Problem(
                    "signers",
                    N_("%(name)s is a minor and has no guardian to sign for them."),
                    {"name": party.name},
                )
            )
            continue
        signers.append(
            PlannedSigner(
                SignerKind.PARTY,
                chosen.role,
                chosen.name,
                party_id=chosen.id,
                principal_party_id=party.id,
            )
        )
    if presiding is not None:
        signers.append(
            PlannedSigner(SignerKind.PRESIDING, "presiding", presiding[1], staff_id=presiding[0])
        )
    return signers, problems


def required_copies(track: str, principal_count: int) -> int:
    """People's mediation: one per party and one for the committee; police: three."""
    return POLICE_COPIES if track == POLICE else principal_count + 1


def problems_before_freeze(
    track: str,
    content: DraftContent,
    parties: Sequence[PartyFacts],
    presiding: tuple[int, str] | None,
    today: date,
) -> list[Problem]:
    """Everything the track requires that is missing, each naming its field."""
    found: list[Problem] = []

    def need(ok: bool, field: str, message: str, **params: Any) -> None:
        if not ok:
            found.append(Problem(field, message, params))

    if track == POLICE:
        need(
            bool(content.facts), "facts", N_("Describe the time, place, cause, course and result.")
        )
    else:
        need(bool(content.facts), "facts", N_("State the main facts of the dispute."))
        need(bool(content.disputed_matters), "disputed_matters", N_("State the disputed matters."))
        need(
            bool(content.responsibility), "responsibility", N_("State each party's responsibility.")
        )
    need(bool(content.terms), "terms", N_("Write at least one agreed term."))
    need(
        bool(content.performance_manner),
        "performance_manner",
        N_("State the manner of performance."),
    )
    need(
        content.performance_deadline is not None,
        "performance_deadline",
        N_("Set the deadline for performance."),
    )
    if content.performance_deadline is not None:
        need(
            content.performance_deadline >= today,
            "performance_deadline",
            N_("The deadline for performance is in the past."),
        )
    found.extend(term_deadline_problems(content, today))
    need(presiding is not None, "presiding", N_("The session has no active presiding officer."))
    principal_count = len(principals(parties))
    need(principal_count >= 2, "parties", N_("An agreement needs a party on each side."))
    if content.copies is not None:
        minimum = required_copies(track, principal_count)
        need(
            content.copies >= minimum,
            "copies",
            N_("This agreement needs at least %(count)d copies."),
            count=minimum,
        )
    found.extend(plan_signers(parties, presiding)[1])
    return found


def term_deadline_problems(content: DraftContent, today: date) -> list[Problem]:
    """A term's own deadline must be ahead, and no later than the agreement's deadline.

    The field names the term by its printed number (``term_deadlines.2``), so a
    form can mark that term's date; the overall deadline still bounds the
    whole agreement, and a term due after it would contradict the 履行期限 line.
    """
    found: list[Problem] = []
    overall = content.performance_deadline
    for index, deadline in enumerate(content.term_deadlines):
        if deadline is None:
            continue
        field, number = f"term_deadlines.{index + 1}", index + 1
        if deadline < today:
            found.append(
                Problem(
                    field, N_("The deadline of term %(number)d is in the past."), {"number": number}
                )
            )
        elif overall is not None and deadline > overall:
            found.append(
                Problem(
                    field,
                    N_("The deadline of term %(number)d is after the deadline for performance."),
                    {"number": number},
                )
            )
    return found


def chinese_numeral(n: int) -> str:
    """1 → 一, 12 → 十二, 21 → 二十一: how the terms and sections are numbered."""
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    if n < 20:
        return "十" + (digits[n % 10] if n % 10 else "")
    if n < 100:
        return digits[n // 10] + "十" + (digits[n % 10] if n % 10 else "")
    return str(n)


def zh_date(value: date) -> str:
    return f"{value.year}年{value.month}月{value.day}日"


def zh_datetime(value: datetime) -> str:
    return f"{zh_date(value)} {value:%H:%M}"


def term_deadline_note(deadline: date | None) -> str:
    """What follows a term that has its own deadline: （本项于2027年1月5日前履行完毕）.

    The same words as the 履行期限 line, so a reader sees at once that this term
    is due earlier than the rest; put after the term as the drafter wrote it
    (a note on the whole item, as a bracket after a sentence is in Chinese
    usage), so nothing the parties read in the term itself is changed. A term
    without a deadline of its own gets nothing: the text of every agreement
    drafted before terms could have one is unchanged.
    """
    return f"（本项于{zh_date(deadline)}前履行完毕）" if deadline is not None else ""


def copies_note(track: str, copies: int) -> str:
    if track == POLICE:
        return f"本协议书一式{chinese_numeral(copies)}份，双方当事人各执一份，公安机关留存一份。"
    return f"本协议书一式{chinese_numeral(copies)}份，当事人各执一份，人民调解委员会留存一份。"


def effect_note(track: str) -> str:
    if track == POLICE:
        return (
            "本协议书经双方当事人和主持人签名、公安机关盖章后生效。"
            "当事人应当自觉履行；不履行的，公安机关依法对违反治安管理行为人予以处罚，"
            "当事人可以就民事争议依法向人民法院提起民事诉讼。"
        )
    return (
        "本协议书自各方当事人签名、人民调解员签名并加盖人民调解委员会印章之日起生效，"
        "具有法律约束力，当事人应当按照约定履行。"
        f"双方当事人可以自本协议生效之日起{JUDICIAL_CONFIRMATION_DAYS}日内"
        "共同向人民法院申请司法确认。"
    )


@dataclass(frozen=True)
class TextHeader:
    """What the record contributes to the signed text."""

    track: str
    mediating_body: str
    presiding_name: str
    others_present: tuple[str, ...]
    session_time: str
    session_place: str
    parties: tuple[PersonBlock, ...]
    copies: int


def _person_line(person: PersonBlock) -> SignedLine:
    """申请人：王丽华，居民身份证号码：…，住址：…。 Clauses with nothing to say are left out."""
    text = person.name
    if person.acting_for:
        text += f"（代{person.acting_for}）"
    if person.id_number:
        text += f"，{person.id_label}号码：{person.id_number}"
    if person.address:
        text += f"，住址：{person.address}"
    return SignedLine(LineKind.FIELD, text + "。", f"{person.role_label}：", Part.PARTY)


def _blank() -> SignedLine:
    return SignedLine(LineKind.BLANK, "")


def signed_text(header: TextHeader, content: DraftContent) -> SignedText:
    """The exact text every signer agrees to, line by line, as the paper prints it.

    Its ``plain`` form is what is hashed: deterministic, the same draft always
    gives the same bytes (as typed, ``\\n`` line ends, no trailing spaces), so
    the hash can be recomputed, and the PDF is laid out from these same lines.
    """
    track = header.track
    field, para = LineKind.FIELD, LineKind.PARAGRAPH
    lines = [SignedLine(LineKind.TITLE, TITLES[track]), _blank()]
    lines.append(SignedLine(LineKind.HEADING, "当事人："))
    lines.extend(_person_line(p) for p in header.parties)
    lines.append(_blank())
    body_label = "调解机关：" if track == POLICE else "调解组织："
    lines.append(SignedLine(field, header.mediating_body, body_label, Part.MEDIATING_BODY))
    presiding_label = f"{PRESIDING_LABELS[track]}："
    lines.append(SignedLine(field, header.presiding_name, presiding_label, Part.PRESIDING))
    others = "、".join(header.others_present) or "无"
    lines.append(SignedLine(field, others, "其他在场人员：", Part.OTHERS_PRESENT))
    lines.append(SignedLine(field, header.session_time, "调解时间：", Part.SESSION))
    lines.append(SignedLine(field, header.session_place, "调解地点：", Part.SESSION))
    lines.append(_blank())
    sections: list[tuple[str, str, Part]] = []
    if track == POLICE:
        sections.append(("事件发生的时间、地点、起因、经过和结果", content.facts, Part.FACTS))
    else:
        sections.append(("纠纷的主要事实", content.facts, Part.FACTS))
        sections.append(("争议事项", content.disputed_matters, Part.DISPUTED_MATTERS))
        sections.append(("各方责任", content.responsibility, Part.RESPONSIBILITY))
    number = 0
    for heading, body, part in sections:
        number += 1
        lines.append(SignedLine(LineKind.HEADING, f"{chinese_numeral(number)}、{heading}"))
        lines.extend(SignedLine(para, line, part=part) for line in _body(body))
        lines.append(_blank())
    number += 1
    lines.append(
        SignedLine(LineKind.HEADING, f"{chinese_numeral(number)}、经调解，各方自愿达成如下协议")
    )
    for index, term in enumerate(content.terms, start=1):
        line = " ".join(_body(term)) + term_deadline_note(content.deadline_of(index - 1))
        lines.append(SignedLine(LineKind.TERM, line, f"{index}. ", Part.TERM))
    lines.append(_blank())
    number += 1
    lines.append(SignedLine(LineKind.HEADING, f"{chinese_numeral(number)}、履行方式和期限"))
    manner = content.performance_manner
    lines.append(SignedLine(field, manner, "履行方式：", Part.PERFORMANCE_MANNER))
    if content.performance_deadline:
        deadline = f"{zh_date(content.performance_deadline)}前履行完毕。"
        lines.append(SignedLine(field, deadline, "履行期限：", Part.PERFORMANCE_DEADLINE))
    else:
        lines.append(SignedLine(field, "前履行完毕。", "履行期限："))
    lines.append(_blank())
    lines.append(SignedLine(para, copies_note(track, header.copies), part=Part.COPIES))
    lines.append(SignedLine(para, effect_note(track), part=Part.EFFECT))
    return SignedText(tuple(lines))


def canonical_text(header: TextHeader, content: DraftContent) -> str:
    """The hashed form of ``signed_text``: the exact UTF-8 text every signer agrees to."""
    return signed_text(header, content).plain


#: The drafting field a line's characters come from, for naming a refusal.
PART_FIELDS: dict[Part, str] = {
    Part.PARTY: "parties",
    Part.MEDIATING_BODY: "mediating_body",
    Part.PRESIDING: "presiding",
    Part.OTHERS_PRESENT: "others_present",
    Part.SESSION: "session",
    Part.FACTS: "facts",
    Part.DISPUTED_MATTERS: "disputed_matters",
    Part.RESPONSIBILITY: "responsibility",
    Part.TERM: "terms",
    Part.PERFORMANCE_MANNER: "performance_manner",
    Part.PERFORMANCE_DEADLINE: "performance_deadline",
}


def unprintable_problems(
    text: SignedText, printable: Callable[[str], bool], shown: Callable[[str], str]
) -> list[Problem]:
    """Characters the paper cannot carry, one problem per field that holds them.

    A text is only frozen when the sealed PDF can show every character of it
    (``glyphs.printable``): an emoji no installed font has, or an invisible
    zero-width character, would make the paper differ from what was signed.
    """
    found: dict[str, list[str]] = {}
    for line in text.lines:
        bad = [c for c in line.label + line.text if not printable(c)]
        if bad:
            chars = found.setdefault(PART_FIELDS.get(line.part, "text"), [])
            chars.extend(c for c in bad if c not in chars)
    return [
        Problem(
            field,
            N_("The agreement cannot print these characters: %(chars)s. Remove or replace them."),
            {"chars": "、".join(shown(c) for c in chars)},
        )
        for field, chars in found.items()
    ]


def _body(text: str) -> list[str]:
    return [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")] or [""]


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def format_case_number(pattern: str, *, year: int, station: str, track: str, seq: int) -> str:
    """E.g. （2026）白石调字第0042号 with the default pattern."""
    return pattern.format(year=year, station=station, kind=CASE_KINDS[track], seq=seq)
