"""The station's digital seal: PAdES, checked by pyHanko and by poppler's pdfsig.

pdfsig (poppler 22.12 here) has no trust store for the demo root, so it
reports "Certificate issuer isn't Trusted"; what matters from it is that the
signature itself is valid and covers the whole document, and that it sees a
flipped byte.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from server.agreements.document import PEOPLE
from server.agreements.pki import StationPki, create_station_pki
from server.agreements.seal import Sealer
from server.agreements.settings import SealerSettings, SealingNotConfigured
from server.agreements.verify import verify_pdf
from server.config import Config
from tests.agreements.pdf_support import (
    byte_range,
    flip_in_first_stream,
    poppler,
    rendered,
    sealer_for,
)

STATION = "白石派出所"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> StationPki:
    return create_station_pki(tmp_path_factory.mktemp("pki"), STATION)


@pytest.fixture(scope="module")
def sealed(pki: StationPki) -> bytes:
    return sealer_for(pki).seal(rendered(PEOPLE), reason="调解协议书电子印章", location=STATION)


def test_seal_is_valid_for_pyhanko(sealed: bytes, pki: StationPki) -> None:
    verdict = verify_pdf(sealed, [pki.ca_cert_path])
    assert verdict.valid, verdict.problems
    assert verdict.signer == STATION


def test_seal_is_valid_for_pdfsig(sealed: bytes) -> None:
    report = poppler("pdfsig", sealed)
    assert "Signature Field Name: StationSeal" in report
    assert f"Signer Certificate Common Name: {STATION}" in report
    assert "Signing Hash Algorithm: SHA-256" in report
    assert "Signature Type: ETSI.CAdES.detached" in report  # the PAdES subfilter
    assert "Total document signed" in report
    assert "Signature Validation: Signature is Valid." in report


def test_seal_appends_to_the_rendered_file(sealed: bytes) -> None:
    original = rendered(PEOPLE)
    assert sealed.startswith(original)  # an incremental update: WeasyPrint's bytes are kept
    start, first, second, rest = byte_range(sealed)
    assert start == 0 and second + rest == len(sealed)


def test_metadata_survives_sealing(sealed: bytes) -> None:
    info = poppler("pdfinfo", sealed)
    assert "Title:           人民调解协议书 （2026）白石调字第0042号" in info
    assert "Creator:         Concord" in info


def test_signature_carries_reason_location_and_the_chain(sealed: bytes, pki: StationPki) -> None:
    reader = PdfFileReader(io.BytesIO(sealed))
    (signature,) = reader.embedded_signatures
    assert signature.sig_object["/Reason"] == "调解协议书电子印章"
    assert signature.sig_object["/Location"] == STATION
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    subjects = {
        c.chosen.subject.native["common_name"] for c in signature.signed_data["certificates"]
    }
    assert subjects == {STATION, f"{STATION} 演示根证书 (DEMO)"}  # signer + embedded root


def test_a_flipped_byte_is_caught_by_both(sealed: bytes, pki: StationPki) -> None:
    tampered = flip_in_first_stream(sealed)
    verdict = verify_pdf(tampered, [pki.ca_cert_path])
    assert not verdict.valid
    assert not verdict.intact
    assert verdict.problems == ("digest_mismatch",)
    assert "Digest Mismatch" in poppler("pdfsig", tampered)


def test_custom_field_name(pki: StationPki) -> None:
    pdf = sealer_for(pki).seal(rendered(PEOPLE), reason="r", location="l", field_name="Seal2")
    assert "Signature Field Name: Seal2" in poppler("pdfsig", pdf)


def test_missing_paths_are_reported_clearly(tmp_path: Path, pki: StationPki) -> None:
    with pytest.raises(SealingNotConfigured, match="seal_key_path and seal_cert_path"):
        Sealer(None, pki.cert_path)
    with pytest.raises(SealingNotConfigured, match="seal_key_path .*does not exist"):
        Sealer(tmp_path / "nope.pem", pki.cert_path)
    with pytest.raises(SealingNotConfigured, match="seal_chain_paths .*does not exist"):
        Sealer(pki.key_path, pki.cert_path, [tmp_path / "chain.pem"])
    with pytest.raises(SealingNotConfigured, match="no sealing key is configured"):
        Sealer.from_settings(None)


def test_unreadable_material_is_reported_clearly(tmp_path: Path, pki: StationPki) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
    with pytest.raises(SealingNotConfigured, match="not a readable PEM/DER private key"):
        Sealer(garbage, pki.cert_path)
    with pytest.raises(SealingNotConfigured, match="seal_cert_path .*not a PEM/DER certificate"):
        Sealer(pki.key_path, garbage)
    other = create_station_pki(tmp_path / "other", "另一个派出所")
    with pytest.raises(SealingNotConfigured, match="does not belong to the certificate"):
        Sealer(other.key_path, pki.cert_path)
    both = tmp_path / "both.pem"
    both.write_bytes(pki.cert_path.read_bytes() + pki.ca_cert_path.read_bytes())
    with pytest.raises(SealingNotConfigured, match="exactly one certificate, found 2"):
        Sealer(pki.key_path, both)


def test_settings_pickle_and_build_a_sealer(pki: StationPki) -> None:
    settings = SealerSettings(
        key_path=pki.key_path, cert_path=pki.cert_path, chain_paths=(pki.ca_cert_path,)
    )
    assert pickle.loads(pickle.dumps(settings)) == settings
    sealer = Sealer.from_settings(settings)
    assert "白石派出所" in sealer.signer_name
    assert not sealer.timestamped


def test_settings_from_config(tmp_path: Path, pki: StationPki) -> None:
    config = Config(
        data_dir=tmp_path,
        seal_key_path=pki.key_path,
        seal_cert_path=pki.cert_path,
        seal_chain_paths=[pki.ca_cert_path],
        tsa_url="http://tsa.invalid/",
    )
    settings = SealerSettings.from_config(config)
    assert settings == SealerSettings(
        key_path=pki.key_path,
        cert_path=pki.cert_path,
        chain_paths=(pki.ca_cert_path,),
        key_passphrase=None,
        tsa_url="http://tsa.invalid/",
    )
    assert SealerSettings.from_config(Config(data_dir=tmp_path)) is None


def test_a_tsa_url_adds_a_timestamper_without_contacting_it(pki: StationPki) -> None:
    """Building the sealer must not touch the network; sealing would (not done here)."""
    sealer = Sealer(pki.key_path, pki.cert_path, tsa_url="http://tsa.invalid/tsr")
    assert sealer.timestamped
    assert sealer.tsa_url == "http://tsa.invalid/tsr"
