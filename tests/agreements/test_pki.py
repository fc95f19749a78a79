"""The demo PKI: a marked root and one station certificate, made once and kept."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from server.agreements.pki import create_station_pki

STATION = "白石派出所"


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def name_of(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    return str(cert.subject.get_attributes_for_oid(oid)[0].value)


def test_creates_a_marked_root_and_a_station_certificate(tmp_path: Path) -> None:
    pki = create_station_pki(tmp_path / "pki", STATION)
    ca, cert = load(pki.ca_cert_path), load(pki.cert_path)
    now = dt.datetime.now(dt.UTC)

    assert name_of(ca, NameOID.COMMON_NAME) == f"{STATION} 演示根证书 (DEMO)"
    assert ca.subject == ca.issuer
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    ca_usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ca_usage.key_cert_sign and not ca_usage.digital_signature
    assert 3640 <= (ca.not_valid_after_utc - now).days <= 3660

    assert name_of(cert, NameOID.COMMON_NAME) == STATION
    assert name_of(cert, NameOID.ORGANIZATION_NAME) == STATION
    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    assert 1090 <= (cert.not_valid_after_utc - now).days <= 1100
    assert cert.not_valid_before_utc <= now

    key = serialization.load_pem_private_key(pki.key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)
    assert key.public_key() == cert.public_key()


def test_key_file_is_private_and_nothing_temporary_is_left(tmp_path: Path) -> None:
    pki = create_station_pki(tmp_path, STATION)
    assert stat.S_IMODE(pki.key_path.stat().st_mode) == 0o600
    assert b"ENCRYPTED" not in pki.key_path.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "station-ca.pem",
        "station-cert.pem",
        "station-key.pem",
    ]


def test_is_idempotent(tmp_path: Path) -> None:
    first = create_station_pki(tmp_path, STATION)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    second = create_station_pki(tmp_path, "另一个名字")
    assert second == first
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()} == before


def test_an_interrupted_first_run_is_redone(tmp_path: Path) -> None:
    """The root is written last: without it the others are leftovers of a crash."""
    pki = create_station_pki(tmp_path, STATION)
    old_key = pki.key_path.read_bytes()
    pki.ca_cert_path.unlink()
    again = create_station_pki(tmp_path, STATION)
    assert again.ca_cert_path.exists()
    assert again.key_path.read_bytes() != old_key
    load(again.cert_path).verify_directly_issued_by(load(again.ca_cert_path))


def test_refuses_to_replace_a_root_whose_station_files_are_gone(tmp_path: Path) -> None:
    pki = create_station_pki(tmp_path, STATION)
    root = pki.ca_cert_path.read_bytes()
    pki.key_path.unlink()
    with pytest.raises(FileExistsError, match="refusing to replace"):
        create_station_pki(tmp_path, STATION)
    assert pki.ca_cert_path.read_bytes() == root


def test_refuses_files_that_do_not_belong_together(tmp_path: Path) -> None:
    ours = create_station_pki(tmp_path / "a", STATION)
    other = create_station_pki(tmp_path / "b", STATION)
    ours.key_path.write_bytes(other.key_path.read_bytes())
    with pytest.raises(FileExistsError, match="do not belong together"):
        create_station_pki(tmp_path / "a", STATION)
    ours.key_path.write_bytes(b"not a key")
    with pytest.raises(FileExistsError, match="do not load"):
        create_station_pki(tmp_path / "a", STATION)


def test_long_names_fit_x509_limits(tmp_path: Path) -> None:
    """cryptography limits name attributes to 64 UTF-8 bytes: 21 CJK characters."""
    name = "某某省某某市公安局某某分局某某派出所"  # 18 characters, 54 bytes
    pki = create_station_pki(tmp_path, name)
    ca, cert = load(pki.ca_cert_path), load(pki.cert_path)
    ca_name = name_of(ca, NameOID.COMMON_NAME)
    assert ca_name.endswith(" 演示根证书 (DEMO)")
    assert name.startswith(ca_name.removesuffix(" 演示根证书 (DEMO)"))
    assert len(ca_name.encode()) <= 64
    assert name_of(cert, NameOID.COMMON_NAME) == name
    longer = create_station_pki(tmp_path / "longer", name * 2)
    assert name_of(load(longer.cert_path), NameOID.COMMON_NAME) == (name * 2)[:21]


def test_needs_a_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="station_name"):
        create_station_pki(tmp_path, "  ")
