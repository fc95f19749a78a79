"""Media sockets inside a port range: the range, binding, and aioice gathering with it.

Mirrors ``server/rooms/aiortc_adapter/ports.py`` and the range half of
``configure_ice`` (``server/rooms/aiortc_adapter/ice.py``). Everything binds on
loopback; the STUN server is a few lines answering on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import random
import socket
from collections.abc import AsyncIterator, Iterator
from typing import cast

import pytest
from aioice import stun
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

from server.rooms import aiortc_adapter as adapter
from server.rooms.aiortc_adapter import NoFreePort, PortRange, bind_in_range
from tests.rooms.free_ports import free_udp_block
from tests.rooms.media_clients import HOST, client_configuration

BUFFER = 1 << 20


@contextlib.contextmanager
def holding(ports: list[int], host: str = "127.0.0.1") -> Iterator[list[socket.socket]]:
    """Keep ``ports`` busy on ``host`` (as another process would) for the block's length."""
    held = []
    try:
        for port in ports:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            held.append(sock)
            sock.bind((host, port))
        yield held
    finally:
        for sock in held:
            sock.close()


# --- PortRange ------------------------------------------------------------------------


def test_a_range_knows_its_ports() -> None:
    ports = PortRange(40000, 40999)
    assert len(ports) == 1000
    assert str(ports) == "40000-40999"
    assert 40000 in ports and 40999 in ports
    assert 39999 not in ports and 41000 not in ports
    assert len(PortRange(5000, 5000)) == 1


