"""Trusted proxies: whose forwarding header is believed, and how far.

The rule is server/http/trusted_proxies.py; a real nginx in front of Concord is
tests/integration/test_nginx.py.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from multidict import CIMultiDict
from pydantic import ValidationError

from server import cluster
from server.app import create_app
from server.config import Config
from server.front import Front
from server.http.pages import door
from server.http.trusted_proxies import (
    client_address,
    client_from_chain,
    header_chain,
    parse_address,
    parse_networks,
)
from tests.conftest import AiohttpClient, Client, Seed
from tests.http.test_internal import probe_off_afterwards  # noqa: F401  (fixture)
from tests.test_workers import Cluster, sessions, two  # noqa: F401  (fixtures)

PROXIES = ("10.0.0.5", "10.1.0.0/16")
XFF = "x-forwarded-for"


def headers(**values: str) -> CIMultiDict[str]:
    return CIMultiDict({k.replace("_", "-"): v for k, v in values.items()})


@pytest.mark.parametrize(
    ("peer", "xff", "client"),
    [
        ("203.0.113.7", "", "203.0.113.7"),  # nobody in between
        ("203.0.113.7", "198.51.100.1", "203.0.113.7"),  # not a proxy: its header is ignored
        ("10.0.0.5", "", "10.0.0.5"),  # the proxy's own request (a health check)
        ("10.0.0.5", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.5", "1.2.3.4, 198.51.100.1", "198.51.100.1"),  # a client's forgery to the left
        ("10.0.0.5", "198.51.100.1, 10.1.2.3", "198.51.100.1"),  # two trusted hops
        ("10.0.0.5", "10.1.9.9, 10.1.2.3", "10.1.9.9"),  # trusted all the way: the leftmost
        ("10.0.0.5", "garbage, 198.51.100.1", "198.51.100.1"),
        ("10.0.0.5", "198.51.100.1, unknown", "10.0.0.5"),  # a hop hidden: stop at what we know
        ("10.0.0.5", "[2001:db8::1]:4711", "2001:db8::1"),
        ("10.0.0.5", "198.51.100.1:5050", "198.51.100.1"),
        ("::ffff:10.0.0.5", "198.51.100.1", "198.51.100.1"),  # a dual-stack socket's view
    ],
)
def test_the_rightmost_address_no_trusted_proxy_vouches_for(
    peer: str, xff: str, client: str
) -> None:
    found = client_address(peer, headers(x_forwarded_for=xff) if xff else headers(), PROXIES, XFF)
    assert found == client


def test_nobody_is_trusted_by_default() -> None:
    assert client_address("127.0.0.1", headers(x_forwarded_for="1.2.3.4"), (), XFF) == "127.0.0.1"
    assert Config().trusted_proxies == []


def test_only_the_configured_header_is_read() -> None:
    """nginx passes a client's own Forwarded header through: reading both would let it forge."""
    sent = headers(x_forwarded_for="198.51.100.1", forwarded="for=1.2.3.4")
    assert client_address("10.0.0.5", sent, PROXIES, XFF) == "198.51.100.1"
    assert client_address("10.0.0.5", sent, PROXIES, "forwarded") == "1.2.3.4"


def test_forwarded_elements_and_several_header_lines() -> None:
    many: CIMultiDict[str] = CIMultiDict()
    many.add("Forwarded", 'for=1.2.3.4;proto=https, for="[2001:db8::7]:80"')
    many.add("Forwarded", "by=10.0.0.5;for=198.51.100.2")
    assert header_chain(many, "forwarded") == ["1.2.3.4", '"[2001:db8::7]:80"', "198.51.100.2"]
    assert client_address("10.0.0.5", many, PROXIES, "forwarded") == "198.51.100.2"
    two_lines: CIMultiDict[str] = CIMultiDict()
    two_lines.add("X-Forwarded-For", "1.2.3.4")
    two_lines.add("X-Forwarded-For", "198.51.100.3, 10.1.0.1")
    assert client_address("10.0.0.5", two_lines, PROXIES, XFF) == "198.51.100.3"


def test_addresses_as_headers_write_them() -> None:
    assert str(parse_address('"[2001:db8::1]:443"')) == "2001:db8::1"
    assert parse_address("_hidden") is None and parse_address("") is None
    assert client_from_chain("", ["1.2.3.4"], parse_networks(PROXIES)) == ""  # a Unix socket


