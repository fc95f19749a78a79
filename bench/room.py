"""Room benchmark: N participants, everyone receives everyone, through a real server.

``python -m bench.room [--n 3 4 6 8] [--seconds 20] [--warmup 5] [--join-gap 1]
[--rooms R] [--workers K] [--caucus-repeats 5] [--vs janus] [--json]``

For each N the benchmark:

1. books R sessions (``--rooms``, default 1) with N invitations each straight
   through the services against a fresh SQLite file (one staff invitation, a
   co-host admitted at once, and N-1 invitees: one party and observers);
2. starts ``concord serve --workers K`` (default 1) as a *separate process*
   (its CPU time and RSS, summed over its process tree, are read from
   ``/proc`` alone), media on 127.0.0.1 only, no STUN, with the
   server's opt-in media latency probe switched on;
3. joins the N participants of each room one after another from this process
   (one asyncio loop; the R rooms join side by side). Each publishes
   pre-encoded VP8 (640x360, 15 fps, ~500 kbps) and Opus (20 ms frames of a
   tone), replayed as ``av.Packet`` without encoding; on a PLI the replay jumps
   to the next keyframe of its loop. Subscribers never decode: they count the
   encoded frames the receiver reassembles
   (``aiortc_adapter.capture_encoded_frames``);
4. after a warm-up, measures over one window: server CPU (% of one core, and
   per forwarded audio+video stream, of which there are R*N*(N-1)), server
   RSS, received video frame rate per (subscriber, source), the join time
   (``join`` request to the first remote keyframe; the max over participants
   who join an occupied room) and the server-added latency the server itself
   measured (``GET /_internal/media/latency``; n/a where the server has no
   probe);
5. then, with N >= 3, times caucus switches: the host opens a caucus with the
   party, and the time from that request to the last packet from the caucus
   reaching anyone left outside is taken, ``--caucus-repeats`` times;
6. stops the server, and at the very end removes the temporary directory.

With ``--vs janus`` the same load generator then drives Janus VideoRoom
(``bench/janus_client.py``) with the same N, rooms, media and durations, and
one table compares the two, with the ratio Concord/Janus of each figure.

Results: a table (or ``--json``: one object per N, and per server with
``--vs``, per line) and the targets with PASS/FAIL. A missed target never
makes the exit status non-zero.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import random
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from types import FrameType
from typing import Any, Literal
from zoneinfo import ZoneInfo

import aiohttp
import av
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.sdp import SessionDescription
from av.packet import Packet
from av.stream import Stream

from server.rooms import aiortc_adapter as adapter
from server.signaling.messages import PROTOCOL

logger = logging.getLogger("bench.room")

Kind = Literal["audio", "video"]

HOST = "127.0.0.1"
WIDTH, HEIGHT, FPS = 640, 360, 15
VIDEO_BITRATE = 500_000
#: Frames between the periodic keyframes of the pre-encoded loop (2 s at 15 fps).
GOP = 30
#: Length of the pre-encoded loops.
CLIP_SECONDS = 8
AUDIO_RATE = 48_000
AUDIO_FRAME = 960  # 20 ms
AUDIO_BITRATE = 32_000
UDP_RECEIVE_BUFFER = 4 * 1024 * 1024
#: Observers a booking may carry (``BookingInput.observers``): N-1 invitees are
#: one party and N-2 observers.
MAX_N = 12
#: Rooms one run may hold side by side (each needs its own booked session).
MAX_ROOMS = 16
#: Caucus open/close cycles per room after the window (the issue asks for 5).
CAUCUS_REPEATS = 5
#: How long a caucus stays open, and the main room stays whole, in each cycle.
CAUCUS_HOLD_S = 1.0
#: The server's opt-in probe of its own forwarding latency (publisher datagram in
#: to forwarded copy out): switched on by this setting, read from this path.
LATENCY_PROBE_ENV = "CONCORD_MEDIA_LATENCY_PROBE"
LATENCY_PATH = "/_internal/media/latency"

#: Targets from the issue.
TARGET_FPS = 14.5
TARGET_FPS_AT_N = 8
TARGET_CPU_PER_STREAM = 0.9
TARGET_JOIN_S = 0.3

# --- pre-encoded media ----------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    """Encoded frames to replay in a loop; ``keyframes`` are indexes into ``frames``."""

    kind: Kind
    frames: list[bytes]
    keyframes: list[int]
    clock_rate: int
    ticks_per_frame: int

    @property
    def period(self) -> float:
        return self.ticks_per_frame / self.clock_rate

    @property
    def bitrate(self) -> float:
        """Mean bits per second of the loop."""
        return sum(len(f) for f in self.frames) * 8 / (len(self.frames) * self.period)


def encode_video(seconds: int = CLIP_SECONDS, *, bitrate: int = VIDEO_BITRATE) -> Clip:
    """A synthetic 640x360 15 fps VP8 loop (libvpx, CBR), a keyframe every ``GOP`` frames.

    The picture is a scrolling gradient with a moving block of fresh noise in
    each frame, so the encoder has to spend its budget (~20 KB keyframes,
    ~3 KB inter frames at 500 kbps).
    """
    codec = av.CodecContext.create("libvpx", "w")
    assert isinstance(codec, av.VideoCodecContext)
    codec.width, codec.height = WIDTH, HEIGHT
    codec.pix_fmt = "yuv420p"
    codec.framerate = Fraction(FPS, 1)
    codec.time_base = Fraction(1, FPS)
    codec.bit_rate = bitrate
    codec.gop_size = GOP
    codec.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "auto-alt-ref": "0",
        "minrate": str(bitrate),
        "maxrate": str(bitrate),
        "bufsize": str(2 * bitrate),
    }
    codec.open()
    rng = random.Random(1)
    block_w, block_h = 240, 135
    noise = rng.randbytes(block_w * block_h * 4)
    row = bytes((x * 255) // WIDTH for x in range(WIDTH))
    chroma = bytes([128]) * ((WIDTH // 2) * (HEIGHT // 2))
    frames: list[bytes] = []
    keyframes: list[int] = []

    def take(packets: list[Packet[Stream]]) -> None:
        for packet in packets:
            if packet.is_keyframe:
                keyframes.append(len(frames))
            frames.append(bytes(packet))

    for i in range(seconds * FPS):
        shift = (i * 9) % WIDTH
        luma = bytearray((row[shift:] + row[:shift]) * HEIGHT)
        x0, y0 = (i * 13) % (WIDTH - block_w), (i * 5) % (HEIGHT - block_h)
        start = (i * block_w * 7) % (len(noise) - block_w * block_h)
        for r in range(block_h):
            at = (y0 + r) * WIDTH + x0
            luma[at : at + block_w] = noise[start + r * block_w : start + (r + 1) * block_w]
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        frame.planes[0].update(bytes(luma))
        frame.planes[1].update(chroma)
        frame.planes[2].update(chroma)
        frame.pts = i
        take(list(codec.encode(frame)))
    take(list(codec.encode(None)))
    if not keyframes or keyframes[0] != 0:
        raise RuntimeError("libvpx did not start the loop with a keyframe")
    if any(not adapter.is_vp8_keyframe(frames[i]) for i in keyframes):
        raise RuntimeError("libvpx keyframes do not look like VP8 keyframes")
    return Clip("video", frames, keyframes, 90_000, 90_000 // FPS)


def encode_audio(seconds: int = 2) -> Clip:
    """A 440 Hz tone as Opus (libopus), 20 ms frames, mono, ~32 kbps."""
    codec = av.CodecContext.create("libopus", "w")
    assert isinstance(codec, av.AudioCodecContext)
    codec.sample_rate = AUDIO_RATE
    codec.layout = "mono"
    codec.format = "s16"
    codec.bit_rate = AUDIO_BITRATE
    codec.time_base = Fraction(1, AUDIO_RATE)
    codec.open()
    frames: list[bytes] = []
    count = seconds * AUDIO_RATE // AUDIO_FRAME
    for i in range(count):
        first = i * AUDIO_FRAME
        pcm = struct.pack(
            f"<{AUDIO_FRAME}h",
            *(
                int(8000 * math.sin(2 * math.pi * 440 * (first + k) / AUDIO_RATE))
                for k in range(AUDIO_FRAME)
            ),
        )
        frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_FRAME)
        frame.sample_rate = AUDIO_RATE
        frame.planes[0].update(pcm)
        frame.pts = first
        frame.time_base = Fraction(1, AUDIO_RATE)
        frames.extend(bytes(p) for p in codec.encode(frame))
    frames.extend(bytes(p) for p in codec.encode(None))
    frames = frames[:count]  # the flush adds a short tail
    return Clip("audio", frames, [0], AUDIO_RATE, AUDIO_FRAME)


class ReplayTrack(MediaStreamTrack):
    """Replays a :class:`Clip` in a loop, paced in real time, as ``av.Packet``.

    ``RTCRtpSender`` packs the bytes without encoding. Timestamps grow by one
    frame period per frame, whatever is replayed. :meth:`request_keyframe`
    (hooked to the sender's PLI/FIR handling) makes the next frame the next
    keyframe of the loop, as a browser's encoder would answer a PLI. When the
    event loop falls far behind, the schedule is reset instead of bursting.
    """

    def __init__(self, clip: Clip) -> None:
        super().__init__()
        self.kind = clip.kind
        self._clip = clip
        self._time_base = Fraction(1, clip.clock_rate)
        self._index = 0  # a keyframe: the loop starts with one
        self._count = 0
        self._start: float | None = None
        self._jump = False
        self.sent = 0
        self.keyframes_sent = 0
        self.keyframe_requests = 0

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1
        self._jump = True

    def _next_index(self) -> int:
        index = self._index
        if self._jump:
            self._jump = False
            later = [k for k in self._clip.keyframes if k >= index]
            index = later[0] if later else self._clip.keyframes[0]
        self._index = (index + 1) % len(self._clip.frames)
        return index

    async def recv(self) -> Packet[Stream]:
        if self.readyState != "live":
            raise MediaStreamError
        period = self._clip.period
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._count * period
        if due - now > 0:
            await asyncio.sleep(due - now)
        elif now - due > 0.5:  # stalled: start the schedule again rather than burst
            self._start = now - self._count * period
        index = self._next_index()
        packet: Packet[Stream] = Packet(self._clip.frames[index])
        packet.pts = self._count * self._clip.ticks_per_frame
        packet.time_base = self._time_base
        self._count += 1
        self.sent += 1
        if self.kind == "video" and index in self._clip.keyframes:
            self.keyframes_sent += 1
        return packet


# --- the server as a separate process ---------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def clean_env(data_dir: Path, port: int) -> dict[str, str]:
    """This environment without any CONCORD_* setting, plus the benchmark's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    env.update(
        CONCORD_DATA_DIR=str(data_dir),
        CONCORD_DATABASE_URL=database_url(data_dir),
        CONCORD_HOST=HOST,
        CONCORD_PORT=str(port),
        CONCORD_ICE_HOST_ADDRESSES=json.dumps([HOST]),
        CONCORD_ICE_SERVERS="[]",
        CONCORD_ROOM_OPEN_MINUTES_BEFORE="60",
    )
    return env


