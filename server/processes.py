"""Small facts about other processes that several parts of the server ask."""

from __future__ import annotations

import os


def is_alive(pid: int) -> bool:
    """Whether a process with this id exists (signal 0 checks without sending anything).

    ``PermissionError`` means it exists but belongs to someone else: alive.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
