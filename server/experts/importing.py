"""Reading a spreadsheet of experts: a CSV or XLSX file in, checked rows out.

Nothing here knows HTTP. Parsing (bytes to ``SourceRow``) is pure. Reviewing
(``SourceRow`` to ``ReviewedRow``) needs the station's beat offices and the
phone numbers already in the pool, so it takes a database session. An import
is all-or-nothing: ``import_experts`` refuses unless every row is clean, and
runs in the caller's single transaction. Messages are English msgids with
parameters, translated where they are shown.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.audit import record
from server.auth.roles import Actor
from server.disputes.lifecycle import Category
from server.errors import N_, ValidationFailed
from server.experts import service
from server.experts.exporting import COLUMNS, SPECIALTY_ZH, ZH_HEADERS, Column
from server.experts.kinds import ExpertKind, parse_kind
from server.experts.schemas import PHONE, ExpertInput, normalise_phone
from server.experts.xlsx_archive import archive_problem
from server.models import BeatOffice, Expert

#: More rows than this is a file-level refusal: split the file.
MAX_ROWS = 2000
#: Physical sheet rows read at most (blank formatted rows count here, not in MAX_ROWS).
MAX_SHEET_ROWS = 20_000
MAX_COLUMNS = 50

REQUIRED_COLUMNS = (Column.NAME, Column.KIND, Column.PHONE)
#: Header names accepted for each column; the first is the one the export writes.
_HEADER_NAMES: dict[Column, tuple[str, ...]] = {
    Column.NAME: ("姓名", "名字", "专家姓名", "name"),
    Column.KIND: ("类别", "类型", "专家类别", "kind", "type"),
    Column.ORGANISATION: ("单位", "工作单位", "所在单位", "organisation", "organization", "org"),
    Column.SPECIALTIES: (
        "擅长领域",
        "擅长",
        "专长",
        "擅长纠纷类型",
        "specialties",
        "specialty",
        "specialities",
    ),
    Column.PHONE: ("电话", "手机", "手机号", "手机号码", "联系电话", "电话号码", "phone", "mobile"),
    Column.OFFICES: ("服务警务室", "警务室", "offices", "office", "beatoffices"),
    Column.NOTES: ("备注", "说明", "notes", "note", "remarks"),
    Column.ACTIVE: ("状态", "是否在用", "active", "status"),
}

#: Other names people write. Any name is also accepted without its 纠纷 suffix.
_SPECIALTY_ALIASES: dict[str, Category] = {
    "家庭纠纷": Category.FAMILY,
    "婚姻纠纷": Category.FAMILY,
    "租赁纠纷": Category.TENANCY,
    "交通事故": Category.TRAFFIC,
    "工资纠纷": Category.LABOUR,
    "其它": Category.OTHER,
}

_ACTIVE_VALUES: dict[str, bool] = {
    **{v: True for v in ("", "在用", "启用", "有效", "是", "active", "yes", "y", "true", "1")},
    **{v: False for v in ("停用", "无效", "否", "inactive", "no", "n", "false", "0")},
}

SPECIALTY_SEPARATORS = re.compile(r"[、,，;；/\s]+")
#: Office names may contain spaces, so spaces do not separate them.
OFFICE_SEPARATORS = re.compile(r"[、,，;；/\r\n]+")
#: A cell the CSV export guarded against spreadsheet formulas ('=..., '+...).
_GUARDED = re.compile(r"^'[=+\-@\t\r]")

BAD_ENCODING = N_("This line is not valid text (bad encoding); save the file as UTF-8 and retry.")
UNKNOWN_KIND = N_("Unknown kind “%(value)s”.")
UNKNOWN_SPECIALTY = N_("Unknown specialty “%(value)s”.")
UNKNOWN_OFFICE = N_("No beat office is named “%(value)s”.")
UNKNOWN_STATUS = N_("Unknown status “%(value)s”; write 在用 or 停用.")
DUPLICATE_IN_FILE = N_("Same phone number as line %(line)s.")
TOO_MANY = N_("The file has more than %(max)s experts; split it into smaller files.")
SHEET_TOO_LONG = N_("The sheet has more than %(max)s rows; delete the empty ones or split it.")
IN_POOL = N_("This phone number already belongs to %(name)s in the pool.")

#: Pydantic error types as messages; the same msgids the forms use, so translated alike.
_PYDANTIC_MESSAGES: dict[str, str] = {
    "missing": N_("This field is required."),
    "string_too_short": N_("This field is required."),
    "string_too_long": N_("At most %(max_length)s characters."),
    "invalid_phone": N_("Not a valid phone number."),
    "too_long": N_("Too many entries."),
}
_FALLBACK = N_("This value is not valid.")
_FIELD_COLUMNS: dict[str, Column] = {
    "name": Column.NAME,
    "kind": Column.KIND,
    "organisation": Column.ORGANISATION,
    "phone": Column.PHONE,
    "specialties": Column.SPECIALTIES,
    "office_ids": Column.OFFICES,
    "notes": Column.NOTES,
    "active": Column.ACTIVE,
}


class FileRefused(ValidationFailed):
    """The file as a whole cannot be imported (unreadable, no header, too long...)."""


@dataclass(frozen=True)
class SourceRow:
    """One data row as read from the file: cell text by column, before any checking."""

    line: int
    cells: dict[str, str]
    bad_encoding: bool = False

    def cell(self, column: Column) -> str:
        return self.cells.get(column, "")


@dataclass(frozen=True)
class RowIssue:
    """Why a row cannot be imported: a msgid and its parameters, and the column it concerns."""

    column: str
    message: str
    params: dict[str, str | int] = field(default_factory=dict)


@dataclass
class ReviewedRow:
    """A row after checking: the expert to create, or the issues that block it."""

    source: SourceRow
    kind: ExpertKind | None = None
    specialties: list[Category] = field(default_factory=list)
    office_ids: list[int] = field(default_factory=list)
    phone: str | None = None
    expert: ExpertInput | None = None
    issues: list[RowIssue] = field(default_factory=list)

    @property
    def line(self) -> int:
        return self.source.line

    @property
    def ok(self) -> bool:
        return not self.issues and self.expert is not None

    def add(self, issue: RowIssue) -> None:
        self.issues.append(issue)
        self.expert = None


# --- reading files -------------------------------------------------------------------


def _header_key(text: str) -> str:
    return re.sub(r"[\s_*＊:：\-]", "", text.replace("\ufeff", "")).lower()


HEADER_ALIASES: dict[str, Column] = {
    _header_key(name): column for column, names in _HEADER_NAMES.items() for name in names
}


def _header(cells: Sequence[str]) -> dict[int, Column]:
    found: dict[int, Column] = {}
    for index, text in enumerate(cells):
        column = HEADER_ALIASES.get(_header_key(text))
        if column is None:
            continue  # a column we do not use (序号, say) is ignored
        if column in found.values():
            raise FileRefused(
                N_("The column “%(column)s” appears twice."), params={"column": text.strip()}
            )
        found[index] = column
    if not found:
        raise FileRefused(
            N_("The first row must name the columns, e.g. %(example)s; none of it was recognised."),
            params={"example": "、".join(ZH_HEADERS.values())},
        )
    missing = [ZH_HEADERS[c] for c in REQUIRED_COLUMNS if c not in found.values()]
    if missing:
        raise FileRefused(
            N_("The file lacks these columns: %(columns)s."), params={"columns": "、".join(missing)}
        )
    return found


def _rows(records: Iterable[tuple[int, list[str], bool]]) -> list[SourceRow]:
    """Header first, then data rows; blank rows are skipped wherever they are."""
    header: dict[int, Column] | None = None
    rows: list[SourceRow] = []
    for line, cells, bad in records:
        if not any(c.strip() for c in cells):
            continue
        if header is None:
            if bad:
                raise FileRefused(N_("The header row is not valid text; save the file as UTF-8."))
            header = _header(cells)
            continue
        values: dict[str, str] = {}
        for index, column in header.items():
            text = cells[index].strip() if index < len(cells) else ""
            # The export's formula guard; the cell may have come through Excel as .xlsx too.
            values[column] = text[1:] if _GUARDED.match(text) else text
        rows.append(SourceRow(line=line, cells=values, bad_encoding=bad))
        if len(rows) > MAX_ROWS:
            raise FileRefused(TOO_MANY, params={"max": MAX_ROWS})
    if header is None:
        raise FileRefused(N_("The file is empty."))
    if not rows:
        raise FileRefused(N_("The file has a header row but no experts under it."))
    return rows


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _choose_encoding(data: bytes, lines: Sequence[bytes], bom: bool) -> str:
    """UTF-8 when it is, or mostly is (a few broken lines); else GB18030, as Excel in China saves.

    A mostly-UTF-8 file with one broken line could still happen to be valid
    GB18030 as a whole; reading it so would turn every line into nonsense, so
    the line count decides, not the whole-file test alone.
    """
    if bom or _decodes(data, "utf-8"):
        return "utf-8"
    non_ascii = [line for line in lines if not line.isascii()]
    utf8 = sum(1 for line in non_ascii if _decodes(line, "utf-8"))
    return "utf-8" if utf8 * 2 > len(non_ascii) else "gb18030"


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def _csv_lines(data: bytes) -> tuple[list[str], set[int]]:
    """Decoded physical lines, and the numbers (1-based) of those that could not be decoded."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode text": UTF-16, tab-separated.
        try:
            return _LINE.findall(data.decode("utf-16").lstrip("\ufeff")), set()
        except UnicodeDecodeError as exc:
            raise FileRefused(N_("The file is not valid UTF-16 text.")) from exc
    bom = data.startswith(codecs.BOM_UTF8)
    if bom:
        data = data[len(codecs.BOM_UTF8) :]
    raw_lines = data.splitlines(keepends=True)
    encoding = _choose_encoding(data, raw_lines, bom)
    lines: list[str] = []
    bad: set[int] = set()
    for number, raw in enumerate(raw_lines, start=1):
        try:
            lines.append(raw.decode(encoding))
        except UnicodeDecodeError:
            bad.add(number)
            lines.append(raw.decode(encoding, errors="replace"))
    if lines:
        lines[0] = lines[0].lstrip("\ufeff")
    return lines, bad


