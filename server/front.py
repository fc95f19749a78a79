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

The supervisor starts the workers, waits until each answers ``/healthz`` on
its socket, and only then opens the public port. A worker that dies is
started again (its rooms are lost; their browsers reconnect on their own and
find a fresh room on the new process); SIGTERM or SIGINT stops the front and
every worker and removes the sockets. Workers are in a session of their own,
so a terminal's Ctrl-C reaches the supervisor alone and the shutdown happens
in order; each also watches its standard input, a pipe from the supervisor,
and stops when it closes, so no worker outlives a supervisor killed outright.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiohttp
from aiohttp import WSMsgType, web
from multidict import CIMultiDict
from yarl import URL

from server import __version__, cluster
from server.config import Config
from server.http.bad_requests import quiet_bad_requests
from server.http.trusted_proxies import client_address, trusted_peer
from server.ids import parse_id
from server.logs import context as log_context
from server.processes import is_alive
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
#: How long a worker may take to come up (imports, the migration check).
READY_TIMEOUT = 60.0
#: How long a worker may take to stop before it is killed.
STOP_TIMEOUT = 15.0
#: A worker's rooms close their sockets first, so its server need not wait long.
WORKER_SHUTDOWN_TIMEOUT = 5.0
FRONT_SHUTDOWN_TIMEOUT = 5.0
#: Pauses before restarting a worker that keeps dying; a worker that ran this long resets them.
RESTART_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
STABLE_SECONDS = 60.0
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


# --- the run directory ---------------------------------------------------------------------


def make_run_dir(data_dir: Path, count: int) -> Path:
    """A private directory (0700) for this run's sockets: DATA_DIR/run/<pid>.

    Keyed by the supervisor's pid, so two servers sharing a data directory
    keep apart; directories of supervisors that are gone are removed. A data
    directory too deep for a socket's path gets a private temporary directory.
    """
    base = (data_dir / "run").resolve()
    run_dir = base / str(os.getpid())
    if not cluster.socket_path_fits(run_dir, count):
        return Path(tempfile.mkdtemp(prefix="concord-run-"))
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    for old in base.iterdir():
        if old.name.isdigit() and old != run_dir and not is_alive(int(old.name)):
            shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(run_dir, ignore_errors=True)  # our pid, a past run's: it is not running
    run_dir.mkdir(mode=0o700)
    os.chmod(run_dir, 0o700)
    return run_dir


