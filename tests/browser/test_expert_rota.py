"""On a 360 px phone: an officer declares an expert's weekly window, puts another expert
on the office's rota, and the booking form suggests them in that order, saying why."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from playwright.async_api import Browser, expect

from server.auth.sessions import actor_for
from server.config import Config
from server.db import SessionFactory
from server.pii import PiiVault
from tests.browser.screens import no_horizontal_scroll
from tests.browser.test_invitations import watch_console
from tests.conftest import PASSWORD, Seed
from tests.sessions.helpers import TZ, new_dispute, new_expert

pytestmark = pytest.mark.browser


async def test_rota_and_availability_order_the_suggestions(
    browser: Browser, base_url: str, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    officer = actor_for(seed.users["officer"])
    dispute_id, _ = await new_dispute(factory, officer, vault=PiiVault(config.secret()), tz=TZ)
    undeclared = await new_expert(
        factory, officer, "丁调解员", "13600000004", kind="people_mediator"
    )
    free = await new_expert(factory, officer, "丙律师", "13600000003")
    on_duty = await new_expert(factory, officer, "甲律师", "13600000001")
    day = (datetime.now(TZ) + timedelta(days=2)).date()

    context = await browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    page = await context.new_page()
    errors = watch_console(page)
    await page.goto(f"{base_url}/login")
    await page.fill("#f-username", "officer")
    await page.fill("#f-password", PASSWORD)
    await page.click("button.primary")

    # A weekly window for 丙律师 on that weekday, from the expert's page.
    await page.goto(f"{base_url}/experts/{free}")
    await page.click("#expert-availability-link")
    await no_horizontal_scroll(page)
    await page.check("#f-kind-weekly")
    await page.select_option("#f-weekday", str(day.weekday()))
    await page.fill("#f-starts", "08:00")
    await page.fill("#f-ends", "18:00")
    await page.click("#add-availability")
    await expect(page.locator("#weekly-windows li[data-entry-id]")).to_have_count(1)
    # The same window again is refused beside the field, in Chinese.
    await page.select_option("#f-weekday", str(day.weekday()))
    await page.fill("#f-starts", "09:00")
    await page.fill("#f-ends", "10:00")
    await page.click("#add-availability")
    await expect(page.locator("#starts-error")).to_contain_text("重叠")

    # 甲律师 on the rota that morning.
    await page.click("#nav-rota")
    await no_horizontal_scroll(page)
    await page.fill("#f-on_date", day.isoformat())
    await page.fill("#f-starts", "09:00")
    await page.fill("#f-ends", "12:00")
    await page.select_option("#f-expert_kind", "lawyer")
    await page.select_option("#f-expert_id", str(on_duty))
    await page.click("#add-slot")
    await expect(page.locator(f".rota-slot[data-expert-id='{on_duty}']")).to_have_count(1)
    await no_horizontal_scroll(page)

    await page.goto(f"{base_url}/disputes/{dispute_id}/sessions/new")
    await page.fill("[name=starts_at]", f"{day.isoformat()}T10:00")
    await page.click("button[value=suggest]:visible")
    items = page.locator("#suggested-experts [data-expert-id]")
    await expect(items).to_have_count(3)
    order = [
        (
            await items.nth(i).get_attribute("data-expert-id"),
            await items.nth(i).get_attribute("data-reason"),
        )
        for i in range(3)
    ]
    assert order == [
        (str(on_duty), "on_duty"),
        (str(free), "free"),
        (str(undeclared), "undeclared"),
    ]
    await expect(items.nth(0)).to_contain_text("值班")
    await no_horizontal_scroll(page)
    # The refused post answers 422 and the browser logs it; nothing else may be logged.
    assert [e for e in errors if "Failed to load resource" not in e] == []
    await context.close()
