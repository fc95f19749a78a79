"""每周研判 over the known data set, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from server.db import transaction
from server.errors import NotAllowed
from server.stats import review
from server.stats.period import StatsFilter
from tests.stats.conftest import KnownDb

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 20, 4, tzinfo=UTC)  # 12:00 local
Q1 = StatsFilter(date_from=date(2026, 1, 1), date_to=date(2026, 3, 31))


async def compute(kdb: KnownDb, flt: StatsFilter, who: str = "chief") -> review.Review:
    async with transaction(kdb.factory) as db:
        return await review.compute(
            db, getattr(kdb.known, who), flt, tz=TZ, now=NOW, late_after_days=3
        )


def repeats(result: review.Review) -> list[tuple[str, str, list[int], list[str]]]:
    return [
        (r.match, r.shown, [a.dispute_id for a in r.appearances], [a.name for a in r.appearances])
        for r in result.repeats
    ]


async def test_the_review_lists_late_high_risk_repeats_and_reopenings(known_db: KnownDb) -> None:
    k = known_db.known
    d = k.disputes
    result = await compute(known_db, Q1)
    # D11: ten days in mediation with no outcome; D12 is one day old; D1/D4 have outcomes.
    assert [(x.id, x.days) for x in result.late] == [(d["d11"], 10)]
    assert repeats(result) == [
        ("address", "新村路 8 号", [d["d4"], d["d5"]], ["王五", "赵六"]),
        ("id_number", "1101**********1234", [d["d1"], d["d6"]], ["张三丰", "张三丰"]),
        ("phone", "13911112222", [d["d2"], d["d3"]], ["李四", "李小四"]),
    ]
    assert [(x.dispute_id, x.link_kind) for x in result.reopened] == [
        (d["d6"], "spot_check"),
        (d["d3"], "followup"),
    ]


async def test_the_clerk_sees_names_and_phones_masked(known_db: KnownDb) -> None:
    result = await compute(known_db, Q1, "clerk")
    assert repeats(result)[2] == (
        "phone",
        "139****2222",
        [known_db.known.disputes["d2"], known_db.known.disputes["d3"]],
        ["李*", "李**"],
    )


async def test_an_officer_sees_their_office_only(known_db: KnownDb) -> None:
    d = known_db.known.disputes
    result = await compute(known_db, Q1, "officer_a")
    assert [x.id for x in result.late] == [d["d11"]]
    # 张三丰's second dispute is at the other office: no repeat within office A.
    assert [r.match for r in result.repeats] == ["phone"]
    assert [x.dispute_id for x in result.reopened] == [d["d3"]]
    with pytest.raises(NotAllowed):
        await compute(known_db, StatsFilter(office_id=known_db.known.office_b), "officer_a")


async def test_the_default_period_is_the_last_thirty_days(known_db: KnownDb) -> None:
    result = await compute(known_db, StatsFilter())
    assert (result.period.start, result.period.end) == (date(2026, 2, 19), date(2026, 3, 20))
    assert [r.match for r in result.repeats] == ["address"]  # D4 and D5 only
    assert len(result.reopened) == 2


def test_addresses_are_compared_once_written_alike() -> None:
    assert review.normalise_address("新村路 8 号") == review.normalise_address("新村路８号")
    assert review.normalise_address("A栋-101") == review.normalise_address("a栋101")
    assert review.normalise_address("新村路8号") != review.normalise_address("新村路9号")
