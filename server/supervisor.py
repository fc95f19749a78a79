"""``concord serve --workers N``: the supervisor and the workers it starts.

The supervisor makes the run directory (one Unix socket per worker), starts the
workers, waits until each answers ``/healthz`` on its socket, and only then opens the
public port with the front (server/front.py, the request-level proxy). A worker that
dies is started again (its rooms are lost; their browsers reconnect on their own and
find a fresh room on the new process); SIGTERM or SIGINT stops the front and every
worker and removes the sockets. Workers are in a session of their own, so a
terminal's Ctrl-C reaches the supervisor alone and the shutdown happens in order;
each also watches its standard input, a pipe from the supervisor, and stops when it
closes, so no worker outlives a supervisor killed outright.
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
from pathlib import Path

import aiohttp
from aiohttp import web

from server import __version__, cluster
from server.config import Config
from server.front import Front
from server.processes import is_alive

logger = logging.getLogger(__name__)

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
