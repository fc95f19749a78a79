"""A demonstration PKI for the station's digital seal.

A station that has no certificate from a licensed CA yet still needs its
agreements sealed and verifiable, so the demo and first installs make their
own: a self-signed root marked "(DEMO)" and one station certificate under
it. The verify page trusts the root explicitly (``seal_trust_roots``); no
viewer trusts it by default, which is the honest outcome for a demo.

The root's private key is never written anywhere: it signs the one station
certificate and is dropped, so nobody can mint more certificates under a
root that installs trust. A new station certificate therefore means a new
root (remove the directory's files and run again).

When a licensed CA's certificate arrives, point ``seal_key_path``,
``seal_cert_path``, ``seal_chain_paths`` and ``seal_trust_roots`` at it;
nothing here is needed then.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from server.files import write_atomically

CA_CERT_FILE = "station-ca.pem"
CERT_FILE = "station-cert.pem"
KEY_FILE = "station-key.pem"

CA_VALIDITY = dt.timedelta(days=3652)  # ten years
CERT_VALIDITY = dt.timedelta(days=1096)  # three years
# Certificates start a little in the past so a verifier whose clock is a few
# minutes behind does not see a "not yet valid" seal on the day it is issued.
BACKDATE = dt.timedelta(minutes=10)
# X.509 upper bound for commonName and organizationName (RFC 5280 ub-common-name),
# in UTF-8 bytes as ``cryptography`` enforces it.
MAX_NAME = 64
DEMO_SUFFIX = " 演示根证书 (DEMO)"


@dataclass(frozen=True)
class StationPki:
    """Where the demo PKI's files are: give ``cert_path``/``key_path`` to the sealer,
    ``ca_cert_path`` to the verifier as a trust root."""

    ca_cert_path: Path
    cert_path: Path
    key_path: Path


def create_station_pki(directory: Path, station_name: str) -> StationPki:
    """Create (or reuse) a demo root and a station certificate under ``directory``.

    Idempotent: when the three files exist, load and match each other, they
    are returned unchanged (whatever ``station_name`` says now), so a restart
    never invalidates agreements sealed earlier. The root is written
    last, so a run that died halfway (no root yet) is simply redone; if the
    root exists but the others are missing or broken, this raises
    ``FileExistsError`` instead of replacing a root that may already be
    trusted by verifiers.
    """
    station_name = station_name.strip()
    if not station_name:
        raise ValueError("station_name must not be empty")
    directory.mkdir(parents=True, exist_ok=True)
    pki = StationPki(
        ca_cert_path=directory / CA_CERT_FILE,
        cert_path=directory / CERT_FILE,
        key_path=directory / KEY_FILE,
    )
    if pki.ca_cert_path.exists():
        problem = _check_existing(pki)
        if problem is None:
            return pki
        raise FileExistsError(
            f"{pki.ca_cert_path} exists but the station certificate or key next to it "
            f"{problem}; refusing to replace a root that verifiers may trust. "
            "Move the files away to create a new demo PKI."
        )

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _fit(station_name)),
            x509.NameAttribute(NameOID.COMMON_NAME, _fit(station_name, DEMO_SUFFIX)),
        ]
    )
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _fit(station_name)),
            x509.NameAttribute(NameOID.COMMON_NAME, _fit(station_name)),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CERT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_atomically(pki.key_path, key_pem, mode=0o600)
    write_atomically(pki.cert_path, cert.public_bytes(serialization.Encoding.PEM))
    # Last: its presence marks a complete PKI (see the docstring).
    write_atomically(pki.ca_cert_path, ca_cert.public_bytes(serialization.Encoding.PEM))
    return pki


def _fit(name: str, suffix: str = "") -> str:
    """Shorten ``name`` so that ``name + suffix`` fits an X.509 name attribute.

    ``cryptography`` counts the limit in UTF-8 bytes, so a Chinese name gets
    at most 21 characters (fewer with the root's suffix).
    """
    while len((name + suffix).encode()) > MAX_NAME:
        name = name[:-1]
    return name + suffix


def _check_existing(pki: StationPki) -> str | None:
    """Why the existing files are not a usable PKI, or None when they are."""
    try:
        ca_cert = x509.load_pem_x509_certificate(pki.ca_cert_path.read_bytes())
        cert = x509.load_pem_x509_certificate(pki.cert_path.read_bytes())
        key = serialization.load_pem_private_key(pki.key_path.read_bytes(), password=None)
    except FileNotFoundError:
        return "are missing"
    except (OSError, ValueError, TypeError) as exc:
        return f"do not load ({type(exc).__name__})"
    if key.public_key() != cert.public_key():
        return "do not belong together (the key is not the certificate's)"
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (InvalidSignature, ValueError, TypeError) as exc:
        return f"were not issued by this root ({type(exc).__name__})"
    return None
