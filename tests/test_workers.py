"""Several workers behind the front: routing, room sockets, events between workers, life cycle.

Most tests run two worker apps on private Unix sockets and the front in this
one event loop (fast, and every part is inspectable); the last starts
``concord serve --workers 2`` as an operator would, kills a worker, and stops
it all with SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from server import cluster
from server.agreements import service as agreements
from server.app import create_app
from server.auth.sessions import actor_for
from server.config import Config
from server.db import SessionFactory, transaction
from server.front import Front
from server.http.pages import door
from server.keys import HUBS
from server.signaling.messages import PROTOCOL
from server.supervisor import bind_unix
from tests.conftest import SECRET, AiohttpClient, Client, Seed, login
from tests.http.test_door import Booked, book_session
from tests.signaling.test_endpoint import Peer, connect

RUN_SECRET = "run-secret-for-the-tests-0123456789abcdef"
LOOPBACK = "127.0.0.1"
CONCORD = str(Path(sys.executable).parent / "concord")
REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0


@dataclass
class Cluster:
    """Two workers and the front, in this process."""

    front: Client
    workers: list[web.Application]
    run_dir: Path

    def worker(self, index: int) -> aiohttp.ClientSession:
        """A client on a worker's private socket, as the front or a sibling would be."""
        return aiohttp.ClientSession(
            connector=aiohttp.UnixConnector(path=str(cluster.worker_socket(self.run_dir, index)))
        )


@pytest.fixture
async def two(
    aiohttp_client: AiohttpClient, config: Config, seed: Seed, sessions: list[Booked]
) -> AsyncIterator[Cluster]:
    # Sockets need short paths; pytest's tmp_path can be too long for them.
    run_dir = Path(tempfile.mkdtemp(prefix="concord-test-"))
    runners: list[web.AppRunner] = []
    apps: list[web.Application] = []
    try:
        for index in range(2):
            worker = cluster.Worker(index=index, count=2, run_dir=run_dir, secret=RUN_SECRET)
            app = create_app(config, worker=worker)
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
            await runner.setup()
            await web.SockSite(runner, bind_unix(worker.socket_path())).start()
            runners.append(runner)
            apps.append(app)
        front = Front([cluster.worker_socket(run_dir, i) for i in range(2)])
        yield Cluster(await aiohttp_client(front.app()), apps, run_dir)
    finally:
        for runner in runners:
            await runner.cleanup()
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture
async def sessions(factory: SessionFactory, seed: Seed, config: Config) -> list[Booked]:
    """Two sessions whose rooms are open now: ids 1 and 2, so one room on each worker.

    The same people cannot be booked twice at once: the second starts later,
    and rooms open early enough for both.
    """
    config.room_open_minutes_before = 4 * 60
    booked = [await book_session(factory, seed, config, starts_in=timedelta(minutes=5))]
    booked.append(await book_session(factory, seed, config, starts_in=timedelta(hours=2)))
    assert [b.session_id for b in booked] == [1, 2]
    return booked


def worker_of(response: aiohttp.ClientResponse | aiohttp.ClientWebSocketResponse) -> int:
    if isinstance(response, aiohttp.ClientWebSocketResponse):
        response = response._response  # the 101 the socket was opened with
    return int(response.headers[cluster.WORKER_HEADER])


async def test_pages_go_by_address_and_room_pages_to_the_room_owner(two: Cluster) -> None:
    by_address = cluster.address_worker(LOOPBACK, 2)
    for path in ("/healthz", "/login", "/j/not-a-link", "/static/nowhere.css"):
        response = await two.front.get(path, allow_redirects=False)
        assert worker_of(response) == by_address, path
    for session_id in (1, 2, 3, 4):
        response = await two.front.get(f"/sessions/{session_id}/room", allow_redirects=False)
        assert response.status == 303  # to the login page, from the room's worker
        assert worker_of(response) == session_id % 2


