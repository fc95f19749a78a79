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
practice and must not come out of this system. It also refuses a body that
is not, line for line, the text the signers signed (``body.plain`` must be
``canonical_text`` and hash to ``text_sha256``): the template prints only the
body's lines, so the paper then carries the signed text and nothing else.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import Any

import jinja2
import segno
from markupsafe import Markup
from weasyprint import CSS, HTML  # type: ignore[import-untyped]
from weasyprint.text.fonts import FontConfiguration  # type: ignore[import-untyped]
from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]

from server.agreements.assets import ROOT, TEMPLATE_DIR
from server.agreements.document import PEOPLE, POLICE, AgreementDocument, Part

STYLESHEET = ROOT / "agreements" / "static" / "agreement.css"

TEMPLATE = "agreement.html"
TRACKS = (PEOPLE, POLICE)
TRACK_LABELS = {PEOPLE: "人民调解", POLICE: "治安调解"}


class IncompleteAgreement(ValueError):
    """The document lacks elements the law requires; ``missing`` names them."""

    def __init__(self, missing: tuple[str, ...]) -> None:
        # ``missing`` is the only argument so the exception pickles intact
        # out of the worker process (exceptions are rebuilt from ``args``).
        super().__init__(tuple(missing))
        self.missing = tuple(missing)

    def __str__(self) -> str:
        return "agreement is missing required elements: " + ", ".join(self.missing)


def missing_elements(doc: AgreementDocument) -> tuple[str, ...]:
    """Names of the legally required elements that ``doc`` lacks (empty: complete).

    Both tracks need parties, facts, terms, the manner and the deadline of
    performance, the presiding officer's (or mediator's) signature and the
    seal; the people's track also the disputed matters, each party's
    responsibility and the clause on judicial confirmation. The elements of
    the text are looked for in the signed body itself, so what is checked is
    what is printed. Whether every party has signed is the domain's call (a
    guardian or an agent may sign for a party), so it is not checked here.
    ``body`` is listed when the body is not exactly the signed text.
    """
    missing: list[str] = []
    body = doc.body
    if doc.track not in TRACKS:
        missing.append("track")
    if body.plain != doc.canonical_text or _sha256(doc.canonical_text) != doc.text_sha256:
        missing.append("body")
    if not body.title.strip() or body.title != doc.title:
        missing.append("title")
    for name in ("case_number", "mediating_body", "presiding_name"):
        if not str(getattr(doc, name)).strip():
            missing.append(name)
    required = [
        ("parties", Part.PARTY),
        ("facts", Part.FACTS),
        ("terms", Part.TERM),
        ("performance_manner", Part.PERFORMANCE_MANNER),
        ("performance_deadline", Part.PERFORMANCE_DEADLINE),
        ("copies", Part.COPIES),
    ]
    if doc.track == PEOPLE:
        required += [
            ("disputed_matters", Part.DISPUTED_MATTERS),
            ("responsibility", Part.RESPONSIBILITY),
            ("effect_note", Part.EFFECT),
        ]
    missing.extend(name for name, part in required if not body.texts_of(part))
    if not any(_is_presiding(doc, mark.role_label) for mark in doc.signatures):
        missing.append("presiding_signature")
    if not doc.seal_image_png:
        missing.append("seal_image")
    return tuple(missing)


def render_html(doc: AgreementDocument) -> str:
    """The HTML that ``render_pdf`` prints (useful to inspect a layout in a browser)."""
    missing = missing_elements(doc)
    if missing:
        raise IncompleteAgreement(missing)
    template = _environment().get_template(TEMPLATE)
    return template.render(doc=doc, subject=_subject(doc), keywords=_keywords(doc))


def render_pdf(doc: AgreementDocument) -> bytes:
    """Print ``doc`` as an A4 PDF with embedded font subsets and final metadata."""
    html = HTML(string=render_html(doc), url_fetcher=_fetcher())
    pdf = html.write_pdf(stylesheets=[_stylesheet()], font_config=_font_config())
    return bytes(pdf)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
