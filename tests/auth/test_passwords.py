"""Password strength rules and Argon2id hashing."""

from __future__ import annotations

import pytest

from server.auth import passwords
from server.auth.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    check_strength,
    hash_password,
    hash_password_sync,
    verify_password,
)
from server.errors import ValidationFailed


@pytest.mark.parametrize(
    "password",
    [
        "correct-horse-42",
        "abcdefgh1!",  # exactly the minimum
        "a1" + "b" * (MAX_LENGTH - 5) + "cde",  # exactly the maximum
        "调解员2024年春季",
        "       x1y2z",
    ],
)
def test_strong_enough(password: str) -> None:
    check_strength(password)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("", "too_short"),
        ("abc-12345", "too_short"),  # one short of the minimum
        ("a1b2c3" + "d" * (MAX_LENGTH - 5), "too_long"),
        ("12345678901234", "too_weak"),  # digits only
        ("correcthorsebattery", "too_weak"),  # letters only
        ("密码密码密码密码密码密码", "too_weak"),  # letters only, in Chinese
        ("ab1ab1ab1ab1", "too_weak"),  # fewer than five distinct characters
        ("aaaaaaaaa1", "too_weak"),
    ],
)
def test_too_weak(password: str, reason: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        check_strength(password)
    assert exc.value.fields == {"new_password": reason}


def test_limits() -> None:
    assert MIN_LENGTH == 10
    assert MAX_LENGTH == 128
    with pytest.raises(ValidationFailed) as exc:
        check_strength("x1" * 4)
    assert exc.value.params == {"min": MIN_LENGTH}


async def test_hash_and_verify() -> None:
    hashed = await hash_password("correct-horse-42")
    assert hashed.startswith("$argon2id$")
    assert "correct-horse-42" not in hashed
    assert await verify_password(hashed, "correct-horse-42")
    assert not await verify_password(hashed, "correct-horse-43")
    assert not await verify_password(hashed, "")


async def test_hashes_are_salted() -> None:
    first = await hash_password("correct-horse-42")
    second = hash_password_sync("correct-horse-42")
    assert first != second
    assert await verify_password(first, "correct-horse-42")
    assert await verify_password(second, "correct-horse-42")


async def test_missing_hash_never_verifies() -> None:
    assert not await verify_password(None, "correct-horse-42")
    assert not await verify_password("", "correct-horse-42")
    # Not even the password behind the timing equaliser.
    assert not await verify_password(None, "concord-timing-equaliser")


async def test_garbage_hash_does_not_verify_nor_raise() -> None:
    assert not await verify_password("not-a-hash", "correct-horse-42")
    assert not await verify_password("$argon2id$v=19$m=1,t=1,p=1$xx$yy", "correct-horse-42")


async def test_dummy_hash_is_a_real_hash() -> None:
    # The unknown-user path must cost as much as a real check.
    assert passwords._DUMMY_HASH.startswith("$argon2id$")