def database_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{(data_dir / 'concord.db').resolve()}"


#: Runs the server in its own process with PR_SET_PDEATHSIG, so it gets SIGTERM
#: even if the benchmark is killed outright (the setting survives exec).
_LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "try:\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)\n"
    "except Exception:\n"
    "    pass\n"
    "if os.getppid() == 1:\n"
    "    sys.exit(1)\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'server', *sys.argv[1:]])\n"
)

#: The same for any program (``sys.argv[1:]`` is the command): Janus gets it too.
EXEC_LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "try:\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)\n"
    "except Exception:\n"
    "    pass\n"
    "if os.getppid() == 1:\n"
    "    sys.exit(1)\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
)


def concord(args: Sequence[str], env: dict[str, str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """``concord <args>`` (as ``python -m server``) in a child process of its own."""
    return subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, *args],
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        start_new_session=True,  # Ctrl-C reaches the benchmark only; it stops the server
        **kwargs,
    )


def cpu_seconds(pid: int | str) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants (from the ppid field of /proc/*/stat).

    A server started with ``--workers K`` runs its workers as child processes:
    they are its CPU and memory as much as the first process's.
    """
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def start_time(pid: int) -> int | None:
    """When a process started (clock ticks since boot; None: it is gone, or a zombie).

    With its pid it names the process for good: a pid reused later has another.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return None if fields[0] == "Z" else int(fields[19])


def end_leftovers(processes: dict[int, int | None], within: float) -> None:
    """Wait up to ``within`` s for these processes (pid → :func:`start_time`) to end,
    then SIGKILL those still running (a reused pid is left alone)."""
    deadline = time.monotonic() + within
    alive = {pid: started for pid, started in processes.items() if started is not None}
    while alive:
        alive = {pid: started for pid, started in alive.items() if start_time(pid) == started}
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for pid in alive:
        logger.warning("process %d outlived its server: killing it", pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def tree_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds of each process in ``pid``'s tree (see :func:`process_tree`)."""
    times: dict[int, float] = {}
    for member in process_tree(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            times[member] = cpu_seconds(member)
    return times


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds a process tree used between two :func:`tree_cpu_seconds` readings.

    A process that appeared meanwhile counts in full; one that ended is lost
    (its time is not in any reading after it).
    """
    return sum(max(0.0, spent - before.get(pid, 0.0)) for pid, spent in after.items())


def machine_busy_seconds() -> float:
    """CPU time all cores spent busy (not idle, not waiting for I/O), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int | str) -> float:
    """VmRSS from /proc/<pid>/status, in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no VmRSS for process {pid}")


def tree_rss_mb(pid: int) -> float:
    """The sum of VmRSS over ``pid``'s process tree, in MB.

    For one process it is :func:`rss_mb`; with several it counts shared pages
    (libraries) once per process, so it overstates a little.
    """
    total = 0.0
    for member in process_tree(pid):
        with contextlib.suppress(OSError, RuntimeError):
            total += rss_mb(member)
    return total


class ServerProcess:
    """``concord serve`` on a free loopback port; :meth:`stop` always ends it.

    The server's media latency probe is switched on (``LATENCY_PROBE_ENV``):
    a server that does not know the setting ignores it.
    """

    name = "concord"

    def __init__(self, data_dir: Path, workers: int | None = None) -> None:
        self.data_dir = data_dir
        self.workers = workers
        self.port = free_port()
        self.log_path = data_dir / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        env = clean_env(self.data_dir, self.port)
        env[LATENCY_PROBE_ENV] = "true"
        args = ["serve"] if self.workers is None else ["serve", "--workers", str(self.workers)]
        with self.log_path.open("wb") as log:
            self.proc = concord(
                args, env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    async def wait_healthy(self, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as http:
            while True:
                if self.proc is None or self.proc.poll() is not None:
                    raise RuntimeError(f"the server exited early:\n{self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not come up:\n{self.log_tail()}")
                await asyncio.sleep(0.1)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGINT, then SIGKILL after 10 s; workers it started and left behind are
        killed too (a multi-process server runs its workers in sessions of their own)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        children = {pid: start_time(pid) for pid in process_tree(proc.pid) if pid != proc.pid}
        proc.send_signal(signal.SIGINT)  # aiohttp's run_app shuts down cleanly on it
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # not reaped yet: the group is still ours
            proc.wait(timeout=10)
        end_leftovers(children, within=10.0)


def serve_accepts_workers() -> bool:
    """Whether this Concord's ``concord serve`` has a ``--workers`` option."""
    proc = concord(
        ["serve", "--help"],
        {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    out, _ = proc.communicate(timeout=60)
    return b"--workers" in out


def migrate(data_dir: Path) -> None:
    proc = concord(
        ["migrate"],
        clean_env(data_dir, free_port()),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    out, _ = proc.communicate(timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"concord migrate failed:\n{out.decode(errors='replace')}")


@dataclass(frozen=True)
class Latency:
    """The server's own figures for the time from a publisher's datagram arriving to
    each forwarded copy's ``sendto``, over the packets since the last reset."""

    packets: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def parse_latency(payload: Any) -> Latency | None:
    """The probe's JSON body as :class:`Latency`; None when it holds no packets or is
    not of the agreed shape (``packets``, ``p50_ms``, ``p99_ms``, ``max_ms``)."""
    if not isinstance(payload, dict):
        return None
    try:
        latency = Latency(
            packets=int(payload["packets"]),
            p50_ms=float(payload["p50_ms"]),
            p99_ms=float(payload["p99_ms"]),
            max_ms=float(payload["max_ms"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
    return latency if latency.packets > 0 else None


async def read_latency(http: aiohttp.ClientSession, url: str) -> Latency | None:
    """Read and reset the server's latency probe; None where the server has none.

    The probe is being added to the server separately: a 404 (or anything but a
    JSON 200) means "not available", which the table prints as n/a.
    """
    try:
        async with asyncio.timeout(5):
            async with http.get(f"{url}{LATENCY_PATH}", params={"reset": "1"}) as response:
                if response.status != 200:
                    if response.status != 404:
                        logger.warning("latency probe answered HTTP %d", response.status)
                    return None
                return parse_latency(await response.json(content_type=None))
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
        logger.warning("latency probe unreadable: %r", exc)
        return None


# --- the booked session -----------------------------------------------------------------


@dataclass(frozen=True)
class Staff:
    station_id: int
    office_id: int
    officer_id: int
    auxiliary_id: int


@dataclass(frozen=True)
class RoomTokens:
    session_id: int
    host: str  # a staff invitation: a co-host, admitted at once
    invitees: list[str]  # one party, then observers: they knock and are admitted


def _config(data_dir: Path) -> Any:
    from server.config import Config

    return Config(data_dir=data_dir, database_url=database_url(data_dir))


async def seed_staff(data_dir: Path) -> Staff:
    """A station, a beat office, its officer and an auxiliary (no usable password)."""
    from server.auth.roles import Role
    from server.db import make_engine, make_session_factory, transaction
    from server.models import BeatOffice, StaffUser, Station

    engine = make_engine(_config(data_dir).effective_database_url)
    try:
        async with transaction(make_session_factory(engine)) as db:
            station = Station(name="基准派出所", short_name="基准")
            db.add(station)
            await db.flush()
            assert station.id is not None
            office = BeatOffice(station_id=station.id, name="基准社区警务室")
            db.add(office)
            await db.flush()
            assert office.id is not None
            users = {
                name: StaffUser(
                    station_id=station.id,
                    office_id=office.id,
                    username=f"bench-{name}",
                    display_name=label,
                    role=role,
                    password_hash="!",  # not a hash: nobody logs in
                )
                for name, label, role in (
                    ("officer", "基准民警", Role.OFFICER),
                    ("auxiliary", "基准辅警", Role.AUXILIARY),
                )
            }
            db.add_all(users.values())
            await db.flush()
            officer_id, auxiliary_id = users["officer"].id, users["auxiliary"].id
            assert officer_id is not None and auxiliary_id is not None
            return Staff(station.id, office.id, officer_id, auxiliary_id)
    finally:
        await engine.dispose()


async def book_room(data_dir: Path, staff: Staff, n: int, *, room: int = 0) -> RoomTokens:
    """A triaged dispute and a session starting in 5 minutes with N invitations.

    Each of a run's rooms (``room``: 0, 1, ...) is a session of its own: the
    same officer presides over all of them at once (``confirm_conflicts``).
    """
    from server.auth.sessions import actor_for
    from server.db import make_engine, make_session_factory, transaction
    from server.disputes import service as disputes
    from server.disputes.schemas import DisputeInput, TriageInput
    from server.models import StaffUser, utcnow
    from server.pii import PiiVault
    from server.sessions import service as sessions
    from server.sessions.schemas import BookingInput, ObserverInput

    if not 2 <= n <= MAX_N:
        raise ValueError(f"N must be between 2 and {MAX_N}")
    config = _config(data_dir)
    vault = PiiVault(config.secret())
    tz = ZoneInfo(config.timezone)
    engine = make_engine(config.effective_database_url)
    try:
        async with transaction(make_session_factory(engine)) as db:
            officer = await db.get(StaffUser, staff.officer_id)
            assert officer is not None
            actor = actor_for(officer, ip=HOST, user_agent="concord bench")
            data = DisputeInput.model_validate(
                {
                    "office_id": staff.office_id,
                    "title": f"基准测试 {n} 人 #{room + 1}",
                    "category": "neighbour",
                    "cause": "基准测试",
                    "occurred_at": datetime.now(UTC) - timedelta(days=1),
                    "place": "回环地址",
                    "scale": 2,
                    "trend": "stable",
                    "parties": [
                        {"name": "甲方", "role": "applicant"},
                        {"name": "乙方", "role": "respondent"},
                    ],
                }
            )
            dispute = await disputes.register(db, actor, data, vault=vault, tz=tz)
            assert dispute.id is not None
            await disputes.triage(
                db,
                actor,
                dispute.id,
                TriageInput(risk_level="attention", assignee_id=staff.officer_id, reason="基准"),
            )
            parties = await disputes.parties_of(db, dispute.id)
            applicant = next(p for p in parties if p.role == "applicant")
            assert applicant.id is not None
            booking = await sessions.book(
                db,
                actor,
                dispute.id,
                BookingInput(
                    starts_at=utcnow() + timedelta(minutes=5),
                    duration_minutes=60,
                    legal_track="people",
                    presiding_officer_id=staff.officer_id,
                    party_ids=[applicant.id],
                    staff_ids=[staff.auxiliary_id],
                    observers=[ObserverInput(name=f"观察员{i + 1}") for i in range(n - 2)],
                    confirm_conflicts=True,
                ),
                vault=vault,
                tz=tz,
            )
            assert booking.session.id is not None
            host = next(i.token for i in booking.issued if i.invitation.role == "staff")
            party = [i.token for i in booking.issued if i.invitation.party_id is not None]
            observers = [i.token for i in booking.issued if i.invitation.role == "observer"]
            return RoomTokens(booking.session.id, host, (party + observers)[: n - 1])
    finally:
        await engine.dispose()


# --- a participant's media: shared by every server's client -------------------------------


def rtc_configuration() -> RTCConfiguration:
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


#: aiortc's per-packet entry point of a receiver (private: aiortc 1.16.0's
#: ``RTCDtlsTransport`` calls ``receiver._handle_rtp_packet(packet, arrival_time_ms=...)``
#: for every SRTP-decrypted RTP packet routed to that receiver). Wrapped per
#: instance by :meth:`MediaPeer._watch_rtp`; ``tests/test_bench.py`` checks it exists.
RX_HANDLE_RTP = "_handle_rtp_packet"
_RTP_WATCH_MARK = "_bench_rtp_watched"


class MediaPeer(abc.ABC):
    """One simulated browser's media, whatever server it talks to.

    It publishes :class:`ReplayTrack`s on a publisher connection and never
    decodes what its subscriber connection receives: the receivers hand each
    reassembled encoded frame to a callback (see :meth:`_capture`) that counts
    it per (source, kind) and notes when the first keyframe from each source
    arrived. Every RTP packet's arrival is noted per source too (for the caucus
    switch time). A subclass speaks one server's signalling: it fills
    :attr:`pid` (this participant's id as the others' ``slots`` name it),
    :attr:`join_sent` and :attr:`slots`, and calls :meth:`new_publisher`,
    :meth:`new_subscriber`, :meth:`answer_offer` and :meth:`_mark`, so the
    measurement is the same code for every server.
    """

    def __init__(self, video: Clip, audio: Clip) -> None:
        self.pid = ""
        self.video = ReplayTrack(video)
        self.audio = ReplayTrack(audio)
        self.publisher: RTCPeerConnection | None = None
        self.subscriber: RTCPeerConnection | None = None
        #: mid → (kind, source participant id or None) of the subscriber connection.
        self.slots: dict[str, tuple[str, str | None]] = {}
        self.frames: Counter[tuple[str, str]] = Counter()
        self.first_keyframe: dict[str, float] = {}
        #: source → when its last RTP packet arrived (monotonic clock).
        self.last_rtp: dict[str, float] = {}
        self.join_sent: float | None = None
        #: When each step of joining finished (monotonic clock), for the breakdown.
        self.marks: dict[str, float] = {}
        self.errors: list[str] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        # mid → the last source named for it: a section that turned inactive keeps
        # its source, so packets still in flight from it are not lost to the count.
        self._rtp_source: dict[str, str] = {}

    @abc.abstractmethod
    async def join(self) -> None:
        """Enter the room (and be admitted); sets :attr:`pid` and :attr:`join_sent`."""

    @abc.abstractmethod
    async def publish(self) -> None:
        """Negotiate the publisher connection (see :meth:`new_publisher`)."""

    @abc.abstractmethod
    async def _leave(self) -> None:
        """Close the signalling (called by :meth:`close`, errors ignored)."""

    # -- media -------------------------------------------------------------------------

    def new_publisher(self) -> RTCPeerConnection:
        """A send-only Opus + VP8 connection; PLIs make the replay jump to a keyframe."""
        pc = self.publisher = RTCPeerConnection(rtc_configuration())
        audio = pc.addTransceiver(self.audio, direction="sendonly")
        video = pc.addTransceiver(self.video, direction="sendonly")
        for transceiver in (audio, video):
            adapter.restrict_codecs(transceiver)
        adapter.hook_keyframe_requests(video.sender, self.video.request_keyframe)
        adapter.configure_ice(pc, [HOST], UDP_RECEIVE_BUFFER)
        return pc

    def new_subscriber(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(rtc_configuration())

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "connected" and pc is self.subscriber:
                self._mark("connected")

        self.subscriber = pc
        return pc

    async def answer_offer(
        self, pc: RTCPeerConnection, sdp: str, slots: dict[str, tuple[str, str | None]]
    ) -> str:
        """Apply the server's offer on the subscriber connection, capture every receiver,
        and return the answer's SDP. ``slots`` names each section's kind and source."""
        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        self.slots = slots
        for mid, (_kind, source) in slots.items():
            if source is not None:
                self._rtp_source[mid] = source
        for transceiver in pc.getTransceivers():
            self._capture(transceiver)
        adapter.configure_ice(pc, [HOST], UDP_RECEIVE_BUFFER)
        await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    def _capture(self, transceiver: RTCRtpTransceiver) -> None:
        mid = transceiver.mid
        if mid is None:
            return

        def on_frame(mime: str, data: bytes, _timestamp: int) -> None:
            kind, source = self.slots.get(mid, ("", None))
            if source is None:
                return
            self.frames[(source, kind)] += 1
            self._mark("first_frame")
            if (
                kind == "video"
                and source not in self.first_keyframe
                and adapter.is_vp8_keyframe(data)
            ):
                self.first_keyframe[source] = time.monotonic()

        adapter.capture_encoded_frames(transceiver.receiver, on_frame)
        self._watch_rtp(transceiver.receiver, mid)

    def _watch_rtp(self, receiver: RTCRtpReceiver, mid: str) -> None:
        """Note the arrival time of every RTP packet this receiver gets, per source.

        The caucus switch time ends at the last packet from the caucus that
        reaches someone outside it: only the client can see that, and only
        per packet (frames are released later, and not at all once a section
        is inactive). Wraps the receiver's packet handler (see ``RX_HANDLE_RTP``).
        """
        if getattr(receiver, _RTP_WATCH_MARK, False):
            return
        original = getattr(receiver, RX_HANDLE_RTP)

        async def handle_rtp_packet(packet: Any, arrival_time_ms: int) -> None:
            source = self._rtp_source.get(mid)
            if source is not None:
                self.last_rtp[source] = time.monotonic()
            await original(packet, arrival_time_ms=arrival_time_ms)

        setattr(receiver, RX_HANDLE_RTP, handle_rtp_packet)
        setattr(receiver, _RTP_WATCH_MARK, True)

    def _mark(self, step: str) -> None:
        self.marks.setdefault(step, time.monotonic())

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.errors.append(repr(task.exception()))
            logger.warning("%s: %r", self.pid or "participant", task.exception())

    # -- figures -----------------------------------------------------------------------

    def join_seconds(self) -> float | None:
        """From ``join`` to the first keyframe from anyone else (None: none yet)."""
        if self.join_sent is None or not self.first_keyframe:
            return None
        return min(self.first_keyframe.values()) - self.join_sent

    def join_steps(self, earlier: Sequence[str]) -> dict[str, float]:
        """Seconds from ``join`` to each step of joining that happened.

        ``all_keyframes``: a keyframe from every one of ``earlier`` (those in
        the room before this participant joined) arrived.
        """
        if self.join_sent is None:
            return {}
        steps = dict(self.marks)
        if self.first_keyframe:
            steps["first_keyframe"] = min(self.first_keyframe.values())
        if earlier and all(pid in self.first_keyframe for pid in earlier):
            steps["all_keyframes"] = max(self.first_keyframe[pid] for pid in earlier)
        return {step: at - self.join_sent for step, at in steps.items()}

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await self._leave()
        for pc in (self.subscriber, self.publisher):
            if pc is not None:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(5):
                        await pc.close()
        self.subscriber = self.publisher = None


# --- a Concord participant ------------------------------------------------------------------


def slots_of(sdp: str) -> dict[str, tuple[str, str | None]]:
    """mid → (kind, source participant id or None) as the server's offer names them."""
    slots: dict[str, tuple[str, str | None]] = {}
    for media in SessionDescription.parse(sdp).media:
        source = None
        if media.direction == "sendonly" and media.msid:
            stream_id = media.msid.split()[0]
            source = None if stream_id == "-" else stream_id
        if media.rtp.muxId:
            slots[media.rtp.muxId] = (media.kind, source)
    return slots


class Participant(MediaPeer):
    """A Concord participant: the ``concord.v1`` WebSocket, a publisher connection and
    a subscriber connection the server offers (like a browser's room page)."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        url: str,
        token: str,
        video: Clip,
        audio: Clip,
        *,
        host: bool = False,
    ) -> None:
        super().__init__(video, audio)
        self.http = http
        self.url = url
        self.token = token
        self.is_host = host
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.connection: int | None = None
        self.admitted = asyncio.Event()
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._offer_lock = asyncio.Lock()
        self._admit_asked: set[str] = set()

    # -- signalling --------------------------------------------------------------------

    async def join(self) -> None:
        """Connect, send ``join``, and wait to be admitted (a host admits knockers)."""
        self.ws = await self.http.ws_connect(
            f"{self.url}/ws/room?token={self.token}", protocols=(PROTOCOL,), autoping=True
        )
        self._reader = asyncio.create_task(self._read(), name="bench reader")
        self.join_sent = time.monotonic()
        joined = await self.request("join")
        if not joined.get("ok"):
            raise RuntimeError(f"join refused: {joined}")
        self.pid = joined["data"]["participant_id"]
        if joined["data"]["admission"] == "admitted":
            self._mark("admitted")
            self.admitted.set()
        if self.is_host:
            self._admit_lobby(joined["data"]["room"])
        async with asyncio.timeout(15):
            await self.admitted.wait()

    async def request(self, type_: str, **fields: Any) -> dict[str, Any]:
        _sent, response = await self.timed_request(type_, **fields)
        return response

    async def timed_request(self, type_: str, **fields: Any) -> tuple[float, dict[str, Any]]:
        """Send a request; (monotonic time just before it went out, the response)."""
        assert self.ws is not None
        self._next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = future
        sent = time.monotonic()
        await self.ws.send_json({"type": type_, "id": self._next_id, **fields})
        async with asyncio.timeout(15):
            return sent, await future

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(msg.data)
            kind = data.get("type")
            if kind == "response":
                future = self._pending.pop(data.get("id"), None)
                if future is not None and not future.done():
                    future.set_result(data)
            elif kind == "you_were_admitted":
                self._mark("admitted")
                self.admitted.set()
            elif kind == "room_updated" and self.is_host:
                self._admit_lobby(data["room"])
            elif kind == "subscriber_offered":
                self._spawn(self._answer(data["sdp"], int(data["connection"])))

    def _admit_lobby(self, room: dict[str, Any]) -> None:
        for person in room.get("participants", []):
            pid = person.get("id")
            if person.get("admission") == "lobby" and pid not in self._admit_asked:
                self._admit_asked.add(pid)
                self._spawn(self.request("admit", participant_id=pid))

    async def _leave(self) -> None:
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader

    # -- host controls -----------------------------------------------------------------

    async def open_caucus(self, member_ids: Sequence[str]) -> tuple[float, str]:
        """Open a caucus with ``member_ids`` (and this host): (request time, caucus id)."""
        sent, response = await self.timed_request(
            "open_caucus", participant_ids=list(member_ids), name="bench"
        )
        if not response.get("ok"):
            raise RuntimeError(f"open_caucus refused: {response}")
        return sent, str(response["data"]["caucus_id"])

    async def close_caucus(self, caucus_id: str) -> None:
        response = await self.request("close_caucus", caucus_id=caucus_id)
        if not response.get("ok"):
            raise RuntimeError(f"close_caucus refused: {response}")

    # -- media -------------------------------------------------------------------------

    async def publish(self) -> None:
        """Offer send-only Opus + VP8 on the publisher connection."""
        pc = self.new_publisher()
        await pc.setLocalDescription(await pc.createOffer())
        answer = await self.request("publish_offer", sdp=pc.localDescription.sdp)
        if not answer.get("ok"):
            raise RuntimeError(f"publish_offer refused: {answer}")
        await pc.setRemoteDescription(RTCSessionDescription(answer["data"]["sdp"], "answer"))
        self._mark("published")

    async def _answer(self, sdp: str, connection: int) -> None:
        async with self._offer_lock:
            if self.subscriber is None or connection != self.connection:
                if self.subscriber is not None:
                    self._spawn(self.subscriber.close())
                self.new_subscriber()
                self.connection = connection
            pc = self.subscriber
            assert pc is not None
            self._mark("offered")
            answer = await self.answer_offer(pc, sdp, slots_of(sdp))
            answered = await self.request("subscriber_answer", sdp=answer)
            if not answered.get("ok"):
                raise RuntimeError(f"subscriber_answer refused: {answered}")
            self._mark("answered")


# --- one run ------------------------------------------------------------------------------


class Stopper:
    """Ends the run on SIGINT (Ctrl-C) or SIGTERM: cancels the main task.

    Should some library swallow that cancellation, every later pause and join
    step raises it again, so the run still ends (and cleans up) promptly.
    """

    def __init__(self) -> None:
        self.signal: int | None = None
        self._event = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._on_signal, signum)

    def uninstall(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)

    def _on_signal(self, signum: int) -> None:
        self.signal = signum
        self._event.set()
        if self._task is not None:
            self._task.cancel()

    def check(self) -> None:
        if self.signal is not None:
            raise asyncio.CancelledError()

    async def sleep(self, seconds: float) -> None:
        self.check()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._event.wait()
        self.check()


@dataclass
class Result:
    n: int
    streams: int
    cpu_pct: float
    cpu_pct_per_stream: float
    rss_mb: float
    #: The server's RSS once healthy, before anyone joined.
    rss_idle_mb: float
    fps_min: float
    fps_mean: float
    join_s: float | None
    join_mean_s: float | None
    #: Join time of each participant after the first, in joining order (None: no keyframe).
    join_each_s: list[float | None]
    audio_fps_min: float
    client_cpu_pct: float
    #: CPU used by everything else on the machine during the window (% of one core):
    #: when it is high, the other figures are disturbed.
    others_cpu_pct: float
    window_s: float
    missing_pairs: int
    #: Mean seconds from ``join`` to each step, over those who joined an occupied room.
    join_steps: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: Which server forwarded: "concord" or "janus".
    server: str = "concord"
    #: Rooms of ``n`` run side by side (``streams`` and the CPU per stream cover all).
    rooms: int = 1
    #: ``concord serve --workers`` (1 by default where the option exists); None when
    #: not passed (a Concord without it, or another server).
    workers: int | None = None
    #: The server's own forwarding latency over the window; None: not available.
    latency: Latency | None = None
    #: Each caucus switch time measured after the window (empty: not measured).
    caucus_switch_s: list[float] = field(default_factory=list)
    #: Concord/Janus of each compared figure (:func:`compare`), on Concord rows of a
    #: ``--vs janus`` run; None elsewhere.
    vs_janus: dict[str, float | None] | None = None

    @property
    def caucus_max_s(self) -> float | None:
        return max(self.caucus_switch_s) if self.caucus_switch_s else None

    @property
    def caucus_median_s(self) -> float | None:
        return statistics.median(self.caucus_switch_s) if self.caucus_switch_s else None

    def as_json(self) -> dict[str, Any]:
        latency = self.latency
        out: dict[str, Any] = {
            "n": self.n,
            "cpu_pct_per_stream": _round(self.cpu_pct_per_stream, 3),
            "rss_mb": _round(self.rss_mb, 1),
            "rss_idle_mb": _round(self.rss_idle_mb, 1),
            "fps_min": _round(self.fps_min, 2),
            "fps_mean": _round(self.fps_mean, 2),
            "join_s": _round(self.join_s, 3),
            "join_mean_s": _round(self.join_mean_s, 3),
            "join_each_s": [_round(j, 3) for j in self.join_each_s],
            "streams": self.streams,
            "cpu_pct": _round(self.cpu_pct, 1),
            "audio_fps_min": _round(self.audio_fps_min, 2),
            "client_cpu_pct": _round(self.client_cpu_pct, 1),
            "others_cpu_pct": _round(self.others_cpu_pct, 1),
            "window_s": _round(self.window_s, 2),
            "missing_pairs": self.missing_pairs,
            "join_steps_s": {k: round(v, 3) for k, v in self.join_steps.items()},
            "errors": self.errors[:5],
            "server": self.server,
            "rooms": self.rooms,
            "workers": self.workers,
            "latency_p50_ms": None if latency is None else round(latency.p50_ms, 3),
            "latency_p99_ms": None if latency is None else round(latency.p99_ms, 3),
            "latency_max_ms": None if latency is None else round(latency.max_ms, 3),
            "latency_packets": None if latency is None else latency.packets,
            "caucus_switch_ms": _ms(self.caucus_max_s),
            "caucus_switch_median_ms": _ms(self.caucus_median_s),
            "caucus_switch_each_ms": [_ms(s) for s in self.caucus_switch_s],
        }
        if self.vs_janus is not None:
            out["cpu_ratio_vs_janus"] = _round(self.vs_janus.get("cpu_pct_per_stream"), 3)
            out["rss_ratio_vs_janus"] = _round(self.vs_janus.get("rss_mb"), 3)
        return out


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


#: The figures set side by side with ``--vs``, in table order.
COMPARED = ("cpu_pct", "cpu_pct_per_stream", "rss_mb", "fps_min", "fps_mean", "join_s")


def ratio(ours: float | None, theirs: float | None) -> float | None:
    """ours / theirs; None when either is missing or theirs is 0."""
    if ours is None or theirs is None or theirs == 0:
        return None
    return ours / theirs


def compare(concord: Result, janus: Result) -> dict[str, float | None]:
    """Concord/Janus of each of ``COMPARED``; also kept on ``concord.vs_janus``."""
    ratios = {name: ratio(getattr(concord, name), getattr(janus, name)) for name in COMPARED}
    concord.vs_janus = ratios
    return ratios


async def wait_until(check: Callable[[], bool], within: float, stop: Stopper) -> bool:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        await stop.sleep(0.02)
    return True


def _mesh_complete(people: Sequence[MediaPeer]) -> bool:
    return all(b.pid in a.first_keyframe for a in people for b in people if a is not b)


#: Makes one participant (in joining order; the first of a Concord room is its host).
PeerFactory = Callable[[aiohttp.ClientSession], MediaPeer]
#: (participant id, its frame counts at the window's start, at its end).
FrameCounts = tuple[str, Counter[tuple[str, str]], Counter[tuple[str, str]]]


def frame_rates(
    rooms: Sequence[Sequence[FrameCounts]], window: float
) -> tuple[list[float], list[float], int]:
    """Per (subscriber, source) pair within each room: video fps, audio fps, and how
    many pairs got no video at all in the window."""
    video_fps: list[float] = []
    audio_fps: list[float] = []
    missing = 0
    for room in rooms:
        for receiver, before, after in room:
            for source, _, _ in room:
                if source == receiver:
                    continue
                got_video = after[(source, "video")] - before[(source, "video")]
                got_audio = after[(source, "audio")] - before[(source, "audio")]
                missing += got_video == 0
                video_fps.append(got_video / window)
                audio_fps.append(got_audio / window)
    return video_fps, audio_fps, missing


async def join_room(
    http: aiohttp.ClientSession,
    factories: Sequence[PeerFactory],
    people: list[MediaPeer],
    *,
    join_gap: float,
    stop: Stopper,
    label: str,
) -> None:
    """Join one room's participants one by one, each after the last sees everyone.

    ``people`` is filled as they are made, so the caller can close them whatever
    happens here.
    """
    for index, make in enumerate(factories):
        if index > 0 and join_gap > 0:
            await stop.sleep(join_gap)
        person = make(http)
        people.append(person)
        await person.join()
        stop.check()
        await person.publish()
        stop.check()
        if index > 0 and not await wait_until(lambda: _mesh_complete(people), 20.0, stop):
            logger.warning("%s: not everyone sees everyone after join %d", label, index + 1)


async def _each(coros: Sequence[Coroutine[Any, Any, Any]]) -> list[Any]:
    """Run side by side; the first failure cancels the others and is raised as itself."""
    if len(coros) == 1:
        return [await coros[0]]
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(coro) for coro in coros]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from failed
    return [task.result() for task in tasks]


def switch_time(requested: float, arrivals: Sequence[float | None]) -> float:
    """Caucus switch time: the last packet arrival after ``requested``, minus it.

    ``arrivals`` are, for each excluded participant and caucus member, when the
    last RTP packet from that member reached that participant (None: never).
    0 when nothing arrived after the request.
    """
    last = max((at for at in arrivals if at is not None), default=None)
    return 0.0 if last is None or last <= requested else last - requested


async def measure_caucus(people: Sequence[MediaPeer], repeats: int, stop: Stopper) -> list[float]:
    """Open a caucus of the host and the party ``repeats`` times; the switch time of each.

    The first participant is the room's host (a co-host: hosts may open a
    caucus), the second the party; the others (observers) stay outside. Each
    cycle: open, hold ``CAUCUS_HOLD_S``, read when the last packet from the
    caucus reached anyone outside, close, hold again so the next cycle starts
    from a whole room.
    """
    host, party, excluded = people[0], people[1], people[2:]
    if not isinstance(host, Participant) or not excluded:
        return []
    members = (host.pid, party.pid)
    samples: list[float] = []
    for _ in range(repeats):
        requested, caucus_id = await host.open_caucus([party.pid])
        await stop.sleep(CAUCUS_HOLD_S)
        arrivals = [person.last_rtp.get(member) for person in excluded for member in members]
        samples.append(switch_time(requested, arrivals))
        await host.close_caucus(caucus_id)
        await stop.sleep(CAUCUS_HOLD_S)
    return samples


async def measure_rooms(
    pid: int,
    rooms: Sequence[Sequence[PeerFactory]],
    *,
    seconds: float,
    warmup: float,
    join_gap: float,
    stop: Stopper,
    server: str = "concord",
    workers: int | None = None,
    latency_url: str | None = None,
    caucus_repeats: int = 0,
) -> Result:
    """Join every room (side by side; within a room one by one, ``join_gap`` apart),
    warm up, measure one window, then time caucus switches.

    ``pid`` is the server process (CPU and RSS over its process tree);
    ``latency_url`` the server whose latency probe to read (None: none).
    """
    n = len(rooms[0])
    rss_idle = tree_rss_mb(pid)
    people: list[list[MediaPeer]] = [[] for _ in rooms]
    caucus: list[float] = []
    latency: Latency | None = None
    # No connection limit: each participant holds a WebSocket or a long poll open.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        try:
            await _each(
                [
                    join_room(
                        http,
                        factories,
                        people[r],
                        join_gap=join_gap,
                        stop=stop,
                        label=f"{server} N={n} room {r + 1}",
                    )
                    for r, factories in enumerate(rooms)
                ]
            )
            if warmup > 0:
                await stop.sleep(warmup)
            if latency_url is not None:
                await read_latency(http, latency_url)  # reset: count the window only
            frames_before = [[Counter(p.frames) for p in room] for room in people]
            server_cpu0, client_cpu0 = tree_cpu_seconds(pid), cpu_seconds("self")
            busy0 = machine_busy_seconds()
            t0 = time.monotonic()
            await stop.sleep(seconds)
            t1 = time.monotonic()
            server_cpu1, client_cpu1 = tree_cpu_seconds(pid), cpu_seconds("self")
            busy1 = machine_busy_seconds()
            rss = tree_rss_mb(pid)
            frames_after = [[Counter(p.frames) for p in room] for room in people]
            if latency_url is not None:
                latency = await read_latency(http, latency_url)
            if caucus_repeats > 0 and n >= 3:
                for samples in await _each(
                    [measure_caucus(room, caucus_repeats, stop) for room in people]
                ):
                    caucus.extend(samples)
        finally:
            await asyncio.gather(
                *(p.close() for room in people for p in room), return_exceptions=True
            )

    window = t1 - t0
    counts = [
        [(p.pid, b, a) for p, b, a in zip(room, before, after, strict=True)]
        for room, before, after in zip(people, frames_before, frames_after, strict=True)
    ]
    video_fps, audio_fps, missing = frame_rates(counts, window)
    join_each = [p.join_seconds() for room in people for p in room[1:]]
    joins = [s for s in join_each if s is not None]
    steps: dict[str, list[float]] = {}
    for room in people:
        for index, person in enumerate(room[1:], start=1):
            for step, at in person.join_steps([p.pid for p in room[:index]]).items():
                steps.setdefault(step, []).append(at)
    server_cpu = cpu_used(server_cpu0, server_cpu1)
    client_cpu = client_cpu1 - client_cpu0
    cpu_pct = 100 * server_cpu / window
    streams = len(rooms) * n * (n - 1)
    return Result(
        n=n,
        streams=streams,
        cpu_pct=cpu_pct,
        cpu_pct_per_stream=cpu_pct / streams,
        rss_mb=rss,
        rss_idle_mb=rss_idle,
        fps_min=min(video_fps),
        fps_mean=sum(video_fps) / len(video_fps),
        join_s=max(joins) if len(joins) == len(join_each) else None,
        join_mean_s=sum(joins) / len(joins) if joins else None,
        join_each_s=join_each,
        audio_fps_min=min(audio_fps),
        client_cpu_pct=100 * client_cpu / window,
        others_cpu_pct=100 * max(0.0, (busy1 - busy0) - server_cpu - client_cpu) / window,
        window_s=window,
        missing_pairs=missing,
        join_steps={k: sum(v) / len(v) for k, v in sorted(steps.items(), key=lambda kv: kv[1])},
        errors=[e for room in people for p in room for e in p.errors],
        server=server,
        rooms=len(rooms),
        workers=workers,
        latency=latency,
        caucus_switch_s=caucus,
    )


@dataclass(frozen=True)
class Options:
    """What to run (from the command line)."""

    ns: Sequence[int]
    seconds: float
    warmup: float
    join_gap: float
    rooms: int = 1
    workers: int | None = None
    caucus_repeats: int = CAUCUS_REPEATS
    #: The server to compare with ("janus"), or None.
    vs: str | None = None


@dataclass(frozen=True)
class Media:
    video: Clip
    audio: Clip


async def measure_concord(
    n: int, options: Options, data_dir: Path, staff: Staff, media: Media, stop: Stopper
) -> Result:
    """One Concord server with ``options.rooms`` booked rooms of N, measured."""
    tokens = [await book_room(data_dir, staff, n, room=r) for r in range(options.rooms)]
    server = ServerProcess(data_dir, options.workers)
    try:
        server.start()
        await server.wait_healthy()
        logger.info("concord N=%d: server pid %d on %s", n, server.pid, server.url)

        def factory(token: str, host: bool) -> PeerFactory:
            def make(http: aiohttp.ClientSession) -> MediaPeer:
                return Participant(http, server.url, token, media.video, media.audio, host=host)

            return make

        rooms = [
            [factory(token, index == 0) for index, token in enumerate([t.host, *t.invitees])]
            for t in tokens
        ]
        return await measure_rooms(
            server.pid,
            rooms,
            seconds=options.seconds,
            warmup=options.warmup,
            join_gap=options.join_gap,
            stop=stop,
            server="concord",
            workers=options.workers,
            latency_url=server.url,
            caucus_repeats=options.caucus_repeats,
        )
    finally:
        server.stop()


async def run_all(
    options: Options,
    data_dir: Path,
    on_rows: Callable[[list[Result]], None],
    stop: Stopper,
) -> list[list[Result]]:
    """For each N: Concord, then (with ``--vs janus``) Janus under the same load.

    Returns, per N, the rows measured (Concord first); ``on_rows`` gets each N's
    rows as soon as they are complete.
    """
    log = logger.info
    log("encoding the media loops once (libvpx, libopus)")
    media = Media(encode_video(), encode_audio())
    log(
        "video %dx%d %d fps %.0f kbps, keyframe every %d frames; audio %.0f kbps",
        WIDTH,
        HEIGHT,
        FPS,
        media.video.bitrate / 1000,
        GOP,
        media.audio.bitrate / 1000,
    )
    log("migrating a fresh database in %s", data_dir)
    migrate(data_dir)  # blocking, on purpose: see _LAUNCHER (the thread that forks)
    staff = await seed_staff(data_dir)
    janus: Callable[[int], Awaitable[Result]] | None = None
    if options.vs == "janus":
        from bench import janus_client

        janus_setup = janus_client.JanusSetup.prepare(data_dir / "janus")

        async def janus_run(n: int) -> Result:
            return await janus_client.measure_janus(n, options, janus_setup, media, stop)

        janus = janus_run
    everything: list[list[Result]] = []
    for n in options.ns:
        stop.check()
        rows = [await measure_concord(n, options, data_dir, staff, media, stop)]
        if janus is not None:
            stop.check()
            rows.append(await janus(n))
            compare(rows[0], rows[1])
        everything.append(rows)
        on_rows(rows)
    return everything


# --- output -------------------------------------------------------------------------------

COLUMNS = ("N", "streams", "CPU %", "CPU %/stream", "RSS MB", "fps min", "fps mean", "join s")
#: The ``--vs`` table: the columns above, plus the latency figures (Concord only).
VS_COLUMNS = (
    "N",
    "server",
    "rooms",
    "streams",
    "CPU %",
    "CPU %/stream",
    "RSS MB",
    "fps min",
    "fps mean",
    "join s",
    "lat p50 ms",
    "lat p99 ms",
    "caucus max ms",
    "caucus med ms",
)


def _fmt(value: float | None, spec: str, missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def _layout(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    )


def table(results: Sequence[Result]) -> str:
    """The plain run's table (a ``rooms`` column only when some row has several)."""
    many = any(r.rooms > 1 for r in results)
    head = list(COLUMNS)
    if many:
        head.insert(1, "rooms")
    rows: list[list[str]] = [head]
    for r in results:
        row = [str(r.n), str(r.streams), *_figure_cells(r)]
        if many:
            row.insert(1, str(r.rooms))
        rows.append(row)
    return _layout(rows)


def _figure_cells(r: Result) -> list[str]:
    """CPU, CPU per stream, RSS, fps min and mean, join: the cells every table shows."""
    return [
        _fmt(r.cpu_pct, ".1f"),
        _fmt(r.cpu_pct_per_stream, ".3f"),
        _fmt(r.rss_mb, ".1f"),
        _fmt(r.fps_min, ".2f"),
        _fmt(r.fps_mean, ".2f"),
        _fmt(r.join_s, ".3f"),
    ]


def latency_line(results: Sequence[Result]) -> str:
    """Server-added latency and caucus switch time per N, under the plain table."""

    def one(r: Result) -> str:
        lat = r.latency
        latency = "n/a" if lat is None else f"{lat.p50_ms:.2f} / {lat.p99_ms:.2f}"
        caucus = (
            "-"
            if r.caucus_max_s is None or r.caucus_median_s is None
            else f"{r.caucus_max_s * 1000:.0f} / {r.caucus_median_s * 1000:.0f}"
        )
        return f"N={r.n}: {latency}, {caucus}"

    return "server-added latency p50 / p99 ms, caucus switch max / median ms: " + "; ".join(
        one(r) for r in results
    )


def vs_table(rows_by_n: Sequence[Sequence[Result]]) -> str:
    """Concord and the other server per N, and the ratio Concord/other of each figure."""
    rows: list[list[str]] = [list(VS_COLUMNS)]
    for group in rows_by_n:
        for r in group:
            lat = r.latency
            latency_na = "n/a" if r.server == "concord" else "-"
            rows.append(
                [
                    str(r.n),
                    r.server,
                    str(r.rooms),
                    str(r.streams),
                    *_figure_cells(r),
                    _fmt(None if lat is None else lat.p50_ms, ".2f", latency_na),
                    _fmt(None if lat is None else lat.p99_ms, ".2f", latency_na),
                    _fmt(None if r.caucus_max_s is None else r.caucus_max_s * 1000, ".0f"),
                    _fmt(None if r.caucus_median_s is None else r.caucus_median_s * 1000, ".0f"),
                ]
            )
        ours = group[0]
        if len(group) > 1 and ours.vs_janus is not None:
            ratios = ours.vs_janus
            rows.append(
                [
                    str(ours.n),
                    f"{ours.server}/{group[1].server}",
                    "",
                    "",
                    *(_fmt(ratios.get(name), ".2f") for name in COMPARED),
                    "-",
                    "-",
                    "-",
                    "-",
                ]
            )
    return _layout(rows)


def targets(results: Sequence[Result]) -> list[str]:
    """The issue's targets, each PASS, FAIL or not measured."""

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    lines: list[str] = []
    at = [r for r in results if r.n == TARGET_FPS_AT_N]
    if at:
        fps = min(r.fps_min for r in at)
        lines.append(
            f"{verdict(fps >= TARGET_FPS)}  every subscriber >= {TARGET_FPS} fps at "
            f"N={TARGET_FPS_AT_N} (min {fps:.2f})"
        )
    else:
        lines.append(f"----  every subscriber >= {TARGET_FPS} fps at N={TARGET_FPS_AT_N}: not run")
    for r in results:
        lines.append(
            f"{verdict(r.cpu_pct_per_stream <= TARGET_CPU_PER_STREAM)}  <= "
            f"{TARGET_CPU_PER_STREAM}% of one core per forwarded stream at N={r.n} "
            f"({r.cpu_pct_per_stream:.3f})"
        )
    for r in results:
        lines.append(
            f"{verdict(r.join_s is not None and r.join_s <= TARGET_JOIN_S)}  first remote "
            f"keyframe <= {TARGET_JOIN_S} s after joining at N={r.n} "
            + (f"(max {r.join_s:.3f} s)" if r.join_s is not None else "(someone never got one)")
        )
    return lines


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.room",
        description="N participants publishing VP8+Opus through a Concord server, "
        "everyone receiving everyone; server CPU, RSS, frame rates, join time, "
        "latency, caucus switch time; optionally side by side with Janus VideoRoom.",
    )
    parser.add_argument(
        "--n",
        type=int,
        nargs="+",
        default=[3, 4, 6, 8],
        help=f"room sizes to run, 2..{MAX_N} (default: 3 4 6 8)",
    )
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="measurement window (default 20)"
    )
    parser.add_argument(
        "--warmup", type=float, default=5.0, help="after everyone joined (default 5)"
    )
    parser.add_argument(
        "--join-gap",
        type=float,
        default=1.0,
        help="pause between one participant seeing everyone and the next joining "
        "(default 1; the server sends a publisher at most one PLI per 0.5 s)",
    )
    parser.add_argument(
        "--rooms",
        type=int,
        default=1,
        help=f"rooms of N run side by side on one server, 1..{MAX_ROOMS} (default 1)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="passed to `concord serve --workers` (default 1: one server process)",
    )
    parser.add_argument(
        "--caucus-repeats",
        type=int,
        default=CAUCUS_REPEATS,
        help=f"caucus open/close cycles per room after the window, N >= 3 (default "
        f"{CAUCUS_REPEATS}; 0: none)",
    )
    parser.add_argument(
        "--vs",
        choices=["janus"],
        default=None,
        help="also run the same load on this server (Janus VideoRoom) and compare",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per N (and per server with --vs) per line on stdout",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="progress and aiortc logs")
    return parser


def _terminate(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(143)


async def _run(
    options: Options,
    data_dir: Path,
    on_rows: Callable[[list[Result]], None],
    stop: Stopper,
) -> list[list[Result]]:
    stop.install()
    try:
        return await run_all(options, data_dir, on_rows, stop)
    finally:
        stop.uninstall()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if any(not 2 <= n <= MAX_N for n in args.n):
        parser.error(f"--n takes room sizes from 2 to {MAX_N}")
    if args.seconds <= 0 or args.warmup < 0 or args.join_gap < 0:
        parser.error("--seconds must be > 0, --warmup and --join-gap >= 0")
    if not 1 <= args.rooms <= MAX_ROOMS:
        parser.error(f"--rooms takes 1 to {MAX_ROOMS}")
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be >= 1")
    if args.caucus_repeats < 0:
        parser.error("--caucus-repeats must be >= 0")
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s"
    )
    if not args.verbose:
        for noisy in ("aiortc", "aioice", "server"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
    # Without --workers the server runs as one process, as this benchmark always
    # measured it (a Concord with multi-process serving would otherwise start one
    # worker per core): pass --workers 1 where the option exists.
    accepts_workers = serve_accepts_workers()
    if args.workers is not None and not accepts_workers:
        print(
            "`concord serve` does not accept --workers in this checkout: run without "
            "--workers, or with a Concord that has multi-process serving.",
            file=sys.stderr,
        )
        return 2
    if args.vs == "janus":
        from bench import janus_client

        try:
            janus_client.ensure_janus()
        except janus_client.JanusUnavailable as missing:
            print(str(missing), file=sys.stderr)
            return 2
    options = Options(
        ns=args.n,
        seconds=args.seconds,
        warmup=args.warmup,
        join_gap=args.join_gap,
        rooms=args.rooms,
        workers=args.workers if args.workers is not None else (1 if accepts_workers else None),
        caucus_repeats=args.caucus_repeats,
        vs=args.vs,
    )
    signal.signal(signal.SIGTERM, _terminate)  # outside the event loop: plain exit, cleanup runs

    def on_rows(rows: list[Result]) -> None:
        for result in rows:
            if args.json:
                print(json.dumps(result.as_json()), flush=True)
            logger.info(
                "%s N=%d done: CPU %.1f%% (%.3f%%/stream), RSS %.1f MB, fps %.2f..%.2f, join %s s",
                result.server,
                result.n,
                result.cpu_pct,
                result.cpu_pct_per_stream,
                result.rss_mb,
                result.fps_min,
                result.fps_mean,
                "-" if result.join_s is None else f"{result.join_s:.3f}",
            )

    stop = Stopper()
    data_dir = Path(tempfile.mkdtemp(prefix="concord-bench-"))
    try:
        everything = asyncio.run(_run(options, data_dir, on_rows, stop))
    except (KeyboardInterrupt, asyncio.CancelledError):
        interrupted = stop.signal in (None, signal.SIGINT)
        print("interrupted" if interrupted else "terminated", file=sys.stderr)
        return 130 if interrupted else 143
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    ours = [rows[0] for rows in everything]
    out = sys.stderr if args.json else sys.stdout
    if options.vs is None:
        print(table(ours), file=out)
    else:
        print(vs_table(everything), file=out)
        print(
            "(concord/janus: the ratio of each figure; lat: the latency Concord's server "
            "measures itself, from a publisher's datagram in to the forwarded copy out; "
            "caucus: from opening a caucus to the last packet from it reaching someone outside)",
            file=out,
        )
    if options.workers is not None and options.workers > 1:
        print(
            f"(concord serve --workers {options.workers}: CPU and RSS summed over its "
            "processes; the latency probe is per process and not reachable through the "
            "front: n/a)",
            file=out,
        )
    print(
        f"(join s: the max over the participants who joined an occupied room; "
        f"{os.cpu_count()} cores here)",
        file=out,
    )
    print(
        "CPU % of one core in the window, bench clients / everything else on the machine: "
        + ", ".join(
            f"{r.server} N={r.n}: {r.client_cpu_pct:.0f} / {r.others_cpu_pct:.0f}"
            if options.vs
            else f"N={r.n}: {r.client_cpu_pct:.0f} / {r.others_cpu_pct:.0f}"
            for rows in everything
            for r in rows
        ),
        file=out,
    )
    if options.vs is None:
        print(latency_line(ours), file=out)
    print("\nTargets:", file=out)
    for line in targets(ours):
        print("  " + line, file=out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
