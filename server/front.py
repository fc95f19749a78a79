"""``concord serve --workers N``: the supervisor, the front on the public port, the workers.

::

    browsers ──HTTP(S)/WS──► front (this process: supervisor + proxy, the public host:port)
                            │ per request: cluster.route(...)
                            ├──► worker 0  DATA_DIR/run/<pid>/worker-0.sock  (create_app)
                            └──► worker 1  DATA_DIR/run/<pid>/worker-1.sock  (create_app)
    browsers ◄──────────── DTLS-SRTP media straight to the owning worker's UDP ports

One process is one event loop is one core; the rooms' media forwarding is
what needs the cores, so each worker is a whole Concord app holding whole
rooms, and the front only copies pages and signalling between the public port
and the worker that should answer (``server/cluster.py`` says which). Media
never passes through the front: each worker's media server gathers its own
ICE candidates and the browser sends to them directly.

The front is an HTTP proxy at the request level rather than a byte pipe, so
that each request on a kept-alive connection is routed on its own (a
browser's page requests and its room socket need not go to the same worker).
A room socket is two sockets joined: browser to front, front to worker; close
codes pass through both ways, so the room's named closes (4001 removed, 4002
ended...) reach the browser unchanged.

TLS, when ``concord serve`` has a certificate (``server/tls.py``), ends in
the front; the workers speak plain HTTP on their private sockets. Behind a
reverse proxy the front is the one that asks who the client is
(``trusted_proxies``, ``server/http/trusted_proxies.py``) and tells the
worker in a header of its own.

The supervisor that starts the workers and this front, restarts dead workers and
stops it all is ``server/supervisor.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiohttp
from aiohttp import WSMsgType, web
from multidict import CIMultiDict
from yarl import URL

from server import cluster
from server.http.bad_requests import quiet_bad_requests
from server.http.trusted_proxies import client_address, trusted_peer
from server.ids import parse_id
from server.logs import context as log_context
from server.signaling.connection import HEARTBEAT_SECONDS
from server.signaling.messages import MAX_FRAME_BYTES

logger = logging.getLogger(__name__)

#: Headers about one connection, never passed on (RFC 9110 7.6.1), and ``Expect``,
#: which the front has already answered.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
    }
)
#: A WebSocket handshake's own headers: each of the two sockets makes its own.
WS_HANDSHAKE = frozenset(
    {
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
        "sec-websocket-accept",
    }
)
#: Close codes that may not be sent in a close frame; the other side hears "going away".
UNSENDABLE_CLOSE_CODES = frozenset({1005, 1006, 1015})
GOING_AWAY = 1001
#: aiohttp's own default headers, which would otherwise be added to what a browser sent.
SKIP_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
CHUNK_BYTES = 64 * 1024
WORKER_CONNECT_TIMEOUT = 5.0


# --- headers ----------------------------------------------------------------------------


def forward_headers(
    headers: Mapping[str, str],
    client: str,
    *,
    websocket: bool = False,
    request_id: str | None = None,
) -> CIMultiDict[str]:
    """What the worker gets: the browser's headers (Host, Origin, Cookie...), less the hop's.

    Any ``X-Concord-*`` header a client sent is dropped, and the front writes
    the client's address itself, so a worker can trust what it reads there;
    likewise the request id (``X-Request-ID``): the front's, never the client's.
    """
    named = {
        token.strip().lower()
        for value in _all(headers, "Connection")
        for token in value.split(",")
        if token.strip()
    }
    out: CIMultiDict[str] = CIMultiDict()
    for key, value in headers.items():
        lower = key.lower()
        if (
            lower in HOP_BY_HOP
            or lower in named
            or lower.startswith(cluster.HEADER_PREFIX)
            or lower == log_context.REQUEST_ID_HEADER.lower()
        ):
            continue
        if websocket and (lower in WS_HANDSHAKE or lower == "content-length"):
            continue
        out.add(key, value)
    out[cluster.CLIENT_HEADER] = client
    if request_id is not None:
        out[log_context.REQUEST_ID_HEADER] = request_id
    return out


def backward_headers(headers: Mapping[str, str]) -> CIMultiDict[str]:
    """What the browser gets from a worker's response: all of it but the hop's and the 421's."""
    out: CIMultiDict[str] = CIMultiDict()
    for key, value in headers.items():
        lower = key.lower()
        if lower in HOP_BY_HOP or lower == cluster.OWNER_HEADER.lower():
            continue
        out.add(key, value)
    return out


