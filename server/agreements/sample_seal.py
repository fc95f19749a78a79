"""A demo seal image for stations that have not uploaded a scan of their real seal.

A made-up seal must never pass for a real one, so the drawing says "样章"
(sample) in large characters across the middle, and the agreement prints a
note next to it as well (``seal_is_sample``). Otherwise it looks like the
usual round official seal: a red ring, a five-pointed star in the centre and
the organisation's name along the top arc, on a transparent background so
it sits over the text like ink.
"""

from __future__ import annotations

import functools
import glob
import io
import math
import subprocess

from PIL import Image, ImageDraw, ImageFont

SIZE = 400
RED = (200, 16, 26, 255)
SAMPLE_TEXT = "样章"
# Rendered at 2x and scaled down: Pillow draws polygons and rotated glyphs
# without anti-aliasing, and the stamp is printed at about 42 mm.
_SUPERSAMPLE = 2
# Noto CJK collections hold one face per region; SC (Simplified Chinese) is
# at this index in Debian's fonts-noto-cjk .ttc files (0 is JP).
_SC_INDEX_FALLBACK = 2


def sample_seal_png(station_name: str) -> bytes:
    """A ~400x400 transparent PNG: red ring, star, ``station_name`` on the arc, "样章"."""
    scale = _SUPERSAMPLE
    size = SIZE * scale
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    centre = size / 2

    ring_outer = size * 0.48
    ring_width = size * 0.035
    draw.ellipse(
        (centre - ring_outer, centre - ring_outer, centre + ring_outer, centre + ring_outer),
        outline=RED,
        width=round(ring_width),
    )

    _draw_star(draw, centre, centre - size * 0.02, size * 0.14)

    name = station_name.strip() or "示例派出所"
    _draw_arc_text(image, name, centre, radius=ring_outer - ring_width - size * 0.09)

    # "样章" across the lower middle, big and bold, where a real seal has its
    # serial number: impossible to miss or to crop out.
    font = _font(round(size * 0.155))
    box = draw.textbbox((0, 0), SAMPLE_TEXT, font=font)
    width, height = box[2] - box[0], box[3] - box[1]
    draw.text(
        (centre - width / 2 - box[0], centre + size * 0.2 - height / 2 - box[1]),
        SAMPLE_TEXT,
        font=font,
        fill=RED,
    )

    image = image.resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _draw_star(draw: ImageDraw.ImageDraw, cx: float, cy: float, radius: float) -> None:
    """A filled five-pointed star with one point straight up."""
    inner = radius * math.sin(math.radians(18)) / math.sin(math.radians(126))
    points = []
    for i in range(10):
        r = radius if i % 2 == 0 else inner
        angle = math.radians(-90 + 36 * i)
        points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    draw.polygon(points, fill=RED)


def _draw_arc_text(image: Image.Image, text: str, centre: float, radius: float) -> None:
    """Glyphs upright towards the centre along the top arc, as seals set the name.

    The arc spans up to about 240 degrees, less for short names so the
    characters do not drift apart; long names get smaller glyphs.
    """
    count = len(text)
    span = min(240.0, 28.0 * count + 20.0)
    glyph_size = round(
        min(radius * 0.42, 2 * math.pi * radius * (span / 360) / max(count, 1) * 0.9)
    )
    font = _font(glyph_size)
    step = span / count if count > 1 else 0.0
    start = -90 - span / 2 + step / 2
    for index, char in enumerate(text):
        angle = start + step * index
        tile_size = glyph_size * 2
        tile = Image.new("RGBA", (tile_size, tile_size), (0, 0, 0, 0))
        tile_draw = ImageDraw.Draw(tile)
        box = tile_draw.textbbox((0, 0), char, font=font)
        tile_draw.text(
            (
                tile_size / 2 - (box[2] - box[0]) / 2 - box[0],
                tile_size / 2 - (box[3] - box[1]) / 2 - box[1],
            ),
            char,
            font=font,
            fill=RED,
        )
        # Rotate so the glyph's top points away from the centre.
        tile = tile.rotate(-(angle + 90), resample=Image.Resampling.BICUBIC)
        x = centre + radius * math.cos(math.radians(angle)) - tile_size / 2
        y = centre + radius * math.sin(math.radians(angle)) - tile_size / 2
        image.alpha_composite(tile, (round(x), round(y)))


@functools.cache
def _font_source() -> tuple[str, int]:
    """The path (and face index) of a bold Simplified Chinese font.

    fontconfig knows the right file and face; without fc-match (a minimal
    container) the Noto CJK collection is looked for where Debian puts it.
    """
    try:
        result = subprocess.run(
            ["fc-match", "-f", "%{file}\n%{index}", "Noto Sans CJK SC:style=Bold"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        path, _, index = result.stdout.partition("\n")
        if path and "CJK" in path:
            return path, int(index or 0)
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    for pattern in (
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
        "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc",
        "/usr/share/fonts/**/NotoSansCJK*.ttc",
        "/usr/share/fonts/**/wqy-microhei.ttc",
    ):
        found = sorted(glob.glob(pattern, recursive=True))
        if found:
            return found[0], _SC_INDEX_FALLBACK if "Noto" in found[0] else 0
    raise RuntimeError(
        "No CJK font found for the sample seal: install fonts-noto-cjk (Debian package)."
    )


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    path, index = _font_source()
    return ImageFont.truetype(path, size=size, index=index)
