"""Sizing up an .xlsx file before anything in it is decompressed.

An .xlsx is a zip archive, and a few hundred kilobytes of zip can inflate to
gigabytes: openpyxl reads the shared-strings and styles parts whole, so a
small upload once raised the server's memory by 460 MB, for good. The zip's
central directory states each part's uncompressed size, and Python's zipfile
never inflates a part past its stated size (it fails the read instead), so
checking the stated sizes bounds what parsing can cost. An expert list of
2,000 rows needs well under a megabyte of shared strings; the limits leave
room for many times that and for formatting, and stay far below what hurts.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field

from server.errors import N_

MB = 1024 * 1024
#: An expert workbook has a dozen parts; a few hundred means something else.
MAX_MEMBERS = 300
MAX_TOTAL_BYTES = 48 * MB
#: Parts openpyxl keeps in memory whole, and every other part (worksheets are streamed).
MAX_SHARED_STRINGS_BYTES = 4 * MB
MAX_WORKSHEET_BYTES = 24 * MB
MAX_OTHER_PART_BYTES = 4 * MB
#: Ordinary spreadsheet XML shrinks 5-30 times; blank formatted rows up to about 150.
MAX_RATIO = 200
RATIO_CHECKED_ABOVE = 1 * MB

TOO_BIG = N_(
    "This Excel file unpacks to more than %(max)s MB; it cannot be an expert list. "
    "Save the sheet alone as a new .xlsx or .csv."
)
PART_TOO_BIG = N_(
    "The part “%(part)s” of this Excel file unpacks to more than %(max)s MB; "
    "save the sheet alone as a new .xlsx or .csv."
)
TOO_PACKED = N_(
    "The part “%(part)s” of this Excel file is compressed suspiciously tightly; "
    "save the sheet alone as a new .xlsx or .csv."
)
TOO_MANY_PARTS = N_(
    "This Excel file has more than %(max)s parts; save the sheet alone as a new .xlsx or .csv."
)


@dataclass(frozen=True)
class Refusal:
    """Why a workbook is refused, as a translatable message and its parameters."""

    message: str
    params: dict[str, object] = field(default_factory=dict)


def _part_limit(name: str) -> int:
    if name == "xl/sharedStrings.xml":
        return MAX_SHARED_STRINGS_BYTES
    if name.startswith("xl/worksheets/") and name.endswith(".xml"):
        return MAX_WORKSHEET_BYTES
    return MAX_OTHER_PART_BYTES


def _megabytes(limit: int) -> int:
    return limit // MB


def archive_problem(data: bytes) -> Refusal | None:
    """The first reason to refuse ``data`` unread, from its directory alone; None if none.

    A file that is no zip at all is left to the parser, which says so.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        return None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            return Refusal(TOO_MANY_PARTS, {"max": MAX_MEMBERS})
        total = 0
        for member in members:
            limit = _part_limit(member.filename)
            if member.file_size > limit:
                return Refusal(
                    PART_TOO_BIG, {"part": member.filename[:80], "max": _megabytes(limit)}
                )
            total += member.file_size
            if total > MAX_TOTAL_BYTES:
                return Refusal(TOO_BIG, {"max": _megabytes(MAX_TOTAL_BYTES)})
            if member.file_size > RATIO_CHECKED_ABOVE and member.file_size > MAX_RATIO * max(
                member.compress_size, 1
            ):
                return Refusal(TOO_PACKED, {"part": member.filename[:80]})
    return None
