"""The 笔录 benchmark on one tiny paper, as ``make bench-minutes`` runs it, so it cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_bench_prints_one_figure_per_size_for_the_worker_and_the_thread() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.minutes_paper", "--sizes", "2,5", "--runs", "1", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    report = json.loads(result.stdout)
    assert [row["entries"] for row in report["results"]] == [2, 5]
    for row in report["results"]:
        assert row["worker_s"] > 0 and row["thread_s"] > 0
        assert row["worker_max_stall_ms"] >= 0 and row["thread_max_stall_ms"] >= 0
