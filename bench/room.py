"""Room benchmark: N participants, everyone receives everyone, through a real server.

``python -m bench.room [--n 3 4 6 8] [--seconds 20] [--warmup 5] [--join-gap 1] [--json]``

For each N the benchmark:

1. books a session with N invitations straight through the services against
   a fresh SQLite file (one staff invitation, a co-host admitted at once, and
   N-1 invitees: one party and observers);
2. starts ``concord serve`` as a *separate process* (its CPU time and RSS are
   read from ``/proc`` alone), media on 127.0.0.1 only, no STUN;
3. joins the N participants one after another from this process (one asyncio
   loop). Each publishes pre-encoded VP8 (640x360, 15 fps, ~500 kbps) and
   Opus (20 ms frames of a tone), replayed as ``av.Packet`` without encoding;
   on a PLI the replay jumps to the next keyframe of its loop. Subscribers
   never decode: they count the encoded frames the receiver reassembles
   (``aiortc_adapter.capture_encoded_frames``);
4. after a warm-up, measures over a window: server CPU (% of one core, and
   per forwarded audio+video stream, of which there are N*(N-1)), server RSS,
   received video frame rate per (subscriber, source), and the join time
   (``join`` request to the first remote keyframe; the max over participants
   who join an occupied room);
5. stops the server, and at the very end removes the temporary directory.

Results: a table (or ``--json``: one object per N per line) and the targets
with PASS/FAIL. A missed target never makes the exit status non-zero.
"""

from __future__ import annotations

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
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
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


