"""`analyse_style` (Starter and up): 1-10 reference thumbnails -> a reusable style: a 2-4 word
`name`, a one-sentence `description` and a 100-200 word image-generation `prompt`.

Input: `{"thumbnail_ids": [...]}` (the creator's thumbnails; a JSON list, or "1,2,3" from a form)
and/or multipart `images` files (JPEG/PNG/WebP, decoded by `studio.images.decode_upload`), 1-10 in
all. A stranger's thumbnail is a 404; an unreadable upload a 400.

Every image is measured on this machine, with or without a key (`measure_image`):

- dominant colours: median-cut quantization of all images side by side
  (`generation.colours.measure_colors`, Heckbert 1982), named by `color_name`;
- brightness and contrast: mean and standard deviation of luma (ITU-R BT.601 weights, Pillow's
  "L" conversion), in % of the 0-255 range;
- saturation: mean HSV saturation in %; colourfulness: Hasler & Süsstrunk's M metric
  ("Measuring colourfulness in natural images", SPIE 5007, 2003), labelled with the nearest of
  their 7 categories (not 0, slightly 15, moderately 33, averagely 45, quite 59, highly 82,
  extremely 109);
- text coverage: an estimate, in % of the frame, from 12 px cells of a 480 px wide copy that have
  dense strong edges (Sobel magnitude > 40 on >= 15% of pixels), high local contrast (5th-95th
  percentile spread >= 90 levels) and a two-tone histogram (Otsu's between-class / total variance
  >= 0.85), kept only in horizontal runs of >= 3 cells (lines of lettering). The thresholds were
  tuned on ViewBait's own rendered thumbnails (text ~18-35%, text-free photos and graphics
  ~1-4%); an image counts as "with text" from TEXT_PRESENT_SHARE;
- faces: OpenCV's Haar cascade (Viola & Jones 2001, `haarcascade_frontalface_default.xml`) when
  OpenCV is installed, through the thumbnail check's detector (`studio.saliency.detect_faces`,
  so both tools find the same faces), reporting how many images show a face and the largest
  face's height in % of the image height; without OpenCV, "not measured";
- layout by thirds: where the visual weight sits on a 3x3 grid, the mean of a frequency-tuned
  saliency map (Achanta et al., CVPR 2009: distance in CIELAB from the mean colour of a slightly
  blurred copy) and the Sobel edge magnitude, each normalised to sum 1.

Offline (`measured_by: "local"`) the name, description and prompt are assembled from those
measurements (`describe_local`). With a Gemini key the text model writes them from every image and
the measurements (structured output, `SCHEMA`), and `repair_answer` enforces the lengths (name
2-4 words, one sentence of at most 300 characters, prompt 100-200 words, too short ones completed
with the measured sentences). Result (`Job.result`): `{"name", "description", "prompt",
"measured_by", "image_count", "measurements": {...}}`; no thumbnail ids or file names (a cached
result may be shared by another creator who analysed the same images). Cached by the sorted
SHA-256 list of the images, the model and `cache.version`. Price: 1 credit.

"Save as my style" (`studio.services.do_create_style_from_analysis`) turns a result into a Style
with the analysed images as its references.
"""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import Http404
from drf_spectacular.utils import extend_schema_field
from PIL import Image, ImageFilter
from rest_framework import serializers

from generation.colours import PALETTE_TILE, tiles_palette
from generation.models import Job
from generation.providers.base import InputImage, InvalidJSONReturned, JSONRequest, ProviderError
from generation.registry import CachePolicy, JobOutcome, JobType
from generation.services import JobContext
from studio import services
from studio.images import ImageRejected, decode_upload, encode_png, mime_type
from studio.job_types.analyse_palette import NEUTRAL_NAMES, color_name
from studio.models import Thumbnail
from studio.serializers import MAX_ID, InputSerializer

# numpy is imported inside the functions that measure, so a web process or a management
# command starts without it (about 15 MB and 0.1 s each); thumbnail_check and style_previews do
# the same for OpenCV.
if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

MAX_IMAGES = 10
STORED_SIDE = 1024  # px, longer side of an upload's stored copy (plenty for measuring and Gemini)
WORK_WIDTH = 480  # px, width of the copy most measurements run on
TEXT_CELL = 12  # px cells of the text estimate at WORK_WIDTH
TEXT_EDGE_MAGNITUDE = 40.0
TEXT_EDGE_DENSITY = 0.15
TEXT_CONTRAST = 90.0
TEXT_SEPARABILITY = 0.85
TEXT_MIN_RUN = 3
TEXT_PRESENT_SHARE = 0.05  # an image with at least this share of text cells "has text"
MAX_WORK_ASPECT = 4  # a working copy is at most this many times as tall as wide (a Short: 1.8)
NAME_WORDS = (2, 4)
DESCRIPTION_MAX_CHARS = 300  # Style.description's max_length
PROMPT_WORDS = (100, 200)
# Hasler & Süsstrunk 2003, table of M values of their 7 colourfulness categories.
COLOURFULNESS_SCALE = (
    (0.0, "not colourful"),
    (15.0, "slightly colourful"),
    (33.0, "moderately colourful"),
    (45.0, "averagely colourful"),
    (59.0, "quite colourful"),
    (82.0, "highly colourful"),
    (109.0, "extremely colourful"),
)
GRID_NAMES = (
    ("top-left", "top-centre", "top-right"),
    ("middle-left", "centre", "middle-right"),
    ("bottom-left", "bottom-centre", "bottom-right"),
)
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "a catchy style name of 2-4 words"},
        "description": {
            "type": "string",
            "description": "one sentence (under 300 characters) for the creator's library",
        },
        "prompt": {
            "type": "string",
            "description": "100-200 words of image-generation instructions for this style",
        },
    },
    "required": ["name", "description", "prompt"],
}