def parse_csv(data: bytes) -> list[SourceRow]:
    """Rows of a CSV file in UTF-8 (with or without BOM) or GB18030/GBK."""
    if not data.strip():
        raise FileRefused(N_("The file is empty."))
    lines, bad = _csv_lines(data)
    if any("\x00" in line for line in lines):
        raise FileRefused(N_("The file contains binary data; it is not a CSV file."))
    first = next((line for line in lines if line.strip()), "")
    delimiter = max((",", "\t", ";"), key=first.count) if first else ","
    reader = csv.reader(io.StringIO("".join(lines), newline=""), delimiter=delimiter)

    def records() -> Iterator[tuple[int, list[str], bool]]:
        start = 1
        try:
            for cells in reader:
                end = reader.line_num
                yield start, cells, any(n in bad for n in range(start, end + 1))
                start = end + 1
        except csv.Error as exc:
            raise FileRefused(
                N_("The file cannot be read as CSV near line %(line)s."), params={"line": start}
            ) from exc

    return _rows(records())


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone typed as a number
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    return str(value).strip()


def parse_xlsx(data: bytes) -> list[SourceRow]:
    """Rows of the first sheet of an Excel workbook (.xlsx), sized up before it is unpacked."""
    import openpyxl  # type: ignore[import-untyped]  # only when a workbook comes: 20 MB

    if not data.strip():
        raise FileRefused(N_("The file is empty."))
    unreadable = FileRefused(
        N_("This is not an Excel file that can be read; save it again as .xlsx or .csv.")
    )
    problem = archive_problem(data)
    if problem is not None:
        raise FileRefused(problem.message, params=problem.params)
    # openpyxl warns about features it drops (data validation, say); irrelevant here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # a corrupt file raises anything from zipfile to KeyError
            raise unreadable from exc
        try:
            if not workbook.worksheets:
                raise unreadable
            sheet = workbook.worksheets[0]
            # The sheet's stated size (its <dimension>): openpyxl would pad to it row by row.
            if sheet.max_row is not None and sheet.max_row > MAX_SHEET_ROWS:
                raise FileRefused(SHEET_TOO_LONG, params={"max": MAX_SHEET_ROWS})

            def records() -> Iterator[tuple[int, list[str], bool]]:
                for number, values in enumerate(
                    sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True), start=1
                ):
                    if number > MAX_SHEET_ROWS:
                        raise FileRefused(SHEET_TOO_LONG, params={"max": MAX_SHEET_ROWS})
                    yield number, [_cell_text(v) for v in values], False

            return _rows(records())
        except FileRefused:
            raise
        except Exception as exc:
            raise unreadable from exc
        finally:
            workbook.close()


