"""ICE: host candidates on configured addresses and ports, socket buffers, bundled candidates."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aioice
import aioice.ice
from aioice.candidate import candidate_foundation, candidate_priority
from aiortc import (
    RTCIceCandidate,
    RTCPeerConnection,
)
from aiortc.sdp import candidate_from_sdp

from server.rooms.aiortc_adapter.names import (
    _GATHERER_CONNECTION,
    _HOOK_MARK,
    _ICE_GATHER_METHOD,
    _ICE_PROTOCOLS,
    _ICE_SERVER_REFLEXIVE,
    _ICE_STUN_PROTOCOL,
    _SO_RCVBUFFORCE,
)
from server.rooms.aiortc_adapter.ports import NoFreePort, PortRange, bind_in_range

logger = logging.getLogger(__name__)

# --- ICE: host addresses, socket buffers, bundled candidates ---------------------------


def _set_receive_buffer(sock: socket.socket, size: int) -> int:
    """Raise SO_RCVBUF to ``size``, past ``net.core.rmem_max`` when privileged.

    Returns what the kernel reports (Linux doubles the value it grants, for
    its bookkeeping).
    """
    linux = sys.platform.startswith("linux")
    granted = 2 * size if linux else size
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        if linux and sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) < granted:
            try:
                sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, size)
            except PermissionError:
                logger.warning(
                    "UDP receive buffer capped at %d bytes: raise net.core.rmem_max to %d",
                    sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2,
                    size,
                )
    except OSError as exc:
        logger.warning("could not set SO_RCVBUF=%d: %s", size, exc)
    return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


def _ice_connections(pc: RTCPeerConnection) -> list[aioice.Connection]:
    connections: list[aioice.Connection] = []
    for transceiver in pc.getTransceivers():
        gatherer = transceiver.receiver.transport.transport.iceGatherer
        connection = getattr(gatherer, _GATHERER_CONNECTION)
        if not isinstance(connection, aioice.Connection):
            raise RuntimeError("aiortc changed: RTCIceGatherer has no aioice connection")
        if connection not in connections:
            connections.append(connection)
    return connections


def _gather_on(
    connection: aioice.Connection,
    host_addresses: list[str],
    receive_buffer: int,
    ports: PortRange | None,
) -> Callable[..., Awaitable[list[aioice.Candidate]]]:
    original = connection.get_component_candidates

    async def get_component_candidates(
        component: int,
        addresses: list[str],
        timeout: int = 5,  # noqa: ASYNC109 (aioice's signature)
    ) -> list[aioice.Candidate]:
        protocols: list[Any] = getattr(connection, _ICE_PROTOCOLS)
        before = len(protocols)
        if ports is None:
            candidates = await original(
                component=component, addresses=host_addresses or addresses, timeout=timeout
            )
        else:
            candidates = await _candidates_in_range(
                connection, original, component, host_addresses or addresses, ports, timeout
            )
        for protocol in protocols[before:]:
            transport = getattr(protocol, "transport", None)
            sock = transport.get_extra_info("socket") if transport is not None else None
            if sock is not None:
                _set_receive_buffer(sock, receive_buffer)
        return candidates

    return get_component_candidates


async def _candidates_in_range(
    connection: aioice.Connection,
    original: Callable[..., Awaitable[list[aioice.Candidate]]],
    component: int,
    addresses: list[str],
    ports: PortRange,
    timeout: int,  # noqa: ASYNC109 (aioice's signature)
) -> list[aioice.Candidate]:
    """What aioice's ``get_component_candidates`` gathers, host sockets inside ``ports``.

    Host candidates are bound here (aioice would bind port 0); their
    server-reflexive candidates are asked of the STUN server the way aioice
    does; aioice itself, given no address, adds the TURN relay (its socket
    talks to the TURN server only, so it needs no inbound rule).
    """
    hosts = await _host_protocols(connection, component, addresses, ports)
    protocols: list[Any] = getattr(connection, _ICE_PROTOCOLS)
    protocols += hosts
    reflexive, relayed = await asyncio.gather(
        _reflexive_candidates(connection, hosts, timeout),
        original(component=component, addresses=[], timeout=timeout),
    )
    return [protocol.local_candidate for protocol in hosts] + reflexive + relayed


async def _reflexive_candidates(
    connection: aioice.Connection,
    hosts: list[Any],
    timeout: int,  # noqa: ASYNC109 (aioice's signature)
) -> list[aioice.Candidate]:
    """The STUN server's view of each IPv4 host socket, as aioice asks it (within ``timeout``)."""
    if connection.stun_server is None:
        return []
    ask = getattr(aioice.ice, _ICE_SERVER_REFLEXIVE)
    tasks: list[asyncio.Task[tuple[aioice.Candidate, None]]] = [
        asyncio.create_task(ask(protocol, connection.stun_server))
        for protocol in hosts
        if protocol.transport.get_extra_info("socket").family == socket.AF_INET
    ]
    if not tasks:
        return []
    try:
        done, _ = await asyncio.wait(tasks, timeout=timeout)
    finally:
        for task in tasks:
            task.cancel()  # those still asking: no answer in time (or we were cancelled)
    return [task.result()[0] for task in done if task.exception() is None]


