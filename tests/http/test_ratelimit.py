"""The in-memory sliding-window limiter on its own, with a clock the test moves."""

from __future__ import annotations

import pytest

from server.http.ratelimit import SlidingWindowLimiter, address_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_blocks_after_limit_within_window(clock: Clock) -> None:
    limiter = SlidingWindowLimiter(3, 60, clock=clock)
    for _ in range(2):
        limiter.hit("a")
        clock.advance(1)
    assert not limiter.blocked("a")
    assert limiter.count("a") == 2
    limiter.hit("a")
    assert limiter.blocked("a")
    assert not limiter.blocked("b"), "other keys have their own budget"


def test_window_slides_one_event_at_a_time(clock: Clock) -> None:
    limiter = SlidingWindowLimiter(3, 60, clock=clock)
    limiter.hit("a")  # t=1000
    clock.advance(10)
    limiter.hit("a")  # t=1010
    clock.advance(10)
    limiter.hit("a")  # t=1020
    assert limiter.blocked("a")
    assert limiter.retry_after("a") == pytest.approx(40)
    clock.advance(39.5)
    assert limiter.blocked("a")
    clock.advance(0.5)  # the first event is exactly a window old: it no longer counts
    assert not limiter.blocked("a")
    assert limiter.count("a") == 2
    limiter.hit("a")
    assert limiter.blocked("a"), "the two later events still count"
    clock.advance(20)
    assert not limiter.blocked("a")


def test_retry_after_in_minutes(clock: Clock) -> None:
    limiter = SlidingWindowLimiter(2, 600, clock=clock)
    assert limiter.retry_after("a") == 0
    assert limiter.retry_after_minutes("a") == 0
    limiter.hit("a")
    limiter.hit("a")
    assert limiter.retry_after_minutes("a") == 10
    clock.advance(541)
    assert limiter.retry_after_minutes("a") == 1  # 59 s left, rounded up
    clock.advance(59)
    assert limiter.retry_after_minutes("a") == 0


def test_whole_window_forgets_and_drops_the_key(clock: Clock) -> None:
    limiter = SlidingWindowLimiter(2, 60, clock=clock)
    limiter.hit("a")
    limiter.hit("a")
    assert limiter.blocked("a")
    clock.advance(61)
    assert not limiter.blocked("a")
    assert "a" not in limiter and len(limiter) == 0


def test_reset_and_clear(clock: Clock) -> None:
    limiter = SlidingWindowLimiter(1, 60, clock=clock)
    limiter.hit("a")
    limiter.hit("b")
    assert limiter.blocked("a") and limiter.blocked("b")
    limiter.reset("a")
    assert not limiter.blocked("a") and limiter.blocked("b")
    limiter.reset("never-seen")
    limiter.clear()
    assert len(limiter) == 0


def test_forgive_takes_back_the_latest_attempt(clock: Clock) -> None:
    limiter = SlidingWindowLimiter(2, 60, clock=clock)
    limiter.hit("a")
    limiter.forgive("a")
    assert "a" not in limiter, "a key with nothing left is dropped"
    limiter.hit("a")
    clock.advance(30)
    limiter.hit("a")
    assert limiter.blocked("a")
    limiter.forgive("a")
    assert limiter.count("a") == 1
    clock.advance(31)
    assert not limiter.blocked("a") and limiter.count("a") == 0
    limiter.forgive("never-seen")


def test_memory_is_bounded_per_key(clock: Clock) -> None:
    limiter = SlidingWindowLimiter(5, 60, clock=clock)
    for _ in range(10_000):
        limiter.hit("a")
    assert limiter.count("a") == 5
    assert limiter.blocked("a")


def test_memory_is_bounded_in_keys_oldest_evicted(clock: Clock) -> None:
    limiter = SlidingWindowLimiter(2, 600, max_keys=100, clock=clock)
    for n in range(250):
        limiter.hit(f"10.0.{n // 256}.{n % 256}")
        clock.advance(0.01)
    assert len(limiter) == 100
    assert "10.0.0.0" not in limiter
    assert "10.0.0.249" in limiter
    # A key hit again moves to the back of the queue and survives the next evictions.
    limiter.hit("10.0.0.150")
    for n in range(250, 349):
        limiter.hit(f"10.0.1.{n % 256}")
    assert "10.0.0.150" in limiter
    assert "10.0.0.151" not in limiter
    assert len(limiter) == 100


def test_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        SlidingWindowLimiter(0, 60)
    with pytest.raises(ValueError):
        SlidingWindowLimiter(1, 0)
    with pytest.raises(ValueError):
        SlidingWindowLimiter(1, 60, max_keys=0)


def test_default_clock_is_monotonic_and_works() -> None:
    limiter = SlidingWindowLimiter(1, 60)
    limiter.hit("a")
    assert limiter.blocked("a")
    assert 0 < limiter.retry_after("a") <= 60


@pytest.mark.parametrize(
    ("ip", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("", ""),
        ("not-an-address", "not-an-address"),
    ],
)
def test_address_key(ip: str, key: str) -> None:
    assert address_key(ip) == key
