"""An officer books a session through the pages; two invitees open their links on phones.

Booking: two parties and three experts from the pool, suggested for the
dispute's category. The issued page hands out the personal links; two of them
are opened in separate browser contexts (two phones) and pass the device check
with Chromium's fake camera and microphone.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, expect

from server.auth.sessions import actor_for
from server.config import Config
from server.db import SessionFactory, transaction
from server.pii import PiiVault
from server.sessions import service as sessions
from tests.browser.screens import no_horizontal_scroll
from tests.browser.test_invitations import (
    phone,
    run_device_check,
    watch_console,
)
from tests.conftest import PASSWORD, Seed
from tests.sessions.helpers import TZ, booking, local, new_dispute, new_expert

pytestmark = pytest.mark.browser

EXPERTS = [("周正", "legal_police"), ("孙律", "lawyer"), ("吴建华", "community_cadre")]


async def test_book_two_parties_three_experts_and_open_two_links(
    browser: Browser, base_url: str, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    officer = actor_for(seed.users["officer"])
    dispute_id, _parties = await new_dispute(
        factory, officer, vault=PiiVault(config.secret()), tz=TZ
    )
    for number, (name, kind) in enumerate(EXPERTS):
        await new_expert(factory, officer, name, f"1381111000{number}", kind=kind)

    desk = await browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    page = await desk.new_page()
    await page.goto(f"{base_url}/login")
    await page.fill("#f-username", "officer")
    await page.fill("#f-password", PASSWORD)
    await page.click("button.primary")
    await page.goto(f"{base_url}/disputes/{dispute_id}")
    await page.click(f"a[href='/disputes/{dispute_id}/sessions/new']")
    await page.wait_for_url(f"{base_url}/disputes/{dispute_id}/sessions/new")
    await no_horizontal_scroll(page)

    tomorrow = (datetime.now(TZ) + timedelta(days=1)).replace(hour=10, minute=0)
    await page.fill("[name=starts_at]", tomorrow.strftime("%Y-%m-%dT%H:%M"))
    await page.click("button[value=suggest]:visible")
    suggested = page.locator("#expert_ids input[name=expert_ids]")
    await expect(suggested).to_have_count(3)
    for index in range(3):
        await suggested.nth(index).check()
    await expect(page.locator("#party_ids input[name=party_ids]:checked")).to_have_count(2)
    await page.click("button.primary[value=book]")

    links = page.locator("input.link-field")
    await expect(links).to_have_count(5)
    values = [await links.nth(i).input_value() for i in range(5)]
    # Links carry the configured public address; the test server listens elsewhere.
    assert all(v.startswith(config.effective_public_url) for v in values)
    paths = [urlsplit(v).path for v in values]
    assert all(re.fullmatch(r"/j/[A-Za-z0-9_\-]{43}", p) for p in paths), paths
    await expect(page.locator(".qr-box svg")).to_have_count(5)
    await no_horizontal_scroll(page)
    # The first two cards are the parties; the last three the experts, in the order ticked.
    party_link, expert_link = base_url + paths[0], base_url + paths[2]
    await desk.close()

    phones = [await phone(browser), await phone(browser)]
    try:
        for context, link in zip(phones, (party_link, expert_link), strict=True):
            invitee = await context.new_page()
            errors = watch_console(invitee)
            response = await invitee.goto(link)
            assert response is not None and response.status == 200
            await expect(invitee.locator("#case-title")).to_have_text("养犬扰邻纠纷")
            await run_device_check(invitee)
            await no_horizontal_scroll(invitee)
            assert errors == []
    finally:
        for context in phones:
            await context.close()


async def test_checklist_follows_the_track_and_conflicts_show_as_the_time_is_chosen(
    browser: Browser, base_url: str, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    officer = actor_for(seed.users["officer"])
    vault = PiiVault(config.secret())
    first_id, first_parties = await new_dispute(factory, officer, vault=vault, tz=TZ)
    async with transaction(factory) as db:
        await sessions.book(
            db, officer, first_id, booking(seed.uid("officer"), first_parties), vault=vault, tz=TZ
        )
    dispute_id, _parties = await new_dispute(
        factory, officer, vault=vault, tz=TZ, category="minor_injury", title="推搡致轻微伤"
    )

    desk = await browser.new_context(viewport={"width": 1280, "height": 720}, locale="zh-CN")
    try:
        page = await desk.new_page()
        errors = watch_console(page)
        await page.goto(f"{base_url}/login")
        await page.fill("#f-username", "officer")
        await page.fill("#f-password", PASSWORD)
        await page.click("button.primary")
        await page.goto(f"{base_url}/disputes/{dispute_id}/sessions/new")

        checklist = page.locator("#police_checks")
        await expect(checklist).to_be_hidden()
        await page.check("input[name=legal_track][value=police]")
        await expect(checklist).to_be_visible()
        await page.check("input[name=legal_track][value=people]")
        await expect(checklist).to_be_hidden()

        # The officer already presides the other dispute's session at that time.
        live = page.locator("#live-conflicts")
        await expect(live).to_be_hidden()
        await page.fill("[name=starts_at]", local().strftime("%Y-%m-%dT%H:%M"))
        await expect(live).to_be_visible()
        await expect(live.locator("li")).to_have_text(["主持人在该时段已主持其他调解。"])
        await page.fill("[name=starts_at]", local(hour=14).strftime("%Y-%m-%dT%H:%M"))
        await expect(live).to_be_hidden()
        # The staff pages name no icon; the browser's guess at /favicon.ico is no script error.
        assert [e for e in errors if "/favicon.ico" not in e] == []
    finally:
        await desk.close()
