"""A network namespace for browser tests that must not use the machine's own addresses.

::

    lo 127.0.0.1          v0 10.84.0.2/24 ──veth── v1 (no address, default route's way out)

The veth pair lives wholly inside the namespace, so nothing sent can leave it. Firefox
wants a default route before its ICE gathers anything, so there is one, via 10.84.0.1 on
v0, where nobody answers. IPv6 is off, so the kernel itself sends nothing on v0: every
frame seen on v1 is something a process in the namespace tried to send beyond the
subnet (an ARP request for the gateway, first of all) or to a multicast group.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from tests.netlab.inside import inside

ADDRESS = "10.84.0.2"
GATEWAY = "10.84.0.1"
PREFIX = 24
ETH_P_ALL = 0x0003
ETHERTYPES = {0x0800: "IPv4", 0x0806: "ARP", 0x86DD: "IPv6"}


def is_root() -> bool:
    return os.geteuid() == 0


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass
class PrivateNetwork:
    """The namespace's name and what left v0 since it was made."""

    name: str
    _tap: socket.socket = field(repr=False)

    def frames_out(self) -> list[str]:
        """Each frame that reached v1 so far, described (ethertype, then the first bytes)."""
        frames: list[str] = []
        while True:
            try:
                frame = self._tap.recv(65535)
            except BlockingIOError:
                return frames
            kind = int.from_bytes(frame[12:14], "big")
            frames.append(f"{ETHERTYPES.get(kind, hex(kind))} {frame[14:42].hex()}")


@contextlib.contextmanager
def private_network() -> Iterator[PrivateNetwork]:
    """This thread in a new namespace (made as above) until the block ends; then removed.

    Sockets this thread opens, and processes and threads it starts, are in the namespace.
    """
    name = f"concord-browser-{uuid.uuid4().hex[:8]}"
    _ip("netns", "add", name)
    try:
        _ip("netns", "exec", name, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
        _ip("netns", "exec", name, "sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1")
        for command in (
            ["link", "set", "lo", "up"],
            ["link", "add", "v0", "type", "veth", "peer", "name", "v1"],
            ["addr", "add", f"{ADDRESS}/{PREFIX}", "dev", "v0"],
            ["link", "set", "v0", "up"],
            ["link", "set", "v1", "up"],
            ["route", "add", "default", "via", GATEWAY, "dev", "v0"],
        ):
            _ip("-n", name, *command)
        with inside(name):
            tap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            try:
                tap.bind(("v1", 0))
                tap.setblocking(False)
                yield PrivateNetwork(name, tap)
            finally:
                tap.close()
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)
