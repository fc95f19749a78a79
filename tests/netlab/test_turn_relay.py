"""Media through a TURN relay (Debian's coturn) when the client's firewall allows nothing else.

::

    client 10.81.1.2 ── 10.81.1.1 router (coturn) 10.81.2.1 ── 10.81.2.2 server (Concord)
      nft: out only to coturn           relays from 10.81.2.1     media server, mediator
      (and Concord's HTTP port)

The namespaces are tests/netlab/topology.py's (its link emulator stays idle: nothing
is impaired). coturn runs in the router namespace with a file made by ``concord
turn-config``'s own code, listening on the client side and relaying from the server
side; the media server's private address is its one allowed peer. The far party is
a real aiortc client (tests/netlab/turn_party.py) that takes the TURN credentials of
its join reply. The client's firewall (nftables inside its namespace) lets out only
what is named, so its direct path to the media server is dropped (counted) and ICE
must select the relayed pair; media must flow both ways.

1. Only the TURN server's address (and Concord's signalling port): TURN over UDP.
2. Only TCP 443 (and signalling): TURN over TLS on 443, every UDP packet dropped;
   with the aiortc client, then with Debian's Chromium (given all three TURN URLs).

The figure printed (``-s``) is the relay join time: from the far party's ``join``
request to its first decoded video frame (and from its admission, which the mediator
gives at once, to that frame); for Chromium, from opening the page to the mediator's
video playing.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import async_playwright, expect
from pydantic import SecretStr

from server.app import create_app
from server.cli import build_parser
from server.config import Config
from server.db import SessionFactory
from server.keys import TURN
from server.lan_cert import make_lan_certificate
from server.turn import TurnIssuer
from server.turn_config_command import build
from tests import coturn
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.test_room import PHONE, TIMEOUT, video_plays
from tests.conftest import Seed
from tests.http.test_door import Booked, book_session
from tests.integration.room_client import RoomClient, wait_until
from tests.integration.test_crash import login
from tests.netlab.far_party import FarParty, start_far_party
from tests.netlab.inside import inside
from tests.netlab.test_bad_links import in_lobby
from tests.netlab.topology import CLIENT_ADDRESS, SERVER_ADDRESS, Topology, bad_link, is_root
from tests.rooms import media_clients

pytestmark = [
    pytest.mark.skipif(not is_root(), reason="network namespaces and nftables need root"),
    pytest.mark.skipif(not coturn.installed(), reason="Debian's coturn is not installed"),
    pytest.mark.filterwarnings(
        "ignore:Changing state of started or joined application is deprecated:DeprecationWarning"
    ),
]

#: coturn's addresses in the router namespace: where clients reach it, where it relays from.
TURN_ADDRESS = "10.81.1.1"
RELAY_ADDRESS = "10.81.2.1"
SECRET = "relay-test-secret-0123456789abcdefghijkl"
TURN_URLS = [
    f"turn:{TURN_ADDRESS}:3478?transport=udp",
    f"turn:{TURN_ADDRESS}:3478?transport=tcp",
    f"turns:{TURN_ADDRESS}:443?transport=tcp",
]


def firewall(topology: Topology, http_port: int, allowed: str) -> None:
    """The client namespace's nftables: out only to ``allowed`` and Concord's signalling;
    UDP to the media server dropped and counted; in only what answers."""
    rules = f"""
table inet relay_test {{
  chain output {{
    type filter hook output priority 0; policy drop;
    oif "lo" accept
    ip daddr {SERVER_ADDRESS} tcp dport {http_port} accept
    {allowed} accept
    ip daddr {SERVER_ADDRESS} meta l4proto udp counter drop comment "direct media"
    meta l4proto udp counter drop comment "other udp"
  }}
  chain input {{
    type filter hook input priority 0; policy drop;
    iif "lo" accept
    ct state established,related accept
  }}
}}
"""
    subprocess.run(
        topology.exec_in(topology.client, "nft", "-f", "-"),
        input=rules.encode(),
        check=True,
        capture_output=True,
    )


def dropped(topology: Topology, comment: str) -> int:
    listing = subprocess.run(
        topology.exec_in(topology.client, "nft", "list", "table", "inet", "relay_test"),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(rf"packets (\d+) bytes \d+ drop comment \"{comment}\"", listing)
    assert match, listing
    return int(match.group(1))


def coturn_file(tmp_path: Path, log: Path) -> Path:
    """The router's turnserver.conf, from the code of ``concord turn-config``."""
    pki = make_lan_certificate(tmp_path / "pki", [TURN_ADDRESS])
    station = Config(
        data_dir=tmp_path,
        turn_secret=SecretStr(SECRET),
        turn_urls=TURN_URLS,
        ice_host_addresses=[SERVER_ADDRESS],
        tls_cert_path=pki.cert_path,
        tls_key_path=pki.key_path,
    )
    args = build_parser().parse_args(
        [
            "turn-config",
            "--listening-ip", TURN_ADDRESS,
            "--relay-ip", RELAY_ADDRESS,
            "--min-port", "49160",
            "--max-port", "49200",
            "--log-file", str(log),
            "--pid-file", str(tmp_path / "coturn.pid"),
        ]
    )  # fmt: skip
    path = tmp_path / "turnserver.conf"
    # verbose: coturn logs each session's transport, which the TLS test checks.
    path.write_text(build(station, args, SECRET) + "verbose\n")
    return path


