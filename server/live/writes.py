"""A room's ordered write queue: decide under the room's lock, persist after it, in order.

The room's lock serialises decisions; holding it across a database round
trip would make every participant of the room wait for the disk (and a slow
PostgreSQL would stall the media controls). So a decision enqueues its
writes, already bound to the values it decided, and one task per room runs
them one after the other, in the order the decisions were made. Whoever
must not answer before the write is durable (a host's "caucus opened")
waits for ``drained()`` after letting go of the lock.

A failed write is logged and the queue goes on: the next write of the
room's state replaces it as a whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from server.logs import context as log_context

logger = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]


class WriteQueue:
    """Runs a room's database writes one at a time, in submission order."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._jobs: asyncio.Queue[tuple[str, Job, log_context.Snapshot, asyncio.Future[None]]] = (
            asyncio.Queue()
        )
        self._task: asyncio.Task[None] | None = None
        self._last: asyncio.Future[None] | None = None
        self._pending = 0
        self._closed = False

    def submit(self, what: str, job: Job) -> asyncio.Future[None]:
        """Queue ``job`` (named ``what`` in logs) after every job submitted before it.

        Never blocks and never raises for the job's own failure: callers under
        the room's lock only enqueue.
        """
        if self._closed:
            raise RuntimeError(f"{self._label}: write queue closed")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # The job runs in the queue's task: its lines should name the request that decided it.
        self._jobs.put_nowait((what, job, log_context.snapshot(), done))
        self._last = done
        self._pending += 1
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"writes-{self._label}")
        return done

    async def drained(self) -> None:
        """Wait until every job submitted so far has run (successfully or not)."""
        last = self._last
        if last is not None:
            await asyncio.shield(last)

    @property
    def pending(self) -> int:
        """Jobs submitted and not yet finished."""
        return self._pending

    async def close(self) -> None:
        """Run what was submitted, then stop; nothing may be submitted after."""
        self._closed = True
        await self.drained()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            what, job, saved, done = await self._jobs.get()
            try:
                with log_context.restored(saved):
                    try:
                        await job()
                    except Exception:
                        logger.exception("%s: writing %s failed", self._label, what)
            finally:
                self._pending -= 1
                if not done.done():
                    done.set_result(None)
