"""The dominant colours of an image, measured: Pillow's median-cut quantization (Heckbert, "Color
Image Quantization for Frame Buffer Display", 1982) of a 256 px copy, near-duplicates merged,
most covering first.

Shared by the palette analysis (`studio.job_types.analyse_palette`), the style analysis and
channel consistency, and the offline renderer, which colours a custom style from its reference
images (`generation.providers.local`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from PIL import Image

MAX_COLORS = 6
MERGE_DISTANCE = 48  # RGB Euclidean distance under which two quantized colours are one
MIN_SHARE = 0.01  # colours covering less of the image are noise (anti-aliased edges)
PALETTE_TILE = (160, 90)  # px each image takes in `tiles_palette`'s strip


def measure_colors(image: Image.Image) -> list[tuple[str, float]]:
    """The dominant colours as ("#RRGGBB", share of pixels), most covering first: at most
    MAX_COLORS, near-duplicates (closer than MERGE_DISTANCE) merged into the larger, and none
    under MIN_SHARE of the pixels."""
    small = image.convert("RGB")
    # Nearest-neighbour keeps the image's own colours; smoothing would invent edge blends.
    small.thumbnail((256, 256), Image.Resampling.NEAREST)
    quantized = small.quantize(colors=12, method=Image.Quantize.MEDIANCUT)
    flat: list[int] = quantized.getpalette() or []
    total = small.width * small.height
    found: list[tuple[tuple[int, int, int], int]] = []
    # A "P" image's colours are (count, palette index) pairs.
    colors = cast(list[tuple[int, int]], quantized.getcolors() or [])
    for count, index in sorted(colors, reverse=True):
        rgb = (flat[index * 3], flat[index * 3 + 1], flat[index * 3 + 2])
        for i, (kept, kept_count) in enumerate(found):
            if sum((a - b) ** 2 for a, b in zip(rgb, kept, strict=True)) ** 0.5 < MERGE_DISTANCE:
                found[i] = (kept, kept_count + count)
                break
        else:
            found.append((rgb, count))
    found.sort(key=lambda item: item[1], reverse=True)
    shares = [("#{:02X}{:02X}{:02X}".format(*rgb), count / total) for rgb, count in found]
    return [(color, share) for color, share in shares if share >= MIN_SHARE][:MAX_COLORS]


def tiles_palette(tiles: Sequence[Image.Image]) -> list[tuple[str, float]]:
    """`measure_colors` of a set of images, each given the same area: `tiles` (RGB, each
    PALETTE_TILE) side by side in one strip."""
    strip = Image.new("RGB", (PALETTE_TILE[0] * len(tiles), PALETTE_TILE[1]))
    for i, tile in enumerate(tiles):
        strip.paste(tile, (i * PALETTE_TILE[0], 0))
    return measure_colors(strip)
