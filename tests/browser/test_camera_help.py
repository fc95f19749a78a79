"""The door when the browser gives no camera: the reason in words, and a link to /help/camera.

Each refusal is Chromium's own, not a script's, where Chromium can be made to
give it: without ``--use-fake-ui-for-media-stream`` and with
``--deny-permission-prompts`` every prompt is answered "Block"
(``NotAllowedError``); without the fake devices this machine has no camera
(``NotFoundError``); a name that is not localhost over plain http is not a
secure context (no ``navigator.mediaDevices`` at all). Only "another app holds
the camera" (``NotReadableError``) is scripted: nothing else can hold a fake
device. The room's two places that ask for the camera (the lobby's preview
and "Join with camera and microphone") link there the same way. The help page
itself must fit a 360 px phone in both languages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from server.config import Config
from server.db import SessionFactory
from server.http.pages.camera_help import HELP_PATH
from server.lan_cert import make_lan_certificate
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, NO_NAME_LOOKUPS
from tests.browser.screens import PHONE, no_horizontal_scroll
from tests.browser.test_invitations import READY_TIMEOUT_MS, watch_console
from tests.conftest import PASSWORD, Seed
from tests.http.test_door import book_session

pytestmark = pytest.mark.browser

FAKE_UI = "--use-fake-ui-for-media-stream"
FAKE_DEVICES = "--use-fake-device-for-media-stream"
#: A name for 127.0.0.1 that is not "localhost": over http it is not a secure context.
INSECURE_HOST = "concord.test"

ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Phone) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Mobile Safari/537.36"
)
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
#: As in a phone where a video call holds the camera.
CAMERA_BUSY = """
navigator.mediaDevices.getUserMedia = () =>
  Promise.reject(new DOMException("Could not start video source", "NotReadableError"));
"""

Launch = Callable[..., Awaitable[Browser]]


@pytest.fixture
async def launch() -> AsyncIterator[Launch]:
    """Chromium with the suite's flags, less ``without``, plus ``extra``; closed at the end."""
    async with async_playwright() as playwright:
        opened: list[Browser] = []

        async def start(*, without: tuple[str, ...] = (), extra: tuple[str, ...] = ()) -> Browser:
            args = [a for a in CHROMIUM_ARGS if a not in without] + list(extra)
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=args)
            opened.append(browser)
            return browser

        try:
            yield start
        finally:
            for browser in opened:
                await browser.close()


async def phone(browser: Browser, user_agent: str | None = None) -> BrowserContext:
    return await browser.new_context(
        viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True, user_agent=user_agent
    )


async def check_fails(page: Page, reason: str) -> None:
    """Run the device check; camera and microphone both fail for ``reason``, the network not."""
    await page.locator("#start-check").click()
    check = page.locator("#device-check")
    await expect(check).to_have_attribute("data-camera", "fail", timeout=READY_TIMEOUT_MS)
    await expect(check).to_have_attribute("data-microphone", "fail", timeout=READY_TIMEOUT_MS)
    for box in ("#check-camera", "#check-microphone"):
        await expect(page.locator(box)).to_have_attribute("data-state", reason)
        await expect(page.locator(f"{box} .msg[data-when={reason}]")).to_be_visible()
        await expect(page.locator(f"{box} .msg:visible")).to_have_count(1)
        await expect(page.locator(f"{box} .help-link")).to_be_visible()
    await expect(check).to_have_attribute("data-network", "ok", timeout=READY_TIMEOUT_MS)
    await expect(page.locator("#retry-check")).to_be_visible()


async def open_help(page: Page, lang: str, section: str) -> None:
    """Follow the camera box's link: the help page, in ``lang``, at ``section``, fits 360 px."""
    link = page.locator("#check-camera .help-link a")
    href = await link.get_attribute("href")
    assert href == f"{HELP_PATH}?lang={lang}#{section}"
    await link.click()
    await expect(page).to_have_url(f"{origin_of(page)}{href}")
    await expect(page.locator(f"#{section}")).to_be_in_viewport()
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN" if lang == "zh" else "en")
    await no_horizontal_scroll(page)


def origin_of(page: Page) -> str:
    parts = urlsplit(page.url)
    return f"{parts.scheme}://{parts.netloc}"


