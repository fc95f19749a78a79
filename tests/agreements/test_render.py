"""The printed agreement: every element the law asks for is on the paper.

Each track is rendered once (``pdf_support.rendered``) and read back with
poppler's ``pdftotext``, so the assertions are about what a reader of the
PDF sees, not about the HTML that produced it.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from server.agreements.document import PEOPLE, POLICE, AgreementDocument
from server.agreements.render import (
    IncompleteAgreement,
    cn_numeral,
    missing_elements,
    render_html,
)
from tests.agreements.pdf_support import document, poppler, rendered, squeeze


@pytest.fixture(scope="module")
def people_text() -> str:
    return squeeze(poppler("pdftotext", rendered(PEOPLE), "-layout"))


@pytest.fixture(scope="module")
def police_text() -> str:
    return squeeze(poppler("pdftotext", rendered(POLICE, 2), "-layout"))


def page_count(pdf: bytes) -> int:
    match = re.search(r"^Pages:\s+(\d+)$", poppler("pdfinfo", pdf), re.MULTILINE)
    assert match is not None
    return int(match.group(1))


def assert_common_elements(doc: AgreementDocument, text: str, pdf: bytes) -> None:
    """What both tracks print: heading, parties, terms, performance, signatures, footer."""
    for value in (
        doc.title,
        doc.case_number,
        doc.mediating_body,
        f"{doc.presiding_label}：{doc.presiding_name}",
        doc.session_time,
        doc.session_place,
        doc.performance_deadline,
        doc.performance_manner,
        doc.copies_note,
        doc.effect_note,
        "样章，仅供演示，不具法律效力",
        f"{doc.mediating_body}（盖章）",
        doc.sealed_on,
    ):
        assert squeeze(value) in text, value
    for party in doc.parties:
        assert f"{party.role_label}：{party.name}" in text
        assert party.id_number in text
        assert squeeze(party.address) in text
    for number, term in enumerate(doc.terms, start=1):
        # Numbered in Chinese; the start of each term is enough to find it
        # (a long term may be split by a page break further on).
        assert f"{cn_numeral(number)}、{squeeze(term)[:12]}" in text, term
    for mark in doc.signatures:
        assert f"{mark.role_label}签名：" in text
        assert mark.name in text and squeeze(mark.signed_at) in text
    assert f"{doc.presiding_label}签名：" in text
    pages = page_count(pdf)
    for page in range(1, pages + 1):
        assert f"第{page}页共{pages}页" in text
    assert text.count(doc.case_number) >= pages  # under the title, then at the top of each page


def assert_evidence_page(doc: AgreementDocument, text: str) -> None:
    assert "签署证据与核验信息" in text
    assert f"协议文本SHA-256：{doc.text_sha256}" in text
    for row in doc.evidence:
        assert f"{row.name}{squeeze(row.role_label)}{row.outcome}" in text
        assert row.ip in text
        assert row.via in text
        assert row.audit_ref in text
        assert row.image_sha256 in text
        assert text.count(row.text_sha256) >= len(doc.evidence) + 1
    assert "PAdES" in text
    assert doc.verify_url in text


def test_people_track_prints_every_required_element(people_text: str) -> None:
    doc = document(PEOPLE)
    assert_common_elements(doc, people_text, rendered(PEOPLE))
    for heading in ("当事人基本情况", "纠纷主要事实", "争议事项", "各方责任", "协议内容"):
        assert heading in people_text
    for value in (doc.facts.splitlines()[0], doc.disputed_matters, doc.responsibility):
        assert squeeze(value) in people_text
    assert "调解员签名：" in people_text
    assert "三十日内" in people_text and "司法确认" in people_text
    assert "更正版" not in people_text
    assert_evidence_page(doc, people_text)


def test_police_track_prints_every_required_element(police_text: str) -> None:
    doc = document(POLICE, 2)
    assert_common_elements(doc, police_text, rendered(POLICE, 2))
    assert f"调解机关：{doc.mediating_body}" in police_text
    assert f"主持人：{doc.presiding_name}" in police_text
    assert "主持人签名：" in police_text
    assert "其他在场人员：" + squeeze("；".join(doc.others_present)) in police_text
    assert "案件事实（时间、地点、起因、经过、结果）" in police_text
    assert "一式三份" in police_text
    assert_evidence_page(doc, police_text)


def test_a_correction_says_so_and_why(police_text: str) -> None:
    doc = document(POLICE, 2)
    assert "更正版（第2版）" in police_text
    assert squeeze(doc.correction_reason) in police_text


@pytest.mark.parametrize(("track", "version"), [(PEOPLE, 1), (POLICE, 2)])
def test_fonts_are_embedded_subsets(track: str, version: int) -> None:
    lines = poppler("pdffonts", rendered(track, version)).splitlines()[2:]
    assert lines, "no fonts in the PDF"
    assert any("Noto-Serif-CJK-SC" in line for line in lines)
    for line in lines:
        columns = line.split()
        # name, type..., encoding, emb, sub, uni, object, generation
        assert columns[-5:-2] == ["yes", "yes", "yes"], line


def test_metadata_is_set_before_sealing() -> None:
    doc = document(PEOPLE)
    info = poppler("pdfinfo", rendered(PEOPLE), "-isodates")
    assert re.search(rf"^Title:\s+{re.escape(doc.pdf_title)}$", info, re.MULTILINE)
    assert re.search(rf"^Author:\s+{doc.station_name}$", info, re.MULTILINE)
    assert re.search(r"^Creator:\s+Concord$", info, re.MULTILINE)
    assert re.search(r"^Subject:\s+.*" + re.escape(doc.case_number), info, re.MULTILINE)
    assert re.search(r"^Keywords:\s+.*人民调解", info, re.MULTILINE)
    # sealed_at_iso is 2026-11-25T10:47:03+08:00; the zone is kept.
    assert re.search(r"^CreationDate:\s+2026-11-25T10:47:03\+08", info, re.MULTILINE)
    assert re.search(r"^ModDate:\s+2026-11-25T10:47:03\+08", info, re.MULTILINE)
    assert re.search(r"^Page size:.*\(A4\)", info, re.MULTILINE)


def test_the_qr_code_is_inline_svg_of_the_verify_url() -> None:
    html = render_html(document(PEOPLE))
    assert re.search(r'<svg[^>]*class="qr-code"', html)
    assert "<path" in html


def test_text_is_escaped() -> None:
    doc = dataclasses.replace(
        document(PEOPLE), facts='<img src="file:///etc/passwd"> & <b>粗体</b>'
    )
    html = render_html(doc)
    assert "&lt;img src=&#34;file:///etc/passwd&#34;&gt; &amp; &lt;b&gt;粗体&lt;/b&gt;" in html
    assert "<b>" not in html


def test_incomplete_agreements_are_refused() -> None:
    doc = dataclasses.replace(
        document(POLICE),
        performance_deadline="",
        seal_image_png=None,
        signatures=tuple(m for m in document(POLICE).signatures if m.role_label != "主持人"),
    )
    assert missing_elements(doc) == ("performance_deadline", "presiding_signature", "seal_image")
    with pytest.raises(IncompleteAgreement) as caught:
        render_html(doc)
    assert caught.value.missing == ("performance_deadline", "presiding_signature", "seal_image")
    assert missing_elements(document(PEOPLE)) == ()
    assert missing_elements(document(POLICE)) == ()


def test_people_track_needs_disputed_matters_and_responsibility() -> None:
    doc = dataclasses.replace(document(PEOPLE), disputed_matters=" ", responsibility="")
    assert missing_elements(doc) == ("disputed_matters", "responsibility")
    police = dataclasses.replace(document(POLICE), disputed_matters="", responsibility="")
    assert missing_elements(police) == ()


@pytest.mark.parametrize(
    ("number", "numeral"),
    [(1, "一"), (9, "九"), (10, "十"), (11, "十一"), (20, "二十"), (21, "二十一"), (99, "九十九")],
)
def test_terms_are_numbered_in_chinese(number: int, numeral: str) -> None:
    assert cn_numeral(number) == numeral
