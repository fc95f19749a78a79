"""``concord serve`` speaking HTTPS itself (server/tls.py): settings, flags, the LAN certificate.

The server runs as an operator starts it, in a process of its own; the
clients trust only the test's CA, so a page or a room socket that arrives at
all arrived over verified TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from server.config import Config
from server.db import SessionFactory
from server.lan_cert import LanCertificate, make_lan_certificate
from server.signaling.messages import PROTOCOL
from server.tls import TlsSetupError, context_for, lan_public_url, server_context
from tests.conftest import SECRET, Seed
from tests.http.test_door import Booked, book_session
from tests.signaling.test_endpoint import Peer
from tests.test_workers import CONCORD, REPO

START_TIMEOUT = 30.0


@pytest.fixture
def pki(tmp_path: Path) -> LanCertificate:
    """A test CA and a certificate for 127.0.0.1 (kept outside the data directory)."""
    return make_lan_certificate(tmp_path / "test-pki", ["127.0.0.1"])


def trusting(pki: LanCertificate) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=pki.ca_cert_path)


# --- settings ----------------------------------------------------------------------------


def test_plain_http_unless_a_certificate_is_given(config: Config) -> None:
    assert context_for(config) is None
    assert config.effective_public_url.startswith("http://")
    assert config.effective_cookie_secure is False


def test_a_certificate_makes_https_urls_and_secure_cookies(
    config: Config, pki: LanCertificate
) -> None:
    config.tls_cert_path, config.tls_key_path = pki.cert_path, pki.key_path
    context = context_for(config)
    assert context is not None and context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert config.effective_public_url == f"https://{config.host}:{config.port}"
    assert config.effective_cookie_secure is True
    config.public_url = "https://concord.example.cn/"
    assert config.effective_public_url == "https://concord.example.cn"


def test_an_https_public_url_alone_makes_cookies_secure() -> None:
    assert Config(public_url="https://concord.example.cn").effective_cookie_secure is True
    assert Config(public_url="http://10.0.0.2:8080").effective_cookie_secure is False


def test_half_a_configuration_or_bad_files_are_refused(
    config: Config, pki: LanCertificate, tmp_path: Path
) -> None:
    config.tls_cert_path = pki.cert_path
    with pytest.raises(TlsSetupError, match="go together"):
        context_for(config)
    with pytest.raises(TlsSetupError, match="no such file"):
        server_context(tmp_path / "missing.pem", pki.key_path)
    other = make_lan_certificate(tmp_path / "other", ["127.0.0.1"])
    with pytest.raises(TlsSetupError, match="not a PEM certificate and its key"):
        server_context(pki.cert_path, other.key_path)


def test_configured_paths_win_over_the_lan_certificate(config: Config, pki: LanCertificate) -> None:
    lan = make_lan_certificate(config.lan_tls_dir, ["192.168.1.20"])
    assert config.effective_tls_paths == (lan.cert_path, lan.key_path)
    config.tls_cert_path, config.tls_key_path = pki.cert_path, pki.key_path
    assert config.effective_tls_paths == (pki.cert_path, pki.key_path)


def test_a_server_on_every_interface_is_reached_at_the_lan_address(config: Config) -> None:
    make_lan_certificate(config.lan_tls_dir, ["192.168.1.20"])
    assert lan_public_url(config) is None  # 127.0.0.1: the URL is that address already
    config.host = "0.0.0.0"
    assert lan_public_url(config) == f"https://192.168.1.20:{config.port}"
    config.public_url = "https://concord.lan"
    assert lan_public_url(config) is None  # the operator's word wins


# --- real servers --------------------------------------------------------------------------


@pytest.fixture
async def booked(factory: SessionFactory, seed: Seed, config: Config) -> Booked:
    return await book_session(factory, seed, config, starts_in=timedelta(minutes=5))


@contextlib.asynccontextmanager
async def serving(
    config: Config, tmp_path: Path, port: int, *args: str, workers: int = 1
) -> AsyncIterator[Path]:
    """``concord serve`` over TLS; yields the log's path once the server answers over HTTPS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    env.update(
        {
            "CONCORD_DATA_DIR": str(config.data_dir),
            "CONCORD_DATABASE_URL": config.database_url,
            "CONCORD_SECRET_KEY": SECRET,
            "CONCORD_PORT": str(port),
            "CONCORD_ICE_HOST_ADDRESSES": '["127.0.0.1"]',
            "PYTHONUNBUFFERED": "1",
        }
    )
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        process = await asyncio.create_subprocess_exec(
            CONCORD, "serve", "--workers", str(workers), *args,
            env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT
        unverified = ssl.create_default_context()
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE
        async with aiohttp.ClientSession() as http:
            while True:
                assert process.returncode is None, log_path.read_text()
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    url = f"https://127.0.0.1:{port}/healthz"
                    async with http.get(url, ssl=unverified) as response:
                        if response.status == 200:
                            break
                assert time.monotonic() < deadline, log_path.read_text()
                await asyncio.sleep(0.1)
        yield log_path
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()


async def pages_and_a_room_socket(base: str, context: ssl.SSLContext, booked: Booked) -> None:
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=context), cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as http:
        async with http.get(f"{base}/login") as page:
            assert page.status == 200
            assert "concord_pre=" in page.headers["Set-Cookie"]
            assert "Secure" in page.headers["Set-Cookie"]
        async with http.get(f"{base}/j/{booked.tokens['applicant']}") as door:
            assert door.status == 200
        wss = base.replace("https://", "wss://")
        ws = await http.ws_connect(
            f"{wss}/ws/room?token={booked.tokens['applicant']}", protocols=(PROTOCOL,)
        )
        try:
            joined = await Peer(ws).request("join")
            assert joined["ok"] and joined["data"]["admission"] == "lobby", joined
        finally:
            await ws.close()


