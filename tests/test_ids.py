"""Ids from requests are ASCII digits: other scripts' digits open nothing."""

from __future__ import annotations

import pytest

from server.ids import parse_id


@pytest.mark.parametrize(("value", "parsed"), [("1", 1), ("007", 7), ("9" * 12, 10**12 - 1)])
def test_ascii_digits_are_ids(value: str, parsed: int) -> None:
    assert parse_id(value) == parsed


@pytest.mark.parametrize(
    "value",
    ["", "١", "١٢", "１", "۱", "१", "²", "1²", "-1", "+1", " 1", "1 ", "1.0", "1_000", "9" * 13],
)
def test_anything_else_is_not(value: str) -> None:
    assert parse_id(value) is None


def test_the_digit_limit_can_be_lower() -> None:
    assert parse_id("1234", max_digits=3) is None
    assert parse_id("123", max_digits=3) == 123
