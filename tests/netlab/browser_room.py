"""The presiding officer and one party in a room, in real Chromium across the bad link.

The party's Chromium runs in the client namespace of tests/netlab/topology.py, so
everything it sends crosses the link emulator; the officer's Chromium and the Concord
server (in-process, on the test's event loop moved there with tests/netlab/inside.py)
sit in the server namespace. Shared by the tests of a bad link seen from the page.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, async_playwright

from server.app import create_app
from server.config import Config
from server.db import SessionFactory
from tests.browser.screens import PHONE
from tests.browser.test_room import admitted_party, officer_in_room, video_plays
from tests.conftest import Seed
from tests.http.test_door import Booked, book_session
from tests.netlab.chromium import FrameTally, launch_in, record_peer_connections
from tests.netlab.inside import inside
from tests.netlab.topology import SERVER_ADDRESS, Topology, bad_link, is_root

#: The marks of every such test: a browser test that needs root for its namespaces.
BROWSER_ON_A_BAD_LINK = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not is_root(), reason="network namespaces, TUN devices and `ip netns exec` need root"
    ),
    pytest.mark.filterwarnings(
        "ignore:Changing state of started or joined application is deprecated:DeprecationWarning"
    ),
]


@dataclass
class BrowserRoom:
    topology: Topology
    officer: Page
    party: Page
    host_pid: str
    party_pid: str
    officer_frames: FrameTally = field(init=False)
    party_frames: FrameTally = field(init=False)

    def __post_init__(self) -> None:
        self.officer_frames = FrameTally(self.officer)
        self.party_frames = FrameTally(self.party)

    def pages(self) -> dict[str, Page]:
        return {"officer": self.officer, "party": self.party}


@contextlib.asynccontextmanager
async def browser_room(
    tmp_path: Path,
    config: Config,
    factory: SessionFactory,
    seed: Seed,
    party_args: Sequence[str] = (),
) -> AsyncIterator[BrowserRoom]:
    """The officer and one party in the room, each seeing the other's video.

    ``party_args``: more Chromium flags for the party's browser (its camera, say)."""
    booked: Booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    async with bad_link(tmp_path) as topology:
        with inside(topology.server):
            app = create_app(config.model_copy(update={"ice_host_addresses": [SERVER_ADDRESS]}))
            server = TestServer(app, host=SERVER_ADDRESS, port=0)
            await server.start_server()
            base = f"http://{SERVER_ADDRESS}:{server.port}"
            try:
                async with async_playwright() as playwright:
                    near = await launch_in(playwright, topology.server, base, tmp_path)
                    far = await launch_in(playwright, topology.client, base, tmp_path, party_args)
                    try:
                        contexts = [
                            await b.new_context(viewport=PHONE, locale="zh-CN") for b in (near, far)
                        ]
                        for context in contexts:
                            await record_peer_connections(context)
                        officer, host_pid = await officer_in_room(
                            contexts[0], base, booked.session_id
                        )
                        party, party_pid = await admitted_party(
                            officer, contexts[1], f"{base}/j/{booked.tokens['applicant']}/room"
                        )
                        await video_plays(party, host_pid)
                        await video_plays(officer, party_pid)
                        yield BrowserRoom(topology, officer, party, host_pid, party_pid)
                    finally:
                        await far.close()
                        await near.close()
            finally:
                await server.close()


def latest(report: list[dict[str, Any]], role: str) -> dict[str, Any]:
    """The page's newest connection of ``role`` (older ones were replaced)."""
    return [e for e in report if e["role"] == role][-1]
