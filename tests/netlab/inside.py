"""Run the test's own event loop inside a network namespace the test made.

``setns(2)`` moves only the calling thread, and asyncio creates every socket on the
loop's thread: so between entering and leaving, the aiohttp server, its media
server's UDP sockets and any in-process aiortc peer live in the namespace, while
the rest of the machine is untouched. Python 3.11 has no ``os.setns``; libc's is
called through ctypes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


@contextlib.contextmanager
def inside(namespace: str) -> Iterator[None]:
    """This thread in ``ip netns`` namespace ``namespace`` until the block ends."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)
