"""``concord lan-cert`` (server/lan_cert.py): the CA, the certificate, the printout, ``/ca.crt``.

Chains are checked with ``cryptography``'s own path validation (the WebPKI
rules browsers apply: SANs, key usages, name constraints).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from server.cli import main
from server.config import LAN_CA_CERT_FILE, LAN_CA_KEY_FILE, Config
from server.lan_cert import (
    CA_DOWNLOAD_PATH,
    CERT_VALIDITY,
    LanCertError,
    certificate_addresses,
    detect_lan_addresses,
    make_lan_certificate,
    names_for,
)
from tests.conftest import Client

LAN = "192.168.1.20"


def verify_for(
    name: x509.DNSName | x509.IPAddress, chain: list[x509.Certificate], ca: x509.Certificate
) -> None:
    store = verification.Store([ca])
    verifier = verification.PolicyBuilder().store(store).build_server_verifier(name)
    verifier.verify(chain[0], chain[1:])


def load(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def test_the_certificate_names_the_addresses_and_chains_to_the_ca(tmp_path: Path) -> None:
    made = make_lan_certificate(tmp_path, [LAN, "10.8.0.3", "concord.lan"])
    assert made.names == (LAN, "10.8.0.3", "concord.lan", "localhost", "127.0.0.1")
    assert certificate_addresses(made.cert_path) == list(made.names)
    chain = load(made.cert_path)
    (ca,) = load(made.ca_cert_path)
    for name in (
        x509.IPAddress(ipaddress.ip_address(LAN)),
        x509.IPAddress(ipaddress.ip_address("10.8.0.3")),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.DNSName("concord.lan"),
        x509.DNSName("localhost"),
    ):
        verify_for(name, chain, ca)
    with pytest.raises(verification.VerificationError):
        verify_for(x509.IPAddress(ipaddress.ip_address("192.168.1.21")), chain, ca)
    leaf = chain[0]
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert lifetime <= CERT_VALIDITY + dt.timedelta(minutes=10)  # under Apple's 398 days
    usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    # Keys are the server user's alone.
    assert made.key_path.stat().st_mode & 0o077 == 0
    assert (tmp_path / LAN_CA_KEY_FILE).stat().st_mode & 0o077 == 0


def test_the_ca_is_made_once_and_new_addresses_need_no_new_trust(tmp_path: Path) -> None:
    first = make_lan_certificate(tmp_path, [LAN])
    ca_bytes = first.ca_cert_path.read_bytes()
    second = make_lan_certificate(tmp_path, ["192.168.8.8"])
    assert first.ca_created and not second.ca_created
    assert second.ca_cert_path.read_bytes() == ca_bytes
    assert second.ca_fingerprint == first.ca_fingerprint
    (ca,) = load(second.ca_cert_path)
    verify_for(x509.IPAddress(ipaddress.ip_address("192.168.8.8")), load(second.cert_path), ca)


def test_a_broken_ca_is_never_replaced(tmp_path: Path) -> None:
    make_lan_certificate(tmp_path, [LAN])
    (tmp_path / LAN_CA_KEY_FILE).write_bytes(b"not a key")
    with pytest.raises(LanCertError, match="not replaced"):
        make_lan_certificate(tmp_path, [LAN])


def test_the_ca_cannot_vouch_for_public_names_even_if_its_key_leaks(tmp_path: Path) -> None:
    """Name constraints: a stolen data directory cannot mint a bank's certificate."""
    make_lan_certificate(tmp_path, [LAN])
    (ca,) = load(tmp_path / LAN_CA_CERT_FILE)
    ca_key = serialization.load_pem_private_key(
        (tmp_path / LAN_CA_KEY_FILE).read_bytes(), password=None
    )
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    now = dt.datetime.now(dt.UTC)

    def rogue(name: x509.GeneralName) -> x509.Certificate:
        key = ec.generate_private_key(ec.SECP256R1())
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rogue")]))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([name]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )

    # The same construction is accepted for a LAN name, so what refuses the others is the CA's.
    verify_for(x509.DNSName("desk.lan"), [rogue(x509.DNSName("desk.lan"))], ca)
    for name in (
        x509.DNSName("www.icbc.com.cn"),
        x509.DNSName("weixin.qq.com"),
        x509.IPAddress(ipaddress.ip_address("203.0.113.5")),
    ):
        with pytest.raises(verification.VerificationError, match="(?i)constraint"):
            verify_for(name, [rogue(name)], ca)


