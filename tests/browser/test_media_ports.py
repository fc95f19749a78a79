"""A party's screen says so when the server has no free media port (a full range).

The server's media range is one UDP port, which the officer's publisher
connection takes; the party's page then gets ``media_ports_exhausted`` for its
``publish_offer`` and shows the server's words, on a phone-sized screen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from playwright.async_api import Browser, expect

from server.app import create_app
from server.config import Config
from server.db import SessionFactory
from tests.browser.conftest import AiohttpServer
from tests.browser.screens import PHONE, no_horizontal_scroll
from tests.browser.test_room import TIMEOUT, admitted_party, officer_in_room
from tests.conftest import Seed
from tests.http.test_door import Booked, book_session
from tests.rooms.free_ports import free_udp_block

pytestmark = pytest.mark.browser

FULL = "服务器此刻没有空闲的音视频连接（同时连接过多），请过一分钟再试。"


@pytest.fixture
async def one_port_server(
    aiohttp_server: AiohttpServer, config: Config, seed: Seed
) -> AsyncIterator[str]:
    port, _ = free_udp_block(1)
    settings = {"ice_host_addresses": ["127.0.0.1"], "media_port_min": port, "media_port_max": port}
    running = await aiohttp_server(create_app(config.model_copy(update=settings)))
    yield str(running.make_url("")).rstrip("/")


async def test_a_full_media_range_is_said_on_the_party_screen(
    browser: Browser, one_port_server: str, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    base = one_port_server
    booked: Booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    contexts = [await browser.new_context(viewport=PHONE, locale="zh-CN") for _ in range(2)]
    try:
        officer, _ = await officer_in_room(contexts[0], base, booked.session_id)
        # The officer's publisher connection holds the range's one port.
        await expect(officer.locator("#room")).to_have_attribute(
            "data-publisher", "connected", timeout=TIMEOUT
        )
        await expect(officer.locator("#toasts")).not_to_contain_text(FULL)
        party, _ = await admitted_party(
            officer, contexts[1], f"{base}/j/{booked.tokens['applicant']}/room"
        )
        toast = party.locator("#toasts .toast", has_text=FULL)
        await expect(toast).to_be_visible(timeout=TIMEOUT)
        await expect(toast).to_have_count(1)  # once, however often the page tries
        await no_horizontal_scroll(party)
    finally:
        for context in contexts:
            await context.close()
