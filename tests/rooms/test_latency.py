"""The forwarding latency probe (``server/rooms/latency.py``)."""

from __future__ import annotations

from server.rooms.latency import PROBE, LatencyProbe


def test_probe_percentiles_and_reset() -> None:
    probe = LatencyProbe()
    assert not probe.enabled
    assert probe.snapshot() == {"packets": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    probe.enable()
    for ms in range(1, 101):  # 1..100 ms
        probe.record(1_000_000_000, 1_000_000_000 + ms * 1_000_000)
    snap = probe.snapshot()
    assert snap == {"packets": 100, "p50_ms": 50.0, "p99_ms": 99.0, "max_ms": 100.0}
    assert probe.snapshot(reset=True)["packets"] == 100
    assert probe.snapshot()["packets"] == 0
    probe.disable()
    assert not probe.enabled


def test_probe_keeps_counting_past_its_sample_limit() -> None:
    probe = LatencyProbe(max_samples=10)
    for i in range(25):
        probe.record(0, (i + 1) * 1_000_000)
    snap = probe.snapshot()
    assert snap["packets"] == 25
    assert snap["max_ms"] == 10.0  # only the first ten were kept


def test_the_process_probe_is_off_by_default() -> None:
    assert isinstance(PROBE, LatencyProbe)
    assert not PROBE.enabled
