"""Every figure of the known data set (tests/stats/dataset.py), worked out by hand.

Columns: registered, handled, resolved, sealed, performed, reopened, referred,
criminal, median days. Runs on SQLite and, under `make test`, on PostgreSQL.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from server.db import transaction
from server.errors import NotAllowed, ValidationFailed
from server.stats import figures
from server.stats.figures import Figures, Row
from server.stats.period import StatsFilter
from tests.stats.conftest import KnownDb

TZ = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 3, 20)
Q1 = StatsFilter(date_from=date(2026, 1, 1), date_to=date(2026, 3, 31))

Numbers = tuple[int, int, int, int, int, int, int, int, float | None]


def numbers(row: Row) -> Numbers:
    return (
        row.registered,
        row.handled,
        row.resolved,
        row.sealed,
        row.performed,
        row.reopened,
        row.referred,
        row.criminal,
        row.median_days,
    )


def table(result: Figures, dimension: str) -> dict[str, Numbers]:
    return {row.key: numbers(row) for row in result.by[dimension]}


async def compute(kdb: KnownDb, flt: StatsFilter, who: str = "chief") -> Figures:
    actor = getattr(kdb.known, who)
    async with transaction(kdb.factory) as db:
        return await figures.compute(db, actor, flt, tz=TZ, today=TODAY)


async def test_every_figure_of_the_station(known_db: KnownDb) -> None:
    k = known_db.known
    result = await compute(known_db, Q1)
    assert numbers(result.total) == (9, 6, 3, 3, 2, 2, 2, 1, 3.0)
    assert result.total.rate == 0.5
    assert table(result, "office") == {
        str(k.office_a): (4, 3, 2, 2, 1, 1, 1, 0, 2.0),
        str(k.office_b): (5, 3, 1, 1, 1, 1, 1, 1, 5.0),
    }
    assert [row.label for row in result.by["office"]] == ["滨河社区警务室", "新村社区警务室"]
    assert result.by["office"][0].rate == pytest.approx(2 / 3)
    assert result.by["office"][1].rate == pytest.approx(1 / 3)
    assert list(table(result, "category").items()) == [
        ("neighbour", (3, 3, 2, 2, 2, 1, 1, 0, 4.0)),
        ("family", (1, 1, 1, 1, 0, 1, 0, 0, 1.0)),
        ("labour", (1, 1, 0, 0, 0, 0, 1, 1, None)),
        ("contract", (1, 1, 0, 0, 0, 0, 0, 0, None)),
        ("property", (1, 0, 0, 0, 0, 0, 0, 0, None)),
        ("debt", (1, 0, 0, 0, 0, 0, 0, 0, None)),
        ("other", (1, 0, 0, 0, 0, 0, 0, 0, None)),
    ]
    assert list(table(result, "risk").items()) == [
        ("high", (4, 2, 1, 1, 1, 0, 1, 1, 3.0)),
        ("attention", (2, 2, 1, 1, 1, 1, 1, 0, 5.0)),
        ("general", (2, 2, 1, 1, 0, 1, 0, 0, 1.0)),
        ("untriaged", (1, 0, 0, 0, 0, 0, 0, 0, None)),
    ]
    assert list(table(result, "track").items()) == [
        ("people", (2, 2, 1, 1, 0, 1, 1, 0, 1.0)),
        ("police", (2, 2, 2, 2, 2, 1, 0, 0, 4.0)),
        ("", (5, 2, 0, 0, 0, 0, 1, 1, None)),
    ]
    # D1 at 23:30 local on 31 January is January's; D2 at 00:30 local on 1 February
    # (still 31 January in UTC) is February's.
    assert list(table(result, "month").items()) == [
        ("2026-01", (1, 1, 1, 1, 1, 0, 0, 0, 3.0)),
        ("2026-02", (3, 3, 2, 2, 1, 2, 1, 0, 3.0)),
        ("2026-03", (5, 2, 0, 0, 0, 0, 1, 1, None)),
    ]
    # An expert on a cancelled session (D10) is not counted for it.
    assert list(table(result, "expert").items()) == [
        (str(k.expert_1), (2, 2, 2, 2, 1, 1, 0, 0, 2.0)),
        (str(k.expert_2), (2, 2, 2, 2, 1, 2, 0, 0, 3.0)),
    ]
    assert [row.label for row in result.by["expert"]] == ["王律师", "赵干部"]
    # The margins of every table add up to the total.
    for dimension in ("office", "category", "risk", "track", "month"):
        assert sum(row.registered for row in result.by[dimension]) == 9, dimension


async def test_local_month_edges_decide_what_a_day_counts(known_db: KnownDb) -> None:
    last_of_january = await compute(
        known_db, StatsFilter(date_from=date(2026, 1, 31), date_to=date(2026, 1, 31))
    )
    assert numbers(last_of_january.total) == (1, 1, 1, 1, 1, 0, 0, 0, 3.0)  # D1 only
    assert list(table(last_of_january, "month")) == ["2026-01"]
    new_year = await compute(
        known_db, StatsFilter(date_from=date(2025, 12, 1), date_to=date(2026, 1, 1))
    )
    # D7 at 23:59 local on 31 December 2025, sealed on 2 January: 1.34 days.
    assert numbers(new_year.total) == (1, 1, 1, 1, 0, 0, 0, 0, 1.3)
    assert table(new_year, "month") == {
        "2025-12": (1, 1, 1, 1, 0, 0, 0, 0, 1.3),
        "2026-01": (0, 0, 0, 0, 0, 0, 0, 0, None),
    }
    april = await compute(
        known_db, StatsFilter(date_from=date(2026, 4, 1), date_to=TODAY.replace(month=4))
    )
    assert april.total.registered == 1  # D8, 00:00 local on 1 April


async def test_one_office_and_the_officer_scope(known_db: KnownDb) -> None:
    k = known_db.known
    only_b = await compute(
        known_db, StatsFilter(date_from=Q1.date_from, date_to=Q1.date_to, office_id=k.office_b)
    )
    assert numbers(only_b.total) == (5, 3, 1, 1, 1, 1, 1, 1, 5.0)
    assert list(table(only_b, "office")) == [str(k.office_b)]
    mine = await compute(known_db, Q1, "officer_a")
    assert mine.office_id == k.office_a
    assert numbers(mine.total) == (4, 3, 2, 2, 1, 1, 1, 0, 2.0)
    clerk = await compute(known_db, Q1, "clerk")
    assert numbers(clerk.total) == numbers((await compute(known_db, Q1)).total)


async def test_refusals(known_db: KnownDb) -> None:
    k = known_db.known
    with pytest.raises(NotAllowed):
        await compute(known_db, StatsFilter(office_id=k.office_b), "officer_a")
    with pytest.raises(NotAllowed):
        await compute(known_db, Q1, "admin")
    with pytest.raises(NotAllowed):
        await compute(known_db, Q1, "auxiliary")
    with pytest.raises(ValidationFailed) as backwards:
        await compute(known_db, StatsFilter(date_from=date(2026, 3, 1), date_to=date(2026, 2, 1)))
    assert backwards.value.fields == {"date_to": "before_start"}
    with pytest.raises(ValidationFailed) as elsewhere:
        await compute(known_db, StatsFilter(office_id=k.other_office))
    assert elsewhere.value.fields == {"office_id": "unknown"}
    with pytest.raises(ValidationFailed):
        await compute(known_db, StatsFilter(date_from=date(2010, 1, 1), date_to=date(2026, 1, 1)))


async def test_the_default_period_is_this_local_year(known_db: KnownDb) -> None:
    result = await compute(known_db, StatsFilter())
    assert (result.period.start, result.period.end) == (date(2026, 1, 1), TODAY)
    assert result.total.registered == 9  # D12 was registered on the 19th
