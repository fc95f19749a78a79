"""The room benchmark's machinery: a 2-person room for 3 seconds, end to end.

Runs ``python -m bench.room`` as a subprocess (it starts its own server
process, on 127.0.0.1 only) and checks its JSON line; it takes about 10-15 s.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from bench.room import Clip, ReplayTrack

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"n", "cpu_pct_per_stream", "rss_mb", "fps_min", "fps_mean", "join_s"}


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
    assert KEYS <= set(result), result
    assert result["n"] == 2
    assert result["fps_mean"] > 0, result
    assert result["rss_mb"] > 0 and result["cpu_pct_per_stream"] > 0, result
    assert result["join_s"] is not None and result["join_s"] > 0, result
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
