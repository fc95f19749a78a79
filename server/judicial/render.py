"""ApplicationDocument → PDF, with WeasyPrint, like the agreements (``server.agreements.render``).

The application is not sealed or signed by the system: the parties sign it
at the court. It is rendered in the agreement worker (``AgreementWorks.
render_court_application``), not on the server's loop or in a thread: WeasyPrint
holds the GIL for a few hundred milliseconds, which the rooms' media on the same
process would feel, and importing it costs the server process some 45 MB. So
WeasyPrint is imported inside the functions that render, never at import. As
for the agreements, the fetcher serves nothing (the template uses no images),
so a template can never read a file or reach the network.
"""

from __future__ import annotations

import functools
from typing import Any

import jinja2

from server.agreements.assets import ROOT, TEMPLATE_DIR
from server.judicial.application import ApplicationDocument

TEMPLATE = "judicial_application.html"
STYLESHEET = ROOT / "agreements" / "static" / "judicial.css"


def render_html(doc: ApplicationDocument) -> str:
    return _environment().get_template(TEMPLATE).render(doc=doc)


def render_pdf(doc: ApplicationDocument) -> bytes:
    """The application and the list of materials, A4, fonts embedded."""
    from weasyprint import HTML  # type: ignore[import-untyped]

    html = HTML(string=render_html(doc), url_fetcher=_fetcher())
    return bytes(html.write_pdf(stylesheets=[_stylesheet()], font_config=_font_config()))


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
