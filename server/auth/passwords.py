"""Password hashing with Argon2id, run off the event loop (it is slow on purpose)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.errors import N_, ValidationFailed

_hasher = PasswordHasher()
# Verifying against this when the username is unknown keeps the response time
# the same as for a wrong password, so timing does not reveal who has an account.
_DUMMY_HASH = _hasher.hash("concord-timing-equaliser")

MIN_LENGTH = 10
MAX_LENGTH = 128


def check_strength(password: str, field: str = "new_password") -> None:
    """Refuse passwords a guesser would find first; ``field`` names the form field."""
    if len(password) < MIN_LENGTH:
        raise ValidationFailed(
            N_("The password must have at least %(min)d characters."),
            params={"min": MIN_LENGTH},
            fields={field: "too_short"},
        )
    if len(password) > MAX_LENGTH:
        raise ValidationFailed(
            N_("The password may have at most %(max)d characters."),
            params={"max": MAX_LENGTH},
            fields={field: "too_long"},
        )
    if password.isdigit() or password.isalpha() or len(set(password)) < 5:
        raise ValidationFailed(
            N_("The password must mix letters with digits or symbols."),
            fields={field: "too_weak"},
        )


def hash_password_sync(password: str) -> str:
    return _hasher.hash(password)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; a None hash always fails, in the same time."""
    return await asyncio.to_thread(_verify, stored_hash, password[:MAX_LENGTH])
