"""Janus VideoRoom as the peer for comparison: the server process and its client.

``python -m bench.room --vs janus`` measures Concord and then Janus under the
same load, with the same media clients and the same measurement
(:class:`bench.room.MediaPeer`, :func:`bench.room.measure_rooms`); this module
holds what is Janus's own:

- :func:`ensure_janus`: the Debian package ``janus`` (and gcc for the shim) is
  there, or is installed when we are root; otherwise :class:`JanusUnavailable`
  carries the command to run;
- :class:`JanusSetup` / :class:`JanusProcess`: a copy of ``bench/janus/etc``
  with its paths and HTTP port rewritten, ``lo_shim.so`` built with gcc, and
  ``LD_PRELOAD=lo_shim.so janus -F etc -C etc/janus.jcfg`` in a process group
  of its own that is always killed at the end;
- :class:`JanusSession` and :class:`JanusParticipant`: the HTTP long-poll API
  and the VideoRoom flow a browser's ``janus.js`` would follow: join as a
  publisher and publish an aiortc offer carrying the pre-encoded VP8 + Opus,
  then one multistream subscriber handle for every other publisher (Janus
  offers, we answer and ``start``; ``subscribe`` as more publishers appear).

Why loopback needs a shim: Janus leaves loopback interfaces out when it
gathers ICE candidates, and the benchmark must not send anything anywhere
else; ``bench/janus/lo_shim.c`` makes 127.0.0.1 look like an ordinary
interface to Janus and hides every other address.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription

from bench.room import (
    EXEC_LAUNCHER,
    HOST,
    Media,
    MediaPeer,
    Options,
    PeerFactory,
    Result,
    Stopper,
    free_port,
    measure_rooms,
)
from server.rooms import aiortc_adapter as adapter

logger = logging.getLogger("bench.janus")

#: The configuration and shim source kept with the benchmark.
JANUS_DIR = Path(__file__).resolve().parent / "janus"
#: Debian's package (1.1.2 on Debian 12), and gcc + headers to build the shim.
JANUS_PACKAGES = ("janus",)
SHIM_PACKAGES = ("gcc", "libc6-dev")
VIDEOROOM = "janus.plugin.videoroom"
#: The room ``etc/janus.plugin.videoroom.jcfg`` defines; more are created like it.
FIRST_ROOM = 1234
ROOM_SETTINGS: dict[str, Any] = {
    "publishers": 16,
    "bitrate": 0,
    "fir_freq": 0,
    "audiocodec": "opus",
    "videocodec": "vp8",
    "record": False,
}
#: Janus ends a session after ``session_timeout`` (120 s in our config) without a request.
KEEPALIVE_S = 25.0
REQUEST_TIMEOUT_S = 15.0


class JanusUnavailable(Exception):
    """Janus (or gcc for its shim) is missing and we may not install it: the message
    says what to run."""


class JanusApiError(RuntimeError):
    """Janus or its VideoRoom plugin refused a request."""


# --- installing and running Janus -------------------------------------------------------


def _missing_packages() -> list[str]:
    missing: list[str] = []
    if shutil.which("janus") is None:
        missing.extend(JANUS_PACKAGES)
    if shutil.which("gcc") is None:
        missing.extend(SHIM_PACKAGES)
    return missing


def _janus_pids() -> set[int]:
    """Processes whose command name is ``janus`` (read-only look at /proc)."""
    pids: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "janus":
                    pids.add(int(entry.name))
    return pids


def _stop_packaged_service() -> None:
    """Stop and disable the system service the package may have started.

    Debian's ``janus`` starts a system-wide Janus on installation where services
    may start (systemd, or sysvinit without a ``policy-rc.d`` forbidding it).
    The benchmark runs its own; it leaves nothing running, that one included.
    """
    if Path("/run/systemd/system").is_dir():
        commands = [["systemctl", "disable", "--now", "janus.service"]]
    else:
        commands = [["invoke-rc.d", "janus", "stop"], ["update-rc.d", "janus", "disable"]]
    for command in commands:
        logger.info("stopping the packaged Janus service: %s", " ".join(command))
        subprocess.run(command, check=False, stdin=subprocess.DEVNULL, stdout=sys.stderr)


def ensure_janus() -> None:
    """Janus and gcc are installed, or get installed (as root, with apt-get).

    Raises :class:`JanusUnavailable` with the exact command when we are not root
    or apt-get fails.
    """
    missing = _missing_packages()
    if not missing:
        return
    command = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if os.geteuid() != 0:
        raise JanusUnavailable(
            "--vs janus needs Janus (Debian package janus) and gcc for its loopback shim. "
            f"Install them, then run again:\n  sudo {' '.join(command)}"
        )
    logger.info("installing %s: %s", ", ".join(missing), " ".join(command))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def run(args: list[str]) -> int:
        # apt's chatter goes to stderr: stdout carries only the results (--json).
        done = subprocess.run(
            args, env=env, check=False, stdin=subprocess.DEVNULL, stdout=sys.stderr
        )
        return done.returncode

    before = _janus_pids()
    if run(command) != 0:
        logger.info("apt-get install failed; updating the package lists and trying again")
        run(["apt-get", "update"])
        if run(command) != 0:
            raise JanusUnavailable(f"could not install {', '.join(missing)}: {' '.join(command)}")
    if _janus_pids() - before:
        _stop_packaged_service()
    still = _missing_packages()
    if still:
        raise JanusUnavailable(f"still missing after apt-get: {', '.join(still)}")


def janus_lib_dir() -> Path | None:
    """Where the installed Janus keeps its plugins, transports, ... (multiarch path)."""
    for candidate in sorted(Path("/usr/lib").glob("*/janus")):
        if (candidate / "plugins" / "libjanus_videoroom.so").exists():
            return candidate
    return None


def rewrite_janus_jcfg(text: str, etc_dir: Path, lib_dir: Path | None) -> str:
    """``janus.jcfg`` with ``configs_folder`` set to ``etc_dir`` and, when the
    installed Janus keeps its modules elsewhere than the shipped (x86-64) paths,
    the four module folders set to ``lib_dir``."""

    def setting(key: str, value: str, text: str) -> str:
        pattern = re.compile(rf'^(\s*{key}\s*=\s*)"[^"\n]*"', re.MULTILINE)
        if not pattern.search(text):
            raise ValueError(f"janus.jcfg has no {key}")
        return pattern.sub(lambda m: f'{m.group(1)}"{value}"', text, count=1)

    text = setting("configs_folder", str(etc_dir), text)
    if lib_dir is not None:
        for kind in ("plugins", "transports", "events", "loggers"):
            text = setting(f"{kind}_folder", str(lib_dir / kind), text)
    return text


def rewrite_http_jcfg(text: str, port: int) -> str:
    """``janus.transport.http.jcfg`` with the API's ``port`` (not ``admin_port``) set."""
    pattern = re.compile(r"^(\s*port\s*=\s*)\d+", re.MULTILINE)
    if not pattern.search(text):
        raise ValueError("janus.transport.http.jcfg has no port")
    return pattern.sub(lambda m: f"{m.group(1)}{port}", text, count=1)