@pytest.mark.parametrize("bad", ["8.8.8.8", "concord.example.cn", "203.0.113.5", "2001:db8::1"])
def test_public_names_are_refused_before_anything_is_made(bad: str, tmp_path: Path) -> None:
    with pytest.raises(LanCertError):
        names_for([bad])
    with pytest.raises(LanCertError):
        make_lan_certificate(tmp_path, [bad])
    assert not list(tmp_path.iterdir())


def test_detected_addresses_are_private_and_never_loopback() -> None:
    for address in detect_lan_addresses():
        ip = ipaddress.ip_address(address)
        assert ip.version == 4 and not ip.is_loopback
        assert names_for([address])[0] == address  # the CA may vouch for every one of them


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace of its own")
def test_the_lan_address_is_found_on_the_machines_interfaces() -> None:
    """In a namespace made for the test: a LAN interface and a public one; loopback is up."""
    script = (
        "ip link set lo up && ip link add v0 type veth peer name v1 && "
        "ip addr add 192.168.77.5/24 dev v0 && ip addr add 203.0.113.8/24 dev v1 && "
        "ip link set v0 up && ip link set v1 up && "
        f"{sys.executable} -c 'from server.lan_cert import detect_lan_addresses as d; print(d())'"
    )
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['192.168.77.5']"


def run_cli(config_dir: Path, language: str, *args: str) -> int:
    env_before = dict(os.environ)
    os.environ.update({"CONCORD_DATA_DIR": str(config_dir), "CONCORD_DEFAULT_LANGUAGE": language})
    try:
        return main(["lan-cert", *args])
    finally:
        os.environ.clear()
        os.environ.update(env_before)


def test_the_command_prints_the_qr_code_and_steps_in_chinese(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(tmp_path, "zh", "--address", LAN) == 0
    out = capsys.readouterr().out
    url = f"https://{LAN}:8080{CA_DOWNLOAD_PATH}"
    assert url in out
    assert "▀" in out or "█" in out  # the terminal QR code
    assert "安卓" in out and "苹果" in out and "证书信任设置" in out
    assert "concord serve --host 0.0.0.0 --port 8080" in out
    assert (tmp_path / "lan-tls" / "server.crt").exists()


def test_the_command_speaks_english_when_configured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(tmp_path, "en", "--address", LAN, "--address", "concord.lan") == 0
    out = capsys.readouterr().out
    assert "Certificate Trust Settings" in out and "Android:" in out
    assert "Kept the local CA" not in out
    assert run_cli(tmp_path, "en", "--address", "192.168.1.30") == 0
    assert "Kept the local CA" in capsys.readouterr().out
    assert run_cli(tmp_path, "en", "--address", "localhost") == 0
    assert "No LAN address was found" in capsys.readouterr().out
    assert run_cli(tmp_path, "en", "--address", "8.8.8.8") == 2
    assert "not a private-network address" in capsys.readouterr().err


# --- /ca.crt ---------------------------------------------------------------------------------


async def test_no_ca_no_download(client: Client) -> None:
    assert (await client.get(CA_DOWNLOAD_PATH)).status == 404


async def test_the_download_is_the_ca_certificate_and_never_a_key(
    client: Client, config: Config
) -> None:
    made = make_lan_certificate(config.lan_tls_dir, [LAN])
    response = await client.get(CA_DOWNLOAD_PATH)
    assert response.status == 200
    assert response.content_type == "application/x-x509-ca-cert"
    assert "attachment" in response.headers["Content-Disposition"]
    body = await response.read()
    served = x509.load_der_x509_certificate(body)
    (ca,) = load(made.ca_cert_path)
    assert served == ca
    assert served.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert b"PRIVATE KEY" not in body
    # Even a file that holds a key beside the certificate gives out the certificate alone.
    ca_key_pem = (config.lan_tls_dir / LAN_CA_KEY_FILE).read_bytes()
    made.ca_cert_path.write_bytes(ca_key_pem + made.ca_cert_path.read_bytes())
    body = await (await client.get(CA_DOWNLOAD_PATH)).read()
    assert x509.load_der_x509_certificate(body) == ca
    key = serialization.load_pem_private_key(ca_key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    secret = key.private_numbers().private_value.to_bytes(32, "big")
    assert secret not in body and b"PRIVATE KEY" not in body
    # Only the CA's file is ever read: with it gone, nothing is served.
    made.ca_cert_path.unlink()
    assert (await client.get(CA_DOWNLOAD_PATH)).status == 404
