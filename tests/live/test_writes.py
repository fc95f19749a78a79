"""The room's write queue: one job at a time, in submission order, failures logged."""

from __future__ import annotations

import asyncio
import logging

import pytest

from server.live.writes import WriteQueue


async def test_jobs_run_one_at_a_time_in_order_and_a_failure_does_not_stop_the_queue(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = WriteQueue("room 9")
    ran: list[str] = []
    running = 0

    def job(name: str, delay: float, fail: bool = False) -> asyncio.Future[None]:
        async def write() -> None:
            nonlocal running
            running += 1
            assert running == 1, "one write at a time"
            await asyncio.sleep(delay)
            running -= 1
            ran.append(name)
            if fail:
                raise OSError("disk full")

        return queue.submit(name, write)

    job("first", 0.03)
    failed = job("second", 0.0, fail=True)
    job("third", 0.01)
    assert queue.pending == 3
    with caplog.at_level(logging.ERROR, logger="server.live.writes"):
        await queue.drained()
    assert ran == ["first", "second", "third"]
    assert failed.done() and failed.exception() is None, "callers never see the write fail"
    assert "room 9: writing second failed" in caplog.text
    assert queue.pending == 0
    await queue.close()
    with pytest.raises(RuntimeError):
        queue.submit("late", lambda: asyncio.sleep(0))


async def test_drained_on_an_empty_queue_returns_at_once() -> None:
    queue = WriteQueue("room 1")
    async with asyncio.timeout(0.5):
        await queue.drained()
        await queue.close()
