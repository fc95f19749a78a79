"""The clerk types the minutes in the room on a phone: entries are saved as they are
typed, the presiding officer sees them arrive, and a reload brings every one back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, expect

from server.app import create_app
from server.config import Config
from server.db import SessionFactory
from server.minutes.service import list_entries
from tests.browser.conftest import AiohttpServer
from tests.conftest import PASSWORD, Seed
from tests.http.test_door import Booked, book_session

pytestmark = pytest.mark.browser

TIMEOUT = 30_000
PHONE = ViewportSize(width=360, height=740)


@pytest.fixture
async def base(aiohttp_server: AiohttpServer, config: Config, seed: Seed) -> AsyncIterator[str]:
    app = create_app(config.model_copy(update={"ice_host_addresses": ["127.0.0.1"]}))
    running = await aiohttp_server(app)
    yield str(running.make_url("")).rstrip("/")


async def in_room(context: BrowserContext, base: str, booked: Booked, username: str) -> Page:
    page = await context.new_page()
    await page.goto(f"{base}/login")
    await page.fill("#f-username", username)
    await page.fill("#f-password", PASSWORD)
    await page.click("button.primary")
    await page.goto(f"{base}/sessions/{booked.session_id}/room")
    await expect(page.locator("#room")).to_have_attribute("data-state", "admitted", timeout=TIMEOUT)
    await page.click("#join-audio")
    await expect(page.locator("#btn-minutes")).to_be_visible(timeout=TIMEOUT)
    await page.click("#btn-minutes")
    return page


async def test_the_clerk_types_entries_they_are_seen_live_and_survive_a_reload(
    browser: Browser, base: str, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    contexts = [
        await browser.new_context(viewport=PHONE, locale="zh-CN", has_touch=True) for _ in range(2)
    ]
    try:
        officer = await in_room(contexts[0], base, booked, "officer")
        clerk = await in_room(contexts[1], base, booked, "clerk")
        applicant = f"inv-{booked.invitation_ids['applicant']}"
        respondent = f"inv-{booked.invitation_ids['respondent']}"

        await clerk.select_option("#minutes-speaker", applicant)
        await clerk.locator("#minutes-text").press_sequentially("狗每天夜里叫到两点")
        await clerk.press("#minutes-text", "Enter")
        await clerk.select_option("#minutes-speaker", respondent)
        await clerk.locator("#minutes-text").press_sequentially("我愿意赔礼道歉")
        await clerk.click("#minutes-next")
        said = ["狗每天夜里叫到两点", "我愿意赔礼道歉"]
        await expect(clerk.locator("#minutes-status")).to_have_attribute(
            "data-state", "saved", timeout=TIMEOUT
        )
        entries = clerk.locator("[data-minutes-entry] .minutes-said")
        await expect(entries).to_have_text(said, timeout=TIMEOUT)
        # The presiding officer reads along, live.
        await expect(officer.locator("[data-minutes-entry] .minutes-said")).to_have_text(
            said, timeout=TIMEOUT
        )
        async with factory() as db:
            stored = await list_entries(db, booked.session_id)
        assert [(e.speaker_key, e.text) for e in stored] == [
            (applicant, said[0]),
            (respondent, said[1]),
        ]

        # The panel fits a 360 px phone: no sideways scrolling.
        width = await clerk.evaluate("document.documentElement.scrollWidth")
        assert width <= 360

        # Typed and reloaded before the pause that saves it: kept in the tab, sent again.
        await clerk.select_option("#minutes-speaker", applicant)
        await clerk.locator("#minutes-text").press_sequentially("还有一句没等保存就刷新了")
        stored_text = await clerk.evaluate(
            "Object.keys(sessionStorage).map((k) => sessionStorage.getItem(k)).join()"
        )
        assert "还有一句没等保存就刷新了" in stored_text
        await clerk.reload()
        said.append("还有一句没等保存就刷新了")
        await expect(clerk.locator("#room")).to_have_attribute(
            "data-state", "admitted", timeout=TIMEOUT
        )
        await clerk.click("#join-audio")
        await clerk.click("#btn-minutes")
        await expect(clerk.locator("[data-minutes-entry] .minutes-said")).to_have_text(
            said, timeout=TIMEOUT
        )
        await expect(clerk.locator("#minutes-status")).to_have_attribute(
            "data-state", "saved", timeout=TIMEOUT
        )
        await expect(clerk.locator("[data-minutes-pending]")).to_have_count(0)
        await expect(officer.locator("[data-minutes-entry] .minutes-said")).to_have_text(
            said, timeout=TIMEOUT
        )
        async with factory() as db:
            stored = await list_entries(db, booked.session_id)
        assert [e.text for e in stored] == said, "nothing lost, nothing written twice"
    finally:
        for context in contexts:
            await context.close()
