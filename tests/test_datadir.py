"""The data directory and every file in it are private to the server's user (os.stat)."""

from __future__ import annotations

import os
import stat
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from server.datadir import narrow_tree, sqlite_path
from tests.test_cli import CONCORD, REPO, SERVE_START_TIMEOUT, concord, free_port, ok
from tests.test_cli import env as env


def _modes(top: Path) -> dict[str, int]:
    """Permission bits of the directory and of everything inside, by relative path."""
    found = {".": stat.S_IMODE(top.stat().st_mode)}
    for root, dirs, files in os.walk(top):
        for name in [*dirs, *files]:
            path = Path(root, name)
            found[str(path.relative_to(top))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def _open_to_others(modes: dict[str, int]) -> dict[str, str]:
    return {name: oct(mode) for name, mode in modes.items() if mode & 0o077}


def _wait_healthy(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + SERVE_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"concord serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    pytest.fail(f"no answer on /healthz in time:\n{log.read_text()}")


def test_every_file_the_commands_make_is_private_and_old_ones_are_narrowed(
    env: dict[str, str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    ok(concord(env, "migrate"))
    ok(concord(env, "demo"))  # the secret, the database, the demo PKI, a seal, a sealed PDF
    modes = _modes(data)
    assert any(name.endswith(".pdf") for name in modes), modes
    assert any(name.endswith("key.pem") for name in modes), modes
    assert {".", "concord.db", "secret_key"} <= set(modes)
    assert _open_to_others(modes) == {}
    assert all(mode == 0o700 for name, mode in modes.items() if (data / name).is_dir())

    # What an older version left readable is narrowed at the next start; while the server
    # runs, SQLite's write-ahead log and shared-memory files exist, private as well.
    pdf = next(data.rglob("*.pdf"))
    for path, mode in ((data, 0o755), (data / "concord.db", 0o644), (pdf, 0o644)):
        os.chmod(path, mode)
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [CONCORD, "serve"],
            env={**env, "CONCORD_PORT": str(port), "CONCORD_WORKERS": "1"},
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(process, port, log)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as page:
            assert page.status == 200
        running = _modes(data)
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert {"concord.db-wal", "concord.db-shm"} <= set(running), running
    assert _open_to_others(running) == {}


def test_narrowing_keeps_the_owner_bits_and_leaves_links_alone(tmp_path: Path) -> None:
    top = tmp_path / "d"
    (top / "sub").mkdir(parents=True)
    script = top / "sub" / "hook.sh"
    script.write_text("#!/bin/sh\n")
    os.chmod(script, 0o755)
    outside = tmp_path / "outside.txt"
    outside.write_text("not ours")
    os.chmod(outside, 0o644)
    (top / "link").symlink_to(outside)
    os.chmod(top, 0o755)
    narrow_tree([top])
    assert stat.S_IMODE(top.stat().st_mode) == 0o700
    assert stat.S_IMODE((top / "sub").stat().st_mode) == 0o700
    assert stat.S_IMODE(script.stat().st_mode) == 0o700
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite+aiosqlite:////var/lib/concord/concord.db", Path("/var/lib/concord/concord.db")),
        ("sqlite+aiosqlite:///:memory:", None),
        ("postgresql+asyncpg://concord@db/concord", None),
    ],
)
def test_sqlite_path(url: str, path: Path | None) -> None:
    assert sqlite_path(url) == path