async def test_a_refused_camera_names_the_reason_and_links_to_help_in_both_languages(
    launch: Launch, base_url: str, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    booked = await book_session(factory, seed, config)
    browser = await launch(without=(FAKE_UI,), extra=("--deny-permission-prompts",))
    android = await phone(browser, ANDROID_CHROME)
    iphone = await phone(browser, IPHONE_SAFARI)
    try:
        page = await android.new_page()
        errors = watch_console(page)
        await page.goto(f"{base_url}/j/{booked.tokens['applicant']}")
        await check_fails(page, "denied")
        await expect(page.locator("#check-camera .msg[data-when=denied]")).to_contain_text("允许")
        await no_horizontal_scroll(page)
        await open_help(page, "zh", "android")
        await expect(page.locator("h1")).to_have_text("摄像头或麦克风用不了")
        await expect(page.locator("#android")).to_contain_text("“权限”")
        # The way back is the browser's: the door comes back and can be checked again.
        await page.go_back()
        await expect(page.locator("#device-check")).to_be_visible()

        page = await iphone.new_page()
        errors += watch_console(page)
        await page.goto(f"{base_url}/lang/en?next=/j/{booked.tokens['respondent']}")
        await check_fails(page, "denied")
        await expect(page.locator("#check-camera .help-link")).to_contain_text(
            "How to fix this, step by step"
        )
        await open_help(page, "en", "ios")
        await expect(page.locator("h1")).to_have_text("Camera or microphone not working")
        await expect(page.locator("#ios")).to_contain_text("Website Settings")
        assert errors == []
    finally:
        await android.close()
        await iphone.close()


async def test_no_camera_and_a_busy_camera_lead_to_the_busy_section(
    launch: Launch, base_url: str, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    booked = await book_session(factory, seed, config)
    no_devices = await launch(without=(FAKE_DEVICES,))
    context = await phone(no_devices, ANDROID_CHROME)
    try:
        page = await context.new_page()
        await page.goto(f"{base_url}/j/{booked.tokens['applicant']}")
        await check_fails(page, "missing")
        await expect(page.locator("#check-camera [data-state-label]")).to_have_text("未找到设备")
        await open_help(page, "zh", "busy")
    finally:
        await context.close()
    faked = await launch()
    context = await phone(faked, ANDROID_CHROME)
    try:
        page = await context.new_page()
        await page.add_init_script(CAMERA_BUSY)
        await page.goto(f"{base_url}/j/{booked.tokens['lawyer']}")
        await check_fails(page, "busy")
        await expect(page.locator("#check-camera [data-state-label]")).to_have_text(
            "被其他应用占用"
        )
        await open_help(page, "zh", "busy")
        await expect(page.locator("#busy")).to_contain_text("腾讯会议")
    finally:
        await context.close()


async def test_a_page_opened_over_plain_http_says_so_and_links_to_https_help(
    launch: Launch, base_url: str, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    booked = await book_session(factory, seed, config)
    # The name resolves to the test server on loopback inside this Chromium only.
    browser = await launch(
        extra=(f"--host-resolver-rules=MAP {INSECURE_HOST} 127.0.0.1, {NO_NAME_LOOKUPS}",)
    )
    context = await phone(browser, ANDROID_CHROME)
    port = urlsplit(base_url).port
    try:
        page = await context.new_page()
        await page.goto(f"http://{INSECURE_HOST}:{port}/j/{booked.tokens['applicant']}")
        assert await page.evaluate("window.isSecureContext") is False
        notice = page.locator("#insecure-page")
        await expect(notice).to_be_visible()
        await expect(notice).to_contain_text("https://")
        await expect(page.locator("#no-media")).to_be_hidden()
        await check_fails(page, "insecure")
        await open_help(page, "zh", "https")
        await expect(page.locator("#https h2")).to_have_text("网址必须以 https:// 开头")
    finally:
        await context.close()


async def test_the_help_page_fits_a_phone_in_both_languages_with_the_lan_steps(
    browser: Browser, base_url: str, config: Config
) -> None:
    make_lan_certificate(config.lan_tls_dir, ["192.168.1.20"])
    context = await phone(browser)
    try:
        page = await context.new_page()
        errors = watch_console(page)
        for lang in ("zh", "en"):
            response = await page.goto(f"{base_url}{HELP_PATH}?lang={lang}")
            assert response is not None and response.status == 200
            await expect(page.locator("#ca-download")).to_be_visible()
            await expect(page.locator(".mock")).to_have_count(3)
            await no_horizontal_scroll(page)
            # Every drawing and every step list stays inside the screen, not only the page.
            widest = await page.evaluate(
                "Math.max(...[...document.querySelectorAll('.mock, .steps, .door-card')]"
                ".map(e => e.getBoundingClientRect().right))"
            )
            assert widest <= PHONE["width"], f"{lang}: something reaches {widest}px"
        # The table of contents leads to each part.
        await page.locator(".help-toc a[href='#busy']").click()
        await expect(page.locator("#busy")).to_be_in_viewport()
        assert errors == []
    finally:
        await context.close()


async def test_the_room_links_to_help_from_the_lobby_preview_and_the_join_button(
    launch: Launch, base_url: str, factory: SessionFactory, seed: Seed, config: Config
) -> None:
    booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    browser = await launch(without=(FAKE_UI,), extra=("--deny-permission-prompts",))
    iphone = await phone(browser, IPHONE_SAFARI)
    android = await phone(browser, ANDROID_CHROME)
    try:
        # A party waiting in the lobby checks the camera: refused, in Chinese, help for iOS.
        party = await iphone.new_page()
        await party.goto(f"{base_url}/j/{booked.tokens['applicant']}/room")
        await expect(party.locator("#room")).to_have_attribute(
            "data-state", "lobby", timeout=READY_TIMEOUT_MS
        )
        await party.locator("#preview-start").click()
        await expect(party.locator("#preview-error")).to_contain_text("允许")
        link = party.locator("#preview-help a")
        await expect(link).to_have_attribute("href", f"{HELP_PATH}?lang=zh#ios")
        await no_horizontal_scroll(party)
        await link.click()
        await expect(party.locator("#ios")).to_be_in_viewport()
        await expect(party.locator("html")).to_have_attribute("lang", "zh-CN")

        # The officer, in English, taps "Join with camera and microphone": refused, Android help.
        officer = await android.new_page()
        await officer.goto(f"{base_url}/lang/en?next=/login")
        await officer.fill("#f-username", "officer")
        await officer.fill("#f-password", PASSWORD)
        await officer.click("button.primary")
        await officer.goto(f"{base_url}/sessions/{booked.session_id}/room")
        await expect(officer.locator("#room")).to_have_attribute(
            "data-state", "admitted", timeout=READY_TIMEOUT_MS
        )
        await officer.locator("#join-media").click()
        await expect(officer.locator("#prejoin-error")).to_contain_text("You did not allow")
        link = officer.locator("#prejoin-help a")
        await expect(link).to_have_attribute("href", f"{HELP_PATH}?lang=en#android")
        await link.click()
        await expect(officer.locator("#android")).to_be_in_viewport()
        await expect(officer.locator("h1")).to_have_text("Camera or microphone not working")
    finally:
        await iphone.close()
        await android.close()
