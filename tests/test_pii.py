"""Personal data: masking, encryption at rest, keyed digests, resident ID checks."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.pii import (
    PiiVault,
    age_on,
    birth_date_from_resident_id,
    derive_key,
    mask_id_number,
    mask_id_numbers_in,
    mask_name,
    mask_phone,
    normalise_id_number,
    resident_id_is_valid,
)
from tests.disputes.helpers import ADULT_ID, check_char, resident_id, wrong_check

SECRET = b"test-secret-key-that-is-long-enough-0123456789"
OTHER_SECRET = b"another-secret-key-that-is-long-enough-987654"


# --- masking --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        (ADULT_ID, "110***********4514"),
        ("E12345678", "E12**5678"),
        ("12345678", "123*5678"),
        ("1234567", "*******"),
        ("123", "***"),
        ("", ""),
    ],
)
def test_mask_id_number(value: str, masked: str) -> None:
    assert mask_id_number(value) == masked
    assert len(mask_id_number(value)) == len(value)


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("13800138000", "138****8000"),
        ("0755-27001100", "075******1100"),
        ("12345678", "123*5678"),
        ("123456", "******"),
        (" 13800138000 ", "138****8000"),
        ("", ""),
    ],
)
def test_mask_phone(value: str, masked: str) -> None:
    assert mask_phone(value) == masked


@pytest.mark.parametrize("value", ["1234567", "12345", "123456", "12345678", "13800138000"])
def test_mask_phone_never_shows_the_whole_number(value: str) -> None:
    masked = mask_phone(value)
    assert masked != value
    assert "*" in masked


@pytest.mark.parametrize("value", ["1234567", "123", ADULT_ID, "E1234567"])
def test_mask_id_number_never_shows_the_whole_number(value: str) -> None:
    assert "*" in mask_id_number(value)


@pytest.mark.parametrize(
    ("value", "masked"),
    [("张三丰", "张**"), ("张三", "张*"), ("张", "张*"), ("Smith", "S****"), ("", "")],
)
def test_mask_name(value: str, masked: str) -> None:
    assert mask_name(value) == masked


# --- vault ----------------------------------------------------------------


def test_vault_round_trip() -> None:
    vault = PiiVault(SECRET)
    token = vault.encrypt(ADULT_ID)
    assert ADULT_ID not in token
    assert vault.decrypt(token) == ADULT_ID
    assert vault.decrypt(vault.encrypt("")) == ""
    assert vault.decrypt(vault.encrypt("护照E1234567")) == "护照E1234567"


def test_encryption_is_randomised() -> None:
    vault = PiiVault(SECRET)
    assert vault.encrypt(ADULT_ID) != vault.encrypt(ADULT_ID)


def test_ciphertext_fits_the_column() -> None:
    from server.models import Party

    limit = Party.__table__.c.id_number_encrypted.type.length  # type: ignore[attr-defined]
    assert len(PiiVault(SECRET).encrypt("X" * 40)) <= limit


def test_a_new_vault_with_the_same_secret_decrypts() -> None:
    token = PiiVault(SECRET).encrypt(ADULT_ID)
    assert PiiVault(SECRET).decrypt(token) == ADULT_ID


def test_a_different_secret_cannot_decrypt() -> None:
    token = PiiVault(SECRET).encrypt(ADULT_ID)
    with pytest.raises(ValueError, match="cannot be decrypted"):
        PiiVault(OTHER_SECRET).decrypt(token)


def test_tampered_or_garbage_token_cannot_be_decrypted() -> None:
    vault = PiiVault(SECRET)
    token = vault.encrypt(ADULT_ID)
    tampered = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    with pytest.raises(ValueError):
        vault.decrypt(tampered)
    with pytest.raises(ValueError):
        vault.decrypt("not-a-token")


def test_digest_is_stable_and_keyed() -> None:
    first = PiiVault(SECRET).digest(f"resident_id:{ADULT_ID}")
    second = PiiVault(SECRET).digest(f"resident_id:{ADULT_ID}")
    assert first == second
    assert len(first) == 64
    assert int(first, 16) >= 0
    assert PiiVault(OTHER_SECRET).digest(f"resident_id:{ADULT_ID}") != first
    assert PiiVault(SECRET).digest(f"passport:{ADULT_ID}") != first
    assert ADULT_ID not in first


def test_keys_are_separated_by_purpose() -> None:
    assert derive_key(SECRET, "pii-encryption") != derive_key(SECRET, "pii-digest")
    assert derive_key(SECRET, "pii-digest") == derive_key(SECRET, "pii-digest")
    assert len(derive_key(SECRET, "x")) == 32


# --- resident IDs ---------------------------------------------------------


def test_normalise_id_number() -> None:
    assert normalise_id_number(" 110101 19850612 104x ") == "11010119850612104X"


def test_resident_id_validity() -> None:
    assert resident_id_is_valid(ADULT_ID)
    assert resident_id_is_valid("11010119850612104X")
    assert not resident_id_is_valid(wrong_check(ADULT_ID))
    assert not resident_id_is_valid(ADULT_ID.lower() + "0")
    assert not resident_id_is_valid("11010119850612104x")  # not normalised
    assert not resident_id_is_valid("")


def test_resident_id_with_impossible_birth_date_is_invalid() -> None:
    body = "11010119901301123"  # month 13
    assert not resident_id_is_valid(body + check_char(body))


def test_resident_id_born_in_the_future_is_invalid() -> None:
    future = date.today() + timedelta(days=400)
    assert not resident_id_is_valid(resident_id(future))


@pytest.mark.around_local_midnight
def test_a_baby_born_today_in_the_office_has_a_valid_id_number(pinned_clock: datetime) -> None:
    """From 16:00 UTC it is already tomorrow in Asia/Shanghai, where the baby was born."""
    born = pinned_clock.astimezone(ZoneInfo("Asia/Shanghai")).date()
    assert resident_id_is_valid(resident_id(born))
    assert not resident_id_is_valid(resident_id(born + timedelta(days=2)))


def test_resident_id_digits_are_ascii() -> None:
    valid = "11010119850612104X"  # its check character is not a digit
    assert resident_id_is_valid(valid)
    for digits in ("٠١٢٣٤٥٦٧٨٩", "０１２３４５６７８９"):  # Arabic-Indic, fullwidth
        assert not resident_id_is_valid(valid.translate(str.maketrans("0123456789", digits)))


def test_birth_date_and_age() -> None:
    assert birth_date_from_resident_id(ADULT_ID) == date(1990, 3, 7)
    assert birth_date_from_resident_id("110101199002300000") is None
    birth = date(2008, 6, 15)
    assert age_on(birth, date(2026, 6, 14)) == 17
    assert age_on(birth, date(2026, 6, 15)) == 18
    assert age_on(date(2000, 2, 29), date(2018, 2, 28)) == 17
    assert age_on(date(2000, 2, 29), date(2018, 3, 1)) == 18


def test_mask_id_numbers_in_text_longest_first() -> None:
    text = f"甲：{ADULT_ID}；乙：E12345678；丙：{ADULT_ID}"
    masked = mask_id_numbers_in(text, [ADULT_ID, "E12345678", "", "345"])
    assert ADULT_ID not in masked and "E12345678" not in masked
    assert masked.count(mask_id_number(ADULT_ID)) == 2
    assert "E12**5678" in masked
