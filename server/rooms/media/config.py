"""The media plane's settings: ICE, socket buffers and the timers of both sides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCIceServer

from server.rooms.aiortc_adapter.ports import PortRange


@dataclass(frozen=True)
class MediaConfig:
    """Settings of one process's :class:`~server.rooms.media.MediaServer`."""

    #: STUN/TURN servers for every connection; dicts like the browser's
    #: ``RTCIceServer`` (``urls``, ``username``, ``credential``) or aiortc objects.
    ice_servers: list[RTCIceServer | Mapping[str, Any]] = field(default_factory=list)
    #: Addresses to gather host candidates on (e.g. ``["127.0.0.1"]``); empty
    #: lets aioice pick the machine's interfaces (it skips loopback).
    host_addresses: list[str] = field(default_factory=list)
    #: UDP ports the media sockets are bound in (one per connection and host
    #: address), so a firewall can open just those; None: any port.
    port_range: PortRange | None = None
    udp_receive_buffer: int = 4 * 1024 * 1024
    #: Least time between two keyframe requests (PLI) to one publisher.
    keyframe_request_interval: float = 0.5
    #: How long a subscriber offer waits for its answer before the connection
    #: is given up (and replaced at the next negotiation).
    negotiation_timeout: float = 15.0
    #: Upper bound on closing one peer connection.
    close_timeout: float = 5.0


def ice_server(server: RTCIceServer | Mapping[str, Any]) -> RTCIceServer:
    """One configured STUN/TURN server as aiortc takes it."""
    if isinstance(server, RTCIceServer):
        return server
    return RTCIceServer(
        urls=server["urls"],
        username=server.get("username"),
        credential=server.get("credential"),
    )