def _all(headers: Mapping[str, str], name: str) -> list[str]:
    getall = getattr(headers, "getall", None)
    if getall is not None:
        values: list[str] = getall(name, [])
        return values
    value = headers.get(name)
    return [value] if value is not None else []


def close_code_to_send(code: int | None) -> int:
    """The code to pass on for a close heard on the other socket."""
    if code is None or code in UNSENDABLE_CLOSE_CODES:
        return GOING_AWAY
    return code


# --- the front: a request-level proxy -------------------------------------------------------


class Front:
    """The public port's app: each request to its worker, room sockets joined end to end."""

    def __init__(
        self,
        sockets: Sequence[Path],
        *,
        trusted_proxies: Sequence[str] = (),
        proxy_header: str = "x-forwarded-for",
    ) -> None:
        self.sockets = list(sockets)
        #: Reverse proxies in front of the front, whose header names the client.
        self.trusted_proxies = tuple(trusted_proxies)
        self.proxy_header = proxy_header
        self._clients: list[aiohttp.ClientSession] = []

    def app(self) -> web.Application:
        quiet_bad_requests()  # the public port: anyone's broken requests arrive here first
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        app.on_startup.append(self._open)
        app.on_cleanup.append(self._close)
        return app

    async def _open(self, _app: web.Application) -> None:
        for path in self.sockets:
            self._clients.append(
                aiohttp.ClientSession(
                    # No limit: every open room socket holds one connection to its worker.
                    connector=aiohttp.UnixConnector(path=str(path), limit=0),
                    # Never keep one browser's cookies for the next.
                    cookie_jar=aiohttp.DummyCookieJar(),
                    auto_decompress=False,
                    skip_auto_headers=SKIP_AUTO_HEADERS,
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=WORKER_CONNECT_TIMEOUT),
                )
            )

    async def _close(self, _app: web.Application) -> None:
        clients, self._clients = self._clients, []
        for client in clients:
            await client.close()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith(cluster.INTERNAL_PREFIX.rstrip("/")):
            raise web.HTTPNotFound()  # between workers only, never from outside
        # The one place the front learns the client: the workers believe what it says.
        client = client_address(
            request.remote or "", request.headers, self.trusted_proxies, self.proxy_header
        )
        target = cluster.route(request.path, request.query, client, len(self.sockets))
        # The worker's lines and the front's share the id; a trusted proxy's is kept.
        request_id = self._request_id(request)
        log_context.set_request(request_id)
        if request.path == cluster.WS_PATH and _is_upgrade(request):
            return await self._websocket(request, target, client, request_id)
        return await self._http(request, target, client, request_id)

    def _request_id(self, request: web.Request) -> str:
        incoming = request.headers.get(log_context.REQUEST_ID_HEADER, "").strip()
        if (
            incoming
            and log_context.valid_request_id(incoming)
            and trusted_peer(request.remote or "", self.trusted_proxies)
        ):
            return incoming
        return log_context.new_request_id()

    @staticmethod
    def _url(request: web.Request) -> URL:
        return URL(f"http://concord-worker{request.rel_url.raw_path_qs}", encoded=True)

    async def _http(
        self, request: web.Request, target: int, client: str, request_id: str
    ) -> web.StreamResponse:
        response: web.StreamResponse | None = None
        try:
            async with self._clients[target].request(
                request.method,
                self._url(request),
                headers=forward_headers(request.headers, client, request_id=request_id),
                data=request.content if request.body_exists else None,
                allow_redirects=False,
            ) as upstream:
                response = web.StreamResponse(
                    status=upstream.status,
                    reason=upstream.reason,
                    headers=backward_headers(upstream.headers),
                )
                await response.prepare(request)
                async for chunk in upstream.content.iter_chunked(CHUNK_BYTES):
                    await response.write(chunk)
                await response.write_eof()
                return response
        except aiohttp.ClientError as exc:
            if response is not None:
                raise  # mid-answer: nothing better than dropping the connection
            logger.warning(
                "worker %d did not answer %s %s: %r", target, request.method, request.path, exc
            )
            return _unavailable()

    async def _websocket(
        self, request: web.Request, target: int, client: str, request_id: str
    ) -> web.StreamResponse:
        requested = [
            p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
        ]
        requested = [p for p in requested if p]
        if not web.WebSocketResponse(protocols=requested).can_prepare(request).ok:
            # The worker refuses it its way.
            return await self._http(request, target, client, request_id)
        headers = forward_headers(request.headers, client, websocket=True, request_id=request_id)
        upstream: aiohttp.ClientWebSocketResponse | None = None
        for _hop in range(2):
            try:
                upstream = await self._clients[target].ws_connect(
                    self._url(request),
                    protocols=requested,
                    headers=headers,
                    autoping=True,
                    max_msg_size=0,  # the worker's own frames: it caps what it takes in
                )
                break
            except aiohttp.WSServerHandshakeError as exc:
                owner = parse_id(exc.headers.get(cluster.OWNER_HEADER, "")) if exc.headers else None
                if exc.status == 421 and owner is not None and owner < len(self.sockets):
                    # An invitee's token, checked by the address's worker: the room is elsewhere.
                    logger.debug("room socket: worker %d sends it to worker %d", target, owner)
                    target = owner
                    continue
                return _socket_refused(exc.status)
            except aiohttp.ClientError as exc:
                logger.warning("worker %d did not take a room socket: %r", target, exc)
                return _unavailable()
        if upstream is None:
            return _unavailable()
        ws = web.WebSocketResponse(
            protocols=(upstream.protocol,) if upstream.protocol else (),
            heartbeat=HEARTBEAT_SECONDS,
            max_msg_size=MAX_FRAME_BYTES,
        )
        ws.headers[cluster.WORKER_HEADER] = str(target)
        try:
            await ws.prepare(request)
        except BaseException:
            await upstream.close(code=GOING_AWAY)
            raise
        logger.debug("room socket from %s joined to worker %d", client, target)
        await relay(ws, upstream)
        return ws


