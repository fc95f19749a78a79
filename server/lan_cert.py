"""``concord lan-cert``: HTTPS for a trial on an office LAN, phones included.

A phone gives a page its camera only over HTTPS, and no public CA issues a
certificate for ``192.168.1.20``. So this makes a small CA of the station's
own (once, kept in ``DATA_DIR/lan-tls/``) and a server certificate under it
for the machine's LAN addresses; each phone trusts the CA once (the QR code
leads to ``/ca.crt``, the steps say where to tap), and ``concord serve``
uses the certificate when no other is configured (``server/tls.py``).

The CA's key stays in the data directory so that a new address only needs a
new server certificate, not a new trust step on every phone. A phone that
trusts this CA would believe any certificate it signs, so the CA is *name
constrained* (RFC 5280 4.2.1.10, enforced by Android's and Apple's
verifiers): it can vouch only for private-network addresses and local names
(``localhost``, ``*.lan``, ``*.local``, ``*.home.arpa``, ``*.internal``),
never for a bank's or WeChat's name, even if the data directory is stolen.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from server.config import (
    LAN_CA_CERT_FILE,
    LAN_CA_KEY_FILE,
    LAN_CERT_FILE,
    LAN_KEY_FILE,
)
from server.files import write_atomically

logger = logging.getLogger(__name__)

CA_VALIDITY = dt.timedelta(days=3652)
#: Apple's ceiling for a TLS server certificate is 398 days; stay under it.
CERT_VALIDITY = dt.timedelta(days=397)
BACKDATE = dt.timedelta(minutes=10)
CA_COMMON_NAME = "Concord LAN CA"
#: Where the CA may vouch: private IPv4 (RFC 1918), carrier-grade NAT (some office
#: networks), loopback, IPv6 unique-local and loopback.
PERMITTED_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
    ipaddress.ip_network("100.64.0.0/10"),
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("fc00::/7"),
    ipaddress.ip_network("::1/128"),
)
#: Local names: ``localhost`` and anything under these (``concord.lan``).
PERMITTED_DNS = ("localhost", "lan", "local", "home.arpa", "internal")
ALWAYS = ("localhost", "127.0.0.1")
#: Where ``concord serve`` hands out the CA certificate (never a key).
CA_DOWNLOAD_PATH = "/ca.crt"
CA_DOWNLOAD_NAME = "concord-lan-ca.crt"


class LanCertError(ValueError):
    """An address the LAN CA cannot vouch for, or a CA on disk that does not load."""


@dataclass(frozen=True)
class LanCertificate:
    """What ``make_lan_certificate`` wrote, and what a phone needs to hear about it."""

    ca_cert_path: Path
    cert_path: Path
    key_path: Path
    names: tuple[str, ...]
    #: SHA-256 of the CA certificate (DER), colon-separated: phones show it to compare.
    ca_fingerprint: str
    ca_created: bool


def detect_lan_addresses() -> list[str]:
    """This machine's IPv4 addresses on private networks (loopback aside), in interface order."""
    import ifaddr

    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if not isinstance(ip.ip, str):
                continue  # IPv6: rarely what a phone on the office Wi-Fi is told to open
            address = ipaddress.ip_address(ip.ip)
            if address.is_loopback or not _permitted_ip(address):
                continue
            if str(address) not in found:
                found.append(str(address))
    return found


def names_for(addresses: Iterable[str]) -> list[str]:
    """The certificate's names: the given addresses first (the first is the URL), then localhost.

    Raises ``LanCertError`` for a name the CA may not vouch for.
    """
    names: list[str] = []
    for raw in [*addresses, *ALWAYS]:
        name = raw.strip().strip("[]").lower().rstrip(".")
        if not name:
            continue
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            if not _permitted_dns(name):
                raise LanCertError(
                    f"{raw!r}: the LAN CA vouches only for local names "
                    f"(localhost, *.{', *.'.join(PERMITTED_DNS[1:])}) and private addresses"
                ) from None
        else:
            if not _permitted_ip(ip):
                raise LanCertError(
                    f"{raw!r} is not a private-network address; for a public address use a "
                    "certificate from a public CA (tls_cert_path) or a reverse proxy"
                )
            name = str(ip)
        if name not in names:
            names.append(name)
    return names


def _permitted_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(ip.version == net.version and ip in net for net in PERMITTED_NETWORKS)


def _permitted_dns(name: str) -> bool:
    return any(name == suffix or name.endswith("." + suffix) for suffix in PERMITTED_DNS)


def make_lan_certificate(directory: Path, addresses: Sequence[str]) -> LanCertificate:
    """The CA (made once, reused after) and a fresh server certificate for ``addresses``."""
    names = names_for(addresses)
    ca_cert, ca_key, created = _ensure_ca(directory)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CERT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(server=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path = directory / LAN_CERT_FILE
    key_path = directory / LAN_KEY_FILE
    # The key first: ``concord serve`` takes the pair only when both exist.
    write_atomically(key_path, _private_pem(key))
    chain = cert.public_bytes(serialization.Encoding.PEM)
    chain += ca_cert.public_bytes(serialization.Encoding.PEM)
    write_atomically(cert_path, chain)
    return LanCertificate(
        ca_cert_path=directory / LAN_CA_CERT_FILE,
        cert_path=cert_path,
        key_path=key_path,
        names=tuple(names),
        ca_fingerprint=fingerprint(ca_cert),
        ca_created=created,
    )


def _ensure_ca(
    directory: Path,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, bool]:
    """The CA on disk, or a new one (its certificate written last: it marks a whole CA)."""
    cert_path = directory / LAN_CA_CERT_FILE
    key_path = directory / LAN_CA_KEY_FILE
    if cert_path.exists():
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise LanCertError(
                f"{cert_path} exists but the CA's key beside it does not load ({exc}); phones "
                "may trust this CA, so it is not replaced: move the directory away to start anew"
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
            raise LanCertError(f"{key_path} is not the key of {cert_path}")
        return cert, key, False
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Concord"),
            x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME),
        ]
    )
    constraints = x509.NameConstraints(
        permitted_subtrees=[
            *(x509.IPAddress(net) for net in PERMITTED_NETWORKS),
            *(x509.DNSName(suffix) for suffix in PERMITTED_DNS),
        ],
        excluded_subtrees=None,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(server=False), critical=True)
        .add_extension(constraints, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_atomically(key_path, _private_pem(key))
    write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert, key, True


def _key_usage(*, server: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=server,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not server,
        crl_sign=not server,
        encipher_only=False,
        decipher_only=False,
    )


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def fingerprint(cert: x509.Certificate) -> str:
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def certificate_addresses(cert_path: Path) -> list[str]:
    """The names in the first certificate of ``cert_path``, in order (IP addresses as text)."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return []
    return [str(name.value) for name in sans]


def ca_certificate_der(ca_cert_path: Path) -> bytes | None:
    """The CA certificate as DER for ``/ca.crt``, or None when there is none.

    It is parsed and re-encoded, so nothing but a certificate can ever leave
    through the download, whatever else a file at that path might hold.
    """
    try:
        cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    except (OSError, ValueError):
        return None
    return cert.public_bytes(serialization.Encoding.DER)
