"""Personal data: ID numbers encrypted at rest, masked for display.

A database dump alone reveals no ID number: the number is encrypted with a
key derived from the secret key (kept in the data directory, outside the
database), and what lists show is a masked form computed on entry. A keyed
digest allows "same person" lookups without decrypting.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# GB 11643-1999: 17 digits, then a check character computed from them.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# ASCII digits only: ``\d`` would take Arabic-Indic and other Unicode digits too.
_RESIDENT_ID = re.compile(r"^[0-9]{17}[0-9X]$")
#: Kiribati's Line Islands keep UTC+14, the latest calendar date anywhere.
_LATEST_OFFSET = timedelta(hours=14)


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A 32-byte key for one purpose, so no two uses share key material."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"concord:{purpose}".encode()
    ).derive(secret)


def normalise_id_number(value: str) -> str:
    return value.strip().replace(" ", "").upper()


def latest_date_on_earth(now: datetime | None = None) -> date:
    """The date where it is latest (UTC+14): no birth anywhere is after it.

    The server's own ``date.today()`` is the UTC date on most hosts, a day
    behind Asia/Shanghai from 16:00 to 24:00 UTC, when a baby born today
    there would have a birth date "in the future".
    """
    return ((now or datetime.now(UTC)).astimezone(UTC) + _LATEST_OFFSET).date()


def resident_id_is_valid(value: str) -> bool:
    """Format, birth date and check character of a mainland resident ID."""
    if not _RESIDENT_ID.match(value):
        return False
    birth = birth_date_from_resident_id(value)
    if birth is None or birth > latest_date_on_earth() or birth.year < 1900:
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == value[17]


def birth_date_from_resident_id(value: str) -> date | None:
    try:
        return date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def mask_id_number(value: str) -> str:
    """Keep the first three and last four characters: enough to tell two apart."""
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_id_numbers_in(text: str, numbers: Iterable[str]) -> str:
    """``text`` with each of ``numbers`` replaced by its masked form, longest first.

    Longest first, so a short number that happens to be part of a longer one
    cannot leave the rest of the longer one readable.
    """
    for number in sorted({n for n in numbers if n}, key=len, reverse=True):
        text = text.replace(number, mask_id_number(number))
    return text


def mask_phone(value: str) -> str:
    digits = value.strip()
    if len(digits) <= 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_name(value: str) -> str:
    """张三丰 -> 张**: for readers who need to know a person is there, not who."""
    return value[:1] + "*" * max(len(value) - 1, 1) if value else ""


class PiiVault:
    """Encrypts, decrypts and digests personal identifiers with keys from the secret."""

    def __init__(self, secret: bytes) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(derive_key(secret, "pii-encryption")))
        self._digest_key = derive_key(secret, "pii-digest")

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("ID number cannot be decrypted with this secret key") from exc

    def encrypt_bytes(self, value: bytes) -> str:
        """For longer personal data than one number (a frozen text that lists them all)."""
        return self._fernet.encrypt(value).decode()

    def decrypt_bytes(self, token: str) -> bytes:
        try:
            return self._fernet.decrypt(token.encode())
        except InvalidToken as exc:
            raise ValueError("personal data cannot be decrypted with this secret key") from exc

    def digest(self, value: str) -> str:
        return hmac.new(self._digest_key, value.encode(), hashlib.sha256).hexdigest()
