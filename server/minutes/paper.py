"""The 调解笔录 PDF: WeasyPrint like the agreement, sealed by the station like the agreement.

Made once, at the presiding officer's sign-off, and kept. Rendering and
sealing run in the agreement worker (``AgreementWorks.produce_minutes``), as
the agreement does: WeasyPrint holds the GIL for a few hundred milliseconds
that the rooms' media on the server's process would feel. WeasyPrint is
imported inside the functions that render, so the server process never loads it.

The paper lists the session's people with their roles and names in full
(this is the record), never an ID number, then every entry as a row (time |
speaker | text), then the sign-off line. The entries' SHA-256 (over the
canonical text, ``record.canonical_text``) is printed under it, so the paper
names exactly what was confirmed. The station's PAdES signature covers the
whole file, so ``pdfsig`` or any reader shows a later change.

As for the agreements, the fetcher serves nothing (the template uses no
images), so a template can never read a file or reach the network.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import jinja2

from server.agreements.assets import ROOT, TEMPLATE_DIR
from server.agreements.rules import zh_datetime
from server.minutes.record import TITLE, entry_text, first_day, stamp
from server.minutes.sitting import Sitting

if TYPE_CHECKING:
    from server.agreements.seal import Sealer

TEMPLATE = "minutes.html"
STYLESHEET = ROOT / "agreements" / "static" / "minutes.css"


@dataclass(frozen=True)
class Row:
    time: str
    speaker: str
    text: str


@dataclass(frozen=True)
class MinutesPaper:
    """Everything the 笔录 prints, already in print form."""

    case_reference: str
    dispute_title: str
    station_name: str
    office_name: str
    session_time: str
    place: str
    presiding_label: str
    presiding_name: str
    clerks: tuple[str, ...]
    participants: tuple[str, ...]
    rows: tuple[Row, ...]
    signed_off_line: str  # 主持人李警官于2026年12月7日 11:02确认
    entries_sha256: str
    made_at_iso: str
    title: str = TITLE

    @property
    def pdf_title(self) -> str:
        return f"{self.title} {self.case_reference}"


def paper_for(sitting: Sitting, *, signed_off_by: str, signed_off_at: datetime) -> MinutesPaper:
    """The paper of ``sitting`` as signed off by ``signed_off_by`` at ``signed_off_at``."""
    tz = sitting.tz
    lines = sitting.lines
    day = first_day(lines, tz)
    header = sitting.header
    local = signed_off_at.astimezone(tz)
    return MinutesPaper(
        case_reference=header.case_reference,
        dispute_title=header.dispute_title,
        station_name=sitting.station.name,
        office_name=sitting.office.name,
        session_time=header.session_time,
        place=header.place,
        presiding_label=header.presiding_label,
        presiding_name=header.presiding_name,
        clerks=header.clerks,
        participants=header.participants,
        rows=tuple(
            Row(stamp(line.at, tz, day), line.speaker, entry_text(line.text)) for line in lines
        ),
        signed_off_line=(
            f"{header.presiding_label}{signed_off_by}于{zh_datetime(local)}确认以上笔录无误。"
        ),
        entries_sha256=sitting.sha256,
        made_at_iso=local.isoformat(timespec="seconds"),
    )


def render_html(paper: MinutesPaper) -> str:
    return _environment().get_template(TEMPLATE).render(paper=paper)


def render_pdf(paper: MinutesPaper) -> bytes:
    """The 笔录 as an A4 PDF, fonts embedded, metadata final (the seal comes after)."""
    from weasyprint import HTML  # type: ignore[import-untyped]

    html = HTML(string=render_html(paper), url_fetcher=_fetcher())
    return bytes(html.write_pdf(stylesheets=[_stylesheet()], font_config=_font_config()))


def make_pdf(paper: MinutesPaper, sealer: Sealer) -> bytes:
    """Render and seal; blocking and CPU-bound: the agreement worker runs it."""
    sealed = sealer.seal(render_pdf(paper), reason=paper.pdf_title, location=paper.station_name)
    return bytes(sealed)


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@functools.cache
def _font_config() -> Any:
    from weasyprint.text.fonts import FontConfiguration  # type: ignore[import-untyped]

    return FontConfiguration()


@functools.cache
def _fetcher() -> Any:
    from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]

    return URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)


@functools.cache
def _stylesheet() -> Any:
    from weasyprint import CSS

    return CSS(string=STYLESHEET.read_text(encoding="utf-8"), font_config=_font_config())
