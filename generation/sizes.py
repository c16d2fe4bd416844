"""Output pixel sizes by aspect ratio and image size.

Output sizes of the Gemini 3 image models, from the image-generation guide's "Aspect ratios and
image size" tables (read 2026-11-29). The "Flash Image" (gemini-3.1-flash-image) and "Pro Image"
(gemini-3-pro-image) tables give the same width x height for every ratio and size the studio
uses; Flash Image also has a "512" (0.5K) size and the ratios 1:4, 4:1, 1:8, 8:1, which the
studio does not offer, so they are left out. (gemini-2.5-flash-image, now retired, had its own
single-size table: 16:9 was 1344x768.)
The local renderer produces the same sizes so that providers are interchangeable.
"""

from __future__ import annotations

ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
IMAGE_SIZES = ("1K", "2K", "4K")

PIXEL_SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "1K": {
        "1:1": (1024, 1024),
        "2:3": (848, 1264),
        "3:2": (1264, 848),
        "3:4": (896, 1200),
        "4:3": (1200, 896),
        "4:5": (928, 1152),
        "5:4": (1152, 928),
        "9:16": (768, 1376),
        "16:9": (1376, 768),
        "21:9": (1584, 672),
    },
    "2K": {
        "1:1": (2048, 2048),
        "2:3": (1696, 2528),
        "3:2": (2528, 1696),
        "3:4": (1792, 2400),
        "4:3": (2400, 1792),
        "4:5": (1856, 2304),
        "5:4": (2304, 1856),
        "9:16": (1536, 2752),
        "16:9": (2752, 1536),
        "21:9": (3168, 1344),
    },
    "4K": {
        "1:1": (4096, 4096),
        "2:3": (3392, 5056),
        "3:2": (5056, 3392),
        "3:4": (3584, 4800),
        "4:3": (4800, 3584),
        "4:5": (3712, 4608),
        "5:4": (4608, 3712),
        "9:16": (3072, 5504),
        "16:9": (5504, 3072),
        "21:9": (6336, 2688),
    },
}


def pixel_size(aspect_ratio: str, image_size: str) -> tuple[int, int]:
    """(width, height) in pixels. Raises KeyError for an unknown ratio or size."""
    return PIXEL_SIZES[image_size][aspect_ratio]
