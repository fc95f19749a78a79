"""Which characters the paper can carry: what the installed fonts can draw, and no invisibles.

A signer signs a text; the sealed PDF must show that text. WeasyPrint draws a
character with the first installed font that has a glyph for it (Noto CJK,
then any other, e.g. DejaVu for ☃). A character no font has comes out as an
empty box, and its text layer is wrong too: every missing glyph of a font is
the same glyph 0, so a second different emoji is extracted as the first one.
Invisible characters (zero-width spaces and joiners, soft hyphens, variation
selectors, bidirectional controls) print nothing a reader can check, and
some would reorder what is shown. Both kinds are refused before the text is
frozen (``rules.unprintable_problems``), never silently dropped.

Coverage comes from fontconfig (``fc-list``, Debian's ``fontconfig``), the
same font set WeasyPrint draws with, read once per process (~70 ms).
"""

from __future__ import annotations

import bisect
import functools
import subprocess
import unicodedata
from collections.abc import Iterable

#: Whitespace the text may hold: the paper prints it as space or a line break.
ALLOWED_CONTROLS = frozenset("\t\n\r")
#: General categories that never print faithfully: controls, formats (ZWSP,
#: ZWJ, soft hyphen, bidi controls), surrogates, private use, unassigned,
#: line and paragraph separators.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
#: Default-ignorable characters of other categories, which fonts may list but
#: print as nothing: variation selectors (as in ❤️), the combining grapheme
#: joiner, Hangul fillers, Mongolian variation selectors.
IGNORABLE_RANGES = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0xE0100, 0xE01EF),
)


class FontCoverageUnknown(RuntimeError):
    """fontconfig could not be asked which characters the fonts cover."""


@functools.cache
def _coverage() -> tuple[tuple[int, ...], tuple[int, ...]]:
    try:
        listed = subprocess.run(
            ["fc-list", "--format", "%{charset}\n"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise FontCoverageUnknown(
            "cannot list the fonts' character coverage with fc-list (install fontconfig)"
        ) from error
    ranges = merge_ranges(parse_charset(listed))
    if not ranges:
        raise FontCoverageUnknown("fc-list reports no fonts: install fonts-noto-cjk")
    return tuple(r[0] for r in ranges), tuple(r[1] for r in ranges)


def parse_charset(listed: str) -> list[tuple[int, int]]:
    """fontconfig's charset notation (``20-7e a0 4e00-9fff``) as inclusive ranges."""
    ranges: list[tuple[int, int]] = []
    for token in listed.split():
        first, _, last = token.partition("-")
        start = int(first, 16)
        ranges.append((start, int(last, 16) if last else start))
    return ranges


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def has_glyph(char: str) -> bool:
    """Whether some installed font can draw ``char``."""
    starts, ends = _coverage()
    point = ord(char)
    index = bisect.bisect_right(starts, point) - 1
    return index >= 0 and point <= ends[index]


def printable(char: str) -> bool:
    """Whether the paper carries ``char`` faithfully: visible, and drawn by some font."""
    if char in ALLOWED_CONTROLS:
        return True
    if unicodedata.category(char) in REFUSED_CATEGORIES:
        return False
    point = ord(char)
    if any(start <= point <= end for start, end in IGNORABLE_RANGES):
        return False
    if char.isspace():
        return True
    return has_glyph(char)


def shown(char: str) -> str:
    """How an error names a refused character: itself if visible, else its code point."""
    category = unicodedata.category(char)
    visible = category[0] not in "CZM" and not any(
        start <= ord(char) <= end for start, end in IGNORABLE_RANGES
    )
    return f"“{char}”" if visible else f"U+{ord(char):04X}"