def bind_unix(path: Path) -> socket.socket:
    """A listening Unix socket at ``path`` (a stale one is replaced), readable by us alone."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        os.chmod(path, 0o600)
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


# --- the supervisor ------------------------------------------------------------------------


class Supervisor:
    """Starts the workers and the front, restarts dead workers, stops it all on a signal."""

    def __init__(
        self,
        config: Config,
        count: int,
        *,
        verbose: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config
        self.count = count
        self.verbose = verbose
        #: TLS ends in the front; the workers behind it speak plain HTTP on private sockets.
        self.ssl_context = ssl_context
        self.run_dir = Path()
        self._secret = secrets.token_urlsafe(32)
        self._procs: list[asyncio.subprocess.Process | None] = [None] * count
        self._started: list[float] = [0.0] * count
        self._stop = asyncio.Event()
        self._stopping = False

    def _command(self, index: int) -> list[str]:
        command = [sys.executable, "-m", "server"]
        if self.verbose:
            command.append("-v")
        command += ["serve", "--workers", str(self.count), "--worker-index", str(index)]
        return [*command, "--run-dir", str(self.run_dir)]

    def _environment(self) -> dict[str, str]:
        # Workers read the same settings; host and port may have come from the command line,
        # and the public URL (origin checks, links) is made of them.
        env = dict(os.environ)
        env["CONCORD_HOST"] = self.config.host
        env["CONCORD_PORT"] = str(self.config.port)
        # ... as may the certificate (an https:// URL, secure cookies) and the LAN URL.
        if self.config.public_url:
            env["CONCORD_PUBLIC_URL"] = self.config.public_url
        # ... and the log format (--log-format).
        env["CONCORD_LOG_FORMAT"] = self.config.log_format
        if self.config.tls_cert_path is not None and self.config.tls_key_path is not None:
            env["CONCORD_TLS_CERT_PATH"] = str(self.config.tls_cert_path)
            env["CONCORD_TLS_KEY_PATH"] = str(self.config.tls_key_path)
        return env

    async def _spawn(self, index: int) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            *self._command(index),
            stdin=asyncio.subprocess.PIPE,
            env=self._environment(),
            start_new_session=True,
        )
        assert proc.stdin is not None
        # The secret by pipe, not by argument or environment: nothing else can read it.
        proc.stdin.write(f"{self._secret}\n".encode())
        await proc.stdin.drain()
        self._procs[index] = proc
        self._started[index] = time.monotonic()
        logger.debug("worker %d started (pid %d)", index, proc.pid)
        return proc

    async def _ready(self, index: int, proc: asyncio.subprocess.Process) -> int | None:
        """None when the worker answers on its socket; its exit status if it died first."""
        path = cluster.worker_socket(self.run_dir, index)
        deadline = time.monotonic() + READY_TIMEOUT
        exited = asyncio.ensure_future(proc.wait())
        try:
            async with aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(path=str(path)),
                timeout=aiohttp.ClientTimeout(total=2),
            ) as http:
                while not self._stop.is_set():
                    if exited.done():
                        return exited.result()
                    if path.exists():
                        with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                            async with http.get("http://concord-worker/healthz") as response:
                                if response.status == 200:
                                    return None
                    if time.monotonic() > deadline:
                        logger.error("worker %d did not come up in %.0f s", index, READY_TIMEOUT)
                        return 1
                    await asyncio.wait({exited}, timeout=0.05)
                return None
        finally:
            exited.cancel()

    async def _terminate(self, proc: asyncio.subprocess.Process | None) -> None:
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                logger.error("worker pid %d ignored SIGTERM; killing it", proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()

    async def _keep(self, index: int) -> None:
        """Start a worker again whenever it dies, waiting longer if it keeps dying."""
        failures = 0
        while not self._stopping:
            proc = self._procs[index]
            assert proc is not None
            code = await proc.wait()
            if self._stopping:
                return
            lived = time.monotonic() - self._started[index]
            if lived >= STABLE_SECONDS:
                failures = 0
            delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)]
            failures += 1
            logger.error(
                "worker %d exited with status %s after %.0f s; its rooms are gone (their "
                "browsers reconnect); starting it again in %.1f s",
                index,
                code,
                lived,
                delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            if self._stopping:
                return
            proc = await self._spawn(index)
            if self._stopping:
                await self._terminate(proc)
                return

    def _on_signal(self, signame: str) -> None:
        if not self._stop.is_set():
            logger.info("%s: stopping the front and %d workers", signame, self.count)
        self._stop.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig.name)
        self.config.secret()  # the data directory and its key, before any worker races for them
        self.run_dir = make_run_dir(self.config.data_dir, self.count)
        runner: web.AppRunner | None = None
        keepers: list[asyncio.Task[None]] = []
        try:
            for index in range(self.count):
                await self._spawn(index)
            for index in range(self.count):
                proc = self._procs[index]
                assert proc is not None
                failed = await self._ready(index, proc)
                if failed is not None:
                    return failed if failed > 0 else 1
            if self._stop.is_set():
                return 0
            front = Front(
                [cluster.worker_socket(self.run_dir, i) for i in range(self.count)],
                trusted_proxies=self.config.trusted_proxies,
                proxy_header=self.config.trusted_proxy_header,
            )
            runner = web.AppRunner(
                front.app(),
                access_log=None,
                handle_signals=False,
                shutdown_timeout=FRONT_SHUTDOWN_TIMEOUT,
            )
            await runner.setup()
            site = web.TCPSite(
                runner, self.config.host, self.config.port, ssl_context=self.ssl_context
            )
            try:
                await site.start()
            except OSError as exc:
                print(
                    f"concord: cannot listen on {self.config.host}:{self.config.port}: "
                    f"{exc.strerror or exc}",
                    file=sys.stderr,
                )
                return 1
            keepers = [
                asyncio.create_task(self._keep(i), name=f"keep-worker-{i}")
                for i in range(self.count)
            ]
            print(
                f"Concord {__version__} on {self.config.effective_public_url} "
                f"({self.count} workers)",
                flush=True,
            )
            await self._stop.wait()
            await site.stop()  # no new connections while the workers close their rooms
            return 0
        finally:
            self._stopping = True
            self._stop.set()
            # Workers first: their rooms close every socket (1001), which ends the front's relays.
            await asyncio.gather(*(self._terminate(p) for p in self._procs))
            await asyncio.gather(*keepers, return_exceptions=True)
            if runner is not None:
                await runner.cleanup()
            shutil.rmtree(self.run_dir, ignore_errors=True)


def serve_cluster(
    config: Config,
    count: int,
    *,
    verbose: bool = False,
    ssl_context: ssl.SSLContext | None = None,
) -> int:
    """``concord serve`` with ``count`` > 1 workers: returns the exit status."""
    return asyncio.run(Supervisor(config, count, verbose=verbose, ssl_context=ssl_context).run())


# --- a worker --------------------------------------------------------------------------------


def read_secret(fd: int = 0) -> str | None:
    """The run's secret: the first line the supervisor writes to our standard input."""
    data = b""
    while not data.endswith(b"\n") and len(data) < 1024:
        chunk = os.read(fd, 1)
        if not chunk:
            return None
        data += chunk
    value = data.decode(errors="replace").strip()
    return value or None


async def _serve_worker(config: Config, worker: cluster.Worker) -> int:
    from server.app import SchemaOutOfDate, create_app
    from server.http.access_log import runner_options

    app = create_app(config, worker=worker)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        shutdown_timeout=WORKER_SHUTDOWN_TIMEOUT,
        **runner_options(),
    )
    try:
        await runner.setup()
    except SchemaOutOfDate as exc:
        print(f"concord: {exc}", file=sys.stderr, flush=True)
        await runner.cleanup()
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def parent_gone() -> None:
        # Anything more on the pipe is unexpected; its end means the supervisor is gone.
        try:
            more = os.read(0, 1024)
        except OSError:
            more = b""
        if not more:
            loop.remove_reader(0)
            stop.set()

    loop.add_reader(0, parent_gone)
    path = worker.socket_path()
    try:
        site = web.SockSite(runner, bind_unix(path))
        await site.start()
        logger.info("worker %d of %d listening on %s", worker.index, worker.count, path)
        await stop.wait()
        await site.stop()
    finally:
        # The app's shutdown closes every room socket (1001) and lets their handlers finish
        # before the rooms and their media servers close: in the other order a leaving
        # participant's last routes hit a closed media server.
        await runner.cleanup()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return 0


def run_worker(config: Config, index: int, count: int, run_dir: Path) -> int:
    """One worker of ``concord serve --workers N``: started by the supervisor, never by hand."""
    secret = read_secret()
    if secret is None:
        print(
            "concord: --worker-index is for the workers `concord serve --workers N` starts",
            file=sys.stderr,
        )
        return 2
    worker = cluster.Worker(index=index, count=count, run_dir=run_dir, secret=secret)
    return asyncio.run(_serve_worker(config, worker))