def write_config(dest: Path, port: int, lib_dir: Path | None, source: Path = JANUS_DIR) -> Path:
    """Copy ``source/etc`` to ``dest/etc`` with its paths and HTTP port rewritten."""
    etc = dest / "etc"
    shutil.copytree(source / "etc", etc)
    for path in etc.iterdir():
        path.chmod(0o644)
    main = etc / "janus.jcfg"
    main.write_text(rewrite_janus_jcfg(main.read_text(), etc.resolve(), lib_dir))
    http = etc / "janus.transport.http.jcfg"
    http.write_text(rewrite_http_jcfg(http.read_text(), port))
    return etc


def build_shim(dest: Path, source: Path = JANUS_DIR / "lo_shim.c") -> Path:
    """``gcc -shared -fPIC -o dest/lo_shim.so lo_shim.c -ldl``."""
    dest.mkdir(parents=True, exist_ok=True)
    shim = dest / "lo_shim.so"
    command = ["gcc", "-shared", "-fPIC", "-o", str(shim), str(source), "-ldl"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"building the loopback shim failed: {' '.join(command)}\n{done.stderr}")
    return shim


@dataclass(frozen=True)
class JanusSetup:
    """What every Janus run of one benchmark shares: the binary, its modules, the shim."""

    work_dir: Path
    binary: str
    lib_dir: Path | None
    shim: Path

    @classmethod
    def prepare(cls, work_dir: Path) -> JanusSetup:
        binary = shutil.which("janus")
        if binary is None:
            raise JanusUnavailable("janus is not installed (see ensure_janus)")
        lib_dir = janus_lib_dir()
        if lib_dir is None:
            logger.warning("no libjanus_videoroom.so under /usr/lib/*/janus: keeping the paths")
        return cls(work_dir, binary, lib_dir, build_shim(work_dir))


