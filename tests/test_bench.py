"""The room benchmark's machinery.

One end-to-end run: a 2-person room for 3 seconds through ``python -m bench.room``
as a subprocess (it starts its own server process, on 127.0.0.1 only) and its
JSON line; it takes about 10-15 s. The rest runs without Janus and without a
server: the figures' arithmetic (frame rates, CPU over a process tree, the
caucus switch time, the ratios and the JSON/table shapes of ``--vs janus``),
the Janus configuration rewriting, its process-group handling and the one
aiortc internal the clients hook.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiortc import RTCRtpReceiver
from pytest_aiohttp.plugin import AiohttpServer

from bench import janus_client as jc
from bench import room
from bench.room import Clip, ReplayTrack

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"n", "cpu_pct_per_stream", "rss_mb", "fps_min", "fps_mean", "join_s"}
#: What ``--json`` adds for the comparison and the latency figures.
NEW_KEYS = {
    "server",
    "rooms",
    "workers",
    "latency_p50_ms",
    "latency_p99_ms",
    "caucus_switch_ms",
    "caucus_switch_median_ms",
}


def test_two_person_room_reports_every_figure() -> None:
    command = [
        sys.executable,
        "-m",
        "bench.room",
        *("--n", "2", "--seconds", "3", "--warmup", "1", "--join-gap", "0", "--json"),
    ]
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the benchmark stops its server and cleans up
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        raise AssertionError(f"the benchmark did not finish in 60 s:\n{err[-3000:]}") from None
    assert proc.returncode == 0, err[-3000:]
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    result = lines[0]
    assert KEYS | NEW_KEYS <= set(result), result
    assert result["n"] == 2 and result["server"] == "concord" and result["rooms"] == 1
    assert result["fps_mean"] > 0, result
    assert result["rss_mb"] > 0 and result["cpu_pct_per_stream"] > 0, result
    assert result["join_s"] is not None and result["join_s"] > 0, result
    assert result["caucus_switch_ms"] is None  # N=2: nobody to leave outside
    assert "cpu_ratio_vs_janus" not in result
    assert "Targets:" in err  # the table and the targets go to stderr with --json


def test_replay_answers_a_keyframe_request_with_the_next_keyframe() -> None:
    clip = Clip(
        "video",
        frames=[bytes([i]) for i in range(10)],
        keyframes=[0, 4, 8],
        clock_rate=90_000,
        ticks_per_frame=6_000,
    )
    track = ReplayTrack(clip)
    assert [track._next_index() for _ in range(3)] == [0, 1, 2]
    track.request_keyframe()
    assert [track._next_index() for _ in range(3)] == [4, 5, 6]
    track.request_keyframe()
    track._index = 9  # past the last keyframe: wrap to the first
    assert [track._next_index() for _ in range(2)] == [0, 1]


# --- figures ------------------------------------------------------------------------------


def result(server: str = "concord", **overrides: Any) -> room.Result:
    """A synthetic N=3 row; ``overrides`` replace any field."""
    fields: dict[str, Any] = {
        "n": 3,
        "streams": 6,
        "cpu_pct": 6.0,
        "cpu_pct_per_stream": 1.0,
        "rss_mb": 120.0,
        "rss_idle_mb": 100.0,
        "fps_min": 14.5,
        "fps_mean": 15.0,
        "join_s": 0.2,
        "join_mean_s": 0.18,
        "join_each_s": [0.16, 0.2],
        "audio_fps_min": 50.0,
        "client_cpu_pct": 10.0,
        "others_cpu_pct": 1.0,
        "window_s": 8.0,
        "missing_pairs": 0,
        "server": server,
    }
    fields.update(overrides)
    return room.Result(**fields)


def test_ratios_are_concord_over_janus_and_land_on_concord_rows_only() -> None:
    ours = result(
        latency=room.Latency(packets=900, p50_ms=0.4, p99_ms=2.5, max_ms=9.0),
        caucus_switch_s=[0.0, 0.004, 0.002, 0.010, 0.003],
    )
    theirs = result(
        "janus", cpu_pct=2.4, cpu_pct_per_stream=0.4, rss_mb=40.0, join_s=0.0, fps_min=15.0
    )
    ratios = room.compare(ours, theirs)
    assert ratios["cpu_pct_per_stream"] == pytest.approx(2.5)
    assert ratios["rss_mb"] == pytest.approx(3.0)
    assert ratios["fps_min"] == pytest.approx(14.5 / 15.0)
    assert ratios["join_s"] is None  # theirs is 0: no ratio rather than a division error
    assert ours.vs_janus is ratios and theirs.vs_janus is None

    mine, janus = ours.as_json(), theirs.as_json()
    assert KEYS | NEW_KEYS <= set(mine) and KEYS | NEW_KEYS <= set(janus)
    assert (mine["server"], janus["server"]) == ("concord", "janus")
    assert mine["cpu_ratio_vs_janus"] == 2.5 and mine["rss_ratio_vs_janus"] == 3.0
    assert "cpu_ratio_vs_janus" not in janus and "rss_ratio_vs_janus" not in janus
    assert mine["latency_p50_ms"] == 0.4 and mine["latency_p99_ms"] == 2.5
    assert janus["latency_p50_ms"] is None and janus["caucus_switch_ms"] is None
    assert mine["caucus_switch_ms"] == 10.0  # the max
    assert mine["caucus_switch_median_ms"] == 3.0
    assert mine["caucus_switch_each_ms"] == [0.0, 4.0, 2.0, 10.0, 3.0]
    json.dumps(mine)  # plain JSON all the way down


def test_the_comparison_table_has_a_ratio_row_per_n() -> None:
    ours = result(caucus_switch_s=[0.004, 0.010])
    theirs = result("janus", cpu_pct=3.0, cpu_pct_per_stream=0.5, rss_mb=40.0)
    room.compare(ours, theirs)
    lines = room.vs_table([[ours, theirs]]).splitlines()
    assert len(lines) == 4
    assert lines[0].split()[:3] == ["N", "server", "rooms"]
    concord, janus, ratios = (line.split() for line in lines[1:])
    assert concord[:2] == ["3", "concord"] and janus[:2] == ["3", "janus"]
    assert concord[-4:] == ["n/a", "n/a", "10", "7"]  # no probe here; caucus max, median
    assert janus[-4:] == ["-", "-", "-", "-"]
    # CPU %, CPU %/stream, RSS, fps min, fps mean, join s: Concord / Janus
    assert (
        ratios == ["3", "concord/janus", "2.00", "2.00", "3.00", "1.00", "1.00", "1.00"] + ["-"] * 4
    )


def test_the_plain_table_keeps_its_columns_and_adds_rooms_only_when_there_are_several() -> None:
    one = room.table([result()]).splitlines()
    assert one[0].split() == ["N", "streams", "CPU", "%", "CPU", "%/stream"] + [
        "RSS",
        "MB",
        "fps",
        "min",
        "fps",
        "mean",
        "join",
        "s",
    ]
    several = room.table([result(rooms=2, streams=12)]).splitlines()
    assert several[0].split()[:2] == ["N", "rooms"] and several[1].split()[:3] == ["3", "2", "12"]
    line = room.latency_line([result(caucus_switch_s=[0.002, 0.004, 0.006])])
    assert "N=3: n/a, 6 / 4" in line


def test_frame_rates_pair_subscribers_with_sources_of_their_own_room_only() -> None:
    def counts(**per_source: int) -> Counter[tuple[str, str]]:
        return Counter({(source, "video"): n for source, n in per_source.items()})

    zero: Counter[tuple[str, str]] = Counter()
    rooms = [
        [("a", zero, counts(b=150)), ("b", zero, counts(a=120))],
        [("c", zero, counts(d=150, a=999)), ("d", zero, counts())],
    ]
    video, audio, missing = room.frame_rates(rooms, 10.0)
    assert sorted(video) == [0.0, 12.0, 15.0, 15.0]  # "a" is in another room: not counted
    assert audio == [0.0] * 4 and missing == 1


def test_cpu_over_a_process_tree_counts_newcomers_in_full() -> None:
    assert room.cpu_used({1: 10.0, 2: 5.0}, {1: 12.5, 2: 5.5, 3: 1.0}) == pytest.approx(4.0)
    assert room.cpu_used({1: 10.0, 2: 5.0}, {1: 11.0}) == pytest.approx(1.0)  # 2 ended
    assert room.process_tree(os.getpid())[0] == os.getpid()
    assert room.tree_rss_mb(os.getpid()) >= room.rss_mb(os.getpid()) > 0


def test_the_latency_probe_body_is_read_by_its_contract() -> None:
    body = {"packets": 1200, "p50_ms": 0.35, "p99_ms": 2.1, "max_ms": 7.5}
    assert room.parse_latency(body) == room.Latency(1200, 0.35, 2.1, 7.5)
    assert room.parse_latency(body | {"packets": 0}) is None  # nothing measured
    assert room.parse_latency({"p50_ms": 1.0}) is None
    assert room.parse_latency(["not", "an", "object"]) is None


# --- caucus switch time -------------------------------------------------------------------


def test_switch_time_is_the_last_arrival_after_the_request() -> None:
    assert room.switch_time(100.0, [99.5, None, 100.012, 100.004]) == pytest.approx(0.012)
    assert room.switch_time(100.0, [99.9, 99.99]) == 0.0  # nothing after the request
    assert room.switch_time(100.0, [None, None]) == 0.0
    assert room.switch_time(100.0, []) == 0.0


class FakeHost(room.Participant):
    """A host whose caucus requests make a packet from each member reach the outsiders
    ``delay`` seconds after the request (and record what was asked)."""

    def __init__(self, outsiders: list[room.MediaPeer], delays: list[float | None]) -> None:
        clip = Clip("video", [b"\x00"], [0], 90_000, 6_000)
        super().__init__(None, "", "", clip, clip, host=True)  # type: ignore[arg-type]
        self.pid = "host"
        self.outsiders = outsiders
        self.delays = delays
        self.asked: list[tuple[str, list[str]]] = []

    async def open_caucus(self, member_ids: Any) -> tuple[float, str]:
        requested = time.monotonic()
        self.asked.append(("open", list(member_ids)))
        delay = self.delays.pop(0)
        for person in self.outsiders:
            person.last_rtp["host"] = requested - 0.5  # before the request: ignored
            if delay is not None:
                person.last_rtp["party"] = requested + delay
        return requested, f"c{len(self.asked)}"

    async def close_caucus(self, caucus_id: str) -> None:
        self.asked.append(("close", [caucus_id]))


class Bystander(room.MediaPeer):
    def __init__(self, pid: str) -> None:
        clip = Clip("video", [b"\x00"], [0], 90_000, 6_000)
        super().__init__(clip, clip)
        self.pid = pid

    async def join(self) -> None:
        pass

    async def publish(self) -> None:
        pass

    async def _leave(self) -> None:
        pass


async def test_caucus_cycles_open_with_the_party_and_time_each_switch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(room, "CAUCUS_HOLD_S", 0.01)
    outsiders: list[room.MediaPeer] = [Bystander("observer-1"), Bystander("observer-2")]
    host = FakeHost(outsiders, [0.003, None, 0.008])
    party = Bystander("party")
    samples = await room.measure_caucus([host, party, *outsiders], 3, room.Stopper())
    assert samples == [pytest.approx(0.003), 0.0, pytest.approx(0.008)]
    assert host.asked == [
        ("open", ["party"]),
        ("close", ["c1"]),
        ("open", ["party"]),
        ("close", ["c3"]),
        ("open", ["party"]),
        ("close", ["c5"]),
    ]
    # Not a Concord host (a Janus room), or nobody left outside: nothing to time.
    assert await room.measure_caucus([party, *outsiders], 3, room.Stopper()) == []
    assert await room.measure_caucus([host, party], 3, room.Stopper()) == []


def test_aiortc_still_hands_each_rtp_packet_to_the_receiver_method_we_wrap() -> None:
    handler = getattr(RTCRtpReceiver, room.RX_HANDLE_RTP)
    assert inspect.iscoroutinefunction(handler)
    assert list(inspect.signature(handler).parameters) == ["self", "packet", "arrival_time_ms"]


# --- Janus --------------------------------------------------------------------------------


def test_the_kept_janus_config_is_rewritten_for_this_machine(tmp_path: Path) -> None:
    shipped = (jc.JANUS_DIR / "etc" / "janus.jcfg").read_text()
    assert 'configs_folder = "JANUS_ETC_DIR"' in shipped
    lib = Path("/usr/lib/aarch64-linux-gnu/janus")
    text = jc.rewrite_janus_jcfg(shipped, Path("/tmp/x/etc"), lib)
    assert 'configs_folder = "/tmp/x/etc"' in text
    assert f'plugins_folder = "{lib}/plugins"' in text
    assert f'loggers_folder = "{lib}/loggers"' in text
    assert "JANUS_ETC_DIR" not in text and "x86_64" not in text
    kept = jc.rewrite_janus_jcfg(shipped, Path("/e"), None)
    assert 'plugins_folder = "/usr/lib/x86_64-linux-gnu/janus/plugins"' in kept

    http = 'general: {\n\tport = 8088\n\tip = "127.0.0.1"\n}\nadmin: {\n\tadmin_port = 7088\n}\n'
    rewritten = jc.rewrite_http_jcfg(http, 40123)
    assert "\tport = 40123\n" in rewritten and "admin_port = 7088" in rewritten
    with pytest.raises(ValueError):
        jc.rewrite_http_jcfg("general: {\n}\n", 1)

    etc = jc.write_config(tmp_path / "run", 40124, None)
    assert f'configs_folder = "{etc.resolve()}"' in (etc / "janus.jcfg").read_text()
    assert "port = 40124" in (etc / "janus.transport.http.jcfg").read_text()
    videoroom = (etc / "janus.plugin.videoroom.jcfg").read_text()
    assert "room-1234" in videoroom and 'videocodec = "vp8"' in videoroom
    assert 'ip = "127.0.0.1"' in (etc / "janus.transport.http.jcfg").read_text()


def test_without_janus_and_without_root_the_command_to_run_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(jc.JanusUnavailable) as missing:
        jc.ensure_janus()
    assert "sudo apt-get install -y --no-install-recommends janus gcc libc6-dev" in str(
        missing.value
    )


def test_subscriber_streams_name_each_mid_with_its_feed() -> None:
    streams: list[dict[str, Any]] = [
        {"type": "audio", "mid": "0", "feed_id": 11, "active": True},
        {"type": "video", "mid": "1", "feed_id": 11},
        {"type": "video", "mid": "2", "feed_id": 12, "active": False},
        {"type": "data", "mid": "3"},
    ]
    assert jc.slots_of_streams(streams) == {
        "0": ("audio", "11"),
        "1": ("video", "11"),
        "2": ("video", None),
    }


@pytest.mark.skipif(shutil.which("gcc") is None, reason="builds the loopback shim with gcc")
def test_stopping_janus_ends_its_whole_process_group(tmp_path: Path) -> None:
    """A stand-in ``janus`` that forks a child: both are gone after ``stop``."""
    fake = tmp_path / "janus"
    fake.write_text('#!/bin/sh\nsleep 300 &\necho "$!" > child.pid\nexec sleep 300\n')
    fake.chmod(0o755)
    setup = jc.JanusSetup(tmp_path, str(fake), None, jc.build_shim(tmp_path / "shim"))
    janus = jc.JanusProcess(setup)
    janus.start()
    child_pid = janus.dir / "child.pid"
    for _ in range(200):
        if child_pid.exists() and child_pid.read_text().strip():
            break
        time.sleep(0.02)
    child = int(child_pid.read_text())
    leader = janus.pid
    assert os.getpgid(child) == leader
    janus.stop()
    assert janus.proc is None
    time.sleep(0.1)
    for pid in (leader, child):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue  # gone
        assert state == "Z", f"process {pid} still running"  # at most a zombie of pid 1


async def test_the_latency_probe_is_read_and_reset_and_a_404_is_not_available(
    aiohttp_server: AiohttpServer,
) -> None:
    resets: list[str] = []

    async def probe(request: web.Request) -> web.Response:
        resets.append(request.query.get("reset", ""))
        return web.json_response({"packets": 10, "p50_ms": 0.5, "p99_ms": 3.0, "max_ms": 4.0})

    app = web.Application()
    app.router.add_get(room.LATENCY_PATH, probe)
    server = await aiohttp_server(app)
    empty = await aiohttp_server(web.Application())
    async with ClientSession() as http:
        assert await room.read_latency(http, str(server.make_url(""))) == room.Latency(
            10, 0.5, 3.0, 4.0
        )
        assert await room.read_latency(http, str(empty.make_url(""))) is None
    assert resets == ["1"]


@pytest.mark.parametrize("script", ["room", "agreements", "closed_loop", "minutes_paper"])
def test_each_bench_runs_as_a_script_and_as_a_module_from_anywhere(
    script: str, tmp_path: Path
) -> None:
    """``python bench/room.py`` once failed with ``No module named 'bench'``."""
    root = Path(__file__).resolve().parent.parent
    for command in (
        [sys.executable, str(root / "bench" / f"{script}.py"), "--help"],
        [sys.executable, "-m", f"bench.{script}", "--help"],
    ):
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "usage:" in done.stdout
