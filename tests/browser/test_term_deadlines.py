"""On a phone: a term's own deadline set in the room's agreement panel, and the station's
working days entered on the admin page. Neither page may scroll sideways at 360 px."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Page, expect

from server.agreements.rules import zh_date
from server.app import create_app
from server.config import Config
from server.db import SessionFactory
from server.models import utcnow
from server.workdays import LIBRARY_YEARS
from tests.browser.conftest import AiohttpServer
from tests.browser.screens import PHONE, no_horizontal_scroll
from tests.browser.test_signing import phone
from tests.conftest import PASSWORD, Seed
from tests.http.test_door import book_session

pytestmark = pytest.mark.browser

TIMEOUT = 30_000
#: December of the holiday library's last year: next year is not covered yet.
UNCOVERED = datetime(LIBRARY_YEARS.stop - 1, 12, 7, 4, 0, tzinfo=UTC)


async def log_in(page: Page, base: str, username: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("#f-username", username)
    await page.fill("#f-password", PASSWORD)
    await page.click("button.primary")


@pytest.fixture
async def media_base_url(aiohttp_server: AiohttpServer, config: Config, seed: Seed) -> str:
    """The app with the media server on loopback, so the room's controls come up."""
    app = create_app(config.model_copy(update={"ice_host_addresses": ["127.0.0.1"]}))
    return str((await aiohttp_server(app)).make_url("")).rstrip("/")


async def test_a_term_deadline_is_set_in_the_rooms_panel_on_a_phone(
    browser: Browser, media_base_url: str, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    base_url = media_base_url
    booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    context = await phone(browser)
    try:
        officer = await context.new_page()
        await log_in(officer, base_url, "officer")
        await officer.goto(f"{base_url}/sessions/{booked.session_id}/room")
        await expect(officer.locator("#room")).to_have_attribute(
            "data-state", "admitted", timeout=TIMEOUT
        )
        await officer.click("#join-media")
        await expect(officer.locator("#controls")).to_be_visible(timeout=TIMEOUT)
        await officer.click("#btn-agreement")
        await officer.click("#agreement-start")
        term = officer.locator("#ag-terms li").first
        await expect(term.locator("textarea")).to_be_visible(timeout=TIMEOUT)
        await term.locator("textarea").fill("张国强当面向王丽华赔礼道歉。")
        own = utcnow().astimezone(ZoneInfo(config.timezone)).date() + timedelta(days=3)
        await term.locator("input.term-deadline").fill(own.isoformat())
        await officer.click("#ag-term-add")
        await officer.locator("#ag-terms li").nth(1).locator("textarea").fill("赔偿医药费。")
        await officer.click("#ag-save")
        note = f"1. 张国强当面向王丽华赔礼道歉。（本项于{zh_date(own)}前履行完毕）"
        await expect(officer.locator("#ag-text")).to_contain_text(note, timeout=TIMEOUT)
        await expect(officer.locator("#ag-text")).to_contain_text("2. 赔偿医药费。\n")
        # The date sits under its term, inside the screen.
        box = await term.locator("input.term-deadline").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        await no_horizontal_scroll(officer)
    finally:
        await context.close()


@pytest.mark.parametrize("pinned_clock", [UNCOVERED], indirect=True, ids=["uncovered"])
async def test_the_admin_enters_next_years_first_holiday_on_a_phone(
    browser: Browser, base_url: str, seed: Seed
) -> None:
    year = UNCOVERED.year + 1
    context = await phone(browser)
    try:
        admin = await context.new_page()
        await log_in(admin, base_url, "admin")
        await admin.goto(f"{base_url}/admin")
        warning = admin.locator(f'.workdays-warning[data-year="{year}"]')
        await expect(warning).to_be_visible()
        await no_horizontal_scroll(admin)
        await admin.click("#workday-settings")
        await admin.fill("#f-day", f"{year}-01-01")
        await admin.select_option("#f-kind", "holiday")
        await admin.fill("#f-name", "元旦")
        await admin.locator("#workday-form button[type=submit]").click()
        await expect(admin.locator(f'tr[data-day="{year}-01-01"]')).to_contain_text("元旦")
        await expect(admin.locator(".workdays-warning")).to_have_count(0)
        await no_horizontal_scroll(admin)
    finally:
        await context.close()
