"""Placement and the front's header rules: pure functions, no processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from multidict import CIMultiDict

from server import cluster
from server.cli import MAX_WORKERS, build_parser
from server.config import Config
from server.front import backward_headers, close_code_to_send, forward_headers
from server.supervisor import make_run_dir, read_secret

SECRET = "s" * 40


def test_a_room_has_one_owner_and_rooms_alternate() -> None:
    assert [cluster.owner_of(s, 2) for s in range(1, 7)] == [1, 0, 1, 0, 1, 0]
    assert {cluster.owner_of(s, 3) for s in range(30)} == {0, 1, 2}
    assert all(cluster.owner_of(s, 1) == 0 for s in range(10))


def test_an_address_always_goes_to_the_same_worker() -> None:
    # CRC-32, not hash(): the same in every process, every run.
    assert cluster.address_worker("127.0.0.1", 2) == cluster.address_worker("127.0.0.1", 2)
    spread = {cluster.address_worker(f"10.0.0.{i}", 4) for i in range(64)}
    assert spread == {0, 1, 2, 3}
    # One IPv6 /64 is one address to the limiters, so it is one worker too.
    a = cluster.address_worker("2001:db8:1:2::1", 8)
    assert all(cluster.address_worker(f"2001:db8:1:2::{i:x}", 8) == a for i in range(2, 200))
    assert cluster.address_worker("::ffff:10.0.0.7", 5) == cluster.address_worker("10.0.0.7", 5)


def test_what_is_routed_by_room() -> None:
    assert cluster.session_of("/ws/room", {"session": "12"}) == 12
    assert cluster.session_of("/ws/room", {"session": "007"}) == 7
    assert cluster.session_of("/sessions/41/room", {}) == 41
    for path, query in [
        ("/ws/room", {"token": "abc"}),  # the token's room is found by a worker, not the front
        ("/ws/room", {"session": "abc"}),
        ("/ws/room", {"session": "-3"}),
        ("/ws/room", {"session": "1" * 13}),
        ("/ws/room", {}),
        ("/sessions/41", {}),
        ("/sessions/41/room/extra", {}),
        ("/j/sometoken/room", {}),  # the door's limiter: by address, like the door
        ("/healthz", {"session": "3"}),
    ]:
        assert cluster.session_of(path, query) is None, (path, query)


def test_route_picks_the_owner_else_the_address_worker() -> None:
    address = "192.0.2.10"
    by_address = cluster.address_worker(address, 2)
    assert cluster.route("/ws/room", {"session": "3"}, address, 2) == 1
    assert cluster.route("/sessions/4/room", {}, address, 2) == 0
    assert cluster.route("/ws/room", {"token": "x"}, address, 2) == by_address
    assert cluster.route("/login", {}, address, 2) == by_address


def test_a_worker_knows_what_it_owns() -> None:
    worker = cluster.Worker(index=1, count=3, run_dir=Path("/run/c"), secret=SECRET)
    assert worker.owns(4) and not worker.owns(5)
    assert worker.owner(5) == 2
    assert worker.socket_path() == Path("/run/c/worker-1.sock")
    assert worker.socket_path(2) == Path("/run/c/worker-2.sock")
    assert SECRET not in repr(worker)
    for index, count in [(3, 3), (-1, 2), (0, MAX_WORKERS + 1)]:
        with pytest.raises(ValueError):
            cluster.Worker(index=index, count=count, run_dir=Path("/r"), secret=SECRET)
    with pytest.raises(ValueError):
        cluster.Worker(index=0, count=2, run_dir=Path("/r"), secret="short")


def test_the_bounds_agree() -> None:
    assert cluster.MAX_WORKERS == MAX_WORKERS
    field = Config.model_fields["workers"]
    assert any(getattr(m, "le", None) == MAX_WORKERS for m in field.metadata)


def test_the_command_line_takes_a_worker_count(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = build_parser()
    assert parser.parse_args(["serve", "--workers", "3"]).workers == 3
    assert parser.parse_args(["serve"]).workers is None
    for bad in ("0", str(MAX_WORKERS + 1), "two"):
        with pytest.raises(SystemExit):
            parser.parse_args(["serve", "--workers", bad])
    monkeypatch.setenv("CONCORD_WORKERS", "4")
    assert Config().workers == 4
    capsys.readouterr()
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--help"])
    shown = capsys.readouterr().out
    assert "--workers" in shown and "--worker-index" not in shown and "--run-dir" not in shown


def test_forwarded_headers_drop_the_hop_and_ours() -> None:
    incoming = CIMultiDict(
        [
            ("Host", "concord.example"),
            ("Origin", "https://concord.example"),
            ("Cookie", "concord_session=abc"),
            ("Connection", "keep-alive, X-Private-Hop"),
            ("X-Private-Hop", "1"),
            ("Keep-Alive", "timeout=5"),
            ("Transfer-Encoding", "chunked"),
            ("Expect", "100-continue"),
            ("X-Concord-Client", "203.0.113.66"),  # a client lying about its address
            ("x-concord-internal", "guess"),
            ("Content-Length", "12"),
            ("Accept-Language", "zh-CN"),
        ]
    )
    out = forward_headers(incoming, "198.51.100.4")
    assert out["Host"] == "concord.example"
    assert out["Origin"] == "https://concord.example"
    assert out["Cookie"] == "concord_session=abc"
    assert out["Content-Length"] == "12"
    assert out["Accept-Language"] == "zh-CN"
    assert out.getall("X-Concord-Client") == ["198.51.100.4"]
    for gone in (
        "Connection",
        "X-Private-Hop",
        "Keep-Alive",
        "Transfer-Encoding",
        "Expect",
        "X-Concord-Internal",
    ):
        assert gone not in out, gone


def test_a_socket_makes_its_own_handshake() -> None:
    incoming = CIMultiDict(
        [
            ("Host", "h"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Protocol", "concord.v1"),
            ("Sec-WebSocket-Extensions", "permessage-deflate"),
            ("Cookie", "c=1"),
        ]
    )
    out = forward_headers(incoming, "192.0.2.1", websocket=True)
    assert sorted(k.lower() for k in out) == ["cookie", "host", "x-concord-client"]


def test_answers_keep_every_cookie_and_lose_the_hop() -> None:
    upstream = CIMultiDict(
        [
            ("Set-Cookie", "a=1; Path=/"),
            ("Set-Cookie", "b=2; Path=/"),
            ("Transfer-Encoding", "chunked"),
            ("Connection", "keep-alive"),
            ("X-Concord-Worker", "1"),
            ("X-Concord-Owner", "0"),
            ("Content-Length", "5"),
        ]
    )
    out = backward_headers(upstream)
    assert out.getall("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert out["X-Concord-Worker"] == "1" and out["Content-Length"] == "5"
    assert "Transfer-Encoding" not in out and "Connection" not in out
    assert "X-Concord-Owner" not in out


def test_close_codes_pass_through_unless_unsendable() -> None:
    assert close_code_to_send(4002) == 4002
    assert close_code_to_send(1000) == 1000
    for code in (None, 1005, 1006, 1015):
        assert close_code_to_send(code) == 1001  # the browser reconnects


def test_the_run_directory_is_private_and_past_runs_are_swept(tmp_path: Path) -> None:
    base = tmp_path / "run"
    base.mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = base / str(gone.pid)
    stale.mkdir()
    (stale / "worker-0.sock").write_text("")
    alive = base / "1"  # init: a live process, perhaps another server's
    alive.mkdir()
    run_dir = make_run_dir(tmp_path, 2)
    assert run_dir == base.resolve() / str(os.getpid())
    assert run_dir.stat().st_mode & 0o777 == 0o700
    assert not stale.exists() and alive.exists()


def test_a_data_directory_too_deep_for_sockets_gets_a_temporary_one(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    assert not cluster.socket_path_fits(deep / "run" / "123", 2)
    run_dir = make_run_dir(deep, 2)
    try:
        assert cluster.socket_path_fits(run_dir, 2)
        assert run_dir.stat().st_mode & 0o777 == 0o700
        assert not deep.exists()
    finally:
        run_dir.rmdir()


def test_the_secret_comes_by_pipe() -> None:
    read, write = os.pipe()
    os.write(write, b"the-secret\nmore")
    assert read_secret(read) == "the-secret"
    os.close(write)
    os.close(read)
    read, write = os.pipe()
    os.close(write)
    assert read_secret(read) is None  # started by hand: no supervisor, no secret
    os.close(read)
