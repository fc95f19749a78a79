"""A room page whose account signed out elsewhere says so and stops, instead of reconnecting.

Close code 4007 (``signed_out``, docs/protocol.md) is final: the page shows
why and a way to sign in again, and opens no further socket of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from playwright.async_api import Browser, BrowserContext, Page, WebSocket, expect

from server.app import create_app
from server.config import Config
from server.db import SessionFactory
from tests.browser.conftest import AiohttpServer
from tests.conftest import PASSWORD, Seed
from tests.http.test_door import book_session

pytestmark = pytest.mark.browser

TIMEOUT = 30_000
#: Longer than the page's first reconnect delay (1 s plus up to 0.3 s of jitter) twice over.
QUIET_SECONDS = 4


@pytest.fixture
async def base(aiohttp_server: AiohttpServer, config: Config, seed: Seed) -> AsyncIterator[str]:
    running = await aiohttp_server(create_app(config))
    yield str(running.make_url("")).rstrip("/")


async def log_in(context: BrowserContext, base: str) -> Page:
    page = await context.new_page()
    await page.goto(f"{base}/login")
    await page.fill("#f-username", "officer")
    await page.fill("#f-password", PASSWORD)
    await page.click("button.primary")
    await page.wait_for_url(f"{base}/")
    return page


async def test_a_logout_elsewhere_ends_the_room_page_for_good(
    browser: Browser, base: str, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    room_url = f"{base}/sessions/{booked.session_id}/room"
    tablet, desk = [await browser.new_context(locale="zh-CN") for _ in range(2)]
    try:
        room = await log_in(tablet, base)
        sockets: list[WebSocket] = []

        def opened(socket: WebSocket) -> None:
            sockets.append(socket)

        room.on("websocket", opened)
        await room.goto(room_url)
        await expect(room.locator("#room")).to_have_attribute(
            "data-state", "admitted", timeout=TIMEOUT
        )
        assert len(sockets) == 1

        office = await log_in(desk, base)
        await office.get_by_role("button", name="退出登录").click()
        await office.wait_for_url(f"{base}/login")

        await expect(room.locator("#room")).to_have_attribute(
            "data-state", "signed-out", timeout=TIMEOUT
        )
        screen = room.locator('#screen-final [data-final="signed_out"]')
        await expect(screen).to_be_visible()
        await expect(screen.locator("h2")).to_have_text("您的账号已在别处退出或发生变更")
        await expect(room.locator("#final-again")).to_be_hidden()
        await asyncio.sleep(QUIET_SECONDS)
        assert len(sockets) == 1, "the page must not reconnect after signed_out"
        await expect(room.locator("#room")).to_have_attribute("data-state", "signed-out")

        # This browser's own login still holds: signing in again leads straight back in.
        await screen.get_by_role("link", name="重新登录").click()
        await room.wait_for_url(room_url)
        await expect(room.locator("#room")).to_have_attribute(
            "data-state", "admitted", timeout=TIMEOUT
        )
    finally:
        await tablet.close()
        await desk.close()