def _is_upgrade(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").strip().lower() == "websocket"


def _unavailable() -> web.Response:
    return web.Response(
        status=503,
        text="Concord is restarting a part of itself. Try again in a moment.\n",
        headers={"Retry-After": "2", "Cache-Control": "no-store"},
    )


def _socket_refused(status: int) -> web.Response:
    """A worker's refusal of a room socket; the browser sees only the status anyway."""
    code = {400: "invalid_request", 403: "not_allowed"}.get(status, "unavailable")
    return web.json_response(
        {"error": {"code": code, "message": "the room socket was refused", "fields": {}}},
        status=status,
    )


Socket = web.WebSocketResponse | aiohttp.ClientWebSocketResponse


async def _pump(source: Socket, sink: Socket) -> tuple[int, bytes]:
    """Frames from ``source`` to ``sink`` until ``source`` closes: its close code and reason."""
    while True:
        msg = await source.receive()
        if msg.type == WSMsgType.TEXT:
            with contextlib.suppress(ConnectionError):
                await sink.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            with contextlib.suppress(ConnectionError):
                await sink.send_bytes(msg.data)
        elif msg.type == WSMsgType.CLOSE:
            reason = msg.extra.encode()[:120] if isinstance(msg.extra, str) else b""
            return close_code_to_send(msg.data), reason
        else:  # closing, closed, or an error aiohttp has already closed the socket for
            return close_code_to_send(source.close_code), b""


async def relay(browser: web.WebSocketResponse, worker: aiohttp.ClientWebSocketResponse) -> None:
    """Frames both ways until either side closes; the close code goes through to the other.

    The side still open is closed only once nothing reads it any more: aiohttp
    closes a socket that another task is reading without waiting for the
    peer's reply, and a peer that answers late then sees an abnormal close
    (1006) instead of the room's code.
    """
    tasks: dict[asyncio.Task[tuple[int, bytes]], Socket] = {
        asyncio.create_task(_pump(browser, worker), name="front-to-worker"): worker,
        asyncio.create_task(_pump(worker, browser), name="front-to-browser"): browser,
    }
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        first = done.pop()
        code, reason = first.result()
        with contextlib.suppress(ConnectionError):
            await tasks[first].close(code=code, message=reason)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for sock in (worker, browser):
            with contextlib.suppress(ConnectionError):
                await sock.close(code=GOING_AWAY)
