"""A bad link between two network namespaces, emulated in user space over a TUN device.

This kernel has no ``sch_netem``: ``tc`` cannot add delay or random loss here. So
the tests route one party's traffic through a small router namespace whose only path
between its two sides is a TUN device held by this program. Every IP packet that
crosses the link is read from the TUN device, judged by a :class:`Shaper` for its
direction (lost, queued behind the link's rate, delayed) and written back, after
which the router's kernel forwards it on as if it had arrived on the wire.

Router namespace set-up (done by :func:`route_through`)::

    client ns ──veth── [c-side]  router ns  [s-side] ──veth── server ns
                             │                 ▲
          ip rule iif c-side │  ┌───── tun ────┘  main table routes by destination
          ip rule iif s-side └─►│ this program │
                                └──────────────┘

Packets from the client's subnet go "up", all others "down"; each direction has its
own impairment, changed at run time through a Unix control socket that speaks one
JSON object per line (see :class:`Control`).

Run inside the router namespace::

    ip netns exec ROUTER python -m tests.netlab.link --tun tun0 \\
        --client 10.81.1.0/24 --control /tmp/link.sock
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import ipaddress
import json
import os
import random
import signal
import struct
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
#: Packets a rate-limited link holds before it drops at the tail, in seconds of sending.
DEFAULT_QUEUE_SECONDS = 0.3
READ_SIZE = 65_536
UP, DOWN = "up", "down"
DIRECTIONS = (UP, DOWN)


@dataclass(frozen=True)
class Impairment:
    """What one direction of the link does to a packet.

    ``delay_ms`` is one way (a round trip of 150 ms is 75 ms each way); ``loss`` is
    a probability; ``rate_kbit`` serialises packets as a slow link would (``None``:
    unlimited); ``blackhole`` drops everything.
    """

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0
    rate_kbit: float | None = None
    queue_seconds: float = DEFAULT_QUEUE_SECONDS
    blackhole: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.loss <= 1.0:
            raise ValueError("loss is a probability between 0 and 1")
        if self.delay_ms < 0 or self.jitter_ms < 0:
            raise ValueError("delay and jitter cannot be negative")
        if self.rate_kbit is not None and self.rate_kbit <= 0:
            raise ValueError("rate_kbit must be positive (or null for unlimited)")


@dataclass
class Counters:
    forwarded: int = 0
    lost: int = 0
    queue_dropped: int = 0
    blackholed: int = 0
    bytes_forwarded: int = 0


@dataclass
class Shaper:
    """One direction: decides, for a packet of ``size`` bytes arriving ``now``, when it
    leaves (a monotonic time) or that it never does. Pure apart from its random source,
    which tests seed."""

    impairment: Impairment = field(default_factory=Impairment)
    rng: random.Random = field(default_factory=random.Random)
    counters: Counters = field(default_factory=Counters)
    #: When the link's serialiser is next free (rate-limited links only).
    _free_at: float = 0.0
    #: Departures are kept in order: a packet never overtakes the one before it.
    _last_departure: float = 0.0

    def set(self, impairment: Impairment) -> None:
        self.impairment = impairment

    def admit(self, size: int, now: float) -> float | None:
        imp = self.impairment
        if imp.blackhole:
            self.counters.blackholed += 1
            return None
        if imp.loss and self.rng.random() < imp.loss:
            self.counters.lost += 1
            return None
        leave = now
        if imp.rate_kbit is not None:
            start = max(now, self._free_at)
            if start - now > imp.queue_seconds:
                self.counters.queue_dropped += 1
                return None
            self._free_at = start + size * 8 / (imp.rate_kbit * 1000)
            leave = self._free_at
        delay = imp.delay_ms
        if imp.jitter_ms:
            delay = max(0.0, delay + self.rng.uniform(-imp.jitter_ms, imp.jitter_ms))
        leave = max(leave + delay / 1000, self._last_departure)
        self._last_departure = leave
        self.counters.forwarded += 1
        self.counters.bytes_forwarded += size
        return leave


def source_address(packet: bytes) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The sender of an IPv4 or IPv6 packet, or None for anything too short to say."""
    if not packet:
        return None
    version = packet[0] >> 4
    if version == 4 and len(packet) >= 20:
        return ipaddress.IPv4Address(packet[12:16])
    if version == 6 and len(packet) >= 40:
        return ipaddress.IPv6Address(packet[8:24])
    return None


@dataclass
class Link:
    """Both directions of the link, told apart by whether the sender is in the client's
    subnet."""

    client: ipaddress.IPv4Network | ipaddress.IPv6Network
    shapers: dict[str, Shaper] = field(
        default_factory=lambda: {direction: Shaper() for direction in DIRECTIONS}
    )

    def direction_of(self, packet: bytes) -> str:
        source = source_address(packet)
        return UP if source is not None and source in self.client else DOWN

    def admit(self, packet: bytes, now: float) -> float | None:
        return self.shapers[self.direction_of(packet)].admit(len(packet), now)

    def configure(self, directions: Sequence[str], changes: dict[str, Any]) -> None:
        for direction in directions:
            shaper = self.shapers[direction]
            shaper.set(replace(shaper.impairment, **changes))

    def report(self) -> dict[str, Any]:
        return {
            direction: {
                "impairment": asdict(shaper.impairment),
                "counters": asdict(shaper.counters),
            }
            for direction, shaper in self.shapers.items()
        }


