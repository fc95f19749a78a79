"""Three browsers hold a mediation: admitted from the lobby, they see each other, and a
caucus hides one party's media from the other, as the server's own counters prove.

Media stays on 127.0.0.1: the server offers only that address and Chromium is
allowed loopback candidates.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, expect

from server.app import create_app
from server.config import Config
from server.db import SessionFactory
from server.keys import HUBS
from tests.browser.conftest import AiohttpServer
from tests.conftest import PASSWORD, Seed
from tests.http.test_door import Booked, book_session

pytestmark = pytest.mark.browser

TIMEOUT = 30_000
PHONE = ViewportSize(width=360, height=740)


@pytest.fixture
async def server(
    aiohttp_server: AiohttpServer, config: Config, seed: Seed
) -> AsyncIterator[tuple[str, object]]:
    app = create_app(config.model_copy(update={"ice_host_addresses": ["127.0.0.1"]}))
    running = await aiohttp_server(app)
    yield str(running.make_url("")).rstrip("/"), app


async def video_plays(page: Page, pid: str) -> None:
    """The tile of ``pid`` shows decoded frames (the room's CSP forbids page-side eval waits)."""
    script = """(pid) => {
        const v = document.querySelector('video[data-participant="' + pid + '"]');
        return !!v && v.videoWidth > 0 && v.currentTime > 0.2 && !v.paused; }"""
    for _ in range(TIMEOUT // 200):
        if await page.evaluate(script, pid):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{page.url}: no video from {pid}")


async def enter(context: BrowserContext, url: str) -> Page:
    page = await context.new_page()
    await page.goto(url)
    return page


async def officer_in_room(context: BrowserContext, base: str, session_id: int) -> tuple[Page, str]:
    """The presiding officer logs in, opens the room and joins with camera and microphone."""
    officer = await enter(context, f"{base}/login")
    await officer.fill("#f-username", "officer")
    await officer.fill("#f-password", PASSWORD)
    await officer.click("button.primary")
    await officer.goto(f"{base}/sessions/{session_id}/room")
    await expect(officer.locator("#room")).to_have_attribute(
        "data-state", "admitted", timeout=TIMEOUT
    )
    await officer.click("#join-media")
    pid = await officer.locator("#room").get_attribute("data-participant-id")
    assert pid
    return officer, pid


async def admit(officer: Page, pid: str) -> None:
    """The officer lets ``pid``, the only one waiting, in from the lobby."""
    await expect(officer.locator("#lobby-count")).to_have_text("1", timeout=TIMEOUT)
    await officer.click("#btn-host")
    await officer.locator(f'#lobby-list li[data-participant="{pid}"] button.primary').click()
    await officer.click("#panel-host [data-close-panel]")


async def admitted_party(officer: Page, context: BrowserContext, url: str) -> tuple[Page, str]:
    """A party opens their link, waits in the lobby, is admitted and joins with media."""
    page = await enter(context, url)
    await expect(page.locator("#room")).to_have_attribute("data-state", "lobby", timeout=TIMEOUT)
    pid = await page.locator("#room").get_attribute("data-participant-id")
    assert pid
    await admit(officer, pid)
    await expect(page.locator("#room")).to_have_attribute("data-state", "admitted", timeout=TIMEOUT)
    await page.click("#join-media")
    return page, pid


async def test_three_browsers_mediate_and_a_caucus_is_private(
    browser: Browser,
    server: tuple[str, object],
    factory: SessionFactory,
    seed: Seed,
    config: Config,
) -> None:
    base, app = server
    booked: Booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    contexts = [await browser.new_context(viewport=PHONE, locale="zh-CN") for _ in range(3)]
    try:
        officer, host_pid = await officer_in_room(contexts[0], base, booked.session_id)

        parties: dict[str, Page] = {}
        pids: dict[str, str] = {}
        for index, who in enumerate(("applicant", "respondent"), start=1):
            parties[who], pids[who] = await admitted_party(
                officer, contexts[index], f"{base}/j/{booked.tokens[who]}/room"
            )

        applicant, respondent = parties["applicant"], parties["respondent"]
        for page, sources in (
            (officer, (pids["applicant"], pids["respondent"])),
            (applicant, (host_pid, pids["respondent"])),
            (respondent, (host_pid, pids["applicant"])),
        ):
            for source in sources:
                await video_plays(page, source)

        # 背对背: the mediator talks privately with the applicant.
        await officer.click("#btn-host")
        await officer.locator(f'#caucus-choose input[value="{pids["applicant"]}"]').check()
        await officer.click("#caucus-open")
        await expect(respondent.locator("#private-talk")).to_be_visible(timeout=TIMEOUT)
        await expect(respondent.locator("#hears-you")).to_have_attribute(
            "data-ids", "", timeout=TIMEOUT
        )
        await expect(applicant.locator("#hears-you")).to_have_attribute(
            "data-ids", host_pid, timeout=TIMEOUT
        )

        hub = app[HUBS].get(booked.session_id)  # type: ignore[index]
        assert hub is not None

        def from_inside() -> dict[str, int]:
            received = hub.media.stats()[pids["respondent"]]["subscriber"]["frames_from"]
            return {
                f"{source}/{kind}": received.get(source, {}).get(kind, 0)
                for source in (host_pid, pids["applicant"])
                for kind in ("audio", "video")
            }

        await asyncio.sleep(1.0)
        before = from_inside()
        inside_before = hub.media.stats()[pids["applicant"]]["subscriber"]["frames_from"][host_pid][
            "video"
        ]
        await asyncio.sleep(3.0)
        assert from_inside() == before, "the respondent receives nothing from the caucus"
        inside_after = hub.media.stats()[pids["applicant"]]["subscriber"]["frames_from"][host_pid][
            "video"
        ]
        assert inside_after > inside_before, "inside the caucus, video flows"

        # Everyone back together: the respondent sees the applicant again.
        await officer.click("#caucus-close-all")
        await expect(respondent.locator("#private-talk")).to_be_hidden(timeout=TIMEOUT)
        await video_plays(respondent, pids["applicant"])
    finally:
        for context in contexts:
            await context.close()


async def test_the_chat_comes_back_from_history_after_a_reload(
    browser: Browser,
    server: tuple[str, object],
    factory: SessionFactory,
    seed: Seed,
    config: Config,
) -> None:
    """Room updates carry no chat: the page asks for a page of history after joining."""
    base, _app = server
    booked: Booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    context = await browser.new_context(viewport=PHONE, locale="zh-CN")
    try:
        officer = await enter(context, f"{base}/login")
        await officer.fill("#f-username", "officer")
        await officer.fill("#f-password", PASSWORD)
        await officer.click("button.primary")
        room_url = f"{base}/sessions/{booked.session_id}/room"
        await officer.goto(room_url)
        await expect(officer.locator("#room")).to_have_attribute(
            "data-state", "admitted", timeout=TIMEOUT
        )
        await officer.click("#join-media")
        await officer.click("#btn-chat")
        lines = ["双方同意先调解", "下周一前付清", "第三行"]
        for line in lines:
            await officer.fill("#chat-text", line)
            await officer.click("#chat-form button[type=submit]")
            await expect(officer.locator("#chat-list li p.text").last).to_have_text(line)
        await officer.goto(room_url)
        await expect(officer.locator("#room")).to_have_attribute(
            "data-state", "admitted", timeout=TIMEOUT
        )
        await expect(officer.locator("#chat-list li p.text")).to_have_text(lines, timeout=TIMEOUT)
    finally:
        await context.close()
