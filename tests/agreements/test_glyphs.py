"""Which characters the paper can carry (fontconfig's coverage, and no invisibles)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from server.agreements import glyphs


@pytest.fixture
def fresh_coverage() -> Iterator[None]:
    glyphs._coverage.cache_clear()
    yield
    glyphs._coverage.cache_clear()


def test_fontconfig_charsets_are_parsed_and_merged() -> None:
    ranges = glyphs.parse_charset("20-7e a0-17f\n4e00-9fff 41 3000\n")
    assert ranges == [(0x20, 0x7E), (0xA0, 0x17F), (0x4E00, 0x9FFF), (0x41, 0x41), (0x3000, 0x3000)]
    assert glyphs.merge_ranges(ranges) == [
        (0x20, 0x7E),
        (0xA0, 0x17F),
        (0x3000, 0x3000),
        (0x4E00, 0x9FFF),
    ]
    assert glyphs.merge_ranges([(1, 5), (6, 8), (3, 4), (10, 10)]) == [(1, 8), (10, 10)]


@pytest.mark.parametrize(
    ("char", "ok"),
    [
        ("赵", True),
        ("\n", True),
        ("\u3000", True),
        ("𠈌", True),  # CJK extension B, in Noto CJK
        ("\u200b", False),  # zero-width space (Cf)
        ("\u200d", False),  # zero-width joiner
        ("\u00ad", False),  # soft hyphen
        ("\u202e", False),  # right-to-left override
        ("\ufe0f", False),  # variation selector
        ("\u3164", False),  # Hangul filler: a font lists it, it prints nothing
        ("\x07", False),
        ("\ue000", False),  # private use
        ("\u2028", False),  # line separator
    ],
)
def test_printable(char: str, ok: bool) -> None:
    assert glyphs.printable(char) is ok


def test_refused_characters_are_named_visibly() -> None:
    assert glyphs.shown("👨") == "“👨”"
    assert glyphs.shown("\u200b") == "U+200B"
    assert glyphs.shown("\ufe0f") == "U+FE0F"


def test_without_fontconfig_the_coverage_is_unknown_not_empty(
    fresh_coverage: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(*args: Any, **kwargs: Any) -> None:
        raise FileNotFoundError("fc-list")

    monkeypatch.setattr(subprocess, "run", missing)
    with pytest.raises(glyphs.FontCoverageUnknown, match="fontconfig"):
        glyphs.printable("赵")
