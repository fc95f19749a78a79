"""The closed-loop benchmark on a tiny data set, so that neither script can rot.

The generator's counts are exact; the timing script, run as the Makefile runs
it, answers every page it times with HTTP 200 and prints one JSON object.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bench import closed_loop
from bench.closed_loop_data import generate

ROOT = Path(__file__).resolve().parent.parent


def test_the_generator_writes_exactly_what_it_was_asked(tmp_path: Path) -> None:
    path = tmp_path / "tiny.db"
    summary = generate(path, disputes=300, events=1500, seed=3)
    assert (summary.disputes, summary.events, summary.parties) == (300, 1500, 600)
    with sqlite3.connect(path) as conn:

        def count(table: str) -> int:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

        assert count("dispute") == 300 and count("dispute_event") == 1500
        assert count("agreement") == summary.agreements > 0
        assert count("followup_task") == summary.followup_tasks
        open_tasks = conn.execute("SELECT count(*) FROM followup_task WHERE status = 'open'")
        assert open_tasks.fetchone()[0] == summary.open_followups
        # Every agreement's dispute reached an agreement on its timeline.
        orphans = conn.execute(
            "SELECT count(*) FROM agreement a WHERE NOT EXISTS (SELECT 1 FROM dispute_event e"
            " WHERE e.dispute_id = a.dispute_id AND e.to_status = 'agreement')"
        )
        assert orphans.fetchone()[0] == 0
    with pytest.raises(ValueError, match="at least"):
        generate(tmp_path / "short.db", disputes=300, events=10)


def test_the_benchmark_times_every_page_over_http(tmp_path: Path) -> None:
    db = tmp_path / "bench.db"
    generate(db, disputes=200, events=1000, seed=5)
    command = [sys.executable, "-m", "bench.closed_loop", "--db", str(db), "--runs", "2"]
    result = subprocess.run(
        [*command, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    names = [r["name"] for r in report["results"]]
    assert names[:4] == [
        "GET /stats (this year)",
        "GET /stats (5 years)",
        "GET /api/v1/stats (this year)",
        "GET /stats/review (30 days)",
    ]
    assert names[-1] == "SQL open follow-ups by due date"
    assert all(r["status"] == 200 for r in report["results"]), report
    assert all(r["median_ms"] > 0 and r["p95_ms"] >= r["median_ms"] for r in report["results"])
    assert "target 300 ms" in result.stderr


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]
    assert closed_loop.percentile(values, 0.95) == 19.0
    assert closed_loop.percentile(values, 0.5) == 10.0
    assert closed_loop.percentile([7.0], 0.95) == 7.0
