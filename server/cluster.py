"""Several worker processes behind one public port: who serves what, and how workers talk.

``concord serve --workers N`` (N > 1) runs N worker processes, each a whole
Concord app (``create_app(config, worker=...)``) listening on a private Unix
socket, behind one front process that holds the public port
(``server/front.py``). One event loop is one core: more rooms need more
processes, and a live room (its ``LiveRoom``, its media server) lives in exactly
one of them. This module is what the front, the workers and their rooms must
agree on:

- **placement**, a pure function: the room of session ``s`` lives on worker
  ``s % N`` (``owner_of``); everything not tied to a room goes to the worker
  of the client's address (``address_worker``), so the per-address limits kept
  in memory (the door's, the verifier's) see all of one address's requests;
- **identity** (``Worker``): a worker's index, the count, where the sockets
  are, and the run's secret for calls between workers;
- **trust**: a worker believes the client address the front passes
  (``CLIENT_HEADER``) only on its private socket, and its internal routes
  answer only there, with the secret;
- **forwarding** (``Peers``): what a worker learns about another worker's room
  (a page changed the agreement) is posted to the owner's private socket.

With one worker none of this is active: no header is read or written, and
the app is exactly the single process it always was.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import re
import socket
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from server.http.ratelimit import address_key
from server.ids import parse_id

logger = logging.getLogger(__name__)

#: On every response from a worker: its index (for operators and tests).
WORKER_HEADER = "X-Concord-Worker"
#: Front to worker: the client's address, as the front's socket saw it.
CLIENT_HEADER = "X-Concord-Client"
#: Worker to front, on a 421: the worker that owns the room asked for.
OWNER_HEADER = "X-Concord-Owner"
#: Worker to worker: the run's secret, on internal routes.
SECRET_HEADER = "X-Concord-Internal"
#: Headers of ours; the front drops any a client sends.
HEADER_PREFIX = "x-concord-"
#: Routes between workers; the front never forwards a request under this path.
INTERNAL_PREFIX = "/_internal/"
#: The signalling endpoint (``server/signaling/endpoint.py``).
WS_PATH = "/ws/room"
MAX_WORKERS = 64
#: ``sun_path`` holds 108 bytes on Linux, the final NUL included; stay clear of it.
MAX_SOCKET_PATH = 100
#: How long a worker waits for another to take an event.
PEER_TIMEOUT = 5.0

_STAFF_ROOM = re.compile(r"/sessions/([0-9]{1,12})/room")


def default_workers() -> int:
    """The cores this process may run on (a container's CPU set, not the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


# --- placement: pure functions ----------------------------------------------------------


def owner_of(session_id: int, count: int) -> int:
    """The worker whose memory holds the room of ``session_id``.

    Session ids are handed out in sequence, so rooms alternate between workers;
    no directory is needed while every process can compute it.
    """
    return session_id % count


def address_worker(address: str, count: int) -> int:
    """The worker for requests not tied to a room, by the client's address.

    Keyed like the rate limiters (``address_key``: an IPv6 /64 as one), and
    hashed with CRC-32 rather than ``hash()``, which differs between processes.
    """
    return zlib.crc32(address_key(address).encode()) % count


def session_of(path: str, query: Mapping[str, str]) -> int | None:
    """The session a request names in its URL when it must reach that session's room.

    Staff's socket says ``/ws/room?session=<id>``; staff's room page is
    ``/sessions/<id>/room`` (it needs no room, but the worker answering it is
    then the room's, which operators can read in ``X-Concord-Worker``). An
    invitee's socket carries a token: the front cannot know its session
    without reading the database, so it goes to the address's worker, which
    checks it under that address's limiter and names the owner (a 421).
    """
    if path == WS_PATH:
        return parse_id(query.get("session", ""))
    match = _STAFF_ROOM.fullmatch(path)
    return int(match.group(1)) if match else None


def route(path: str, query: Mapping[str, str], address: str, count: int) -> int:
    """The worker that gets a request first: the room's owner, else the address's."""
    session_id = session_of(path, query)
    if session_id is not None:
        return owner_of(session_id, count)
    return address_worker(address, count)


def worker_socket(run_dir: Path, index: int) -> Path:
    return run_dir / f"worker-{index}.sock"


def socket_path_fits(run_dir: Path, count: int) -> bool:
    """Whether every worker's socket path is short enough to bind."""
    longest = worker_socket(run_dir.resolve(), max(count - 1, 0))
    return len(os.fsencode(longest)) <= MAX_SOCKET_PATH


# --- identity --------------------------------------------------------------------------


@dataclass(frozen=True)
class Worker:
    """Who this process is among the workers of one ``concord serve``."""

    index: int
    count: int
    #: The private directory (mode 0700) holding every worker's socket.
    run_dir: Path
    #: Made by the supervisor for this run; proves a request came from a sibling.
    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count <= MAX_WORKERS:
            raise ValueError(f"worker {self.index} of {self.count} is not a worker")
        if len(self.secret) < 32:
            raise ValueError("the run's secret is too short")

    def owner(self, session_id: int) -> int:
        return owner_of(session_id, self.count)

    def owns(self, session_id: int) -> bool:
        return self.owner(session_id) == self.index

    def socket_path(self, index: int | None = None) -> Path:
        return worker_socket(self.run_dir, self.index if index is None else index)


WORKER = web.AppKey("cluster_worker", Worker)


class NotOwner(Exception):
    """A room was asked of a worker that does not hold it; ``owner`` does."""

    def __init__(self, session_id: int, owner: int) -> None:
        super().__init__(f"room {session_id} lives on worker {owner}")
        self.session_id = session_id
        self.owner = owner


# --- trust ----------------------------------------------------------------------------


def via_private_socket(request: web.Request) -> bool:
    """Whether the request came over a Unix socket (a worker's, from the front or a sibling).

    Workers listen on nothing else; the public port is always a TCP socket.
    """
    transport = request.transport
    if transport is None:
        return False
    sock = transport.get_extra_info("socket")
    return sock is not None and sock.family == socket.AF_UNIX


def forwarded_client(request: web.Request) -> str | None:
    """The client address the front passed, when this is a worker and the front passed it.

    A single process (or anything on a TCP socket) never reads the header:
    there, a client could write it itself.
    """
    if request.config_dict.get(WORKER) is None or not via_private_socket(request):
        return None
    value = request.headers.get(CLIENT_HEADER, "").strip()
    return value or None


def internal_allowed(request: web.Request) -> bool:
    """An internal route answers only a sibling: a worker, its private socket, the secret."""
    worker = request.config_dict.get(WORKER)
    if worker is None or not via_private_socket(request):
        return False
    presented = request.headers.get(SECRET_HEADER, "")
    return hmac.compare_digest(presented.encode(), worker.secret.encode())


@web.middleware
async def identify_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Name the worker on every response, redirects and error pages included."""
    index = str(request.config_dict[WORKER].index)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers[WORKER_HEADER] = index
        raise
    if not response.prepared:  # a WebSocket's 101 has gone out already (the front names it)
        response.headers[WORKER_HEADER] = index
    return response


@web.middleware
async def misdirected_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A room asked of the wrong worker: 421, and which worker to ask (the front follows it).

    It sits inside the error middleware, which would make any exception a 500 page.
    """
    try:
        return await handler(request)
    except NotOwner as exc:
        logger.debug(
            "room %s: asked of worker %d, owned by %d",
            exc.session_id,
            request.config_dict[WORKER].index,
            exc.owner,
        )
        return web.json_response(
            {"error": {"code": "misdirected", "message": str(exc), "fields": {}}},
            status=421,
            headers={OWNER_HEADER: str(exc.owner)},
        )


# --- forwarding between workers -----------------------------------------------------------


#: Another worker tells a room's owner that its agreement changed
#: (``LiveRooms.agreement_changed``).
AGREEMENT_CHANGED_ROUTE = INTERNAL_PREFIX + "rooms/{id}/agreement-changed"
#: A worker tells its siblings that a staff account signed out (``LiveRooms.signed_out``).
SIGNED_OUT_ROUTE = INTERNAL_PREFIX + "staff/{id}/signed-out"


def agreement_changed_path(session_id: int) -> str:
    return AGREEMENT_CHANGED_ROUTE.format(id=session_id)


def signed_out_path(staff_id: int) -> str:
    return SIGNED_OUT_ROUTE.format(id=staff_id)


class Peers:
    """This worker's line to its siblings: one HTTP client per sibling's private socket.

    Made with the app's rooms (``LiveRooms``) and closed with them; the clients
    are opened on first use, inside the running loop.
    """

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._clients: dict[int, aiohttp.ClientSession] = {}

    def _client(self, index: int) -> aiohttp.ClientSession:
        client = self._clients.get(index)
        if client is None or client.closed:
            client = aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(path=str(self.worker.socket_path(index))),
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=PEER_TIMEOUT),
            )
            self._clients[index] = client
        return client

    async def agreement_changed(self, session_id: int) -> None:
        """Tell the room's owner; a failure is logged (the draft itself is in the database)."""
        owner = self.worker.owner(session_id)
        if await self._post(owner, agreement_changed_path(session_id), f"room {session_id}"):
            logger.debug("room %s: agreement event passed to worker %d", session_id, owner)

    async def signed_out(self, staff_id: int) -> None:
        """Tell every sibling that ``staff_id`` signed out; failures are logged.

        A sibling that cannot be reached is restarting, and a restarted worker
        holds no sockets: there is nothing left for it to end.
        """
        for index in range(self.worker.count):
            if index != self.worker.index:
                await self._post(index, signed_out_path(staff_id), f"staff {staff_id} signed out")

    async def _post(self, index: int, path: str, what: str) -> bool:
        """POST one event to worker ``index``: whether it took it (refusals are logged)."""
        try:
            async with self._client(index).post(
                f"http://worker-{index}{path}", headers={SECRET_HEADER: self.worker.secret}
            ) as response:
                if response.status == 204:
                    return True
                logger.warning("%s: worker %d refused the event (%d)", what, index, response.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("%s: could not tell worker %d: %r", what, index, exc)
        return False

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()
