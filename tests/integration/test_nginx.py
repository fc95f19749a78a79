"""Debian's nginx, with the site file the docs ship, in front of Concord: a room through it.

Pages over ``https://`` and signalling over ``wss://`` go through nginx (TLS
there, plain HTTP to Concord); media goes from the aiortc clients straight to
the media server on 127.0.0.1, as browsers' media goes to
``ice_host_addresses``. Clients connect from other loopback addresses
(127.0.0.2, .3, .4: all of 127/8 is this machine), so the address nginx
writes into ``X-Forwarded-For`` differs from nginx's own (127.0.0.1, the only
trusted proxy), and a test can tell the real client from a forged one.
"""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlmodel import select

from server.app import create_app
from server.config import Config
from server.db import SessionFactory
from server.http.pages import door
from server.http.ratelimit import SlidingWindowLimiter
from server.lan_cert import make_lan_certificate
from server.models import AuditEvent
from tests.conftest import Seed, login
from tests.http.test_door import Booked, book_session
from tests.integration.nginx import NginxSite, read_log, render_site, running_nginx
from tests.integration.room_client import RoomClient, wait_until

FORGED = "203.0.113.9"
STAFF_ADDRESS = "127.0.0.2"
PARTY_ADDRESS = "127.0.0.4"
DIRECT_ADDRESS = "127.0.0.3"


@dataclass
class Front:
    """nginx on ``https_port`` in front of the app; ``session`` makes clients at an address."""

    app: web.Application
    https_url: str
    http_url: str
    direct_url: str
    session: Callable[..., aiohttp.ClientSession]
    prefix: Path

    @property
    def limiter(self) -> SlidingWindowLimiter:
        return self.app[door.LIMITER]


@pytest.fixture
async def booked(factory: SessionFactory, seed: Seed, config: Config) -> Booked:
    return await book_session(factory, seed, config, starts_in=timedelta(minutes=5))


@pytest.fixture
async def front(
    config: Config,
    seed: Seed,
    tmp_path: Path,
    unused_tcp_port_factory: Callable[[], int],
) -> AsyncIterator[Front]:
    https_port, http_port, upstream_port = (unused_tcp_port_factory() for _ in range(3))
    pki = make_lan_certificate(tmp_path / "pki", ["127.0.0.1"])
    https_url = f"https://127.0.0.1:{https_port}"
    behind = config.model_copy(
        update={
            "public_url": https_url,
            "trusted_proxies": ["127.0.0.1"],
            "door_max_failures": 3,
        }
    )
    app = create_app(behind)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", upstream_port).start()
    trust = ssl.create_default_context(cafile=pki.ca_cert_path)
    sessions: list[aiohttp.ClientSession] = []

    def session(address: str, base: str = https_url) -> aiohttp.ClientSession:
        made = aiohttp.ClientSession(
            base_url=base,
            connector=aiohttp.TCPConnector(local_addr=(address, 0), ssl=trust),
            cookie_jar=aiohttp.CookieJar(unsafe=True),  # cookies for an IP-address host
        )
        sessions.append(made)
        return made

    site = NginxSite(
        https_port=https_port,
        http_port=http_port,
        upstream_port=upstream_port,
        cert_path=pki.cert_path,
        key_path=pki.key_path,
    )
    try:
        async with running_nginx(tmp_path / "nginx", site) as prefix:
            yield Front(
                app,
                https_url,
                f"http://127.0.0.1:{http_port}",
                f"http://127.0.0.1:{upstream_port}",
                session,
                prefix,
            )
    finally:
        for made in sessions:
            await made.close()
        await runner.cleanup()


async def _audit_ips(app: web.Application, action: str) -> list[str]:
    from server.keys import SESSIONS

    async with app[SESSIONS]() as db:
        rows = (await db.exec(select(AuditEvent).where(AuditEvent.action == action))).all()
    return [row.ip for row in rows]


def test_the_shipped_file_is_what_the_test_runs() -> None:
    """Every EDIT value of deploy/nginx/concord.conf is found where the test replaces it."""
    text = render_site(NginxSite(1443, 1080, 18080, Path("/c.pem"), Path("/k.pem")))
    assert "127.0.0.1:18080" in text and "/c.pem" in text and "listen 127.0.0.1:1443 ssl" in text
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in text
    assert "proxy_set_header Upgrade $http_upgrade;" in text


