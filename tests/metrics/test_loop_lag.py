"""LoopLagMonitor's bookkeeping: the latest sample and the worst of the window."""

from __future__ import annotations

import asyncio
import time

from server.metrics.loop_lag import LoopLagMonitor


def test_the_worst_lag_is_forgotten_after_the_window() -> None:
    seen: list[float] = []
    monitor = LoopLagMonitor(window=0.05, on_sample=seen.append)
    monitor.record(0.3)
    monitor.record(0.01)
    assert (monitor.latest, monitor.worst) == (0.01, 0.3)
    time.sleep(0.1)
    monitor.record(0.02)
    assert monitor.worst == 0.02
    assert seen == [0.3, 0.01, 0.02]


async def test_the_task_measures_until_stopped() -> None:
    monitor = LoopLagMonitor(interval=0.01)
    monitor.start()
    seen = 0
    for _ in range(500):
        await asyncio.sleep(0.01)
        seen = len(monitor._recent)  # noqa: SLF001 (test)
        if seen >= 3:
            break
    assert seen >= 3
    await monitor.stop()
    stopped = len(monitor._recent)  # noqa: SLF001 (test)
    await asyncio.sleep(0.05)
    assert len(monitor._recent) == stopped  # noqa: SLF001 (test)
