"""Zip bombs and oversized workbooks are refused from the zip directory, before unpacking.

The memory figure is measured in this process from /proc/self/statm, sampled
while the upload is parsed: the peak resident size above the level before.
"""

from __future__ import annotations

import gc
import io
import os
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import openpyxl  # type: ignore[import-untyped]
import pytest

from server.experts import importing, xlsx_archive
from server.experts.importing import MAX_SHEET_ROWS, SHEET_TOO_LONG, FileRefused
from server.i18n import Catalogues, activate, gettext

PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024
#: 1.5 million shared strings of 30 characters: 66 MB of XML that zips to 200 KB.
BOMB_STRINGS = 1_500_000
MEMORY_LIMIT = 50 * MB


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


@contextmanager
def _peak_growth() -> Iterator[Callable[[], int]]:
    """Samples the resident size every 2 ms; yields a function giving the peak growth."""
    gc.collect()
    baseline = _rss()
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield lambda: peak - baseline
    finally:
        done.set()
        sampler.join()
        peak = max(peak, _rss())


def _workbook(rows: list[list[str]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _rewritten(data: bytes, parts: dict[str, Callable[[zipfile.ZipFile], None]]) -> bytes:
    """A copy of a workbook in which each named part is written anew by its function."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            if info.filename not in parts:
                target.writestr(info, source.read(info.filename), zipfile.ZIP_DEFLATED)
        for write in parts.values():
            write(target)
    return out.getvalue()


def _bomb_strings(target: zipfile.ZipFile, strings: int) -> None:
    """sharedStrings.xml written in chunks, so building the bomb costs the test no memory."""
    info = zipfile.ZipInfo("xl/sharedStrings.xml")
    info.compress_type = zipfile.ZIP_DEFLATED
    item = b"<si><t>" + b"a" * 30 + b"</t></si>"
    with target.open(info, "w", force_zip64=True) as part:
        part.write(
            b'<?xml version="1.0" encoding="UTF-8"?>'
            b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        )
        chunk = item * 10_000
        for _ in range(strings // 10_000):
            part.write(chunk)
        part.write(b"</sst>")


def _patched(name: str, data: bytes, old: bytes, new: bytes) -> Callable[[zipfile.ZipFile], None]:
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        text = source.read(name)
    assert old in text

    def write(target: zipfile.ZipFile) -> None:
        target.writestr(name, text.replace(old, new, 1), zipfile.ZIP_DEFLATED)

    return write


def zip_bomb(strings: int = BOMB_STRINGS) -> bytes:
    """A workbook whose shared-strings part (which openpyxl reads whole) unpacks to 66 MB."""
    data = _workbook([["姓名", "类别", "电话"]])
    rels, types = "xl/_rels/workbook.xml.rels", "[Content_Types].xml"
    link = (
        b'<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships/sharedStrings" Target="sharedStrings.xml" Id="rId99"/></Relationships>'
    )
    kind = (
        b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'
    )
    return _rewritten(
        data,
        {
            rels: _patched(rels, data, b"</Relationships>", link),
            types: _patched(types, data, b"</Types>", kind),
            "xl/sharedStrings.xml": lambda target: _bomb_strings(target, strings),
        },
    )


def test_a_zip_bomb_is_refused_unread_and_memory_stays_flat(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bomb = zip_bomb()
    assert len(bomb) < 2 * MB  # it fits the request size limit
    with _peak_growth() as growth:
        started = time.perf_counter()
        with pytest.raises(FileRefused) as refused:
            importing.parse_upload("experts.xlsx", bomb)
        elapsed = time.perf_counter() - started
    assert refused.value.message == xlsx_archive.PART_TOO_BIG
    assert refused.value.params["part"] == "xl/sharedStrings.xml"
    gc.collect()
    with capsys.disabled():
        print(
            f"\nxlsx zip bomb: {len(bomb) / 1024:.0f} KB unpacking to "
            f"{BOMB_STRINGS * 46 / MB:.0f} MB; refused in {elapsed * 1000:.1f} ms, "
            f"peak RSS growth {growth() / MB:.1f} MB (limit {MEMORY_LIMIT // MB} MB)"
        )
    assert growth() < MEMORY_LIMIT


def test_the_refusal_is_specific_and_in_chinese() -> None:
    with pytest.raises(FileRefused) as refused:
        importing.parse_upload("experts.xlsx", zip_bomb())
    activate(Catalogues(), "zh")
    text = gettext(refused.value.message) % refused.value.params
    assert "xl/sharedStrings.xml" in text and "4" in text and "MB" in text
    assert "解压" in text


def _stored_part(name: str, size: int) -> Callable[[zipfile.ZipFile], None]:
    def write(target: zipfile.ZipFile) -> None:
        target.writestr(name, os.urandom(size), zipfile.ZIP_STORED)

    return write


def test_the_whole_archive_and_the_number_of_parts_are_bounded() -> None:
    base = _workbook([["姓名", "类别", "电话"]])
    big = _rewritten(
        base,
        {
            f"xl/media/image{i}.bin": _stored_part(f"xl/media/image{i}.bin", 3 * MB)
            for i in range(17)
        },
    )
    problem = xlsx_archive.archive_problem(big)
    assert problem is not None and problem.message == xlsx_archive.TOO_BIG
    many = _rewritten(
        base, {f"docProps/p{i}.xml": _stored_part(f"docProps/p{i}.xml", 10) for i in range(300)}
    )
    problem = xlsx_archive.archive_problem(many)
    assert problem is not None and problem.message == xlsx_archive.TOO_MANY_PARTS


def test_a_part_packed_tighter_than_any_spreadsheet_is_refused() -> None:
    def zeros(target: zipfile.ZipFile) -> None:
        target.writestr("xl/worksheets/sheet1.xml", b" " * (3 * MB), zipfile.ZIP_DEFLATED)

    packed = _rewritten(_workbook([["姓名"]]), {"xl/worksheets/sheet1.xml": zeros})
    problem = xlsx_archive.archive_problem(packed)
    assert problem is not None and problem.message == xlsx_archive.TOO_PACKED


def test_a_sheet_that_states_more_rows_than_allowed_is_refused_before_reading_them() -> None:
    data = _workbook([["姓名", "类别", "电话"], ["王一", "律师", "13800138000"]])
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        sheet = source.read("xl/worksheets/sheet1.xml")
    stated = sheet.replace(b'<dimension ref="A1:C2"/>', b'<dimension ref="A1:C1048576"/>')
    assert stated != sheet

    def write(target: zipfile.ZipFile) -> None:
        target.writestr("xl/worksheets/sheet1.xml", stated, zipfile.ZIP_DEFLATED)

    with pytest.raises(FileRefused) as refused:
        importing.parse_upload(
            "experts.xlsx", _rewritten(data, {"xl/worksheets/sheet1.xml": write})
        )
    assert refused.value.message == SHEET_TOO_LONG
    assert refused.value.params == {"max": MAX_SHEET_ROWS}


def test_an_ordinary_workbook_passes_and_is_read() -> None:
    data = _workbook([["姓名", "类别", "电话"], ["王一", "律师", "13800138000"]])
    assert xlsx_archive.archive_problem(data) is None
    rows = importing.parse_upload("experts.xlsx", data)
    assert [row.cells["name"] for row in rows] == ["王一"]