@pytest.mark.parametrize(
    ("first", "last", "words"),
    [(5001, 5000, "empty"), (0, 10, "1..65535"), (60000, 65536, "1..65535")],
)
def test_a_bad_range_is_refused(first: int, last: int, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        PortRange(first, last)


@pytest.mark.parametrize("size", [1, 2, 3, 12, 97, 1000])
def test_the_shuffle_visits_every_port_once(size: int) -> None:
    ports = PortRange(30000, 30000 + size - 1)
    for seed in range(20):
        order = list(ports.shuffled(random.Random(seed)))
        assert sorted(order) == list(range(ports.first, ports.last + 1))


def test_the_shuffle_differs_from_one_connection_to_the_next() -> None:
    ports = PortRange(40000, 40999)
    firsts = [next(ports.shuffled(random.Random(seed))) for seed in range(50)]
    orders = {tuple(ports.shuffled(random.Random(seed)))[:10] for seed in range(50)}
    assert len(set(firsts)) > 40  # not always the range's first port
    assert len(orders) == 50
    # Not a plain walk from a random start either: the second port is rarely the next one.
    steps = [b - a for a, b in (tuple(ports.shuffled(random.Random(s)))[:2] for s in range(50))]
    assert sum(1 for step in steps if step == 1) < 10


# --- bind_in_range -------------------------------------------------------------------


def test_bind_skips_busy_ports_and_fails_when_all_are_busy() -> None:
    first, last = free_udp_block(5)
    ports = PortRange(first, last)
    free = first + 3
    with holding([p for p in range(first, last + 1) if p != free]):
        for seed in range(5):  # whatever order the ports are tried in
            sock = bind_in_range("127.0.0.1", ports, rng=random.Random(seed))
            try:
                assert sock.getsockname() == ("127.0.0.1", free)
                assert not sock.getblocking()
                with pytest.raises(NoFreePort) as raised:
                    bind_in_range("127.0.0.1", ports)
            finally:
                sock.close()
    error = raised.value
    assert error.errno == errno.EADDRINUSE
    assert (error.address, error.ports) == ("127.0.0.1", ports)
    assert f"no free UDP port in the media range {first}-{last} on 127.0.0.1" in str(error)
    assert "all 5 in use" in str(error)


def test_a_port_is_never_shared() -> None:
    """No SO_REUSEADDR/SO_REUSEPORT: processes sharing a range each get ports of their own."""
    first, last = free_udp_block(8)
    ports = PortRange(first, last)
    bound = [bind_in_range("127.0.0.1", ports) for _ in range(8)]
    try:
        assert sorted(s.getsockname()[1] for s in bound) == list(range(first, last + 1))
        with pytest.raises(NoFreePort):
            bind_in_range("127.0.0.1", ports)
    finally:
        for sock in bound:
            sock.close()
    bind_in_range("127.0.0.1", ports).close()  # closing gives the ports back


def test_an_address_this_machine_lacks_is_not_a_full_range() -> None:
    with pytest.raises(OSError) as raised:
        bind_in_range("192.0.2.1", PortRange(*free_udp_block(3)))  # TEST-NET-1: never ours
    assert not isinstance(raised.value, NoFreePort)
    assert raised.value.errno == errno.EADDRNOTAVAIL


def test_ipv6_loopback() -> None:
    try:
        probe = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    first, last = free_udp_block(4)
    sock = bind_in_range("::1", PortRange(first, last))
    try:
        assert sock.family == socket.AF_INET6
        assert first <= sock.getsockname()[1] <= last
    finally:
        sock.close()


# --- configure_ice with a range, on real connections ----------------------------------


def host_ports(pc: RTCPeerConnection) -> list[int]:
    return [c.port for c in adapter.local_candidates(pc) if c.type == "host"]


async def connected(pc: RTCPeerConnection) -> None:
    """Return once ``pc`` is connected (raise if it fails)."""
    changed = asyncio.Event()
    pc.on("connectionstatechange", changed.set)
    while pc.connectionState != "connected":
        if pc.connectionState in ("failed", "closed"):
            raise AssertionError(f"the connection {pc.connectionState}")
        await changed.wait()
        changed.clear()


async def test_candidates_and_sockets_in_the_range_and_the_pair_connects() -> None:
    first, last = free_udp_block(20)
    ports = PortRange(first, last)
    offerer = RTCPeerConnection(client_configuration())
    answerer = RTCPeerConnection(client_configuration())
    try:
        offerer.addTransceiver("audio", direction="sendonly")
        adapter.configure_ice(offerer, HOST, BUFFER)  # any port: the other side is unchanged
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(offerer.localDescription)
        adapter.configure_ice(answerer, HOST, BUFFER, ports=ports)
        await answerer.setLocalDescription(await answerer.createAnswer())
        await offerer.setRemoteDescription(answerer.localDescription)

        assert host_ports(answerer) and all(p in ports for p in host_ports(answerer))
        # Every socket the answerer's ICE opened, not only what its SDP says.
        sizes = adapter.receive_buffer_sizes(answerer)
        assert sizes and all(size >= BUFFER for size in sizes)  # the buffer hook still applies
        async with asyncio.timeout(20):
            await asyncio.gather(connected(offerer), connected(answerer))
    finally:
        await offerer.close()
        await answerer.close()


async def test_a_full_range_fails_gathering_and_keeps_no_socket() -> None:
    """Bound on the first address, none left on the second: the first socket is closed too."""
    (port, _) = free_udp_block(1)
    ports = PortRange(port, port)
    pc = RTCPeerConnection(client_configuration())
    try:
        pc.addTransceiver("audio", direction="sendonly")
        adapter.configure_ice(pc, ["127.0.0.1", "127.0.0.2"], BUFFER, ports=ports)
        with holding([port], host="127.0.0.2"), pytest.raises(NoFreePort) as raised:
            await pc.setLocalDescription(await pc.createOffer())
        assert raised.value.address == "127.0.0.2"
        assert adapter.receive_buffer_sizes(pc) == []
        with holding([port]) as again:  # 127.0.0.1's port was given back: it binds
            assert again[0].getsockname() == ("127.0.0.1", port)
    finally:
        await pc.close()


class StunResponder(asyncio.DatagramProtocol):
    """Answers STUN binding requests with the address they came from, like a STUN server."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.asked: list[tuple[str, int]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = stun.parse_message(data)
        self.asked.append(addr)
        response = stun.Message(
            message_method=request.message_method,
            message_class=stun.Class.RESPONSE,
            transaction_id=request.transaction_id,
        )
        response.attributes["XOR-MAPPED-ADDRESS"] = addr
        assert self.transport is not None
        self.transport.sendto(bytes(response), addr)


@pytest.fixture
async def stun_server() -> AsyncIterator[tuple[StunResponder, int]]:
    loop = asyncio.get_running_loop()
    transport, responder = await loop.create_datagram_endpoint(
        StunResponder, local_addr=("127.0.0.1", 0)
    )
    try:
        yield responder, transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


async def test_server_reflexive_candidates_come_from_the_ranged_socket(
    stun_server: tuple[StunResponder, int],
) -> None:
    """With a STUN server configured, srflx candidates are still asked for, from the range."""
    responder, stun_port = stun_server
    first, last = free_udp_block(10)
    ports = PortRange(first, last)
    pc = RTCPeerConnection(
        RTCConfiguration(iceServers=[RTCIceServer(f"stun:127.0.0.1:{stun_port}")])
    )
    try:
        pc.addTransceiver("audio", direction="sendonly")
        adapter.configure_ice(pc, HOST, BUFFER, ports=ports)
        await pc.setLocalDescription(await pc.createOffer())  # gathers; nothing connects
        candidates = adapter.local_candidates(pc)
        (host,) = [c for c in candidates if c.type == "host"]
        (srflx,) = [c for c in candidates if c.type == "srflx"]
        assert host.port in ports
        assert (srflx.relatedAddress, srflx.relatedPort) == ("127.0.0.1", host.port)
        assert srflx.port == host.port  # what the STUN server saw
        assert responder.asked == [("127.0.0.1", host.port)]
    finally:
        await pc.close()


async def test_a_silent_stun_server_leaves_the_host_candidate() -> None:
    """No answer: gathering still ends (after aioice's 5 s), with the host candidate alone."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    ports = PortRange(*free_udp_block(4))
    pc = RTCPeerConnection(
        RTCConfiguration(iceServers=[RTCIceServer(f"stun:127.0.0.1:{silent.getsockname()[1]}")])
    )
    try:
        pc.addTransceiver("audio", direction="sendonly")
        adapter.configure_ice(pc, HOST, BUFFER, ports=ports)
        async with asyncio.timeout(60):
            await pc.setLocalDescription(await pc.createOffer())
        candidates = adapter.local_candidates(pc)
        assert [c.type for c in candidates] == ["host"]
        assert candidates[0].port in ports
    finally:
        await pc.close()
        silent.close()
