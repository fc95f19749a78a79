"""The facts draft from the minutes: parties by side and speaker, experts after, within the box."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.agreements.schemas import DraftContent
from server.minutes.facts import (
    CUT_NOTE,
    FACTS_LIMIT,
    Side,
    Statement,
    cut_to,
    draft_facts,
    sentences,
)

START = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def said(minute: int, key: str, label: str, name: str, side: Side, text: str) -> Statement:
    return Statement(START + timedelta(minutes=minute), key, label, name, side, text)


def applicant(minute: int, text: str) -> Statement:
    return said(minute, "inv-1", "申请人", "王丽华", Side.APPLICANT, text)


def respondent(minute: int, text: str) -> Statement:
    return said(minute, "inv-2", "被申请人", "张国强", Side.RESPONDENT, text)


def test_parties_grouped_by_speaker_in_time_order_applicant_first() -> None:
    statements = [
        respondent(1, "狗已经拴好了"),
        applicant(2, "他家的狗每天夜里叫"),
        said(3, "staff-9", "主持人", "李警官", Side.OTHER, "请双方冷静。"),
        respondent(4, "我愿意道歉！"),
        applicant(5, "要求赔偿医药费800元。"),
    ]
    drafted = draft_facts(statements)
    assert drafted.text == (
        "申请人王丽华称：他家的狗每天夜里叫。要求赔偿医药费800元。\n"
        "被申请人张国强称：狗已经拴好了。我愿意道歉！"
    )
    assert not drafted.cut and drafted.statements == 4


def test_an_agent_speaks_on_their_principals_side_and_experts_come_last() -> None:
    statements = [
        said(1, "inv-5", "律师", "陈律师", Side.EXPERT, "依民法典第1245条，饲养人应担责"),
        said(2, "inv-3", "被申请人张国强的委托代理人", "赵律师", Side.RESPONDENT, "同意赔偿"),
        applicant(3, "同意"),
    ]
    text = draft_facts(statements).text
    assert text.splitlines() == [
        "申请人王丽华称：同意。",
        "被申请人张国强的委托代理人赵律师称：同意赔偿。",
        "专家意见：律师陈律师认为：依民法典第1245条，饲养人应担责。",
    ]


def test_blank_entries_and_staff_alone_give_an_empty_draft() -> None:
    drafted = draft_facts(
        [applicant(1, "  \n "), said(2, "staff-1", "主持人", "李", Side.OTHER, "好")]
    )
    assert drafted.text == "" and drafted.statements == 0


def test_sentences_end_each_typed_line_and_drop_trailing_commas() -> None:
    assert sentences("第一，\n第二；\n“第三”\n（第四）") == "第一。第二。“第三”（第四）"


def test_the_limit_is_the_facts_fields_own() -> None:
    DraftContent(facts="字" * FACTS_LIMIT)
    with pytest.raises(ValueError):
        DraftContent(facts="字" * (FACTS_LIMIT + 1))


def test_a_long_draft_is_cut_after_the_last_whole_sentence_and_says_so() -> None:
    sentence = "这是一个完整的句子共十五字。"
    statements = [applicant(i, sentence) for i in range(400)]
    drafted = draft_facts(statements)
    assert drafted.cut and drafted.statements == 400
    assert len(drafted.text) <= FACTS_LIMIT
    assert drafted.text.endswith("。" + CUT_NOTE)
    body = drafted.text.removesuffix(CUT_NOTE).removeprefix("申请人王丽华称：")
    assert body and body == sentence * (len(body) // len(sentence))
    # It fits in the agreement's box as it is.
    assert DraftContent(facts=drafted.text).facts == drafted.text


def test_one_statement_with_no_full_stop_is_cut_at_a_clause_then_at_the_limit() -> None:
    clauses = cut_to("甲乙丙，" * 100, 120)
    assert len(clauses) <= 120 and clauses.endswith("丙" + CUT_NOTE)
    hard = cut_to("字" * 500, 120)
    assert hard == "字" * (120 - len(CUT_NOTE)) + CUT_NOTE