XLSX_MAGIC = b"PK\x03\x04"
XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def parse_upload(filename: str, data: bytes) -> list[SourceRow]:
    """A CSV or XLSX file, told apart by name and by content."""
    name = filename.lower()
    if data.startswith(XLS_MAGIC) or name.endswith(".xls"):
        raise FileRefused(N_("Old Excel files (.xls) cannot be read; save the sheet as .xlsx."))
    if data.startswith(XLSX_MAGIC) or name.endswith(".xlsx"):
        return parse_xlsx(data)
    return parse_csv(data)


# --- checking rows -------------------------------------------------------------------


def _specialty_key(text: str) -> str:
    return text.strip().lower().removesuffix("纠纷")


SPECIALTY_NAMES: dict[str, Category] = {
    **{_specialty_key(c.value): c for c in Category},
    **{_specialty_key(label): Category(c) for c, label in SPECIALTY_ZH.items()},
    **{_specialty_key(alias): c for alias, c in _SPECIALTY_ALIASES.items()},
}


def parse_specialties(text: str) -> tuple[list[Category], list[str]]:
    """Categories named in a cell, and the names that are not categories."""
    found: list[Category] = []
    unknown: list[str] = []
    for part in SPECIALTY_SEPARATORS.split(text):
        if not part:
            continue
        category = SPECIALTY_NAMES.get(_specialty_key(part))
        if category is None:
            unknown.append(part)
        elif category not in found:
            found.append(category)
    return found, unknown