async def test_a_room_through_nginx(front: Front, booked: Booked) -> None:
    started = time.monotonic()
    staff = front.session(STAFF_ADDRESS)
    party = front.session(PARTY_ADDRESS)

    # Plain HTTP is sent to HTTPS; the pages come over TLS with secure cookies.
    async with front.session(STAFF_ADDRESS, front.http_url).get(
        "/login", allow_redirects=False
    ) as moved:
        assert moved.status == 301
        assert moved.headers["Location"].startswith("https://")
    async with staff.get("/login") as page:
        assert page.status == 200
        assert page.url.scheme == "https"
        assert "Secure" in page.headers["Set-Cookie"]
        assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
        # nginx's $request_id (32 hex digits; Concord's own have 16) names the request.
        assert re.fullmatch(r"[0-9a-f]{32}", page.headers["X-Request-ID"])
    await login(staff, "officer")  # type: ignore[arg-type]
    assert await _audit_ips(front.app, "auth.login") == [STAFF_ADDRESS]
    async with party.get(f"/j/{booked.tokens['applicant']}") as door_page:
        assert door_page.status == 200
    assert await _audit_ips(front.app, "invitation.open") == [PARTY_ADDRESS]

    # The room: signalling over wss:// through nginx, media straight to the media server.
    host = RoomClient(staff, f"session={booked.session_id}")
    applicant = RoomClient(party, f"token={booked.tokens['applicant']}")
    try:
        await host.connect()
        assert host.ws is not None and host.ws._response.url.scheme == "https"
        joined = await applicant.connect()
        assert joined["admission"] == "lobby"
        assert (await host.request("admit", participant_id=applicant.pid))["ok"]
        await wait_until(partial(applicant.got, "you_were_admitted"), what="admission")
        await host.publish()
        await applicant.publish()
        for receiver, source in ((host, applicant), (applicant, host)):
            await wait_until(
                partial(receiver.sees, source, "video", 5),
                within=20,
                what=f"{receiver.pid} seeing {source.pid} through nginx",
            )
        print(f"\nnginx room: login, door and both parties seeing video in "
              f"{time.monotonic() - started:.2f} s")  # fmt: skip
    finally:
        for person in (host, applicant):
            await person.close()
    assert f'"GET /ws/room?session={booked.session_id}' in read_log(front.prefix, "access.log")


async def test_a_forwarded_address_cannot_be_forged(front: Front, booked: Booked) -> None:
    forged = {"X-Forwarded-For": FORGED, "Forwarded": f"for={FORGED}"}
    # Through nginx: nginx appends the address it saw; the rightmost untrusted one wins.
    via_nginx = front.session(STAFF_ADDRESS)
    async with via_nginx.get("/j/" + "x" * 43, headers=forged) as refused:
        assert refused.status == 404
    assert STAFF_ADDRESS in front.limiter
    assert FORGED not in front.limiter and "127.0.0.1" not in front.limiter

    # Straight to Concord from an address that is no trusted proxy: the header is ignored.
    direct = front.session(DIRECT_ADDRESS, front.direct_url)
    async with direct.get(f"/j/{booked.tokens['respondent']}", headers=forged) as opened:
        assert opened.status == 200
    assert await _audit_ips(front.app, "invitation.open") == [DIRECT_ADDRESS]
    statuses = []
    for n in range(4):  # a new forged address each time does not reset the count
        headers = {"X-Forwarded-For": f"198.51.100.{n}"}
        async with direct.get("/j/" + "y" * 43, headers=headers) as response:
            statuses.append(response.status)
    assert statuses == [404, 404, 404, 429]
    assert DIRECT_ADDRESS in front.limiter
    assert not any(f"198.51.100.{n}" in front.limiter for n in range(4))
    # The client behind nginx is not paused by the direct client's mistakes.
    async with via_nginx.get("/j/" + "z" * 43) as still:
        assert still.status == 404