class ServerProcess:
    """``concord serve`` on a free loopback port; :meth:`stop` always ends it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
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
        with self.log_path.open("wb") as log:
            self.proc = concord(
                ["serve"],
                clean_env(self.data_dir, self.port),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
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
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)  # aiohttp's run_app shuts down cleanly on it
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


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


async def book_room(data_dir: Path, staff: Staff, n: int) -> RoomTokens:
    """A triaged dispute and a session starting in 5 minutes with N invitations."""
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
                    "title": f"基准测试 {n} 人",
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


# --- a participant ------------------------------------------------------------------------


def rtc_configuration() -> RTCConfiguration:
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


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


class Participant:
    """One simulated browser: a signalling socket, a publisher and a subscriber connection.

    It publishes :class:`ReplayTrack`s and never decodes what it receives: the
    subscriber's receivers hand each reassembled encoded frame to a callback
    (see :meth:`_capture`) that counts it per (source, kind) and notes the
    arrival of the first keyframe from each source.
    """

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
        self.http = http
        self.url = url
        self.token = token
        self.is_host = host
        self.pid = ""
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.video = ReplayTrack(video)
        self.audio = ReplayTrack(audio)
        self.publisher: RTCPeerConnection | None = None
        self.subscriber: RTCPeerConnection | None = None
        self.connection: int | None = None
        self.slots: dict[str, tuple[str, str | None]] = {}
        self.frames: Counter[tuple[str, str]] = Counter()
        self.first_keyframe: dict[str, float] = {}
        self.join_sent: float | None = None
        #: When each step of joining finished (monotonic clock), for the breakdown.
        self.marks: dict[str, float] = {}
        self.admitted = asyncio.Event()
        self.errors: list[str] = []
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
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
        assert self.ws is not None
        self._next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = future
        await self.ws.send_json({"type": type_, "id": self._next_id, **fields})
        async with asyncio.timeout(15):
            return await future

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

    def _mark(self, step: str) -> None:
        self.marks.setdefault(step, time.monotonic())

    def _admit_lobby(self, room: dict[str, Any]) -> None:
        for person in room.get("participants", []):
            pid = person.get("id")
            if person.get("admission") == "lobby" and pid not in self._admit_asked:
                self._admit_asked.add(pid)
                self._spawn(self.request("admit", participant_id=pid))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.errors.append(repr(task.exception()))
            logger.warning("%s: %r", self.pid or "participant", task.exception())

    # -- media -------------------------------------------------------------------------

    async def publish(self) -> None:
        """Offer send-only Opus + VP8; PLIs from the server make the replay jump to a keyframe."""
        pc = self.publisher = RTCPeerConnection(rtc_configuration())
        audio = pc.addTransceiver(self.audio, direction="sendonly")
        video = pc.addTransceiver(self.video, direction="sendonly")
        for transceiver in (audio, video):
            adapter.restrict_codecs(transceiver)
        adapter.hook_keyframe_requests(video.sender, self.video.request_keyframe)
        adapter.configure_ice(pc, [HOST], UDP_RECEIVE_BUFFER)
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
                self.subscriber = RTCPeerConnection(rtc_configuration())
                self.connection = connection
                self._watch(self.subscriber)
            pc = self.subscriber
            self._mark("offered")
            await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
            self.slots = slots_of(sdp)
            for transceiver in pc.getTransceivers():
                self._capture(transceiver)
            adapter.configure_ice(pc, [HOST], UDP_RECEIVE_BUFFER)
            await pc.setLocalDescription(await pc.createAnswer())
            answered = await self.request("subscriber_answer", sdp=pc.localDescription.sdp)
            if not answered.get("ok"):
                raise RuntimeError(f"subscriber_answer refused: {answered}")
            self._mark("answered")

    def _watch(self, pc: RTCPeerConnection) -> None:
        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "connected" and pc is self.subscriber:
                self._mark("connected")

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
        if self.ws is not None and not self.ws.closed:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
        for pc in (self.subscriber, self.publisher):
            if pc is not None:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(5):
                        await pc.close()
        self.subscriber = self.publisher = None


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

    def as_json(self) -> dict[str, Any]:
        return {
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
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


async def wait_until(check: Callable[[], bool], within: float, stop: Stopper) -> bool:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        await stop.sleep(0.02)
    return True


def _mesh_complete(people: Sequence[Participant]) -> bool:
    return all(b.pid in a.first_keyframe for a in people for b in people if a is not b)


async def measure_room(
    server: ServerProcess,
    tokens: RoomTokens,
    video: Clip,
    audio: Clip,
    *,
    seconds: float,
    warmup: float,
    join_gap: float,
    stop: Stopper,
) -> Result:
    """Join everyone one by one (``join_gap`` apart), warm up, then measure one window."""
    n = len(tokens.invitees) + 1
    rss_idle = rss_mb(server.pid)
    people: list[Participant] = []
    async with aiohttp.ClientSession() as http:
        try:
            for index, token in enumerate([tokens.host, *tokens.invitees]):
                if index > 0 and join_gap > 0:
                    await stop.sleep(join_gap)
                person = Participant(http, server.url, token, video, audio, host=index == 0)
                people.append(person)
                await person.join()
                stop.check()
                await person.publish()
                stop.check()
                if index > 0 and not await wait_until(lambda: _mesh_complete(people), 20.0, stop):
                    logger.warning("N=%d: not everyone sees everyone after join %d", n, index + 1)
            if warmup > 0:
                await stop.sleep(warmup)
            frames_before = [Counter(p.frames) for p in people]
            server_cpu0, client_cpu0 = cpu_seconds(server.pid), cpu_seconds("self")
            busy0 = machine_busy_seconds()
            t0 = time.monotonic()
            await stop.sleep(seconds)
            t1 = time.monotonic()
            server_cpu1, client_cpu1 = cpu_seconds(server.pid), cpu_seconds("self")
            busy1 = machine_busy_seconds()
            rss = rss_mb(server.pid)
            frames_after = [Counter(p.frames) for p in people]
        finally:
            await asyncio.gather(*(p.close() for p in people), return_exceptions=True)

    window = t1 - t0
    video_fps: list[float] = []
    audio_fps: list[float] = []
    missing = 0
    for receiver, before, after in zip(people, frames_before, frames_after, strict=True):
        for source in people:
            if source is receiver:
                continue
            got_video = after[(source.pid, "video")] - before[(source.pid, "video")]
            got_audio = after[(source.pid, "audio")] - before[(source.pid, "audio")]
            missing += got_video == 0
            video_fps.append(got_video / window)
            audio_fps.append(got_audio / window)
    join_each = [p.join_seconds() for p in people[1:]]
    joins = [s for s in join_each if s is not None]
    steps: dict[str, list[float]] = {}
    for index, person in enumerate(people[1:], start=1):
        for step, at in person.join_steps([p.pid for p in people[:index]]).items():
            steps.setdefault(step, []).append(at)
    cpu_pct = 100 * (server_cpu1 - server_cpu0) / window
    streams = n * (n - 1)
    return Result(
        n=n,
        streams=streams,
        cpu_pct=cpu_pct,
        cpu_pct_per_stream=cpu_pct / streams,
        rss_mb=rss,
        rss_idle_mb=rss_idle,
        fps_min=min(video_fps),
        fps_mean=sum(video_fps) / len(video_fps),
        join_s=max(joins) if len(joins) == n - 1 else None,
        join_mean_s=sum(joins) / len(joins) if joins else None,
        join_each_s=join_each,
        audio_fps_min=min(audio_fps),
        client_cpu_pct=100 * (client_cpu1 - client_cpu0) / window,
        others_cpu_pct=100
        * max(0.0, (busy1 - busy0) - (server_cpu1 - server_cpu0) - (client_cpu1 - client_cpu0))
        / window,
        window_s=window,
        missing_pairs=missing,
        join_steps={k: sum(v) / len(v) for k, v in sorted(steps.items(), key=lambda kv: kv[1])},
        errors=[e for p in people for e in p.errors],
    )


async def run_all(
    ns: Sequence[int],
    seconds: float,
    warmup: float,
    join_gap: float,
    data_dir: Path,
    on_result: Callable[[Result], None],
    stop: Stopper,
) -> list[Result]:
    log = logger.info
    log("encoding the media loops once (libvpx, libopus)")
    video, audio = encode_video(), encode_audio()
    log(
        "video %dx%d %d fps %.0f kbps, keyframe every %d frames; audio %.0f kbps",
        WIDTH,
        HEIGHT,
        FPS,
        video.bitrate / 1000,
        GOP,
        audio.bitrate / 1000,
    )
    log("migrating a fresh database in %s", data_dir)
    migrate(data_dir)  # blocking, on purpose: see _LAUNCHER (the thread that forks)
    staff = await seed_staff(data_dir)
    results: list[Result] = []
    for n in ns:
        stop.check()
        tokens = await book_room(data_dir, staff, n)
        server = ServerProcess(data_dir)
        try:
            server.start()
            await server.wait_healthy()
            log("N=%d: server pid %d on %s", n, server.pid, server.url)
            result = await measure_room(
                server,
                tokens,
                video,
                audio,
                seconds=seconds,
                warmup=warmup,
                join_gap=join_gap,
                stop=stop,
            )
        finally:
            server.stop()
        results.append(result)
        on_result(result)
    return results


# --- output -------------------------------------------------------------------------------

COLUMNS = ("N", "streams", "CPU %", "CPU %/stream", "RSS MB", "fps min", "fps mean", "join s")


def table(results: Sequence[Result]) -> str:
    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    rows = [COLUMNS] + [
        (
            str(r.n),
            str(r.streams),
            fmt(r.cpu_pct, ".1f"),
            fmt(r.cpu_pct_per_stream, ".3f"),
            fmt(r.rss_mb, ".1f"),
            fmt(r.fps_min, ".2f"),
            fmt(r.fps_mean, ".2f"),
            fmt(r.join_s, ".3f"),
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    )


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
        "everyone receiving everyone; server CPU, RSS, frame rates, join time.",
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
        "--json", action="store_true", help="one JSON object per N per line on stdout"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="progress and aiortc logs")
    return parser


def _terminate(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(143)


async def _run(
    args: argparse.Namespace, data_dir: Path, on_result: Callable[[Result], None], stop: Stopper
) -> list[Result]:
    stop.install()
    try:
        return await run_all(
            args.n, args.seconds, args.warmup, args.join_gap, data_dir, on_result, stop
        )
    finally:
        stop.uninstall()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if any(not 2 <= n <= MAX_N for n in args.n):
        build_parser().error(f"--n takes room sizes from 2 to {MAX_N}")
    if args.seconds <= 0 or args.warmup < 0 or args.join_gap < 0:
        build_parser().error("--seconds must be > 0, --warmup and --join-gap >= 0")
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s"
    )
    if not args.verbose:
        for noisy in ("aiortc", "aioice", "server"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
    signal.signal(signal.SIGTERM, _terminate)  # outside the event loop: plain exit, cleanup runs

    def on_result(result: Result) -> None:
        if args.json:
            print(json.dumps(result.as_json()), flush=True)
        logger.info(
            "N=%d done: CPU %.1f%% (%.3f%%/stream), RSS %.1f MB, fps %.2f..%.2f, join %s s",
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
        results = asyncio.run(_run(args, data_dir, on_result, stop))
    except (KeyboardInterrupt, asyncio.CancelledError):
        interrupted = stop.signal in (None, signal.SIGINT)
        print("interrupted" if interrupted else "terminated", file=sys.stderr)
        return 130 if interrupted else 143
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    out = sys.stderr if args.json else sys.stdout
    print(table(results), file=out)
    print(
        f"(join s: the max over the participants who joined an occupied room; "
        f"{os.cpu_count()} cores here)",
        file=out,
    )
    print(
        "CPU % of one core in the window, bench clients / everything else on the machine: "
        + ", ".join(f"N={r.n}: {r.client_cpu_pct:.0f} / {r.others_cpu_pct:.0f}" for r in results),
        file=out,
    )
    print("\nTargets:", file=out)
    for line in targets(results):
        print("  " + line, file=out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