def office_key(name: str) -> str:
    return re.sub(r"\s+", "", name).lower()


def check_row(row: SourceRow, offices: Mapping[str, int]) -> ReviewedRow:
    """Everything about one row that needs no database: values, kinds, names, offices."""
    result = ReviewedRow(source=row)
    issues: list[RowIssue] = []
    if row.bad_encoding:
        issues.append(RowIssue("", BAD_ENCODING))
    kind_text = row.cell(Column.KIND)
    result.kind = parse_kind(kind_text) if kind_text else None
    if kind_text and result.kind is None:
        issues.append(RowIssue(Column.KIND, UNKNOWN_KIND, {"value": kind_text}))
    result.specialties, unknown = parse_specialties(row.cell(Column.SPECIALTIES))
    issues += [RowIssue(Column.SPECIALTIES, UNKNOWN_SPECIALTY, {"value": u}) for u in unknown]
    for name in OFFICE_SEPARATORS.split(row.cell(Column.OFFICES)):
        if not name.strip():
            continue
        office_id = offices.get(office_key(name))
        if office_id is None:
            issues.append(RowIssue(Column.OFFICES, UNKNOWN_OFFICE, {"value": name.strip()}))
        elif office_id not in result.office_ids:
            result.office_ids.append(office_id)
    status = row.cell(Column.ACTIVE)
    active = _ACTIVE_VALUES.get(status.lower())
    if active is None:
        issues.append(RowIssue(Column.ACTIVE, UNKNOWN_STATUS, {"value": status}))
    phone = row.cell(Column.PHONE)
    if PHONE.match(phone):
        result.phone = normalise_phone(phone)
    data: dict[str, Any] = {
        "organisation": row.cell(Column.ORGANISATION),
        "notes": row.cell(Column.NOTES),
        "specialties": result.specialties,
        "office_ids": result.office_ids,
        "active": True if active is None else active,
    }
    for key, column in (("name", Column.NAME), ("phone", Column.PHONE)):
        if row.cell(column):
            data[key] = row.cell(column)
    if kind_text:
        # An unknown kind is reported above; a stand-in lets the other fields be checked.
        data["kind"] = result.kind or ExpertKind.OTHER
    try:
        expert = ExpertInput.model_validate(data)
    except ValidationError as exc:
        expert = None
        issues += _pydantic_issues(exc)
    order = {c: i for i, c in enumerate(("", *COLUMNS))}
    result.issues = sorted(issues, key=lambda i: order.get(i.column, len(order)))
    result.expert = None if result.issues else expert
    return result


