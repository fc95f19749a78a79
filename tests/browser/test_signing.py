"""Two parties sign on their own phones by drawing; the sealed PDF lands in the case records.

The officer drafts and freezes the text in the workspace, each party opens
their personal signing link in a browser context of their own, ticks "I have
read and agree" and draws a signature on the canvas with the pointer; the
officer signs too, applies the seal, and finds the agreement in the archive.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page, expect

from server.app import create_app
from server.config import Config
from server.db import SessionFactory
from server.models import utcnow
from tests.browser.conftest import AiohttpServer
from tests.browser.screens import PHONE, no_horizontal_scroll
from tests.conftest import PASSWORD, Seed
from tests.http.test_agreement_pages import pki, sealing
from tests.http.test_door import APPLICANT, RESPONDENT, book_session

pytestmark = pytest.mark.browser

__all__ = ["pki", "sealing"]  # fixtures shared with the page tests


@pytest.fixture
async def sealed_base_url(aiohttp_server: AiohttpServer, sealing: Config) -> str:
    app: web.Application = create_app(sealing)
    server = await aiohttp_server(app)
    return str(server.make_url("")).rstrip("/")


async def phone(browser: Browser) -> BrowserContext:
    return await browser.new_context(viewport=PHONE, locale="zh-CN", has_touch=True)


async def draw_signature(page: Page) -> None:
    """A few strokes across the pad, as a finger would make them."""
    await page.locator("#pad").scroll_into_view_if_needed()
    box = await page.locator("#pad").bounding_box()
    assert box is not None
    for row in (0.35, 0.6):
        await page.mouse.move(box["x"] + 20, box["y"] + box["height"] * row)
        await page.mouse.down()
        for step in range(1, 12):
            x = box["x"] + 20 + step * (box["width"] - 40) / 11
            y = box["y"] + box["height"] * (row + (0.12 if step % 2 else -0.12))
            await page.mouse.move(x, y, steps=3)
        await page.mouse.up()


async def sign_on(page: Page, url: str) -> None:
    await page.goto(url)
    await expect(page.locator("#agreement-text")).to_contain_text("人民调解协议书")
    await no_horizontal_scroll(page)
    # Signing without ticking "I have read and agree" is refused on the page.
    await draw_signature(page)
    await page.locator("#sign-submit").click()
    await expect(page.locator("#sign-error")).to_be_visible()
    await page.locator("#agree").check()
    await page.locator("#sign-submit").click()
    await expect(page.locator("#sign-done")).to_be_visible()


async def test_two_parties_sign_by_drawing_and_the_pdf_is_archived(
    browser: Browser, sealed_base_url: str, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    base = sealed_base_url
    booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    desk = await browser.new_context(viewport=PHONE, locale="zh-CN")
    parties = [await phone(browser), await phone(browser)]
    try:
        officer = await desk.new_page()
        await officer.goto(f"{base}/login")
        await officer.fill("#f-username", "officer")
        await officer.fill("#f-password", PASSWORD)
        await officer.click("button.primary")
        await officer.goto(f"{base}/sessions/{booked.session_id}/agreement")
        await no_horizontal_scroll(officer)
        await officer.fill("#f-facts", "张国强家犬只咬伤王丽华小腿。")
        await officer.fill("#f-disputed_matters", "医药费数额。")
        await officer.fill("#f-responsibility", "张国强未拴犬绳，负全部责任。")
        await officer.fill("#f-term_1", "张国强赔偿王丽华医药费人民币壹仟伍佰元。")
        await officer.fill("#f-performance_manner", "微信转账一次性支付")
        deadline = (utcnow() + timedelta(days=10)).date().isoformat()
        await officer.fill("#f-performance_deadline", deadline)
        await officer.locator("#draft-form button[type=submit]").click()
        await expect(officer.locator("#agreement-text")).to_contain_text("壹仟伍佰元")
        await officer.locator("#freeze-form button").click()
        await expect(officer.locator("#issued-links")).to_be_visible()
        links = {}
        for item in await officer.locator("#issued-links li").all():
            name = await item.locator("strong").inner_text()
            links[name] = (await item.locator("code").inner_text()).strip()
        assert set(links) >= {APPLICANT, RESPONDENT}

        for context, name in zip(parties, (APPLICANT, RESPONDENT), strict=True):
            page = await context.new_page()
            await sign_on(page, links[name].replace("http://127.0.0.1:8080", base))

        await officer.locator("#sign-self").click()
        await sign_on(officer, officer.url)
        await officer.goto(f"{base}/sessions/{booked.session_id}/agreement")
        await expect(officer.locator("#signers .badge.ok")).to_have_count(3)
        await officer.locator("#seal-form button").click()
        await expect(officer.locator("#case-number")).to_contain_text("调字第0001号")
        case_number = (await officer.locator("#case-number").inner_text()).strip()
        async with officer.expect_download() as download_info:
            await officer.locator("#download-pdf").click()
        download = await download_info.value
        path = await download.path()
        assert path is not None and path.read_bytes().startswith(b"%PDF-")

        await officer.goto(f"{base}/agreements?party_name={RESPONDENT}")
        await expect(officer.locator("#records")).to_contain_text(case_number)
        await no_horizontal_scroll(officer)

        # Anyone can check the file at /verify, from their own phone, with no account.
        visitor = await parties[0].new_page()
        await visitor.goto(f"{base}/verify")
        await visitor.set_input_files("#f-file", str(path))
        await visitor.locator("#verify-form button").click()
        await expect(visitor.locator("#verdict")).to_have_attribute("data-valid", "yes")
        await expect(visitor.locator("#archive-match")).to_contain_text(case_number)
        await no_horizontal_scroll(visitor)
    finally:
        for context in (desk, *parties):
            await context.close()
