"""Shared by the PDF tests: rendered documents (once per run) and poppler's tools.

Rendering costs a few hundred milliseconds, so each (track, version) is
rendered once per test process and shared by the modules that need it.
Poppler (``pdftotext``, ``pdffonts``, ``pdfsig``, ``pdfinfo``; Debian's
poppler-utils) is the independent second opinion on what the PDF contains.
"""

from __future__ import annotations

import functools
import re
import subprocess
import tempfile
from pathlib import Path

from bench.agreements import sample_document
from server.agreements.document import AgreementDocument
from server.agreements.pki import StationPki
from server.agreements.render import render_pdf
from server.agreements.seal import Sealer

_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")


@functools.cache
def document(track: str, version: int = 1) -> AgreementDocument:
    return sample_document(track, version=version)


@functools.cache
def rendered(track: str, version: int = 1) -> bytes:
    return render_pdf(document(track, version))


def sealer_for(pki: StationPki) -> Sealer:
    return Sealer(pki.key_path, pki.cert_path, [pki.ca_cert_path])


def poppler(tool: str, pdf: bytes, *args: str) -> str:
    """Run a poppler tool on ``pdf`` (from a temporary file); its stdout as text.

    pdfsig exits non-zero for an invalid signature, which the tests want to
    read, so the exit status is not checked; stderr is appended for context.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "doc.pdf"
        path.write_bytes(pdf)
        result = subprocess.run(
            [tool, *args, str(path), *(["-"] if tool == "pdftotext" else [])],
            capture_output=True,
            text=True,
            timeout=60,
        )
    return result.stdout + result.stderr


def squeeze(text: str) -> str:
    """Text without any whitespace: line wraps and pdftotext's spacing vary."""
    return re.sub(r"\s+", "", text)


def byte_range(pdf: bytes) -> tuple[int, int, int, int]:
    """The last signature's /ByteRange: [start, length, start2, length2]."""
    matches = _BYTE_RANGE.findall(pdf)
    assert matches, "no /ByteRange in the PDF"
    a, b, c, d = (int(x) for x in matches[-1])
    return a, b, c, d


def flip_in_first_stream(pdf: bytes) -> bytes:
    """Flip one byte of the first stream's data: inside the signed range, not in
    the signature, and without changing any offset the reader relies on."""
    start = pdf.index(b"stream\n") + len(b"stream\n") + 16
    _, first_length, _, _ = byte_range(pdf)
    assert start < first_length, "the first stream is not inside the signed range"
    tampered = bytearray(pdf)
    tampered[start] ^= 0x20
    return bytes(tampered)