@dataclass
class Station:
    """Concord in the server namespace with the mediator in its room, coturn in the router."""

    topology: Topology
    url: str
    booked: Booked
    host: RoomClient
    coturn: coturn.Coturn
    issuer: TurnIssuer
    ca: Path


@contextlib.asynccontextmanager
async def station(
    tmp_path: Path, config: Config, factory: SessionFactory, seed: Seed, allowed: str
) -> AsyncIterator[Station]:
    """Everything but the far party; the client's firewall lets out ``allowed`` only."""
    booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    log = tmp_path / "coturn.log"
    conf = coturn_file(tmp_path, log)
    async with bad_link(tmp_path) as topology:
        saved_host = list(media_clients.HOST)
        with inside(topology.server):
            async with coturn.running(
                conf, log, (TURN_ADDRESS, 3478), prefix=("ip", "netns", "exec", topology.router)
            ) as turn_server:
                media_clients.HOST[:] = [SERVER_ADDRESS]
                app = create_app(
                    config.model_copy(
                        update={
                            "ice_host_addresses": [SERVER_ADDRESS],
                            "turn_secret": SecretStr(SECRET),
                            "turn_urls": TURN_URLS,
                        }
                    )
                )
                issuer = app[TURN]
                assert issuer is not None
                server = TestServer(app, host=SERVER_ADDRESS, port=0)
                await server.start_server()
                assert server.port is not None
                firewall(topology, server.port, allowed)
                url = f"http://{SERVER_ADDRESS}:{server.port}"
                staff = aiohttp.ClientSession(
                    base_url=url, cookie_jar=aiohttp.CookieJar(unsafe=True)
                )
                host = RoomClient(staff, f"session={booked.session_id}")
                try:
                    await login(staff, "officer")
                    await host.connect()
                    await host.publish()
                    yield Station(
                        topology,
                        url,
                        booked,
                        host,
                        turn_server,
                        issuer,
                        tmp_path / "pki" / "ca.crt",
                    )
                finally:
                    await host.close()
                    await staff.close()
                    await server.close()
                    media_clients.HOST[:] = saved_host


async def admit(s: Station, pid: str) -> None:
    await wait_until(partial(in_lobby, s.host, pid), what="the lobby")
    admitted = await s.host.request("admit", participant_id=pid)
    assert admitted["ok"], admitted


@dataclass
class Relayed:
    topology: Topology
    host: RoomClient
    far: FarParty
    coturn: coturn.Coturn


@contextlib.asynccontextmanager
async def relayed_room(
    tmp_path: Path,
    config: Config,
    factory: SessionFactory,
    seed: Seed,
    turn_url: str,
    allowed: str,
) -> AsyncIterator[Relayed]:
    """The mediator beside the server, the far party (aiortc) behind its firewall."""
    async with station(tmp_path, config, factory, seed, allowed) as s:
        far = await start_far_party(
            s.topology.client, "tests.netlab.turn_party", s.url, s.booked.tokens["applicant"],
            CLIENT_ADDRESS, options=("--turn-url", turn_url),
            # aiortc checks the TURN server's certificate against the default CAs.
            env={**os.environ, "SSL_CERT_FILE": str(s.ca)},
        )  # fmt: skip
        try:
            await wait_until(lambda: bool(far.pid), within=30, what="the far party")
            await admit(s, far.pid)
            yield Relayed(s.topology, s.host, far, s.coturn)
        finally:
            await far.stop()


async def media_both_ways(r: Relayed, frames: int = 15) -> dict[str, int]:
    def counts() -> dict[str, int]:
        return {
            "far sees mediator": r.far.count(f"{r.host.pid}/video"),
            "far hears mediator": r.far.count(f"{r.host.pid}/audio"),
            "mediator sees far": r.host.count_from(r.far.pid, "video"),
            "mediator hears far": r.host.count_from(r.far.pid, "audio"),
        }

    await wait_until(
        lambda: all(n >= frames for n in counts().values()),
        within=60,
        what="media both ways through the relay",
        report=lambda: (counts(), r.far.last(), r.coturn.log_text()[-2000:]),
    )
    return counts()


def assert_relayed(r: Relayed) -> None:
    """Both of the far party's connections selected coturn's relay toward the media server."""
    line = r.far.last()
    for name in ("publisher_pair", "subscriber_pair"):
        pair = line[name]
        assert pair is not None, line
        assert pair["local_type"] == "relay", pair
        assert pair["local"][0] == RELAY_ADDRESS, pair
        assert pair["remote"][0] == SERVER_ADDRESS, pair