def open_tun(name: str) -> int:
    """Create (or attach to) the TUN device ``name`` in this namespace; raw IP, no header."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


class Pump:
    """Reads packets from the TUN device and writes each back when its shaper says."""

    def __init__(self, fd: int, link: Link, loop: asyncio.AbstractEventLoop) -> None:
        self.fd = fd
        self.link = link
        self.loop = loop
        self.stopped = False

    def start(self) -> None:
        self.loop.add_reader(self.fd, self._readable)

    def stop(self) -> None:
        self.stopped = True
        self.loop.remove_reader(self.fd)

    def _readable(self) -> None:
        while True:
            try:
                packet = os.read(self.fd, READ_SIZE)
            except BlockingIOError:
                return
            now = self.loop.time()
            leave = self.link.admit(packet, now)
            if leave is None:
                continue
            if leave <= now:
                self._write(packet)
            else:
                self.loop.call_at(leave, self._write, packet)

    def _write(self, packet: bytes) -> None:
        if self.stopped:  # packets still in flight when the link is taken down
            return
        # A full TUN queue drops the packet, as a full interface queue would.
        with contextlib.suppress(BlockingIOError):
            os.write(self.fd, packet)


class Control:
    """The control socket: one JSON object per line in, one per line out.

    ``{"direction": "up"|"down"|"both", "set": {...Impairment fields...}}`` changes
    the link and answers the new report; ``{}`` only answers the report; a bad request
    answers ``{"error": "..."}`` and changes nothing.
    """

    def __init__(self, link: Link) -> None:
        self.link = link

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        changes = request.get("set")
        if changes:
            direction = request.get("direction", "both")
            directions = DIRECTIONS if direction == "both" else (direction,)
            if any(d not in DIRECTIONS for d in directions):
                return {"error": f"unknown direction {direction!r}"}
            try:
                for d in directions:  # validate every change before applying any
                    replace(self.link.shapers[d].impairment, **changes)
            except (TypeError, ValueError) as error:
                return {"error": str(error)}
            self.link.configure(directions, changes)
        return self.link.report()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    request = json.loads(line)
                except json.JSONDecodeError as error:
                    answer: dict[str, Any] = {"error": f"not JSON: {error}"}
                else:
                    answer = (
                        self.handle(request)
                        if isinstance(request, dict)
                        else {"error": "expected an object"}
                    )
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
        finally:
            writer.close()


def route_through(
    router: str, *, tun: str, client_side: str, server_side: str, table: int = 100
) -> None:
    """In namespace ``router``: whatever arrives on either veth goes into ``tun``; what
    the emulator writes back is routed by the main table. Call after the emulator has
    created ``tun``."""
    commands = [
        ["ip", "-n", router, "link", "set", tun, "up"],
        ["ip", "-n", router, "route", "add", "default", "dev", tun, "table", str(table)],
        ["ip", "-n", router, "rule", "add", "iif", client_side, "lookup", str(table)],
        ["ip", "-n", router, "rule", "add", "iif", server_side, "lookup", str(table)],
        ["ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
        # Packets re-enter from the TUN device: its reverse-path check must not drop them.
        ["ip", "netns", "exec", router, "sysctl", "-qw", f"net.ipv4.conf.{tun}.rp_filter=0"],
        ["ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0"],
    ]
    for command in commands:
        subprocess.run(command, check=True, capture_output=True)


class LinkClient:
    """The test's end of the control socket."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        """Wait (up to 5 s) for the emulator's socket to appear."""
        async with asyncio.timeout(5.0):
            while True:
                try:
                    self._reader, self._writer = await asyncio.open_unix_connection(self.path)
                    return
                except (FileNotFoundError, ConnectionRefusedError):
                    await asyncio.sleep(0.02)

    async def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self._reader is not None and self._writer is not None, "connect() first"
        self._writer.write(json.dumps(request).encode() + b"\n")
        await self._writer.drain()
        answer: dict[str, Any] = json.loads(await self._reader.readline())
        if "error" in answer:
            raise ValueError(answer["error"])
        return answer

    async def set(self, direction: str = "both", **changes: Any) -> dict[str, Any]:
        return await self.ask({"direction": direction, "set": changes})

    async def report(self) -> dict[str, Any]:
        return await self.ask({})

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()


async def run(tun: str, client: str, control: Path, seed: int | None) -> None:
    link = Link(client=ipaddress.ip_network(client))
    if seed is not None:
        for offset, shaper in enumerate(link.shapers.values()):
            shaper.rng.seed(seed + offset)
    loop = asyncio.get_running_loop()
    fd = open_tun(tun)
    pump = Pump(fd, link, loop)
    pump.start()
    server = await asyncio.start_unix_server(Control(link).serve, path=control)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        server.close()
        pump.stop()
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(control)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tun", required=True, help="TUN device to create in this namespace")
    parser.add_argument("--client", required=True, help="the client side's subnet (CIDR)")
    parser.add_argument("--control", required=True, type=Path, help="Unix control socket path")
    parser.add_argument("--seed", type=int, default=None, help="seed the loss/jitter draws")
    args = parser.parse_args(argv)
    asyncio.run(run(args.tun, args.client, args.control, args.seed))


if __name__ == "__main__":
    main()
