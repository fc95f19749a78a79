"""司法确认 through the pages: the clock on the case, the packet download, the role matrix,
the Chinese refusals that change nothing, the dashboard's reminders, the API, the office's court.

The agreement is sealed through the domain (rendered and sealed in this process);
everything after it goes through the real app and its forms.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta

import time_machine
from sqlmodel import col, select

from server.local_time import local_today
from server.models import Agreement, AuditEvent, BeatOffice, JudicialConfirmation, utcnow
from tests.agreements.pdf_support import poppler, squeeze
from tests.agreements.test_sealed_text import InProcess
from tests.agreements.test_sealed_text import producer as producer
from tests.conftest import Client, csrf_from, login
from tests.disputes.conftest import Env
from tests.disputes.conftest import env as env
from tests.disputes.helpers import ADULT_ID
from tests.judicial.helpers import COURT, sealed_case, window_of

RULING = "（2026）白法民特字第12号"


async def as_user(client: Client, username: str) -> str:
    """Sign out whoever is signed in and sign in as ``username``; the new CSRF token."""
    page = await client.get("/password")
    if page.status == 200 and 'name="csrf_token"' in await page.text():
        await client.post("/logout", data={"csrf_token": csrf_from(await page.text())})
    return await login(client, username)


async def page_csrf(client: Client, path: str) -> tuple[str, str]:
    page = await client.get(path)
    assert page.status == 200, await page.text()
    html = await page.text()
    return html, csrf_from(html)


async def sealed(env: Env, producer: InProcess) -> JudicialConfirmation:
    return await window_of(env, await sealed_case(env, producer))


async def test_the_clock_shows_on_the_case_and_the_agreement(
    client: Client, env: Env, producer: InProcess
) -> None:
    row = await sealed(env, producer)
    await as_user(client, "officer")
    left = (row.window_ends_on - local_today(env.tz)).days
    for path in (f"/disputes/{row.dispute_id}", f"/agreements/{row.agreement_id}"):
        html = await (await client.get(path)).text()
        assert "司法确认" in html, path
        assert f"剩余 {left} 天" in html, path
        assert f"申请截止：{row.window_ends_on.isoformat()}" in html, path
        assert f"/disputes/{row.dispute_id}/judicial" in html


async def test_who_sees_what(client: Client, env: Env, producer: InProcess) -> None:
    row = await sealed(env, producer)
    path = f"/disputes/{row.dispute_id}/judicial"
    expected = {
        "officer": (200, True, True),
        "chief": (200, True, True),
        "auxiliary": (200, False, False),
        "clerk": (200, False, False),
        "officer_b": (403, False, False),
        "admin": (403, False, False),
        "outsider": (404, False, False),
    }
    for username, (status, packet, record) in expected.items():
        await as_user(client, username)
        response = await client.get(path)
        html = await response.text()
        assert response.status == status, username
        assert (f"packet-form-{row.id}" in html) is packet, username
        assert (f"filing-form-{row.id}" in html) is record, username


async def test_the_packet_download(client: Client, env: Env, producer: InProcess) -> None:
    row = await sealed(env, producer)
    path = f"/disputes/{row.dispute_id}/judicial"
    await as_user(client, "officer")
    _html, csrf = await page_csrf(client, path)
    no_token = await client.post(f"/judicial/{row.id}/packet", data={})
    assert no_token.status == 403
    response = await client.post(f"/judicial/{row.id}/packet", data={"csrf_token": csrf})
    assert response.status == 200
    assert response.content_type == "application/zip"
    assert response.headers["Cache-Control"] == "no-store"
    assert "attachment" in response.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(await response.read())) as bundle:
        files = {name.split("-")[1]: bundle.read(name) for name in bundle.namelist()}
    assert set(files) == {"司法确认申请书", "人民调解协议书", "材料清单.txt"}
    text = squeeze(poppler("pdftotext", files["司法确认申请书"]))
    assert ADULT_ID in text and squeeze(COURT) in text and "此致" in text
    assert squeeze("调解组织主持调解的证明") in text
    assert poppler("pdfsig", files["人民调解协议书"]).count("Signature #1") == 1
    # An auxiliary sees the case but not the full ID numbers the packet carries.
    await as_user(client, "auxiliary")
    _html, aux_csrf = await page_csrf(client, path)
    refused = await client.post(f"/judicial/{row.id}/packet", data={"csrf_token": aux_csrf})
    assert refused.status == 403
    assert "只有本警务室民警或所领导可以生成司法确认申请材料" in await refused.text()
    async with env.factory() as db:
        audit = list(
            await db.exec(select(AuditEvent).where(AuditEvent.action == "judicial.packet"))
        )
    assert len(audit) == 1


async def test_refusals_are_chinese_and_change_nothing(
    client: Client, env: Env, producer: InProcess
) -> None:
    row = await sealed(env, producer)
    path = f"/disputes/{row.dispute_id}/judicial"
    await as_user(client, "officer")
    _html, csrf = await page_csrf(client, path)
    today = local_today(env.tz)
    base = {"csrf_token": csrf, "expected_version": "1", "court_name": "", "note": ""}
    cases = [
        ({"filed_on": (today + timedelta(days=1)).isoformat()}, 422, "申请日期不能晚于今天。"),
        (
            {"filed_on": (today - timedelta(days=1)).isoformat()},
            422,
            f"申请日期早于调解协议生效日期（{row.effective_on.isoformat()}）。",
        ),
        ({"filed_on": "昨天"}, 422, "请输入日期"),
        (
            {"filed_on": today.isoformat(), "expected_version": "9"},
            409,
            "其他人刚刚登记了该司法确认情况，请刷新页面后重试。",
        ),
    ]
    for fields, status, message in cases:
        response = await client.post(f"/judicial/{row.id}/filing", data={**base, **fields})
        html = await response.text()
        assert response.status == status, (fields, html[-2000:])
        assert message in html, fields
    decision = await client.post(
        f"/judicial/{row.id}/decision",
        data={
            "csrf_token": csrf,
            "expected_version": "1",
            "decision": "confirmed",
            "decided_on": today.isoformat(),
            "ruling_number": RULING,
        },
    )
    assert decision.status == 409
    assert "请先登记向法院申请的情况，再登记裁定结果。" in await decision.text()
    stored = await window_of(env, await _agreement_of(env, row))
    assert (stored.status, stored.version, stored.filed_on) == ("open", 1, None)

    filed = await client.post(
        f"/judicial/{row.id}/filing",
        data={**base, "filed_on": today.isoformat()},
        allow_redirects=False,
    )
    assert filed.status == 303
    html, csrf = await page_csrf(client, filed.headers["Location"])
    assert "已登记申请情况。" in html and "已向法院申请" in html
    decided = {
        "csrf_token": csrf,
        "expected_version": "2",
        "decision": "confirmed",
        "decided_on": today.isoformat(),
    }
    blank = await client.post(f"/judicial/{row.id}/decision", data={**decided, "ruling_number": ""})
    assert blank.status == 422
    assert "请填写法院裁定书的案号。" in await blank.text()
    ok = await client.post(
        f"/judicial/{row.id}/decision",
        data={**decided, "ruling_number": RULING},
        allow_redirects=False,
    )
    assert ok.status == 303
    html, _csrf = await page_csrf(client, ok.headers["Location"])
    assert "已登记法院裁定结果。" in html and "法院已确认有效" in html and RULING in html
    # Both are on the case's timeline too, not only in the audit trail.
    timeline = await (await client.get(f"/disputes/{row.dispute_id}")).text()
    assert "登记了司法确认申请" in timeline and "登记了法院司法确认裁定结果" in timeline
    assert f"{today.isoformat()} {RULING}" in timeline


async def _agreement_of(env: Env, row: JudicialConfirmation) -> Agreement:
    async with env.factory() as db:
        agreement = await db.get(Agreement, row.agreement_id)
    assert agreement is not None
    return agreement


async def test_the_dashboard_reminds_on_day_20_and_27(
    client: Client, env: Env, producer: InProcess
) -> None:
    row = await sealed(env, producer)
    await as_user(client, "officer")
    html = await (await client.get("/")).text()
    assert "司法确认期限提醒" in html and "暂无即将届满的司法确认申请期限。" in html
    start = utcnow()
    for day in (20, 27):
        with time_machine.travel(start + timedelta(days=day), tick=True):
            await as_user(client, "officer")
            html = await (await client.get("/")).text()
            reminders = html.split('id="judicial-reminders"')[1].split("</section>")[0]
            assert "养犬扰邻" in reminders
            assert f"期限提醒：第 {day} 日" in reminders
            case = await (await client.get(f"/disputes/{row.dispute_id}")).text()
            assert f"期限提醒：第 {day} 日" in case
            await as_user(client, "officer_b")
            other = await (await client.get("/")).text()
            assert (
                "养犬扰邻" not in other.split('id="judicial-reminders"')[1].split("</section>")[0]
            )
    with time_machine.travel(start + timedelta(days=40), tick=True):
        await as_user(client, "officer")
        case = await (await client.get(f"/disputes/{row.dispute_id}")).text()
        assert f"申请期限已于 {row.window_ends_on.isoformat()} 届满，未申请司法确认。" in case


async def test_the_api_returns_the_clock(client: Client, env: Env, producer: InProcess) -> None:
    row = await sealed(env, producer)
    await as_user(client, "clerk")
    response = await client.get(f"/api/v1/disputes/{row.dispute_id}/judicial")
    assert response.status == 200
    body = await response.json()
    (item,) = body["items"]
    assert item["id"] == row.id and item["status"] == "open"
    assert item["effective_on"] == row.effective_on.isoformat()
    assert item["window_ends_on"] == row.window_ends_on.isoformat()
    assert item["days_left"] == (row.window_ends_on - local_today(env.tz)).days
    assert item["day"] == 0 and item["lapsed"] is False and item["reminder"] is None
    assert item["court_name"] == COURT
    await as_user(client, "officer_b")
    denied = await client.get(f"/api/v1/disputes/{row.dispute_id}/judicial")
    assert denied.status == 403
    assert (await denied.json())["error"]["code"] == "not_allowed"


async def test_the_office_form_keeps_the_court(client: Client, env: Env) -> None:
    csrf = await as_user(client, "admin")
    office_id = env.seed.office_a
    base = {"csrf_token": csrf, "name": "滨河社区警务室", "active": "on"}
    bad = await client.post(f"/admin/offices/{office_id}", data={**base, "court_name": "白石区"})
    assert bad.status == 422
    assert "请填写法院名称，以“法院”或“法庭”结尾" in await bad.text()
    orphan = await client.post(
        f"/admin/offices/{office_id}", data={**base, "court_address": "法院路1号"}
    )
    assert orphan.status == 422
    assert "填写法院地址时请同时填写法院名称。" in await orphan.text()
    async with env.factory() as db:
        office = await db.get(BeatOffice, office_id)
    assert office is not None and office.court_name == ""
    ok = await client.post(
        f"/admin/offices/{office_id}",
        data={**base, "court_name": COURT, "court_address": "法院路1号"},
        allow_redirects=False,
    )
    assert ok.status == 303
    form = await (await client.get(f"/admin/offices/{office_id}")).text()
    assert re.search(rf'name="court_name" type="text" value="{COURT}"', form)
    async with env.factory() as db:
        office = await db.get(BeatOffice, office_id)
        assert office is not None and (office.court_name, office.court_address) == (
            COURT,
            "法院路1号",
        )
        rows = list(await db.exec(select(AuditEvent).order_by(col(AuditEvent.id))))
    assert rows[-1].action == "office.update"
