"""The user-space link emulator: its shaping rules, then real packets through a TUN device
between namespaces this test makes (root only)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.netlab.link import (
    DOWN,
    UP,
    Control,
    Impairment,
    Link,
    Shaper,
    source_address,
)
from tests.netlab.topology import CLIENT_NET, Topology, bad_link


def ipv4_packet(source: str, size: int = 100) -> bytes:
    header = bytes([0x45, 0]) + size.to_bytes(2, "big") + bytes(8)
    return header + bytes(int(part) for part in source.split(".")) + bytes([10, 81, 2, 2])


def test_an_unimpaired_link_passes_everything_at_once() -> None:
    shaper = Shaper()
    assert [shaper.admit(100, t) for t in (1.0, 1.5, 2.0)] == [1.0, 1.5, 2.0]
    assert shaper.counters.forwarded == 3


def test_delay_is_added_and_packets_keep_their_order() -> None:
    shaper = Shaper(Impairment(delay_ms=75, jitter_ms=30), rng=random.Random(1))
    departures = [shaper.admit(100, t / 1000) for t in range(0, 200, 2)]
    assert all(d is not None for d in departures)
    assert departures == sorted(departures)  # type: ignore[type-var]
    assert min(d - t / 1000 for d, t in zip(departures, range(0, 200, 2), strict=True)) >= 0.045  # type: ignore[operator]


def test_loss_drops_about_the_share_asked() -> None:
    shaper = Shaper(Impairment(loss=0.2), rng=random.Random(7))
    kept = sum(shaper.admit(100, 0.0) is not None for _ in range(10_000))
    assert 7_700 < kept < 8_300
    assert shaper.counters.lost == 10_000 - kept


def test_a_slow_link_serialises_and_drops_at_the_tail_of_its_queue() -> None:
    # 150 kbit/s: a 1250-byte packet takes 1/15 s; the queue holds 0.3 s of sending.
    shaper = Shaper(Impairment(rate_kbit=150))
    departures = [shaper.admit(1250, 0.0) for _ in range(10)]
    sent = [d for d in departures if d is not None]
    assert sent[:3] == pytest.approx([1 / 15, 2 / 15, 3 / 15])
    assert len(sent) == 5  # the sixth would wait 1/3 s, more than the queue holds
    assert shaper.counters.queue_dropped == 5


def test_a_blackhole_drops_everything_until_lifted() -> None:
    shaper = Shaper(Impairment(blackhole=True))
    assert shaper.admit(100, 0.0) is None
    shaper.set(Impairment())
    assert shaper.admit(100, 1.0) == 1.0
    assert shaper.counters.blackholed == 1


def test_bad_impairments_are_refused() -> None:
    with pytest.raises(ValueError, match="probability"):
        Impairment(loss=1.5)
    with pytest.raises(ValueError, match="positive"):
        Impairment(rate_kbit=0)


def test_direction_follows_the_sender() -> None:
    import ipaddress

    link = Link(client=ipaddress.ip_network(CLIENT_NET))
    assert link.direction_of(ipv4_packet("10.81.1.2")) == UP
    assert link.direction_of(ipv4_packet("10.81.2.2")) == DOWN
    assert source_address(b"\x45") is None


def test_control_changes_one_direction_and_refuses_bad_requests_whole() -> None:
    import ipaddress

    control = Control(Link(client=ipaddress.ip_network(CLIENT_NET)))
    report = control.handle({"direction": "up", "set": {"loss": 0.05, "delay_ms": 75}})
    assert report[UP]["impairment"]["loss"] == 0.05
    assert report[DOWN]["impairment"]["loss"] == 0.0
    assert "error" in control.handle({"set": {"loss": 2}})
    assert "error" in control.handle({"set": {"colour": "red"}})
    assert "error" in control.handle({"direction": "sideways", "set": {"loss": 0.1}})
    assert control.handle({})[DOWN]["impairment"]["loss"] == 0.0


# --- real packets, in namespaces made here ---------------------------------------

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="network namespaces and TUN devices need root"
)

ECHO = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.81.2.2", 9000))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(data, peer)
"""

PROBE = """
import json, socket, sys, time
count, gap = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.0005)
sent, rtts = {}, []
i = 0
last = None
while last is None or time.monotonic() < last + 1.0:
    if i < count:
        sent[i] = time.monotonic()
        s.sendto(i.to_bytes(4, "big") + bytes(196), ("10.81.2.2", 9000))
        i += 1
    elif last is None:
        last = time.monotonic()
    end = time.monotonic() + gap
    while time.monotonic() < end:
        try:
            data, _ = s.recvfrom(2048)
        except TimeoutError:
            continue
        rtts.append(time.monotonic() - sent[int.from_bytes(data[:4], "big")])
print(json.dumps({"sent": i, "rtts": rtts}))
"""


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Topology]:
    """The bad-link topology with a UDP echo server in the server's namespace."""
    async with bad_link(tmp_path) as topology:
        echo = await asyncio.create_subprocess_exec(
            *topology.exec_in(topology.server, sys.executable, "-c", ECHO),
            stdout=subprocess.PIPE,
        )
        try:
            assert echo.stdout is not None
            # Probes sent before the echo server is bound would be lost to it, not the link.
            async with asyncio.timeout(10):
                assert await echo.stdout.readline() == b"ready\n"
            yield topology
        finally:
            echo.terminate()
            await echo.wait()


async def probe(lab: Topology, count: int, gap: float) -> tuple[int, list[float]]:
    process = await asyncio.create_subprocess_exec(
        *lab.exec_in(lab.client, sys.executable, "-c", PROBE, str(count), str(gap)),
        stdout=subprocess.PIPE,
    )
    out, _ = await process.communicate()
    result = json.loads(out)
    return result["sent"], result["rtts"]


@needs_root
async def test_packets_cross_with_the_delay_loss_and_blackhole_asked(
    lab: Topology,
) -> None:
    link = lab.link
    sent, rtts = await probe(lab, 20, 0.01)
    assert len(rtts) == sent and max(rtts) < 0.05  # a clean link first

    await link.set(delay_ms=75)  # 150 ms round trip
    sent, rtts = await probe(lab, 20, 0.01)
    assert len(rtts) == sent
    assert min(rtts) >= 0.150

    await link.set(delay_ms=0, loss=0.2)
    sent, rtts = await probe(lab, 300, 0.002)
    # Each echo crosses twice: about 0.8 * 0.8 = 64 % come back.
    assert 0.5 < len(rtts) / sent < 0.78
    report = await link.report()
    assert report[UP]["counters"]["lost"] > 0 and report[DOWN]["counters"]["lost"] > 0

    await link.set(loss=0.0, blackhole=True)
    sent, rtts = await probe(lab, 10, 0.01)
    assert rtts == []
    await link.set(blackhole=False)
    sent, rtts = await probe(lab, 10, 0.01)
    assert len(rtts) == sent


@needs_root
async def test_a_slow_link_caps_the_throughput(
    lab: Topology,
) -> None:
    link = lab.link
    await link.set("down", rate_kbit=150)
    # 500 probes of 228 bytes on the wire in 0.5 s is about 1.8 Mbit/s asked of the link.
    sent, rtts = await probe(lab, 500, 0.001)
    report = await link.report()
    down = report[DOWN]["counters"]
    assert down["queue_dropped"] > 0
    # What came back fits 150 kbit/s over the time it took, plus the queue's 0.3 s.
    assert len(rtts) * 228 * 8 <= 150_000 * (max(rtts) + 0.5 + 0.3)
