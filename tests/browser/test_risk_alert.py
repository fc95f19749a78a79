"""预警 at once: a high-risk registration on one desk appears on another's open dashboard.

The chief's dashboard is open (no alert) in one browser context; an officer registers
an urgent dispute through the form in another, seeing the 初判 rule's proposal live.
Within one poll of risk_alerts.js the red band shows the alert on the chief's page,
with no reload (a marker set on the window survives), and 签收 clears it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.screens import no_horizontal_scroll
from tests.browser.test_invitations import phone, watch_console
from tests.conftest import PASSWORD, Seed
from tests.sessions.helpers import TZ

pytestmark = pytest.mark.browser

#: One poll (15 s) and some slack on two busy cores.
POLL_WAIT_MS = 25_000


async def sign_in(page: Page, base_url: str, username: str) -> None:
    await page.goto(f"{base_url}/login")
    await page.fill("#f-username", username)
    await page.fill("#f-password", PASSWORD)
    await page.click("button.primary")
    await page.wait_for_url(f"{base_url}/")


async def test_a_high_risk_registration_appears_on_an_open_dashboard_without_reload(
    browser: Browser, base_url: str, seed: Seed
) -> None:
    chief_context = await phone(browser)
    officer_context = await phone(browser)
    try:
        chief = await chief_context.new_page()
        chief_errors = watch_console(chief)
        await sign_in(chief, base_url, "chief")
        band = chief.locator("#risk-alerts")
        await expect(band).to_be_hidden()
        await chief.evaluate("window.__notReloaded = true")

        officer = await officer_context.new_page()
        officer_errors = watch_console(officer)
        await sign_in(officer, base_url, "officer")
        await officer.goto(f"{base_url}/disputes/new")
        await officer.fill("#f-title", "工地欠薪聚集")
        await officer.select_option("#f-category", "labour")
        await officer.fill("#f-cause", "工地拖欠十余名工人工资")
        when = datetime.now(TZ) - timedelta(hours=2)
        await officer.fill("#f-occurred_at", when.strftime("%Y-%m-%dT%H:%M"))
        await officer.fill("#f-place", "滨河路工地")
        await officer.fill("#f-scale", "3")
        await officer.select_option("#f-trend", "urgent")
        await officer.fill("[name='parties.0.name']", "吴志刚")
        proposal = officer.locator("#risk-proposal")
        await expect(proposal).to_be_visible()
        await expect(proposal).to_have_attribute("data-proposal", "high")
        await expect(proposal).to_contain_text("事态紧急")
        await no_horizontal_scroll(officer)
        await officer.click("form[action='/disputes/new'] button[type=submit]")
        await officer.wait_for_url(f"{base_url}/disputes/*")
        dispute_id = officer.url.split("/disputes/")[1].split("?")[0]
        await expect(officer.locator("#dispute-risk-alerts")).to_contain_text(
            "由分管所领导牵头处置"
        )

        item = chief.locator(f"#risk-alerts [data-alert-dispute='{dispute_id}']")
        await expect(item).to_be_visible(timeout=POLL_WAIT_MS)
        await expect(band).to_be_visible()
        await expect(item).to_contain_text("工地欠薪聚集")
        await expect(item).to_contain_text("由分管所领导牵头处置")
        await expect(item).to_contain_text("滨河社区警务室")
        await expect(item).to_contain_text("事态紧急，可能引发冲突")
        await expect(band.locator("[data-alert-count]")).to_have_text("1")
        assert await chief.evaluate("window.__notReloaded === true"), "the dashboard reloaded"
        await no_horizontal_scroll(chief)

        await item.locator("[data-alert-acknowledge]").click()
        await chief.wait_for_url(f"{base_url}/?notice=alert_acknowledged")
        await expect(chief.locator("#risk-alerts")).to_be_hidden()
        await expect(chief.locator(".notice")).to_have_text("预警已签收。")
        # No script error and no CSP refusal (the site has no favicon: that 404 is not ours).
        errors = [e for e in chief_errors + officer_errors if "favicon.ico" not in e]
        assert errors == []
    finally:
        await chief_context.close()
        await officer_context.close()