async def test_room_sockets_reach_the_rooms_owner_whoever_checks_the_link(
    two: Cluster, sessions: list[Booked]
) -> None:
    """An invitee's token goes to the address's worker, which names the owner when it is not."""
    await login(two.front, "officer")
    for booked in sessions:
        owner = booked.session_id % 2
        host = await connect(two.front, f"session={booked.session_id}")
        assert worker_of(host.ws) == owner
        assert (await host.request("join"))["data"]["admission"] == "admitted"
        party = await connect(two.front, f"token={booked.tokens['applicant']}")
        assert worker_of(party.ws) == owner
        assert party.ws.protocol == PROTOCOL
        knocked = await party.request("join")
        assert knocked["data"]["admission"] == "lobby"
        admitted = await host.request("admit", participant_id=knocked["data"]["participant_id"])
        assert admitted["ok"]
        await party.note("you_were_admitted")
        # The room lives on its owner alone.
        assert two.workers[owner][HUBS].get(booked.session_id) is not None
        assert two.workers[1 - owner][HUBS].get(booked.session_id) is None
        # The room's own close codes come through the front unchanged.
        assert (await host.request("end_session"))["ok"]
        assert await party.closed_with() == 4002
        assert await host.closed_with() == 4002


async def test_refusals_come_through_the_front(two: Cluster, sessions: list[Booked]) -> None:
    token = sessions[0].tokens["applicant"]
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await two.front.ws_connect(f"/ws/room?token={token}")  # no subprotocol
    assert caught.value.status == 400
    for query in (f"token={'x' * 43}", f"session={sessions[0].session_id}"):  # not logged in
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await connect(two.front, query)
        assert caught.value.status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await connect(two.front, f"token={token}", headers={"Origin": "https://evil.example"})
    assert caught.value.status == 403
    plain = await two.front.get("/ws/room")  # not an upgrade at all: the worker's 400
    assert plain.status == 400


async def test_an_agreement_change_on_another_worker_reaches_the_room(
    two: Cluster, sessions: list[Booked], factory: SessionFactory, seed: Seed
) -> None:
    booked = sessions[0]
    owner = booked.session_id % 2
    await login(two.front, "officer")
    host = await connect(two.front, f"session={booked.session_id}")
    await host.request("join")
    async with transaction(factory) as db:
        await agreements.open_draft(db, actor_for(seed.users["officer"]), booked.session_id)
    # A page served by the other worker (a signature, a draft edit) says so.
    two.workers[1 - owner][HUBS].agreement_changed(booked.session_id)
    update = await host.note("agreement_updated")
    assert update["version"] >= 1
    # And a room that is not live anywhere: nothing happens, nothing breaks.
    two.workers[owner][HUBS].agreement_changed(sessions[1].session_id)
    await host.ws.close()


async def test_internal_routes_answer_sibling_workers_only(
    two: Cluster, client: Client, sessions: list[Booked]
) -> None:
    path = cluster.agreement_changed_path(1)
    for public in (path, path.replace("_", "%5F")):
        response = await two.front.post(public, headers={cluster.SECRET_HEADER: RUN_SECRET})
        assert response.status == 404, public  # the front never forwards them
    async with two.worker(1) as sibling:
        for secret in (None, "wrong", RUN_SECRET[:-1]):
            headers = {cluster.SECRET_HEADER: secret} if secret else {}
            async with sibling.post(f"http://w{path}", headers=headers) as response:
                assert response.status == 404, secret
        good = {cluster.SECRET_HEADER: RUN_SECRET}
        async with sibling.post(f"http://w{path}", headers=good) as response:
            assert response.status == 204
        not_mine = cluster.agreement_changed_path(2)
        async with sibling.post(f"http://w{not_mine}", headers=good) as response:
            assert response.status == 421  # never passed on again
    # A single process has no siblings: the secret opens nothing there.
    alone = await client.post(path, headers={cluster.SECRET_HEADER: RUN_SECRET})
    assert alone.status == 404


