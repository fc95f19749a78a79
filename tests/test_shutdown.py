"""Stopping `concord serve` with rooms open: sockets hear 1001, the process is quick and quiet.

A browser that sees 1001 (going away) reconnects; one that sees 1006 only
learns that the connection broke, and an operator who waits 25 s for a stop
restarts by kill -9. Both process models run as an operator starts them.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from server.config import Config
from server.db import SessionFactory
from server.signaling.messages import PROTOCOL
from tests.conftest import PASSWORD, SECRET, Seed, csrf_from
from tests.http.test_door import Booked, book_session
from tests.signaling.test_endpoint import Peer
from tests.test_workers import CONCORD, LOOPBACK, REPO, START_TIMEOUT

#: What an operator (or systemd's default of 90 s) may expect a stop to take.
STOP_SECONDS = 2.0


@pytest.fixture
async def booked(factory: SessionFactory, seed: Seed, config: Config) -> Booked:
    config.room_open_minutes_before = 60
    return await book_session(factory, seed, config, starts_in=timedelta(minutes=5))


@asynccontextmanager
async def serving(
    config: Config, tmp_path: Path, port: int, *args: str
) -> AsyncIterator[tuple[asyncio.subprocess.Process, Path]]:
    """`concord serve ARGS` on loopback, ready for room sockets; killed if a test leaves it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    env.update(
        {
            "CONCORD_DATA_DIR": str(tmp_path),
            "CONCORD_DATABASE_URL": config.database_url,
            "CONCORD_SECRET_KEY": SECRET,
            "CONCORD_HOST": LOOPBACK,
            "CONCORD_PORT": str(port),
            "CONCORD_ICE_HOST_ADDRESSES": '["127.0.0.1"]',
            "PYTHONUNBUFFERED": "1",
        }
    )
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        process = await asyncio.create_subprocess_exec(
            CONCORD,
            "serve",
            *args,
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                assert process.returncode is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                try:
                    async with http.get(f"http://{LOOPBACK}:{port}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        yield process, log_path
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _stop_with_a_room_open(
    config: Config, tmp_path: Path, port: int, booked: Booked, *args: str
) -> tuple[list[int | None], float, int, str]:
    """SIGTERM with the officer and a party in the room: (close codes, seconds, status, log)."""
    url = f"http://{LOOPBACK}:{port}"
    async with (
        serving(config, tmp_path, port, *args) as (process, log_path),
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as officer,
        aiohttp.ClientSession() as party_browser,
    ):
        form = await (await officer.get(f"{url}/login")).text()
        login = {"username": "officer", "password": PASSWORD, "csrf_token": csrf_from(form)}
        response = await officer.post(f"{url}/login", data=login, allow_redirects=False)
        assert response.status == 303
        host = Peer(
            await officer.ws_connect(
                f"{url}/ws/room?session={booked.session_id}", protocols=(PROTOCOL,)
            )
        )
        assert (await host.request("join"))["ok"]
        party = Peer(
            await party_browser.ws_connect(
                f"{url}/ws/room?token={booked.tokens['applicant']}", protocols=(PROTOCOL,)
            )
        )
        knocked = await party.request("join")
        assert (await host.request("admit", participant_id=knocked["data"]["participant_id"]))["ok"]
        await party.note("you_were_admitted")
        started = time.monotonic()
        process.terminate()
        codes = await asyncio.wait_for(asyncio.gather(host.closed_with(), party.closed_with()), 10)
        status = await asyncio.wait_for(process.wait(), 30)
        took = time.monotonic() - started
        return list(codes), took, status, log_path.read_text()


async def test_sigterm_to_one_process_says_going_away_and_exits_at_once(
    config: Config, booked: Booked, tmp_path: Path, unused_tcp_port: int
) -> None:
    codes, took, status, log = await _stop_with_a_room_open(
        config, tmp_path, unused_tcp_port, booked, "--workers", "1"
    )
    assert codes == [1001, 1001], log
    assert took < STOP_SECONDS, f"{took:.1f} s\n{log}"
    assert status == 0, log
    assert "Traceback" not in log and "ERROR" not in log, log


async def test_sigterm_to_two_workers_says_going_away_without_a_traceback(
    config: Config, booked: Booked, tmp_path: Path, unused_tcp_port: int
) -> None:
    codes, took, status, log = await _stop_with_a_room_open(
        config, tmp_path, unused_tcp_port, booked, "--workers", "2"
    )
    assert codes == [1001, 1001], log
    assert took < STOP_SECONDS, f"{took:.1f} s\n{log}"
    assert status == 0, log
    assert "Traceback" not in log and "ERROR" not in log, log