async def test_serve_with_a_certificate_from_the_command_line(
    config: Config, booked: Booked, pki: LanCertificate, tmp_path: Path, unused_tcp_port: int
) -> None:
    flags = ("--tls-cert", str(pki.cert_path), "--tls-key", str(pki.key_path))
    async with serving(config, tmp_path, unused_tcp_port, *flags) as log:
        base = f"https://127.0.0.1:{unused_tcp_port}"
        await pages_and_a_room_socket(base, trusting(pki), booked)
        # A client that trusts nothing extra is refused: this is the test CA's certificate.
        async with aiohttp.ClientSession() as stranger:
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await stranger.get(f"{base}/login")
        # Nor does the port speak plain HTTP.
        async with aiohttp.ClientSession() as plain:
            with pytest.raises(aiohttp.ClientError):
                await plain.get(f"http://127.0.0.1:{unused_tcp_port}/login")
    assert f"on https://127.0.0.1:{unused_tcp_port}" in log.read_text()


async def test_serve_with_workers_picks_up_the_lan_certificate(
    config: Config, booked: Booked, tmp_path: Path, unused_tcp_port: int
) -> None:
    """No TLS setting at all: `concord lan-cert`'s certificate is used, TLS ends in the front."""
    lan = make_lan_certificate(config.lan_tls_dir, ["127.0.0.1"])
    async with serving(config, tmp_path, unused_tcp_port, workers=2) as log:
        base = f"https://127.0.0.1:{unused_tcp_port}"
        await pages_and_a_room_socket(base, trusting(lan), booked)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trusting(lan))) as h:
            async with h.get(f"{base}/ca.crt") as download:
                assert download.status == 200
                assert download.content_type == "application/x-x509-ca-cert"
    assert f"on https://127.0.0.1:{unused_tcp_port} (2 workers)" in log.read_text()


async def test_serve_refuses_a_key_without_its_certificate(
    config: Config, pki: LanCertificate, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    env.update({"CONCORD_DATA_DIR": str(config.data_dir), "CONCORD_SECRET_KEY": SECRET})
    done = await asyncio.create_subprocess_exec(
        CONCORD, "serve", "--workers", "1", "--tls-key", str(pki.key_path),
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(done.communicate(), 30)
    assert done.returncode == 2
    assert b"tls_cert_path and tls_key_path go together" in out
