"""The inline SVG QR codes of invitation links."""

from __future__ import annotations

import re

from markupsafe import Markup

from server.http.qr import qr_svg

LINK = "http://127.0.0.1:8080/j/" + "Ab3_-" * 9


def test_qr_is_inline_svg_of_about_160_px() -> None:
    svg = qr_svg(LINK)
    assert isinstance(svg, Markup)
    assert svg.startswith("<svg ") and svg.endswith("</svg>")
    assert "<?xml" not in svg and "style=" not in svg
    size = re.search(r'width="(\d+)" height="(\d+)"', svg)
    assert size is not None and size.group(1) == size.group(2)
    assert 140 <= int(size.group(1)) <= 200
    view = re.search(r'viewBox="0 0 (\d+) (\d+)"', svg)
    assert view is not None and view.group(1) == size.group(1)  # scales cleanly in print CSS
    assert 'class="qr"' in svg


def test_qr_title_is_escaped() -> None:
    svg = qr_svg(LINK, title='<b>"x"</b>')
    assert "<b>" not in svg
    assert "&lt;b&gt;" in svg


def test_longer_links_keep_the_size() -> None:
    short = re.search(r'width="(\d+)"', qr_svg("http://a/j/x"))
    long = re.search(r'width="(\d+)"', qr_svg(LINK + "x" * 40))
    assert short is not None and long is not None
    assert abs(int(short.group(1)) - int(long.group(1))) <= 60