class JanusProcess:
    """Janus on a free loopback port, in a process group of its own.

    Started through ``EXEC_LAUNCHER`` (SIGTERM when the benchmark dies outright);
    :meth:`stop` kills the whole group, and the benchmark calls it in a
    ``finally``, so Ctrl-C and errors end Janus too.
    """

    name = "janus"

    def __init__(self, setup: JanusSetup) -> None:
        self.setup = setup
        self.port = free_port()
        self.dir = setup.work_dir / f"janus-{self.port}"
        self.log_path = self.dir / "janus.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The Janus API's base URL."""
        return f"http://{HOST}:{self.port}/janus"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        etc = write_config(self.dir, self.port, self.setup.lib_dir)
        preload = " ".join(p for p in (str(self.setup.shim), os.environ.get("LD_PRELOAD")) if p)
        env = {**os.environ, "LD_PRELOAD": preload}
        command = [self.setup.binary, "-F", str(etc), "-C", str(etc / "janus.jcfg")]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", EXEC_LAUNCHER, *command],
                env=env,
                cwd=self.dir,
                start_new_session=True,  # its own group: Ctrl-C reaches us; we kill it
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    async def wait_ready(self, within: float = 30.0) -> None:
        """Until ``GET /janus/info`` answers (the HTTP transport and plugins are up)."""
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as http:
            while True:
                if self.proc is None or self.proc.poll() is not None:
                    raise RuntimeError(f"Janus exited early:\n{self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(f"{self.url}/info") as response:
                        if response.status == 200:
                            info = await response.json(content_type=None)
                            if VIDEOROOM in info.get("plugins", {}):
                                return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Janus did not come up:\n{self.log_tail()}")
                await asyncio.sleep(0.1)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        # The leader is not reaped until wait() returns, so the group id stays ours.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


# --- the Janus API over HTTP ------------------------------------------------------------

EventHandler = Callable[[dict[str, Any]], None]


class JanusSession:
    """One Janus API session over HTTP: requests, a long poll for events, keepalives.

    Asynchronous plugin requests are answered ``ack`` at once and later by an
    event carrying the same transaction: :meth:`message` waits for it. Events
    without a pending transaction (new publishers, ``webrtcup``, ``hangup``,
    trickled candidates) go to the handle's ``on_event``.
    """

    _transactions = itertools.count(1)

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url
        self.id: int | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._handlers: dict[int, EventHandler] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            async with self.http.post(f"{self.url}{path}", json=body) as response:
                reply: dict[str, Any] = await response.json(content_type=None)
        if reply.get("janus") == "error":
            raise JanusApiError(f"{body.get('janus')}: {reply.get('error')}")
        return reply

    @classmethod
    def _transaction(cls) -> str:
        return f"t{next(cls._transactions)}"

    async def create(self) -> None:
        reply = await self._post("", {"janus": "create", "transaction": self._transaction()})
        self.id = int(reply["data"]["id"])
        self._tasks = [
            asyncio.create_task(self._poll(), name="janus long poll"),
            asyncio.create_task(self._keepalive(), name="janus keepalive"),
        ]

    async def attach(self, on_event: EventHandler) -> int:
        reply = await self._post(
            f"/{self.id}",
            {"janus": "attach", "plugin": VIDEOROOM, "transaction": self._transaction()},
        )
        handle = int(reply["data"]["id"])
        self._handlers[handle] = on_event
        return handle

    async def message(
        self, handle: int, body: dict[str, Any], jsep: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Send a plugin request; (the plugin's answer data, its JSEP or None)."""
        transaction = self._transaction()
        request: dict[str, Any] = {"janus": "message", "transaction": transaction, "body": body}
        if jsep is not None:
            request["jsep"] = jsep
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[transaction] = future
        try:
            reply = await self._post(f"/{self.id}/{handle}", request)
            if reply.get("janus") != "ack":  # a synchronous request: the answer is here
                event = reply
            else:
                async with asyncio.timeout(REQUEST_TIMEOUT_S):
                    event = await future
        finally:
            self._pending.pop(transaction, None)
        data: dict[str, Any] = event.get("plugindata", {}).get("data", {})
        if "error_code" in data or "error" in data:
            raise JanusApiError(f"{body.get('request')}: {data.get('error')}")
        return data, event.get("jsep")

    async def _poll(self) -> None:
        while True:
            try:
                async with asyncio.timeout(70):  # Janus answers an idle poll after 30 s
                    async with self.http.get(
                        f"{self.url}/{self.id}", params={"maxev": "10"}
                    ) as response:
                        events = await response.json(content_type=None)
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                logger.warning("janus long poll: %r", exc)
                await asyncio.sleep(0.2)
                continue
            for event in events if isinstance(events, list) else [events]:
                self._dispatch(event)

    def _dispatch(self, event: dict[str, Any]) -> None:
        future = self._pending.get(str(event.get("transaction")))
        if event.get("janus") == "event" and future is not None and not future.done():
            future.set_result(event)
            return
        handler = self._handlers.get(int(event.get("sender") or 0))
        if handler is not None:
            try:
                handler(event)
            except Exception:
                logger.exception("janus event handler failed")

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_S)
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError, JanusApiError):
                await self._post(
                    f"/{self.id}", {"janus": "keepalive", "transaction": self._transaction()}
                )

    async def destroy(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        if self.id is not None:
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError, JanusApiError):
                await self._post(
                    f"/{self.id}", {"janus": "destroy", "transaction": self._transaction()}
                )


async def ensure_rooms(http: aiohttp.ClientSession, url: str, count: int) -> list[int]:
    """``count`` VideoRoom rooms like the configured one (1234, then created 1235, ...)."""
    session = JanusSession(http, url)
    await session.create()
    try:
        handle = await session.attach(lambda _event: None)
        rooms: list[int] = []
        for room in range(FIRST_ROOM, FIRST_ROOM + count):
            exists, _ = await session.message(handle, {"request": "exists", "room": room})
            if not exists.get("exists"):
                await session.message(
                    handle,
                    {"request": "create", "room": room, "description": f"Load room {room}"}
                    | ROOM_SETTINGS,
                )
            rooms.append(room)
        return rooms
    finally:
        await session.destroy()


# --- a VideoRoom participant ------------------------------------------------------------


def slots_of_streams(streams: Sequence[dict[str, Any]]) -> dict[str, tuple[str, str | None]]:
    """mid → (kind, source feed id or None) from a subscriber's ``streams`` list."""
    slots: dict[str, tuple[str, str | None]] = {}
    for stream in streams:
        kind, mid = stream.get("type"), stream.get("mid")
        if kind not in ("audio", "video") or mid is None:
            continue
        feed = stream.get("feed_id")
        active = stream.get("active", True) and feed is not None
        slots[str(mid)] = (kind, str(feed) if active else None)
    return slots


def offer_jsep(sdp: str, kind: str) -> dict[str, Any]:
    """A JSEP for Janus: aiortc puts all its candidates in the SDP and never trickles."""
    return {"type": kind, "sdp": sdp, "trickle": False}


class JanusParticipant(MediaPeer):
    """A VideoRoom participant: a publisher handle and one multistream subscriber handle.

    :attr:`pid` is its publisher feed id (as the others' ``streams`` name it).
    ``join`` is the publisher ``join`` request: the join time runs from it to
    the first keyframe from anyone else, as with Concord.
    """

    def __init__(
        self, http: aiohttp.ClientSession, url: str, room: int, display: str, media: Media
    ) -> None:
        super().__init__(media.video, media.audio)
        self.http = http
        self.room = room
        self.display = display
        self.session = JanusSession(http, url)
        self.publisher_handle: int | None = None
        self.subscriber_handle: int | None = None
        self.private_id: int | None = None
        self._wanted: set[int] = set()
        self._subscribed: set[int] = set()
        self._subscribe_lock = asyncio.Lock()

    async def join(self) -> None:
        await self.session.create()
        self.publisher_handle = await self.session.attach(self._on_publisher_event)
        self.join_sent = time.monotonic()
        joined, _ = await self.session.message(
            self.publisher_handle,
            {"request": "join", "ptype": "publisher", "room": self.room, "display": self.display},
        )
        self.pid = str(joined["id"])
        self.private_id = joined.get("private_id")
        self._mark("admitted")
        self._want(joined.get("publishers", []))

    async def publish(self) -> None:
        assert self.publisher_handle is not None
        pc = self.new_publisher()
        await pc.setLocalDescription(await pc.createOffer())
        _configured, jsep = await self.session.message(
            self.publisher_handle,
            {"request": "publish", "audio": True, "video": True},
            offer_jsep(pc.localDescription.sdp, "offer"),
        )
        if jsep is None:
            raise JanusApiError("publish: no answer")
        await pc.setRemoteDescription(RTCSessionDescription(jsep["sdp"], "answer"))
        self._mark("published")

    def _on_publisher_event(self, event: dict[str, Any]) -> None:
        self._on_common_event(event, self.publisher)
        data = event.get("plugindata", {}).get("data", {})
        if data.get("publishers"):
            self._want(data["publishers"])

    def _on_subscriber_event(self, event: dict[str, Any]) -> None:
        self._on_common_event(event, self.subscriber)

    def _on_common_event(self, event: dict[str, Any], pc: RTCPeerConnection | None) -> None:
        kind = event.get("janus")
        if kind == "hangup":
            self.errors.append(f"hangup: {event.get('reason')}")
        elif kind == "trickle" and pc is not None:
            candidate = event.get("candidate", {})
            line = None if candidate.get("completed") else candidate.get("candidate", "")
            parsed = None if line is None else adapter.parse_candidate(line)
            if line is None or parsed is not None:
                self._spawn(adapter.add_bundled_candidate(pc, parsed))

    def _want(self, publishers: Sequence[dict[str, Any]]) -> None:
        fresh = {int(p["id"]) for p in publishers if "id" in p} - self._wanted
        if fresh:
            self._wanted |= fresh
            self._spawn(self._subscribe())

    async def _subscribe(self) -> None:
        """Subscribe to every wanted feed not subscribed yet: one negotiation at a time."""
        async with self._subscribe_lock:
            fresh = sorted(self._wanted - self._subscribed)
            if not fresh:
                return
            streams = [{"feed": feed} for feed in fresh]
            if self.subscriber_handle is None:
                self.subscriber_handle = await self.session.attach(self._on_subscriber_event)
                body: dict[str, Any] = {
                    "request": "join",
                    "ptype": "subscriber",
                    "room": self.room,
                    "streams": streams,
                }
                if self.private_id is not None:
                    body["private_id"] = self.private_id
            else:
                body = {"request": "subscribe", "streams": streams}
            data, jsep = await self.session.message(self.subscriber_handle, body)
            self._subscribed |= set(fresh)
            if jsep is None:
                return
            self._mark("offered")
            pc = self.subscriber or self.new_subscriber()
            answer = await self.answer_offer(
                pc, jsep["sdp"], slots_of_streams(data.get("streams", []))
            )
            await self.session.message(
                self.subscriber_handle, {"request": "start"}, offer_jsep(answer, "answer")
            )
            self._mark("answered")

    async def _leave(self) -> None:
        await self.session.destroy()


async def measure_janus(
    n: int, options: Options, setup: JanusSetup, media: Media, stop: Stopper
) -> Result:
    """A fresh Janus with ``options.rooms`` rooms of N, measured like Concord."""
    janus = JanusProcess(setup)
    try:
        janus.start()
        await janus.wait_ready()
        logger.info("janus N=%d: pid %d on %s", n, janus.pid, janus.url)
        async with aiohttp.ClientSession() as http:
            rooms = await ensure_rooms(http, janus.url, options.rooms)

        def factory(room: int, index: int) -> PeerFactory:
            def make(http: aiohttp.ClientSession) -> MediaPeer:
                return JanusParticipant(http, janus.url, room, f"r{room}-p{index + 1}", media)

            return make

        return await measure_rooms(
            janus.pid,
            [[factory(room, index) for index in range(n)] for room in rooms],
            seconds=options.seconds,
            warmup=options.warmup,
            join_gap=options.join_gap,
            stop=stop,
            server="janus",
        )
    finally:
        janus.stop()
