"""UDP sockets for media inside a configured port range, so a firewall rule can name them.

aioice 0.13 binds the socket of each host candidate to port 0 (whatever port
the kernel picks) and has no option for a range; with a range configured the
adapter binds those sockets itself (:func:`bind_in_range`) and hands them to
aioice (server/rooms/aiortc_adapter/ice.py).

Ports are tried in a random order, a different one each time: processes
sharing one range (``concord serve --workers N``) then rarely try the same
port, and when they do the kernel settles it: the socket is bound without
``SO_REUSEADDR``/``SO_REUSEPORT``, so a busy port fails to bind and the next
one is tried. Only when every port of the range is busy on an address does
binding fail, with :class:`NoFreePort`.
"""

from __future__ import annotations

import errno
import math
import random
import socket
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class PortRange:
    """The UDP ports ``first``..``last`` (both included) that media sockets may use."""

    first: int
    last: int

    def __post_init__(self) -> None:
        if not 1 <= self.first <= 65535 or not 1 <= self.last <= 65535:
            raise ValueError(f"UDP ports are 1..65535, not {self.first}-{self.last}")
        if self.first > self.last:
            raise ValueError(f"the port range {self.first}-{self.last} is empty (first > last)")

    def __len__(self) -> int:
        return self.last - self.first + 1

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.first <= port <= self.last

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"

    def shuffled(self, rng: random.Random | None = None) -> Iterator[int]:
        """Every port of the range once, in a random order.

        A random start and a random step coprime with the range's size visit
        each port exactly once without building a list (a full range has
        64 512 ports, and this runs for every new connection).
        """
        rng = rng or random.SystemRandom()
        size = len(self)
        start = rng.randrange(size)
        step = 1
        if size > 2:
            step = rng.randrange(1, size)
            while math.gcd(step, size) != 1:
                step = rng.randrange(1, size)
        for i in range(size):
            yield self.first + (start + i * step) % size


class NoFreePort(OSError):
    """Every port of the media range is in use on an address: no new media connection."""

    def __init__(self, address: str, ports: PortRange) -> None:
        super().__init__(
            errno.EADDRINUSE,
            f"no free UDP port in the media range {ports} on {address} "
            f"(all {len(ports)} in use): widen media_port_min/media_port_max",
        )
        self.address = address
        self.ports = ports


def bind_in_range(
    address: str, ports: PortRange, *, rng: random.Random | None = None
) -> socket.socket:
    """A non-blocking UDP socket bound to ``address`` on a free port of ``ports``.

    Raises :class:`NoFreePort` when all of them are busy, and any other
    ``OSError`` as it comes (an address this machine does not have, say).
    """
    family, kind, proto, _, sockaddr = socket.getaddrinfo(
        address, None, type=socket.SOCK_DGRAM, flags=socket.AI_NUMERICHOST
    )[0]
    for port in ports.shuffled(rng):
        sock = socket.socket(family, kind, proto)
        try:
            sock.bind((sockaddr[0], port, *sockaddr[2:]))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                continue
            raise
        sock.setblocking(False)
        return sock
    raise NoFreePort(address, ports)
