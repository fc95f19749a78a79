"""The nftables rule of docs/operations.md, loaded as written, in front of a real room.

The server's namespace gets the ruleset copied out of the documentation
(HTTPS on 443, media on UDP 40000-40999, everything else dropped); Concord
listens on 443 there with ``media_port_min``/``media_port_max`` set to the
documented range. A party behind a NAT router (tests/netlab/behind_nat.py)
joins from its own namespace (tests/netlab/remote_party.py) and media flows
both ways, every server-side media port inside the range. The same rule with
the media ports set elsewhere lets the pages through but no media: the rule,
not luck, is what lets media in.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from server.app import create_app
from server.config import Config
from server.db import SessionFactory
from server.keys import HUBS
from server.live.room import LiveRoom
from server.rooms import aiortc_adapter as adapter
from server.rooms.media import PortRange
from tests.conftest import Seed
from tests.http.test_door import book_session
from tests.integration.room_client import RoomClient, wait_until
from tests.integration.test_crash import login
from tests.netlab.behind_nat import CLIENT_ADDRESS, SERVER_ADDRESS, BehindNat, behind_nat
from tests.netlab.far_party import FarParty, start_far_party
from tests.netlab.inside import inside
from tests.netlab.topology import REPO, is_root
from tests.rooms import media_clients

pytestmark = [
    pytest.mark.skipif(not is_root(), reason="network namespaces and nftables need root"),
    pytest.mark.filterwarnings(
        "ignore:Changing state of started or joined application is deprecated:DeprecationWarning"
    ),
]

OPERATIONS = REPO / "docs" / "operations.md"
HTTPS_PORT = 443
DOCUMENTED_RANGE = PortRange(40000, 40999)


def documented_ruleset() -> str:
    """The nftables block of docs/operations.md, exactly as an operator would copy it."""
    blocks = re.findall(r"```\n(table inet filter \{.*?)```", OPERATIONS.read_text(), re.S)
    assert len(blocks) == 1, "docs/operations.md should hold one nftables ruleset"
    return str(blocks[0])


def test_the_documented_rule_names_the_documented_range() -> None:
    rules = documented_ruleset()
    assert f"udp dport {DOCUMENTED_RANGE.first}-{DOCUMENTED_RANGE.last} accept" in rules
    assert re.search(r"tcp dport \{ 80, 443 \} accept", rules)
    assert "policy drop" in rules


@dataclass
class Sitting:
    net: BehindNat
    live: LiveRoom
    host: RoomClient
    far: FarParty

    def server_ports(self) -> dict[str, list[int]]:
        """Every local candidate port of the server's connections, by connection."""
        ports: dict[str, list[int]] = {}
        for pid, session in self.live.sessions.items():
            media = session.media
            if media is None:
                continue
            for name, pc in (
                ("publisher", media.publisher),
                ("subscriber", media.subscriber.pc if media.subscriber else None),
            ):
                if pc is not None:
                    ports[f"{pid} {name}"] = [c.port for c in adapter.local_candidates(pc)]
        return ports


def in_lobby(host: RoomClient, pid: str) -> bool:
    return any(p["id"] == pid for p in host.room.get("participants", []))


@pytest.fixture
async def net() -> AsyncIterator[BehindNat]:
    async with behind_nat() as made:
        made.load_rules(made.server, documented_ruleset())
        yield made


@contextlib.asynccontextmanager
async def sit(
    net: BehindNat, config: Config, factory: SessionFactory, seed: Seed, media: PortRange
) -> AsyncIterator[Sitting]:
    """The mediator beside the server, the far party behind the NAT; both admitted."""
    booked = await book_session(factory, seed, config, starts_in=timedelta(minutes=5))
    saved_host = list(media_clients.HOST)
    with inside(net.server):
        media_clients.HOST[:] = [SERVER_ADDRESS]
        settings = {
            "ice_host_addresses": [SERVER_ADDRESS],
            "media_port_min": media.first,
            "media_port_max": media.last,
        }
        app = create_app(config.model_copy(update=settings))
        server = TestServer(app, host=SERVER_ADDRESS, port=HTTPS_PORT)
        await server.start_server()
        url = f"http://{SERVER_ADDRESS}:{HTTPS_PORT}"
        staff = aiohttp.ClientSession(base_url=url, cookie_jar=aiohttp.CookieJar(unsafe=True))
        far = await start_far_party(
            net.client, "tests.netlab.remote_party", url, booked.tokens["applicant"], CLIENT_ADDRESS
        )
        host = RoomClient(staff, f"session={booked.session_id}")
        try:
            await login(staff, "officer")
            await host.connect()
            # The far party's pages and room socket came through the rule's 443.
            await wait_until(lambda: bool(far.pid), within=30, what="the far party joining")
            await wait_until(partial(in_lobby, host, far.pid), what="the lobby")
            admitted = await host.request("admit", participant_id=far.pid)
            assert admitted["ok"], admitted
            await host.publish()
            live = app[HUBS].get(booked.session_id)
            assert live is not None
            yield Sitting(net, live, host, far)
        finally:
            media_clients.HOST[:] = saved_host
            await far.stop()
            await host.close()
            await staff.close()
            await server.close()
            media_clients.HOST[:] = saved_host


async def test_media_flows_through_the_documented_rule(
    net: BehindNat, config: Config, factory: SessionFactory, seed: Seed
) -> None:
    async with sit(net, config, factory, seed, DOCUMENTED_RANGE) as s:
        far = s.far.pid
        await wait_until(
            lambda: (
                s.far.count(f"{s.host.pid}/video") >= 10 and s.host.count_from(far, "video") >= 10
            ),
            within=40,
            what="video both ways through the firewall",
        )
        ports = s.server_ports()
        assert {f"{far} publisher", f"{far} subscriber"} <= set(ports), ports
        for name, candidate_ports in ports.items():
            assert candidate_ports and all(p in DOCUMENTED_RANGE for p in candidate_ports), (
                name,
                candidate_ports,
            )


async def test_media_outside_the_rule_does_not_get_in(
    net: BehindNat, config: Config, factory: SessionFactory, seed: Seed
) -> None:
    elsewhere = PortRange(50000, 50999)
    async with sit(net, config, factory, seed, elsewhere) as s:
        far = s.far.pid
        await wait_until(lambda: len(s.far.lines) >= 12, within=30, what="the far party's reports")
        assert s.far.count(f"{s.host.pid}/video") == 0
        assert s.host.count_from(far, "video") == 0
        stats = s.live.media.stats()[far]
        assert stats["publisher"]["state"] != "connected", stats
