"""The server-drawn SVG charts: scalable, labelled, escaped, numbers on every bar."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from server.http.charts import Series, horizontal_bars


def test_bars_scale_to_the_largest_value_and_carry_their_numbers() -> None:
    svg = horizontal_bars(
        "各月纠纷数",
        ["2026-01", "2026-02"],
        [Series("登记数", [4, 8]), Series("调解成功数", [2, 0])],
    )
    root = ET.fromstring(str(svg))
    assert root.get("width") == "100%" and root.get("viewBox", "").startswith("0 0 360 ")
    assert root.get("role") == "img" and root.get("aria-label") == "各月纠纷数"
    widths = [float(r.get("width", 0)) for r in root.iter("{http://www.w3.org/2000/svg}rect")]
    bars = widths[2:]  # after the two legend squares
    # row 1 series 1 (4), row 1 series 2 (2), row 2 series 1 (8), row 2 series 2 (0)
    assert bars[2] == max(bars) and bars[0] == bars[2] / 2 == 2 * bars[1] and bars[3] == 0.0
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert {"4", "8", "2", "0", "登记数", "调解成功数"} <= set(texts)


def test_rates_are_percent_of_the_whole_width_and_labels_are_escaped() -> None:
    svg = str(horizontal_bars("化解率", ["<b>警务室</b>"], [Series("化解率", [0.5])], percent=True))
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    assert "50.0%" in svg
    assert not re.search(r"<script|https?://(?!www\.w3\.org)", svg)
