"""The station's digital seal: a PAdES signature over the finished PDF.

The seal is what makes a later change to the agreement detectable by anyone
with a PDF reader (Electronic Signature Law art. 13), on top of the
handwritten signatures and the evidence log printed inside. It is applied
exactly once, as an incremental update on WeasyPrint's output, after all
metadata is final: anything written after it breaks "covers the whole file".

Loading the key is the slow, failure-prone part (file permissions, a wrong
passphrase, a missing chain file), so a ``Sealer`` loads it once and fails
loudly with ``SealingNotConfigured``; sealing itself takes a few tens of
milliseconds. ``SealerSettings`` is the picklable recipe the worker process
(``works.py``) builds its ``Sealer`` from.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.keys import (
    load_certs_from_pemder_data,
    load_private_key_from_pemder,
)
from pyhanko.pdf_utils.incremental_writer import (
    IncrementalPdfFileWriter,
)
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.signers import (
    PdfSignatureMetadata,
    PdfSigner,
    SimpleSigner,
)
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from server.agreements.settings import SealerSettings, SealingNotConfigured

#: Seconds to wait for the timestamp authority before sealing fails.
TSA_TIMEOUT = 10


class Sealer:
    """Signs PDFs with the station's key; build once, seal many times."""

    def __init__(
        self,
        key_path: Path | None,
        cert_path: Path | None,
        chain_paths: Sequence[Path] = (),
        passphrase: str | bytes | None = None,
        tsa_url: str | None = None,
    ) -> None:
        if key_path is None or cert_path is None:
            raise SealingNotConfigured(
                "Agreements cannot be sealed: seal_key_path and seal_cert_path must both be set "
                "(PEM files with the station's private key and certificate)."
            )
        key_path = Path(key_path)
        cert_path = Path(cert_path)
        chain = tuple(Path(p) for p in chain_paths)
        for label, path in (("seal_key_path", key_path), ("seal_cert_path", cert_path)) + tuple(
            ("seal_chain_paths", p) for p in chain
        ):
            if not path.is_file():
                raise SealingNotConfigured(
                    f"Agreements cannot be sealed: {label} {path} does not exist or is not a file."
                )
        secret = passphrase.encode() if isinstance(passphrase, str) else passphrase
        try:
            signing_key = load_private_key_from_pemder(key_path, passphrase=secret)
        except PermissionError as exc:
            raise SealingNotConfigured(
                f"Agreements cannot be sealed: no permission to read seal_key_path {key_path}."
            ) from exc
        except (OSError, ValueError, TypeError) as exc:
            hint = "" if secret else " (if the key is encrypted, set seal_key_passphrase)"
            raise SealingNotConfigured(
                f"Agreements cannot be sealed: seal_key_path {key_path} is not a readable "
                f"PEM/DER private key or the passphrase is wrong{hint}: {exc}"
            ) from exc
        certs = _load_certs("seal_cert_path", cert_path)
        if len(certs) != 1:
            raise SealingNotConfigured(
                f"Agreements cannot be sealed: seal_cert_path {cert_path} must hold exactly one "
                f"certificate, found {len(certs)}; put intermediates in seal_chain_paths."
            )
        signing_cert = certs[0]
        if not _key_matches(signing_key, signing_cert):
            raise SealingNotConfigured(
                f"Agreements cannot be sealed: the key in {key_path} does not belong to the "
                f"certificate in {cert_path}."
            )
        chain_certs = [cert for path in chain for cert in _load_certs("seal_chain_paths", path)]
        store = SimpleCertificateStore()  # type: ignore[no-untyped-call]
        store.register_multiple(chain_certs)
        self._signer: Any = SimpleSigner(
            signing_cert=signing_cert, signing_key=signing_key, cert_registry=store
        )
        self._timestamper: Any = HTTPTimeStamper(tsa_url, timeout=TSA_TIMEOUT) if tsa_url else None
        self.certificate: asn1_x509.Certificate = signing_cert
        self.tsa_url = tsa_url or ""

    @classmethod
    def from_settings(cls, settings: SealerSettings | None) -> Sealer:
        """Build the sealer a worker uses; None means the station configured no seal."""
        if settings is None:
            raise SealingNotConfigured(
                "Agreements cannot be sealed: no sealing key is configured "
                "(set seal_key_path and seal_cert_path)."
            )
        return cls(
            settings.key_path,
            settings.cert_path,
            settings.chain_paths,
            settings.key_passphrase,
            settings.tsa_url or None,
        )

    @property
    def signer_name(self) -> str:
        """The certificate's subject as people read it, for logs and the verify page."""
        return str(self.certificate.subject.human_friendly)

    @property
    def timestamped(self) -> bool:
        """Whether seals carry an RFC 3161 timestamp from ``tsa_url``."""
        return self._timestamper is not None

    def seal(
        self, pdf: bytes, *, reason: str, location: str, field_name: str = "StationSeal"
    ) -> bytes:
        """Return ``pdf`` with the station's PAdES signature appended.

        The signature field is invisible: the printed seal image is on the
        page already and the evidence page explains the digital seal. The
        signer's certificate and the configured chain are embedded so a
        reader can build the path to the root without fetching anything.
        A document timestamp from the TSA (when configured) is part of the
        same signature, so a TSA outage makes sealing fail rather than
        silently producing an untimestamped agreement.
        """
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        meta = PdfSignatureMetadata(
            field_name=field_name,
            md_algorithm="sha256",
            subfilter=SigSeedSubFilter.PADES,
            reason=reason,
            location=location,
        )
        signer = PdfSigner(meta, signer=self._signer, timestamper=self._timestamper)
        out = signer.sign_pdf(writer)
        return bytes(out.getvalue())


def _key_matches(key: Any, cert: asn1_x509.Certificate) -> bool:
    """Whether a PKCS#8 key (asn1crypto) is the private half of ``cert``'s public key."""
    try:
        private = serialization.load_der_private_key(key.dump(), password=None)
        public = x509.load_der_x509_certificate(cert.dump()).public_key()
    except (ValueError, TypeError):
        return False
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return bool(private.public_key().public_bytes(der, spki) == public.public_bytes(der, spki))


def _load_certs(label: str, path: Path) -> list[asn1_x509.Certificate]:
    """Certificates in a PEM/DER file, or SealingNotConfigured naming the setting."""
    try:
        certs = list(load_certs_from_pemder_data(path.read_bytes()))
    except PermissionError as exc:
        raise SealingNotConfigured(
            f"Agreements cannot be sealed: no permission to read {label} {path}."
        ) from exc
    except (OSError, ValueError, TypeError) as exc:
        raise SealingNotConfigured(
            f"Agreements cannot be sealed: {label} {path} is not a PEM/DER certificate: {exc}"
        ) from exc
    if not certs:
        raise SealingNotConfigured(
            f"Agreements cannot be sealed: {label} {path} holds no certificate."
        )
    return certs
