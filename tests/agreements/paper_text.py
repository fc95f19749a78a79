"""Reading a sealed agreement back: the text of its agreement pages, and what it must equal.

The agreement pages (every page before the evidence page) hold, in order:
the title, the correction badge (a correction only), the case number, the
correction note (a correction only), the rest of the signed text, then the
signature block (one line per signer: role, name, date) and the seal block;
each page ends with its page number and every page after the first starts
with the case number. ``agreement_pages_text`` takes the page numbers and
running case numbers off, each where it must be, and ``expected_pages_text``
builds the rest from the signed text and the signing marks. Comparing the two
(whitespace removed: pdftotext breaks lines where the paper wraps them) says
that the body is the signed text, in order, and nothing else.
"""

from __future__ import annotations

from server.agreements.document import AgreementDocument
from tests.agreements.pdf_support import poppler, squeeze

EVIDENCE_TITLE = "签署证据与核验信息"


def agreement_pages_text(pdf: bytes, doc: AgreementDocument) -> str:
    """The agreement pages' text without whitespace, running header and footer removed."""
    # -layout: the default mode joins a word hyphenated at a line end, dropping
    # a "-" the text has wherever the paper happens to wrap after one.
    pages = poppler("pdftotext", pdf, "-layout").split("\f")
    if pages and not pages[-1].strip():
        pages.pop()
    total = len(pages)
    body: list[str] = []
    for number, page in enumerate(pages, start=1):
        lines = [squeeze(line) for line in page.splitlines() if line.strip()]
        if number > 1 and EVIDENCE_TITLE in lines[:2]:
            break  # the evidence page: its own layout, read by test_render
        footer = lines.pop() if lines else ""
        assert footer == f"第{number}页共{total}页", (number, footer)
        if number > 1:
            header = lines.pop(0) if lines else ""
            assert header == squeeze(doc.case_number), (number, header)
        body.extend(lines)
    else:
        raise AssertionError("no evidence page")
    return "".join(body)


def expected_pages_text(doc: AgreementDocument) -> str:
    """What the agreement pages must say: the signed text, framed by the signing marks."""
    title, _, rest = doc.canonical_text.partition("\n")
    parts = [title]
    if doc.version > 1:
        parts.append(f"更正版（第{doc.version}版）")
    parts.append(doc.case_number)
    if doc.version > 1:
        parts.append(
            f"更正说明：本协议书为第{doc.version}版，取代此前各版本。"
            f"更正原因：{doc.correction_reason}"
        )
    parts.append(rest)
    for mark in doc.signatures:
        parts.append(f"{mark.role_label}签名：{mark.name}{mark.signed_at}")
    parts.append(f"{doc.mediating_body}（盖章）{doc.sealed_on}")
    if doc.seal_is_sample:
        parts.append("样章，仅供演示，不具法律效力")
    return squeeze("".join(parts))


def first_difference(actual: str, expected: str) -> str:
    """Where two squeezed texts part, for a readable failure."""
    at = next(
        (i for i, (a, b) in enumerate(zip(actual, expected, strict=False)) if a != b),
        min(len(actual), len(expected)),
    )
    return (
        f"differ at {at}: paper …{actual[max(0, at - 30) : at + 30]!r}… "
        f"signed …{expected[max(0, at - 30) : at + 30]!r}…"
    )
