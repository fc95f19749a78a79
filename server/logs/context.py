"""What the current line belongs to: the request being handled, the room it touches.

Context variables rather than arguments: a line logged deep in the media code
or the database layer still says which request and which room it was for,
without every function passing ids along. aiohttp runs each request in a task
of its own and asyncio copies the context into every task it creates, so a
value set while handling a request (or a room message) stays with that
request and with the work it starts, and never leaks into another request.

Work that outlives the request that queued it (a room's write queue) takes a
``snapshot()`` when the work is submitted and runs it ``restored()``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

#: The header a request id travels in, from a proxy and back to the client.
REQUEST_ID_HEADER = "X-Request-ID"
#: The id of the HTTP request (or room socket) being handled.
REQUEST_ID: ContextVar[str | None] = ContextVar("concord_request_id", default=None)
#: The mediation session whose room is being worked on (the room's id).
SESSION_ID: ContextVar[int | None] = ContextVar("concord_session_id", default=None)

#: What a request id from a trusted proxy may look like: nginx's ``$request_id`` (32 hex
#: digits), a UUID, or our own; nothing that could smuggle spaces, quotes or line breaks.
REQUEST_ID_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
#: Bytes of randomness in the request ids we make: unique enough to find one request.
REQUEST_ID_BYTES = 8


def new_request_id() -> str:
    """A fresh request id: 16 hex digits."""
    return secrets.token_hex(REQUEST_ID_BYTES)


def valid_request_id(value: str) -> bool:
    """Whether an incoming ``X-Request-ID`` may be adopted as it is."""
    return REQUEST_ID_SHAPE.fullmatch(value) is not None


def set_request(request_id: str) -> None:
    """The current task handles request ``request_id`` (its own context ends with it)."""
    REQUEST_ID.set(request_id)


def set_session(session_id: int) -> None:
    """The current task works on the room of session ``session_id``."""
    SESSION_ID.set(session_id)


@dataclass(frozen=True)
class Snapshot:
    """The log context at one moment, to be put back around work done later."""

    request_id: str | None
    session_id: int | None


def snapshot() -> Snapshot:
    return Snapshot(REQUEST_ID.get(), SESSION_ID.get())


@contextmanager
def restored(saved: Snapshot) -> Iterator[None]:
    """Run a block as part of the request and room in ``saved``, then put back what was."""
    request_token = REQUEST_ID.set(saved.request_id)
    session_token = SESSION_ID.set(saved.session_id)
    try:
        yield
    finally:
        SESSION_ID.reset(session_token)
        REQUEST_ID.reset(request_token)


@contextmanager
def room(session_id: int) -> Iterator[None]:
    """A block that works on one room, inside a task that goes over several."""
    token = SESSION_ID.set(session_id)
    try:
        yield
    finally:
        SESSION_ID.reset(token)
