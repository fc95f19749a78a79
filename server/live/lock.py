"""The room's lock, which knows the task holding it.

One lock per room serialises its decisions (so events go out in the order
they happened). The rule that goes with it, *no database I/O while the lock
is held*, is checkable only if one can ask whether the current task holds
it: ``held_here``.
"""

from __future__ import annotations

import asyncio
from types import TracebackType


class RoomLock:
    """An ``asyncio.Lock`` that remembers its holder."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[object] | None = None

    async def __aenter__(self) -> None:
        await self._lock.acquire()
        self._owner = asyncio.current_task()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._owner = None
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def held_here(self) -> bool:
        """Whether the running task holds the lock."""
        return self._owner is not None and self._owner is asyncio.current_task()
