"""Reading expert spreadsheets: encodings, headers, row checks, all-or-nothing, round trips."""

from __future__ import annotations

import codecs
import io
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import pytest
from sqlmodel import col, func, select

from server.auth.roles import Actor
from server.auth.sessions import actor_for
from server.db import SessionFactory, transaction
from server.disputes.lifecycle import CATEGORY_LABELS, Category
from server.errors import ValidationFailed
from server.experts import exporting, importing, service
from server.experts.exporting import Column
from server.experts.importing import (
    BAD_ENCODING,
    DUPLICATE_IN_FILE,
    IN_POOL,
    UNKNOWN_KIND,
    UNKNOWN_OFFICE,
    UNKNOWN_SPECIALTY,
    FileRefused,
    ReviewedRow,
    SourceRow,
)
from server.experts.kinds import ExpertKind, parse_kind
from server.experts.schemas import ExpertInput
from server.i18n import Catalogues, activate, gettext
from server.models import AuditEvent, BeatOffice, Expert, Station
from tests.conftest import Seed

HEADER = "姓名,类别,单位,擅长领域,电话,服务警务室,备注"
GOOD_LINES = [
    "李明,律师,明理律师事务所,邻里纠纷、家庭纠纷,138 0013 8001,滨河社区警务室,公益律师",
    "张芳,法制民警,白石派出所,交通事故；轻微伤害,13800138002,滨河社区警务室、新村社区警务室,",
    '王建国,退休干部,,"neighbour, debt",139-0013-8003,,老党员',
]


def csv_bytes(lines: list[str], encoding: str = "utf-8-sig") -> bytes:
    return ("\r\n".join([HEADER, *lines]) + "\r\n").encode(encoding)


def officer(seed: Seed) -> Actor:
    return actor_for(seed.users["officer"], ip="10.0.0.1", user_agent="pytest")


async def reviewed(factory: SessionFactory, seed: Seed, data: bytes) -> list[ReviewedRow]:
    rows = importing.parse_csv(data)
    async with transaction(factory) as db:
        return await importing.review(db, seed.station_id, rows)


def messages(row: ReviewedRow) -> list[tuple[str, str]]:
    return [(issue.column, issue.message) for issue in row.issues]


async def expert_count(factory: SessionFactory, station_id: int) -> int:
    async with transaction(factory) as db:
        query = select(func.count()).select_from(Expert).where(Expert.station_id == station_id)
        return (await db.exec(query)).one()


# --- encodings -----------------------------------------------------------------------


async def test_good_csv_in_utf8_with_bom(factory: SessionFactory, seed: Seed) -> None:
    rows = await reviewed(factory, seed, csv_bytes(GOOD_LINES))
    assert [r.line for r in rows] == [2, 3, 4]
    assert all(r.ok for r in rows), [messages(r) for r in rows]
    first, second, third = (r.expert for r in rows)
    assert first is not None and second is not None and third is not None
    assert first.name == "李明" and first.kind == ExpertKind.LAWYER
    assert first.phone == "13800138001"
    assert first.specialties == [Category.NEIGHBOUR, Category.FAMILY]
    assert first.office_ids == [seed.office_a] and first.notes == "公益律师"
    assert second.kind == ExpertKind.LEGAL_POLICE
    assert second.specialties == [Category.TRAFFIC, Category.MINOR_INJURY]
    assert second.office_ids == [seed.office_a, seed.office_b]
    assert third.specialties == [Category.NEIGHBOUR, Category.DEBT]
    assert third.office_ids == [] and third.phone == "13900138003" and third.active


async def test_csv_without_bom_and_gb18030_read_alike(factory: SessionFactory, seed: Seed) -> None:
    utf8 = await reviewed(factory, seed, csv_bytes(GOOD_LINES, "utf-8"))
    gbk = await reviewed(factory, seed, csv_bytes(GOOD_LINES, "gb18030"))
    assert [r.expert for r in gbk] == [r.expert for r in utf8]
    assert all(r.ok for r in gbk)
    assert gbk[0].expert is not None and gbk[0].expert.name == "李明"


async def test_undecodable_line_in_a_gbk_file(factory: SessionFactory, seed: Seed) -> None:
    data = (
        csv_bytes(GOOD_LINES, "gb18030") + "褚八,律师,,,13800138012,,".encode("gbk") + b"\xff\r\n"
    )
    rows = await reviewed(factory, seed, data)
    assert [r.ok for r in rows] == [True, True, True, False]
    assert messages(rows[3]) == [("", BAD_ENCODING)]
    assert rows[3].source.cells["name"] == "褚八"


