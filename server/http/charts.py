"""Charts drawn as inline SVG on the server: no script, no CDN, readable on a 360 px phone.

The SVG scales to its container's width (``viewBox`` and ``width="100%"``), and
every bar carries its number as text, so the chart reads without hovering and
a screen reader finds a title and the same numbers in the table beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 360
BAR = 18
GAP = 8
LABEL_W = 120
#: Series colours (index 0, 1, 2 …), distinguishable in grey print too.
COLOURS = ("#1f5fa8", "#7fa7d9", "#2e8b57")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]


def _num(value: float, percent: bool) -> str:
    if percent:
        return f"{value * 100:.1f}%"
    return f"{value:g}"


def horizontal_bars(
    title: str, labels: Sequence[str], series: Sequence[Series], *, percent: bool = False
) -> Markup:
    """One group of bars per label, one bar per series; the longest bar fills the width."""
    top = max([v for s in series for v in s.values] + [1.0 if percent else 1.0])
    scale = (WIDTH - LABEL_W - 50) / (1.0 if percent else top)
    group_h = len(series) * BAR + GAP
    legend_h = 20 if len(series) > 1 else 0
    height = legend_h + len(labels) * group_h + GAP
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    if legend_h:
        x = 0
        for n, s in enumerate(series):
            colour = COLOURS[n % len(COLOURS)]
            parts.append(f'<rect x="{x}" y="4" width="12" height="12" fill="{colour}"/>')
            parts.append(f'<text x="{x + 16}" y="14" font-size="12">{escape(s.name)}</text>')
            x += 16 + 14 * len(s.name) + 12
    for row, label in enumerate(labels):
        y0 = legend_h + row * group_h
        parts.append(
            f'<text x="0" y="{y0 + len(series) * BAR / 2 + 4}" font-size="12">'
            f"{escape(_clip(label))}</text>"
        )
        for n, s in enumerate(series):
            value = s.values[row]
            w = max(value * scale, 0.0)
            y = y0 + n * BAR
            colour = COLOURS[n % len(COLOURS)]
            parts.append(
                f'<rect x="{LABEL_W}" y="{y + 2}" width="{w:.1f}" height="{BAR - 4}" '
                f'fill="{colour}"/>'
            )
            parts.append(
                f'<text x="{LABEL_W + w + 4:.1f}" y="{y + BAR - 5}" font-size="11">'
                f"{_num(value, percent)}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _clip(label: str, limit: int = 9) -> str:
    """Chinese labels are wide: keep one line beside the bars (the table has the full name)."""
    return label if len(label) <= limit else label[: limit - 1] + "…"
