"""Output pixel sizes by aspect ratio and image size.

Source: Google's Gemini API image-generation documentation ("Nano Banana Pro", model
gemini-3-pro-image-preview), table "Resolutions and aspect ratios": the width x height Gemini
returns for each `image_config.aspect_ratio` and `image_config.image_size`. The local renderer
produces the same sizes so that both providers are interchangeable.
"""

from __future__ import annotations

ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
IMAGE_SIZES = ("1K", "2K", "4K")

_1K: dict[str, tuple[int, int]] = {
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
}
_SCALE = {"1K": 1, "2K": 2, "4K": 4}


def pixel_size(aspect_ratio: str, image_size: str) -> tuple[int, int]:
    """(width, height) in pixels. Raises KeyError for an unknown ratio or size."""
    width, height = _1K[aspect_ratio]
    scale = _SCALE[image_size]
    return width * scale, height * scale
