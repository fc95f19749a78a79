"""QR codes for invitation links, as inline SVG (no image files, nothing external)."""

from __future__ import annotations

import segno
from markupsafe import Markup

#: About this many CSS pixels wide: scannable from a phone screen and on paper.
TARGET_PX = 160
#: The quiet zone the QR standard asks for, in modules.
BORDER = 4


def qr_svg(url: str, *, title: str = "QR code", target_px: int = TARGET_PX) -> Markup:
    """An ``<svg>`` element (no XML declaration) encoding ``url``, about ``target_px`` wide.

    Error correction M survives a little smudging on a printed sheet while
    keeping a 70-character link at version 5 or so. The white background is
    part of the symbol, so it scans on a dark screen too. segno escapes the
    title; the SVG carries no ``style`` attribute, so the CSP allows it.
    """
    code = segno.make(url, error="m", micro=False)
    width, _height = code.symbol_size(scale=1, border=BORDER)  # in modules
    scale = max(2, round(target_px / width))
    svg = code.svg_inline(
        scale=scale,
        border=BORDER,
        svgclass="qr",
        lineclass=None,
        title=title,
        light="#fff",
        dark="#000",
        omitsize=True,
    )
    # A viewBox (so print CSS can scale it to a size on paper) and a size of its own.
    size = width * scale
    assert svg.startswith("<svg ")
    svg = f'<svg width="{size}" height="{size}" ' + svg.removeprefix("<svg ")
    # segno writes the markup itself and escapes the title.
    return Markup(svg)
