"""Check a sealed agreement: is it the file the station sealed, unchanged?

Used by the public verify page (someone uploads the PDF they were given, or
scans the QR code) and by the archive's self-checks. The answer has to be
simple and stable, so pyHanko's detailed status is folded into a
``PdfVerdict`` with three yes/no checks and a tuple of English problem codes
that templates translate:

``not_a_pdf``, ``malformed``, ``no_signature``, ``digest_mismatch`` (bytes
inside the signed range changed), ``bad_signature`` (the signature value does
not match the signed attributes), ``modified_after_signing`` (bytes were
appended after the seal, e.g. an incremental update), ``untrusted`` (no path
to a configured trust root), ``no_trust_roots``, ``trust_root_unreadable``,
``certificate_expired``, ``certificate_not_yet_valid``,
``certificate_revoked``, ``key_usage``, ``timestamp_invalid``,
``timestamp_untrusted``.

``untrusted`` (and the certificate codes) are only reported for an intact
signature: pyHanko does not check the chain of a broken one.

A document is ``valid`` only when the signature is intact and
cryptographically sound, covers every byte of the file, and chains to one of
the given roots. A timestamp whose token is broken also makes it invalid; a
timestamp from a TSA outside the trust roots is reported but does not, since
the seal itself is the station's.

Validation never touches the network (``allow_fetching=False``): the verify
page must not become a way to make the server fetch URLs an uploader chose.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeAlias

from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.keys import load_certs_from_pemder_data
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import (
    AdESFailure,
    AdESIndeterminate,
)
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from server.agreements.verdict import PdfVerdict

log = logging.getLogger(__name__)

#: Where pyHanko and its certificate validator log (warnings with tracebacks, for some files).
PYHANKO_LOGGERS = ("pyhanko", "pyhanko_certvalidator")
#: How much of the library's first note goes into the one warning line.
_NOTE_CHARS = 160

#: A trust root: a PEM/DER file (one or more certificates), its bytes, or a
#: certificate object from ``cryptography`` or ``asn1crypto``.
TrustRoot: TypeAlias = "Path | str | bytes | x509.Certificate | asn1_x509.Certificate"

# Only the start of the file is searched for the header, as readers do.
_HEADER_WINDOW = 1024

_TRUST_PROBLEMS: dict[Any, str] = {
    AdESIndeterminate.EXPIRED: "certificate_expired",
    AdESIndeterminate.OUT_OF_BOUNDS_NO_POE: "certificate_expired",
    AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED: "certificate_expired",
    AdESIndeterminate.NOT_YET_VALID: "certificate_not_yet_valid",
    AdESFailure.NOT_YET_VALID: "certificate_not_yet_valid",
    AdESFailure.REVOKED: "certificate_revoked",
    AdESIndeterminate.REVOKED_NO_POE: "certificate_revoked",
    AdESIndeterminate.REVOKED_CA_NO_POE: "certificate_revoked",
    AdESIndeterminate.SIG_CONSTRAINTS_FAILURE: "key_usage",
}


def verify_pdf(data: bytes, trust_roots: Sequence[TrustRoot]) -> PdfVerdict:
    """Verify the first signature in ``data`` (the station's seal) against ``trust_roots``.

    Blocking (pyHanko runs its own event loop inside): call it from a worker
    (``AgreementWorks.verify``) or a thread, never on the event loop thread.
    Whatever the bytes are, it returns a verdict rather than raising.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "verify_pdf blocks and runs an event loop of its own: call it through "
            "AgreementWorks.verify or asyncio.to_thread, not on the event loop thread"
        )
    digest = hashlib.sha256(data).hexdigest()
    roots, root_problems = _load_roots(trust_roots)
    if b"%PDF-" not in data[:_HEADER_WINDOW]:
        return _failed(digest, "not_a_pdf")
    with _held_back(PYHANKO_LOGGERS) as held:
        try:
            verdict = _verify(data, digest, roots, root_problems)
        except Exception as exc:  # hostile input may break any parser path
            log.debug("PDF verification failed on malformed input", exc_info=True)
            verdict = _failed(digest, "malformed")
            held.append(_summary_record(f"{type(exc).__name__}: {exc}"))
    if held:
        # Anyone may upload to /verify: what pyHanko said (a path-building traceback for
        # an unknown signer, say) would let them fill the log. One line per file instead.
        first = held[0].getMessage().splitlines()[0] if held[0].getMessage() else ""
        log.warning(
            "verify %s: %s (%d note(s) from the PDF library, the first: %s)",
            digest[:16],
            ",".join(verdict.problems) or "valid",
            len(held),
            first[:_NOTE_CHARS],
        )
    return verdict


