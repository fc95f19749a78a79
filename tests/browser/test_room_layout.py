"""The room's controls stay on screen without scrolling, whatever the number of people.

A mediator who has to scroll to find "mute" or "leave" loses the room: on a
1366x768 office screen the control bar once sat below the fold. The presiding
officer's page is measured at the common office sizes and on a phone, with 2
and then 8 people in the room; the other people are real aiortc peers that
publish audio and video, so the page lays out real tiles.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from functools import partial

import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from server.app import create_app
from server.config import Config
from server.db import SessionFactory
from tests.browser.test_room import officer_in_room
from tests.conftest import AiohttpClient, Client, Seed
from tests.http.test_door import Booked, book_session
from tests.integration.room_client import RoomClient, wait_until

pytestmark = [
    pytest.mark.browser,
]

TIMEOUT = 30_000
SIZES = [
    ViewportSize(width=1366, height=768),
    ViewportSize(width=1280, height=720),
    ViewportSize(width=360, height=640),
]
#: What must be reachable at once: the bar, and in it mute, camera, leave and the host panel.
CONTROLS = ["#controls", "#btn-mic", "#btn-cam", "#btn-leave", "#btn-host"]


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, config: Config, seed: Seed) -> Client:
    return await aiohttp_client(
        create_app(config.model_copy(update={"ice_host_addresses": ["127.0.0.1"]}))
    )


async def assert_controls_on_screen(page: Page, people: int) -> None:
    for size in SIZES:
        await page.set_viewport_size(size)
        # Let the layout settle (the page may react to the resize).
        await page.wait_for_timeout(150)
        where = f"{size['width']}x{size['height']} with {people} people"
        scroll = await page.evaluate(
            "() => [document.scrollingElement.scrollHeight, window.innerHeight,"
            " document.scrollingElement.scrollWidth, window.innerWidth]"
        )
        import os

        if os.environ.get("SHOTS"):
            await page.screenshot(path=f"/tmp/shot-{people}-{size['width']}.png")
        assert scroll[0] <= scroll[1], f"{where}: the page scrolls vertically ({scroll})"
        assert scroll[2] <= scroll[3], f"{where}: the page scrolls sideways ({scroll})"
        for selector in CONTROLS:
            box = await page.locator(selector).bounding_box()
            assert box is not None, f"{where}: {selector} is not displayed"
            assert box["width"] > 0 and box["height"] > 0, f"{where}: {selector} has no size"
            assert box["x"] >= 0 and box["y"] >= 0, f"{where}: {selector} at {box}"
            assert box["x"] + box["width"] <= size["width"] + 0.5, f"{where}: {selector} {box}"
            assert box["y"] + box["height"] <= size["height"] + 0.5, f"{where}: {selector} {box}"
        # The tiles share what is left: none is pushed under the bar.
        bar = await page.locator("#controls").bounding_box()
        assert bar is not None
        tiles = page.locator("#tiles .tile")
        for index in range(await tiles.count()):
            box = await tiles.nth(index).bounding_box()
            assert box is not None and box["height"] > 20, f"{where}: tile {index} is squashed"
            assert box["y"] + box["height"] <= bar["y"] + 0.5, f"{where}: tile {index} {box}"


async def come_in(peer: RoomClient, host: RoomClient) -> None:
    await peer.connect()
    admitted = await host.request("admit", participant_id=peer.pid)
    assert admitted["ok"], admitted
    await wait_until(partial(peer.got, "you_were_admitted"), what="admission")
    await peer.publish()


async def test_controls_stay_visible_with_two_and_eight_people(
    browser: Browser,
    client: Client,
    factory: SessionFactory,
    seed: Seed,
    config: Config,
) -> None:
    booked: Booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    base = str(client.make_url("")).rstrip("/")
    context = await browser.new_context(viewport=SIZES[0], locale="zh-CN")
    peers: list[RoomClient] = []
    try:
        officer, _ = await officer_in_room(context, base, booked.session_id)
        await expect(officer.locator("#controls")).to_be_visible(timeout=TIMEOUT)

        # Two people: the officer admits the applicant from the host panel.
        applicant = RoomClient(client, f"token={booked.tokens['applicant']}")
        peers.append(applicant)
        await applicant.connect()
        await officer.click("#btn-host")
        await officer.locator(
            f'#lobby-list li[data-participant="{applicant.pid}"] button.primary'
        ).click()
        await officer.click("#panel-host [data-close-panel]")
        await wait_until(partial(applicant.got, "you_were_admitted"), what="admission")
        await applicant.publish()
        await expect(officer.locator("#tiles .tile")).to_have_count(1, timeout=TIMEOUT)
        await assert_controls_on_screen(officer, 2)

        # Eight: a co-host comes in with their own link and admits five more.
        cohost = RoomClient(client, f"token={booked.tokens['staff']}")
        peers.append(cohost)
        await cohost.connect()
        await cohost.publish()
        others = [
            RoomClient(client, f"token={booked.tokens[who]}")
            for who in ("respondent", "police", "lawyer", "cadre", "observer")
        ]
        peers += others
        await asyncio.gather(*(come_in(peer, cohost) for peer in others))
        assert len(peers) + 1 == 8
        await expect(officer.locator("#tiles .tile")).to_have_count(7, timeout=TIMEOUT)
        await assert_controls_on_screen(officer, 8)
    finally:
        await context.close()
        for peer in peers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(peer.close(), 10)
