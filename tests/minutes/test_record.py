"""The canonical text of the minutes: one line per entry, local time, stable hash."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from server.minutes.record import Header, Line, canonical_text, entry_text, sha256_of

TZ = ZoneInfo("Asia/Shanghai")
HEADER = Header(
    case_reference="W-2026-0042",
    dispute_title="养犬扰邻",
    session_time="2026年12月7日 10:00—11:00",
    place="线上视频调解（白石派出所滨河社区警务室）",
    presiding_label="主持人",
    presiding_name="李警官",
    clerks=("周内勤",),
    participants=("王丽华（申请人）", "张国强（被申请人）", "陈律师（律师）"),
)


def at(hour: int, minute: int, second: int = 0, day: int = 7) -> datetime:
    """A UTC instant: 02:00Z is 10:00 in Shanghai."""
    return datetime(2026, 12, day, hour, minute, second, tzinfo=UTC)


def test_header_then_one_line_per_entry_in_local_time() -> None:
    lines = [
        Line(at(2, 1, 5), "王丽华", "申请人", "他家的狗每天夜里叫。"),
        Line(at(2, 3, 40), "张国强", "被申请人", "狗已经拴好了"),
    ]
    text = canonical_text(HEADER, lines, TZ)
    assert text.splitlines() == [
        "调解笔录",
        "案件编号：W-2026-0042",
        "纠纷：养犬扰邻",
        "调解时间：2026年12月7日 10:00—11:00",
        "调解地点：线上视频调解（白石派出所滨河社区警务室）",
        "主持人：李警官",
        "记录人：周内勤",
        "参加人员：王丽华（申请人）、张国强（被申请人）、陈律师（律师）",
        "",
        "10:01:05 王丽华（申请人）：他家的狗每天夜里叫。",
        "10:03:40 张国强（被申请人）：狗已经拴好了",
    ]
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_the_hash_is_sha256_of_the_utf8_text_and_follows_every_change() -> None:
    lines = [Line(at(2, 1), "王丽华", "申请人", "甲")]
    text = canonical_text(HEADER, lines, TZ)
    assert sha256_of(text) == hashlib.sha256(text.encode("utf-8")).hexdigest()
    changed = canonical_text(HEADER, [Line(at(2, 1), "王丽华", "申请人", "乙")], TZ)
    later = canonical_text(HEADER, [Line(at(2, 1, 1), "王丽华", "申请人", "甲")], TZ)
    assert len({sha256_of(text), sha256_of(changed), sha256_of(later)}) == 3


def test_typed_line_breaks_stay_inside_the_entry_indented() -> None:
    assert entry_text("  第一句\r\n\n第二句  \n") == "第一句\n    第二句"
    text = canonical_text(HEADER, [Line(at(2, 1), "王丽华", "申请人", "第一句\n10:00:00 假的")], TZ)
    entry_lines = text.splitlines()[9:]
    assert entry_lines == ["10:01:00 王丽华（申请人）：第一句", "    10:00:00 假的"]


def test_an_entry_past_local_midnight_carries_its_date() -> None:
    # 15:59Z is 23:59 on the 7th in Shanghai; 16:01Z is 00:01 on the 8th.
    lines = [
        Line(at(15, 59), "王丽华", "申请人", "甲"),
        Line(at(16, 1), "张国强", "被申请人", "乙"),
    ]
    entries = canonical_text(HEADER, lines, TZ).splitlines()[9:]
    assert entries == [
        "23:59:00 王丽华（申请人）：甲",
        "2026-12-08 00:01:00 张国强（被申请人）：乙",
    ]


def test_no_clerk_and_no_participants_say_so() -> None:
    bare = Header("W-1", "纠纷", "时间", "地点", "调解员", "甲", (), ())
    lines = canonical_text(bare, [], TZ).splitlines()
    assert "调解员：甲" in lines and "记录人：无" in lines and "参加人员：无" in lines