def test_english_headers_tabs_and_codes() -> None:
    data = "Name\tKind\tPhone\tSpecialties\n Li Ming \tlawyer\t13800138001\tlabour contract\n"
    rows = importing.parse_csv(data.encode())
    assert rows == [
        SourceRow(
            line=2,
            cells={
                "name": "Li Ming",
                "kind": "lawyer",
                "phone": "13800138001",
                "specialties": "labour contract",
            },
        )
    ]
    checked = importing.check_row(rows[0], {})
    assert checked.ok and checked.specialties == [Category.LABOUR, Category.CONTRACT]


# --- rows with problems --------------------------------------------------------------


async def test_bad_rows_each_say_what_is_wrong(factory: SessionFactory, seed: Seed) -> None:
    async with transaction(factory) as db:
        await service.create_expert(
            db,
            officer(seed),
            ExpertInput(name="赵律师", kind=ExpertKind.LAWYER, phone="13700137000"),
        )
    lines = [
        "李明,律师,,,13800138001,,",  # 2: fine
        "钱一,厨师,,,13800138002,,",  # 3: unknown kind
        ",律师,,,13800138003,,",  # 4: missing name
        "孙二,律师,,,138-0013-8001,,",  # 5: same phone as line 2
        "周三,律师,,,13700137000,,",  # 6: already in the pool
        "吴四,律师,,炒股,13800138006,,",  # 7: unknown specialty
        "郑五,律师,,,13800138007,东湖社区警务室,",  # 8: unknown office
        "冯六,律师,,,12ab,,",  # 9: invalid phone
        "陈七,律师,,,,,",  # 10: missing phone
        "x" * 41 + ",律师,,,13800138010,,",  # 11: name too long
    ]
    data = csv_bytes(lines, "utf-8")
    # line 12: GBK bytes in an otherwise UTF-8 file
    data += "褚八,律师,,,13800138012,,\r\n".encode("gbk")
    rows = await reviewed(factory, seed, data)
    by_line = {r.line: r for r in rows}
    assert by_line[2].ok
    assert messages(by_line[3]) == [(Column.KIND, UNKNOWN_KIND)]
    assert by_line[3].issues[0].params == {"value": "厨师"}
    assert messages(by_line[4]) == [(Column.NAME, "This field is required.")]
    assert messages(by_line[5]) == [(Column.PHONE, DUPLICATE_IN_FILE)]
    assert by_line[5].issues[0].params == {"line": 2}
    assert messages(by_line[6]) == [(Column.PHONE, IN_POOL)]
    assert by_line[6].issues[0].params == {"name": "赵律师"}
    assert messages(by_line[7]) == [(Column.SPECIALTIES, UNKNOWN_SPECIALTY)]
    assert messages(by_line[8]) == [(Column.OFFICES, UNKNOWN_OFFICE)]
    assert by_line[8].issues[0].params == {"value": "东湖社区警务室"}
    assert messages(by_line[9]) == [(Column.PHONE, "Not a valid phone number.")]
    assert messages(by_line[10]) == [(Column.PHONE, "This field is required.")]
    assert messages(by_line[11]) == [(Column.NAME, "At most %(max_length)s characters.")]
    assert by_line[11].issues[0].params == {"max_length": 40}
    assert (("", BAD_ENCODING)) in messages(by_line[12])
    assert sum(1 for r in rows if r.ok) == 1
    # Every message can be filled in with its parameters, in both languages.
    activate(Catalogues(), "zh")
    for row in rows:
        for issue in row.issues:
            assert gettext(issue.message) % issue.params


async def test_one_bad_row_blocks_the_whole_import(factory: SessionFactory, seed: Seed) -> None:
    rows = await reviewed(factory, seed, csv_bytes([*GOOD_LINES, "钱一,厨师,,,13800138009,,"]))
    async with transaction(factory) as db:
        with pytest.raises(ValidationFailed):
            await importing.import_experts(db, officer(seed), rows)
    assert await expert_count(factory, seed.station_id) == 0


