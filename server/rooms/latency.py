"""How long the server holds a forwarded RTP packet: a process-wide probe.

For each forwarded copy of a publisher's RTP packet, the time from the UDP
datagram's arrival (stamped in the ICE transport's ``datagram_received``
path, before SRTP decryption) to the ``sendto`` of the copy. That is the
latency the server adds, queueing in the event loop included.

It is one object per process (``PROBE``) rather than per app because it is
fed from the innermost forwarding loop, which must not look anything up: one
attribute check (``PROBE.enabled``) is all it costs while disabled, which is
the default. Whoever owns the process (the app, a benchmark) enables it and
reads :meth:`LatencyProbe.snapshot`.
"""

from __future__ import annotations

import math
from array import array
from typing import TypedDict

#: Samples kept between two snapshots; beyond it packets are counted, not kept
#: (at 8 participants the server forwards about 6,000 copies a second).
MAX_SAMPLES = 200_000


class LatencySnapshot(TypedDict):
    packets: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None


class LatencyProbe:
    """Collects arrival-to-send delays (nanoseconds) while enabled."""

    def __init__(self, max_samples: int = MAX_SAMPLES) -> None:
        self.enabled = False
        self._max_samples = max_samples
        self._samples = array("q")
        self._packets = 0

    def enable(self) -> None:
        self.enabled = True

    def disable(self) -> None:
        self.enabled = False

    def record(self, ns_in: int, ns_out: int) -> None:
        """One forwarded copy: arrival and send times from ``time.monotonic_ns()``."""
        self._packets += 1
        if len(self._samples) < self._max_samples:
            self._samples.append(ns_out - ns_in)

    def snapshot(self, reset: bool = False) -> LatencySnapshot:
        """Packets recorded and p50/p99/max in milliseconds (None before any packet)."""
        samples = sorted(self._samples)
        packets = self._packets
        if reset:
            self._samples = array("q")
            self._packets = 0
        if not samples:
            return {"packets": packets, "p50_ms": None, "p99_ms": None, "max_ms": None}
        return {
            "packets": packets,
            "p50_ms": _percentile(samples, 0.50) / 1e6,
            "p99_ms": _percentile(samples, 0.99) / 1e6,
            "max_ms": samples[-1] / 1e6,
        }


def _percentile(ordered: list[int], q: float) -> int:
    """Nearest-rank percentile of a sorted, non-empty list."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


#: The probe of this process, disabled until someone enables it.
PROBE = LatencyProbe()
