"""The demo seal image: a round red seal that plainly says it is a sample."""

from __future__ import annotations

import io

from PIL import Image

from server.agreements.sample_seal import SIZE, sample_seal_png

STATION = "白石派出所"


def open_seal(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image.convert("RGBA")


def is_red(pixel: bytes) -> bool:
    r, g, b, a = pixel
    return a > 128 and r > 150 and g < 90 and b < 90


def red_share(image: Image.Image, box: tuple[int, int, int, int]) -> float:
    """The share of clearly red, opaque pixels in ``box`` of an RGBA image."""
    data = image.crop(box).tobytes()
    pixels = [data[i : i + 4] for i in range(0, len(data), 4)]
    return sum(is_red(p) for p in pixels) / len(pixels)


def test_is_a_transparent_square_png() -> None:
    image = open_seal(sample_seal_png(STATION))
    assert image.size == (SIZE, SIZE)
    for corner in ((0, 0), (SIZE - 1, 0), (0, SIZE - 1), (SIZE - 1, SIZE - 1)):
        assert image.getpixel(corner)[3] == 0  # type: ignore[index]


def test_has_a_ring_a_star_and_the_sample_mark() -> None:
    image = open_seal(sample_seal_png(STATION))
    # The ring crosses the middle of the left and right edges.
    assert red_share(image, (0, 190, 20, 210)) > 0.1
    assert red_share(image, (380, 190, 400, 210)) > 0.1
    # The star fills the centre.
    assert red_share(image, (190, 185, 210, 205)) > 0.8
    # "样章" sits below the star, across the middle.
    assert red_share(image, (130, 250, 270, 310)) > 0.15
    # The name runs along the top arc.
    assert red_share(image, (100, 40, 300, 110)) > 0.1


def test_depends_on_the_station_name_and_is_stable() -> None:
    ours = sample_seal_png(STATION)
    assert sample_seal_png(STATION) == ours
    assert sample_seal_png("滨河派出所") != ours
    # A long name is drawn too (smaller glyphs), and an empty one gets a placeholder.
    open_seal(sample_seal_png("某某市公安局某某分局某某街道派出所"))
    open_seal(sample_seal_png(""))
