"""How late the event loop runs what is due: a small periodic task measures it.

Every ``interval`` seconds the task asks to be woken ``interval`` seconds
later and records how much later than that it actually ran. Whatever held
the loop meanwhile (a slow handler, a synchronous call, garbage collection)
shows up as lag, and the same lag delays every forwarded media packet, so it
is the figure to watch when video stutters.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable

#: Seconds between two measurements.
INTERVAL = 0.25
#: The window over which the largest lag is kept.
WINDOW = 60.0


class LoopLagMonitor:
    """Measures scheduling delay while started; ``latest`` and ``worst`` in seconds."""

    def __init__(
        self,
        *,
        interval: float = INTERVAL,
        window: float = WINDOW,
        on_sample: Callable[[float], None] | None = None,
    ) -> None:
        self.interval = interval
        self.window = window
        self._on_sample = on_sample
        #: The delay of the latest tick (0 before the first).
        self.latest = 0.0
        self._recent: deque[tuple[float, float]] = deque()
        self._task: asyncio.Task[None] | None = None

    @property
    def worst(self) -> float:
        """The largest delay of the last ``window`` seconds."""
        self._forget(time.monotonic())
        return max((lag for _at, lag in self._recent), default=0.0)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            self.record(max(0.0, loop.time() - due))

    def record(self, lag: float) -> None:
        """One measurement (the task's; callable directly to test the bookkeeping)."""
        now = time.monotonic()
        self.latest = lag
        self._recent.append((now, lag))
        self._forget(now)
        if self._on_sample is not None:
            self._on_sample(lag)

    def _forget(self, now: float) -> None:
        while self._recent and self._recent[0][0] < now - self.window:
            self._recent.popleft()
