"""What a verifier says about one PDF: plain values, light to import, picklable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PdfVerdict:
    """What a verifier needs to say about one PDF, in plain values (it pickles)."""

    valid: bool
    intact: bool  # the signed bytes hash to what was signed, and the signature checks out
    trusted: bool  # the signer's certificate chains to a trust root
    covers_whole_file: bool  # nothing was added after the seal
    signer: str  # "CN / O" of the signing certificate; empty without a signature
    signed_at: datetime | None  # the timestamp's time, else the signer-reported time
    problems: tuple[str, ...]
    sha256: str  # of the bytes checked, to match against the archive
