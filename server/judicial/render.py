"""ApplicationDocument → PDF, with WeasyPrint, like the agreements (``server.agreements.render``).

The application is not sealed or signed by the system: the parties sign it
at the court. It is rendered in a thread (``asyncio.to_thread`` at the call),
not in the agreement worker: it is made on request, rarely, and a few hundred
milliseconds there do not hold up signing. As for the agreements, the fetcher
serves nothing (the template uses no images), so a template can never read a
file or reach the network.
"""

from __future__ import annotations

import functools
from typing import Any

import jinja2
from weasyprint import CSS, HTML  # type: ignore[import-untyped]
from weasyprint.text.fonts import FontConfiguration  # type: ignore[import-untyped]
from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]

from server.agreements.render import ROOT, TEMPLATE_DIR
from server.judicial.application import ApplicationDocument

TEMPLATE = "judicial_application.html"
STYLESHEET = ROOT / "agreements" / "static" / "judicial.css"


def render_html(doc: ApplicationDocument) -> str:
    return _environment().get_template(TEMPLATE).render(doc=doc)


def render_pdf(doc: ApplicationDocument) -> bytes:
    """The application and the list of materials, A4, fonts embedded."""
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
    return FontConfiguration()


@functools.cache
def _fetcher() -> Any:
    return URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)


@functools.cache
def _stylesheet() -> Any:
    return CSS(string=STYLESHEET.read_text(encoding="utf-8"), font_config=_font_config())
