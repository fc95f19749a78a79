"""A beat officer on a phone: log in, register a dispute, triage it, see it on the dashboard."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.browser.screens import PHONE, no_horizontal_scroll
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


async def test_register_triage_and_find_on_dashboard(browser: Browser, base_url: str) -> None:
    context = await browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True)
    page = await context.new_page()
    await page.goto(f"{base_url}/disputes")
    # Sent to the login page, in Chinese.
    await expect(page.locator("h1")).to_have_text("工作人员登录")
    await no_horizontal_scroll(page)
    await page.fill("#f-username", "officer")
    await page.fill("#f-password", PASSWORD)
    await page.click("button.primary")
    await expect(page).to_have_url(f"{base_url}/disputes")

    await page.goto(f"{base_url}/disputes/new")
    await no_horizontal_scroll(page)
    # Submitting with the title missing keeps what was typed and says what is wrong.
    await page.select_option("#f-category", "neighbour")
    await page.fill("#f-cause", "犬只夜间吠叫并咬伤邻居")
    await page.fill("#f-occurred_at", "2026-11-20T21:30")
    await page.fill("#f-place", "滨河小区3栋楼下")
    await page.fill("#f-scale", "2")
    await page.select_option("#f-trend", "escalating")
    await page.fill("[name='parties.0.name']", "王丽华")
    await page.fill("[name='parties.0.id_number']", "110101199003074514")
    await page.fill("[name='parties.1.name']", "张国强")
    await page.click("button.primary")
    await expect(page.locator("#title-error")).to_be_visible()
    await expect(page.locator("#f-cause")).to_have_value("犬只夜间吠叫并咬伤邻居")

    await page.fill("#f-title", "养犬扰邻纠纷")
    await page.click("button.primary")
    await expect(page.locator("h1")).to_have_text("养犬扰邻纠纷")
    await expect(page.locator(".notice")).to_be_visible()
    await expect(page.locator(".masked").first).to_have_text("110***********4514")
    await no_horizontal_scroll(page)

    await page.select_option("#triage-form [name=risk_level]", "attention")
    await page.select_option("#triage-form [name=assignee_id]", index=1)
    await page.fill("#triage-form [name=reason]", "双方已有推搡，需尽快调解")
    await page.click("#triage-form button")
    await expect(page.locator(".meta .badge.risk-attention")).to_be_visible()

    await page.goto(f"{base_url}/disputes?q=养犬")
    await expect(page.locator(".dispute-row")).to_have_count(1)
    await no_horizontal_scroll(page)

    await page.click("a[href='/']")
    await expect(page.locator("a", has_text="养犬扰邻纠纷").first).to_be_visible()
    await expect(page.locator(".stat.risk-attention strong")).to_have_text("1")
    await no_horizontal_scroll(page)

    # English on request.
    await page.click("a[lang=en]")
    await expect(page.locator("h1")).to_have_text("Dashboard")
    await context.close()