async def test_a_clean_import_creates_all_and_audits_once(
    factory: SessionFactory, seed: Seed
) -> None:
    rows = await reviewed(factory, seed, csv_bytes(GOOD_LINES))
    async with transaction(factory) as db:
        assert await importing.import_experts(db, officer(seed), rows) == 3
    assert await expert_count(factory, seed.station_id) == 3
    async with transaction(factory) as db:
        actions = list(await db.exec(select(AuditEvent.action, AuditEvent.detail)))
    assert actions == [("expert.import", '{"count": 3}')]


# --- file-level refusals -------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"   \r\n\r\n", codecs.BOM_UTF8, codecs.BOM_UTF8 + b"\r\n,,,\r\n"],
    ids=["nothing", "blank lines", "bom only", "empty cells"],
)
def test_empty_files_are_refused(data: bytes) -> None:
    with pytest.raises(FileRefused) as caught:
        importing.parse_csv(data)
    assert caught.value.message == "The file is empty."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("姓名,类别,单位\n李明,律师,某所\n", "The file lacks these columns: %(columns)s."),
        ("李明,律师,13800138001\n", "The first row must name the columns"),
        (
            "姓名,类别,电话,姓名\n李明,律师,13800138001,李明\n",
            "The column “%(column)s” appears twice.",
        ),
        ("姓名,类别,电话\n", "The file has a header row but no experts under it."),
    ],
    ids=["missing phone column", "no header", "twice", "header only"],
)
def test_header_problems_are_refused(text: str, message: str) -> None:
    with pytest.raises(FileRefused) as caught:
        importing.parse_csv(text.encode())
    assert caught.value.message.startswith(message)
    if "lacks" in message:
        assert caught.value.params == {"columns": "电话"}


def test_more_than_the_row_limit_is_refused() -> None:
    lines = [f"专家{i},律师,,,1380000{i:04d},," for i in range(importing.MAX_ROWS + 1)]
    with pytest.raises(FileRefused) as caught:
        importing.parse_csv(csv_bytes(lines))
    assert caught.value.params == {"max": importing.MAX_ROWS}
    assert len(importing.parse_csv(csv_bytes(lines[:-1]))) == importing.MAX_ROWS


def test_a_csv_with_a_nul_byte_is_refused() -> None:
    with pytest.raises(FileRefused):
        importing.parse_csv(("姓名,类别,电话\n李\x00明,律师,13800138001\n").encode())


