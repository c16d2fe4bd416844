"""The size of the YouTube-ready download, by aspect ratio.

YouTube's custom-thumbnail guidance (support.google.com/youtube/answer/72431, read 2026-12):
1280x720 for a 16:9 video (minimum width 640 px), under 2 MB, JPG/PNG; a Short shows its 9:16
frame, 1080x1920 (the Shorts upload resolution). Other ratios keep their shape at the nearest of
those sizes: landscape ones 1280 px wide, square and portrait ones 1080 px wide. The download is
never larger than the source along either side (no upscaling): a 1K 9:16 render (768x1376)
gives 768x1365.
"""

from __future__ import annotations

LANDSCAPE_WIDTH = 1280  # 16:9 -> 1280x720, YouTube's recommended thumbnail
PORTRAIT_WIDTH = 1080  # 9:16 -> 1080x1920, a Short's frame
MIN_WIDTH = 640  # YouTube's smallest accepted thumbnail width


def youtube_width(aspect_ratio: str) -> int:
    """The width YouTube recommends for a nominal `aspect_ratio` ("16:9"): LANDSCAPE_WIDTH for
    landscape ratios, PORTRAIT_WIDTH for square and portrait ones. Raises ValueError for a
    malformed ratio."""
    ratio_w, ratio_h = (int(part) for part in aspect_ratio.split(":"))
    if ratio_w <= 0 or ratio_h <= 0:
        raise ValueError(f"bad aspect ratio {aspect_ratio!r}")
    return LANDSCAPE_WIDTH if ratio_w > ratio_h else PORTRAIT_WIDTH


def youtube_size(aspect_ratio: str, source: tuple[int, int]) -> tuple[int, int]:
    """(width, height) px of the download for a `source` (width, height) image of nominal
    `aspect_ratio` ("16:9"): exactly that ratio (to the pixel, rounded), 1280 wide for
    landscape ratios, 1080 wide for square and portrait ones, scaled down to fit inside the
    source when it is smaller. Raises ValueError for a malformed ratio."""
    width = youtube_width(aspect_ratio)
    ratio_w, ratio_h = (int(part) for part in aspect_ratio.split(":"))
    height = width * ratio_h / ratio_w
    shrink = min(1.0, source[0] / width, source[1] / height)
    return round(width * shrink), round(height * shrink)