# --- input ------------------------------------------------------------------------------------


@extend_schema_field(
    {
        "oneOf": [
            {
                "type": "array",
                "items": {"type": "integer", "minimum": 1, "maximum": MAX_ID, "format": "int64"},
            },
            {"type": "string", "description": 'ids separated by commas or spaces ("12, 15 19")'},
        ]
    }
)
class IdsField(serializers.Field):
    """Thumbnail ids as a JSON list or a comma/space separated string ("12, 15 19"); duplicates
    dropped, order kept."""

    default_error_messages = {"invalid": "Give thumbnail ids as a list of whole numbers."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("default", list)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> list[int]:
        if data in (None, ""):
            return []
        items = re.split(r"[\s,]+", data.strip()) if isinstance(data, str) else data
        if not isinstance(items, list | tuple):
            self.fail("invalid")
        ids: list[int] = []
        for item in items:
            if item == "":
                continue
            if isinstance(item, bool) or (isinstance(item, float) and not item.is_integer()):
                self.fail("invalid")  # 1.7, inf (JSON's 1e400) and NaN are no ids
            try:
                value = int(item)
            except (TypeError, ValueError):
                self.fail("invalid")
            if not 1 <= value <= MAX_ID:
                self.fail("invalid")
            if value not in ids:
                ids.append(value)
        return ids

    def to_representation(self, value: Any) -> Any:
        return value


class AnalyseStyleInput(InputSerializer):
    """`thumbnail_ids` and/or multipart `images`: 1-10 images in all."""

    thumbnail_ids = IdsField()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        ids: list[int] = attrs.get("thumbnail_ids") or []
        uploads = self.context["files"].get("images") or []
        total = len(ids) + len(uploads)
        if not 1 <= total <= MAX_IMAGES:
            raise serializers.ValidationError(
                f"Pick 1 to {MAX_IMAGES} images (thumbnail_ids and/or images files); got {total}."
            )
        thumbnails = {
            t.pk: t for t in Thumbnail.objects.for_owner(self.context["user"]).filter(pk__in=ids)
        }
        if len(thumbnails) != len(ids):
            raise Http404
        sources: list[dict[str, Any]] = []
        for thumbnail_id in ids:
            field = thumbnails[thumbnail_id].image_medium
            with field.open("rb") as handle:
                data = handle.read()
            sources.append({"thumbnail_id": thumbnail_id, "name": field.name, "data": data})
        for upload in uploads:
            try:
                image = decode_upload(upload).image
            except ImageRejected as exc:
                raise serializers.ValidationError({"images": exc.message}) from exc
            image.thumbnail((STORED_SIDE, STORED_SIDE), Image.Resampling.LANCZOS)
            sources.append({"thumbnail_id": None, "name": "", "data": encode_png(image)})
        for source in sources:
            source["sha256"] = hashlib.sha256(source["data"]).hexdigest()
        attrs["sources"] = sources
        return attrs


# --- measurements -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Faces:
    """Faces found in one image: how many, and the tallest one's height / image height."""

    count: int
    largest_height: float


@dataclass(frozen=True)
class ImageReading:
    """One image's measurements; shares and percentages are fractions 0-1."""

    mean_luminance: float
    luminance_std: float
    saturation: float
    colourfulness: float
    text_coverage: float
    faces: Faces | None  # None: not measured (OpenCV missing)
    grid: tuple[tuple[float, ...], ...]  # 3x3 shares of visual weight, rows top to bottom


def _working_copy(image: Image.Image, width: int = WORK_WIDTH) -> Image.Image:
    """`image` at `width` px wide, aspect kept up to MAX_WORK_ASPECT times as tall as wide (a
    taller strip is squashed to that): an upload 16 px wide and 2048 tall (decode_upload's
    limits allow it) was 480 x 61440 px, and measuring it took 6.8 GB and 24 s."""
    image = image.convert("RGB")
    height = max(1, round(image.height * width / image.width))
    return image.resize((width, min(height, width * MAX_WORK_ASPECT)), Image.Resampling.BILINEAR)


def _sobel(gray: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude, scaled so a black-to-white step edge is 255."""
    import numpy as np

    p = np.pad(gray, 1, mode="edge")
    gx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2])
    gy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:])
    return np.hypot(gx, gy) / 4.0


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Süsstrunk's M: sqrt(var(rg) + var(yb)) + 0.3 * sqrt(mean(rg)^2 + mean(yb)^2)
    with rg = R - G and yb = (R + G) / 2 - B, on 0-255 channels. 0 for a grey image."""
    import numpy as np

    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    rg = r - g
    yb = (r + g) / 2 - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def colourfulness_label(value: float) -> str:
    """The nearest of Hasler & Süsstrunk's 7 categories."""
    return min(COLOURFULNESS_SCALE, key=lambda item: abs(item[0] - value))[1]


def _separability(block: np.ndarray) -> float:
    """Otsu's criterion: between-class variance at the best threshold over the total variance
    (1 for a perfectly two-tone block, 0 for a flat one)."""
    import numpy as np

    total = block.var()
    if total < 1e-6:
        return 0.0
    hist, edges = np.histogram(block, bins=32, range=(0, 256))
    p = hist / hist.sum()
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)
    mu = np.cumsum(p * centres)
    w1 = 1 - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = np.nan_to_num((mu[-1] * w0 - mu) ** 2 / (w0 * w1))
    return float(between.max() / total)


def _horizontal_runs(cells: np.ndarray) -> np.ndarray:
    """Cells in horizontal runs of at least TEXT_MIN_RUN, after closing one-cell gaps."""
    import numpy as np

    kept = np.zeros_like(cells)
    for r in range(cells.shape[0]):
        row = cells[r].copy()
        on = np.nonzero(row)[0]
        for a, b in itertools.pairwise(on):
            if b - a == 2:
                row[a:b] = True
        c = 0
        while c < row.size:
            if not row[c]:
                c += 1
                continue
            end = c
            while end < row.size and row[end]:
                end += 1
            if end - c >= TEXT_MIN_RUN:
                kept[r, c:end] = True
            c = end
    return kept


def _cells(values: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """`values` (2-D) as rows x cols TEXT_CELL px cells, each cell's pixels in one row of
    TEXT_CELL**2 values (row by row, as the cell's own slice flattens); a copy."""
    size = TEXT_CELL
    grid = values[: rows * size, : cols * size].reshape(rows, size, cols, size)
    return grid.swapaxes(1, 2).reshape(rows, cols, size * size)


def _separabilities(blocks: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """`_separability` of each row of `blocks` (cells' pixels) at once, given each cell's
    variance in `totals` (its own `var()`): the same 32-bin histogram over 0-256 and the same
    element-wise arithmetic, so each value equals `_separability`'s for that cell."""
    import numpy as np

    bins = 32
    count = blocks.shape[0]
    inside = (blocks >= 0) & (blocks <= 256)
    # np.histogram's bin for 0 <= x < 256 is floor(x / 8) (the scale, 32 / 256, is a power of
    # two, so no rounding), and 256 falls in the last bin.
    index = np.minimum(np.floor(np.where(inside, blocks, 0) / 8).astype(np.intp), bins - 1)
    flat = (np.arange(count)[:, None] * bins + index)[inside]
    hist = np.bincount(flat, minlength=count * bins).reshape(count, bins)
    edges = np.linspace(0, 256, bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        p = hist / hist.sum(axis=1, keepdims=True)
        w0 = np.cumsum(p, axis=1)
        mu = np.cumsum(p * centres, axis=1)
        w1 = 1 - w0
        between = np.nan_to_num((mu[:, -1:] * w0 - mu) ** 2 / (w0 * w1))
    # `_separability` compares its float32 variance with 1e-6 in float32
    flat_cells = totals < np.float32(1e-6)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = between.max(axis=1) / np.where(flat_cells, 1.0, totals)
    return np.where(flat_cells, 0.0, ratio)


def estimate_text_coverage(gray: np.ndarray) -> float:
    """Share (0-1) of the frame covered by lettering, estimated from edge-dense, two-tone 12 px
    cells in horizontal runs (see the module docstring). `gray` is luma 0-255 at WORK_WIDTH.

    The three tests run on all cells at once (about 5x faster than a cell at a time: 3 ms, not
    17 ms, on a 480 x 270 copy); each gives the value the one-cell code (`_separability`, a
    cell's `np.percentile`) gives, so the estimate is unchanged."""
    import numpy as np

    magnitude = _sobel(gray)
    rows, cols = gray.shape[0] // TEXT_CELL, gray.shape[1] // TEXT_CELL
    if rows == 0 or cols == 0:
        return 0.0
    dense = (_cells(magnitude, rows, cols) > TEXT_EDGE_MAGNITUDE).mean(axis=2) >= TEXT_EDGE_DENSITY
    cells = np.zeros((rows, cols), dtype=bool)
    where = np.nonzero(dense)
    if where[0].size:
        blocks = _cells(gray, rows, cols)[where]
        low, high = np.percentile(blocks, (5, 95), axis=1)
        contrasted = high - low >= TEXT_CONTRAST
        blocks = blocks[contrasted]
        picked = [(r, c) for r, c, keep in zip(*where, contrasted, strict=True) if keep]
        # Each cell's variance from its own slice, as `_separability` takes it.
        totals = np.array(
            [
                gray[r * TEXT_CELL : (r + 1) * TEXT_CELL, c * TEXT_CELL : (c + 1) * TEXT_CELL].var()
                for r, c in picked
            ],
            dtype=np.float64,
        )
        if picked:
            two_tone = _separabilities(blocks, totals) >= TEXT_SEPARABILITY
            for (r, c), keep in zip(picked, two_tone, strict=True):
                cells[r, c] = keep
    return float(_horizontal_runs(cells).mean())


@functools.cache
def face_detection_available() -> bool:
    """Whether OpenCV (and with it `studio.saliency`'s face detector) can be loaded here."""
    try:
        from studio import saliency

        saliency._face_cascade()
    except (ImportError, RuntimeError):
        return False
    return True


def detect_faces(image: Image.Image) -> Faces | None:
    """Frontal faces: `studio.saliency.detect_faces`, the thumbnail check's detector (Haar
    cascade on a 640 px copy, faces >= 6% of the image height, 15 agreeing windows), so both
    tools report the same faces for one picture. None when OpenCV is missing."""
    if not face_detection_available():
        return None
    import cv2
    import numpy as np

    from studio import saliency

    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    boxes = saliency.detect_faces(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    if not boxes:
        return Faces(0, 0.0)
    return Faces(len(boxes), max(box.height for box in boxes))


def _linear_rgb(c: np.ndarray) -> np.ndarray:
    """sRGB components (0-1) to linear light (IEC 61966-2-1)."""
    import numpy as np

    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


@functools.cache
def _linear_levels() -> np.ndarray:
    """`_linear_rgb` of each 8-bit level 0-255: a table lookup gives the same values as the
    power function on every pixel, at a fraction of the cost (2 ms of 6 on a 480 x 270 copy)."""
    import numpy as np

    return _linear_rgb(np.arange(256, dtype=np.float64) / 255.0)


def _lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (0-255) to CIELAB (D65), per pixel; 8-bit `rgb` is linearised by table."""
    import numpy as np

    if rgb.dtype == np.uint8:
        linear = _linear_levels()[rgb]
    else:
        linear = _linear_rgb(rgb.astype(np.float64) / 255.0)
    matrix = np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
    xyz = linear @ matrix.T / np.array([0.95047, 1.0, 1.08883])
    delta = 6 / 29
    f = np.where(xyz > delta**3, np.cbrt(xyz), xyz / (3 * delta**2) + 4 / 29)
    lightness = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return np.stack([lightness, a, b], axis=-1)


def thirds_grid(small: Image.Image, gray: np.ndarray) -> tuple[tuple[float, ...], ...]:
    """Shares (summing to 1) of visual weight in each cell of a 3x3 grid, rows top to bottom:
    the mean of Achanta's frequency-tuned saliency and the Sobel edge magnitude."""
    import numpy as np

    blurred = np.asarray(small.filter(ImageFilter.GaussianBlur(1)), dtype=np.uint8)
    lab = _lab(blurred)
    saliency = np.linalg.norm(lab - lab.reshape(-1, 3).mean(axis=0), axis=-1)
    edges = _sobel(gray)
    weight = np.zeros_like(saliency)
    for part in (saliency, edges):
        total = part.sum()
        if total > 0:
            weight += part / total / 2
    if weight.sum() <= 0:
        return tuple(tuple(1 / 9 for _ in range(3)) for _ in range(3))
    h, w = weight.shape
    ys, xs = (0, h // 3, 2 * h // 3, h), (0, w // 3, 2 * w // 3, w)
    cells = [
        [float(weight[ys[r] : ys[r + 1], xs[c] : xs[c + 1]].sum()) for c in range(3)]
        for r in range(3)
    ]
    total = sum(map(sum, cells))
    return tuple(tuple(v / total for v in row) for row in cells)


def measure_image(image: Image.Image) -> ImageReading:
    """Every measurement of one image (see the module docstring)."""
    import numpy as np

    small = _working_copy(image)
    rgb = np.asarray(small, dtype=np.uint8)
    gray = np.asarray(small.convert("L"), dtype=np.float32)
    hsv = np.asarray(small.convert("HSV"), dtype=np.float32)
    return ImageReading(
        mean_luminance=float(gray.mean() / 255),
        luminance_std=float(gray.std() / 255),
        saturation=float(hsv[..., 1].mean() / 255),
        colourfulness=colourfulness(rgb),
        text_coverage=estimate_text_coverage(gray),
        faces=detect_faces(image),
        grid=thirds_grid(small, gray),
    )


def palette_tile(image: Image.Image) -> Image.Image:
    """`image` as `combined_palette` lays it in its strip: RGB at PALETTE_TILE."""
    return image.convert("RGB").resize(PALETTE_TILE, Image.Resampling.BILINEAR)


def combined_palette(images: Sequence[Image.Image]) -> list[tuple[str, float]]:
    """The dominant colours of all images, each given the same area (tiles side by side)."""
    return tiles_palette([palette_tile(image) for image in images])


def _focus(grid: Any) -> tuple[str, float]:
    """The name of the 3x3 cell with the most visual weight, and its share."""
    row, col = max(((r, c) for r in range(3) for c in range(3)), key=lambda rc: grid[rc[0]][rc[1]])
    return GRID_NAMES[row][col], grid[row][col]


def _pct(value: float) -> int:
    return round(value * 100)


def summarize(images: Sequence[Image.Image]) -> dict[str, Any]:
    """The measurements of a set of images, JSON-ready: means over the images, percentages as
    whole numbers (0-100), and per-image rows."""
    readings = [measure_image(image) for image in images]
    n = len(readings)

    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else 0.0

    grid = [[mean([r.grid[row][col] for r in readings]) for col in range(3)] for row in range(3)]
    focus, focus_share = _focus(grid)
    columns = [sum(grid[row][col] for row in range(3)) for col in range(3)]
    rows = [sum(grid[row]) for row in range(3)]
    with_text = [r for r in readings if r.text_coverage >= TEXT_PRESENT_SHARE]
    face_readings = [r.faces for r in readings if r.faces is not None]
    faces: dict[str, Any] = {"measured": len(face_readings) == n}
    if faces["measured"]:
        shown = [f for f in face_readings if f.count]
        faces.update(
            method="OpenCV Haar cascade (frontal faces)",
            images_with_faces=len(shown),
            largest_face_height_pct=_pct(max((f.largest_height for f in shown), default=0.0)),
            mean_face_height_pct=_pct(mean([f.largest_height for f in shown])),
        )
    colourful = mean([r.colourfulness for r in readings])
    return {
        "colors": [
            {"hex": hex_, "name": color_name(hex_), "share_pct": _pct(share)}
            for hex_, share in combined_palette(images)
        ],
        "brightness_pct": _pct(mean([r.mean_luminance for r in readings])),
        "contrast_pct": _pct(mean([r.luminance_std for r in readings])),
        "saturation_pct": _pct(mean([r.saturation for r in readings])),
        "colourfulness": round(colourful, 1),
        "colourfulness_label": colourfulness_label(colourful),
        "text_coverage_pct": _pct(mean([r.text_coverage for r in readings])),
        "images_with_text": len(with_text),
        "text_coverage_when_present_pct": _pct(mean([r.text_coverage for r in with_text])),
        "faces": faces,
        "layout": {
            "grid_pct": [[_pct(v) for v in row] for row in grid],
            "focus": focus,
            "focus_pct": _pct(focus_share),
            "columns_pct": [_pct(v) for v in columns],
            "rows_pct": [_pct(v) for v in rows],
        },
        "per_image": [
            {
                "brightness_pct": _pct(r.mean_luminance),
                "contrast_pct": _pct(r.luminance_std),
                "saturation_pct": _pct(r.saturation),
                "text_coverage_pct": _pct(r.text_coverage),
                "faces": None if r.faces is None else r.faces.count,
                "focus": _focus(r.grid)[0],
            }
            for r in readings
        ],
    }


# --- words from measurements ------------------------------------------------------------------


def brightness_word(pct: int) -> str:
    """Mean luminance in % as a word: "dark" under 35, "bright" over 62, else "mid-tone"."""
    return "dark" if pct < 35 else "bright" if pct > 62 else "mid-tone"


def contrast_word(pct: int) -> str:
    """Luminance spread in % as a word: "low" under 15, "high" over 25, else "moderate"."""
    return "low" if pct < 15 else "high" if pct > 25 else "moderate"


def saturation_word(pct: int) -> str:
    """Mean saturation in % as a word: "muted" under 25, "vivid" over 50, else "moderately
    saturated"."""
    return "muted" if pct < 25 else "vivid" if pct > 50 else "moderately saturated"


def _where(focus: str) -> str:
    return "in the centre" if focus == "centre" else f"in the {focus} of the frame"


def _focus_phrase(layout: dict[str, Any]) -> str:
    return (
        f"{_where(layout['focus'])} (the heaviest of the 9 cells of a 3x3 grid, with "
        f"{layout['focus_pct']}% of the visual weight)"
    )


def _colour_list(colors: list[dict[str, Any]], limit: int = 3) -> str:
    parts = [f"{c['name'].lower()} ({c['hex']}, {c['share_pct']}%)" for c in colors[:limit]]
    if len(parts) > 1:
        return ", ".join(parts[:-1]) + " and " + parts[-1]
    return parts[0] if parts else "neutral tones"


def _words(text: str) -> list[str]:
    return text.split()


# The name's colour is the most prominent chromatic one with at least this share (%): a dark
# backdrop or the letters' outlines made "Vivid Black Headlines" of white type on magenta.
NAMED_COLOUR_MIN_SHARE = 12


def local_name(m: dict[str, Any], n: int) -> str:
    """2-4 words from the measurements: tone, lead colour (the most prominent one not named
    white, black or grey with NAMED_COLOUR_MIN_SHARE %, else the most prominent), subject."""
    colors = m["colors"]
    chromatic = [
        c
        for c in colors
        if c["name"] not in NEUTRAL_NAMES and c["share_pct"] >= NAMED_COLOUR_MIN_SHARE
    ]
    lead = (chromatic or colors)[0]["name"] if colors else "Neutral"
    if m["saturation_pct"] > 50:
        tone = "Vivid"
    elif m["brightness_pct"] < 35:
        tone = "Dark"
    elif m["brightness_pct"] > 62:
        tone = "Bright"
    else:
        tone = "Muted" if m["saturation_pct"] < 25 else "Balanced"
    faces = m["faces"]
    if m["images_with_text"] * 2 > n:
        subject = "Headlines"
    elif faces.get("measured") and faces.get("images_with_faces", 0) * 2 > n:
        subject = "Portraits"
    else:
        subject = "Scenes"
    # A colour name that already carries a tone ("Dark Magenta", "Pale Yellow") stands alone.
    words = [lead, subject] if " " in lead else [tone, lead, subject]
    return " ".join(words[: NAME_WORDS[1]])


def local_description(m: dict[str, Any], n: int) -> str:
    """One sentence with the measured numbers, at most DESCRIPTION_MAX_CHARS."""
    colors = m["colors"]
    names = list(dict.fromkeys(c["name"].lower() for c in colors))
    lead = " and ".join(names[:2]) or "neutral tones"
    images = f"{n} image" + ("" if n == 1 else "s")
    text = (
        f"text on {m['images_with_text']} of {n} (about {m['text_coverage_when_present_pct']}% "
        "of the frame)"
        if m["images_with_text"]
        else "no text"
    )
    core = (
        f"Measured on {images}: {brightness_word(m['brightness_pct'])} "
        f"(mean luminance {m['brightness_pct']}%), {contrast_word(m['contrast_pct'])} contrast "
        f"(luminance std {m['contrast_pct']}%), {saturation_word(m['saturation_pct'])} "
        f"(saturation {m['saturation_pct']}%) colour led by {lead}, {text}"
    )
    faces = m["faces"]
    extras = [f"most visual weight {_where(m['layout']['focus'])}"]
    if faces.get("measured"):
        shown = faces["images_with_faces"]
        extras.insert(0, f"faces in {shown} of {n}" if shown else "no faces")
    sentence = core
    for extra in extras:
        if len(f"{sentence}, {extra}.") <= DESCRIPTION_MAX_CHARS:
            sentence = f"{sentence}, {extra}"
    return sentence[: DESCRIPTION_MAX_CHARS - 1] + "."


def local_prompt_sentences(m: dict[str, Any], n: int) -> list[str]:
    """The style prompt as sentences, each stating measured facts, most important first."""
    colors = m["colors"]
    faces = m["faces"]
    layout = m["layout"]
    sentences = [
        "Design a YouTube thumbnail in this channel's house style.",
        f"Exposure: {brightness_word(m['brightness_pct'])} overall, around "
        f"{m['brightness_pct']}% mean luminance, with {contrast_word(m['contrast_pct'])} "
        f"contrast (luminance standard deviation about {m['contrast_pct']}%).",
        f"Palette: build the image around {_colour_list(colors)}; keep colours "
        f"{saturation_word(m['saturation_pct'])} (mean saturation {m['saturation_pct']}%, "
        f"{m['colourfulness_label']} on Hasler and Süsstrunk's scale).",
    ]
    if m["images_with_text"]:
        sentences.append(
            f"Typography: set short, bold thumbnail text covering roughly "
            f"{m['text_coverage_when_present_pct']}% of the frame, as in {m['images_with_text']} "
            f"of the {n} references; at most about five words, heavy sans-serif type with a "
            "strong outline or shadow so it reads at phone size."
        )
    else:
        sentences.append(
            "Typography: keep the image free of text, as the references are; let the picture "
            "carry the message."
        )
    if faces.get("measured"):
        if faces["images_with_faces"]:
            sentences.append(
                f"People: feature one large, expressive face, about "
                f"{faces['mean_face_height_pct']}% of the frame height (faces appear in "
                f"{faces['images_with_faces']} of {n} references), looking toward the viewer."
            )
        else:
            sentences.append(
                "People: no faces; make an object, product or scene the hero of the image."
            )
    columns = layout["columns_pct"]
    quiet = ("left", "centre", "right")[columns.index(min(columns))]
    sentences.append(
        f"Composition: place the main subject {_focus_phrase(layout)}; the thirds carry "
        f"{columns[0]}% / {columns[1]}% / {columns[2]}% of the weight from left to right, so keep "
        f"the {quiet} third calmer for balance."
    )
    if len(colors) > 3:
        sentences.append(
            f"Use {_colour_list(colors[3:], 3)} only as accents for highlights, outlines and "
            "small graphic shapes."
        )
    sentences.append(
        "Keep one clear focal point, a simple uncluttered background and crisp edges, so the "
        "thumbnail stays readable from a small phone preview up to a large TV screen."
    )
    sentences.append(
        "Match the references' lighting direction and finish, and keep the same visual "
        "hierarchy from one video to the next so viewers recognise the channel at a glance."
    )
    return sentences


def fit_prompt(sentences: list[str]) -> str:
    """Join sentences into PROMPT_WORDS words: whole sentences while they fit, then the words
    of the next one up to the limit (ending in a full stop)."""
    low, high = PROMPT_WORDS
    words: list[str] = []
    for sentence in sentences:
        parts = _words(sentence)
        if len(words) + len(parts) <= high:
            words += parts
        elif len(words) < low:
            words += parts[: high - len(words)]
            words[-1] = words[-1].rstrip(",;:") + ("" if words[-1].endswith(".") else ".")
            break
        else:
            break
    return " ".join(words)


def describe_local(m: dict[str, Any], n: int) -> dict[str, str]:
    """Name, description and prompt assembled from the measurements alone."""
    return {
        "name": local_name(m, n),
        "description": local_description(m, n),
        "prompt": fit_prompt(local_prompt_sentences(m, n)),
    }


# --- Gemini ------------------------------------------------------------------------------------


def measurement_brief(m: dict[str, Any], n: int) -> str:
    """The measurements as lines for the text model's prompt."""
    faces = m["faces"]
    if faces.get("measured"):
        face_line = (
            f"faces in {faces['images_with_faces']} of {n} images, largest "
            f"{faces['largest_face_height_pct']}% of the image height"
        )
    else:
        face_line = "faces not measured"
    colours = ", ".join(f"{c['hex']} {c['name']} {c['share_pct']}%" for c in m["colors"])
    return "\n".join(
        [
            f"- dominant colours (share of pixels): {colours}",
            f"- mean luminance {m['brightness_pct']}%, luminance std {m['contrast_pct']}%",
            f"- mean saturation {m['saturation_pct']}%, colourfulness {m['colourfulness']} "
            f"({m['colourfulness_label']})",
            f"- text on {m['images_with_text']} of {n} images, about "
            f"{m['text_coverage_when_present_pct']}% of the frame where present",
            f"- {face_line}",
            f"- visual weight by thirds, left/centre/right: "
            f"{'/'.join(str(v) for v in m['layout']['columns_pct'])}%, top/middle/bottom: "
            f"{'/'.join(str(v) for v in m['layout']['rows_pct'])}%; focus {m['layout']['focus']}",
        ]
    )


def gemini_prompt(m: dict[str, Any], n: int) -> str:
    return (
        f"You are a YouTube thumbnail art director. The {n} attached image"
        f"{'' if n == 1 else 's'} are reference thumbnails of one creator. Describe their shared "
        "visual style so an image model can reproduce it for new videos on other topics.\n"
        "Measured on the images (facts; do not contradict them):\n"
        f"{measurement_brief(m, n)}\n"
        "Answer with: name, a catchy 2-4 word style name; description, one sentence under 300 "
        "characters for the creator's library; prompt, 100-200 words of image-generation "
        "instructions covering palette (with hex codes), lighting and contrast, typography "
        "(weight, case, outline, size, placement), faces and expressions, composition and "
        "background. Do not name people, brands or the videos' topics."
    )


def _clean(text: Any) -> str:
    return " ".join(str(text or "").split())


def repair_answer(answer: dict[str, Any], m: dict[str, Any], n: int) -> dict[str, str]:
    """The model's answer within the limits: name 2-4 words (longer cut, a single word gets
    "Style"), description its first sentence (at most 300 characters), prompt 100-200 words
    (cut at the last full sentence that fits, or completed with the measured sentences).
    Raises InvalidJSONReturned (retried) when the name or prompt is missing."""
    name_words = _clean(answer.get("name")).strip("\"'“”.").split()
    prompt = _clean(answer.get("prompt"))
    if not name_words or not prompt:
        raise InvalidJSONReturned("analyse_style answer without a name or prompt")
    name_words = name_words[: NAME_WORDS[1]]
    if len(name_words) < NAME_WORDS[0]:
        name_words.append("Style")
    name = " ".join(name_words)[:80]

    description = _clean(answer.get("description"))
    description = re.split(r"(?<=[.!?])\s+", description)[0] if description else ""
    if not description:
        description = local_description(m, n)
    if len(description) > DESCRIPTION_MAX_CHARS:
        cut = description[: DESCRIPTION_MAX_CHARS - 1].rsplit(" ", 1)[0]
        description = cut.rstrip(",;:") + "…"

    sentences = [s for s in re.split(r"(?<=[.!?])\s+", prompt) if s]
    if len(_words(prompt)) < PROMPT_WORDS[0]:
        # Too short: complete it with the measured sentences (skipping the generic opener).
        sentences += local_prompt_sentences(m, n)[1:]
    return {"name": name, "description": description, "prompt": fit_prompt(sentences)}


class ImagesGone(ProviderError):
    """Every image of the job was deleted before it ran (not retried; refunded)."""

    code = "images_gone"
    message = "The images to analyse were deleted before the analysis ran."


# --- the job type -------------------------------------------------------------------------------


class AnalyseStyle(JobType):
    name = "analyse_style"
    label = "Analyse style"
    input_serializer = AnalyseStyleInput
    upload_fields = {"images": MAX_IMAGES}
    feature = "analyse_style"
    rate_limit_route = "analyse_style"
    result_kind = "json"
    result_template = "studio/jobs/analyse_style.html"
    tool_template = "studio/tools/analyse_style.html"
    model_kind = "text"
    time_limit_seconds = 180
    cache = CachePolicy(version="style-v2")  # per creator: the images are their uploads
    # Uploads stay until the job is purged, so "Save as my style" keeps them as references.
    retain_inputs = True

    def fingerprint_input(self, validated: dict[str, Any]) -> dict[str, Any]:
        return {
            "thumbnail_ids": list(validated.get("thumbnail_ids") or []),
            "images": [s["sha256"] for s in validated["sources"]],
        }

    def cache_input(self, validated: dict[str, Any]) -> list[str]:
        return sorted(s["sha256"] for s in validated["sources"])

    def snapshot(self, *, validated: dict[str, Any], **_: Any) -> dict[str, Any]:
        """`images`: one entry per image, in request order: a thumbnail's own stored file
        (read by the worker, kept), or an upload stored under a random name (`uploaded`,
        deleted by `discard`)."""
        images = []
        try:
            for source in validated["sources"]:
                entry = {"sha256": source["sha256"], "thumbnail_id": source["thumbnail_id"]}
                if source["thumbnail_id"] is not None:
                    entry["name"] = source["name"]
                else:
                    entry["name"] = services.save_upload(
                        f"analysis/{uuid.uuid4().hex}.png", ContentFile(source["data"])
                    )
                    entry["uploaded"] = True
                images.append(entry)
        except BaseException:
            self.discard({"images": images})  # the uploads stored before the fault
            raise
        return {**self.fingerprint_input(validated), "images": images}

    def discard(self, params: dict[str, Any]) -> None:
        for entry in params.get("images") or []:
            if entry.get("uploaded"):
                try:
                    default_storage.delete(entry["name"])
                except Exception:
                    logger.warning("could not delete %s", entry["name"], exc_info=True)

    def run(self, job: Job, ctx: JobContext) -> JobOutcome:
        # Sorted by content hash: the same set of images gives the same result in any order,
        # as the cache key (the sorted hashes) promises.
        entries = sorted(job.params["images"], key=lambda e: e["sha256"])
        blobs: list[tuple[str, bytes]] = []
        present: list[str] = []
        for entry in entries:
            try:
                with default_storage.open(entry["name"], "rb") as handle:
                    blobs.append((entry["name"], handle.read()))
                present.append(entry["sha256"])
            except (FileNotFoundError, OSError):
                logger.warning("analyse_style: %s is gone; analysing without it", entry["name"])
        if blobs and len(present) < len(entries) and self.cache is not None:
            # What is left is analysed and cached as that set of images (the key a request
            # with only them has), never under the key of the whole set it does not describe.
            job.params["cache_key"] = self.result_cache_key(
                owner_id=job.user_id,
                model=ctx.model.id,
                normalized_input=sorted(present),
            )

        def compute() -> dict[str, Any]:
            if not blobs:
                raise ImagesGone("every input image was deleted before the job ran")
            images = [Image.open(io.BytesIO(data)) for _name, data in blobs]
            ctx.progress("analysing", 30)
            measured = summarize(images)
            n = len(images)
            if ctx.model.id == "local":
                text = describe_local(measured, n)
            else:
                request = JSONRequest(
                    prompt=gemini_prompt(measured, n),
                    schema=SCHEMA,
                    model=ctx.model.id,
                    images=[InputImage(data, mime_type(name), "analysis") for name, data in blobs],
                )
                text = ctx.call(
                    lambda provider: repair_answer(
                        provider.generate_json(request).data, measured, n
                    )
                )
            return {
                **text,
                "measured_by": ctx.model.id,
                "image_count": n,
                "measurements": measured,
            }

        return ctx.run_json(compute)