def allocations(r: Relayed) -> list[str]:
    """coturn's "new session" lines for allocations made with Concord's credentials."""
    return [
        line
        for line in r.coturn.log_text().splitlines()
        if re.search(r"session \d+: new, .*username=<\d+:[0-9a-f]{16}>", line)
    ]


def report_join_time(r: Relayed, what: str) -> None:
    line = r.far.last()
    print(
        f"\nTURN relay ({what}): join → first decoded frame {line['join_to_first_frame']:.2f} s "
        f"(admission → first frame {line['admitted_to_first_frame']:.2f} s); "
        f"direct UDP to the media server dropped: {dropped(r.topology, 'direct media')} packets"
    )


async def test_a_client_that_reaches_only_the_turn_server_gets_media_through_a_udp_relay(
    tmp_path: Path, config: Config, factory: SessionFactory, seed: Seed
) -> None:
    async with relayed_room(
        tmp_path, config, factory, seed, TURN_URLS[0], allowed=f"ip daddr {TURN_ADDRESS}"
    ) as r:
        await media_both_ways(r)
        assert_relayed(r)
        # The firewall was in play: ICE tried the direct path and it was dropped.
        assert dropped(r.topology, "direct media") > 0
        report_join_time(r, "UDP 3478")
        sessions = allocations(r)
        assert sessions and not any("method=TLS" in s for s in sessions), sessions
        assert r.coturn.complaints() == []


async def test_a_client_with_only_tcp_443_open_gets_media_through_turn_over_tls(
    tmp_path: Path, config: Config, factory: SessionFactory, seed: Seed
) -> None:
    async with relayed_room(
        tmp_path,
        config,
        factory,
        seed,
        TURN_URLS[2],
        allowed=f"ip daddr {TURN_ADDRESS} tcp dport 443",
    ) as r:
        await media_both_ways(r)
        assert_relayed(r)
        assert dropped(r.topology, "direct media") > 0
        report_join_time(r, "TLS on TCP 443")
        # The allocations came in over TLS, with the credentials of the join reply.
        sessions = allocations(r)
        assert sessions and all(re.search(r"method=TLSv1\.[23]", s) for s in sessions), sessions
        assert r.coturn.complaints() == []


@pytest.mark.browser
async def test_chromium_with_only_tcp_443_open_gets_media_through_turn_over_tls(
    tmp_path: Path, config: Config, factory: SessionFactory, seed: Seed
) -> None:
    """Debian's Chromium in the client namespace: it is given all three TURN URLs and
    finds the one way out, TLS on 443."""
    async with station(
        tmp_path, config, factory, seed, allowed=f"ip daddr {TURN_ADDRESS} tcp dport 443"
    ) as s:
        args = [
            *CHROMIUM_ARGS,
            # The room is served over plain HTTP inside the namespaces: let it have the camera.
            f"--unsafely-treat-insecure-origin-as-secure={s.url}",
            # The TURN server's certificate is the test's own CA's.
            "--ignore-certificate-errors",
        ]
        # The Playwright driver, and so Chromium, start in the client's namespace.
        with inside(s.topology.client):
            playwright = await async_playwright().start()
        try:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=args)
            context = await browser.new_context(viewport=PHONE, locale="zh-CN")
            page = await context.new_page()
            joining = time.monotonic()
            await page.goto(f"{s.url}/j/{s.booked.tokens['applicant']}/room")
            room = page.locator("#room")
            await expect(room).to_have_attribute("data-state", "lobby", timeout=TIMEOUT)
            pid = await room.get_attribute("data-participant-id")
            assert pid
            await admit(s, pid)
            await expect(room).to_have_attribute("data-state", "admitted", timeout=TIMEOUT)
            await page.click("#join-media")
            await video_plays(page, s.host.pid)
            first_frame = time.monotonic() - joining
            await wait_until(
                lambda: s.host.count_from(pid, "video") >= 15,
                within=60,
                what="the mediator decoding Chromium's video through the relay",
            )
            tag = s.issuer.tag(pid)
            tls_sessions = [
                line
                for line in s.coturn.log_text().splitlines()
                if f":{tag}>" in line and "new," in line and re.search(r"method=TLSv1\.[23]", line)
            ]
            print(
                f"\nTURN relay (Chromium, TLS on TCP 443): page opened → mediator's video "
                f"playing {first_frame:.2f} s (lobby and admission included); UDP dropped: "
                f"{dropped(s.topology, 'direct media')} to the media server, "
                f"{dropped(s.topology, 'other udp')} elsewhere"
            )
            assert tls_sessions, s.coturn.log_text()[-3000:]
            assert dropped(s.topology, "direct media") + dropped(s.topology, "other udp") > 0
            assert s.coturn.complaints() == []
            await context.close()
            await browser.close()
        finally:
            await playwright.stop()
