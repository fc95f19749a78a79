"""The pure rules of the paper: who signs, what must be there, the exact signed text."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, timedelta

import pytest

from server.agreements.document import PEOPLE, POLICE, PersonBlock
from server.agreements.rules import (
    PlannedSigner,
    Problem,
    SignerKind,
    TextHeader,
    canonical_text,
    chinese_numeral,
    copies_note,
    effect_note,
    format_case_number,
    plan_signers,
    problems_before_freeze,
    required_copies,
    text_sha256,
    zh_date,
)
from server.agreements.schemas import DraftContent
from server.config import Config
from tests.agreements.helpers import (
    AGENT,
    APPLICANT,
    RESPONDENT,
    complete_content,
    fact,
    two_facts,
)

TODAY = date(2026, 11, 25)
PRESIDING = (7, "李警官")
DEFAULT_PATTERN = Config.model_fields["case_number_pattern"].default


def signed_by(signers: list[PlannedSigner]) -> list[tuple[str, str, int | None, int | None]]:
    return [(s.kind, s.name, s.party_id, s.principal_party_id) for s in signers]


def fields(problems: list[Problem]) -> set[str]:
    return {p.field for p in problems}


# --- who signs -----------------------------------------------------------------------------


def test_invited_adults_sign_themselves_and_the_presiding_officer_signs_last() -> None:
    signers, problems = plan_signers(two_facts(), PRESIDING)
    assert problems == []
    assert signed_by(signers) == [
        (SignerKind.PARTY, APPLICANT, 1, 1),
        (SignerKind.PARTY, RESPONDENT, 2, 2),
        (SignerKind.PRESIDING, "李警官", None, None),
    ]
    assert [s.role for s in signers] == ["applicant", "respondent", "presiding"]
    assert signers[-1].staff_id == 7


def test_without_a_presiding_officer_only_the_parties_sign() -> None:
    signers, problems = plan_signers(two_facts(), None)
    assert problems == []
    assert [s.kind for s in signers] == [SignerKind.PARTY, SignerKind.PARTY]


def test_an_invited_agent_signs_for_a_party_who_was_not_invited() -> None:
    parties = [
        fact(1, APPLICANT, "applicant"),
        fact(2, RESPONDENT, "respondent", invited=False),
        fact(3, AGENT, "agent", represents_id=2),
    ]
    signers, problems = plan_signers(parties, PRESIDING)
    assert problems == []
    agent = signers[1]
    assert (agent.kind, agent.role, agent.name) == (SignerKind.PARTY, "agent", AGENT)
    assert (agent.party_id, agent.principal_party_id) == (3, 2)
    assert len(signers) == 3


def test_an_invited_party_signs_even_when_their_agent_is_invited_too() -> None:
    parties = [*two_facts(), fact(3, AGENT, "agent", represents_id=2)]
    signers, _ = plan_signers(parties, PRESIDING)
    assert signers[1].name == RESPONDENT and signers[1].party_id == 2


def test_an_adult_nobody_invited_for_still_signs_themselves() -> None:
    parties = [
        fact(1, APPLICANT, "applicant"),
        fact(2, RESPONDENT, "respondent", invited=False),
        fact(3, AGENT, "agent", represents_id=2, invited=False),
    ]
    signers, problems = plan_signers(parties, PRESIDING)
    assert problems == []
    assert signers[1].party_id == 2 and signers[1].role == "respondent"


def test_a_minor_signs_through_the_invited_guardian() -> None:
    parties = [
        fact(1, APPLICANT, "applicant"),
        fact(2, "李小明", "respondent", minor=True),
        fact(3, "李建国", "guardian", represents_id=2, invited=False),
        fact(4, "陈美玲", "guardian", represents_id=2),
    ]
    signers, problems = plan_signers(parties, PRESIDING)
    assert problems == []
    assert signed_by(signers)[1] == (SignerKind.PARTY, "陈美玲", 4, 2)
    assert signers[1].role == "guardian"
    # Invited or not, the minor never signs; an uninvited guardian is still the one.
    parties[3] = fact(4, "陈美玲", "guardian", represents_id=2, invited=False)
    signers, _ = plan_signers(parties, PRESIDING)
    assert signers[1].name == "李建国"


def test_a_minor_without_a_guardian_is_a_problem_naming_them() -> None:
    parties = [
        fact(1, APPLICANT, "applicant"),
        fact(2, "李小明", "respondent", minor=True),
        fact(3, AGENT, "agent", represents_id=2),  # an agent cannot sign for a minor
    ]
    signers, problems = plan_signers(parties, PRESIDING)
    assert [s.name for s in signers] == [APPLICANT, "李警官"]
    assert len(problems) == 1
    assert problems[0].field == "signers"
    assert problems[0].params == {"name": "李小明"}
    assert "minor" in problems[0].message


def test_the_signer_key_is_stable_for_the_same_person() -> None:
    first, _ = plan_signers(two_facts(), PRESIDING)
    again, _ = plan_signers(list(reversed(two_facts())), PRESIDING)
    assert {s.key for s in first} == {s.key for s in again}
    assert first[-1].key == (SignerKind.PRESIDING, None, 7)


# --- what must be there before freezing ----------------------------------------------------


def test_a_complete_draft_has_no_problems_on_either_track() -> None:
    content = complete_content(performance_deadline=TODAY)  # today is still in time
    for track in (PEOPLE, POLICE):
        assert problems_before_freeze(track, content, two_facts(), PRESIDING, TODAY) == []


def test_an_empty_peoples_draft_names_every_missing_field() -> None:
    problems = problems_before_freeze(PEOPLE, DraftContent(), two_facts(), PRESIDING, TODAY)
    assert [p.field for p in problems] == [
        "facts",
        "disputed_matters",
        "responsibility",
        "terms",
        "performance_manner",
        "performance_deadline",
    ]
    assert all(p.message for p in problems)


def test_police_mediation_needs_no_disputed_matters_or_responsibility() -> None:
    problems = problems_before_freeze(POLICE, DraftContent(), two_facts(), PRESIDING, TODAY)
    assert [p.field for p in problems] == [
        "facts",
        "terms",
        "performance_manner",
        "performance_deadline",
    ]
    assert "cause, course and result" in problems[0].message
    police_ready = complete_content(disputed_matters="", responsibility="")
    assert problems_before_freeze(POLICE, police_ready, two_facts(), PRESIDING, TODAY) == []
    people = problems_before_freeze(PEOPLE, police_ready, two_facts(), PRESIDING, TODAY)
    assert fields(people) == {"disputed_matters", "responsibility"}


def test_blank_terms_do_not_count_as_terms() -> None:
    content = complete_content(terms=("", "   "))
    assert content.terms == ()
    problems = problems_before_freeze(PEOPLE, content, two_facts(), PRESIDING, TODAY)
    assert fields(problems) == {"terms"}


def test_a_deadline_in_the_past_is_refused() -> None:
    content = complete_content(performance_deadline=TODAY - timedelta(days=1))
    problems = problems_before_freeze(PEOPLE, content, two_facts(), PRESIDING, TODAY)
    assert len(problems) == 1
    assert problems[0].field == "performance_deadline"
    assert "past" in problems[0].message


def test_without_a_presiding_officer_the_draft_cannot_be_frozen() -> None:
    problems = problems_before_freeze(PEOPLE, complete_content(), two_facts(), None, TODAY)
    assert fields(problems) == {"presiding"}


def test_an_agreement_needs_two_principal_parties() -> None:
    one_side = [fact(1, APPLICANT, "applicant"), fact(3, AGENT, "agent", represents_id=1)]
    problems = problems_before_freeze(PEOPLE, complete_content(), one_side, PRESIDING, TODAY)
    assert fields(problems) == {"parties"}


def test_police_agreements_need_three_copies() -> None:
    assert required_copies(POLICE, 2) == 3
    assert required_copies(POLICE, 5) == 3
    problems = problems_before_freeze(
        POLICE, complete_content(copies=2), two_facts(), PRESIDING, TODAY
    )
    assert [(p.field, p.params) for p in problems] == [("copies", {"count": 3})]
    assert problems[0].message % problems[0].params == "This agreement needs at least 3 copies."
    enough = complete_content(copies=3)
    assert problems_before_freeze(POLICE, enough, two_facts(), PRESIDING, TODAY) == []


def test_peoples_mediation_needs_a_copy_per_party_and_one_for_the_committee() -> None:
    three = [*two_facts(), fact(3, "刘芳", "respondent")]
    assert required_copies(PEOPLE, 3) == 4
    short = problems_before_freeze(PEOPLE, complete_content(copies=3), three, PRESIDING, TODAY)
    assert [(p.field, p.params) for p in short] == [("copies", {"count": 4})]
    fine = problems_before_freeze(PEOPLE, complete_content(copies=4), three, PRESIDING, TODAY)
    assert fine == []


def test_a_minor_without_a_guardian_blocks_freezing() -> None:
    parties = [fact(1, APPLICANT, "applicant"), fact(2, "李小明", "respondent", minor=True)]
    problems = problems_before_freeze(PEOPLE, complete_content(), parties, PRESIDING, TODAY)
    assert [(p.field, p.params) for p in problems] == [("signers", {"name": "李小明"})]


# --- the canonical text --------------------------------------------------------------------


def header(track: str = PEOPLE, copies: int = 3) -> TextHeader:
    return TextHeader(
        track=track,
        mediating_body="白石人民调解委员会" if track == PEOPLE else "白石派出所",
        presiding_name="李警官",
        others_present=("陈律师（律师）",),
        session_time="2026年11月25日 09:30—10:30",
        session_place="远程视频调解（白石派出所滨河社区警务室主持）",
        parties=(
            PersonBlock("申请人", APPLICANT, "居民身份证", "110101199003074514", "滨河小区3栋"),
            PersonBlock("被申请人", RESPONDENT, "居民身份证", "", ""),
            PersonBlock("委托代理人", AGENT, "居民身份证", "", "", acting_for=RESPONDENT),
        ),
        copies=copies,
    )


def content(**overrides: object) -> DraftContent:
    data: dict[str, object] = {
        "facts": "双方因犬只吠叫发生推搡。",
        "disputed_matters": "医药费的承担。",
        "responsibility": "被申请人负主要责任。",
        "terms": ("被申请人向申请人赔礼道歉。", "被申请人赔偿医药费800元。"),
        "performance_manner": "当面支付现金。",
        "performance_deadline": date(2026, 12, 31),
    }
    data.update(overrides)
    return DraftContent.model_validate(data)


def test_the_canonical_text_is_deterministic() -> None:
    first = canonical_text(header(), content())
    assert canonical_text(header(), content()) == first
    reloaded = DraftContent.model_validate_json(content().model_dump_json())
    assert canonical_text(header(), reloaded) == first
    assert text_sha256(canonical_text(header(), content())) == text_sha256(first)
    # One character more anywhere is a different text and a different hash.
    changed = canonical_text(header(), content(performance_manner="银行转账。"))
    assert changed != first and text_sha256(changed) != text_sha256(first)


def test_the_canonical_text_is_normalised() -> None:
    text = canonical_text(header(), content(facts="第一行   \r\n第二行  "))
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert "\r" not in text
    assert not any(line != line.rstrip() for line in text.split("\n"))
    assert "\n第一行\n第二行\n" in text


def test_the_peoples_mediation_text() -> None:
    text = canonical_text(header(PEOPLE), content())
    lines = text.split("\n")
    assert lines[0] == "人民调解协议书"
    assert "申请人：王丽华，居民身份证号码：110101199003074514，住址：滨河小区3栋。" in lines
    assert "被申请人：张国强。" in lines
    assert "委托代理人：赵律师（代张国强）。" in lines
    assert "调解组织：白石人民调解委员会" in lines
    assert "调解员：李警官" in lines
    assert "其他在场人员：陈律师（律师）" in lines
    headings = [line for line in lines if re.match(r"^[一二三四五六七八九十]+、", line)]
    assert headings == [
        "一、纠纷的主要事实",
        "二、争议事项",
        "三、各方责任",
        "四、经调解，各方自愿达成如下协议",
        "五、履行方式和期限",
    ]
    assert "1. 被申请人向申请人赔礼道歉。" in lines
    assert "2. 被申请人赔偿医药费800元。" in lines
    assert "履行方式：当面支付现金。" in lines
    assert "履行期限：2026年12月31日前履行完毕。" in lines
    assert "本协议书一式三份，当事人各执一份，人民调解委员会留存一份。" in lines
    assert lines[-2] == effect_note(PEOPLE)
    assert "司法确认" in text and "30日" in text


def test_the_police_mediation_text() -> None:
    text = canonical_text(header(POLICE), content(disputed_matters="", responsibility=""))
    lines = text.split("\n")
    assert lines[0] == "治安调解协议书"
    assert "调解机关：白石派出所" in lines
    assert "主持人：李警官" in lines
    headings = [line for line in lines if re.match(r"^[一二三四五六七八九十]+、", line)]
    assert headings == [
        "一、事件发生的时间、地点、起因、经过和结果",
        "二、经调解，各方自愿达成如下协议",
        "三、履行方式和期限",
    ]
    assert "争议事项" not in text and "各方责任" not in text
    assert "本协议书一式三份，双方当事人各执一份，公安机关留存一份。" in lines
    assert "公安机关盖章后生效" in text
    assert "司法确认" not in text


def test_nobody_else_present_reads_none() -> None:
    bare = dataclasses.replace(header(), others_present=())
    assert "其他在场人员：无" in canonical_text(bare, content()).split("\n")


def test_multi_line_terms_stay_on_one_numbered_line() -> None:
    text = canonical_text(header(), content(terms=("分两期支付：\n第一期400元", "互不追究")))
    assert "1. 分两期支付： 第一期400元" in text.split("\n")
    assert "2. 互不追究" in text.split("\n")


def test_notes_follow_the_track() -> None:
    assert copies_note(PEOPLE, 4) == "本协议书一式四份，当事人各执一份，人民调解委员会留存一份。"
    assert copies_note(POLICE, 3).startswith("本协议书一式三份")
    assert "30日内" in effect_note(PEOPLE) and "司法确认" in effect_note(PEOPLE)
    assert "司法确认" not in effect_note(POLICE)


# --- numerals, dates, numbers, hashes ------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "零"),
        (1, "一"),
        (3, "三"),
        (9, "九"),
        (10, "十"),
        (11, "十一"),
        (12, "十二"),
        (19, "十九"),
        (20, "二十"),
        (21, "二十一"),
        (30, "三十"),
        (99, "九十九"),
        (100, "100"),
    ],
)
def test_chinese_numeral(n: int, expected: str) -> None:
    assert chinese_numeral(n) == expected


def test_dates_are_written_without_leading_zeros() -> None:
    assert zh_date(date(2026, 1, 5)) == "2026年1月5日"
    assert zh_date(date(2026, 12, 31)) == "2026年12月31日"


def test_case_numbers_with_the_default_pattern() -> None:
    assert DEFAULT_PATTERN == "（{year}）{station}{kind}字第{seq:04d}号"
    people = format_case_number(DEFAULT_PATTERN, year=2026, station="白石", track=PEOPLE, seq=42)
    assert people == "（2026）白石调字第0042号"
    police = format_case_number(DEFAULT_PATTERN, year=2026, station="白石", track=POLICE, seq=7)
    assert police == "（2026）白石治调字第0007号"
    big = format_case_number(DEFAULT_PATTERN, year=2027, station="青山", track=PEOPLE, seq=12345)
    assert big == "（2027）青山调字第12345号"


def test_text_sha256_is_the_hex_digest_of_the_utf8_bytes() -> None:
    # FIPS 180-2 test vector.
    assert text_sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    digest = text_sha256("人民调解协议书\n")
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest != text_sha256("人民调解协议书")


# --- terms with deadlines of their own ------------------------------------------------------

#: Stored as drafts were before a term could have a deadline of its own (no term_deadlines).
STORED_BEFORE = (
    '{"facts":"双方因犬只吠叫发生推搡。","disputed_matters":"医药费的承担。",'
    '"responsibility":"被申请人负主要责任。","terms":["被申请人向申请人赔礼道歉。",'
    '"被申请人赔偿医药费800元。"],"performance_manner":"当面支付现金。",'
    '"performance_deadline":"2026-12-31","copies":null,"others_present":""}'
)
#: The SHA-256 of these texts as the rules made them before terms had deadlines.
HASHES_BEFORE = {
    PEOPLE: "066c882290fe4ab3222ac9e84149b813e953f931e8a37211c125f11fbe2c1a35",
    POLICE: "3eb5ca983171cc1376b84e73bfcd3dbf82ad8b618df6cd4746f1eca4217b75eb",
}


def test_a_draft_stored_before_term_deadlines_loads_and_prints_the_same_bytes() -> None:
    stored = DraftContent.model_validate_json(STORED_BEFORE)
    assert stored == content() and stored.term_deadlines == ()
    assert text_sha256(canonical_text(header(PEOPLE), stored)) == HASHES_BEFORE[PEOPLE]
    police = stored.model_copy(update={"disputed_matters": "", "responsibility": ""})
    assert text_sha256(canonical_text(header(POLICE), police)) == HASHES_BEFORE[POLICE]


def test_a_term_with_its_own_deadline_says_so_after_the_term() -> None:
    text = canonical_text(header(), content(term_deadlines=(None, date(2026, 12, 5))))
    lines = text.split("\n")
    assert "1. 被申请人向申请人赔礼道歉。" in lines
    assert "2. 被申请人赔偿医药费800元。（本项于2026年12月5日前履行完毕）" in lines
    # The 履行期限 line stays the agreement's overall deadline.
    assert "履行期限：2026年12月31日前履行完毕。" in lines


def test_a_term_deadline_in_the_past_or_after_the_overall_deadline_is_a_problem() -> None:
    overall = TODAY + timedelta(days=30)
    draft = complete_content(
        terms=("赔礼道歉。", "赔偿医药费。", "赔偿误工费。", "互不追究。"),
        term_deadlines=(TODAY - timedelta(days=1), TODAY, overall + timedelta(days=1), overall),
        performance_deadline=overall,
    )
    problems = problems_before_freeze(PEOPLE, draft, two_facts(), PRESIDING, TODAY)
    assert [(p.field, p.params) for p in problems] == [
        ("term_deadlines.1", {"number": 1}),
        ("term_deadlines.3", {"number": 3}),
    ]
    assert "past" in problems[0].message
    assert "after the deadline for performance" in problems[1].message


def test_a_term_deadline_without_an_overall_deadline_still_needs_the_overall_one() -> None:
    draft = complete_content(term_deadlines=(TODAY, None), performance_deadline=None)
    problems = problems_before_freeze(PEOPLE, draft, two_facts(), PRESIDING, TODAY)
    assert fields(problems) == {"performance_deadline"}
