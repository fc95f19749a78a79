"""The agreement benchmark's machinery: two agreements through a real worker pool.

Runs ``python -m bench.agreements --count 2 --json`` as a subprocess (it makes
its own throwaway PKI and removes it) and checks the JSON object it prints.
Only the shape is checked: the figures depend on how busy the machine is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
KEYS = {
    "count",
    "render_seal_median_s",
    "render_seal_p90_s",
    "render_seal_max_s",
    "max_loop_stall_ms",
    "pdf_kb",
    "pages",
    "valid",
}


def test_two_agreements_report_every_figure(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.agreements",
            "--count",
            "2",
            "--json",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    figures = json.loads(lines[0])
    assert KEYS <= figures.keys()
    assert figures["count"] == 2
    assert figures["valid"] is True
    assert figures["pages"] >= 2
    assert figures["render_seal_median_s"] > 0
    assert figures["max_loop_stall_ms"] >= 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agreement-01.pdf", "agreement-02.pdf"]
    assert (tmp_path / "agreement-01.pdf").read_bytes().startswith(b"%PDF-")
