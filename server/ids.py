"""Numbers read from URLs, query strings and form keys: ASCII digits, or nothing.

``str.isdigit()`` and ``int()`` accept every script's digits: ``int("١")`` is
1, so ``/disputes/١`` (Arabic-Indic) or ``/disputes/１`` (fullwidth) would
open dispute 1 under a second address, past anything that matches paths as
text; and ``"²".isdigit()`` holds while ``int("²")`` raises. Every id taken
from a request goes through ``parse_id``.
"""

from __future__ import annotations

import re

#: Up to 12 digits: more than any id, fewer than anything that costs to convert.
MAX_DIGITS = 12

_ASCII_DIGITS = re.compile(r"[0-9]+")


def parse_id(value: str, *, max_digits: int = MAX_DIGITS) -> int | None:
    """``value`` as a non-negative integer when it is 1 to ``max_digits`` ASCII digits."""
    if len(value) > max_digits or not _ASCII_DIGITS.fullmatch(value):
        return None
    return int(value)
