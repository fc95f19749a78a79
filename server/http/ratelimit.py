"""A small in-memory sliding-window limiter, keyed by client address.

Used where failures are cheap to make and must stay rare: guessing
invitation links. It lives in one server process (an app owns it), so a
restart forgets it; that is acceptable for a pause measured in minutes.

Memory is bounded twice: each key keeps at most ``limit`` timestamps (the
``limit``-th most recent one alone decides whether the key is blocked), and at
most ``max_keys`` keys are tracked, the least recently failed evicted first.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

DEFAULT_MAX_KEYS = 10_000


class SlidingWindowLimiter:
    """At most ``limit`` recorded events per key within any ``window`` seconds."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        max_keys: int = DEFAULT_MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window <= 0 or max_keys < 1:
            raise ValueError("limit, window and max_keys must be positive")
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._events: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._events)

    def __contains__(self, key: object) -> bool:
        return key in self._events

    def _live(self, key: str, now: float) -> deque[float] | None:
        """The key's events still inside the window; a key with none left is dropped."""
        events = self._events.get(key)
        if events is None:
            return None
        horizon = now - self.window
        while events and events[0] <= horizon:
            events.popleft()
        if not events:
            del self._events[key]
            return None
        return events

    def hit(self, key: str) -> None:
        """Record one event (a failure) for ``key``."""
        now = self._clock()
        events = self._live(key, now)
        if events is None:
            events = self._events[key] = deque(maxlen=self.limit)
        events.append(now)
        self._events.move_to_end(key)
        while len(self._events) > self.max_keys:
            self._events.popitem(last=False)

    def forgive(self, key: str) -> None:
        """Take back the most recent event of ``key`` (an attempt that turned out fine).

        Callers record an attempt before the slow part and forgive it on success,
        so concurrent attempts cannot all slip past ``blocked`` at once.
        """
        events = self._events.get(key)
        if events:
            events.pop()
            if not events:
                del self._events[key]

    def count(self, key: str) -> int:
        events = self._live(key, self._clock())
        return len(events) if events is not None else 0

    def blocked(self, key: str) -> bool:
        """Whether ``key`` has used up its events within the window."""
        return self.count(key) >= self.limit

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 when it is not blocked."""
        now = self._clock()
        events = self._live(key, now)
        if events is None or len(events) < self.limit:
            return 0.0
        # The oldest kept event is the limit-th most recent: once it leaves, one slot frees.
        return max(events[0] + self.window - now, 0.0)

    def retry_after_minutes(self, key: str) -> int:
        """``retry_after`` rounded up to whole minutes, at least 1 while blocked."""
        seconds = self.retry_after(key)
        return max(math.ceil(seconds / 60), 1) if seconds > 0 else 0

    def reset(self, key: str) -> None:
        self._events.pop(key, None)

    def clear(self) -> None:
        self._events.clear()


def address_key(ip: str) -> str:
    """The key for a client address: IPv4 as is, IPv6 by its /64 network.

    One IPv6 subscriber usually holds a whole /64, so counting single IPv6
    addresses would give a guesser 2**64 fresh budgets.
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
