"""The `concord` command as an operator runs it: real processes, a fresh data directory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CONCORD = str(Path(sys.executable).parent / "concord")
TIMEOUT = 120  # for one command; migrations and Argon2 hashing take a few seconds at most
SERVE_START_TIMEOUT = 20.0
SECRET = "cli-test-secret-key-that-is-long-enough-0123456789"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The caller's environment without any Concord settings, and a fresh data directory."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    clean["CONCORD_DATA_DIR"] = str(tmp_path / "data")
    clean["PYTHONUNBUFFERED"] = "1"
    return clean


def concord(
    env: dict[str, str], *args: str, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CONCORD, *args],
        env={**env, **(extra or {})},
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result.stdout


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_module_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server", "--help"],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    out = ok(result)
    for command in ("serve", "migrate", "demo", "create-user", "verify"):
        assert command in out


def test_script_help(env: dict[str, str]) -> None:
    out = ok(concord(env, "--help"))
    assert out.startswith("usage: concord")
    for command in ("serve", "migrate", "demo", "create-user"):
        assert command in out


def test_migrate_and_demo_are_idempotent(env: dict[str, str], tmp_path: Path) -> None:
    out = ok(concord(env, "migrate"))
    assert "database is at head" in out
    assert (tmp_path / "data" / "concord.db").is_file()
    # Running it again changes nothing and still succeeds.
    ok(concord(env, "migrate"))

    first = ok(concord(env, "demo"))
    assert "demo data created" in first
    assert "/login" in first
    logins = [
        line.split() for line in first.splitlines() if line.startswith("  ") and "/j/" not in line
    ]
    usernames = {row[0] for row in logins}
    assert {"admin", "chief", "officer"} <= usernames, first
    links = [line.split()[-1] for line in first.splitlines() if "/j/" in line]
    assert len(links) == 5, first  # two parties and three experts, booked for today

    second = ok(concord(env, "demo"))
    assert "demo data created" not in second
    assert "nothing changed" in second
    # The same logins, passwords included, are printed every time.
    for row in logins:
        assert any(line.split()[:2] == row[:2] for line in second.splitlines()), second
    # The session booked today is kept, so the links printed before still hold.
    for link in links:
        assert link in second, second
    # The finished case's sealed PDF verifies; the same file with one byte changed does not.
    pdf = Path(next(line.split()[-1] for line in first.splitlines() if "PDF:" in line))
    assert "self-signed demo station CA" in first
    checked = ok(concord(env, "verify", str(pdf)))
    assert "VALID" in checked and "matches （" in checked, checked
    data = bytearray(pdf.read_bytes())
    data[data.index(b"stream", 2000) + 20] ^= 0x01
    forged = tmp_path / "forged.pdf"
    forged.write_bytes(bytes(data))
    refused = concord(env, "verify", str(forged))
    assert refused.returncode == 1
    assert "NOT VALID" in refused.stdout and "NOT in the archive" in refused.stdout


def test_create_user(env: dict[str, str]) -> None:
    ok(concord(env, "migrate"))
    args = ["create-user", "boss", "--name", "Station Admin", "--role", "admin"]
    args += ["--station", "白石派出所"]

    weak = concord(env, *args, extra={"CONCORD_NEW_PASSWORD": "short"})
    assert weak.returncode == 2, weak
    assert weak.stderr.startswith("concord: "), weak.stderr
    assert "password" in weak.stderr.lower(), weak.stderr

    good = concord(env, *args, extra={"CONCORD_NEW_PASSWORD": "correct-horse-42"})
    out = ok(good)
    assert "created boss" in out

    taken = concord(env, *args, extra={"CONCORD_NEW_PASSWORD": "correct-horse-42"})
    assert taken.returncode == 2, taken
    assert "taken" in taken.stderr, taken.stderr


def test_serve_refuses_an_unmigrated_database(env: dict[str, str]) -> None:
    result = concord(env, "serve", extra={"CONCORD_PORT": str(free_port())})
    assert result.returncode != 0, result
    assert "concord migrate" in result.stderr, result.stderr


def test_serve_answers_health_checks(env: dict[str, str], tmp_path: Path) -> None:
    ok(concord(env, "migrate"))
    server_log = tmp_path / "serve.log"
    port = free_port()
    serve_env = {**env, "CONCORD_PORT": str(port), "CONCORD_SECRET_KEY": SECRET}
    with server_log.open("w") as log:
        process = subprocess.Popen(
            [CONCORD, "serve"],
            env=serve_env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + SERVE_START_TIMEOUT
        status = None
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(
                    f"concord serve exited with {process.returncode}:\n{server_log.read_text()}"
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    status = r.status
                    body = r.read()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        assert status == 200, f"no answer on /healthz in time:\n{server_log.read_text()}"
        assert b'"ok"' in body
    finally:
        process.terminate()
        try:
            code = process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
            pytest.fail(f"concord serve ignored SIGTERM:\n{server_log.read_text()}")
    assert code in (0, -15), f"exit {code}:\n{server_log.read_text()}"
