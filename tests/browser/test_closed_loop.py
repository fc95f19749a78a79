"""The whole loop in a browser, on phones: 登记 → 分流 → 调解 → 协议 → 回访 → 抽查 → 统计.

An officer registers and triages a dispute and books the session through the
pages; the agreement is drafted, both parties sign on their own phones and the
officer seals it; the follow-up the seal created is on the officer's list and
is recorded as performed, which closes the case; the chief draws a spot check
of the day's resolved disputes, records that it stays resolved, and finds the
case counted on the statistics page.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlmodel import select

from server.db import SessionFactory
from server.models import Dispute, FollowUpTask
from tests.browser.screens import PHONE, no_horizontal_scroll
from tests.browser.test_signing import phone, sign_on
from tests.browser.test_signing import pki as pki
from tests.browser.test_signing import sealed_base_url as sealed_base_url
from tests.browser.test_signing import sealing as sealing
from tests.conftest import PASSWORD
from tests.disputes.helpers import ADULT_ID, resident_id
from tests.sessions.helpers import TZ

pytestmark = pytest.mark.browser

APPLICANT, RESPONDENT = "王丽华", "张国强"


async def log_in(context: BrowserContext, base: str, username: str) -> Page:
    page = await context.new_page()
    await page.goto(f"{base}/login")
    await page.fill("#f-username", username)
    await page.fill("#f-password", PASSWORD)
    await page.click("button.primary")
    await expect(page.locator("h1")).not_to_have_text("工作人员登录")
    return page


async def register_and_triage(page: Page, base: str) -> int:
    await page.goto(f"{base}/disputes/new")
    await page.fill("#f-title", "养犬扰邻纠纷")
    await page.select_option("#f-category", "neighbour")
    await page.fill("#f-cause", "犬只夜间吠叫并咬伤邻居")
    occurred = (datetime.now(TZ) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    await page.fill("#f-occurred_at", occurred)
    await page.fill("#f-place", "滨河小区3栋楼下")
    await page.fill("#f-scale", "2")
    await page.select_option("#f-trend", "stable")
    await page.fill("[name='parties.0.name']", APPLICANT)
    await page.fill("[name='parties.0.id_number']", ADULT_ID)
    await page.fill("[name='parties.1.name']", RESPONDENT)
    await page.fill("[name='parties.1.id_number']", resident_id(datetime(1985, 6, 1).date()))
    await page.click("button.primary")
    await expect(page.locator("h1")).to_have_text("养犬扰邻纠纷")
    dispute_id = int(page.url.rstrip("/").rsplit("/", 1)[1].split("?")[0])

    await page.select_option("#triage-form [name=risk_level]", "general")
    await page.select_option("#triage-form [name=assignee_id]", index=1)
    await page.fill("#triage-form [name=reason]", "邻里纠纷，可调解")
    await page.click("#triage-form button")
    await expect(page.locator(".meta .badge.risk-general")).to_be_visible()
    return dispute_id


async def book(page: Page, base: str, dispute_id: int) -> int:
    await page.goto(f"{base}/disputes/{dispute_id}/sessions/new")
    soon = datetime.now(TZ) + timedelta(minutes=5)
    await page.fill("[name=starts_at]", soon.strftime("%Y-%m-%dT%H:%M"))
    await page.check("input[name=legal_track][value=people]")
    await expect(page.locator("#party_ids input[name=party_ids]:checked")).to_have_count(2)
    await page.click("button.primary[value=book]")
    await expect(page.locator("input.link-field")).to_have_count(2)
    link = page.locator("a[href^='/sessions/']").first
    href = await link.get_attribute("href")
    assert href is not None
    return int(href.split("/")[2])


async def draft_sign_and_seal(
    officer: Page, parties: list[BrowserContext], base: str, session_id: int
) -> None:
    await officer.goto(f"{base}/sessions/{session_id}/agreement")
    await officer.fill("#f-facts", "张国强家犬只咬伤王丽华小腿。")
    await officer.fill("#f-disputed_matters", "医药费数额。")
    await officer.fill("#f-responsibility", "张国强未拴犬绳，负全部责任。")
    await officer.fill("#f-term_1", "张国强赔偿王丽华医药费人民币壹仟伍佰元。")
    await officer.fill("#f-performance_manner", "微信转账一次性支付")
    deadline = (datetime.now(TZ) + timedelta(days=10)).date().isoformat()
    await officer.fill("#f-performance_deadline", deadline)
    await officer.locator("#draft-form button[type=submit]").click()
    await expect(officer.locator("#agreement-text")).to_contain_text("壹仟伍佰元")
    await officer.locator("#freeze-form button").click()
    await expect(officer.locator("#issued-links")).to_be_visible()
    links = {}
    for item in await officer.locator("#issued-links li").all():
        name = await item.locator("strong").inner_text()
        links[name] = (await item.locator("code").inner_text()).strip()
    for context, name in zip(parties, (APPLICANT, RESPONDENT), strict=True):
        page = await context.new_page()
        await sign_on(page, links[name].replace("http://127.0.0.1:8080", base))
    await officer.locator("#sign-self").click()
    await sign_on(officer, officer.url)
    await officer.goto(f"{base}/sessions/{session_id}/agreement")
    await officer.locator("#seal-form button").click()
    await expect(officer.locator("#case-number")).to_contain_text("调字第")


async def test_registration_to_spot_check_and_the_figures(
    browser: Browser, sealed_base_url: str, factory: SessionFactory
) -> None:
    base = sealed_base_url
    desk = await browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True)
    chief_phone = await browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True)
    parties = [await phone(browser), await phone(browser)]
    try:
        officer = await log_in(desk, base, "officer")
        dispute_id = await register_and_triage(officer, base)
        session_id = await book(officer, base, dispute_id)
        await draft_sign_and_seal(officer, parties, base, session_id)

        # 回访: the seal made a follow-up task, on the officer's list and the case.
        await officer.goto(f"{base}/followups")
        await no_horizontal_scroll(officer)
        task = officer.locator("a[href^='/followups/']", has_text="养犬扰邻纠纷").first
        await task.click()
        await expect(officer.locator("#record-form")).to_be_visible()
        await no_horizontal_scroll(officer)
        await officer.select_option("#record-form [name=method]", "phone")
        await officer.fill("#record-form [name=reached]", "王丽华本人")
        await officer.check("#record-form input[name='results.1'][value=performed]")
        await officer.fill("#record-form [name=note]", "医药费已全额支付")
        await officer.click("#record-form button.primary")
        await expect(officer.locator("#record")).to_contain_text("医药费已全额支付")
        # Everything performed: the case is closed, the task done.
        async with factory() as db:
            dispute = await db.get(Dispute, dispute_id)
            assert dispute is not None and dispute.status == "closed"
            tasks = list(
                await db.exec(select(FollowUpTask).where(FollowUpTask.dispute_id == dispute_id))
            )
        assert [t.status for t in tasks] == ["done"]

        # 抽查: the chief draws today's resolved disputes; this one is in the sample.
        chief = await log_in(chief_phone, base, "chief")
        await chief.goto(f"{base}/spot-checks")
        await no_horizontal_scroll(chief)
        today = datetime.now(TZ).date().isoformat()
        await chief.fill("#draw-form [name=period_start]", today)
        await chief.fill("#draw-form [name=period_end]", today)
        await chief.select_option("#draw-form [name=mode]", "percent")
        await chief.fill("#draw-form [name=amount]", "100")
        await chief.click("#draw-form button.primary")
        check = chief.locator(".spot-check", has_text="养犬扰邻纠纷")
        await expect(check).to_have_count(1)
        await no_horizontal_scroll(chief)
        now = datetime.now(TZ).strftime("%Y-%m-%dT%H:%M")
        await check.locator("[name=checked_at]").fill(now)
        await check.locator("[name=method]").select_option("visit")
        await check.locator("[name=reached]").fill("张国强本人")
        await check.locator("[name=stays_resolved]").select_option("true")
        await check.locator("button.primary").click()
        await expect(chief.locator(".notice")).to_have_text("抽查结果已登记。")
        await expect(chief.locator(".spot-figures").first).to_contain_text("1 (100%)")

        # 统计: the case is counted as handled, resolved and performed.
        await chief.goto(f"{base}/stats?date_from={today}&date_to={today}")
        await expect(chief.locator("#total-registered")).to_have_text("1")
        await expect(chief.locator("#total-handled")).to_have_text("1")
        await expect(chief.locator("#total-resolved")).to_have_text("1")
        await expect(chief.locator("#total-rate")).to_have_text("100.0%")
        await no_horizontal_scroll(chief)
    finally:
        for context in (desk, chief_phone, *parties):
            await context.close()
