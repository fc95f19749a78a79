"""Verification: the verdict for genuine, tampered, foreign and broken files.

It has to answer anything an uploader throws at the verify page without
raising, and never count a file as valid unless the seal is intact, covers
every byte and chains to a configured root.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import logging
import random

import pytest
from cryptography import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from server.agreements.document import PEOPLE
from server.agreements.pki import StationPki, create_station_pki
from server.agreements.verdict import PdfVerdict
from server.agreements.verify import verify_pdf
from tests.agreements.pdf_support import rendered, sealer_for

STATION = "白石派出所"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> StationPki:
    return create_station_pki(tmp_path_factory.mktemp("pki"), STATION)


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> StationPki:
    return create_station_pki(tmp_path_factory.mktemp("other"), "另一个派出所")


@pytest.fixture(scope="module")
def sealed(pki: StationPki) -> bytes:
    return sealer_for(pki).seal(rendered(PEOPLE), reason="调解协议书电子印章", location=STATION)


def test_a_genuine_seal_is_valid(sealed: bytes, pki: StationPki) -> None:
    before = dt.datetime.now(dt.UTC)
    verdict = verify_pdf(sealed, [pki.ca_cert_path])
    assert verdict == PdfVerdict(
        valid=True,
        intact=True,
        trusted=True,
        covers_whole_file=True,
        signer=STATION,
        signed_at=verdict.signed_at,
        problems=(),
        sha256=hashlib.sha256(sealed).hexdigest(),
    )
    assert verdict.signed_at is not None and verdict.signed_at.tzinfo is not None
    assert before - dt.timedelta(minutes=5) < verdict.signed_at <= dt.datetime.now(dt.UTC)


def test_roots_may_be_certificate_objects(sealed: bytes, pki: StationPki) -> None:
    root = x509.load_pem_x509_certificate(pki.ca_cert_path.read_bytes())
    assert verify_pdf(sealed, [root]).valid
    assert verify_pdf(sealed, [pki.ca_cert_path.read_bytes()]).valid
    assert verify_pdf(sealed, [str(pki.ca_cert_path)]).valid


def test_another_root_is_not_trusted(sealed: bytes, other_pki: StationPki) -> None:
    verdict = verify_pdf(sealed, [other_pki.ca_cert_path])
    assert not verdict.valid
    assert verdict.intact and verdict.covers_whole_file
    assert not verdict.trusted
    assert verdict.problems == ("untrusted",)
    assert verdict.signer == STATION  # still says who claims to have sealed it


def test_both_roots_configured_is_fine(
    sealed: bytes, pki: StationPki, other_pki: StationPki
) -> None:
    assert verify_pdf(sealed, [other_pki.ca_cert_path, pki.ca_cert_path]).valid


def test_no_roots_or_unreadable_ones_are_named(
    sealed: bytes, pki: StationPki, tmp_path_factory: pytest.TempPathFactory
) -> None:
    assert verify_pdf(sealed, []).problems == ("untrusted", "no_trust_roots")
    missing = tmp_path_factory.mktemp("roots") / "missing.pem"
    verdict = verify_pdf(sealed, [missing])
    assert verdict.problems == ("untrusted", "trust_root_unreadable", "no_trust_roots")
    # A good root next to a broken one still works, and nothing is reported.
    assert verify_pdf(sealed, [missing, pki.ca_cert_path]).problems == ()


def test_an_incremental_update_after_sealing_is_not_valid(sealed: bytes, pki: StationPki) -> None:
    """Someone edits the sealed PDF "properly": the original bytes are all still signed."""
    writer = IncrementalPdfFileWriter(io.BytesIO(sealed))
    title = {generic.NameObject("/Title"): generic.TextStringObject("改过的标题")}
    writer.set_info(generic.DictionaryObject(title))  # type: ignore[no-untyped-call]
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    verdict = verify_pdf(out.getvalue(), [pki.ca_cert_path])
    assert not verdict.valid
    assert verdict.intact and verdict.trusted
    assert not verdict.covers_whole_file
    assert "modified_after_signing" in verdict.problems


def test_a_second_signature_breaks_whole_file_coverage(
    sealed: bytes, pki: StationPki, other_pki: StationPki
) -> None:
    resealed = sealer_for(other_pki).seal(sealed, reason="r", location="l", field_name="Other")
    verdict = verify_pdf(resealed, [pki.ca_cert_path, other_pki.ca_cert_path])
    assert not verdict.valid
    assert verdict.signer == STATION  # the first signature is the station's seal
    assert verdict.problems == ("modified_after_signing",)


def test_an_unsigned_pdf_has_no_signature() -> None:
    verdict = verify_pdf(rendered(PEOPLE), [])
    assert not verdict.valid
    assert verdict.problems == ("no_signature",)
    assert verdict.signer == "" and verdict.signed_at is None


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "not_a_pdf"),
        (b"GIF89a garbage", "not_a_pdf"),
        (bytes(range(256)) * 8, "not_a_pdf"),
        (b"%PDF-1.7\n garbage without any structure", "malformed"),
        (b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF", ""),
    ],
)
def test_garbage_gets_a_verdict_not_an_exception(data: bytes, problem: str) -> None:
    verdict = verify_pdf(data, [])
    assert not verdict.valid
    assert verdict.sha256 == hashlib.sha256(data).hexdigest()
    assert len(verdict.problems) == 1
    if problem:
        assert verdict.problems == (problem,)


def test_truncated_and_mangled_files_get_a_verdict(sealed: bytes, pki: StationPki) -> None:
    assert not verify_pdf(sealed[: len(sealed) // 2], [pki.ca_cert_path]).valid
    assert not verify_pdf(sealed[:-200], [pki.ca_cert_path]).valid
    rng = random.Random(20261125)
    for _ in range(25):
        mangled = bytearray(sealed)
        for _ in range(3):
            mangled[rng.randrange(len(mangled))] = rng.randrange(256)
        verdict = verify_pdf(bytes(mangled), [pki.ca_cert_path])
        assert isinstance(verdict, PdfVerdict)
        if verdict.valid:
            # Only bytes outside the signed range (the signature's zero padding) may change.
            assert verdict.intact and verdict.trusted


def test_verdicts_pickle(sealed: bytes, pki: StationPki) -> None:
    import pickle

    verdict = verify_pdf(sealed, [pki.ca_cert_path])
    assert pickle.loads(pickle.dumps(verdict)) == verdict
    assert dataclasses.is_dataclass(verdict)


async def test_refuses_to_run_on_the_event_loop(sealed: bytes) -> None:
    with pytest.raises(RuntimeError, match="AgreementWorks.verify"):
        verify_pdf(sealed, [])


def _incrementally_updated(sealed: bytes) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(sealed))
    title = {generic.NameObject("/Title"): generic.TextStringObject("改过的标题")}
    writer.set_info(generic.DictionaryObject(title))  # type: ignore[no-untyped-call]
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def test_hostile_uploads_cost_one_warning_line_each(
    sealed: bytes, pki: StationPki, other_pki: StationPki, caplog: pytest.LogCaptureFixture
) -> None:
    """/verify is anonymous: no file may put a traceback (or several lines) in the log."""
    caplog.set_level(logging.DEBUG, logger="pyhanko")
    caplog.set_level(logging.INFO)
    cases = [
        (sealed, [other_pki.ca_cert_path], ("untrusted",)),  # pyHanko: a path-building traceback
        (
            sealer_for(other_pki).seal(
                _incrementally_updated(sealed), reason="r", location="l", field_name="X"
            ),
            [other_pki.ca_cert_path],
            ("modified_after_signing", "untrusted"),
        ),
        (sealed[: len(sealed) // 2], [pki.ca_cert_path], None),  # cut short
    ]
    for data, roots, problems in cases:
        caplog.clear()
        verdict = verify_pdf(data, roots)
        assert not verdict.valid
        if problems is not None:
            assert verdict.problems == problems
        loud = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
        assert len(loud) <= 1, [r.getMessage() for r in loud]
        assert all(r.exc_info is None and r.name == "server.agreements.verify" for r in loud)
        assert all("\n" not in r.getMessage() for r in loud)
    caplog.clear()
    assert verify_pdf(sealed, [pki.ca_cert_path]).valid
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
