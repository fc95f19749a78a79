"""Two invitees open their links on phones and run the device check (fake camera and mic).

The session is booked through the service layer here (test_booking.py books
through the pages). Each invitee is a separate browser context, as two phones
would be.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from server.config import Config
from server.db import SessionFactory
from tests.browser.screens import PHONE, no_horizontal_scroll
from tests.conftest import Seed
from tests.http.test_door import APPLICANT, RESPONDENT, TITLE, book_session

pytestmark = pytest.mark.browser

READY_TIMEOUT_MS = 30_000


async def phone(browser: Browser) -> BrowserContext:
    return await browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)


def watch_console(page: Page) -> list[str]:
    """Errors the page logs (a CSP violation shows up here)."""
    errors: list[str] = []
    page.on(
        "console",
        lambda m: (
            errors.append(f"{m.text} {m.location.get('url', '')}") if m.type == "error" else None
        ),
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


async def run_device_check(page: Page) -> None:
    check = page.locator("#device-check")
    await expect(check).to_have_attribute("data-ready", "false")
    await page.locator("#start-check").click()
    await expect(page.locator("#start-check")).to_be_hidden()
    await expect(check).to_have_attribute("data-camera", "ok", timeout=READY_TIMEOUT_MS)
    await expect(check).to_have_attribute("data-microphone", "ok", timeout=READY_TIMEOUT_MS)
    await expect(check).to_have_attribute("data-network", "ok", timeout=READY_TIMEOUT_MS)
    await expect(check).to_have_attribute("data-ready", "true")
    await expect(page.locator("#summary-ready")).to_be_visible()
    await expect(page.locator("#summary-not-ready")).to_be_hidden()
    await expect(page.locator("#retry-check")).to_be_hidden()
    # The camera shows frames, the mic meter moved, the network figures are filled in.
    assert await page.evaluate("document.getElementById('camera-preview').videoWidth") > 0
    await page.wait_for_function(
        "document.getElementById('mic-bar').style.width !== ''", timeout=READY_TIMEOUT_MS
    )
    assert int(await check.get_attribute("data-rtt-ms") or "-1") >= 0
    assert int(await check.get_attribute("data-kbps") or "0") > 0
    await expect(page.locator("#network-figures")).to_contain_text("kbps")
    # Speaker: a tone, then the invitee says whether they heard it.
    await page.locator("#play-tone").click()
    await page.locator("#heard-yes").click()
    await expect(check).to_have_attribute("data-speaker", "ok")
    await expect(page.locator("#enter-room")).to_be_disabled()


async def test_two_invitees_check_their_devices_on_phones(
    browser: Browser, base_url: str, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    booked = await book_session(factory, seed, config)
    applicant_phone = await phone(browser)
    lawyer_phone = await phone(browser)
    try:
        applicant = await applicant_phone.new_page()
        lawyer = await lawyer_phone.new_page()
        applicant_errors = watch_console(applicant)
        lawyer_errors = watch_console(lawyer)

        response = await applicant.goto(f"{base_url}/j/{booked.tokens['applicant']}")
        assert response is not None and response.status == 200
        await expect(applicant.locator("#case-title")).to_have_text(TITLE)
        await expect(applicant.locator("#parties")).to_contain_text(RESPONDENT)
        await no_horizontal_scroll(applicant)

        response = await lawyer.goto(f"{base_url}/j/{booked.tokens['lawyer']}")
        assert response is not None and response.status == 200
        await expect(lawyer.locator("#parties")).not_to_contain_text(APPLICANT)
        await expect(lawyer.locator("#privacy-note")).to_be_visible()
        await no_horizontal_scroll(lawyer)

        await run_device_check(applicant)
        await run_device_check(lawyer)
        await no_horizontal_scroll(applicant)
        await no_horizontal_scroll(lawyer)
        assert applicant_errors == [] and lawyer_errors == []
    finally:
        await applicant_phone.close()
        await lawyer_phone.close()


async def test_wrong_link_on_a_phone(browser: Browser, base_url: str) -> None:
    context = await phone(browser)
    try:
        page = await context.new_page()
        response = await page.goto(f"{base_url}/j/not-a-real-link")
        assert response is not None and response.status == 404
        await expect(page.locator("#refused")).to_be_visible()
        await no_horizontal_scroll(page)
        # The language switch comes back to the refusal, never to the wrong link.
        await page.locator("a[lang=en]").click()
        await expect(page).to_have_url(f"{base_url}/j/")
        await expect(page.locator("h1")).to_have_text("This link cannot be opened")
    finally:
        await context.close()


async def test_wechat_without_camera_access_gets_the_hint(
    browser: Browser, base_url: str, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    booked = await book_session(factory, seed, config)
    context = await browser.new_context(
        viewport=PHONE,
        is_mobile=True,
        user_agent=(
            "Mozilla/5.0 (Linux; Android 13; Phone) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0 Mobile Safari/537.36 MicroMessenger/8.0.47"
        ),
    )
    try:
        page = await context.new_page()
        # As in a WeChat build that hides getUserMedia (or a page served without HTTPS).
        await page.add_init_script(
            "Object.defineProperty(navigator, 'mediaDevices', {value: undefined})"
        )
        await page.goto(f"{base_url}/j/{booked.tokens['respondent']}")
        await expect(page.locator("#wechat-hint")).to_be_visible()
        await expect(page.locator("#no-media")).to_be_visible()
        await page.locator("#start-check").click()
        check = page.locator("#device-check")
        await expect(check).to_have_attribute("data-camera", "fail")
        await expect(check).to_have_attribute("data-microphone", "fail")
        await expect(check).to_have_attribute("data-network", "ok", timeout=READY_TIMEOUT_MS)
        await expect(check).to_have_attribute("data-ready", "false")
        await expect(page.locator("#summary-not-ready")).to_be_visible()
        await expect(page.locator("#retry-check")).to_be_visible()
        await no_horizontal_scroll(page)
    finally:
        await context.close()


DENY_FIRST = """
(() => {
  const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  window.__deny = true;
  navigator.mediaDevices.getUserMedia = (constraints) => window.__deny
    ? Promise.reject(new DOMException("Permission denied", "NotAllowedError"))
    : real(constraints);
})();
"""


async def test_permission_denied_then_allowed_on_retry(
    browser: Browser, base_url: str, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    booked = await book_session(factory, seed, config)
    context = await phone(browser)
    try:
        page = await context.new_page()
        await page.add_init_script(DENY_FIRST)
        await page.goto(f"{base_url}/j/{booked.tokens['police']}")
        await page.locator("#start-check").click()
        check = page.locator("#device-check")
        await expect(check).to_have_attribute("data-camera", "fail")
        await expect(check).to_have_attribute("data-microphone", "fail")
        await expect(page.locator("#check-camera .msg[data-when=denied]")).to_be_visible()
        await expect(page.locator("#check-microphone .msg[data-when=denied]")).to_be_visible()
        await expect(check).to_have_attribute("data-network", "ok", timeout=READY_TIMEOUT_MS)
        await expect(page.locator("#retry-check")).to_be_visible()
        await expect(page.locator("#summary-not-ready")).to_be_visible()
        # The invitee allows camera and microphone in the browser, then taps "Try again".
        await page.evaluate("window.__deny = false")
        await page.locator("#retry-check").click()
        await expect(check).to_have_attribute("data-ready", "true", timeout=READY_TIMEOUT_MS)
        await expect(page.locator("#check-camera .msg[data-when=denied]")).to_be_hidden()
        await expect(page.locator("#retry-check")).to_be_hidden()
        await no_horizontal_scroll(page)
    finally:
        await context.close()