class _Holder(logging.Handler):
    """Keeps records instead of writing them."""

    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.WARNING)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _held_back(names: Sequence[str]) -> Iterator[list[logging.LogRecord]]:
    """The warnings these loggers emit meanwhile, held back from the log and returned."""
    records: list[logging.LogRecord] = []
    holder = _Holder(records)
    loggers = [logging.getLogger(name) for name in names]
    saved = [logger.propagate for logger in loggers]
    for logger in loggers:
        logger.addHandler(holder)
        logger.propagate = False
    try:
        yield records
    finally:
        for logger, propagate in zip(loggers, saved, strict=True):
            logger.removeHandler(holder)
            logger.propagate = propagate


def _summary_record(message: str) -> logging.LogRecord:
    return logging.LogRecord(log.name, logging.WARNING, __file__, 0, message, None, None)


def _verify(
    data: bytes, digest: str, roots: list[asn1_x509.Certificate], root_problems: list[str]
) -> PdfVerdict:
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    signatures = reader.embedded_regular_signatures
    if not signatures:
        return _failed(digest, "no_signature")
    context = ValidationContext(trust_roots=roots, allow_fetching=False)
    status = validate_pdf_signature(signatures[0], context)

    problems: list[str] = []
    intact = bool(status.intact and status.valid)
    if not status.intact:
        problems.append("digest_mismatch")
    elif not status.valid:
        problems.append("bad_signature")

    covers = (
        status.coverage == SignatureCoverageLevel.ENTIRE_FILE
        and status.modification_level in (None, ModificationLevel.NONE)
    )
    if not covers:
        problems.append("modified_after_signing")

    trusted = bool(status.trusted)
    # pyHanko does not check the chain of a broken signature: "untrusted" would
    # only distract from "digest_mismatch" there.
    if not trusted and intact:
        problems.append("untrusted")
        specific = _TRUST_PROBLEMS.get(status.trust_problem_indic)
        if specific is not None:
            problems.append(specific)
        problems.extend(root_problems)

    signed_at: datetime | None = status.signer_reported_dt
    timestamp_ok = True
    ts = status.timestamp_validity
    if ts is not None:
        if ts.intact and ts.valid:
            signed_at = ts.timestamp
            if not ts.trusted:
                problems.append("timestamp_untrusted")
        else:
            timestamp_ok = False
            problems.append("timestamp_invalid")

    return PdfVerdict(
        valid=intact and covers and trusted and timestamp_ok,
        intact=intact,
        trusted=trusted,
        covers_whole_file=covers,
        signer=_subject_name(status.signing_cert),
        signed_at=signed_at,
        problems=tuple(problems),
        sha256=digest,
    )


def _failed(digest: str, problem: str) -> PdfVerdict:
    return PdfVerdict(
        valid=False,
        intact=False,
        trusted=False,
        covers_whole_file=False,
        signer="",
        signed_at=None,
        problems=(problem,),
        sha256=digest,
    )


def _load_roots(trust_roots: Sequence[TrustRoot]) -> tuple[list[asn1_x509.Certificate], list[str]]:
    """Trust roots as asn1crypto certificates, plus problem codes for unusable ones.

    An unreadable root is a configuration error, but the verify page should
    still answer (untrusted, with the reason) rather than fail outright.
    """
    roots: list[asn1_x509.Certificate] = []
    problems: list[str] = []
    for root in trust_roots:
        try:
            if isinstance(root, asn1_x509.Certificate):
                roots.append(root)
            elif isinstance(root, x509.Certificate):
                der = root.public_bytes(serialization.Encoding.DER)
                roots.append(asn1_x509.Certificate.load(der))
            else:
                raw = root if isinstance(root, bytes) else Path(root).read_bytes()
                loaded = list(load_certs_from_pemder_data(raw))
                if not loaded:
                    raise ValueError("no certificate in the file")
                roots.extend(loaded)
        except Exception:  # any unreadable root is reported the same way
            log.warning("Unusable trust root %r", root, exc_info=True)
            if "trust_root_unreadable" not in problems:
                problems.append("trust_root_unreadable")
    if not roots:
        problems.append("no_trust_roots")
    return roots, problems


def _subject_name(cert: asn1_x509.Certificate) -> str:
    """'CN / O' of a certificate, or O alone, or CN alone: what a person recognises."""
    native = cert.subject.native
    cn = str(native.get("common_name") or "").strip()
    org = str(native.get("organization_name") or "").strip()
    if cn and org and cn != org:
        return f"{cn} / {org}"
    return cn or org or str(cert.subject.human_friendly)
