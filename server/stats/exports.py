"""The figures as CSV and XLSX: the same rows and numbers as the page and the API.

Labels arrive translated through the ``gettext`` the caller passes, so this
module needs no request. The rate is a fraction (0.5 = 50 %) with four
decimals, empty when nothing was handled; median days to one decimal.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from server.errors import N_
from server.stats.figures import DEFINITIONS, DIMENSION_LABELS, DIMENSIONS, Figures, Row

Translate = Callable[[str], str]

#: (column key, message id of its heading)
COLUMNS: tuple[tuple[str, str], ...] = (
    ("registered", N_("Disputes registered")),
    ("handled", N_("Disputes handled")),
    ("resolved", N_("Resolved by mediation")),
    ("rate", N_("Resolution rate")),
    ("sealed", N_("Agreements sealed")),
    ("performed", N_("Performed on follow-up")),
    ("reopened", N_("Disputes reopened")),
    ("referred", N_("Disputes referred")),
    ("criminal", N_("Turned criminal")),
    ("median_days", N_("Median days to agreement")),
)


def values(row: Row) -> list[Any]:
    rate = round(row.rate, 4) if row.rate is not None else None
    return [rate if key == "rate" else getattr(row, key) for key, _ in COLUMNS]


def label_of(row: Row, _: Translate) -> str:
    return _(row.label) if row.translate else row.label


def table_rows(figures: Figures, _: Translate) -> list[list[Any]]:
    """Heading, then one line per dimension and key, then the total: the CSV as rows."""
    rows: list[list[Any]] = [
        [_("Dimension"), _("Key"), _("Item"), *[_(title) for _key, title in COLUMNS]]
    ]
    for dimension in DIMENSIONS:
        for row in figures.by[dimension]:
            rows.append([dimension, row.key, label_of(row, _), *values(row)])
    rows.append(["total", "", _("Total"), *values(figures.total)])
    return rows


def to_csv(figures: Figures, _: Translate) -> bytes:
    """UTF-8 with a byte-order mark, so Excel on a Chinese Windows opens it right."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_("Period"), figures.period.start.isoformat(), figures.period.end.isoformat()])
    for line in table_rows(figures, _):
        writer.writerow(["" if v is None else v for v in line])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(figures: Figures, _: Translate) -> bytes:
    """One sheet per dimension, the total on each, and the definitions."""
    # Imported on use: openpyxl costs every server process 20 MB otherwise.
    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.styles import Font  # type: ignore[import-untyped]

    book = Workbook()
    first = book.active
    assert first is not None
    book.remove(first)
    bold = Font(bold=True)
    for dimension in DIMENSIONS:
        sheet = book.create_sheet(title=_(DIMENSION_LABELS[dimension])[:31])
        sheet.append(
            [_("Period"), figures.period.start.isoformat(), figures.period.end.isoformat()]
        )
        sheet.append([_("Key"), _("Item"), *[_(title) for _key, title in COLUMNS]])
        for cell in sheet[2]:
            cell.font = bold
        for row in figures.by[dimension]:
            sheet.append([row.key, label_of(row, _), *values(row)])
        sheet.append(["total", _("Total"), *values(figures.total)])
        sheet.column_dimensions["B"].width = 24
    notes = book.create_sheet(title=_("Definitions")[:31])
    for key, text in DEFINITIONS.items():
        notes.append([key, _(text)])
    notes.column_dimensions["B"].width = 80
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