async def _host_protocols(
    connection: aioice.Connection, component: int, addresses: list[str], ports: PortRange
) -> list[Any]:
    """One aioice ``StunProtocol`` per address, on a socket bound inside ``ports``.

    An address that cannot be bound at all is skipped (as aioice does); a full
    range raises :class:`NoFreePort`, after closing the sockets already bound.
    """
    loop = asyncio.get_running_loop()
    factory = getattr(aioice.ice, _ICE_STUN_PROTOCOL)
    protocols: list[Any] = []
    try:
        for address in addresses:
            try:
                sock = bind_in_range(address, ports)
            except NoFreePort:  # an OSError too, but the range is full, not the address bad
                raise
            except OSError as exc:
                logger.info("could not bind to %s: %s", address, exc)
                continue
            try:
                _, protocol = await loop.create_datagram_endpoint(
                    lambda: factory(connection), sock=sock
                )
            except BaseException:
                sock.close()
                raise
            host, port = sock.getsockname()[:2]
            protocol.local_candidate = aioice.Candidate(
                foundation=candidate_foundation("host", "udp", host),
                component=component,
                transport="udp",
                priority=candidate_priority(component, "host"),
                host=host,
                port=port,
                type="host",
            )
            protocols.append(protocol)
    except BaseException:
        for protocol in protocols:
            protocol.transport.close()
        raise
    return protocols


def configure_ice(
    pc: RTCPeerConnection,
    host_addresses: Sequence[str],
    receive_buffer: int,
    *,
    ports: PortRange | None = None,
) -> None:
    """Gather host candidates on ``host_addresses`` only, on ``ports``; raise UDP receive buffers.

    Overrides ``get_component_candidates`` on each ``aioice.Connection`` of the
    peer connection (that instance only; nothing global). With an empty list
    aioice picks the machine's addresses as usual (and skips loopback). With
    ``ports``, every host candidate's socket is bound inside that range
    (server/rooms/aiortc_adapter/ports.py), and gathering, hence
    ``setLocalDescription``, raises :class:`NoFreePort` when the range is
    full on an address. Call it after the transceivers exist and before
    ``setLocalDescription`` (which gathers); calling it again is harmless.
    """
    for connection in _ice_connections(pc):
        if getattr(connection, _HOOK_MARK, False):
            continue
        if not isinstance(getattr(connection, _ICE_PROTOCOLS, None), list):
            raise RuntimeError("aioice changed: Connection has no _protocols list")
        hook = _gather_on(connection, list(host_addresses), receive_buffer, ports)
        setattr(connection, _ICE_GATHER_METHOD, hook)
        setattr(connection, _HOOK_MARK, True)


def receive_buffer_sizes(pc: RTCPeerConnection) -> list[int]:
    """SO_RCVBUF of each UDP socket the connection's ICE agents opened (as the kernel reports)."""
    sizes: list[int] = []
    for connection in _ice_connections(pc):
        for protocol in getattr(connection, _ICE_PROTOCOLS):
            transport = getattr(protocol, "transport", None)
            sock = transport.get_extra_info("socket") if transport is not None else None
            if sock is not None:
                sizes.append(int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)))
    return sizes


def local_candidates(pc: RTCPeerConnection) -> list[RTCIceCandidate]:
    """Local candidates of the (bundled) ICE transport."""
    for transceiver in pc.getTransceivers()[:1]:
        return transceiver.receiver.transport.transport.iceGatherer.getLocalCandidates()
    return []


def remote_candidates(pc: RTCPeerConnection) -> list[RTCIceCandidate]:
    """Remote candidates known to the (bundled) ICE transport."""
    for transceiver in pc.getTransceivers()[:1]:
        return transceiver.receiver.transport.transport.getRemoteCandidates()
    return []


def parse_candidate(line: str) -> RTCIceCandidate | None:
    """``candidate:...`` (with or without ``a=``) as an aiortc candidate; None if empty."""
    text = line.strip()
    if text.startswith("a="):
        text = text[2:]
    if text.startswith("candidate:"):
        text = text[len("candidate:") :]
    if not text:
        return None
    try:
        return candidate_from_sdp(text)
    except (AssertionError, ValueError, IndexError) as exc:
        raise ValueError(f"malformed ICE candidate: {line!r}") from exc


def candidate_ufrag(line: str) -> str | None:
    """The ``ufrag`` extension attribute browsers add to trickled candidates."""
    bits = line.split()
    for i in range(len(bits) - 1):
        if bits[i] == "ufrag":
            return bits[i + 1]
    return None


async def add_bundled_candidate(pc: RTCPeerConnection, candidate: RTCIceCandidate | None) -> None:
    """Add a remote candidate to the connection's one (max-bundle) ICE transport.

    aiortc applies a candidate only to the m-section it names and ignores
    bundled ones; browsers name whichever section they like (aiortc issue
    1437). The candidate is re-addressed to the first transceiver's mid, which
    owns the transport. ``None`` signals end-of-candidates.
    """
    transceivers = pc.getTransceivers()
    if not transceivers or transceivers[0].mid is None:
        raise ValueError("no negotiated media section to add the candidate to")
    if candidate is not None:
        candidate.sdpMid = transceivers[0].mid
        candidate.sdpMLineIndex = None
    await pc.addIceCandidate(candidate)
