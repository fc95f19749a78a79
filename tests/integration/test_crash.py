"""kill -9 during a caucus: the room comes back closed, with real processes and real peers.

The server runs as an operator runs it (``concord serve``, then ``--workers 2``),
three aiortc participants (the mediator and two parties) talk through it, the
mediator takes the applicant into a caucus, and the server (or the room's
worker) is killed with SIGKILL. Everyone reconnects, the parties before the
mediator, and the respondent, left outside the caucus, must receive not one
RTP packet until the mediator closes the caucus; then media flows again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path

import aiohttp
import pytest

from server.config import Config
from server.db import SessionFactory
from tests.conftest import PASSWORD, SECRET, Seed, csrf_from
from tests.http.test_door import Booked, book_session
from tests.integration.room_client import RoomClient, wait_until
from tests.test_workers import CONCORD, REPO, _room_page_worker, _worker_pid

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 30.0
#: How long the respondent is watched for packets while the caucus holds.
WATCH_SECONDS = 3.0


@dataclass
class Server:
    """``concord serve`` in a process of its own, on the test's database."""

    env: dict[str, str]
    url: str
    log_path: Path
    workers: int
    process: asyncio.subprocess.Process | None = None
    logs: list[str] = field(default_factory=list)

    async def start(self) -> None:
        args = ["serve", "--workers", str(self.workers)]
        with self.log_path.open("a") as log:
            self.process = await asyncio.create_subprocess_exec(
                CONCORD,
                *args,
                env=self.env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        await self.serving(room=1)

    async def serving(self, room: int) -> None:
        """Wait until the page of ``room`` is served (by its owner, with several workers)."""
        owner = room % self.workers if self.workers > 1 else None
        deadline = time.monotonic() + START_TIMEOUT
        async with aiohttp.ClientSession() as http:
            while True:
                assert self.process is not None and self.process.returncode is None, self.log
                if self.workers > 1:
                    if await _room_page_worker(http, self.url, room) == owner:
                        return
                else:
                    with contextlib.suppress(aiohttp.ClientError, OSError):
                        async with http.get(f"{self.url}/healthz") as response:
                            if response.status == 200:
                                return
                assert time.monotonic() < deadline, self.log
                await asyncio.sleep(0.1)

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    async def kill(self) -> None:
        """SIGKILL: no cleanup of any kind runs."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


@pytest.fixture
async def booked(factory: SessionFactory, seed: Seed, config: Config) -> Booked:
    return await book_session(factory, seed, config, starts_in=timedelta(minutes=5))


def server_for(config: Config, tmp_path: Path, port: int, workers: int) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    env.update(
        {
            "CONCORD_DATA_DIR": str(tmp_path),
            "CONCORD_DATABASE_URL": config.database_url,
            "CONCORD_SECRET_KEY": SECRET,
            "CONCORD_PORT": str(port),
            "CONCORD_ICE_HOST_ADDRESSES": f'["{LOOPBACK}"]',
            "PYTHONUNBUFFERED": "1",
        }
    )
    return Server(env, f"http://{LOOPBACK}:{port}", tmp_path / "serve.log", workers)


@contextlib.asynccontextmanager
async def _sessions(url: str) -> AsyncIterator[tuple[aiohttp.ClientSession, aiohttp.ClientSession]]:
    """The mediator's browser (logged in) and the parties' (a cookie jar each)."""
    # The server is an IP address: cookies must be kept for it all the same.
    staff = aiohttp.ClientSession(base_url=url, cookie_jar=aiohttp.CookieJar(unsafe=True))
    parties = aiohttp.ClientSession(base_url=url, cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        yield staff, parties
    finally:
        await staff.close()
        await parties.close()


async def login(http: aiohttp.ClientSession, username: str) -> None:
    async with http.get("/login") as page:
        token = csrf_from(await page.text())
    form = {"username": username, "password": PASSWORD, "csrf_token": token}
    async with http.post("/login", data=form, allow_redirects=False) as response:
        assert response.status == 303, await response.text()


async def reconnect(person: RoomClient) -> None:
    joined = await person.connect()
    assert joined["admission"] == "admitted", "admitted before the crash: no knocking again"
    await person.publish()


async def kill_during_a_caucus(server: Server, booked: Booked, kill_room_worker: bool) -> None:
    await server.start()
    async with _sessions(server.url) as (staff, parties):
        await login(staff, "officer")
        host = RoomClient(staff, f"session={booked.session_id}")
        applicant = RoomClient(parties, f"token={booked.tokens['applicant']}")
        respondent = RoomClient(parties, f"token={booked.tokens['respondent']}")
        everyone = (host, applicant, respondent)
        try:
            await host.connect()
            for party in (applicant, respondent):
                assert (await party.connect())["admission"] == "lobby"
                assert (await host.request("admit", participant_id=party.pid))["ok"]
                await wait_until(partial(party.got, "you_were_admitted"), what="admission")
            for person in everyone:
                await person.publish()
            await wait_until(
                partial(respondent.sees, applicant, "video", 5), what="media before the caucus"
            )
            opened = await host.request("open_caucus", participant_ids=[applicant.pid])
            assert opened["ok"], opened

            if kill_room_worker:
                assert server.process is not None
                os.kill(_worker_pid(server.process.pid, booked.session_id % 2), signal.SIGKILL)
            else:
                await server.kill()
            for person in everyone:
                await person.drop()
            if kill_room_worker:
                await server.serving(room=booked.session_id)  # the supervisor restarted it
            else:
                await server.start()

            # The parties are back first; the mediator is not.
            await reconnect(respondent)
            await reconnect(applicant)
            await asyncio.sleep(WATCH_SECONDS)
            assert respondent.media is not None
            assert await respondent.media.subscriber.packets() == 0
            assert respondent.room["hears_you"] == []
            assert applicant.room["hears_you"] == [], "the mediator is not back yet"

            # The mediator returns, into the caucus: inside it, media flows.
            await reconnect(host)
            await wait_until(
                partial(applicant.sees, host, "video", 5), what="the caucus talking again"
            )
            await wait_until(partial(host.sees, applicant, "video", 5), what="the mediator")
            await asyncio.sleep(WATCH_SECONDS)
            assert await respondent.media.subscriber.packets() == 0, "nothing reaches outside"
            assert respondent.count(applicant, "video") == 0
            assert respondent.count(host, "audio") == 0

            # Until the mediator closes it: then everyone hears everyone again.
            assert (await host.request("close_all_caucuses"))["ok"]
            await wait_until(
                partial(respondent.sees, applicant, "video", 5), what="media after the caucus"
            )
            await wait_until(partial(respondent.sees, host, "audio", 1))
            assert await respondent.media.subscriber.packets() > 0
        finally:
            for person in everyone:
                await person.close()
            await server.stop()


async def test_kill_9_during_a_caucus_the_room_comes_back_closed(
    config: Config, booked: Booked, tmp_path: Path, unused_tcp_port: int
) -> None:
    server = server_for(config, tmp_path, unused_tcp_port, workers=1)
    await kill_during_a_caucus(server, booked, kill_room_worker=False)


async def test_kill_9_of_the_rooms_worker_the_room_comes_back_closed(
    config: Config, booked: Booked, tmp_path: Path, unused_tcp_port: int
) -> None:
    server = server_for(config, tmp_path, unused_tcp_port, workers=2)
    await kill_during_a_caucus(server, booked, kill_room_worker=True)
    assert "exited with status -9" in server.log