async def test_a_worker_believes_the_front_about_the_client_and_nobody_else(
    two: Cluster, client: Client
) -> None:
    by_address = cluster.address_worker(LOOPBACK, 2)
    spoofed = {cluster.CLIENT_HEADER: "203.0.113.66"}
    # Through the front: the front writes the address itself.
    await two.front.get("/j/not-a-link", headers=spoofed)
    limiter = two.workers[by_address][door.LIMITER]
    assert LOOPBACK in limiter and "203.0.113.66" not in limiter
    # On the private socket (the front's way in): believed.
    async with two.worker(0) as front_like:
        headers = {cluster.CLIENT_HEADER: "198.51.100.7"}
        async with front_like.get("http://w/j/not-a-link", headers=headers) as response:
            assert response.status == 404
    assert "198.51.100.7" in two.workers[0][door.LIMITER]
    # A single process on its public port: never.
    await client.get("/j/not-a-link", headers=spoofed)
    assert "203.0.113.66" not in client.app[door.LIMITER]
    assert LOOPBACK in client.app[door.LIMITER]


# --- real processes ----------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def _worker_pid(supervisor: int, index: int) -> int:
    for pid in _children(supervisor):
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"--worker-index" in argv and argv[argv.index(b"--worker-index") + 1] == b"%d" % index:
            return pid
    raise AssertionError(f"no worker {index} under {supervisor}")


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


async def _room_page_worker(http: aiohttp.ClientSession, url: str, session_id: int) -> int | None:
    with contextlib.suppress(aiohttp.ClientError, OSError):
        async with http.get(f"{url}/sessions/{session_id}/room", allow_redirects=False) as r:
            if r.status == 303:
                return worker_of(r)
    return None


async def test_serve_with_two_workers(
    config: Config, sessions: list[Booked], tmp_path: Path, unused_tcp_port: int
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    env.update(
        {
            "CONCORD_DATA_DIR": str(tmp_path),
            "CONCORD_DATABASE_URL": config.database_url,
            "CONCORD_SECRET_KEY": SECRET,
            "CONCORD_PORT": str(unused_tcp_port),
            "CONCORD_ICE_HOST_ADDRESSES": '["127.0.0.1"]',
            "PYTHONUNBUFFERED": "1",
        }
    )
    url = f"http://{LOOPBACK}:{unused_tcp_port}"
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        process = await asyncio.create_subprocess_exec(
            CONCORD,
            "serve",
            "--workers",
            "2",
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    workers: list[int] = []
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + START_TIMEOUT
            while await _room_page_worker(http, url, 1) is None:
                assert process.returncode is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                await asyncio.sleep(0.1)
            assert await _room_page_worker(http, url, 2) == 0
            assert await _room_page_worker(http, url, 1) == 1
            workers = _children(process.pid)
            assert len(workers) == 2

            # An invitee joins room 1 through the front; its worker dies under it.
            ws = await http.ws_connect(
                f"{url}/ws/room?token={sessions[0].tokens['applicant']}", protocols=(PROTOCOL,)
            )
            assert worker_of(ws) == 1
            peer = Peer(ws)
            assert (await peer.request("join"))["data"]["admission"] == "lobby"
            os.kill(_worker_pid(process.pid, 1), signal.SIGKILL)
            assert await peer.closed_with() == 1001  # going away: the browser reconnects
            # The supervisor starts worker 1 again; room 1 is served once more.
            deadline = time.monotonic() + START_TIMEOUT
            while await _room_page_worker(http, url, 1) != 1:
                assert time.monotonic() < deadline, log_path.read_text()
                await asyncio.sleep(0.1)
            workers = _children(process.pid)
            assert len(workers) == 2
            again = await http.ws_connect(
                f"{url}/ws/room?token={sessions[0].tokens['applicant']}", protocols=(PROTOCOL,)
            )
            assert (await Peer(again).request("join"))["ok"]
            await again.close()
    finally:
        process.terminate()
        try:
            code = await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()
            pytest.fail(f"concord serve ignored SIGTERM:\n{log_path.read_text()}")
    assert code == 0, log_path.read_text()
    assert all(_gone(pid) for pid in workers), log_path.read_text()
    assert not list((tmp_path / "run").rglob("*")), "sockets or run directories left behind"
    assert "exited with status -9" in log_path.read_text()
