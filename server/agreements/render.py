"""AgreementDocument → PDF bytes, with WeasyPrint and the templates in ``agreements/``.

Runs in the worker process (``works.py``): rendering takes a few hundred
milliseconds of pure CPU, far too long for the event loop. The expensive
objects (Jinja environment, the parsed stylesheet, WeasyPrint's font
configuration) are built once per process and reused, which is what makes
the second and later agreements fast.

The PDF's information dictionary (title, author, subject, keywords, dates,
creator) comes from ``<meta>`` tags in ``_base.html`` and is final when this
returns: the seal is applied afterwards and nothing may be changed after it.

Rendering refuses a document that lacks an element the law requires of the
paper (see ``missing_elements``): an agreement without a performance
deadline or without the presiding officer's signature is a common defect in
practice and must not come out of this system.
"""

from __future__ import annotations

import base64
import functools
from pathlib import Path
from typing import Any

import jinja2
import segno
from markupsafe import Markup
from weasyprint import CSS, HTML  # type: ignore[import-untyped]
from weasyprint.text.fonts import FontConfiguration  # type: ignore[import-untyped]
from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]

from server.agreements.document import PEOPLE, POLICE, AgreementDocument

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATE_DIR = ROOT / "agreements" / "templates"
STYLESHEET = ROOT / "agreements" / "static" / "agreement.css"

TEMPLATES = {PEOPLE: "people.html", POLICE: "police.html"}
TRACK_LABELS = {PEOPLE: "人民调解", POLICE: "治安调解"}

_DIGITS = "零一二三四五六七八九"


class IncompleteAgreement(ValueError):
    """The document lacks elements the law requires; ``missing`` names them."""

    def __init__(self, missing: tuple[str, ...]) -> None:
        # ``missing`` is the only argument so the exception pickles intact
        # out of the worker process (exceptions are rebuilt from ``args``).
        super().__init__(tuple(missing))
        self.missing = tuple(missing)

    def __str__(self) -> str:
        return "agreement is missing required elements: " + ", ".join(self.missing)


def cn_numeral(number: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 30 → 三十: how agreement terms are numbered."""
    if not 1 <= number <= 99:
        raise ValueError(f"term numbers run from 1 to 99, not {number}")
    tens, units = divmod(number, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _DIGITS[tens] + "十")
    return head + (_DIGITS[units] if units else "")


def missing_elements(doc: AgreementDocument) -> tuple[str, ...]:
    """Names of the legally required elements that ``doc`` lacks (empty: complete).

    Both tracks need parties, facts, terms, the manner and the deadline of
    performance, the presiding officer's (or mediator's) signature and the
    seal. Whether every party has signed is the domain's call (a guardian or
    an agent may sign for a party), so it is not checked here.
    """
    missing: list[str] = []
    if doc.track not in TEMPLATES:
        missing.append("track")
    for name in ("title", "case_number", "mediating_body", "presiding_name", "facts"):
        if not str(getattr(doc, name)).strip():
            missing.append(name)
    if not doc.parties:
        missing.append("parties")
    if not any(term.strip() for term in doc.terms):
        missing.append("terms")
    if not doc.performance_manner.strip():
        missing.append("performance_manner")
    if not doc.performance_deadline.strip():
        missing.append("performance_deadline")
    if doc.copies < 1:
        missing.append("copies")
    if not any(_is_presiding(doc, mark.role_label) for mark in doc.signatures):
        missing.append("presiding_signature")
    if not doc.seal_image_png:
        missing.append("seal_image")
    if doc.track == PEOPLE:
        for name in ("disputed_matters", "responsibility", "effect_note"):
            if not str(getattr(doc, name)).strip():
                missing.append(name)
    return tuple(missing)


def render_html(doc: AgreementDocument) -> str:
    """The HTML that ``render_pdf`` prints (useful to inspect a layout in a browser)."""
    missing = missing_elements(doc)
    if missing:
        raise IncompleteAgreement(missing)
    template = _environment().get_template(TEMPLATES[doc.track])
    return template.render(
        doc=doc,
        subject=_subject(doc),
        keywords=_keywords(doc),
        copies_note=doc.copies_note.strip() or f"本协议书一式{cn_numeral(doc.copies)}份。",
    )


def render_pdf(doc: AgreementDocument) -> bytes:
    """Print ``doc`` as an A4 PDF with embedded font subsets and final metadata."""
    html = HTML(string=render_html(doc), url_fetcher=_fetcher())
    pdf = html.write_pdf(stylesheets=[_stylesheet()], font_config=_font_config())
    return bytes(pdf)


def _is_presiding(doc: AgreementDocument, role_label: str) -> bool:
    label = doc.presiding_label.strip()
    return bool(label) and label in role_label


def _subject(doc: AgreementDocument) -> str:
    subject = f"{doc.mediating_body}{doc.title}，案号{doc.case_number}"
    if doc.version > 1:
        subject += f"，更正版（第{doc.version}版）"
    return subject


def _keywords(doc: AgreementDocument) -> list[str]:
    words = [doc.title, TRACK_LABELS.get(doc.track, ""), doc.case_number, doc.station_name]
    if doc.mediating_body != doc.station_name:
        words.append(doc.mediating_body)
    # Commas separate keywords in the <meta> tag; one inside a name would split it.
    return [w.replace(",", " ").strip() for w in words if w.strip()]


def _png_data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _qr_svg(url: str) -> Markup:
    """The verify URL as an inline SVG QR code (segno's SVG renders in WeasyPrint).

    ``omitsize`` leaves out width and height in favour of a viewBox so that
    the stylesheet decides the printed size; segno escapes the URL itself.
    """
    qr = segno.make(url, error="m", micro=False)
    return Markup(qr.svg_inline(scale=1, border=2, omitsize=True, svgclass="qr-code"))


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cn_numeral"] = cn_numeral
    env.filters["png_data_uri"] = _png_data_uri
    env.filters["qr_svg"] = _qr_svg
    return env


@functools.cache
def _font_config() -> Any:
    return FontConfiguration()


@functools.cache
def _fetcher() -> Any:
    """Only data: URIs (signatures, seal): a template can never make the worker
    read a local file or reach the network."""
    return URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)


@functools.cache
def _stylesheet() -> Any:
    return CSS(string=STYLESHEET.read_text(encoding="utf-8"), font_config=_font_config())
