"""统计 and 每周研判 over real HTTP: Chinese pages, exports that parse back to the same
numbers, the JSON API, scopes and refusals; and the 民转刑 form on the dispute page."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlmodel import select

from server.keys import SESSIONS
from server.models import AuditEvent, Dispute, DisputeEvent, utcnow
from server.stats.exports import COLUMNS
from tests.conftest import Client, Seed, login
from tests.stats.dataset import Builder, utc

PERIOD = "date_from=2026-01-01&date_to=2026-03-31"


async def add_disputes(client: Client, seed: Seed) -> dict[str, int]:
    """Office A: a neighbour dispute settled in 2 days and performed. Office B: a labour
    dispute referred and turned criminal; an untriaged one. Another station: one."""
    async with client.app[SESSIONS]() as db, db.begin():
        build = Builder(db, seed.station_id, seed.uid("chief"))
        d1 = await build.dispute(
            seed.office_a, "neighbour", "high", utc(2026, 1, 31, 15, 30),
            ["triaged", "in_mediation", "agreement"],
        )  # fmt: skip
        s1 = await build.session(d1, "police")
        await build.agreement(d1, s1, utc(2026, 2, 2, 15, 30), corrected=False)
        await build.followup(d1, "performed", utc(2026, 2, 20))
        d2 = await build.dispute(
            seed.office_b, "labour", "general", utc(2026, 2, 5), ["referred"],
            criminal_on=date(2026, 2, 10),
        )  # fmt: skip
        d3 = await build.dispute(seed.office_b, "debt", None, utc(2026, 3, 1), [])
        other_office = seed.users["officer_c"].office_id
        assert other_office is not None
        d4 = await build.dispute(
            other_office, "debt", None, utc(2026, 3, 1), [], station_id=seed.other_station_id
        )
        build.party(d1, "张三丰", phone="13900000001")
        build.party(d3, "张三丰", phone="13900000001")
    return {"d1": d1.id or 0, "d2": d2.id or 0, "d3": d3.id or 0, "d4": d4.id or 0}


def cells(html: str, key: str) -> str:
    """The row of one table key, as the text between its tags (enough to check numbers)."""
    start = html.index(f'data-key="{key}"')
    return html[start : html.index("</tr>", start)]


async def test_the_page_is_chinese_and_shows_every_figure(client: Client, seed: Seed) -> None:
    await add_disputes(client, seed)
    await login(client, "chief")
    page = await client.get(f"/stats?{PERIOD}")
    html = await page.text()
    assert page.status == 200, html
    assert "统计" in html and "化解率" in html and "民转刑" in html
    assert '<svg class="chart"' in html and "<script" not in html
    assert 'id="total-registered">3<' in html
    assert 'id="total-handled">2<' in html
    assert 'id="total-resolved">1<' in html
    assert 'id="total-rate">50.0%<' in html
    assert 'id="total-criminal">1<' in html
    assert 'id="total-median">2.0<' in html
    assert "滨河社区警务室" in html and "青山社区警务室" not in html
    office_a = cells(html, str(seed.office_a))
    assert '<td data-col="registered">1</td>' in office_a
    assert '<td data-col="rate">100.0%</td>' in office_a
    assert '<td data-col="performed">1</td>' in office_a
    assert "邻里纠纷" in html  # the category's label, translated
    assert "统计" in (await (await client.get("/")).text())  # the navigation link


async def test_exports_parse_back_to_the_same_numbers(client: Client, seed: Seed) -> None:
    await add_disputes(client, seed)
    await login(client, "chief")
    api = await (await client.get(f"/api/v1/stats?{PERIOD}")).json()
    assert api["total"]["registered"] == 3 and api["total"]["rate"] == 0.5
    assert api["total"]["median_days"] == 2.0
    assert api["period"] == {"from": "2026-01-01", "to": "2026-03-31"}
    by_office = {row["key"]: row for row in api["by"]["office"]}
    assert by_office[str(seed.office_b)]["criminal"] == 1
    assert [row["key"] for row in api["by"]["month"]] == ["2026-01", "2026-02", "2026-03"]

    response = await client.get(f"/stats.csv?{PERIOD}")
    assert response.status == 200
    assert response.headers["Content-Disposition"].endswith('.csv"')
    text = (await response.read()).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["统计期间", "2026-01-01", "2026-03-31"]
    heading = rows[1]
    from_csv = {(r[0], r[1]): dict(zip(heading[3:], r[3:], strict=True)) for r in rows[2:]}

    response = await client.get(f"/stats.xlsx?{PERIOD}")
    assert response.status == 200
    book = load_workbook(io.BytesIO(await response.read()), read_only=True)
    sheets = book.sheetnames
    assert len(sheets) == 7  # six dimensions and the definitions

    for dimension, index in (("office", 0), ("category", 1), ("risk", 2), ("month", 4)):
        sheet_rows = list(book[sheets[index]].iter_rows(values_only=True))
        xlsx_heading = sheet_rows[1]
        for row in api["by"][dimension]:
            key = row["key"]
            from_xlsx = next(r for r in sheet_rows[2:] if r[0] == key)
            xlsx_values = dict(zip(xlsx_heading[2:], from_xlsx[2:], strict=True))
            csv_values = from_csv[(dimension, key)]
            for name in ("registered", "handled", "resolved", "sealed", "criminal"):
                title = heading[3 + [c[0] for c in COLUMNS].index(name)]
                assert int(csv_values[title]) == row[name], (dimension, key, name)
                assert xlsx_values[title] == row[name], (dimension, key, name)
            rate_title = heading[3 + [c[0] for c in COLUMNS].index("rate")]
            expected = "" if row["rate"] is None else str(round(row["rate"], 4))
            assert csv_values[rate_title] == expected
            assert xlsx_values[rate_title] == (
                None if row["rate"] is None else round(row["rate"], 4)
            )
    total = from_csv[("total", "")]
    assert int(total[heading[3]]) == 3


async def test_scopes_and_roles(client: Client, seed: Seed) -> None:
    await add_disputes(client, seed)
    await login(client, "officer")
    mine = await (await client.get(f"/api/v1/stats?{PERIOD}")).json()
    assert mine["office_id"] == seed.office_a and mine["total"]["registered"] == 1
    page = await client.get(f"/stats?{PERIOD}&office_id={seed.office_b}")
    assert page.status == 403
    assert "只能查看本警务室" in await page.text()
    refused = await client.get(f"/api/v1/stats?office_id={seed.office_b}")
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "not_allowed"
    await client.post("/logout", data={"csrf_token": await login(client, "officer")})

    for username in ("auxiliary", "admin"):
        await login(client, username)
        assert (await client.get("/stats")).status == 403
        assert (await client.get("/stats/review")).status == 403
        assert (await client.get("/stats.csv")).status == 403
        assert (await client.get("/api/v1/stats")).status == 403

    await login(client, "clerk")
    station = await (await client.get(f"/api/v1/stats?{PERIOD}")).json()
    assert station["total"]["registered"] == 3
    await login(client, "outsider")  # another station's chief sees only their own
    theirs = await (await client.get(f"/api/v1/stats?{PERIOD}")).json()
    assert theirs["total"]["registered"] == 1
    wrong = await client.get(f"/api/v1/stats?office_id={seed.office_a}")
    assert wrong.status == 422
    assert list((await wrong.json())["error"]["fields"]) == ["office_id"]


async def test_a_period_that_ends_before_it_starts(client: Client, seed: Seed) -> None:
    await login(client, "chief")
    page = await client.get("/stats?date_from=2026-03-01&date_to=2026-02-01")
    assert page.status == 422
    html = await page.text()
    assert "结束日期早于开始日期" in html
    assert 'id="total-registered"' not in html
    review = await client.get("/stats/review?date_from=2026-03-01&date_to=2026-02-01")
    assert review.status == 422 and "结束日期早于开始日期" in await review.text()
    api = await client.get("/api/v1/stats?date_from=2026-03-01&date_to=2026-02-01")
    assert api.status == 422
    body = await api.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == "validation_failed"
    assert "结束日期早于开始日期" in body["error"]["message"]
    assert list(body["error"]["fields"]) == ["date_to"]
    assert (await client.get("/api/v1/stats?date_from=yesterday")).status == 422
    assert (await client.get("/api/v1/stats?colour=red")).status == 422
    assert (await client.get("/stats.csv?date_from=2026-03-01&date_to=2026-02-01")).status == 422


async def test_the_review_page(client: Client, seed: Seed) -> None:
    ids = await add_disputes(client, seed)
    await login(client, "chief")
    page = await client.get(f"/stats/review?{PERIOD}")
    html = await page.text()
    assert page.status == 200, html
    assert "每周研判" in html and "张三丰" in html and "13900000001" in html
    api = await (await client.get(f"/api/v1/stats/review?{PERIOD}")).json()
    assert [(r["match"], [d["dispute_id"] for d in r["disputes"]]) for r in api["repeats"]] == [
        ("phone", [ids["d1"], ids["d3"]])
    ]
    await login(client, "clerk")
    masked = await (await client.get(f"/stats/review?{PERIOD}")).text()
    assert "张三丰" not in masked and "张**" in masked and "139****0001" in masked


async def test_marking_a_dispute_turned_criminal(client: Client, seed: Seed) -> None:
    ids = await add_disputes(client, seed)
    d1 = ids["d1"]
    csrf = await login(client, "officer")
    detail = await client.get(f"/disputes/{d1}")
    assert "民转刑" in await detail.text()
    today = utcnow().date()
    for bad, message in (
        ("2026-01-30", "不能早于纠纷登记日期"),
        ((today + timedelta(days=2)).isoformat(), "不能晚于今天"),
    ):
        refused = await client.post(
            f"/disputes/{d1}/criminal",
            data={"csrf_token": csrf, "criminal_on": bad, "criminal_case_ref": "刑字001号"},
        )
        assert refused.status == 422
        assert message in await refused.text()
    blank = await client.post(
        f"/disputes/{d1}/criminal", data={"csrf_token": csrf, "criminal_on": "2026-02-01"}
    )
    assert blank.status == 422
    ok = await client.post(
        f"/disputes/{d1}/criminal",
        data={"csrf_token": csrf, "criminal_on": "2026-02-01", "criminal_case_ref": "刑字001号"},
        allow_redirects=False,
    )
    assert ok.status == 303, await ok.text()
    async with client.app[SESSIONS]() as db:
        dispute = await db.get(Dispute, d1)
        assert dispute is not None
        assert (dispute.criminal_on, dispute.criminal_case_ref) == (date(2026, 2, 1), "刑字001号")
        kinds = [
            e.kind for e in await db.exec(select(DisputeEvent).where(DisputeEvent.dispute_id == d1))
        ]
        assert kinds.count("criminal") == 1
        actions = [a.action for a in await db.exec(select(AuditEvent))]
        assert "dispute.criminal" in actions
    shown = await (await client.get(f"/disputes/{d1}")).text()
    assert "刑字001号" in shown
    stats = await (await client.get(f"/api/v1/stats?{PERIOD}")).json()
    assert stats["total"]["criminal"] == 1  # office A: D1 now
    # Office B's dispute is not the officer's; the auxiliary may not mark at all.
    other = await client.post(
        f"/disputes/{ids['d2']}/criminal",
        data={"csrf_token": csrf, "criminal_on": "2026-02-10", "criminal_case_ref": "x"},
    )
    assert other.status == 403
    csrf = await login(client, "auxiliary")
    assert (
        await client.post(
            f"/disputes/{d1}/criminal",
            data={"csrf_token": csrf, "criminal_on": "2026-02-01", "criminal_case_ref": "x"},
        )
    ).status == 403
