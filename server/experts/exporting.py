"""The spreadsheet layout of the pool, and writing it out as CSV or XLSX.

The layout (columns, Chinese headers, kind and specialty names) is defined
here and read back by ``importing``, which also accepts other spellings; so
an export imported into an empty station reproduces the pool.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from enum import StrEnum

from server.disputes.lifecycle import Category
from server.errors import N_
from server.experts.kinds import ExpertKind
from server.experts.service import ExpertView


class Column(StrEnum):
    NAME = "name"
    KIND = "kind"
    ORGANISATION = "organisation"
    SPECIALTIES = "specialties"
    PHONE = "phone"
    OFFICES = "offices"
    NOTES = "notes"
    ACTIVE = "active"


COLUMNS = tuple(Column)

#: The headers the export writes; the import accepts them and the aliases below.
ZH_HEADERS: dict[Column, str] = {
    Column.NAME: "姓名",
    Column.KIND: "类别",
    Column.ORGANISATION: "单位",
    Column.SPECIALTIES: "擅长领域",
    Column.PHONE: "电话",
    Column.OFFICES: "服务警务室",
    Column.NOTES: "备注",
    Column.ACTIVE: "状态",
}
COLUMN_LABELS: dict[str, str] = {
    Column.NAME: N_("Name"),
    Column.KIND: N_("Kind"),
    Column.ORGANISATION: N_("Organisation"),
    Column.SPECIALTIES: N_("Specialties"),
    Column.PHONE: N_("Phone"),
    Column.OFFICES: N_("Beat offices"),
    Column.NOTES: N_("Notes"),
    Column.ACTIVE: N_("Status"),
    "": N_("Line"),
}

#: The kind names the export writes (each one ``parse_kind`` reads back).
KIND_ZH: dict[str, str] = {
    ExpertKind.LEGAL_POLICE: "法制民警",
    ExpertKind.LAWYER: "律师",
    ExpertKind.COMMUNITY_CADRE: "综治专干",
    ExpertKind.RETIRED_CADRE: "退休干部",
    ExpertKind.PEOPLE_MEDIATOR: "人民调解员",
    ExpertKind.JUDICIAL_OFFICE: "司法所工作人员",
    ExpertKind.OTHER: "其他",
}

#: The Chinese category labels of the catalogue (web/locale/zh); the export writes these.
#: tests/experts check they still match the catalogue.
SPECIALTY_ZH: dict[str, str] = {
    Category.NEIGHBOUR: "邻里纠纷",
    Category.FAMILY: "婚姻家庭纠纷",
    Category.LABOUR: "劳资纠纷",
    Category.CONTRACT: "合同纠纷",
    Category.PROPERTY: "财物损毁纠纷",
    Category.TENANCY: "房屋租赁纠纷",
    Category.DEBT: "债务纠纷",
    Category.TRAFFIC: "交通纠纷",
    Category.MINOR_INJURY: "轻微伤害纠纷",
    Category.OTHER: "其他",
}
ACTIVE_ZH = {True: "在用", False: "停用"}

CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
JOIN = "、"
#: Spreadsheets run a cell starting with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
COLUMN_WIDTHS: dict[Column, int] = {
    Column.NAME: 12,
    Column.KIND: 14,
    Column.ORGANISATION: 24,
    Column.SPECIALTIES: 28,
    Column.PHONE: 16,
    Column.OFFICES: 28,
    Column.NOTES: 40,
    Column.ACTIVE: 8,
}


def in_category_order(values: Sequence[str]) -> list[str]:
    """Specialties in the order categories are listed everywhere else."""
    order = {c.value: i for i, c in enumerate(Category)}
    return sorted(values, key=lambda v: order.get(v, len(order)))


def table(views: Sequence[ExpertView], office_names: Mapping[int, str]) -> list[list[str]]:
    """The header row, then one row per expert, all as text."""
    rows = [[ZH_HEADERS[c] for c in COLUMNS]]
    for view in views:
        expert = view.expert
        values: dict[Column, str] = {
            Column.NAME: expert.name,
            Column.KIND: KIND_ZH.get(expert.kind, expert.kind),
            Column.ORGANISATION: expert.organisation,
            Column.SPECIALTIES: JOIN.join(
                SPECIALTY_ZH.get(s, s) for s in in_category_order(view.specialties)
            ),
            Column.PHONE: expert.phone,
            Column.OFFICES: JOIN.join(
                office_names[o] for o in sorted(view.office_ids) if o in office_names
            ),
            Column.NOTES: expert.notes,
            Column.ACTIVE: ACTIVE_ZH[expert.active],
        }
        rows.append([values[c] for c in COLUMNS])
    return rows


def _guard(value: str) -> str:
    """A leading apostrophe keeps a spreadsheet from running the cell; the importer drops it."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def to_csv(rows: Sequence[Sequence[str]]) -> bytes:
    """UTF-8 with a BOM and CRLF line ends: what Excel needs to open Chinese text correctly."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_guard(value) for value in row])
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(rows: Sequence[Sequence[str]]) -> bytes:
    """One sheet, every cell stored as text (so phones keep their digits, nothing is a formula)."""
    # Imported on use: openpyxl costs every server process 20 MB otherwise.
    import openpyxl  # type: ignore[import-untyped]
    from openpyxl.styles import Font  # type: ignore[import-untyped]
    from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "专家库"
    bold = Font(bold=True)
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            cell = sheet.cell(row=r, column=c)
            cell.value = value
            cell.data_type = "s"  # set after the value: openpyxl makes "=..." a formula
            cell.number_format = "@"
            if r == 1:
                cell.font = bold
    for index, column in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = COLUMN_WIDTHS[column]
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
