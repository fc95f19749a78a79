"""The station's working-day calendar page: coverage, the next-year warning, changes, roles.

The clock is pinned in every test: "next year" is the year after today in
Asia/Shanghai, and the holiday library knows up to LIBRARY_YEARS' last year.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from aiohttp import ClientResponse
from sqlmodel import col, select

from server.keys import SESSIONS
from server.models import AuditEvent
from server.models.followup import WorkdayOverride
from server.workdays import LIBRARY_YEARS
from tests.conftest import Client, Seed, login

LAST_KNOWN = LIBRARY_YEARS.stop - 1
#: Mid-year of the library's last year but one: next year is still in the library.
COVERED = datetime(LAST_KNOWN - 1, 6, 15, 4, 0, tzinfo=UTC)
#: December of the library's last year: next year is in neither the library nor the table.
UNCOVERED = datetime(LAST_KNOWN, 12, 7, 4, 0, tzinfo=UTC)
#: 16:30 UTC on 31 December is already 1 January in Asia/Shanghai.
LOCAL_NEW_YEAR = datetime(LAST_KNOWN, 12, 31, 16, 30, tzinfo=UTC)
NEXT = LAST_KNOWN + 1

pinned = pytest.mark.parametrize("pinned_clock", [UNCOVERED], indirect=True, ids=["uncovered"])


async def _rows(client: Client) -> list[WorkdayOverride]:
    async with client.app[SESSIONS]() as db:
        return list(await db.exec(select(WorkdayOverride).order_by(col(WorkdayOverride.day))))


async def _actions(client: Client, prefix: str) -> list[AuditEvent]:
    async with client.app[SESSIONS]() as db:
        query = select(AuditEvent).where(col(AuditEvent.action).startswith(prefix))
        return list(await db.exec(query.order_by(col(AuditEvent.id))))


async def _add(
    client: Client, csrf: str, day: str, kind: str = "holiday", name: str = "元旦"
) -> ClientResponse:
    return await client.post(
        "/admin/workdays",
        data={"csrf_token": csrf, "day": day, "kind": kind, "name": name},
        allow_redirects=False,
    )


@pytest.mark.parametrize("pinned_clock", [COVERED], indirect=True, ids=["covered"])
async def test_no_warning_when_next_year_is_in_the_library(client: Client, seed: Seed) -> None:
    await login(client, "admin")
    for path in ("/admin", "/admin/workdays"):
        html = await (await client.get(path)).text()
        assert "workdays-warning" not in html, path
        assert f'data-year="{LAST_KNOWN}" data-known="yes"' in html
        assert f"节假日库：{LIBRARY_YEARS.start}–{LAST_KNOWN}" in html


@pinned
async def test_next_year_uncovered_is_warned_until_the_station_enters_it(
    client: Client, seed: Seed
) -> None:
    csrf = await login(client, "admin")
    html = await (await client.get("/admin")).text()
    assert f'class="alert workdays-warning" role="alert" data-year="{NEXT}"' in html
    assert f"明年（{NEXT}年）的法定节假日和调休安排尚未收录" in html
    assert f'data-year="{NEXT}" data-known="no"' in html

    response = await _add(client, csrf, f"{NEXT}-01-01", name=" 元旦 ")
    assert response.status == 303
    assert response.headers["Location"] == f"/admin/workdays?year={NEXT}&notice=added"
    [row] = await _rows(client)
    assert (row.day, row.workday, row.name) == (date(NEXT, 1, 1), False, "元旦")
    assert row.station_id == seed.station_id and row.created_by_id == seed.uid("admin")
    [event] = await _actions(client, "workday.")
    assert event.action == "workday.add" and f'"day": "{NEXT}-01-01"' in event.detail

    for path in ("/admin", f"/admin/workdays?year={NEXT}"):
        html = await (await client.get(path)).text()
        assert "workdays-warning" not in html, path
        assert "本所自定（1天）" in html
    page = await (await client.get(f"/admin/workdays?year={NEXT}")).text()
    assert f'<tr data-day="{NEXT}-01-01">' in page and "放假" in page
    # The audit trail names it in words.
    assert "设置本所工作日" in await (await client.get("/audit")).text()


@pytest.mark.parametrize("pinned_clock", [LOCAL_NEW_YEAR], indirect=True, ids=["local-new-year"])
async def test_on_new_years_day_in_shanghai_this_year_and_next_are_warned(
    client: Client, seed: Seed
) -> None:
    """Still 31 December in UTC: the UTC date would call the new year "next year"."""
    await login(client, "admin")
    html = await (await client.get("/admin")).text()
    assert f'data-year="{NEXT}"' in html and f'data-year="{NEXT + 1}"' in html
    assert f"今年（{NEXT}年）的法定节假日和调休安排未收录" in html
    # The page opens on next year: the one to enter.
    page = await (await client.get("/admin/workdays")).text()
    assert f"{NEXT + 1}年本所自定的日期" in page


@pinned
async def test_bad_days_are_refused_in_chinese_and_nothing_changes(
    client: Client, seed: Seed
) -> None:
    csrf = await login(client, "admin")
    assert (await _add(client, csrf, f"{NEXT}-02-06", name="春节")).status == 303
    cases = [
        ({"day": f"{NEXT}-02-06", "name": "春节"}, 409, "已设置"),
        ({"day": f"{LAST_KNOWN + 3}-01-01"}, 422, "只能设置今天前后两年内的日期"),
        ({"day": f"{LAST_KNOWN - 3}-01-01"}, 422, "只能设置今天前后两年内的日期"),
        ({"day": f"{NEXT}-02-07", "name": "春" * 41}, 422, "最多 40 个字符"),
        ({"day": f"{NEXT}-02-07", "name": "  "}, 422, 'id="name-error"'),
        ({"day": f"{NEXT}-02-07", "kind": "maybe"}, 422, 'id="kind-error"'),
        ({"day": "明年正月初一"}, 422, 'id="day-error"'),
    ]
    for fields, status, text in cases:
        data = {"kind": "holiday", "name": "元旦", **fields}
        response = await _add(client, csrf, **data)
        body = await response.text()
        assert response.status == status, (fields, body)
        assert text in body, fields
    assert [r.day for r in await _rows(client)] == [date(NEXT, 2, 6)]
    assert len(await _actions(client, "workday.")) == 1


@pinned
async def test_deleting_a_day_is_audited_and_a_second_delete_is_told(
    client: Client, seed: Seed
) -> None:
    csrf = await login(client, "admin")
    await _add(client, csrf, f"{NEXT}-02-14", kind="workday", name="春节调休上班")
    [row] = await _rows(client)
    response = await client.post(
        f"/admin/workdays/{row.id}/delete", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert response.status == 303
    assert await _rows(client) == []
    deleted = (await _actions(client, "workday."))[-1]
    assert deleted.action == "workday.delete" and "春节调休上班" in deleted.detail
    again = await client.post(f"/admin/workdays/{row.id}/delete", data={"csrf_token": csrf})
    assert again.status == 404
    assert "该日期未设置（或已被删除）" in await again.text()


@pinned
async def test_a_years_schedule_is_imported_whole_or_not_at_all(client: Client, seed: Seed) -> None:
    csrf = await login(client, "admin")
    await _add(client, csrf, f"{NEXT}-01-01", name="元旦")
    bad = "\n".join(
        [
            f"{NEXT}-02-06,holiday,春节",
            f"{NEXT}-01-01,holiday,元旦",  # already set
            f"{NEXT}-02-06,休,春节",  # twice in the paste
            f"{NEXT}-02-07;holiday;春节",
            f"{NEXT}-02-08,maybe,春节",
            f"{NEXT}-02-30,holiday,春节",
            f"{NEXT}-02-09,holiday,",
            f"{NEXT}-02-10,holiday," + "春" * 41,
            f"{LAST_KNOWN + 3}-02-10,holiday,春节",
        ]
    )
    response = await client.post("/admin/workdays/import", data={"csrf_token": csrf, "lines": bad})
    assert response.status == 422
    html = await response.text()
    assert "未导入任何日期：8 行需要更正。" in html
    for line in range(2, 10):
        assert f"第{line}行：" in html, line
    assert f"第3行：{NEXT}-02-06 已在第1行。" in html
    assert [r.day for r in await _rows(client)] == [date(NEXT, 1, 1)]

    good = "\n".join(
        [
            f"# {NEXT}年春节",
            f"{NEXT}-02-06,holiday,春节",
            f"{NEXT}-02-07，放假，春节",
            "",
            f"{NEXT}-02-14,workday,春节调休上班",
        ]
    )
    response = await client.post(
        "/admin/workdays/import", data={"csrf_token": csrf, "lines": good}, allow_redirects=False
    )
    assert response.status == 303
    rows = {r.day: (r.workday, r.name) for r in await _rows(client)}
    assert rows[date(NEXT, 2, 7)] == (False, "春节")
    assert rows[date(NEXT, 2, 14)] == (True, "春节调休上班")
    assert len(rows) == 4
    imported = (await _actions(client, "workday.import"))[-1]
    assert '"count": 3' in imported.detail


@pinned
@pytest.mark.parametrize("username", ["chief", "officer", "auxiliary", "clerk"])
async def test_only_the_admin_changes_working_days(
    client: Client, seed: Seed, username: str
) -> None:
    admin_csrf = await login(client, "admin")
    await _add(client, admin_csrf, f"{NEXT}-01-01")
    [row] = await _rows(client)
    await client.post("/logout", data={"csrf_token": admin_csrf})

    csrf = await login(client, username)
    page = await client.get(f"/admin/workdays?year={NEXT}")
    if username == "chief":
        html = await page.text()
        assert page.status == 200 and f'<tr data-day="{NEXT}-01-01">' in html
        assert 'id="workday-form"' not in html and "/delete" not in html
    else:
        assert page.status == 403
    posts = [
        ("/admin/workdays", {"day": f"{NEXT}-01-02", "kind": "holiday", "name": "元旦"}),
        (f"/admin/workdays/{row.id}/delete", {}),
        ("/admin/workdays/import", {"lines": f"{NEXT}-01-03,holiday,元旦"}),
    ]
    for path, fields in posts:
        response = await client.post(path, data={"csrf_token": csrf, **fields})
        assert response.status == 403, (username, path)
    assert [r.id for r in await _rows(client)] == [row.id]
    assert [e.action for e in await _actions(client, "workday.")] == ["workday.add"]


@pinned
async def test_another_stations_chief_sees_none_of_these_days(client: Client, seed: Seed) -> None:
    csrf = await login(client, "admin")
    await _add(client, csrf, f"{NEXT}-01-01")
    await client.post("/logout", data={"csrf_token": csrf})
    await login(client, "outsider")
    html = await (await client.get(f"/admin/workdays?year={NEXT}")).text()
    assert f'data-day="{NEXT}-01-01"' not in html and 'id="no-days"' in html
    assert f'data-year="{NEXT}" data-known="no"' in html
