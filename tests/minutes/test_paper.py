"""The 调解笔录 PDF: WeasyPrint's real output, read back by poppler, sealed for pdfsig."""

from __future__ import annotations

import functools

import pytest

from server.agreements.pki import StationPki
from server.agreements.seal import Sealer
from server.agreements.settings import SealerSettings, SealingNotConfigured
from server.agreements.works import AgreementWorks
from server.minutes.paper import MinutesPaper, Row, make_pdf, render_html, render_pdf
from tests.agreements.pdf_support import flip_in_first_stream, poppler, squeeze

SHA = "ab" * 32


def paper(rows: int = 3) -> MinutesPaper:
    said = [
        Row("10:01:05", "王丽华（申请人）", "张国强家的狗每天夜里叫。\n    还咬伤了我的腿。"),
        Row("10:02:00", "张国强（被申请人）", "狗平时拴着，那天是绳子断了。"),
        Row("10:03:30", "陈律师（律师）", "饲养人应当承担侵权责任。"),
    ]
    many = said + [
        Row(f"10:{10 + i:02d}:00", "王丽华（申请人）", f"第{i}条陈述。") for i in range(rows)
    ]
    return MinutesPaper(
        case_reference="W-2026-0042",
        dispute_title="养犬扰邻",
        station_name="白石派出所",
        office_name="滨河社区警务室",
        session_time="2026年12月7日 10:00—11:00",
        place="线上视频调解（白石派出所滨河社区警务室）",
        presiding_label="主持人",
        presiding_name="李警官",
        clerks=("周内勤",),
        participants=("王丽华（申请人）", "张国强（被申请人）", "陈律师（律师）"),
        rows=tuple(many),
        signed_off_line="主持人李警官于2026年12月7日 11:02确认以上笔录无误。",
        entries_sha256=SHA,
        made_at_iso="2026-12-07T11:02:00+08:00",
    )


@functools.cache
def sealed_pdf(pki: StationPki) -> bytes:
    settings = SealerSettings(pki.key_path, pki.cert_path, (pki.ca_cert_path,))
    return make_pdf(paper(), Sealer.from_settings(settings))


def test_the_paper_shows_who_when_where_every_entry_and_the_signoff() -> None:
    text = squeeze(poppler("pdftotext", render_pdf(paper())))
    for expected in (
        "调解笔录",
        "W-2026-0042",
        "调解时间：2026年12月7日10:00—11:00",
        "线上视频调解（白石派出所滨河社区警务室）",
        "主持人：李警官",
        "记录人：周内勤",
        "王丽华（申请人）、张国强（被申请人）、陈律师（律师）",
        "10:01:05",
        "张国强家的狗每天夜里叫。",
        "还咬伤了我的腿。",
        "狗平时拴着，那天是绳子断了。",
        "饲养人应当承担侵权责任。",
        "第2条陈述。",
        "主持人李警官于2026年12月7日11:02确认以上笔录无误。",
        SHA,
    ):
        assert squeeze(expected) in text, expected


def test_a_long_record_runs_onto_more_pages_with_the_table_head_repeated() -> None:
    pdf = render_pdf(paper(rows=80))
    pages = int(
        next(
            line for line in poppler("pdfinfo", pdf).splitlines() if line.startswith("Pages:")
        ).split()[1]
    )
    assert pages >= 2
    text = poppler("pdftotext", pdf)
    assert text.count("发言人") == pages
    assert "第79条陈述。" in text


def test_metadata_names_the_record() -> None:
    info = poppler("pdfinfo", render_pdf(paper()))
    assert "调解笔录 W-2026-0042" in info
    assert "白石派出所" in info


def test_text_is_escaped_not_markup() -> None:
    hostile = paper()
    hostile = MinutesPaper(
        **{**hostile.__dict__, "rows": (Row("10:00:00", "<b>甲</b>", "<script>x</script>"),)}
    )
    html = render_html(hostile)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_the_station_seal_verifies_with_pdfsig(pki: StationPki) -> None:
    report = poppler("pdfsig", sealed_pdf(pki))
    assert "Signature Field Name: StationSeal" in report
    assert "Signature Validation: Signature is Valid." in report
    assert "Total document signed" in report


def test_pdfsig_sees_a_changed_byte(pki: StationPki) -> None:
    assert "Digest Mismatch" in poppler("pdfsig", flip_in_first_stream(sealed_pdf(pki)))


async def test_no_key_no_paper() -> None:
    with pytest.raises(SealingNotConfigured):
        await AgreementWorks(None).produce_minutes(paper())


async def test_the_agreement_worker_makes_the_same_sealed_paper(works: AgreementWorks) -> None:
    """Sign-off renders and seals in the worker process: a valid seal over the same text."""
    pdf = await works.produce_minutes(paper())
    assert "Signature is Valid" in poppler("pdfsig", pdf)
    assert squeeze(poppler("pdftotext", pdf)) == squeeze(poppler("pdftotext", render_pdf(paper())))
