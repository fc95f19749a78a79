"""What sealing needs, as plain values: light to import, picklable into the worker.

The server process names these (configuration, refusals) without loading
pyHanko; only the worker process imports ``seal.py`` and the PDF libraries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.config import Config


class SealingNotConfigured(Exception):
    """The station has no usable sealing key: agreements cannot be sealed.

    Raised with a message that says which setting or file is the problem, so
    an operator can fix it without reading code.
    """


@dataclass(frozen=True)
class SealerSettings:
    """Where the sealing material is, as plain values that pickle into a worker."""

    key_path: Path
    cert_path: Path
    chain_paths: tuple[Path, ...] = ()
    key_passphrase: str | None = None
    tsa_url: str = ""

    @classmethod
    def from_config(cls, config: Config) -> SealerSettings | None:
        """The settings for ``config``, or None when no key or certificate is configured."""
        key_path, cert_path = config.effective_seal_key_path, config.effective_seal_cert_path
        if key_path is None or cert_path is None:
            return None
        passphrase = config.seal_key_passphrase
        return cls(
            key_path=key_path,
            cert_path=cert_path,
            chain_paths=tuple(config.seal_chain_paths),
            key_passphrase=passphrase.get_secret_value() if passphrase is not None else None,
            tsa_url=config.tsa_url,
        )