def test_the_setting_takes_addresses_and_networks_only() -> None:
    assert Config(trusted_proxies=[" 127.0.0.1 ", "10.0.0.0/8", "::1"]).trusted_proxies == [
        "127.0.0.1",
        "10.0.0.0/8",
        "::1",
    ]
    with pytest.raises(ValidationError, match="not an IP address or network"):
        Config(trusted_proxies=["nginx.local"])
    with pytest.raises(ValidationError):
        Config(trusted_proxy_header="x-real-ip")


@pytest.fixture
async def behind_proxy(
    aiohttp_client: AiohttpClient, config: Config, seed: Seed
) -> AsyncIterator[Client]:
    """A single process whose peer (the test client, 127.0.0.1) is a trusted proxy."""
    trusting = config.model_copy(update={"trusted_proxies": ["127.0.0.1"]})
    yield await aiohttp_client(create_app(trusting))


async def test_a_trusted_proxy_names_the_client_to_the_door(behind_proxy: Client) -> None:
    await behind_proxy.get("/j/not-a-link", headers={"X-Forwarded-For": "1.2.3.4, 198.51.100.8"})
    limiter = behind_proxy.app[door.LIMITER]
    assert "198.51.100.8" in limiter
    assert "1.2.3.4" not in limiter and "127.0.0.1" not in limiter


async def test_an_untrusted_peer_cannot_name_itself(client: Client) -> None:
    await client.get("/j/not-a-link", headers={"X-Forwarded-For": "198.51.100.8"})
    assert "127.0.0.1" in client.app[door.LIMITER]
    assert "198.51.100.8" not in client.app[door.LIMITER]


async def test_the_latency_probe_is_for_this_machine_not_for_whoever_nginx_passes(
    aiohttp_client: AiohttpClient,
    config: Config,
    seed: Seed,
    probe_off_afterwards: None,  # noqa: F811
) -> None:
    """nginx on the same machine connects from loopback: the probe must ask who is behind it."""
    probing = config.model_copy(
        update={"trusted_proxies": ["127.0.0.1"], "media_latency_probe": True}
    )
    http = await aiohttp_client(create_app(probing))
    local = await http.get("/_internal/media/latency")
    assert local.status == 200
    remote = await http.get("/_internal/media/latency", headers={"X-Forwarded-For": "1.2.3.4"})
    assert remote.status == 404


async def test_the_front_names_the_client_a_trusted_proxy_names(
    two: Cluster,  # noqa: F811
    aiohttp_client: AiohttpClient,
) -> None:
    """Behind nginx, the front believes nginx and tells the worker; routing follows it."""
    front = Front(
        [cluster.worker_socket(two.run_dir, i) for i in range(2)],
        trusted_proxies=["127.0.0.1"],
    )
    http = await aiohttp_client(front.app())
    for address in ("198.51.100.20", "198.51.100.21", "198.51.100.22", "198.51.100.23"):
        response = await http.get(
            "/j/not-a-link",
            headers={"X-Forwarded-For": address, cluster.CLIENT_HEADER: "203.0.113.1"},
        )
        worker = cluster.address_worker(address, 2)
        assert int(response.headers[cluster.WORKER_HEADER]) == worker
        assert address in two.workers[worker][door.LIMITER]
    for app in two.workers:
        assert "203.0.113.1" not in app[door.LIMITER] and "127.0.0.1" not in app[door.LIMITER]
    # nginx's request id reaches the worker (which believes only the front) and comes back.
    named = await http.get("/login", headers={"X-Request-ID": NGINX_REQUEST_ID})
    assert named.headers["X-Request-ID"] == NGINX_REQUEST_ID
    # The default front trusts nobody: the header is only a header.
    await two.front.get("/j/not-a-link", headers={"X-Forwarded-For": "198.51.100.99"})
    assert not any("198.51.100.99" in app[door.LIMITER] for app in two.workers)
    forged = await two.front.get("/login", headers={"X-Request-ID": NGINX_REQUEST_ID})
    assert forged.headers["X-Request-ID"] not in ("", NGINX_REQUEST_ID)


NGINX_REQUEST_ID = "0123456789abcdef0123456789abcdef"


def test_nothing_but_client_ip_and_the_front_reads_the_socket_peer() -> None:
    """A new ``request.remote`` elsewhere would miss the trusted-proxy rule and the front's word."""
    server = Path(__file__).resolve().parents[2] / "server"
    readers = sorted(
        str(path.relative_to(server))
        for path in server.rglob("*.py")
        if re.search(r"\brequest\.remote\b", path.read_text())
    )
    assert readers == ["front.py", "http/middlewares.py"]
