"""server/turn_config.py: the coturn file, and Debian's turnserver accepting it.

The file comes from ``concord turn-config`` itself; coturn runs on loopback
with it, and TURN allocations over UDP, TCP and TLS are made with the very
credentials Concord's join reply would hand out (``server.app.turn_issuer``).
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aioice import stun, turn

from server.app import turn_issuer
from server.cli import main
from server.config import Config
from server.lan_cert import make_lan_certificate
from server.turn import TurnCredentials, TurnIssuer
from server.turn_config import DENIED_PEER_NETWORKS, TurnConfigError, TurnServerSettings, render
from tests import coturn

SECRET = "coturn-test-secret-0123456789abcdefghij"
WHEN = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)


def settings(**changes: object) -> TurnServerSettings:
    fields: dict[str, object] = {
        "secret": SECRET,
        "realm": "turn.example.cn",
        "media_addresses": ("10.0.0.5",),
        "cert_path": Path("/etc/ssl/fullchain.pem"),
        "key_path": Path("/etc/ssl/privkey.pem"),
    }
    fields.update(changes)
    return TurnServerSettings(**fields)  # type: ignore[arg-type]


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_the_file_has_the_listeners_the_secret_and_the_peer_rules() -> None:
    text = lines(render(settings(), WHEN))
    for line in (
        "listening-port=3478",
        "tls-listening-port=443",
        "cert=/etc/ssl/fullchain.pem",
        "pkey=/etc/ssl/privkey.pem",
        "use-auth-secret",
        f"static-auth-secret={SECRET}",
        "realm=turn.example.cn",
        "min-port=49160",
        "max-port=49999",
        "fingerprint",
        "no-cli",
        "no-multicast-peers",
        "no-dtls",
        "allowed-peer-ip=10.0.0.5",
        "denied-peer-ip=10.0.0.0-10.255.255.255",
        "denied-peer-ip=192.168.0.0-192.168.255.255",
        "denied-peer-ip=127.0.0.0-127.255.255.255",
        "denied-peer-ip=fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "syslog",
    ):
        assert line in text, line
    assert len([line for line in text if line.startswith("denied-peer-ip=")]) == len(
        DENIED_PEER_NETWORKS
    )
    assert "no-tls" not in text and not any(line.startswith("listening-ip") for line in text)


def test_without_tls_the_file_turns_tls_off() -> None:
    text = lines(render(settings(tls_port=None, cert_path=None, key_path=None), WHEN))
    assert "no-tls" in text and not any(line.startswith("tls-listening-port") for line in text)


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"cert_path": None}, "needs a certificate and key"),
        ({"min_port": 50000, "max_port": 40000}, "min above max"),
        ({"min_port": 400, "max_port": 500}, "must not hold the listening ports"),
        ({"tls_port": 3478}, "must differ"),
        ({"media_addresses": ("media.example.cn",)}, "not an IP address"),
        ({"external_ip": "203.0.113.9/nat"}, "PUBLIC or PUBLIC/PRIVATE"),
        ({"secret": "short"}, "at least 32"),
        ({"realm": "a b"}, "host name"),
    ],
)
def test_settings_coturn_would_refuse_or_that_are_unsafe_are_named(
    changes: dict[str, object], why: str
) -> None:
    with pytest.raises((TurnConfigError, ValueError), match=why):
        settings(**changes)


@pytest.fixture
def environment() -> Iterator[dict[str, str]]:
    before = dict(os.environ)
    yield os.environ  # type: ignore[misc]
    os.environ.clear()
    os.environ.update(before)


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_command_writes_a_private_file_with_the_configured_secret(
    tmp_path: Path, environment: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    environment.update(
        {
            "CONCORD_DATA_DIR": str(tmp_path),
            "CONCORD_TURN_SECRET": SECRET,
            "CONCORD_TURN_URLS": '["turn:turn.example.cn:3478"]',
            "CONCORD_ICE_HOST_ADDRESSES": '["10.0.0.5"]',
        }
    )
    assert main(["turn-config", "--no-tls"]) == 0
    written = tmp_path / "turnserver.conf"
    assert written.stat().st_mode & 0o077 == 0
    text = lines(written.read_text())
    assert f"static-auth-secret={SECRET}" in text and "allowed-peer-ip=10.0.0.5" in text
    out = capsys.readouterr().out
    assert f"Wrote the coturn configuration to {written}" in out
    assert SECRET not in out  # a configured secret is never printed
    assert "UDP 49160-49999" in out


def test_with_no_secret_set_one_is_made_and_the_operator_told_how_to_set_it(
    tmp_path: Path, environment: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    environment.update(
        {"CONCORD_DATA_DIR": str(tmp_path), "CONCORD_PUBLIC_URL": "https://concord.example.cn"}
    )
    assert main(["turn-config", "--output", "-", "--no-tls"]) == 0
    captured = capsys.readouterr()
    secret = next(
        line.split("=", 1)[1]
        for line in captured.out.splitlines()
        if line.startswith("static-auth")
    )
    assert len(secret) >= 32
    assert f"CONCORD_TURN_SECRET={secret}" in captured.err
    assert '"turn:concord.example.cn:3478?transport=udp"' in captured.err
    # The suggested settings are ones Concord accepts.
    Config(data_dir=tmp_path, turn_secret=secret, turn_urls=["turn:concord.example.cn:3478"])


def test_turn_urls_that_the_file_does_not_serve_are_pointed_out(
    tmp_path: Path, environment: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    environment.update(
        {
            "CONCORD_DATA_DIR": str(tmp_path),
            "CONCORD_TURN_SECRET": SECRET,
            "CONCORD_TURN_URLS": '["turn:t.example.cn:3479", "turns:t.example.cn:5349", '
            '"turn:t.example.cn:3478?transport=tcp"]',
        }
    )
    assert main(["turn-config", "--no-tls"]) == 0
    out = capsys.readouterr().out
    assert "turn:t.example.cn:3479, but TURN listens on 3478" in out
    assert "turns:t.example.cn:5349, but this file has no TLS" in out
    assert "transport=tcp, but" not in out


def test_tls_without_a_certificate_is_refused_with_the_way_out(
    tmp_path: Path, environment: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    environment.update({"CONCORD_DATA_DIR": str(tmp_path)})
    assert main(["turn-config"]) == 2
    assert "needs a certificate and key" in capsys.readouterr().err
    assert not (tmp_path / "turnserver.conf").exists()


async def allocate(
    address: tuple[str, int], minted: TurnCredentials, transport: str, tls: ssl.SSLContext | None
) -> tuple[str, int]:
    relay, _ = await turn.create_turn_endpoint(
        asyncio.DatagramProtocol,
        address,
        minted.username,
        minted.credential,
        ssl=tls,
        transport=transport,
    )
    try:
        host, port = relay.get_extra_info("sockname")
        return str(host), int(port)
    finally:
        relay.close()


@pytest.mark.skipif(not coturn.installed(), reason="Debian's coturn is not installed")
async def test_debians_turnserver_takes_the_file_and_concords_credentials(
    tmp_path: Path, environment: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    lan = make_lan_certificate(tmp_path / "pki", ["127.0.0.1"])
    port, tls_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_STREAM)
    # Below the kernel's ephemeral ports, so that the free ports above are never in it.
    relay_low = 21000 + (os.getpid() % 400) * 20
    log = tmp_path / "coturn.log"
    environment.update(
        {
            "CONCORD_DATA_DIR": str(tmp_path / "data"),
            "CONCORD_TURN_SECRET": SECRET,
            "CONCORD_TURN_URLS": f'["turn:127.0.0.1:{port}?transport=udp"]',
            "CONCORD_TLS_CERT_PATH": str(lan.cert_path),
            "CONCORD_TLS_KEY_PATH": str(lan.key_path),
        }
    )
    config_file = tmp_path / "turnserver.conf"
    assert (
        main(
            [
                "turn-config",
                "--output",
                str(config_file),
                "--listening-port",
                str(port),
                "--tls-port",
                str(tls_port),
                "--min-port",
                str(relay_low),
                "--max-port",
                str(relay_low + 19),
                "--listening-ip",
                "127.0.0.1",
                "--relay-ip",
                "127.0.0.1",
                "--log-file",
                str(log),
                "--pid-file",
                str(tmp_path / "coturn.pid"),
            ]
        )  # fmt: skip
        == 0
    )
    issuer = turn_issuer(Config())  # the settings from the environment, as `concord serve`
    assert issuer is not None
    tls = ssl.create_default_context(cafile=str(lan.ca_cert_path))
    async with coturn.running(config_file, log, ("127.0.0.1", port)) as server:
        minted = issuer.mint("inv-1")
        for transport, at, context in (
            ("udp", port, None),
            ("tcp", port, None),
            ("tcp", tls_port, tls),
        ):
            host, relayed = await allocate(("127.0.0.1", at), minted, transport, context)
            assert host == "127.0.0.1" and relay_low <= relayed <= relay_low + 19

        expired = TurnIssuer(issuer.secret, issuer.urls, 60, clock=lambda: issuer.clock() - 61)
        wrong = TurnIssuer(b"another-station-secret-0123456789abc", issuer.urls, 600)
        for refused in (expired.mint("inv-1"), wrong.mint("inv-1")):
            with pytest.raises(stun.TransactionFailed) as failure:
                await allocate(("127.0.0.1", port), refused, "udp", None)
            assert failure.value.response.attributes["ERROR-CODE"][0] == 401
        assert server.complaints() == []
        assert "use-auth-secret" in config_file.read_text()
