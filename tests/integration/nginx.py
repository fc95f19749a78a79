"""Debian's nginx in front of a test server, with the site file docs ship (deploy/nginx/).

Each run gets its own prefix (configuration, pid file, logs, temporary
directories) on unprivileged ports; nginx runs in the foreground as a child
of the test and is stopped (SIGTERM to its pid, then SIGKILL) afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
SITE_FILE = REPO / "deploy" / "nginx" / "concord.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
START_TIMEOUT = 10.0


@dataclass(frozen=True)
class NginxSite:
    """What the shipped file's EDIT lines become in a test."""

    https_port: int
    http_port: int
    upstream_port: int
    cert_path: Path
    key_path: Path
    server_name: str = "127.0.0.1"


def render_site(site: NginxSite, text: str | None = None) -> str:
    """The shipped site file with the test's ports and paths; each value must be found once."""
    text = SITE_FILE.read_text() if text is None else text
    replacements = [
        ("server 127.0.0.1:8080;", f"server 127.0.0.1:{site.upstream_port};", 1),
        ("listen 80;", f"listen 127.0.0.1:{site.http_port};", 1),
        ("listen 443 ssl;", f"listen 127.0.0.1:{site.https_port} ssl;", 1),
        ("server_name concord.example.cn;", f"server_name {site.server_name};", 2),
        ("/etc/ssl/concord/fullchain.pem", str(site.cert_path), 1),
        ("/etc/ssl/concord/privkey.pem", str(site.key_path), 1),
    ]
    for old, new, count in replacements:
        found = text.count(old)
        assert found == count, f"{SITE_FILE} has {old!r} {found} times, expected {count}"
        text = text.replace(old, new)
    return text


def main_conf(prefix: Path, site_path: Path) -> str:
    """nginx.conf for one run: everything under ``prefix``, the site included as shipped."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read/write the prefix
    temps = "\n".join(
        f"    {name}_temp_path {prefix / ('tmp-' + name)};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}worker_processes 1;\n"
        "daemon off;\n"
        f"pid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} info;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"    access_log {prefix / 'access.log'};\n"
        f"{temps}\n"
        f"    include {site_path};\n"
        "}\n"
    )


def _listening(port: int) -> bool:
    with contextlib.closing(socket.socket()) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _write_conf(prefix: Path, site: NginxSite) -> Path:
    if not Path(NGINX).exists():
        pytest.skip("Debian's nginx is not installed (make test installs it)")
    prefix.mkdir(parents=True, exist_ok=True)
    site_path = prefix / "concord.conf"
    site_path.write_text(render_site(site))
    conf = prefix / "nginx.conf"
    conf.write_text(main_conf(prefix, site_path))
    return conf


def read_log(prefix: Path, name: str) -> str:
    return (prefix / name).read_text()


@contextlib.asynccontextmanager
async def running_nginx(prefix: Path, site: NginxSite) -> AsyncIterator[Path]:
    """Start nginx with the shipped site file; yields the prefix (logs are there)."""
    conf = _write_conf(prefix, site)
    check = await asyncio.create_subprocess_exec(
        NGINX, "-t", "-q", "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await check.communicate()
    assert check.returncode == 0, out.decode()
    process = await asyncio.create_subprocess_exec(
        NGINX, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf),
        stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _listening(site.https_port):
            assert process.returncode is None, read_log(prefix, "error.log")
            assert time.monotonic() < deadline, "nginx did not start listening"
            await asyncio.sleep(0.05)
        yield prefix
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)  # our own child, by its pid
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                process.kill()
                await process.wait()
