"""A party's screen says when the server moved them to sound only for a weak link, the
video to them stops (and nobody else's), and both come back when the link recovers.

The verdict is handed to the live layer the way the media server's link watch hands
it (``LiveRooms.link_judged``); the judging itself is covered in
tests/rooms/test_link_quality.py and, on a real slow link, in the network tests.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from playwright.async_api import Browser, expect

from server.config import Config
from server.db import SessionFactory
from server.keys import HUBS
from server.rooms.routing import routes
from tests.browser.screens import PHONE, no_horizontal_scroll
from tests.browser.test_room import (
    TIMEOUT,
    admitted_party,
    officer_in_room,
    server,
    video_plays,
)
from tests.conftest import Seed
from tests.http.test_door import Booked, book_session

__all__ = ["server"]  # the fixture, used by name

pytestmark = pytest.mark.browser


async def test_the_server_moves_a_weak_link_to_sound_only_and_back(
    browser: Browser,
    server: tuple[str, object],
    factory: SessionFactory,
    seed: Seed,
    config: Config,
) -> None:
    base, app = server
    booked: Booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    contexts = [await browser.new_context(viewport=PHONE, locale="zh-CN") for _ in range(2)]
    try:
        officer, host = await officer_in_room(contexts[0], base, booked.session_id)
        party, pid = await admitted_party(
            officer, contexts[1], f"{base}/j/{booked.tokens['applicant']}/room"
        )
        await video_plays(party, host)
        await video_plays(officer, pid)
        notice = party.locator("#network-notice")
        await expect(notice).to_be_hidden()

        rooms = app[HUBS]  # type: ignore[index]
        live = rooms.get(booked.session_id)
        assert live is not None

        def video_frames_to(receiver: str) -> int:
            frames: int = live.media.stats()[receiver]["subscriber"]["video"]["frames_out"]
            return frames

        await rooms.link_judged(live, pid, True, "queue")
        await expect(notice).to_have_attribute("data-state", "audio-only", timeout=TIMEOUT)
        await expect(notice).to_be_visible()
        await expect(notice).to_contain_text("只接收声音")
        await no_horizontal_scroll(party)
        table = routes(live.room)
        assert not any(r.receiver == pid and r.kind == "video" for r in table)
        assert any(r.receiver == pid and r.kind == "audio" for r in table)
        # The party still sends video, and the officer still receives it.
        assert any(r.source == pid and r.kind == "video" for r in table)
        stopped = video_frames_to(pid)
        to_officer = video_frames_to(host)
        await asyncio.sleep(1.0)
        assert video_frames_to(pid) == stopped
        assert video_frames_to(host) > to_officer
        # The officer's own screen says nothing about the party's link.
        await expect(officer.locator("#network-notice")).to_be_hidden()

        await rooms.link_judged(live, pid, False, "")
        await expect(notice).to_be_hidden(timeout=TIMEOUT)
        await expect(notice).to_have_attribute("data-state", "ok")
        for _ in range(TIMEOUT // 200):
            if video_frames_to(pid) > stopped + 10:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("video to the party did not come back")
        await video_plays(party, host)

        # The page's own reading of its statistics: heavy loss or a long round trip is weak.
        verdicts = await party.evaluate(
            """() => [
                ConcordRoom.assessNetwork({lost: 30, received: 170}, {lost: 0, received: 0}).weak,
                ConcordRoom.assessNetwork({lost: 2, received: 198}, {lost: 0, received: 0}).weak,
                ConcordRoom.assessNetwork({lost: 0, received: 100, rtt: 0.8}, null).weak,
                ConcordRoom.assessNetwork(
                    {lost: 0, received: 10, remoteFractionLost: 0.2}, null).weak,
            ]"""
        )
        assert verdicts == [True, False, True, True]
    finally:
        for context in contexts:
            await context.close()
