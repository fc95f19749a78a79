"""Enter in the room's chat box: it sends on a computer, Shift+Enter starts a new line,
and on a phone (only a coarse pointer, no physical keyboard) Enter stays a new line.

"A computer" is any device that is not touch-only: one with a mouse, a touchscreen laptop
whose primary pointer is the screen but which has a touchpad too, and one that reports no
pointer at all (a remote desktop, a keyboard-only setup). Chromium's ``--blink-settings``
set the pointer types the page sees, as such devices report them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright, expect

from server.config import Config
from server.db import SessionFactory
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import PASSWORD, Seed
from tests.http.test_door import Booked, book_session

pytestmark = pytest.mark.browser

TIMEOUT = 30_000

#: Blink's pointer and hover types are bit sets: 1 none, 2 coarse, 4 fine (hover: 2 hover).
COMPUTERS = {
    "mouse": "",
    "touchscreen laptop": "primaryPointerType=2,availablePointerTypes=6,"
    "primaryHoverType=1,availableHoverTypes=3",
    "no pointer reported": "primaryPointerType=1,availablePointerTypes=1,"
    "primaryHoverType=1,availableHoverTypes=1",
}


@pytest.fixture(params=list(COMPUTERS), ids=list(COMPUTERS))
async def computer(request: pytest.FixtureRequest) -> AsyncIterator[Browser]:
    settings = COMPUTERS[request.param]
    args = [*CHROMIUM_ARGS, f"--blink-settings={settings}"] if settings else CHROMIUM_ARGS
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield instance
        finally:
            await instance.close()


async def officer_in_chat(page: Page, base: str, session_id: int) -> None:
    await page.goto(f"{base}/login")
    await page.fill("#f-username", "officer")
    await page.fill("#f-password", PASSWORD)
    await page.click("button.primary")
    await page.goto(f"{base}/sessions/{session_id}/room")
    await expect(page.locator("#room")).to_have_attribute("data-state", "admitted", timeout=TIMEOUT)
    await page.click("#join-audio")
    await page.click("#btn-chat")
    await expect(page.locator("#chat-text")).to_be_visible()


async def test_enter_sends_on_a_computer_and_shift_enter_breaks_the_line(
    computer: Browser, base_url: str, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    booked: Booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    context = await computer.new_context(
        viewport=ViewportSize(width=1366, height=768), locale="zh-CN"
    )
    try:
        page = await context.new_page()
        await officer_in_chat(page, base_url, booked.session_id)
        box = page.locator("#chat-text")
        await box.click()
        await box.press_sequentially("第一行")
        await box.press("Shift+Enter")
        await box.press_sequentially("第二行")
        await expect(box).to_have_value("第一行\n第二行")
        await expect(page.locator("#chat-list li")).to_have_count(0)
        await box.press("Enter")
        await expect(page.locator("#chat-list li")).to_have_count(1, timeout=TIMEOUT)
        await expect(page.locator("#chat-list li .text")).to_have_text("第一行\n第二行")
        await expect(box).to_have_value("")
    finally:
        await context.close()


async def test_enter_is_a_new_line_on_a_phone(
    browser: Browser, base_url: str, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    booked: Booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    context = await browser.new_context(
        viewport=ViewportSize(width=360, height=640), locale="zh-CN", is_mobile=True, has_touch=True
    )
    try:
        page = await context.new_page()
        await officer_in_chat(page, base_url, booked.session_id)
        box = page.locator("#chat-text")
        await box.tap()
        await box.press_sequentially("第一行")
        await box.press("Enter")
        await box.press_sequentially("第二行")
        await expect(box).to_have_value("第一行\n第二行")
        await expect(page.locator("#chat-list li")).to_have_count(0)
        # The send button still sends.
        await page.locator("#chat-form button[type=submit]").tap()
        await expect(page.locator("#chat-list li")).to_have_count(1, timeout=TIMEOUT)
    finally:
        await context.close()
