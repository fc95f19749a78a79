"""The 调解笔录 pages: the record, the sign-off with its confirm step, the PDF, the facts button,
and the 笔录 in the case bundle. Real all the way: WeasyPrint renders, pyHanko seals."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from server.agreements.schemas import DraftContent
from server.config import Config
from server.db import SessionFactory
from server.models import AgreementDraft
from server.models.minutes import MinutesSignoff
from tests.conftest import Client, Seed, csrf_from, login
from tests.http.test_agreement_pages import (
    _save,
    _sealed,
    _workspace,
)
from tests.http.test_agreement_pages import (
    app_client as app_client,
)
from tests.http.test_agreement_pages import (
    pki as pki,
)
from tests.http.test_agreement_pages import (
    sealing as sealing,
)
from tests.http.test_door import APPLICANT, EXPERTS, RESPONDENT, Booked, book_session
from tests.minutes.helpers import Said, write_entries

LAWYER = EXPERTS["lawyer"][0]
SAID = [
    Said(60, APPLICANT, "他家的狗每天夜里叫"),
    Said(30, RESPONDENT, "我先说：狗已经拴好了。"),
    Said(90, "presiding", "请双方冷静。"),
    Said(120, LAWYER, "饲养人应当承担侵权责任。"),
]


@pytest.fixture
async def booked(factory: SessionFactory, seed: Seed, config: Config) -> Booked:
    return await book_session(factory, seed, config, starts_in=timedelta(minutes=5))


def keys(booked: Booked, seed: Seed) -> dict[str, str]:
    ids = booked.invitation_ids
    return {
        APPLICANT: f"inv-{ids['applicant']}",
        RESPONDENT: f"inv-{ids['respondent']}",
        LAWYER: f"inv-{ids['lawyer']}",
        "presiding": f"staff-{seed.uid('officer')}",
    }


async def written(factory: SessionFactory, booked: Booked, seed: Seed) -> None:
    await write_entries(factory, booked.session_id, keys(booked, seed), SAID)


async def minutes_page(client: Client, booked: Booked) -> tuple[int, str]:
    page = await client.get(f"/sessions/{booked.session_id}/minutes")
    return page.status, await page.text()


async def sign_off(client: Client, booked: Booked, **fields: str) -> tuple[int, str, str]:
    _status, html = await minutes_page(client, booked)
    shown = re.search(r'name="entries_sha256" value="([0-9a-f]{64})"', html)
    data = {
        "csrf_token": csrf_from(html),
        "entries_sha256": shown.group(1) if shown else "",
        "confirm": "yes",
        **fields,
    }
    response = await client.post(
        f"/sessions/{booked.session_id}/minutes/signoff", data=data, allow_redirects=False
    )
    return response.status, response.headers.get("Location", ""), await response.text()


async def test_the_page_lists_the_entries_in_time_order_in_chinese(
    app_client: Client, booked: Booked, factory: SessionFactory, seed: Seed
) -> None:
    await written(factory, booked, seed)
    await login(app_client, "officer")
    status, html = await minutes_page(app_client, booked)
    assert status == 200
    assert "调解笔录" in html and "未确认" in html
    assert html.index("狗已经拴好了") < html.index("他家的狗每天夜里叫") < html.index("请双方冷静")
    assert f"{APPLICANT}（申请人）" in html and f"{LAWYER}（律师）" in html
    first = (booked.starts_at + timedelta(seconds=30)).astimezone(ZoneInfo("Asia/Shanghai"))
    assert f">{first:%H:%M:%S}</td>" in html
    assert 'id="minutes-signoff"' in html and 'id="minutes-confirm"' in html
    # The session page links here.
    session_page = await (await app_client.get(f"/sessions/{booked.session_id}")).text()
    assert f'id="open-minutes" href="/sessions/{booked.session_id}/minutes"' in session_page


@pytest.mark.parametrize("username", ["clerk", "chief", "auxiliary"])
async def test_others_who_read_the_case_see_the_record_but_no_sign_off(
    app_client: Client, booked: Booked, factory: SessionFactory, seed: Seed, username: str
) -> None:
    await written(factory, booked, seed)
    await login(app_client, username)
    status, html = await minutes_page(app_client, booked)
    assert status == 200 and "他家的狗每天夜里叫" in html
    assert 'id="minutes-signoff"' not in html and 'id="minutes-waiting"' in html
    # Posting anyway is refused, in Chinese.
    response = await app_client.post(
        f"/sessions/{booked.session_id}/minutes/signoff",
        data={"csrf_token": csrf_from(html), "confirm": "yes"},
    )
    assert response.status == 403
    assert "只有本场调解的主持人可以签署确认笔录" in await response.text()


async def test_another_office_and_the_admin_do_not_read_it(
    app_client: Client, booked: Booked, factory: SessionFactory, seed: Seed
) -> None:
    await written(factory, booked, seed)
    for username in ("officer_b", "admin"):
        await login(app_client, username)
        status, html = await minutes_page(app_client, booked)
        assert status == 403 and "他家的狗" not in html
    await login(app_client, "outsider")
    status, _html = await minutes_page(app_client, booked)
    assert status == 404


async def test_sign_off_with_confirm_then_download_the_sealed_pdf(
    app_client: Client, booked: Booked, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    await written(factory, booked, seed)
    await login(app_client, "officer")
    missing = await app_client.get(f"/sessions/{booked.session_id}/minutes.pdf")
    assert missing.status == 404
    # Without the tick: refused, nothing kept.
    status, _location, html = await sign_off(app_client, booked, confirm="")
    assert status == 422 and "请勾选确认您已核对笔录" in html
    status, location, _html = await sign_off(app_client, booked)
    assert status == 303 and location.endswith("/minutes?notice=signed_off")
    html = await (await app_client.get(location)).text()
    assert "调解笔录已确认" in html and 'data-signed-off="yes"' in html
    async with factory() as db:
        row = (await db.exec(select(MinutesSignoff))).one()
    assert row.entries_sha256 in html and row.pdf_sha256 in html
    assert 'id="minutes-signoff"' not in html
    download = await app_client.get(f"/sessions/{booked.session_id}/minutes.pdf")
    assert download.status == 200 and download.content_type == "application/pdf"
    data = await download.read()
    assert hashlib.sha256(data).hexdigest() == row.pdf_sha256
    assert download.headers["X-Content-SHA256"] == row.pdf_sha256
    assert data == (config.effective_agreements_dir / row.file_name).read_bytes()
    # Once more: refused, naming who did it.
    status, _location, html = await sign_off(app_client, booked)
    assert status == 409 and "该笔录已由测试officer于" in html
    # The dispute's timeline says so.
    timeline = await (await app_client.get(f"/disputes/{booked.dispute_id}")).text()
    assert "签署确认了调解笔录" in timeline


async def test_minutes_changed_since_the_page_are_refused_in_chinese(
    app_client: Client, booked: Booked, factory: SessionFactory, seed: Seed
) -> None:
    await written(factory, booked, seed)
    await login(app_client, "officer")
    status, _location, html = await sign_off(app_client, booked, entries_sha256="0" * 64)
    assert status == 409 and "您打开页面后笔录有变化" in html


async def test_no_entries_cannot_be_signed_off(app_client: Client, booked: Booked) -> None:
    await login(app_client, "officer")
    status, html = await minutes_page(app_client, booked)
    assert status == 200 and 'id="minutes-empty"' in html
    status, _location, html = await sign_off(app_client, booked)
    assert status == 409 and "尚无笔录记录，无法签署确认" in html


async def test_the_sign_off_needs_the_csrf_token(
    app_client: Client, booked: Booked, factory: SessionFactory, seed: Seed
) -> None:
    await written(factory, booked, seed)
    await login(app_client, "officer")
    response = await app_client.post(
        f"/sessions/{booked.session_id}/minutes/signoff", data={"confirm": "yes"}
    )
    assert response.status == 403
    async with factory() as db:
        assert list(await db.exec(select(MinutesSignoff))) == []


async def test_the_facts_button_drafts_the_facts_through_the_save_path(
    app_client: Client, booked: Booked, factory: SessionFactory, seed: Seed
) -> None:
    await written(factory, booked, seed)
    await login(app_client, "officer")
    html, csrf, version = await _workspace(app_client, booked.session_id)
    assert 'id="facts-from-minutes"' in html and "从笔录起草事实" in html
    url = f"/sessions/{booked.session_id}/agreement/facts-from-minutes"
    # Built on an older version: someone saved meanwhile, refused, nothing changes.
    version = await _save(app_client, booked.session_id)
    stale = await app_client.post(url, data={"csrf_token": csrf, "base_version": str(version - 1)})
    assert stale.status == 409 and "他人刚刚修改了草稿" in await stale.text()
    garbage = await app_client.post(url, data={"csrf_token": csrf, "base_version": "x"})
    assert garbage.status == 409
    response = await app_client.post(
        url, data={"csrf_token": csrf, "base_version": str(version)}, allow_redirects=False
    )
    assert response.status == 303 and response.headers["Location"].endswith("notice=facts")
    html, _csrf, new_version = await _workspace(app_client, booked.session_id)
    assert new_version == version + 1
    noticed = await (await app_client.get(response.headers["Location"])).text()
    assert "已根据调解笔录起草纠纷事实" in noticed
    async with factory() as db:
        draft = (await db.exec(select(AgreementDraft))).one()
    facts = DraftContent.model_validate_json(draft.content).facts
    assert facts.splitlines() == [
        f"申请人{APPLICANT}称：他家的狗每天夜里叫。",
        f"被申请人{RESPONDENT}称：我先说：狗已经拴好了。",
        f"专家意见：律师{LAWYER}认为：饲养人应当承担侵权责任。",
    ]
    # Without CSRF: refused.
    assert (await app_client.post(url, data={"base_version": str(new_version)})).status == 403


async def test_the_facts_button_refuses_without_entries_in_chinese(
    app_client: Client, booked: Booked
) -> None:
    await login(app_client, "officer")
    _html, csrf, version = await _workspace(app_client, booked.session_id)
    response = await app_client.post(
        f"/sessions/{booked.session_id}/agreement/facts-from-minutes",
        data={"csrf_token": csrf, "base_version": str(version)},
    )
    assert response.status == 409 and "尚无笔录记录，无法起草事实" in await response.text()


async def test_the_bundle_carries_the_signed_off_minutes(
    app_client: Client, booked: Booked, factory: SessionFactory, seed: Seed
) -> None:
    await written(factory, booked, seed)
    await login(app_client, "officer")
    status, _location, _html = await sign_off(app_client, booked)
    assert status == 303
    sealed = await _sealed(app_client, booked)
    # The workspace of a sealed draft has no facts button (nothing to save into).
    html = await (await app_client.get(f"/sessions/{booked.session_id}/agreement")).text()
    assert 'id="facts-from-minutes"' not in html
    async with factory() as db:
        version = (await db.exec(select(AgreementDraft))).one().version
    frozen = await app_client.post(
        f"/sessions/{booked.session_id}/agreement/facts-from-minutes",
        data={"csrf_token": csrf_from(html), "base_version": str(version)},
    )
    assert frozen.status == 409 and "文本已定稿待签" in await frozen.text()
    bundle = await app_client.get(f"/agreements/{sealed.agreement_id}/bundle.zip")
    assert bundle.status == 200
    async with factory() as db:
        row = (await db.exec(select(MinutesSignoff))).one()
    with zipfile.ZipFile(io.BytesIO(await bundle.read())) as archive_zip:
        names = archive_zip.namelist()
        pdf = archive_zip.read(next(n for n in names if n.endswith("/minutes.pdf")))
        text = archive_zip.read(next(n for n in names if n.endswith("/minutes.txt"))).decode()
    assert hashlib.sha256(pdf).hexdigest() == row.pdf_sha256
    assert hashlib.sha256(text.encode()).hexdigest() == row.entries_sha256
    assert text.startswith("调解笔录\n") and "他家的狗每天夜里叫" in text