def _pydantic_issues(exc: ValidationError) -> list[RowIssue]:
    issues: list[RowIssue] = []
    for err in exc.errors(include_url=False):
        column = _FIELD_COLUMNS.get(str(err["loc"][0]) if err["loc"] else "", "")
        ctx = err.get("ctx") or {}
        params = {k: v for k, v in ctx.items() if isinstance(v, str | int)}
        message = _PYDANTIC_MESSAGES.get(err["type"], _FALLBACK)
        wanted = set(re.findall(r"%\((\w+)\)", message))
        if not wanted <= set(params):
            message, wanted = _FALLBACK, set()
        issue = RowIssue(column, message, {k: v for k, v in params.items() if k in wanted})
        if issue not in issues:
            issues.append(issue)
    return issues


async def review(db: AsyncSession, station_id: int, rows: Sequence[SourceRow]) -> list[ReviewedRow]:
    """Check every row, against each other and against the station's pool and offices."""
    offices = {
        office_key(o.name): o.id
        for o in await db.exec(select(BeatOffice).where(BeatOffice.station_id == station_id))
        if o.id is not None
    }
    pool = dict(
        (
            await db.exec(select(Expert.phone, Expert.name).where(Expert.station_id == station_id))
        ).all()
    )
    reviewed = [check_row(row, offices) for row in rows]
    first_line: dict[str, int] = {}
    for row in reviewed:
        if row.phone is None:
            continue
        if row.phone in pool:
            row.add(RowIssue(Column.PHONE, IN_POOL, {"name": pool[row.phone]}))
        if row.phone in first_line:
            row.add(RowIssue(Column.PHONE, DUPLICATE_IN_FILE, {"line": first_line[row.phone]}))
        else:
            first_line[row.phone] = row.line
    return reviewed


async def import_experts(db: AsyncSession, actor: Actor, rows: Sequence[ReviewedRow]) -> int:
    """Create every expert, or none: the caller's transaction holds them all, audited once."""
    experts = [row.expert for row in rows if row.ok]
    if len(experts) != len(rows) or not experts:
        raise ValidationFailed(N_("Nothing was imported: some rows need correcting."))
    for expert in experts:
        assert expert is not None
        await service.create_expert(db, actor, expert, audit=False)
    record(db, actor, "expert.import", object_type="expert", detail={"count": len(experts)})
    return len(experts)
