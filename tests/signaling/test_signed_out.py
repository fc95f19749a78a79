"""Logging out, changing one's password or being deactivated ends one's room sockets.

Before, a room page left open kept the host controls of an officer who had
logged out elsewhere: the socket was authenticated once, at the upgrade.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiohttp import WSMsgType

from server import cluster
from server.app import create_app
from server.config import Config
from server.db import SessionFactory
from server.keys import HUBS
from tests.conftest import PASSWORD, AiohttpClient, Client, Seed, login
from tests.http.test_door import Booked, book_session
from tests.signaling.test_endpoint import Peer, connect
from tests.test_workers import RUN_SECRET, Cluster, sessions, two  # noqa: F401  (fixtures)

# Each person needs a cookie jar of their own: several test clients on one app,
# all started before the first socket (each start runs the app's start-up again).
pytestmark = pytest.mark.filterwarnings(
    "ignore:Changing state of started or joined application is deprecated:DeprecationWarning"
)

SIGNED_OUT = 4007


@pytest.fixture
async def booked(factory: SessionFactory, seed: Seed, config: Config) -> Booked:
    return await book_session(factory, seed, config, starts_in=timedelta(minutes=5))


async def clients(aiohttp_client: AiohttpClient, config: Config, n: int) -> list[Client]:
    first = await aiohttp_client(create_app(config))
    return [first] + [await aiohttp_client(first.app) for _ in range(n - 1)]


async def close_code(peer: Peer) -> int | None:
    """The code the server closed with, as its close frame said.

    (The client's own record can read 1006 when the server drops the connection
    before the client's reply to the close is written.)
    """
    while True:
        msg = await peer.ws.receive(timeout=5)
        if msg.type == WSMsgType.CLOSE:
            return int(msg.data)
        if msg.type in (WSMsgType.CLOSED, WSMsgType.CLOSING):
            return peer.ws.close_code


async def in_room(client: Client, booked: Booked, username: str) -> tuple[Peer, str]:
    csrf = await login(client, username)
    peer = await connect(client, f"session={booked.session_id}")
    assert (await peer.request("join"))["data"]["admission"] == "admitted"
    return peer, csrf


async def test_logging_out_ends_the_room_socket(
    aiohttp_client: AiohttpClient, config: Config, booked: Booked
) -> None:
    (browser,) = await clients(aiohttp_client, config, 1)
    host, csrf = await in_room(browser, booked, "officer")
    response = await browser.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert response.status == 303
    assert await close_code(host) == SIGNED_OUT


async def test_a_password_change_elsewhere_ends_the_room_socket(
    aiohttp_client: AiohttpClient, config: Config, booked: Booked
) -> None:
    room_browser, desk_browser = await clients(aiohttp_client, config, 2)
    host, _ = await in_room(room_browser, booked, "officer")
    csrf = await login(desk_browser, "officer")
    changed = await desk_browser.post(
        "/password",
        data={
            "csrf_token": csrf,
            "current_password": PASSWORD,
            "new_password": "my-own-secret-77",
            "confirm_password": "my-own-secret-77",
        },
        allow_redirects=False,
    )
    assert changed.status == 303, await changed.text()
    assert await close_code(host) == SIGNED_OUT
    # The room page tries again: the old login is gone, so is the room.
    refused = await room_browser.get(f"/sessions/{booked.session_id}/room", allow_redirects=False)
    assert refused.status == 303


async def test_deactivating_an_account_ends_its_room_socket(
    aiohttp_client: AiohttpClient, config: Config, booked: Booked, seed: Seed
) -> None:
    host_browser, clerk_browser, admin_browser = await clients(aiohttp_client, config, 3)
    host, _ = await in_room(host_browser, booked, "officer")
    clerk, _ = await in_room(clerk_browser, booked, "clerk")
    csrf = await login(admin_browser, "admin")
    response = await admin_browser.post(
        f"/admin/users/{seed.uid('clerk')}",
        data={"csrf_token": csrf, "display_name": "测试clerk", "role": "clerk"},
        allow_redirects=False,
    )
    assert response.status == 303
    assert await close_code(clerk) == SIGNED_OUT
    assert (await host.request("raise_hand", raised=True))["ok"], "others stay"


@pytest.mark.parametrize("change", ["role", "office"])
async def test_an_admin_changing_role_or_office_ends_the_room_socket(
    aiohttp_client: AiohttpClient, config: Config, booked: Booked, seed: Seed, change: str
) -> None:
    """The web logins end (the service deletes them); the room socket must end with them,
    or the open page keeps the host controls the old role or office gave."""
    host_browser, admin_browser = await clients(aiohttp_client, config, 2)
    host, _ = await in_room(host_browser, booked, "officer")
    csrf = await login(admin_browser, "admin")
    form = {
        "csrf_token": csrf,
        "display_name": "测试officer",
        "role": "auxiliary" if change == "role" else "officer",
        "office_id": str(seed.office_a if change == "role" else seed.office_b),
        "active": "on",
    }
    response = await admin_browser.post(
        f"/admin/users/{seed.uid('officer')}", data=form, allow_redirects=False
    )
    assert response.status == 303, await response.text()
    assert await close_code(host) == SIGNED_OUT


async def test_a_role_change_through_the_api_ends_the_room_socket(
    aiohttp_client: AiohttpClient, config: Config, booked: Booked, seed: Seed
) -> None:
    host_browser, admin_browser = await clients(aiohttp_client, config, 2)
    host, _ = await in_room(host_browser, booked, "officer")
    login_response = await admin_browser.post(
        "/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}
    )
    csrf = (await login_response.json())["csrf_token"]
    response = await admin_browser.put(
        f"/api/v1/users/{seed.uid('officer')}",
        json={"display_name": "测试officer", "role": "chief"},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status == 200, await response.text()
    assert await close_code(host) == SIGNED_OUT


async def test_a_cosmetic_change_keeps_the_room_socket(
    aiohttp_client: AiohttpClient, config: Config, booked: Booked, seed: Seed
) -> None:
    host_browser, admin_browser = await clients(aiohttp_client, config, 2)
    host, _ = await in_room(host_browser, booked, "officer")
    csrf = await login(admin_browser, "admin")
    form = {
        "csrf_token": csrf,
        "display_name": "李明",
        "role": "officer",
        "office_id": str(seed.office_a),
        "active": "on",
    }
    response = await admin_browser.post(
        f"/admin/users/{seed.uid('officer')}", data=form, allow_redirects=False
    )
    assert response.status == 303, await response.text()
    assert (await host.request("raise_hand", raised=True))["ok"], "the login and the room stay"


async def test_a_sign_out_on_one_worker_ends_the_socket_on_another(
    two: Cluster,  # noqa: F811  (the fixture of tests/test_workers.py)
    sessions: list[Booked],  # noqa: F811
    seed: Seed,
) -> None:
    booked = sessions[0]
    owner = booked.session_id % 2
    await login(two.front, "officer")
    host = await connect(two.front, f"session={booked.session_id}")
    assert (await host.request("join"))["ok"]
    two.workers[1 - owner][HUBS].signed_out(seed.uid("officer"))
    assert await close_code(host) == SIGNED_OUT


async def test_the_sign_out_route_answers_sibling_workers_only(
    two: Cluster,  # noqa: F811
    seed: Seed,
) -> None:
    path = cluster.signed_out_path(seed.uid("officer"))
    response = await two.front.post(path, headers={cluster.SECRET_HEADER: RUN_SECRET})
    assert response.status == 404, "the front never forwards it"
    async with two.worker(1) as sibling:
        async with sibling.post(f"http://w{path}", headers={cluster.SECRET_HEADER: "no"}) as r:
            assert r.status == 404
        async with sibling.post(
            f"http://w{path}", headers={cluster.SECRET_HEADER: RUN_SECRET}
        ) as r:
            assert r.status == 204
