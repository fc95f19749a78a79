"""抽查 through the pages: the chief's draw, refusals in Chinese, an officer's check, roles, API."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlmodel import select

from server.models import Dispute, SpotCheck, SpotCheckDraw
from tests.conftest import Client, csrf_from, login
from tests.disputes.conftest import Env
from tests.disputes.conftest import env as env
from tests.spotchecks.test_service import END, START, frozen, resolved

__all__ = ["env", "frozen"]

pytestmark = pytest.mark.usefixtures("frozen")


async def as_user(client: Client, username: str) -> str:
    page = await client.get("/password")
    if page.status == 200 and 'name="csrf_token"' in await page.text():
        await client.post("/logout", data={"csrf_token": csrf_from(await page.text())})
    return await login(client, username)


async def rows(env: Env) -> tuple[int, int]:
    async with env.factory() as db:
        return (
            len(list(await db.exec(select(SpotCheckDraw)))),
            len(list(await db.exec(select(SpotCheck)))),
        )


def draw_form(csrf: str, **extra: Any) -> dict[str, Any]:
    return {
        "csrf_token": csrf,
        "period_start": START.isoformat(),
        "period_end": END.isoformat(),
        "mode": "percent",
        "amount": "100",
    } | extra


async def test_the_chief_draws_and_an_officer_records_a_check(client: Client, env: Env) -> None:
    dispute_id = await resolved(env)
    csrf = await as_user(client, "chief")
    page = await client.get("/spot-checks")
    html = await page.text()
    assert page.status == 200 and "抽取样本" in html and "已化解：" in html
    response = await client.post("/spot-checks", data=draw_form(csrf), allow_redirects=False)
    assert response.status == 303
    location = response.headers["Location"]
    assert re.fullmatch(r"/spot-checks/\d+", location)

    csrf = await as_user(client, "officer")
    html = await (await client.get(location)).text()
    assert "养犬扰邻纠纷" in html and "保存抽查结果" in html
    match = re.search(r'action="/spot-checks/checks/(\d+)"', html)
    assert match
    form = {
        "csrf_token": csrf,
        "expected_version": "1",
        "checked_at": "2026-11-10T10:01",
        "method": "visit",
        "reached": "王丽华本人",
        "stays_resolved": "true",
        "note": "双方相安无事",
    }
    # The same form twice: the second is told someone was first, in Chinese.
    first = await client.post(f"/spot-checks/checks/{match.group(1)}", data=form)
    assert first.status == 200 and "抽查结果已登记" in await first.text()
    second = await client.post(f"/spot-checks/checks/{match.group(1)}", data=form)
    assert second.status == 409 and "其他人已同时登记了这项抽查" in await second.text()
    html = await (await client.get(f"/disputes/{dispute_id}")).text()
    assert "矛盾未反弹" in html and "进行了抽查：矛盾未反弹" in html

    api = await client.get("/api/v1/spot-checks")
    body = await api.json()
    assert body["items"][0]["figures"] == {
        "sampled": 1,
        "checked": 1,
        "stayed_resolved": 1,
        "share_checked": 1.0,
        "share_stayed_resolved": 1.0,
    }


async def test_bad_draws_are_refused_in_chinese_and_write_nothing(client: Client, env: Env) -> None:
    await resolved(env)
    csrf = await as_user(client, "chief")
    cases = [
        ({"amount": "0"}, "比例须为 1 至 100 之间的整数。"),
        ({"mode": "count", "amount": "5"}, "该期间内仅有 1 件已化解纠纷"),
        ({"period_end": "2026-10-01"}, "期间的结束日期早于开始日期。"),
        ({"period_start": "2025-01-01", "period_end": "2025-01-31"}, "该期间内没有已化解的纠纷"),
        ({"office_id": str(env.office_c)}, "请选择本所辖区内的警务室。"),
    ]
    for extra, message in cases:
        response = await client.post("/spot-checks", data=draw_form(csrf, **extra))
        html = await response.text()
        assert response.status == 422, (extra, response.status)
        assert message in html, (extra, html[:300])
    assert await rows(env) == (0, 0)
    # Without the CSRF token nothing is drawn either.
    response = await client.post("/spot-checks", data=draw_form("wrong"))
    assert response.status == 403
    assert await rows(env) == (0, 0)


async def test_who_may_do_what(client: Client, env: Env) -> None:
    await resolved(env)
    csrf = await as_user(client, "chief")
    response = await client.post("/spot-checks", data=draw_form(csrf), allow_redirects=False)
    location = response.headers["Location"]
    for username, status, form_shown, check_shown in [
        ("officer", 200, True, True),
        ("officer_b", 200, False, False),
        ("auxiliary", 200, False, True),
        ("clerk", 200, False, True),
        ("admin", 403, False, False),
    ]:
        csrf = await as_user(client, username)
        page = await client.get(location)
        html = await page.text()
        assert page.status == status, username
        assert ("保存抽查结果" in html) is form_shown, username
        assert ("养犬扰邻纠纷" in html) is check_shown, username
        refused = await client.post("/spot-checks", data=draw_form(csrf), allow_redirects=False)
        assert refused.status == 403, username
    assert await rows(env) == (1, 1)


async def test_a_flare_up_reopens_the_dispute_from_the_page(client: Client, env: Env) -> None:
    dispute_id = await resolved(env)
    csrf = await as_user(client, "chief")
    location = (
        await client.post("/spot-checks", data=draw_form(csrf), allow_redirects=False)
    ).headers["Location"]
    html = await (await client.get(location)).text()
    match = re.search(r'action="/spot-checks/checks/(\d+)"', html)
    assert match
    response = await client.post(
        f"/spot-checks/checks/{match.group(1)}",
        data={
            "csrf_token": csrf,
            "expected_version": "1",
            "checked_at": "2026-11-10T10:01",
            "method": "phone",
            "reached": "张国强",
            "stays_resolved": "false",
            "note": "又因犬只问题争吵",
        },
    )
    assert response.status == 200
    async with env.factory() as db:
        dispute = await db.get(Dispute, dispute_id)
        assert dispute is not None and dispute.status == "in_mediation"
    html = await (await client.get(f"/disputes/{dispute_id}")).text()
    assert "矛盾反弹，已重新启动" in html