def test_old_xls_is_refused_with_advice() -> None:
    with pytest.raises(FileRefused) as caught:
        importing.parse_upload("pool.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    assert ".xlsx" in caught.value.message


# --- XLSX ----------------------------------------------------------------------------


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return bytes(buffer.getvalue())


async def test_good_xlsx(factory: SessionFactory, seed: Seed) -> None:
    data = xlsx_bytes(
        [
            ["序号", "姓名", "类别", "电话", "擅长领域", "服务警务室"],
            [1, "李明", "公益律师", 13800138001, "劳资纠纷/合同", "新村社区警务室"],
            [None, None, None, None, None, None],
            [2, "张芳", "人民调解员", "13800138002", "其他", None],
        ]
    )
    rows = importing.parse_upload("专家.xlsx", data)
    assert [r.line for r in rows] == [2, 4]
    async with transaction(factory) as db:
        checked = await importing.review(db, seed.station_id, rows)
    assert all(r.ok for r in checked)
    first = checked[0].expert
    assert first is not None
    assert first.phone == "13800138001" and first.kind == ExpertKind.LAWYER
    assert first.specialties == [Category.LABOUR, Category.CONTRACT]
    assert first.office_ids == [seed.office_b]


@pytest.mark.parametrize(
    "data",
    [b"PK\x03\x04 this is no zip", b"not a spreadsheet at all"],
    ids=["broken zip", "text named xlsx"],
)
def test_corrupted_xlsx_is_refused(data: bytes) -> None:
    with pytest.raises(FileRefused) as caught:
        importing.parse_upload("pool.xlsx", data)
    assert "Excel" in caught.value.message


def test_truncated_xlsx_is_refused() -> None:
    data = xlsx_bytes([["姓名", "类别", "电话"], ["李明", "律师", "13800138001"]])
    with pytest.raises(FileRefused):
        importing.parse_upload("pool.xlsx", data[: len(data) // 2])


# --- labels and the catalogue --------------------------------------------------------


def test_specialty_names_match_the_chinese_catalogue() -> None:
    activate(Catalogues(), "zh")
    for category, label in CATEGORY_LABELS.items():
        assert exporting.SPECIALTY_ZH[category] == gettext(label)
    activate(Catalogues(), "en")


def test_short_and_long_specialty_names() -> None:
    found, unknown = importing.parse_specialties(
        "邻里纠纷 家庭纠纷,劳资纠纷，合同纠纷;财物损毁；租赁纠纷/债务纠纷、"
        "交通事故 轻微伤害 其他 炒股"
    )
    assert found == list(Category)
    assert unknown == ["炒股"]


def test_export_kind_names_read_back() -> None:
    for kind, name in exporting.KIND_ZH.items():
        assert parse_kind(name) == kind


# --- round trip ----------------------------------------------------------------------


async def make_pool(factory: SessionFactory, seed: Seed) -> None:
    actor = officer(seed)
    inputs = [
        ExpertInput(
            name="李明",
            kind=ExpertKind.LAWYER,
            organisation="明理律师事务所",
            phone="13800138001",
            specialties=[Category.NEIGHBOUR, Category.TENANCY],
            office_ids=[seed.office_a, seed.office_b],
            notes='=HYPERLINK("http://x") 周末可约',
        ),
        ExpertInput(
            name="张芳",
            kind=ExpertKind.LEGAL_POLICE,
            phone="+8613800138002",
            specialties=list(Category),
        ),
        ExpertInput(
            name="王建国",
            kind=ExpertKind.RETIRED_CADRE,
            phone="02088886666",
            active=False,
            notes="- 行动不便\n只能视频",
        ),
    ]
    async with transaction(factory) as db:
        for data in inputs:
            await service.create_expert(db, actor, data)


async def pool_of(factory: SessionFactory, actor: Actor) -> list[tuple[Any, ...]]:
    async with transaction(factory) as db:
        views = await service.list_experts(db, actor)
        names = {
            o.id: o.name
            for o in await db.exec(
                select(BeatOffice).where(BeatOffice.station_id == actor.station_id)
            )
        }
    return sorted(
        (
            v.expert.name,
            v.expert.kind,
            v.expert.organisation,
            v.expert.phone,
            v.expert.active,
            v.expert.notes,
            tuple(sorted(v.specialties)),
            tuple(sorted(names[o] for o in v.office_ids)),
        )
        for v in views
    )


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_export_then_import_into_an_empty_station_reproduces_the_pool(
    factory: SessionFactory, seed: Seed, fmt: str
) -> None:
    await make_pool(factory, seed)
    source = officer(seed)
    async with transaction(factory) as db:
        views = await service.list_experts(db, source)
        offices = await db.exec(select(BeatOffice).where(BeatOffice.station_id == seed.station_id))
        table = exporting.table(views, {o.id: o.name for o in offices if o.id is not None})
    data = exporting.to_csv(table) if fmt == "csv" else exporting.to_xlsx(table)
    assert data.startswith(codecs.BOM_UTF8 if fmt == "csv" else importing.XLSX_MAGIC)

    async with transaction(factory) as db:
        station = Station(name="新建派出所", short_name="新建")
        db.add(station)
        await db.flush()
        assert station.id is not None
        for name in ("滨河社区警务室", "新村社区警务室"):
            db.add(BeatOffice(station_id=station.id, name=name))
        target = Actor(
            user_id=source.user_id,
            station_id=station.id,
            office_id=None,
            role=source.role,
            label="t",
        )

    rows = importing.parse_upload(f"experts.{fmt}", data)
    async with transaction(factory) as db:
        checked = await importing.review(db, target.station_id, rows)
        assert all(r.ok for r in checked), [messages(r) for r in checked]
        assert await importing.import_experts(db, target, checked) == 3
    assert await pool_of(factory, target) == await pool_of(factory, source)
    async with transaction(factory) as db:
        inactive = await db.exec(
            select(Expert.name).where(
                Expert.station_id == target.station_id, col(Expert.active).is_(False)
            )
        )
        assert list(inactive) == ["王建国"]


def test_excel_unicode_text_is_read() -> None:
    text = "姓名\t类别\t电话\r\n李明\t律师\t13800138001\r\n"
    rows = importing.parse_csv(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    assert rows == [
        SourceRow(line=2, cells={"name": "李明", "kind": "律师", "phone": "13800138001"})
    ]
