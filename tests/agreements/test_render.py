"""The printed agreement: every element the law asks for is on the paper.

Each track is rendered once (``pdf_support.rendered``) and read back with
poppler's ``pdftotext``, so the assertions are about what a reader of the
PDF sees, not about the HTML that produced it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re

import pytest

from server.agreements.document import (
    PEOPLE,
    POLICE,
    AgreementDocument,
    LineKind,
    Part,
    SignedLine,
    SignedText,
)
from server.agreements.render import IncompleteAgreement, missing_elements, render_html
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
    """What both tracks print: heading, the signed text, signatures, seal, footer."""
    for value in (
        doc.title,
        doc.case_number,
        "样章，仅供演示，不具法律效力",
        f"{doc.mediating_body}（盖章）",
        doc.sealed_on,
    ):
        assert squeeze(value) in text, value
    # Every line of the signed text, in order (a page break may fall inside a
    # long line, so each is looked for after the previous one, a few
    # characters at a time).
    at = 0
    for line in doc.canonical_text.splitlines():
        head = squeeze(line)[:12]
        if head:
            at = text.index(head, at)
    for mark in doc.signatures:
        assert f"{mark.role_label}签名：{mark.name}{squeeze(mark.signed_at)}" in text
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
    for heading in ("当事人：", "一、纠纷的主要事实", "二、争议事项", "三、各方责任"):
        assert heading in people_text
    assert "四、经调解，各方自愿达成如下协议" in people_text
    assert "调解员签名：" in people_text
    assert "30日内" in people_text and "司法确认" in people_text
    assert "更正版" not in people_text
    assert_evidence_page(doc, people_text)


def test_police_track_prints_every_required_element(police_text: str) -> None:
    doc = document(POLICE, 2)
    assert_common_elements(doc, police_text, rendered(POLICE, 2))
    assert f"调解机关：{doc.mediating_body}" in police_text
    assert f"主持人：{doc.presiding_name}" in police_text
    assert "主持人签名：" in police_text
    assert "其他在场人员：陈敏（人民调解员助理）、刘洋（社区网格员，观察员）" in police_text
    assert "一、事件发生的时间、地点、起因、经过和结果" in police_text
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


def with_facts(doc: AgreementDocument, facts: str) -> AgreementDocument:
    """``doc`` with its facts paragraph replaced, text and hash kept consistent."""
    lines = tuple(
        dataclasses.replace(line, text=facts) if line.part == Part.FACTS else line
        for line in doc.body.lines
    )
    body = SignedText(lines)
    digest = hashlib.sha256(body.plain.encode()).hexdigest()
    return dataclasses.replace(doc, body=body, canonical_text=body.plain, text_sha256=digest)


def test_text_is_escaped() -> None:
    doc = with_facts(document(PEOPLE), '<img src="file:///etc/passwd"> & <b>粗体</b>')
    html = render_html(doc)
    assert "&lt;img src=&#34;file:///etc/passwd&#34;&gt; &amp; &lt;b&gt;粗体&lt;/b&gt;" in html
    assert "<b>" not in html


def test_incomplete_agreements_are_refused() -> None:
    police = document(POLICE)
    lines = tuple(x for x in police.body.lines if x.part != Part.PERFORMANCE_DEADLINE)
    body = SignedText(lines)
    doc = dataclasses.replace(
        police,
        body=body,
        canonical_text=body.plain,
        text_sha256=hashlib.sha256(body.plain.encode()).hexdigest(),
        seal_image_png=None,
        signatures=tuple(m for m in police.signatures if m.role_label != "主持人"),
    )
    assert missing_elements(doc) == ("performance_deadline", "presiding_signature", "seal_image")
    with pytest.raises(IncompleteAgreement) as caught:
        render_html(doc)
    assert caught.value.missing == ("performance_deadline", "presiding_signature", "seal_image")
    assert missing_elements(document(PEOPLE)) == ()
    assert missing_elements(document(POLICE)) == ()


def test_people_track_needs_disputed_matters_and_responsibility() -> None:
    def without(doc: AgreementDocument, *parts: Part) -> AgreementDocument:
        body = SignedText(tuple(x for x in doc.body.lines if x.part not in parts))
        digest = hashlib.sha256(body.plain.encode()).hexdigest()
        return dataclasses.replace(doc, body=body, canonical_text=body.plain, text_sha256=digest)

    gone = (Part.DISPUTED_MATTERS, Part.RESPONSIBILITY)
    assert missing_elements(without(document(PEOPLE), *gone)) == (
        "disputed_matters",
        "responsibility",
    )
    assert missing_elements(without(document(POLICE), *gone)) == ()


def test_a_body_that_is_not_the_signed_text_is_refused() -> None:
    """The template prints only the body; the body must be the very text signed."""
    doc = document(PEOPLE)
    extra = SignedLine(LineKind.PARAGRAPH, "另：被申请人放弃一切权利。", part=Part.FACTS)
    padded = dataclasses.replace(doc, body=SignedText((*doc.body.lines, extra)))
    assert missing_elements(padded) == ("body",)
    with pytest.raises(IncompleteAgreement):
        render_html(padded)
    rehashed = dataclasses.replace(doc, text_sha256="0" * 64)
    assert missing_elements(rehashed) == ("body",)


def test_the_body_prints_only_the_lines_of_the_signed_text() -> None:
    """No wording of the template's own between the title and the signatures."""
    html = render_html(document(PEOPLE))
    body = html[html.index('<div class="signed-text">') : html.index('<section class="signing">')]
    visible = squeeze(re.sub(r"<[^>]+>", "", body))
    _title, _, rest = document(PEOPLE).canonical_text.partition("\n")
    assert visible == squeeze(rest)
