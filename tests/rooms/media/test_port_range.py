"""The media server with a UDP port range: real aiortc peers, media flowing, a full range.

``MediaConfig.port_range`` reaches every connection through
``Connections.configure_ice`` (server/rooms/media/connections.py); a full
range refuses the connection with :class:`MediaPortsExhausted` and a log line.
The ranges are blocks found free on loopback at the test's start, below the
kernel's ephemeral ports so the clients' own sockets cannot take them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from functools import partial

import pytest
from aiortc import RTCPeerConnection

from server.rooms import aiortc_adapter as adapter
from server.rooms.media import MediaPortsExhausted, PortRange
from tests.rooms.free_ports import free_udp_block, udp_port_is_free
from tests.rooms.media_clients import MediaClient
from tests.rooms.test_media import Harness, all_routes, wait_until


def server_connections(harness: Harness) -> dict[str, RTCPeerConnection]:
    """Every connection the server holds, by ``<pid> publisher|subscriber``."""
    found: dict[str, RTCPeerConnection] = {}
    for pid, media in harness.legs.items():
        if media.publisher is not None:
            found[f"{pid} publisher"] = media.publisher
        if media.subscriber is not None and media.subscriber.pc is not None:
            found[f"{pid} subscriber"] = media.subscriber.pc
    return found


def local_ports(pc: RTCPeerConnection) -> list[int]:
    return [c.port for c in adapter.local_candidates(pc)]


def is_connected(pc: RTCPeerConnection) -> bool:
    return bool(pc.connectionState == "connected")


@pytest.fixture
async def ranged() -> AsyncIterator[tuple[Harness, PortRange]]:
    ports = PortRange(*free_udp_block(20))
    harness = Harness(port_range=ports)
    try:
        yield harness, ports
    finally:
        await harness.close()


async def test_media_flows_and_every_server_port_is_in_the_range(
    ranged: tuple[Harness, PortRange],
) -> None:
    harness, ports = ranged
    pids = ["inv-1", "inv-2", "staff-3"]
    await harness.join(*pids)
    await harness.route(all_routes(pids))
    await harness.receiving({p: set(pids) - {p} for p in pids}, frames=10)

    connections = server_connections(harness)
    assert len(connections) == 6  # a publisher and a subscriber connection each
    used: list[int] = []
    for name, pc in connections.items():
        assert pc.connectionState == "connected", name
        candidate_ports = local_ports(pc)
        assert candidate_ports, name
        assert all(port in ports for port in candidate_ports), (name, candidate_ports, ports)
        used += candidate_ports
    assert len(set(used)) == len(used) == 6  # one port per connection, none shared
    # The clients gathered as usual: their ports are the kernel's, outside the range.
    client_ports = [
        port
        for client in harness.clients.values()
        for pc in (client.publisher.pc, client.subscriber.pc)
        if pc is not None
        for port in local_ports(pc)
    ]
    assert client_ports and not any(port in ports for port in client_ports)


async def test_a_full_range_refuses_the_next_join_clearly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port, _ = free_udp_block(1)
    ports = PortRange(port, port)
    harness = Harness(port_range=ports)
    try:
        await harness.join("inv-1")
        first = harness.legs["inv-1"].publisher
        assert first is not None and local_ports(first) == [port]

        newcomer = harness.clients["inv-2"] = MediaClient("inv-2")
        media = await harness.attach("inv-2")
        with caplog.at_level(logging.ERROR), pytest.raises(MediaPortsExhausted) as raised:
            await media.publisher_offer(await newcomer.publisher.offer())
        words = f"no free UDP port in the media range {port}-{port} on 127.0.0.1"
        assert words in str(raised.value)
        assert any(
            r.levelno == logging.ERROR
            and f"media connection of publisher inv-2 refused: {words}" in r.getMessage()
            for r in caplog.records
        ), [r.getMessage() for r in caplog.records]
        assert harness.legs["inv-1"].publisher is first  # the first one is untouched
        await wait_until(partial(is_connected, first))
        assert media.publisher is None

        # Once inv-1 leaves, its port is given back and inv-2 gets in.
        await harness.legs["inv-1"].close()
        await wait_until(lambda: udp_port_is_free(port))
        answer = await media.publisher_offer(await newcomer.publisher.offer())
        await newcomer.publisher.accept(answer)
        assert media.publisher is not None and local_ports(media.publisher) == [port]
    finally:
        await harness.close()


async def test_no_port_for_a_subscriber_is_logged_and_harms_nobody(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two ports, two publishers: the server's subscriber offers find none and give up."""
    ports = PortRange(*free_udp_block(2))
    harness = Harness(port_range=ports)
    try:
        with caplog.at_level(logging.WARNING):
            await harness.join("inv-1", "inv-2")
            await harness.route(all_routes(["inv-1", "inv-2"]))

            def refused(pid: str) -> bool:
                return any(
                    f"media connection of subscriber {pid} refused: no free UDP port"
                    in r.getMessage()
                    for r in caplog.records
                )

            await wait_until(lambda: refused("inv-1") and refused("inv-2"))
        assert harness.offers == []  # nothing was offered that could not be carried
        for pid in ("inv-1", "inv-2"):
            publisher = harness.legs[pid].publisher
            assert publisher is not None
            await wait_until(partial(is_connected, publisher))
    finally:
        await harness.close()


async def test_two_servers_share_one_range() -> None:
    """Like ``concord serve --workers 2``: each bind takes a port of its own, or fails."""
    ports = PortRange(*free_udp_block(4))
    one, two = Harness(port_range=ports), Harness(port_range=ports)
    try:
        await one.join("inv-1", "inv-2")
        await two.join("inv-3", "inv-4")
        used = [
            port
            for harness in (one, two)
            for pc in server_connections(harness).values()
            for port in local_ports(pc)
        ]
        assert sorted(used) == list(range(ports.first, ports.last + 1))
        for harness, pid in ((one, "inv-5"), (two, "inv-6")):
            client = harness.clients[pid] = MediaClient(pid)
            media = await harness.attach(pid)
            with pytest.raises(MediaPortsExhausted):
                await media.publisher_offer(await client.publisher.offer())
    finally:
        await one.close()
        await two.close()
