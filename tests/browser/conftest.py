"""Debian's Chromium driven by Playwright against a real Concord server on loopback."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, async_playwright

from server.app import create_app
from server.config import Config
from tests.conftest import Seed

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium must not reach for the network on its own (updates, sync, safe browsing).
#: No name lookup leaves the machine: Chromium otherwise resolves its own services'
#: names (accounts, updates) through the host's resolver. The rules match IP literals
#: too, so the addresses pages are served on (loopback, the test namespaces' 10.x) are kept.
NO_NAME_LOOKUPS = "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE 10.*"
CHROMIUM_ARGS = [
    f"--host-resolver-rules={NO_NAME_LOOKUPS}",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    # The media server offers 127.0.0.1 only; Chromium skips loopback without this.
    "--allow-loopback-in-peer-connection",
]

AiohttpServer = Callable[[web.Application], Awaitable[TestServer]]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture
async def base_url(aiohttp_server: AiohttpServer, config: Config, seed: Seed) -> str:
    server = await aiohttp_server(create_app(config))
    return str(server.make_url("")).rstrip("/")
