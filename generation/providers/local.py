"""The offline renderer: a designed thumbnail drawn with Pillow, no network and no model.

Used instead of Gemini when no GEMINI_API_KEY is set, so creators and tests get real thumbnails
offline. It reads the structured `RenderSpec`, never the prompt:

- size: exactly `generation.sizes.pixel_size(aspect_ratio, image_size)` pixels (16:9 at 1K is
  1376x768, at 4K 5504x3072), RGB, handed over in memory (`GeneratedImage.image`);
- background: a design per built-in style (`spec.style_key`: "bold-gaming", "clean-tech",
  "vlog-bright", "cinematic", "minimal", "retro-pop", "documentary"; anything else gets a generic
  look) in the palette's colours (`spec.colors`, "#RRGGBB", most prominent first; each style has
  its own default palette), over the first role="reference" image, blurred and colour-graded;
  a custom style without a palette takes the dominant colours of its reference images
  (`generation.colours.measure_colors`), and the render's notes say so;
- faces: the role="face" images (JPEG/PNG/WebP bytes, at most `MAX_FACES`) composited large, side
  by side, as circles, rounded cards, framed photos or soft cut-outs depending on the style;
  `spec.expression` and `spec.pose` tighten or tilt the crop a little;
- text: `spec.title` as the main line and `spec.subtitle` as the sub-line, fitted as large as the
  free area allows in outlined type with per-character font fallback (`generation.providers.fonts`),
  clear of the people and of where YouTube's duration badge covers the frame at the sizes the
  thumbnail check measures (`generation.display.badge_zones`). Both may be empty: a text-free
  image is valid.

Everything is drawn at the output size (4K backgrounds at 4K). Faces found by
`generation.providers.cutout` are cut out and placed large (CUTOUT_FACE_SHARE); each variation
(`spec.variation`) takes its own layout (VARIANTS); every text run is measured against what is
behind it and adjusted until it meets CONTRAST_TARGET; titles that would fall below reading size
are shortened (`shorten`) and the render's notes say so. Output is deterministic: the same
request gives the same bytes, and `spec.seed` drives every random detail.

Errors: `InvalidProviderRequest` for an unknown aspect ratio or image size. An image that cannot be
decoded is skipped with a logged warning.
"""

from __future__ import annotations

import colorsys
import dataclasses
import functools
import hashlib
import io
import logging
import math
import random
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps

from generation.colours import PALETTE_TILE, tiles_palette
from generation.display import badge_zones
from generation.providers.base import (
    CapabilityUnavailable,
    EditRequest,
    GeneratedImage,
    ImageRequest,
    InputImage,
    InvalidProviderRequest,
    JSONRequest,
    JSONResult,
    RenderSpec,
    eight_bit,
    visible_text,
)
from generation.providers.cutout import Cutout, cut_out, detect_face, photo_score
from generation.providers.fonts import RGB, SetText, TextLook, dilated, fitted_size, set_text
from generation.sizes import pixel_size

logger = logging.getLogger(__name__)

MAX_FACES = 4
FaceShape = Literal["circle", "card", "photo", "cutout"]
TextShadow = Literal["soft", "hard", "none"]

_BLACK: RGB = (0, 0, 0)
_WHITE: RGB = (255, 255, 255)
_INK: RGB = (14, 14, 18)
_ZOOM_WORDS = ("shock", "surpris", "excit", "scream", "angry", "laugh", "amaz", "scared")
_TILT_WORDS = ("tilt", "lean", "dynamic", "action", "side")


# --- colour ----------------------------------------------------------------------------------


def _parse_hex(value: str) -> RGB | None:
    digits = value.strip().removeprefix("#")
    if len(digits) == 3:
        digits = "".join(char * 2 for char in digits)
    if len(digits) != 6:
        return None
    try:
        number = int(digits, 16)
    except ValueError:
        return None
    return (number >> 16 & 255, number >> 8 & 255, number & 255)


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    """`a` moved a fraction `t` towards `b`."""
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _shade(colour: RGB, t: float) -> RGB:
    return _mix(colour, _BLACK, t)


def _tint(colour: RGB, t: float) -> RGB:
    return _mix(colour, _WHITE, t)


def _luma(colour: RGB) -> float:
    """Perceived brightness, 0..1."""
    return (0.2126 * colour[0] + 0.7152 * colour[1] + 0.0722 * colour[2]) / 255


def _hls(colour: RGB) -> tuple[float, float, float]:
    return colorsys.rgb_to_hls(*(channel / 255 for channel in colour))


def _from_hls(hue: float, lightness: float, saturation: float) -> RGB:
    red, green, blue = colorsys.hls_to_rgb(hue % 1.0, lightness, saturation)
    return (round(red * 255), round(green * 255), round(blue * 255))


def _vivid(colour: RGB, lightness: float = 0.55) -> RGB:
    """The same hue, saturated and at least `lightness` light (greys stay grey)."""
    hue, light, saturation = _hls(colour)
    if saturation < 0.08:
        return _from_hls(hue, max(light, lightness), saturation)
    return _from_hls(hue, min(max(light, lightness), 0.72), max(saturation, 0.8))


def _hue_shift(colour: RGB, degrees: float) -> RGB:
    hue, light, saturation = _hls(colour)
    return _from_hls(hue + degrees / 360, light, saturation)


def _chroma(colour: RGB) -> float:
    return (max(colour) - min(colour)) / 255


@dataclass(frozen=True)
class _Palette:
    """Colour roles derived from the creator's palette."""

    primary: RGB  # the most prominent colour
    secondary: RGB
    accent: RGB  # the most vivid of the others, brightened: highlights, rings, plates
    dark: RGB  # the darkest colour, shaded to 12 % brightness
    light: RGB  # the lightest colour, tinted to 88 % brightness


def _is_ground(colour: RGB) -> bool:
    """A near-black, near-white or grey colour: a palette's ground, not its hue."""
    return _luma(colour) < 0.08 or _luma(colour) > 0.92 or _chroma(colour) < 0.1


def _palette(colors: list[str], default: tuple[str, ...]) -> _Palette:
    """The roles of a palette (most prominent colour first). A palette that opens with its
    ground (Neon Night's near-black #0D0221) has its first real hue as the primary and the
    next as the secondary, as a designer reads it: taken in order, the near-black's vivid
    version was a purple and the neon pink and cyan were lost, so Neon Night drew Bold Gaming's
    own purple and yellow."""
    parsed = [colour for colour in map(_parse_hex, colors) if colour is not None]
    if not parsed:
        parsed = [colour for colour in map(_parse_hex, default) if colour is not None]
    hues = [colour for colour in parsed if not _is_ground(colour)]
    ordered = [*hues, *(colour for colour in parsed if _is_ground(colour))] if hues else parsed
    primary = ordered[0]
    secondary = ordered[1] if len(ordered) > 1 else _hue_shift(primary, 40)
    others = [colour for colour in ordered[1:] if _chroma(colour) > 0.25] or [primary]
    accent = _vivid(max(others, key=_chroma), 0.58)
    darkest = min(parsed, key=_luma)
    lightest = max(parsed, key=_luma)
    dark = _shade(darkest, max(0.0, 1 - 0.12 / max(_luma(darkest), 0.01)))
    light = _tint(lightest, max(0.0, (0.88 - _luma(lightest)) / max(1 - _luma(lightest), 0.01)))
    return _Palette(primary, secondary, accent, dark, light)


def _contrasting(preferred: RGB, against: RGB, fallback: RGB) -> RGB:
    """`preferred` unless it is too close in brightness to `against`."""
    return preferred if abs(_luma(preferred) - _luma(against)) > 0.22 else fallback


# --- masks and painting at the working (1K) size ------------------------------------------------


def _lut(function: Callable[[float], float]) -> list[int]:
    """A 256-entry point() table from a function of 0..1 to 0..1."""
    return [round(255 * min(1.0, max(0.0, function(v / 255)))) for v in range(256)]


def _paint(
    image: Image.Image, colour: RGB, mask: Image.Image, corner: tuple[int, int] = (0, 0)
) -> None:
    """`image.paste(colour, corner, mask)`, blending only the mask's non-zero bounding box:
    glows, shapes and shadows cover a part of the frame, and a full-frame masked paste cost
    0.1 s at 4K (5504x3072) whatever the mask held. The same pixels."""
    box = mask.getbbox()
    if box is not None:
        _blend(image, colour, (corner[0] + box[0], corner[1] + box[1]), mask.crop(box))


def _blend(image: Image.Image, colour: RGB, corner: tuple[int, int], mask: Image.Image) -> None:
    """`image.paste(colour, corner, mask)` on an RGB image, as a solid image of `colour` pasted
    through `mask`: PIL blends an image through a mask by the same formula as a colour, but
    faster (a 1376x768 frame: 3.5 ms instead of 6.5; 5504x3072: 70 instead of 87, 2 cores at
    2.0 GHz, Pillow 13). The same pixels."""
    rows = max(1, min(mask.height, _BLEND_PIXELS // mask.width))
    solid = Image.new(image.mode, (mask.width, rows), colour)
    for top in range(0, mask.height, rows):
        band = mask.crop((0, top, mask.width, min(mask.height, top + rows)))
        piece = solid if band.height == rows else solid.crop((0, 0, *band.size))
        image.paste(piece, (corner[0], corner[1] + top), band)


# `_blend` pastes in bands of at most this many pixels: a solid image the size of a 4K mask
# (68 MB) was mapped and unmapped per paste, and the page faults cost more system time than
# the blending saved.
_BLEND_PIXELS = 1 << 18


def _scaled(mask: Image.Image, opacity: float) -> Image.Image:
    return mask.point(_lut(lambda v: v * opacity))


@functools.lru_cache(maxsize=8)
def _blob_shape(power: float) -> Image.Image:
    """`_blob`'s shape at 256x256: 255 in the middle falling to 0 at the edges' middles."""
    # radial_gradient is 0 at its centre and 181 at the middle of its edges (128 px away).
    return Image.radial_gradient("L").point(_lut(lambda v: (1 - min(1.0, v * 255 / 181)) ** power))


def _blob(
    size: tuple[int, int],
    centre: tuple[float, float],
    radii: tuple[float, float],
    *,
    power: float = 1.6,
) -> Image.Image:
    """An L mask: 255 at `centre` falling smoothly to 0 at `radii` (an ellipse).

    Large blobs are computed at a quarter of the size and scaled up (they are smooth anyway).
    """
    part, corner = _blob_part(size, centre, radii, power=power)
    mask = Image.new("L", size)
    mask.paste(part, corner)
    return mask


def _blob_part(
    size: tuple[int, int],
    centre: tuple[float, float],
    radii: tuple[float, float],
    *,
    power: float = 1.6,
) -> tuple[Image.Image, tuple[int, int]]:
    """A part of `_blob`'s mask holding all of its non-zero pixels, and its top-left on the
    frame (px): the ellipse's box on the frame, or for a blob scaled up the columns it and the
    bilinear filter's reach cover.

    Only that part is scaled up (PIL's `resize(box=...)` computes each pixel as the whole
    resize does when the frame is a multiple of 4 px, as every size in `generation.sizes` is):
    the same pixels as `_blob`'s, with no full-frame resize."""
    factor = 4 if min(radii) >= 40 else 1
    width = max(1, round(2 * radii[0] / factor))
    height = max(1, round(2 * radii[1] / factor))
    small = (math.ceil(size[0] / factor), math.ceil(size[1] / factor))
    corner = (round(centre[0] / factor - width / 2), round(centre[1] / factor - height / 2))
    left, top = max(0, corner[0]), max(0, corner[1])
    right, bottom = min(small[0], corner[0] + width), min(small[1], corner[1] + height)
    if right <= left or bottom <= top:  # off the frame
        return Image.new("L", (1, 1)), (0, 0)
    shape = _blob_shape(power).resize((width, height), Image.Resampling.BILINEAR)
    if factor == 1:
        inside = (left - corner[0], top - corner[1], right - corner[0], bottom - corner[1])
        return shape.crop(inside), (left, top)
    mask = Image.new("L", small)
    mask.paste(shape, corner)
    # A pixel of the frame takes the small mask's pixels less than one small pixel away. The
    # part keeps the frame's rows: cut in height too, PIL's vertical pass rounds 1 in 1000 of
    # the pixels one level differently from the whole resize's.
    box = (max(0, (left - 1) * factor), 0, min(size[0], (right + 1) * factor), size[1])
    if size[0] % factor or size[1] % factor:
        return mask.resize(size, Image.Resampling.BILINEAR).crop(box), box[:2]
    part = mask.resize(
        (box[2] - box[0], box[3] - box[1]),
        Image.Resampling.BILINEAR,
        box=(box[0] / factor, 0, box[2] / factor, small[1]),
    )
    return part, box[:2]


# Masks that depend only on the frame's size and a style's constants are drawn once per process
# and kept, read only: the most recently used ones, up to FRAME_MASK_PIXELS pixels in all (an L
# mask is 1 MB at 1K, 17 MB at 4K: two 4K masks and a few 1K ones). Drawing them was 7 ms of a
# 1K render and 100 ms of a 4K one (gradient ramp 4 and 63, vignette 3 and 40; 2 cores, 2.0 GHz).
FRAME_MASK_PIXELS = 40_000_000
_frame_masks: OrderedDict[tuple[object, ...], Image.Image] = OrderedDict()
_frame_masks_lock = threading.Lock()


def _kept(key: tuple[object, ...], draw: Callable[[], Image.Image]) -> Image.Image:
    """The mask `draw()` makes, remembered by `key` (which names the mask and its size)."""
    with _frame_masks_lock:
        mask = _frame_masks.get(key)
        if mask is not None:
            _frame_masks.move_to_end(key)
            return mask
    mask = draw()
    with _frame_masks_lock:
        _frame_masks[key] = mask
        total = sum(kept.width * kept.height for kept in _frame_masks.values())
        while total > FRAME_MASK_PIXELS and len(_frame_masks) > 1:
            _, dropped = _frame_masks.popitem(last=False)
            total -= dropped.width * dropped.height
    return mask


def _gradient_mask(size: tuple[int, int], angle: float) -> Image.Image:
    """The L ramp of `_gradient` (0 where it starts, 255 where it ends), at `size` px."""

    def draw() -> Image.Image:
        small = (math.ceil(size[0] / 4), math.ceil(size[1] / 4))
        side = math.ceil(math.hypot(*small))
        ramp = Image.linear_gradient("L").resize((side, side), Image.Resampling.BILINEAR)
        ramp = ramp.rotate(angle, resample=Image.Resampling.BILINEAR)
        left, top = (side - small[0]) // 2, (side - small[1]) // 2
        mask = ramp.crop((left, top, left + small[0], top + small[1]))
        return mask.resize(size, Image.Resampling.BILINEAR)

    return _kept(("gradient", size, angle), draw)


_LEVELS = Image.frombytes("L", (256, 1), bytes(range(256)))  # every mask value once


def _gradient(size: tuple[int, int], start: RGB, end: RGB, angle: float) -> Image.Image:
    """A linear gradient from `start` to `end`; angle 0 runs top to bottom, 90 right to left.

    Drawn at a quarter of the size and scaled up (`_gradient_mask`). The colours are looked up
    per mask value: `Image.composite` of the two colours over the mask, done once for the 256
    values and applied as a palette, gives the same pixels in 0.6 ms instead of 5 at 1K
    (11 instead of 75 at 4K)."""
    levels = Image.composite(
        Image.new("RGB", _LEVELS.size, end), Image.new("RGB", _LEVELS.size, start), _LEVELS
    )
    painted = _gradient_mask(size, angle).copy()
    painted.putpalette(levels.tobytes())
    return painted.convert("RGB")


def _glow(
    image: Image.Image,
    centre: tuple[float, float],
    radius: float,
    colour: RGB,
    opacity: float,
    *,
    stretch: float = 1.0,
) -> None:
    part, corner = _blob_part(image.size, centre, (radius * stretch, radius))
    _paint(image, colour, _scaled(part, opacity), corner)


def _vignette_mask(size: tuple[int, int], strength: float) -> Image.Image:
    """The L mask of `_vignette`: 0 in the middle, darkest (`strength` and more) in the corners."""

    def draw() -> Image.Image:
        # Stretched to the frame; 181 marks the middle of each edge, corners reach 255.
        ramp = Image.radial_gradient("L").resize(size, Image.Resampling.BILINEAR)
        curve = _lut(lambda v: strength * max(0.0, (v * 255 / 181 - 0.45) / 0.85) ** 1.6)
        return ramp.point(curve)

    return _kept(("vignette", size, strength), draw)


def _vignette(image: Image.Image, strength: float) -> None:
    _blend(image, _BLACK, (0, 0), _vignette_mask(image.size, strength))


def _rays(
    image: Image.Image,
    centre: tuple[float, float],
    count: int,
    colour: RGB,
    opacity: float,
    rng: random.Random,
) -> None:
    """A burst of light rays from `centre`, fading outwards. Drawn smaller (`_soft_factor`):
    light, and soft, they keep a blur of RAYS_BLUR_PX where other layers keep SOFT_BLUR_PX."""
    blur = image.height * 0.002
    factor = _soft_factor(blur, RAYS_BLUR_PX)
    reach = math.hypot(*image.size)
    offset = rng.uniform(0, 2 * math.pi / count)
    half = math.pi / count * 0.55

    def draw(pen: ImageDraw.ImageDraw, scale: float) -> None:
        x, y = centre[0] * scale, centre[1] * scale
        length = reach * scale
        for k in range(count):
            angle = offset + 2 * math.pi * k / count
            pen.polygon(
                [
                    (x, y),
                    (x + length * math.cos(angle - half), y + length * math.sin(angle - half)),
                    (x + length * math.cos(angle + half), y + length * math.sin(angle + half)),
                ],
                fill=255,
            )

    mask = _drawn_small("L", image.size, factor, draw)
    fade = _blob(
        mask.size,
        (centre[0] / factor, centre[1] / factor),
        (reach / factor * 0.75, reach / factor * 0.75),
        power=0.9,
    )
    mask = ImageChops.multiply(mask, fade).filter(ImageFilter.GaussianBlur(blur / factor))
    _paint(image, colour, _upscaled(_scaled(mask, opacity), image.size))


def _sunburst(
    image: Image.Image, centre: tuple[float, float], count: int, colour: RGB, rng: random.Random
) -> None:
    """Flat comic-book wedges of `colour` from `centre` (every other wedge)."""
    mask = Image.new("L", image.size)
    draw = ImageDraw.Draw(mask)
    reach = math.hypot(*image.size)
    offset = rng.uniform(0, 2 * math.pi / count)
    for k in range(0, count, 2):
        a, b = offset + 2 * math.pi * k / count, offset + 2 * math.pi * (k + 1) / count
        draw.polygon(
            [
                centre,
                (centre[0] + reach * math.cos(a), centre[1] + reach * math.sin(a)),
                (centre[0] + reach * math.cos(b), centre[1] + reach * math.sin(b)),
            ],
            fill=255,
        )
    _paint(image, colour, mask.filter(ImageFilter.GaussianBlur(image.height * 0.001)))


def _halftone(
    image: Image.Image, centre: tuple[float, float], colour: RGB, spacing: int, opacity: float
) -> None:
    """Comic dots, growing with the distance from `centre`. Drawn each time, not kept with the
    frame masks: `centre` is the layout's focus, which follows the faces, so most of these
    masks would never be met again and would only push out the ones that are."""
    mask = Image.new("L", image.size)
    draw = ImageDraw.Draw(mask)
    reach = math.hypot(*image.size) / 2
    for row, y in enumerate(range(0, image.height + spacing, spacing)):
        for x in range(-spacing, image.width + spacing, spacing):
            cx = x + (spacing / 2 if row % 2 else 0)
            t = min(1.0, math.hypot(cx - centre[0], y - centre[1]) / reach)
            radius = spacing * 0.48 * t**1.4
            if radius >= 0.6:
                draw.ellipse((cx - radius, y - radius, cx + radius, y + radius), fill=255)
    _paint(image, colour, _scaled(mask, opacity))


def _bokeh(image: Image.Image, colours: list[RGB], count: int, rng: random.Random) -> None:
    """Soft discs of light, drawn smaller (`_soft_factor`: half size at 1K, an eighth at 4K)."""
    blur = image.height * 0.006
    discs = []
    for _ in range(count):
        radius = image.height * rng.uniform(0.02, 0.1)
        x, y = rng.uniform(0, image.width), rng.uniform(0, image.height)
        colour = rng.choice(colours)
        discs.append(
            ((x - radius, y - radius, x + radius, y + radius), colour, rng.randint(45, 120))
        )

    def draw(pen: ImageDraw.ImageDraw, scale: float) -> None:
        for box, colour, alpha in discs:
            pen.ellipse(tuple(v * scale for v in box), fill=(*colour, alpha))

    factor = _soft_factor(blur)
    layer = _drawn_small("RGBA", image.size, factor, draw)
    layer = _upscaled(layer.filter(ImageFilter.GaussianBlur(blur / factor)), image.size)
    image.paste(layer, (0, 0), layer)


# A full-frame layer blurred by many pixels is soft anyway: drawn `factor` times smaller with
# its blur divided by `factor`, then scaled up, it looks the same (its edges' ramp is as wide;
# pixels within a few levels) for a fraction of the blur's cost, which grows with the pixels,
# not the radius. `_bokeh` 43 -> 22 ms at 1K (1376x768), 742 -> 71 at 4K (5504x3072); the
# documentary's decoration (its window's light) 22 -> 11 and 326 -> 166; `_rays` 20 -> 15 and
# 314 -> 95 (2 cores, 2.0 GHz, Pillow 13, 2026-12-05). The blur left is at least
# SOFT_BLUR_PX, so the steps of a shape drawn smaller never show.
SOFT_BLUR_PX = 2.0
RAYS_BLUR_PX = 0.75  # 1K's rays (1.5 px) at half size: within 4 levels of full size's
SOFT_MOST = 8


def _drawn_small(
    mode: str,
    size: tuple[int, int],
    factor: int,
    draw: Callable[[ImageDraw.ImageDraw, float], None],
) -> Image.Image:
    """A layer of `mode` the size of a `size` frame divided by `factor` (rounded up), on which
    `draw(pen, scale)` draws the frame's shapes with their coordinates times `scale`. Drawn
    supersampled (up to 4x for a mask, 2x for RGBA) and reduced, so the shapes' edges stay
    where they are to a pixel of the frame (at 4K, of a 1K frame for RGBA): drawn small
    directly, a window's light moved in steps of 8 px and two seeds drew the same picture."""
    fine = min(factor, 4 if mode == "L" else 2)
    layer = Image.new(
        mode, (math.ceil(size[0] / factor) * fine, math.ceil(size[1] / factor) * fine)
    )
    draw(ImageDraw.Draw(layer), fine / factor)
    return layer.reduce(fine) if fine > 1 else layer


def _soft_factor(blur: float, least: float = SOFT_BLUR_PX) -> int:
    """How many times smaller to draw a full-frame layer that is blurred by `blur` px, so that
    at least `least` px of blur are left: 1 (full size) below 2 x `least`, at most SOFT_MOST."""
    return max(1, min(SOFT_MOST, int(blur / least)))


def _upscaled(layer: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`layer` (L, or RGBA with its channels resampled alike) scaled up to `size`, bilinear,
    pixel centres on pixel centres. OpenCV's: 5 ms for a 5504x3072 mask, PIL's 37."""
    if layer.size == size:
        return layer
    return Image.fromarray(cv2.resize(np.asarray(layer), size, interpolation=cv2.INTER_LINEAR))


def _grid(image: Image.Image, colour: RGB, spacing: int, opacity: float) -> None:
    """Thin grid lines, strongest at the bottom. Their mask depends on the frame's size alone
    (the style's spacing and opacity): kept (`_kept`)."""

    def draw() -> Image.Image:
        mask = Image.new("L", image.size)
        pen = ImageDraw.Draw(mask)
        line = max(1, round(image.height / 768))
        for x in range(spacing // 2, image.width, spacing):
            pen.line((x, 0, x, image.height), fill=255, width=line)
        for y in range(image.height - spacing // 2, 0, -spacing):
            pen.line((0, y, image.width, y), fill=255, width=line)
        fade = Image.linear_gradient("L").resize(image.size, Image.Resampling.BILINEAR)
        return _scaled(ImageChops.multiply(mask, fade), opacity)

    _paint(image, colour, _kept(("grid", image.size, spacing, opacity), draw))


Point = tuple[float, float]
_SUPERSAMPLE = 4


def _fill(
    image: Image.Image,
    colour: RGB,
    *,
    polygons: Sequence[Sequence[Point]] = (),
    ellipses: Sequence[tuple[float, float, float, float]] = (),
    opacity: float = 1.0,
) -> None:
    """Fill shapes with `colour` at `opacity` (0-1), antialiased (drawn supersampled into a
    mask).

    Shapes apart (their boxes, grown by a pixel, do not meet) are drawn each in their own band
    of rows, from the frame's left edge to the shape's right: the supersampled mask of the
    whole frame (5504x3072 at 1K) cost 10 ms for three stripes in a corner. The band keeps the
    shapes' x coordinates and moves their y by whole output pixels, which PIL rasterises the
    same, so the pixels are the same."""
    k = _SUPERSAMPLE if max(image.size) <= 2048 else 2  # 4K: 2x is as smooth and 4x lighter
    shapes: list[tuple[list[Point], bool, tuple[int, int, int, int]]] = []
    for points in polygons:
        xs, ys = [x for x, _ in points], [y for _, y in points]
        box = (min(xs), min(ys), max(xs), max(ys))
        shapes.append((list(points), False, _grown(box)))
    for left, top, right, bottom in ellipses:
        shapes.append(([(left, top), (right, bottom)], True, _grown((left, top, right, bottom))))
    for group in _apart(shapes):
        right = min(image.width, max(box[2] for _, _, box in group))
        top = max(0, min(box[1] for _, _, box in group))
        bottom = min(image.height, max(box[3] for _, _, box in group))
        if right <= 0 or bottom <= top:
            continue
        big = Image.new("L", (right * k, (bottom - top) * k))
        draw = ImageDraw.Draw(big)
        shift = top * k
        for points, ellipse, _ in group:
            scaled = [(x * k, y * k - shift) for x, y in points]
            if ellipse:
                draw.ellipse((*scaled[0], *scaled[1]), fill=255)
            else:
                draw.polygon(scaled, fill=255)
        mask = big.reduce(k)
        _paint(image, colour, mask if opacity >= 1 else _scaled(mask, opacity), (0, top))


def _grown(box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    """`box` (px) out to whole pixels and one more on every side."""
    return (
        math.floor(box[0]) - 1,
        math.floor(box[1]) - 1,
        math.ceil(box[2]) + 1,
        math.ceil(box[3]) + 1,
    )


_Shape = tuple[list[Point], bool, tuple[int, int, int, int]]


def _apart(shapes: list[_Shape]) -> list[list[_Shape]]:
    """`shapes` (points, is an ellipse, box) in groups whose boxes do not meet another group's."""
    groups: list[tuple[list[_Shape], tuple[int, int, int, int]]] = []
    for shape in shapes:
        members, box = [shape], shape[2]
        merged = True
        while merged:  # a grown box may meet a group it missed
            merged = False
            for other in list(groups):
                o = other[1]
                if box[0] < o[2] and o[0] < box[2] and box[1] < o[3] and o[1] < box[3]:
                    groups.remove(other)
                    members = other[0] + members
                    box = (
                        min(box[0], o[0]),
                        min(box[1], o[1]),
                        max(box[2], o[2]),
                        max(box[3], o[3]),
                    )
                    merged = True
        groups.append((members, box))
    return [members for members, _ in groups]


def _slashes(
    image: Image.Image,
    colour: RGB,
    rng: random.Random,
    avoid: tuple[int, int, int, int] | None = None,
) -> None:
    """Three diagonal accent stripes in the bottom-left corner, and the same turned half a turn
    in the top-right one, each set left out where it would cross `avoid` (the words' box, px;
    a text-only frame's "bottom" variation sets its words bottom left, clear of YouTube's
    badge). (The top-right set was drawn with the bottom-left's slant from the frame's top: it
    started past the right edge, and only a clipped triangle showed.)"""
    width, height = image.size
    slant = height * 0.35
    stripes = []
    for corner in (0, 1):
        x = width * rng.uniform(0.02, 0.08)
        y0, y1 = height * 0.7, height
        for k, thickness in enumerate((0.035, 0.018, 0.009)):
            left = x + k * width * 0.045
            stripe = [
                (left + slant * (1 - y0 / height), y0),
                (left + slant * (1 - y0 / height) + width * thickness, y0),
                (left + slant * (1 - y1 / height) + width * thickness, y1),
                (left + slant * (1 - y1 / height), y1),
            ]
            if corner == 1:
                stripe = [(width - px, height - py) for px, py in stripe]
            stripes.append(stripe)
    if avoid is not None:
        left, top, right, bottom = avoid
        xs = [px for stripe in stripes[3:] for px, _ in stripe]
        if min(xs) < right and max(xs) > left and top < height * 0.3:
            stripes = stripes[:3]
        xs = [px for stripe in stripes[:3] for px, _ in stripe]
        if min(xs) < right and max(xs) > left and bottom > height * 0.7:
            stripes = stripes[3:]
    _fill(image, colour, polygons=stripes)


# --- styles ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scene:
    """What a background painter needs to know, in working-size pixels."""

    focus: tuple[float, float]  # where the faces are (or the frame's centre)
    faces: bool
    landscape: bool
    rng: random.Random
    # Where the words are drawn (designs with `text_aware` only; None: no text, or not asked)
    text_box: tuple[int, int, int, int] | None = None
    backdrop: bool = False  # a style's reference photo shows through the background


def _no_colour(pal: _Palette) -> RGB | None:
    return None


@dataclass(frozen=True)
class _Design:
    """A style's look: its background, type and face treatment."""

    default_colors: tuple[str, ...]
    base: Callable[[tuple[int, int], _Palette], Image.Image]
    decorate: Callable[[Image.Image, _Palette, _Scene], None]
    title: Callable[[_Palette], TextLook]
    subtitle: Callable[[_Palette], TextLook]
    subtitle_plate: Callable[[_Palette], RGB | None] = _no_colour  # a plate behind the sub-line
    face_shape: FaceShape = "circle"
    text_aware: bool = False  # the decoration keeps clear of the words (`_Scene.text_box`)
    face_ring: Callable[[_Palette], RGB | None] = _no_colour
    ring_ratio: float = 0.0  # ring width per face diameter
    face_glow: Callable[[_Palette], RGB | None] = _no_colour  # a halo instead of a dark shadow
    text_shadow: TextShadow = "soft"
    align: Literal["left", "center"] = "center"  # without faces
    kicker: bool = False  # an accent bar above the title
    text_low: bool = False  # text in the lower part of the frame when there is no face
    letterbox: bool = False  # black cinema bars over the picture (landscape frames only)
    reference_mix: float = 0.7  # how much a reference image shows through the background


def _gaming_decorate(image: Image.Image, pal: _Palette, scene: _Scene) -> None:
    _glow(image, scene.focus, image.height * 0.95, _vivid(pal.primary), 0.85)
    _rays(image, scene.focus, 20, _vivid(pal.secondary, 0.62), 0.42, scene.rng)
    _vignette(image, 0.8)
    _slashes(image, pal.accent, scene.rng, avoid=scene.text_box)


def _tech_decorate(image: Image.Image, pal: _Palette, scene: _Scene) -> None:
    _grid(image, _tint(pal.primary, 0.5), image.height // 12, 0.16)
    _glow(image, scene.focus, image.height * 0.8, _vivid(pal.primary, 0.5), 0.6)
    # The accent light in the corner away from the focus, placed by the seed.
    across = image.width * scene.rng.uniform(0.04, 0.22)
    corner = (
        across if scene.focus[0] > image.width / 2 else image.width - across,
        image.height * scene.rng.uniform(0.0, 0.15),
    )
    _glow(image, corner, image.height * 0.7, pal.accent, 0.35, stretch=1.4)
    _vignette(image, 0.5)


def _vlog_decorate(image: Image.Image, pal: _Palette, scene: _Scene) -> None:
    _glow(image, scene.focus, image.height * 0.9, _tint(pal.accent, 0.5), 0.7)
    _bokeh(image, [_WHITE, _tint(pal.accent, 0.4), _tint(pal.primary, 0.6)], 22, scene.rng)
    _vignette(image, 0.25)


def _cinematic_decorate(image: Image.Image, pal: _Palette, scene: _Scene) -> None:
    width, height = image.size
    _glow(image, scene.focus, height * 1.0, _vivid(pal.secondary, 0.5), 0.55, stretch=1.3)
    opposite = (width - scene.focus[0] + width * scene.rng.uniform(-0.1, 0.1), height * 0.3)
    _glow(image, opposite, height * 0.8, _vivid(pal.primary, 0.45), 0.4, stretch=1.5)
    streak_y = height * scene.rng.uniform(0.22, 0.32)
    _glow(image, (width / 2, streak_y), height * 0.018, _tint(pal.accent, 0.6), 0.9, stretch=40)
    _glow(image, (width / 2, streak_y), height * 0.09, pal.accent, 0.25, stretch=7)
    _vignette(image, 0.95)


def _minimal_decorate(image: Image.Image, pal: _Palette, scene: _Scene) -> None:
    """Soft daylight, one big disc with a soft shadow, three accent dots."""
    width, height = image.size
    _glow(image, (width * scene.rng.uniform(0.05, 0.4), 0), height * 1.1, _WHITE, 0.5, stretch=1.4)
    radius = min(height * 0.44, width * 0.46)
    # Without faces the disc sits on the side the text leaves free (the layout's focus).
    x, y = (
        scene.focus
        if scene.faces
        else (width * (0.2 if scene.focus[0] < width * 0.45 else 0.8), height * 0.42)
    )
    x, y = _clear_of(scene.text_box, (x, y), radius, margin=height * 0.03)
    disc = (x - radius, y - radius, x + radius, y + radius)
    _glow(
        image, (x + radius * 0.06, y + radius * 0.1), radius * 1.15, _shade(pal.light, 0.35), 0.45
    )
    _fill(image, _contrasting(pal.primary, pal.light, pal.accent), ellipses=(disc,))
    dot = height * 0.012
    start = width * scene.rng.uniform(0.04, 0.12)
    dots = tuple(
        (cx - dot, height * 0.93 - dot, cx + dot, height * 0.93 + dot)
        for cx in (start + k * dot * 3.2 for k in range(3))
    )
    _fill(image, pal.accent, ellipses=dots)


def _union(boxes: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int] | None:
    """The box (left, top, right, bottom) round all `boxes`, or None when there are none."""
    if not boxes:
        return None
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _extent(runs: list[TextRun]) -> tuple[int, int, int, int] | None:
    """The box (left, top, right, bottom, px) round the drawn pixels of `runs`, or None."""
    boxes = []
    for run in runs:
        box = run.mask.getbbox()
        if box is not None:
            x, y = run.corner
            boxes.append((x + box[0], y + box[1], x + box[2], y + box[3]))
    return _union(boxes)


def _clear_of(
    box: tuple[int, int, int, int] | None,
    centre: tuple[float, float],
    radius: float,
    *,
    margin: float,
) -> tuple[float, float]:
    """The centre (x, y, px) of a disc of `radius` px moved away from the words' box, along the
    axis that separates them, until it is `margin` px clear of it: type half on a disc and half
    off it reads as two words. A centre among the words takes the shortest of the four moves.
    The disc may then run off the frame's edge."""
    if box is None:
        return centre
    x, y = centre
    left, top, right, bottom = box
    if x + radius + margin > left and x - radius - margin < right:
        if y >= bottom and y - radius - margin < bottom:  # the words are above
            return x, bottom + radius + margin
        if y <= top and y + radius + margin > top:  # below
            return x, top - radius - margin
    if top - radius - margin < y < bottom + radius + margin:
        if x >= right and x - radius - margin < right:  # beside, on the left
            return right + radius + margin, y
        if x <= left and x + radius + margin > left:  # on the right
            return left - radius - margin, y
    reach = radius + margin
    if x + reach > left and x - reach < right and y + reach > top and y - reach < bottom:
        # Its centre among the words (a text-only frame's title spanning the width): the
        # shortest of the four moves that clear them.
        moves = [
            (x, bottom + reach),
            (x, top - reach),
            (right + reach, y),
            (left - reach, y),
        ]
        return min(moves, key=lambda m: abs(m[0] - x) + abs(m[1] - y))
    return x, y


def _retro_decorate(image: Image.Image, pal: _Palette, scene: _Scene) -> None:
    _sunburst(image, scene.focus, 28, _tint(_vivid(pal.primary), 0.2), scene.rng)
    _halftone(image, scene.focus, _shade(pal.primary, 0.7), max(8, image.height // 60), 0.35)


def _documentary_base(size: tuple[int, int], pal: _Palette) -> Image.Image:
    hue, _, saturation = _hls(pal.primary)
    top = _from_hls(hue, 0.2, saturation * 0.35)
    return _gradient(size, top, _from_hls(hue, 0.06, saturation * 0.3), 0)


def _documentary_decorate(image: Image.Image, pal: _Palette, scene: _Scene) -> None:
    width, height = image.size
    _glow(image, scene.focus, height * 0.9, (200, 196, 186), 0.25, stretch=1.2)
    # A window's light falling across the frame, where the seed puts it.
    x = width * scene.rng.uniform(-0.12, 0.12)
    beam = [
        (x + width * 0.55, 0),
        (x + width * 0.75, 0),
        (x + width * 0.35, height),
        (x + width * 0.05, height),
    ]
    blur = height * 0.06
    factor = _soft_factor(blur)  # the light is drawn smaller
    light = _drawn_small(
        "L",
        image.size,
        factor,
        lambda pen, scale: pen.polygon([(x * scale, y * scale) for x, y in beam], fill=255),
    )
    light = light.filter(ImageFilter.GaussianBlur(blur / factor))
    _paint(image, (236, 228, 210), _upscaled(_scaled(light, 0.1), image.size))
    _vignette(image, 0.9)


GENERIC_PANEL_TINT = 0.5  # the split panel's opacity over a reference photo


def _generic_decorate(image: Image.Image, pal: _Palette, scene: _Scene) -> None:
    """A diagonal two-tone split behind the faces, edged with an accent stripe. Over a
    reference photo (a custom style's backdrop) the panel only tints it (GENERIC_PANEL_TINT):
    an opaque panel hid the photo behind the faces, where a creator looks for it."""
    width, height = image.size
    edge = scene.focus[0] - height * 0.55 if scene.faces else width * 0.62
    edge += width * scene.rng.uniform(-0.03, 0.03)
    slant = height * 0.28
    stripe = height * 0.03
    band = [  # the stripe alone: a band under the whole panel showed through a tinting one
        (edge + slant - stripe, 0),
        (edge + slant + 1, 0),
        (edge - slant + 1, height),
        (edge - slant - stripe, height),
    ]
    _fill(image, pal.accent, polygons=(band,))
    panel = [(edge + slant, 0), (width, 0), (width, height), (edge - slant, height)]
    tint = GENERIC_PANEL_TINT if scene.backdrop else 1.0
    _fill(image, _shade(pal.secondary, 0.35), polygons=(panel,), opacity=tint)
    _glow(image, scene.focus, height * 0.8, _vivid(pal.secondary, 0.6), 0.6)
    _vignette(image, 0.6)


def _angled(
    start: Callable[[_Palette], RGB], end: Callable[[_Palette], RGB], angle: float
) -> Callable[[tuple[int, int], _Palette], Image.Image]:
    """A style's base: a linear gradient between two palette-derived colours."""

    def base(size: tuple[int, int], pal: _Palette) -> Image.Image:
        return _gradient(size, start(pal), end(pal), angle)

    return base


def _look(**overrides: object) -> Callable[[_Palette], TextLook]:
    """A title look: white fill, ink outline, the accent on numbers; `overrides` per style."""

    def look(pal: _Palette) -> TextLook:
        values: dict[str, object] = {"fill": _WHITE, "stroke": _INK, "emphasis": pal.accent}
        values.update(
            {key: value(pal) if callable(value) else value for key, value in overrides.items()}
        )
        return TextLook(**values)  # type: ignore[arg-type]

    return look


def _light_enough(colour: RGB, least: float = 0.45) -> RGB:
    """`colour` if its luma is above `least`, else the same hue and saturation made lighter
    (HLS lightness raised in steps of 0.02) until it is: a plate under ink text, or a title's
    emphasis, in the palette's own hue (a grey goes to a light grey, luma above 0.75: a mid
    grey plate under ink looked dull). A fixed yellow stood in for every dark accent before,
    a colour the creator had not picked (a red #FF0044 drew yellow plates)."""
    if _luma(colour) > least:
        return colour
    hue, lightness, saturation = _hls(colour)
    if saturation < 0.08:
        least = max(least, 0.75)  # a grey: a light grey plate, not a dull mid-grey one
    while lightness < 0.98:
        lightness = min(0.98, lightness + 0.02)
        lighter = _from_hls(hue, lightness, saturation)
        if _luma(lighter) > least:
            return lighter
    return _from_hls(hue, 0.98, saturation)


_DESIGNS: dict[str, _Design] = {
    "bold-gaming": _Design(
        default_colors=("#7C3AED", "#FF2E63", "#FFD60A"),
        base=_angled(lambda p: _shade(p.primary, 0.7), lambda p: _shade(p.secondary, 0.55), 35),
        decorate=_gaming_decorate,
        text_aware=True,  # the top-right stripes give way to the words
        title=_look(
            uppercase=True,
            stroke_ratio=0.08,
            outer=lambda p: _vivid(p.primary),
            outer_ratio=0.15,
            emphasis=lambda p: _light_enough(p.accent),
        ),
        subtitle=_look(fill=_INK, stroke_ratio=0.0, uppercase=True, max_lines=2),
        subtitle_plate=lambda p: _light_enough(p.accent),
        face_ring=lambda p: _light_enough(p.accent),
        ring_ratio=0.035,
        face_glow=lambda p: _vivid(p.primary, 0.6),
    ),
    "clean-tech": _Design(
        default_colors=("#0EA5E9", "#1E293B", "#22D3EE"),
        base=_angled(lambda p: p.dark, lambda p: _shade(p.primary, 0.6), 120),
        decorate=_tech_decorate,
        title=_look(stroke=lambda p: _shade(p.dark, 0.3), stroke_ratio=0.05, line_spacing=1.1),
        subtitle=_look(
            fill=lambda p: _tint(p.accent, 0.15),
            stroke_ratio=0.05,
            stroke=lambda p: _shade(p.dark, 0.3),
            max_lines=2,
        ),
        face_shape="card",
        face_ring=lambda p: p.accent,
        ring_ratio=0.018,
        align="left",
        kicker=True,
    ),
    "vlog-bright": _Design(
        default_colors=("#FF8A00", "#FF3D7F", "#FFE066"),
        base=_angled(lambda p: _vivid(p.primary, 0.55), lambda p: _vivid(p.secondary, 0.5), 50),
        decorate=_vlog_decorate,
        title=_look(
            stroke=lambda p: _shade(_vivid(p.secondary), 0.7),
            stroke_ratio=0.1,
            emphasis=lambda p: _light_enough(_tint(p.accent, 0.2)),
        ),
        subtitle=_look(
            fill=lambda p: _shade(_vivid(p.secondary), 0.6), stroke_ratio=0.0, max_lines=2
        ),
        subtitle_plate=lambda p: _WHITE,
        face_ring=lambda p: _WHITE,
        ring_ratio=0.045,
    ),
    "cinematic": _Design(
        default_colors=("#0F766E", "#F59E0B", "#0B1320"),
        base=_angled(lambda p: _shade(p.primary, 0.75), lambda p: _shade(p.secondary, 0.8), 100),
        decorate=_cinematic_decorate,
        title=_look(
            fill=(246, 240, 228),
            stroke=_BLACK,
            stroke_ratio=0.04,
            uppercase=True,
            line_spacing=1.0,
            emphasis=lambda p: _vivid(p.secondary, 0.6),
        ),
        subtitle=_look(
            fill=lambda p: _tint(_vivid(p.secondary), 0.35),
            stroke=_BLACK,
            stroke_ratio=0.04,
            uppercase=True,
            max_lines=2,
        ),
        face_shape="cutout",
        text_low=True,
        letterbox=True,
    ),
    "minimal": _Design(
        default_colors=("#E63946", "#F4F1EA", "#1D1D1F"),
        base=_angled(lambda p: p.light, lambda p: _shade(p.light, 0.06), 0),
        decorate=_minimal_decorate,
        text_aware=True,
        title=_look(
            fill=lambda p: p.dark,
            stroke=lambda p: p.light,
            stroke_ratio=0.035,
            emphasis=lambda p: _contrasting(p.accent, p.light, p.primary),
            line_spacing=1.08,
        ),
        subtitle=_look(
            fill=lambda p: _mix(p.dark, p.light, 0.3),
            stroke=lambda p: p.light,
            stroke_ratio=0.03,
            max_lines=2,
        ),
        face_ring=lambda p: p.light,
        ring_ratio=0.02,
        text_shadow="none",
        align="left",
        reference_mix=0.3,
    ),
    "retro-pop": _Design(
        default_colors=("#FF4D6D", "#FFD23F", "#3BCEAC"),
        base=_angled(lambda p: _vivid(p.primary, 0.5), lambda p: _shade(_vivid(p.primary), 0.2), 0),
        decorate=_retro_decorate,
        title=_look(
            fill=lambda p: _light_enough(p.accent),
            stroke=_BLACK,
            stroke_ratio=0.1,
            uppercase=True,
            emphasis=_WHITE,
        ),
        subtitle=_look(fill=_WHITE, stroke_ratio=0.0, uppercase=True, max_lines=2),
        subtitle_plate=lambda p: _BLACK,
        face_ring=lambda p: _BLACK,
        ring_ratio=0.045,
        text_shadow="hard",
    ),
    "documentary": _Design(
        default_colors=("#1F2937", "#B91C1C", "#F5F5F4"),
        base=_documentary_base,
        decorate=_documentary_decorate,
        title=_look(
            stroke=_BLACK,
            stroke_ratio=0.06,
            uppercase=True,
            line_spacing=1.02,
            emphasis=lambda p: _tint(p.accent, 0.25),
        ),
        subtitle=_look(fill=_WHITE, stroke_ratio=0.0, uppercase=True, max_lines=2),
        subtitle_plate=lambda p: _vivid(p.accent, 0.45),
        face_shape="photo",
        face_ring=lambda p: (242, 240, 235),
        ring_ratio=0.035,
        align="left",
        kicker=True,
        text_low=True,
    ),
}
# The built-in styles the renderer draws, by slug (the built-in Style rows' slugs); any
# other slug, a custom style, gets the generic look.
BUILT_IN_STYLES: tuple[str, ...] = tuple(_DESIGNS)
_GENERIC = _Design(
    default_colors=("#FF3B30", "#0A84FF", "#FFCC00"),
    base=_angled(lambda p: _shade(p.primary, 0.55), lambda p: _shade(p.secondary, 0.6), 25),
    decorate=_generic_decorate,
    title=_look(stroke_ratio=0.09, emphasis=lambda p: _light_enough(p.accent)),
    subtitle=_look(fill=_INK, stroke_ratio=0.0, max_lines=2),
    subtitle_plate=lambda p: _light_enough(p.accent),
    face_ring=lambda p: _WHITE,
    ring_ratio=0.035,
)


# --- layout ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """Where things go, in output pixels."""

    text_box: tuple[int, int, int, int]  # left, top, right, bottom
    align: Literal["left", "center", "right"]
    faces: list[tuple[float, float, float]]  # centre x, centre y, diameter
    focus: tuple[float, float]
    valign: Literal["top", "middle", "bottom"] = "middle"
    face_height: float = 0.0  # a cut-out face's height, px (0: no cut-outs)


@dataclass(frozen=True)
class _Variant:
    """How one variation arranges the frame: which side the faces take, where the text block
    sits and how tight the framing is (1.0 = the face at 36 % of the frame height). In upright
    frames (squares, 4:5, Shorts), where the text sits above the people, `offset` moves the
    people towards `upright_side` (else `side`) by that share of the width; from
    SIDE_ALIGNED_OFFSET on, the text block is aligned to the other side (`_layout`)."""

    side: Literal["right", "left"]
    valign: Literal["top", "middle", "bottom"]
    zoom: float
    offset: float = 0.08
    upright_side: Literal["right", "left", ""] = ""
    # Text-free frames: where the people stand, as a signed share of the width from the centre
    # (negative: left); upright frames move them TEXT_FREE_UPRIGHT_SHIFT as far.
    free_shift: float = 0.0


# Variations of one request cycle through these, so any two consecutive ones differ in layout:
# in upright frames, the people centred under a centred title, on the left under a title aligned
# right, centred under a title at the top (larger in Shorts), then on the right under a title
# aligned left.
VARIANTS = (
    _Variant("right", "middle", 1.0, offset=0.0),
    _Variant("left", "middle", 1.1, offset=0.16, free_shift=-0.2),
    _Variant("right", "top", 1.2, offset=0.0, free_shift=0.2),
    _Variant("left", "bottom", 0.9, offset=0.16, upright_side="right", free_shift=0.1),
)
TEXT_FREE_UPRIGHT_SHIFT = 0.6
TEXT_ONLY_SHIFT = 0.15  # a text-only "top"/"bottom" block's area: this share off the other edge
# From this `_Variant.offset` on, an upright frame's text is aligned away from the people.
SIDE_ALIGNED_OFFSET = 0.12
CUTOUT_FACE_SHARE = 0.36  # a lone cut-out face's height per frame height (YouTube norm: 30-45 %)
CUTOUT_GROUP_SHARE = 0.31  # each face's share when several people are placed
TEXT_ABOVE_FACE_SHARE = 0.26  # at most, when the text sits above the faces (squares, 4:5)
HAIR_REACH = 0.75  # a head's hair reaches this many face heights from the face's centre, sideways


def _face_height(width: float, height: float, faces: int, zoom: float) -> float:
    """A cut-out face's height in a `width` x `height` frame with `faces` people, before
    `_layout` fits it to the text: portrait frames measure the face against the width (a
    Short's face is ~36 % of its width)."""
    share = CUTOUT_FACE_SHARE if faces == 1 else CUTOUT_GROUP_SHARE
    return min(height, width * 1.05) * share * zoom


def cutout_face_height(resolution: str, aspect_ratio: str = "16:9") -> int:
    """Px height of a lone cut-out face at `resolution` ("1K"/"2K"/"4K") and `aspect_ratio`, at
    the largest framing of `VARIANTS` (`_face_height`). 16:9: 1K 332, 2K 664, 4K 1327. Raises
    KeyError for an unknown size or ratio."""
    width, height = pixel_size(aspect_ratio, resolution)
    return round(_face_height(width, height, 1, max(variant.zoom for variant in VARIANTS)))


def _mirror(layout: _Layout, width: int) -> _Layout:
    left, top, right, bottom = layout.text_box
    align = {"left": "right", "right": "left", "center": "center"}[layout.align]
    return dataclasses.replace(
        layout,
        text_box=(width - right, top, width - left, bottom),
        align=align,  # type: ignore[arg-type]
        # Mirrored positions, still filled left to right in the creator's order.
        faces=[
            (x, cy, d)
            for x, (_, cy, d) in zip(
                sorted(width - cx for cx, _, _ in layout.faces), layout.faces, strict=True
            )
        ],
        focus=(width - layout.focus[0], layout.focus[1]),
    )


def _text_only_layout(width: int, height: int, design: _Design, variant: _Variant) -> _Layout:
    """Without faces the text block is the layout, so each variant places it its own way:
    VARIANTS[0] as the design has it (low designs, cinematic and documentary, at the bottom of
    the lower 70 %); VARIANTS[1] flips a left-aligned design to the right and a centred one to
    the left, the "top" variant a centred one to the right, and the "bottom" variant aligns
    every design left (the bottom-right corner is YouTube's duration badge's: text aligned
    right there was lifted off it to where VARIANTS[1] had it), each in a block 62 % of the
    width with the background's focus on the other side; the "top" and "bottom" variants
    centre the block in the text area shortened by TEXT_ONLY_SHIFT of its height at the other
    edge. (The four cinematic variations were one picture: text centred at the bottom.)
    Without a face the words are the picture, so a block is centred in most of the frame
    rather than set against an edge: the "top" variant kept the top 72 % of the text area with
    the block against its top, and a two-word title ("Focus test") sat on one line in the top
    third of an otherwise empty frame."""
    ratio = width / height
    margin_x, margin_y = width * 0.07, height * 0.09
    first = variant == VARIANTS[0]
    low = design.text_low and first
    top = height * (0.3 if low and ratio >= 1.2 else 0.0)
    box = (
        round(margin_x),
        round(max(margin_y, top)),
        round(width - margin_x),
        round(height - margin_y * (1.3 if design.text_low else 1.0)),
    )
    valign: Literal["top", "middle", "bottom"] = "bottom" if low else "middle"
    shift = round((box[3] - box[1]) * TEXT_ONLY_SHIFT)
    if not low and variant.valign == "top":
        box = (box[0], box[1], box[2], box[3] - shift)
    elif not low and variant.valign == "bottom":
        box = (box[0], box[1] + shift, box[2], box[3])
    align: Literal["left", "center", "right"] = design.align
    if not first and variant.valign == "bottom":
        align = "left"  # the bottom-right corner is YouTube's duration badge's
    elif variant.side == "left" and align == "left":
        align = "right"
    elif variant.side == "left" and align == "center":
        align = "left"
    elif variant.valign == "top" and align == "center":
        align = "right"
    focus = (width / 2, height * 0.45)
    if not first and align != "center" and ratio >= 1.2:
        inner = round((box[2] - box[0]) * 0.74)
        if align == "left":
            box = (box[0], box[1], box[0] + inner, box[3])
            focus = (width * 0.75, focus[1])
        else:
            box = (box[2] - inner, box[1], box[2], box[3])
            focus = (width * 0.25, focus[1])
    return _Layout(box, align, [], focus, valign=valign)


def _layout(
    width: int,
    height: int,
    faces: int,
    design: _Design,
    text: bool,
    variant: _Variant = VARIANTS[0],
    cutouts: bool = False,
) -> _Layout:
    """Text beside the faces in landscape frames, above them otherwise; faces alone centred.
    `variant` mirrors the frame and moves the text block; `cutouts` sizes for cut-out people."""
    ratio = width / height
    overlap = 0.64  # the distance between face centres, per diameter
    cutout = design.face_shape == "cutout" or cutouts
    zoom = variant.zoom
    if faces == 0:
        return _text_only_layout(width, height, design, variant)
    face_height = _face_height(width, height, faces, zoom)
    spread = 1 + overlap * (faces - 1)
    if not text:
        # Text-free variations differ in where the people stand (`_Variant.free_shift`): centred,
        # then off to one side and the other; all of them stayed centred, so generating again
        # drew the same picture.
        diameter = min(height * (1.0 if cutout else 0.8), width * 0.86 / spread) * min(zoom, 1)
        shift = variant.free_shift * width * (1.0 if ratio >= 1.2 else TEXT_FREE_UPRIGHT_SHIFT)
        room = max(0.0, width - diameter * spread)
        left = min(max(0.0, room / 2 + shift), room)
        cy = height * (0.55 if cutout else 0.5)
        centres = [left + diameter / 2 + i * overlap * diameter for i in range(faces)]
        return _Layout(
            (0, 0, width, height),
            "center",
            [(cx, cy, diameter) for cx in centres],
            (width / 2, cy),
            face_height=face_height if cutouts else 0.0,
        )
    if ratio >= 1.2:
        if cutouts:
            diameter = face_height * 2.2
            span = width * (0.0 if faces == 1 else min(0.34, 0.13 * (faces - 1)))
            first = width * 0.74 - span / 2
            centres = [first + i * span / max(1, faces - 1) for i in range(faces)]
            cy = max(height * 0.42, face_height * 1.15)  # room for the hair above the face
            # The text stops short of the first head (its hair reaches HAIR_REACH face heights left
            # of the face's centre): in 16:9 that is past 55 % of the width, but in 5:4 or 4:3
            # the head starts at 52-54 % and the title's lines ran into the hair.
            head_left = first - face_height * HAIR_REACH
            box = (
                round(width * 0.045),
                round(height * 0.07),
                round(min(width * 0.55, head_left - width * 0.02)),
                round(height * 0.93),
            )
        else:
            diameter = min(height * (1.02 if cutout else 0.84), width * 0.46 / spread) * min(
                zoom, 1.05
            )
            right = width - width * (0.0 if cutout else 0.03)
            left = right - diameter * spread
            cy = height * (0.56 if cutout else 0.53)
            centres = [left + diameter / 2 + i * overlap * diameter for i in range(faces)]
            text_right = left + (diameter * 0.12 if cutout else -width * 0.02)
            box = (
                round(width * 0.045),
                round(height * 0.09),
                round(text_right),
                round(height * 0.91),
            )
        layout = _Layout(
            box,
            "left",
            [(cx, cy, diameter) for cx in centres],
            (sum(centres) / len(centres), cy),
            valign=variant.valign,
            face_height=face_height if cutouts else 0.0,
        )
        return _mirror(layout, width) if variant.side == "left" else layout
    share = 0.5 if ratio < 0.85 else 0.52
    diameter = min(width * 0.86 / spread, height * share) * min(zoom, 1.05)
    bottom = height * (1.0 if cutout else 0.965)
    cy = bottom - diameter / 2
    side = variant.upright_side or variant.side
    shift = width * variant.offset * (1 if side == "right" else -1)
    left = min(max(0.0, (width - diameter * spread) / 2 + shift), width - diameter * spread)
    centres = [left + diameter / 2 + i * overlap * diameter for i in range(faces)]
    if cutouts:
        # Text above the people: the norm's face (CUTOUT_FACE_SHARE, for text beside it) left a
        # square's title a strip of 17 % of the height, so shortened to a word or two; capped,
        # the text keeps the top 40 % (text_bottom = height - 2.23 x face_height).
        face_height = min(face_height, height * TEXT_ABOVE_FACE_SHARE)
        cy = height - face_height * 1.55
        span = width * (0.0 if faces == 1 else 0.5)
        # Every head, hair included (HAIR_REACH), stays in the frame, with a margin.
        room = max(0.0, width / 2 - span / 2 - face_height * HAIR_REACH - width * 0.02)
        shift = max(-room, min(room, shift))
        centres = [
            width / 2 + shift - span / 2 + i * span / max(1, faces - 1) for i in range(faces)
        ]
        text_bottom = cy - face_height * 0.68  # clear of the hair, with a gap
    else:
        text_bottom = cy - diameter / 2 - height * 0.015
    box = (
        round(width * 0.06),
        round(height * 0.05),
        round(width * 0.94),
        round(text_bottom),
    )
    align: Literal["left", "center", "right"] = "center"
    if variant.offset >= SIDE_ALIGNED_OFFSET:
        # The people on one side, the title's lines lined up on the other edge: a diagonal, not
        # a stack. The block keeps its width (a narrower one shortened long titles).
        align = "left" if side == "right" else "right"
    slots = [(cx, cy, diameter) for cx in centres]
    focus = (sum(centres) / len(centres), cy)
    valign: Literal["top", "middle", "bottom"] = "top" if variant.valign == "top" else "middle"
    return _Layout(
        box, align, slots, focus, valign=valign, face_height=face_height if cutouts else 0.0
    )


# --- images ------------------------------------------------------------------------------------


def _decode(image: InputImage) -> Image.Image | None:
    """The image as RGB (EXIF orientation applied; 16-bit greyscale scaled by `eight_bit`), or
    None with a warning if undecodable."""
    try:
        with Image.open(io.BytesIO(image.data)) as opened:
            opened.draft("RGB", (2048, 2048))
            return eight_bit(ImageOps.exif_transpose(opened)).convert("RGB")
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        logger.warning(
            "Skipping an undecodable %s image (%s): %s", image.role, image.mime_type, exc
        )
        return None


REFERENCE_COLOURS_NOTE = (
    "The colours came from the style's reference photos (their dominant colours, measured by"
    " median-cut quantization); choose a palette to set them yourself."
)


def _reference_colours(first: Image.Image | None, others: Sequence[InputImage]) -> list[str]:
    """The dominant colours ("#RRGGBB", most covering first) of a custom style's reference
    photos (`first` decoded, the `others` as sent), each given the same area side by side (as
    the style analysis measures a set, `studio.job_types.analyse_style.combined_palette`), by
    `generation.colours.tiles_palette`. Empty when none decodes."""
    photos = [first] if first is not None else []
    photos += [photo for photo in map(_decode, others) if photo is not None]
    if not photos:
        return []
    tiles = [ImageOps.fit(photo, PALETTE_TILE, Image.Resampling.NEAREST) for photo in photos]
    return [colour for colour, _ in tiles_palette(tiles)]


def _backdrop(photo: Image.Image, size: tuple[int, int], pal: _Palette) -> Image.Image:
    """A reference photo covering `size`, blurred and graded towards the palette."""
    fitted = ImageOps.fit(photo, size, Image.Resampling.BILINEAR)
    blurred = fitted.filter(ImageFilter.GaussianBlur(size[1] * 0.012))
    graded = ImageOps.colorize(
        blurred.convert("L"), black=pal.dark, white=pal.light, mid=pal.primary
    )
    return Image.blend(blurred, graded, 0.55)


def _shape_mask(size: tuple[int, int], shape: Literal["ellipse", "rounded"]) -> Image.Image:
    """An antialiased L mask (drawn supersampled, then reduced)."""
    factor = 4 if max(size) <= 1000 else 2
    big = Image.new("L", (size[0] * factor, size[1] * factor))
    draw = ImageDraw.Draw(big)
    box = (0, 0, big.width - 1, big.height - 1)
    if shape == "ellipse":
        draw.ellipse(box, fill=255)
    else:
        draw.rounded_rectangle(box, radius=min(big.size) * 0.12, fill=255)
    return big.reduce(factor)


def _framing(photo: Image.Image, spec: RenderSpec, index: int) -> Image.Image:
    """The photo cropped square around the face (upper middle), tightened or tilted by the spec."""
    expression, pose = spec.expression.lower(), spec.pose.lower()
    zoom = 1.18 if any(word in expression for word in _ZOOM_WORDS) else 1.0
    side = min(photo.size) / zoom
    left = (photo.width - side) / 2
    top = max(0.0, min(photo.height - side, (photo.height - side) * 0.35))
    square = photo.crop((round(left), round(top), round(left + side), round(top + side)))
    if any(word in pose for word in _TILT_WORDS):
        angle = 6 if index % 2 == 0 else -6
        margin = square.width * 0.09
        square = square.rotate(angle, resample=Image.Resampling.BICUBIC).crop(
            (
                round(margin),
                round(margin),
                round(square.width - margin),
                round(square.height - margin),
            )
        )
    return square


def _face_tile(photo: Image.Image, diameter: int, design: _Design, pal: _Palette) -> Image.Image:
    """The face as an RGBA tile about `diameter` px wide, ring and all."""
    ring_colour = design.face_ring(pal)
    ring = round(diameter * design.ring_ratio) if ring_colour else 0
    if design.face_shape == "cutout":
        face = photo.resize((diameter, diameter), Image.Resampling.BICUBIC)
        graded = ImageOps.colorize(
            face.convert("L"),
            black=pal.dark,
            white=(255, 244, 228),
            mid=_mix(pal.secondary, (190, 150, 120), 0.5),
        )
        face = Image.blend(face, graded, 0.3).convert("RGBA")
        feather = Image.new("L", (128, 128))
        ImageDraw.Draw(feather).ellipse((22, 12, 106, 134), fill=255)
        feather = feather.filter(ImageFilter.GaussianBlur(12))
        face.putalpha(feather.resize(face.size, Image.Resampling.BILINEAR))
        return face
    size = (
        (round(diameter * 0.82), diameter) if design.face_shape == "card" else (diameter, diameter)
    )
    inner = (size[0] - 2 * ring, size[1] - 2 * ring)
    face = ImageOps.fit(photo, inner, Image.Resampling.BICUBIC, centering=(0.5, 0.4))
    tile = Image.new("RGBA", size, (*(ring_colour or _BLACK), 0))
    if design.face_shape == "photo":
        tile.paste((*(ring_colour or _WHITE), 255), (0, 0, *size))
        tile.paste(face, (ring, ring))
        return tile.rotate(-2.5, resample=Image.Resampling.BILINEAR, expand=True)
    shape: Literal["ellipse", "rounded"] = "ellipse" if design.face_shape == "circle" else "rounded"
    if ring:
        tile.paste((*(ring_colour or _WHITE), 255), (0, 0), _shape_mask(size, shape))
    tile.paste(face, (ring, ring), _shape_mask(inner, shape))
    return tile


def _shadow(
    canvas: Image.Image,
    alpha: Image.Image,
    position: tuple[int, int],
    colour: RGB,
    opacity: float,
    blur: float,
    offset: tuple[int, int] = (0, 0),
) -> None:
    """Paste a blurred copy of `alpha` in `colour` under where `alpha` will go.

    The blur is computed at a reduced size (blocks of `factor` px), given its opacity there and
    scaled back by exactly that factor (`_upscaled`), which keeps 4K fast: a cut-out's glow
    took 6.0 ms at 1K and 136 at 4K when PIL scaled it back and the opacity came after, now
    3.8 and 87 (pixels within 2 levels; 2 cores, 2.0 GHz, 2026-12-05). The blocks sit on the
    canvas's grid of `factor` px, so a shadow does not depend on where `alpha` starts: a
    cut-out cropped to the frame (`_cutout_window`) casts the same shadow as the whole one.
    """
    pad = math.ceil(blur * 2.5) + 1
    factor = max(1, min(8, int(blur // 4)))
    x, y = position[0] - pad + offset[0], position[1] - pad + offset[1]
    shift_x, shift_y = x % factor, y % factor
    padded = Image.new("L", (alpha.width + 2 * pad + shift_x, alpha.height + 2 * pad + shift_y))
    padded.paste(alpha, (pad + shift_x, pad + shift_y))
    small = padded.reduce(factor) if factor > 1 else padded
    small = _scaled(small.filter(ImageFilter.GaussianBlur(blur / factor)), opacity)
    shadow = _upscaled(small, (small.width * factor, small.height * factor))
    _paint(canvas, colour, shadow, (x - shift_x, y - shift_y))


@dataclass(frozen=True)
class _Person:
    """One person to place: the best of their photos, cut out when a face was found in it."""

    photo: Image.Image
    cutout: Cutout | None


def _people(images: Sequence[InputImage]) -> list[_Person]:
    """The role="face" images grouped by `person` (in first-seen order; None: its own person),
    each person's best photo (`cutout.photo_score`: largest, sharpest frontal face) cut out.
    At most MAX_FACES people."""
    groups: dict[object, list[InputImage]] = {}
    for index, image in enumerate(images):
        if image.role == "face":
            key = ("person", image.person) if image.person is not None else ("photo", index)
            groups.setdefault(key, []).append(image)
    people = []
    for photos in list(groups.values())[:MAX_FACES]:
        measured = [photo for photo in map(_face_photo, photos) if photo is not None]
        if not measured:
            continue
        best = max(measured, key=lambda photo: photo.score)  # the first of equals
        people.append(_Person(best.image, best.cutout() if best.face else None))
    return people


def _people_with_cutouts(people: list[_Person]) -> tuple[list[_Person], list[str]]:
    """The people to draw and a note for the creator. When some of the people's photos have a
    face to cut out and some do not (a photo of a cup chosen as a face), those with one are
    drawn, large and in the creator's order, and the others are left out with a note: placed
    as round tiles beside them, every person was drawn as a small round tile (the layout sizes
    for cut-outs only when all are), and a framed photo has no corner to go to (YouTube's
    duration badge takes the bottom right, the heads and the title the rest)."""
    kept = [person for person in people if person.cutout is not None]
    if not kept or len(kept) == len(people):
        return people, []
    left_out = len(people) - len(kept)
    return kept, [
        f"{left_out} of the {len(people)} face photos {'was' if left_out == 1 else 'were'} left"
        " out: no face was found in"
        f" {'it' if left_out == 1 else 'them'} to cut out. Use a clear, front-facing photo of"
        " the person (a photo of a scene suits a style's reference images)."
    ]


class _FacePhoto:
    """A decoded face photo with its detected face box, `photo_score` and (computed when first
    asked for) its cut-out."""

    def __init__(self, image: Image.Image) -> None:
        self.image = image
        self.face = detect_face(image)
        self.score = photo_score(image, self.face)
        self._cutout: Cutout | None = None
        self._cut = False

    def cutout(self) -> Cutout | None:
        if not self._cut and self.face is not None:
            self._cutout = cut_out(self.image, self.face)
            self._cut = True
        return self._cutout


# The variations of one request (and the jobs a creator runs in a row) send the same face photos:
# each is decoded, measured and cut out once per process. A render decoded, detected and
# scored its face in 80 ms and cut it out in 100-200 ms (2 cores, 2.0 GHz EPYC, a 1 MP JPEG),
# of a 250 ms 1K render. Keyed by the upload's bytes; the last FACE_PHOTO_MEMO photos are kept
# (at most 2048 px a side after `_decode`: 12 MB each); 0 keeps none.
FACE_PHOTO_MEMO = 4
_face_photos: dict[bytes, _FacePhoto | None] = {}
_face_photos_lock = threading.Lock()


def _face_photo(image: InputImage) -> _FacePhoto | None:
    """`image` decoded and measured (None if undecodable), remembered by its bytes' SHA-256."""
    key = hashlib.sha256(image.data).digest()
    with _face_photos_lock:
        if key in _face_photos:
            return _face_photos[key]
    decoded = _decode(image)
    photo = _FacePhoto(decoded) if decoded is not None else None
    with _face_photos_lock:
        while _face_photos and len(_face_photos) >= FACE_PHOTO_MEMO:
            _face_photos.pop(next(iter(_face_photos)))
        if FACE_PHOTO_MEMO > 0:
            _face_photos[key] = photo
    return photo


def _place_cutout(
    canvas: Image.Image,
    person: Cutout,
    centre_x: float,
    face_height: float,
    face_y: float,
    design: _Design,
    pal: _Palette,
    tilt: float = 0.0,
    drawn: Image.Image | None = None,
) -> tuple[int, int, int, int]:
    """Paste the cut-out (turned `tilt` degrees about the face) scaled so its face is
    `face_height` px tall, the face centred on (`centre_x`, `face_y`), the body running off the
    bottom edge; with an outline in the style's ring colour and its glow or shadow. Returns the
    face box on the canvas; marks the person's pixels, outline included, on `drawn` (L)."""
    left_f, top_f, right_f, bottom_f = person.face
    scale, size, pivot, (left, top) = _cutout_geometry(
        person, centre_x, face_height, face_y, canvas.height
    )
    # Only the part of the scaled cut-out that can reach the canvas is drawn: a large face runs
    # well off the frame (a 512 px photo scaled to 1769x1718 on a 1376x768 canvas), and
    # resampling, outlining and blurring the rest cost more than the visible part.
    box = _cutout_window(size, (left, top), canvas.size, face_height, tilt, pivot)
    outline_colour = design.face_ring(pal) or _WHITE
    width = max(2, round(face_height * (0.045 if design.face_ring(pal) else 0.025)))
    image = _scaled_cutout(person.image, size, box, tilt, (pivot[0] - box[0], pivot[1] - box[1]))
    if design.face_shape == "cutout":  # cinematic: graded towards the palette
        graded = ImageOps.colorize(
            image.convert("L"),
            black=pal.dark,
            white=(255, 244, 228),
            mid=_mix(pal.secondary, (190, 150, 120), 0.5),
        ).convert("RGBA")
        graded.putalpha(image.getchannel("A"))
        image = Image.blend(image, graded, 0.3)
    face_box = (
        round(left + left_f * scale),
        round(top + top_f * scale),
        round(left + right_f * scale),
        round(top + bottom_f * scale),
    )
    left, top = left + box[0], top + box[1]
    alpha = image.getchannel("A")
    outline = dilated(alpha, width)
    glow = design.face_glow(pal)
    if glow is not None:
        _shadow(canvas, outline, (left, top), glow, 1.0, face_height * 0.12)
    elif design.text_shadow == "hard":
        offset = round(face_height * 0.05)
        _paint(canvas, _BLACK, outline, (left + offset, top + offset))
    elif design.face_shape == "cutout":
        _shadow(
            canvas, outline, (left, top), _tint(_vivid(pal.secondary), 0.3), 0.8, face_height * 0.1
        )
    else:
        _shadow(
            canvas,
            outline,
            (left, top),
            _BLACK,
            0.55,
            face_height * 0.08,
            (0, round(face_height * 0.03)),
        )
    if design.face_shape != "cutout":
        _paint(canvas, outline_colour, outline, (left, top))
    canvas.paste(image, (left, top), alpha)
    if drawn is not None:
        drawn.paste(255, (left, top), outline if design.face_shape != "cutout" else alpha)
    return face_box


def _scaled_cutout(
    image: Image.Image,
    size: tuple[int, int],
    box: tuple[int, int, int, int],
    tilt: float,
    pivot: tuple[float, float],
) -> Image.Image:
    """The part `box` (left, top, right, bottom) of the RGBA cut-out `image` scaled to `size`
    px, bicubic, turned `tilt` degrees anticlockwise about `pivot` (px of the part); colours
    weighted by their alpha (premultiplied), as PIL resamples RGBA.

    Scaled up (the usual case: a face photo of a few hundred pixels drawn a third of the frame
    tall, 2.9x at 1K, 11.5x at 4K), by OpenCV's resize (its cubic's a = -0.75, a touch crisper
    than PIL's -0.5): the photo's pixels that reach the part's right and bottom edges, scaled
    by the factors of the whole `size`, so each pixel lands where the whole resize puts it, and
    the part cut out; a tilt turns it bilinearly (OpenCV), the part being smooth at that
    scale. With PIL's resize (and bicubic rotation) the part took 12.6 ms at 1K and 172 at 4K
    (1081x898 and 4313x3584 px), turned 79 and 1300; now 4.1 and 78, turned 7.5 and 168 (2
    cores, 2.0 GHz, 2026-12-05). Pixels within a few levels, the outline's edge a pixel off in
    places. Scaled down (a large photo at 1K), PIL's resize as before: OpenCV's cubic would
    sample without averaging and alias."""
    width, height = box[2] - box[0], box[3] - box[1]
    fx, fy = size[0] / image.width, size[1] / image.height
    if fx < 1 or fy < 1:
        resized = image.resize(
            (width, height),
            Image.Resampling.BICUBIC,
            # in the photo's pixels, by the factors a resize to the whole `size` uses (PIL maps
            # an output pixel's centre x + 0.5 to (x + 0.5) * width / size[0]), so no pixel moves
            box=(
                box[0] * image.width / size[0],
                box[1] * image.height / size[1],
                box[2] * image.width / size[0],
                box[3] * image.height / size[1],
            ),
        )
        if tilt:
            resized = resized.rotate(tilt, resample=Image.Resampling.BICUBIC, center=pivot)
        return resized
    # From the photo's top-left corner (a part from elsewhere would start between two output
    # pixels), to 3 photo pixels past the part: the cubic reaches 2 pixels either side.
    reach = (
        min(image.width, math.ceil(box[2] / fx) + 3),
        min(image.height, math.ceil(box[3] / fy) + 3),
    )
    source = np.asarray(image.crop((0, 0, *reach)).convert("RGBa"))
    scaled = cv2.resize(source, None, fx=fx, fy=fy, interpolation=cv2.INTER_CUBIC)
    part = scaled[box[1] : box[3], box[0] : box[2]]
    if tilt:
        # PIL's `rotate` (anticlockwise on screen): the pixel at p shows the unturned part's at
        # pivot + R (p - pivot), in OpenCV's coordinates (pixel centres on whole numbers).
        cos, sin = math.cos(math.radians(tilt)), math.sin(math.radians(tilt))
        cx, cy = pivot[0] - 0.5, pivot[1] - 0.5
        turn = np.array(
            [[cos, -sin, cx - cos * cx + sin * cy], [sin, cos, cy - sin * cx - cos * cy]]
        )
        part = cv2.warpAffine(
            part,
            turn,
            (width, height),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0, 0),
        )
    return Image.frombuffer("RGBa", (width, height), np.ascontiguousarray(part)).convert("RGBA")


def _cutout_geometry(
    person: Cutout, centre_x: float, face_height: float, face_y: float, canvas_height: int
) -> tuple[float, tuple[int, int], tuple[float, float], tuple[int, int]]:
    """Where `_place_cutout` puts `person`: the scale (output px per photo px) that makes the
    face `face_height` px tall, the scaled size (px), the face centre in the scaled cut-out (the
    pivot a tilt turns about) and the cut-out's top-left on the canvas (px), the face centred on
    (`centre_x`, `face_y`) unless the body would then stop short of the bottom edge."""
    left_f, top_f, right_f, bottom_f = person.face
    scale = face_height / max(1, bottom_f - top_f)
    size = (max(1, round(person.image.width * scale)), max(1, round(person.image.height * scale)))
    pivot = ((left_f + right_f) / 2 * scale, (top_f + bottom_f) / 2 * scale)
    left = round(centre_x - pivot[0])
    top = round(face_y - pivot[1])
    if top + size[1] < canvas_height:  # no floating bust: the body meets the bottom edge
        top = canvas_height - size[1]
    return scale, size, pivot, (left, top)


def _cutout_window(
    size: tuple[int, int],
    corner: tuple[int, int],
    canvas: tuple[int, int],
    face_height: float,
    tilt: float,
    pivot: tuple[float, float],
) -> tuple[int, int, int, int]:
    """The box (left, top, right, bottom; px of the cut-out scaled to `size` and placed with its
    top-left at `corner`) that can affect the canvas: the canvas, grown by the reach of the
    outline, glow and shadow (`_place_cutout`: at most 0.045 + 2.5 x 0.12 + 0.05 = 0.395 of the
    face height, rounded up to 0.45), and, for a cut-out turned `tilt` degrees about `pivot`,
    everything that turning brings into that area. Clipped to the cut-out."""
    reach = math.ceil(face_height * 0.45) + 2
    x0: float = -corner[0] - reach
    y0: float = -corner[1] - reach
    x1: float = canvas[0] - corner[0] + reach
    y1: float = canvas[1] - corner[1] + reach
    if tilt:  # the rotated area's source: the window's corners turned back about the pivot
        cos, sin = math.cos(math.radians(tilt)), math.sin(math.radians(tilt))
        xs, ys = [x0, x1], [y0, y1]
        for x, y in ((x0, y0), (x1, y0), (x0, y1), (x1, y1)):
            dx, dy = x - pivot[0], y - pivot[1]
            for sign in (1, -1):
                xs.append(pivot[0] + dx * cos - sign * dy * sin)
                ys.append(pivot[1] + sign * dx * sin + dy * cos)
        x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
    left, top = max(0, math.floor(x0)), max(0, math.floor(y0))
    right, bottom = min(size[0], math.ceil(x1)), min(size[1], math.ceil(y1))
    if right <= left or bottom <= top:  # nothing of it reaches the canvas
        return (0, 0, 1, 1)
    return (left, top, right, bottom)


def _cutout_pose(spec: RenderSpec, index: int) -> tuple[float, float]:
    """The zoom (face height factor) and tilt (degrees) of the `index`-th cut-out person, from
    the expression and pose the creator asked for (_ZOOM_WORDS, _TILT_WORDS)."""
    expression, pose = spec.expression.lower(), spec.pose.lower()
    zoom = 1.12 if any(word in expression for word in _ZOOM_WORDS) else 1.0
    tilt = (6 if index % 2 == 0 else -6) if any(word in pose for word in _TILT_WORDS) else 0
    return zoom, tilt


OCCUPANCY_SCALE = 8  # the people's planned outline is traced at 1/8 of the output size
PEOPLE_GAP = 0.02  # the words' clearance from the people's heads, per frame height


def _people_occupancy(
    people: list[_Person], layout: _Layout, spec: RenderSpec, size: tuple[int, int]
) -> np.ndarray:
    """Where `_place_faces` will draw the people's heads, before it does: a bool array (rows,
    columns) at 1/OCCUPANCY_SCALE of `size`, each cut-out's silhouette (hair included) down to a
    quarter face height below the chin, or its round tile."""
    step = OCCUPANCY_SCALE
    mask = Image.new("L", (math.ceil(size[0] / step), math.ceil(size[1] / step)), 0)
    for index, (person, (cx, cy, diameter)) in enumerate(zip(people, layout.faces, strict=False)):
        if person.cutout is not None and layout.face_height:
            zoom, tilt = _cutout_pose(spec, index)
            _, scaled, pivot, (left, top) = _cutout_geometry(
                person.cutout, cx, layout.face_height * zoom, cy, size[1]
            )
            small = person.cutout.image.getchannel("A").resize(
                (max(1, round(scaled[0] / step)), max(1, round(scaled[1] / step))),
                Image.Resampling.BILINEAR,
            )
            # The head only, down to the chin and a quarter face below it: words may run over
            # the shoulders (a common look, and readable with the styles' outlines and
            # shadows); kept off them, a landscape title shrank for no gain.
            chin = (person.cutout.face[3] * scaled[1] / person.cutout.image.height) / step
            small = small.crop(
                (0, 0, small.width, max(1, round(chin + layout.face_height * zoom * 0.25 / step)))
            )
            if tilt:
                small = small.rotate(tilt, center=(pivot[0] / step, pivot[1] / step), expand=False)
            solid = small.point(lambda value: 255 if value > 64 else 0)
            mask.paste(255, (round(left / step), round(top / step)), solid)
        else:
            radius = diameter / 2 / step
            ImageDraw.Draw(mask).ellipse(
                (cx / step - radius, cy / step - radius, cx / step + radius, cy / step + radius),
                fill=255,
            )
    return np.asarray(mask) > 0


def _people_clash(
    runs: list[TextRun], occupied: np.ndarray, gap: float
) -> tuple[int, int, int, int] | None:
    """The box (px) round the planned lines that come within `gap` px of a person (`occupied`,
    `_people_occupancy`'s cells), or None."""
    step = OCCUPANCY_SCALE
    hits = []
    for run in runs:
        box = run.mask.getbbox()
        if box is None:
            continue
        x0, y0 = run.corner[0] + box[0] - gap, run.corner[1] + box[1] - gap
        x1, y1 = run.corner[0] + box[2] + gap, run.corner[1] + box[3] + gap
        rows = slice(max(0, math.floor(y0 / step)), max(0, math.ceil(y1 / step)))
        columns = slice(max(0, math.floor(x0 / step)), max(0, math.ceil(x1 / step)))
        if occupied[rows, columns].any():
            hits.append((round(x0), round(y0), round(x1), round(y1)))
    return _union(hits)


def _title_size(runs: list[TextRun]) -> int:
    """How large the title is drawn: its letters' pixels."""
    return sum(
        int(np.count_nonzero(np.asarray(run.mask))) for run in runs if run.kind != "subtitle"
    )


def _text_clear_of_people(
    canvas: Image.Image,
    spec: RenderSpec,
    layout: _Layout,
    design: _Design,
    pal: _Palette,
    scale: int,
    people: list[_Person],
) -> tuple[_Layout, list[TextRun], np.ndarray]:
    """`layout` changed so that the planned words keep 2 % of the frame height clear of the
    people's heads (`_people_occupancy`), the words as planned in it (`_place_text`'s
    `planned_only` runs) and the people's occupancy in it. `_layout` leaves room for an
    average head; a head of big hair reached into the title in Shorts, squares and 4:3.

    Each round tries the moves that clear the words the overlap touches: the box's bottom
    raised above the people; beside them (landscape), its inner edge pulled back, or the people
    moved towards their edge by up to 8 % of the width (their faces staying in the frame); above
    them, the people lowered by up to 12 % of the frame height. It keeps the one whose title is
    drawn largest without being shortened. At most three rounds; a box narrower
    than 30 % of the frame or shorter than 15 % is not tried."""
    width, height = canvas.size
    gap = height * PEOPLE_GAP
    step = OCCUPANCY_SCALE
    beside = width / height >= 1.2
    lowered = 0.0  # how far the people were moved down, px
    moved = 0.0  # and sideways

    def plan(candidate: _Layout, fitted: _Fitted | None = None) -> tuple[list[TextRun], list[str]]:
        return _place_text(
            canvas, spec, candidate, design, pal, scale, planned_only=True, fitted=fitted
        )

    occupied = _people_occupancy(people, layout, spec, canvas.size)
    first = layout
    runs, notes = plan(layout)
    for _ in range(3):
        hit = _people_clash(runs, occupied, gap)
        if hit is None:
            break
        left, top, right, bottom = layout.text_box
        hit_rows = slice(max(0, hit[1] // step), max(0, math.ceil(hit[3] / step)))
        hit_columns = slice(max(0, hit[0] // step), max(0, math.ceil(hit[2] / step)))
        candidates: list[_Layout] = []
        # The people's rows under the clashing lines' columns: the bottom goes above them.
        people_rows = np.nonzero(occupied[:, hit_columns].any(axis=1))[0] * step
        below_top = people_rows[people_rows >= top]
        if below_top.size and below_top.min() - gap - top >= height * 0.15:
            candidates.append(
                dataclasses.replace(
                    layout, text_box=(left, top, right, round(below_top.min() - gap))
                )
            )
        # Beside them, the people's columns in the clashing lines' rows, on the people's side.
        taken = np.nonzero(occupied[hit_rows, :].any(axis=0))[0] * step
        mirrored = layout.align == "right"  # the people on the left
        taken = taken[taken < right] if mirrored else taken[taken >= left]
        if beside and taken.size:
            # the inner edge moves...
            if mirrored:
                edge = (round(taken.max() + step + gap), right)
                overlap = float(taken.max() + 2 * step - hit[0])
            else:
                edge = (left, round(taken.min() - gap))
                overlap = float(hit[2] - taken.min() + step)
            if edge[1] - edge[0] >= width * 0.3:
                candidates.append(
                    dataclasses.replace(layout, text_box=(edge[0], top, edge[1], bottom))
                )
            # ...or the people move towards their edge of the frame, by up to 8 % of its
            # width, never so far that a face (about 0.9 face heights wide) leaves it
            half_face = layout.face_height * 0.45 + width * 0.02
            centres = [cx for cx, _, _ in layout.faces]
            room = min(centres) - half_face if mirrored else width - max(centres) - half_face
            shift = max(0.0, min(overlap, width * 0.08 - moved, room)) * (-1 if mirrored else 1)
            if shift:
                candidates.append(
                    dataclasses.replace(
                        layout,
                        faces=[(cx + shift, cy, d) for cx, cy, d in layout.faces],
                        focus=(layout.focus[0] + shift, layout.focus[1]),
                    )
                )
        elif not beside and people_rows.size:  # text above the people: lower them
            # (the occupancy's cells are `step` px: a head one cell below the words' edge
            # still clashes, and needs a cell's move)
            drop = min(hit[3] - people_rows.min() + step, height * 0.12 - lowered)
            if drop > 0:
                candidates.append(
                    dataclasses.replace(
                        layout,
                        faces=[(cx, cy + drop, d) for cx, cy, d in layout.faces],
                        focus=(layout.focus[0], layout.focus[1] + drop),
                    )
                )
        if not candidates:
            break
        # The choice falls on the largest title among the candidates that shorten no more
        # than the first plan did (or among all, if none): only those are set (drawn), and when
        # there is one, it is not measured. Setting every candidate's words was a third of a
        # 1K render with a face (a bold-gaming title with its two outlines: 14-19 ms).
        fits = [_fit_text(canvas.size, spec, candidate, design, pal) for candidate in candidates]
        choice = [i for i, fit in enumerate(fits) if len(fit.notes) <= len(notes)]
        choice = choice or list(range(len(candidates)))
        planned = [(i, plan(candidates[i], fits[i])[0]) for i in choice]
        if len(planned) > 1:
            planned = [max(planned, key=lambda option: _title_size(option[1]))]  # first largest
        ((index, runs),) = planned
        layout = candidates[index]
        lowered = layout.faces[0][1] - first.faces[0][1]
        moved = abs(layout.faces[0][0] - first.faces[0][0])
        occupied = _people_occupancy(people, layout, spec, canvas.size)
    return layout, runs, occupied


BADGE_GAP = 0.015  # the words' clearance from YouTube's duration badge, per frame height
BADGE_TOP_MARGIN = 0.05  # how close to the top a box moved up from the badge may start
BADGE_KEEPS_TITLE = 0.85  # an earlier move is kept while its title is this share of the largest


def _under_badge(
    runs: list[TextRun], zones: list[tuple[float, float, float, float]], gap: float
) -> list[tuple[float, float, float, float]]:
    """The zones (`badge_zones`, px) that a run's `box` (plates included) comes within `gap`
    px of."""
    hit = []
    for zone in zones:
        for run in runs:
            box = run.box
            if box is None:
                continue
            if (
                box[0] - gap < zone[2]
                and box[2] + gap > zone[0]
                and box[1] - gap < zone[3]
                and box[3] + gap > zone[1]
            ):
                hit.append(zone)
                break
    return hit


def _text_clear_of_badge(
    canvas: Image.Image,
    spec: RenderSpec,
    layout: _Layout,
    design: _Design,
    pal: _Palette,
    runs: list[TextRun],
    occupied: np.ndarray | None = None,
) -> tuple[_Layout, list[TextRun]]:
    """`layout` changed so that no planned run (`runs`, as `_place_text(planned_only=True)`
    gives them: title, sub-line and its plate) comes within BADGE_GAP of the frame height of
    where YouTube's duration badge covers the frame at any of its display sizes
    (`generation.display.badge_zones`), and the runs as planned in it. Right-aligned text
    beside a face on the left ran down into the bottom-right corner: the badge hid the
    sub-line's last word at 168x94 ("The Honest Review" lost "Review").

    Each round tries, for a centred block, the box narrowed on both sides to end left of the
    zones hit; then the box's bottom raised above them (the box moved up first, its top kept
    BADGE_TOP_MARGIN of the frame height from the edge), its right edge pulled left of them,
    and both; a candidate whose words would come within PEOPLE_GAP of the
    people (`occupied`, `_people_occupancy`) or whose box is shorter than 15 % of the frame or
    narrower than 30 % is not tried. Of those that clear the badge (else of all), the least
    shortened; among them the first in that order whose title is drawn at least
    BADGE_KEEPS_TITLE as large as the largest. At most three rounds."""
    width, height = canvas.size
    zones = badge_zones(width, height)
    gap = height * BADGE_GAP
    for _ in range(3):
        hit = _under_badge(runs, zones, gap)
        if not hit:
            break
        left, top, right, bottom = layout.text_box
        raised = min(bottom, math.floor(min(zone[1] for zone in hit) - gap) - 1)
        pulled = min(right, math.floor(min(zone[0] for zone in hit) - gap) - 1)
        # the box moved up as far as the top margin allows, then shortened
        lifted = max(min(top, round(height * BADGE_TOP_MARGIN)), top - (bottom - raised))
        # a centred block narrowed on both sides stays centred (a cinematic lower third)
        centred = layout.align == "center"
        narrowed = [(left + right - pulled, top, pulled, bottom)] if centred else []
        boxes = [
            box
            for box in [
                *narrowed,
                (left, lifted, right, raised),
                (left, top, pulled, bottom),
                (left, lifted, pulled, raised),
            ]
            if box != layout.text_box
            and box[3] - box[1] >= height * 0.15
            and box[2] - box[0] >= width * 0.3
        ]
        options = []
        # No candidate's box is larger than the current one, so neither is its title: the
        # first that clears the badge unshortened with its title BADGE_KEEPS_TITLE of the
        # current one's is the choice below, and the rest need not be set (each candidate set
        # is ~5 ms of a 1K render's ~90).
        ceiling = _title_size(runs)
        for box in boxes:
            candidate = dataclasses.replace(layout, text_box=box)
            fit = _fit_text(canvas.size, spec, candidate, design, pal)
            planned, _ = _place_text(  # (the scale only matters to what is drawn)
                canvas, spec, candidate, design, pal, 1, planned_only=True, fitted=fit
            )
            if occupied is not None and _people_clash(planned, occupied, height * PEOPLE_GAP):
                continue
            clear = not _under_badge(planned, zones, gap)
            size = _title_size(planned)
            options.append((candidate, planned, clear, len(fit.notes), size))
            if clear and not fit.notes and size >= BADGE_KEEPS_TITLE * ceiling:
                options = options[-1:]
                break
        # The clear ones if any, then the least shortened, then the first in order drawn
        # nearly as large as the largest.
        options = [option for option in options if option[2]] or options
        if not options:
            break
        fewest = min(option[3] for option in options)
        options = [option for option in options if option[3] == fewest]
        largest = max(option[4] for option in options)
        layout, runs, *_ = next(
            option for option in options if option[4] >= BADGE_KEEPS_TITLE * largest
        )
    return layout, runs


def _place_faces(
    canvas: Image.Image,
    people: list[_Person],
    layout: _Layout,
    design: _Design,
    pal: _Palette,
    spec: RenderSpec,
    drawn: Image.Image | None = None,
) -> list[tuple[int, int, int, int]]:
    """Place each person in their slot (the creator's order, left to right); the first person is
    drawn last, on top. Returns the cut-out face boxes placed, in the people's order; marks
    the people's pixels on `drawn` (L, the canvas's size)."""
    glow = design.face_glow(pal)
    boxes: dict[int, tuple[int, int, int, int]] = {}
    slots = list(zip(people, layout.faces, strict=False))
    for index in reversed(range(len(slots))):
        person, (cx, cy, diameter) = slots[index]
        if person.cutout is not None and layout.face_height:
            zoom, tilt = _cutout_pose(spec, index)
            boxes[index] = _place_cutout(
                canvas,
                person.cutout,
                cx,
                layout.face_height * zoom,
                cy,
                design,
                pal,
                tilt,
                drawn,
            )
            continue
        tile = _face_tile(_framing(person.photo, spec, index), round(diameter), design, pal)
        corner = (round(cx - tile.width / 2), round(cy - tile.height / 2))
        alpha = tile.getchannel("A")
        if design.face_shape == "cutout":
            _shadow(canvas, alpha, corner, _BLACK, 0.35, diameter * 0.06)
        elif glow is not None:
            _shadow(canvas, alpha, corner, glow, 1.0, diameter * 0.06)
        elif design.text_shadow == "hard":
            offset = round(diameter * 0.035)
            _paint(canvas, _BLACK, alpha, (corner[0] + offset, corner[1] + offset))
        else:
            offset = round(diameter * 0.02)
            _shadow(canvas, alpha, corner, _BLACK, 0.6, diameter * 0.035, (offset, offset * 2))
        canvas.paste(tile, corner, tile)
        if drawn is not None:
            drawn.paste(255, corner, alpha)
    return [boxes[i] for i in sorted(boxes)]


# --- text --------------------------------------------------------------------------------------


READING_SHARE = 0.1  # the title's smallest font size per frame height: 18 px at 320x180
SUB_READING_SHARE = 0.055  # the sub-line's: 10 px at 320x180
CONTRAST_TARGET = 4.5  # WCAG 2.x AA for normal text (success criterion 1.4.3)
DISPLAY_HEIGHT = 180  # contrast is measured as the viewer sees it: a 320x180 thumbnail
_WEAK_WORDS = frozenset(
    {
        *("a", "an", "the", "of", "to", "in", "on", "at", "for", "and", "or", "with", "my"),
        *("your", "our", "his", "her", "their", "is", "are", "was", "were", "be", "this", "that"),
        *("these", "those", "it", "its", "i", "you", "we", "they", "how", "why", "what", "when"),
        *("so", "just", "really", "very", "from", "by", "about", "into", "up", "out", "ever"),
    }
)


def _linear(c: np.ndarray) -> np.ndarray:
    """sRGB channel values (0..1) linearised (WCAG 2.x)."""
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


# Every 8-bit channel value linearised once: looking pixels up is the same floats as computing
# them, without a power per channel of every pixel measured.
_LINEAR = _linear(np.arange(256, dtype=np.float64) / 255)
_LUMA_WEIGHTS = np.array([0.2126, 0.7152, 0.0722])


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG 2.x relative luminance of sRGB pixels (..., 3) in 0..255."""
    if rgb.dtype == np.uint8:
        return _LINEAR[rgb] @ _LUMA_WEIGHTS
    return _linear(rgb.astype(np.float64) / 255) @ _LUMA_WEIGHTS


def contrast_ratio(a: float, b: float) -> float:
    """WCAG contrast ratio of two relative luminances, 1..21."""
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


def measure_contrast(image: Image.Image, mask: Image.Image, corner: tuple[int, int]) -> float:
    """The contrast of text against the pixels right around it, as seen at DISPLAY_HEIGHT: the
    lowest of its words' (`_words`), so a title that runs from a light background onto a dark
    shape is as readable as its worst word, not as its median one.

    `mask` (L) marks the letters' fill, its top-left at `corner` on `image` (the finished
    picture). Returns a WCAG ratio (`_word_contrast`), 21.0 when the text is too small to
    measure.
    """
    return min(
        _word_contrast(image, mask.crop(box), (corner[0] + box[0], corner[1] + box[1]))
        for box in _words(mask)
    )


def _words(mask: Image.Image) -> list[tuple[int, int, int, int]]:
    """The boxes (left, top, right, bottom; px of `mask`) of the text's words: its lines split
    at rows without letters, each line at gaps of at least a quarter of its ink height (a word
    space with its side bearings is about a third of the font size). Wide letter gaps may split
    a word too, which only measures it more finely. The whole mask when it has no letters."""
    letters = np.asarray(mask) > 25
    boxes = []
    for top, bottom in _runs(np.asarray(letters.any(axis=1)), 1):
        line = np.asarray(letters[top:bottom].any(axis=0))
        for left, right in _runs(line, max(2, (bottom - top) // 4)):
            boxes.append((left, top, right, bottom))
    return boxes or [(0, 0, mask.width, mask.height)]


def _runs(present: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """The [start, end) spans of True in `present`, joined across gaps shorter than `gap`."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], present.astype(np.int8), [0]))))
    spans: list[tuple[int, int]] = []
    for start, end in zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True):
        if spans and start - spans[-1][1] < gap:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def _word_contrast(image: Image.Image, mask: Image.Image, corner: tuple[int, int]) -> float:
    """`mask` and `image` scaled to the display size; the fill is where the mask is over 60 %,
    the surround the pixels within 2 display px of the letters that are not letter. The WCAG
    ratio of the median fill luminance and the surround's luminance nearest to it (its 70th
    percentile towards the fill), or 21.0 when the text is too small to measure."""
    factor = min(1.0, DISPLAY_HEIGHT / min(image.size))
    pad = math.ceil(3 / factor)
    box = (
        corner[0] - pad,
        corner[1] - pad,
        corner[0] + mask.width + pad,
        corner[1] + mask.height + pad,
    )
    region = image.crop(box)
    if region.mode != "RGB":
        region = region.convert("RGB")
    full_mask = Image.new("L", region.size)
    full_mask.paste(mask, (pad, pad))
    size = (max(1, round(region.width * factor)), max(1, round(region.height * factor)))
    if factor < 1:
        region = region.resize(size, Image.Resampling.BOX)
        full_mask = full_mask.resize(size, Image.Resampling.BOX)
    letters = np.asarray(full_mask)
    core = letters > 153
    if core.sum() < 4:
        return 21.0
    glyph = (letters > 25).astype(np.uint8)
    near = cv2.dilate(glyph, np.ones((5, 5), np.uint8)).astype(bool) & ~glyph.astype(bool)
    if near.sum() < 4:
        return 21.0
    lum = _luminance(np.asarray(region))
    fill = _median(lum[core])
    around = lum[near]
    nearest = _percentile(around, 70 if fill > _median(around) else 30)
    return contrast_ratio(fill, nearest)


# `np.median` and `np.percentile` took 0.17 ms of a measured word's 0.48 (mostly checking
# their arguments: three small arrays a word). These pick the same order statistics with
# `np.partition` and combine them with the same float operations, so they return the same
# floats (tests/test_local_renderer.py compares them): 0.04 ms, the word 0.35 (cProfile of
# render_cpu's 1K cases, 2 cores, 2.0 GHz, 2026-12-05).


def _median(values: np.ndarray) -> float:
    """`float(np.median(values))` of a non-empty 1-D float64 array without NaNs."""
    half = values.size // 2
    if values.size % 2:
        return float(np.partition(values, half)[half])
    low, high = np.partition(values, [half - 1, half])[half - 1 : half + 1]
    return float((low + high) / 2)


def _percentile(values: np.ndarray, q: int) -> float:
    """`float(np.percentile(values, q))` (linear interpolation) of a non-empty 1-D float64
    array without NaNs."""
    virtual = (values.size - 1) * (q / 100)
    if virtual >= values.size - 1:
        return float(values.max())
    below = math.floor(virtual)
    low, high = np.partition(values, [below, below + 1])[below : below + 2]
    weight = virtual - below
    step = high - low
    # numpy's lerp: from the nearer end, so the weight 1 lands on `high` exactly
    return float(high - step * (1 - weight) if weight >= 0.5 else low + step * weight)


@dataclass(frozen=True)
class TextRun:
    """One drawn text run for `Rendered.texts`: which line, its fill mask on the canvas at
    `corner`, the contrast measured after adjustment and `extent`, the box (canvas px: left,
    top, right, bottom) of everything drawn for its block: the letters with their outlines and
    the plate behind them (a boxed sub-line's, or the last-resort backing plate), shadows
    left out. The fill mask alone missed a sub-line's plate reaching under YouTube's badge."""

    kind: Literal["title", "emphasis", "subtitle"]
    corner: tuple[int, int]
    mask: Image.Image
    contrast: float
    extent: tuple[int, int, int, int] | None = None

    @property
    def box(self) -> tuple[int, int, int, int] | None:
        """`extent`, or the fill mask's box on the canvas when it was not recorded."""
        if self.extent is not None:
            return self.extent
        inked = self.mask.getbbox()
        if inked is None:
            return None
        x, y = self.corner
        return (x + inked[0], y + inked[1], x + inked[2], y + inked[3])


def _bare(word: str) -> str:
    return word.strip(".,!?:;\"'()").lower()


def _word_strength(word: str) -> float:
    """How much a word carries a title: numbers and shouted words most, filler least."""
    bare = _bare(word)
    if any(char.isdigit() for char in word):
        return 4.0
    if bare in _WEAK_WORDS:
        return 0.5
    if word.isupper() and len(word) > 1:
        return 3.0
    return 1.0 + min(len(bare), 10) / 10


_CLAUSE_BREAKS = frozenset({"and", "but", "so", "because", "while", "-", "\u2014", "\u2013", "|"})


# A shortened title never ends on these: "I Quit My $200K Job To" or "We Tried Every" dangle.
_DANGLING = _WEAK_WORDS | frozenset({"every", "all", "some", "no", "not", "than", "vs", "vs."})


_STRETCHED = re.compile(r"([^\W\d_])\1{4,}|([!?.])\2{3,}")


def unstretched(text: str) -> str:
    """`text` with its stretched letters and punctuation squeezed the way a designer would
    letter a scream: a run of one letter longer than four keeps four, of "!", "?" or "."
    longer than three keeps three ("NOOOOOOOOOOOOOOOO!!" -> "NOOOO!!", "WHAT?!?!" stays).
    A word like that has no hyphenation points, so it set the title as one hairline."""
    return _STRETCHED.sub(lambda m: m.group()[: 4 if m.group(1) else 3], text)


def shorten(text: str, fits: Callable[[str], bool]) -> str:
    """`text` cut the way a designer would until `fits(text)`: the longest opening clause that
    fits (the hook comes first: cut before "and", "but", "so", a dash...), else the strongest run
    of consecutive words that fits, so it still reads as a phrase ("The Truth About Living On $10
    A Day For A Month" -> "Living On $10 A Day"; dropping words here and there gave "Truth Living
    $10 Day"). A run scores its words' strength (numbers and shouted words most, filler nothing),
    plus one for starting where the title starts (the hook, "I Quit My $200K Job"), minus a half
    for starting on a filler word ("On $10 A Day"); it never ends on a filler word or splits a
    number from the word it counts ("30 Days"), and has at least 2 words. Ties go to the
    earlier, then the longer run. If no run fits: the opening 2 words."""
    words = text.split()
    for end in range(len(words) - 1, 1, -1):
        if words[end].lower() in _CLAUSE_BREAKS or words[end - 1].endswith((",", ";")):
            clause = " ".join(words[:end]).rstrip(",;")
            if fits(clause):
                return clause

    def weight(word: str) -> float:
        return 0.0 if _bare(word) in _WEAK_WORDS else _word_strength(word)

    best: tuple[float, int, int] | None = None  # (score, -start, length): max wins
    phrase = " ".join(words[:2])  # no run fits: the opening 2 words
    for start in range(len(words)):
        first = _bare(words[start])
        bonus = 1.0 if start == 0 else -0.5 if first in _WEAK_WORDS else 0.0
        strength = weight(words[start])
        for stop in range(start + 2, len(words) + 1):
            last = words[stop - 1]
            strength += weight(last)
            run = " ".join(words[start:stop]).rstrip(",;:")
            if not fits(run):
                break  # a longer run from the same start is wider still
            if _bare(last) in _DANGLING:
                continue
            if (
                any(char.isdigit() for char in last)
                and stop < len(words)
                and _bare(words[stop]) not in _WEAK_WORDS
            ):
                continue  # a number keeps what it counts: "30 Days", not "30"
            key = (strength + bonus, -start, stop - start)
            if best is None or key > best:
                best, phrase = key, run
    return phrase


def _paste_text(
    canvas: Image.Image, block: SetText, corner: tuple[int, int], design: _Design, scale: int
) -> None:
    alpha = block.image.getchannel("A")
    if design.text_shadow == "soft":
        _shadow(
            canvas, alpha, corner, _BLACK, 0.7, block.size * 0.08, (0, round(block.size * 0.04))
        )
    elif design.text_shadow == "hard":
        offset = max(scale, round(block.size * 0.07))
        _paint(canvas, _BLACK, alpha, (corner[0] + offset, corner[1] + offset))
    canvas.paste(block.image, corner, block.image)


def _other(colour: RGB) -> RGB:
    """White or ink, whichever contrasts more with `colour`."""
    lum = float(_luminance(np.array(colour)))
    return _WHITE if contrast_ratio(lum, 1.0) >= contrast_ratio(lum, 0.0) else _INK


def _candidates(look: TextLook) -> list[TextLook]:
    """The look, then ever safer versions of it: emphasis dropped, a strong outline in the colour
    opposite the fill, the fill itself white or ink."""
    strong = max(look.stroke_ratio, 0.1)
    outlined = dataclasses.replace(look, stroke=_other(look.fill), stroke_ratio=strong)
    plain = dataclasses.replace(look, emphasis=None)
    flipped = dataclasses.replace(
        look, fill=_other(look.stroke), stroke=look.stroke, stroke_ratio=strong, emphasis=None
    )
    return [look, plain, dataclasses.replace(outlined, emphasis=None), flipped]


_RENDER_MEMO = threading.local()  # this thread's render: set_text's blocks, by their inputs


def _set_text(
    text: str, look: TextLook, box: tuple[int, int], min_size: int, max_size: int
) -> SetText | None:
    """`set_text`, remembered for the rest of this thread's render (`LocalRenderer.render`):
    a render sets its words several times with the same inputs (each plan that keeps them
    clear of the people, the draw, the contrast check's first look). The blocks are only read
    (pasted, their alpha taken), never changed."""
    memo: dict[tuple[object, ...], SetText | None] | None = getattr(_RENDER_MEMO, "blocks", None)
    if memo is None:
        return set_text(text, look, box, min_size=min_size, max_size=max_size)
    key = (text, look, box, min_size, max_size)
    if key not in memo:
        memo[key] = set_text(text, look, box, min_size=min_size, max_size=max_size)
    return memo[key]


def _block_extent(
    block: SetText, corner: tuple[int, int], pads: tuple[int, int] = (0, 0)
) -> tuple[int, int, int, int]:
    """The box (canvas px) of `block`'s ink at `corner`, grown by a plate's `pads` (x, y)."""
    if pads != (0, 0):  # the plate is round the whole block, not only its ink
        inked = (0, 0, block.image.width, block.image.height)
    else:
        inked = block.image.getchannel("A").getbbox() or (0, 0, 0, 0)
    return (
        corner[0] + inked[0] - pads[0],
        corner[1] + inked[1] - pads[1],
        corner[0] + inked[2] + pads[0],
        corner[1] + inked[3] + pads[1],
    )


def _draw_checked(
    canvas: Image.Image,
    text: str,
    looks: list[TextLook],
    box: tuple[int, int],
    place: Callable[[SetText], tuple[int, int]],
    draw: Callable[[Image.Image, SetText, tuple[int, int]], None],
    sizes: tuple[int, int],
    kind: Literal["title", "subtitle"],
    pads: tuple[int, int] = (0, 0),
) -> tuple[SetText, list[TextRun]] | None:
    """Draw `text` with the first look whose every run meets CONTRAST_TARGET against what is
    behind it (measured on the result); if none does, on a backing plate. Returns the block and
    its runs' measurements. `pads` (x, y px): how far a plate that `draw` puts behind the block
    reaches past it on each side, for the runs' `extent`."""
    for attempt, look in enumerate([*looks, None]):
        if look is None:  # the last resort: a backing plate behind the safest look
            look = looks[-1]
        block = _set_text(text, look, box, sizes[0], sizes[1])
        if block is None:
            return None
        corner = place(block)
        # The look is tried on the canvas itself, and what it may have drawn over is put back if
        # it fails: copying the whole canvas for each try, and pasting it back, was 120 ms of a
        # 4K render (5504x3072 RGB, 68 MB a copy). Everything `draw` paints (outlines, shadows,
        # a plate and its shadow) lies within TRIAL_REACH font sizes of the block.
        trial = canvas
        reach = math.ceil(TRIAL_REACH * block.size) + 64
        kept_box = (
            max(0, corner[0] - reach),
            max(0, corner[1] - reach),
            min(canvas.width, corner[0] + block.image.width + reach),
            min(canvas.height, corner[1] + block.image.height + reach),
        )
        kept = canvas.crop(kept_box)
        extent = _block_extent(block, corner, pads)
        if attempt == len(looks):
            pad = round(block.size * 0.18)
            plate = (
                corner[0] - pad,
                corner[1] - pad,
                corner[0] + block.image.width + pad,
                corner[1] + block.image.height + pad,
            )
            extent = (
                min(extent[0], plate[0]),
                min(extent[1], plate[1]),
                max(extent[2], plate[2]),
                max(extent[3], plate[3]),
            )
            overlay = Image.new("L", trial.size)
            ImageDraw.Draw(overlay).rounded_rectangle(plate, radius=pad, fill=round(255 * 0.88))
            _paint(trial, _other(look.fill), overlay)
        draw(trial, block, corner)
        runs = []
        for run_kind, mask in (
            (kind, block.fill_mask),
            ("emphasis" if kind == "title" else kind, block.emphasis_mask),
        ):
            if mask is not None and mask.getbbox():
                contrast = measure_contrast(trial, mask, corner)
                runs.append(TextRun(run_kind, corner, mask, contrast, extent))  # type: ignore[arg-type]
        if all(run.contrast >= CONTRAST_TARGET for run in runs) or attempt == len(looks):
            return block, runs
        canvas.paste(kept, kept_box[:2])
    return None


# How far (font sizes of the block) `_draw_checked`'s drawing reaches past the block: a
# sub-line's plate (0.45) and the plate's shadow (2.5 x 0.12 blur, 0.06 down) reach 0.81.
TRIAL_REACH = 2.0


@dataclass(frozen=True)
class _Fitted:
    """What `_fit_text` decided for a layout before anything is drawn: the words to set (the
    title shortened, the sub-line shortened or left out: `notes` say so), their looks, the
    title's box and the font sizes' bounds (px). `title` empty: nothing to set."""

    title: str
    subtitle: str
    notes: tuple[str, ...]
    title_look: TextLook
    sub_look: TextLook
    plate: RGB | None
    title_box: tuple[int, int]
    title_min: int
    title_max: int
    sub_min: int


def _fit_text(
    size: tuple[int, int], spec: RenderSpec, layout: _Layout, design: _Design, pal: _Palette
) -> _Fitted:
    """The words `_place_text` sets in `layout` on a frame of `size` px, each at least its
    reading size (READING_SHARE, SUB_READING_SHARE of the frame height), shortened by `shorten`
    or the sub-line dropped when it would have to be smaller. Measures, never draws."""
    title, subtitle = visible_text(spec.title), visible_text(spec.subtitle)
    if not title:
        title, subtitle = subtitle, ""
    left, top, right, bottom = layout.text_box
    box_w, box_h = right - left, bottom - top
    notes: list[str] = []
    height = min(size)  # a Short's type is read against its width
    title_min = max(1, round(height * READING_SHARE))
    sub_min = max(1, round(height * SUB_READING_SHARE))
    title_max = round(height * 0.34)
    plate = design.subtitle_plate(pal)
    sub_look = dataclasses.replace(design.subtitle(pal), align=layout.align)
    title_look = dataclasses.replace(
        design.title(pal), align=layout.align, max_lines=4 if box_w < box_h * 1.2 else 3
    )
    if not title or box_w < 8 or box_h < 8:
        return _Fitted(
            "", "", (), title_look, sub_look, plate, (box_w, box_h), title_min, title_max, sub_min
        )

    title_share = 0.68 if subtitle else 1.0
    title_box = (box_w, round(box_h * title_share))

    def title_fits(text: str) -> bool:
        return title_size(text) >= title_min

    def title_size(text: str) -> float:
        return fitted_size(text, title_look, title_box, min_size=title_min, max_size=title_max)

    squeezed = unstretched(title)
    if squeezed != title and title_size(title) < 0.6 * title_size(squeezed):
        shorter = squeezed if title_fits(squeezed) else shorten(squeezed, title_fits)
        notes.append(f'The title was shortened to "{shorter}" to stay readable at small sizes.')
        title = shorter
    elif not title_fits(title):
        shorter = shorten(title, title_fits)
        if shorter != title:
            notes.append(f'The title was shortened to "{shorter}" to stay readable at small sizes.')
            title = shorter
    main_size = fitted_size(title, title_look, title_box, min_size=title_min, max_size=title_max)
    if subtitle:
        sub_max = max(1, round(main_size * 0.55))
        pad_x, pad_y = (round(sub_max * 0.45), round(sub_max * 0.22)) if plate else (0, 0)
        title_h_est = main_size * (1.02 + 1.06 * 2)
        room = (
            box_w - 2 * pad_x,
            max(1, round(box_h - min(title_h_est, box_h * title_share) - 2 * pad_y)),
        )
        sub_size = fitted_size(subtitle, sub_look, room, min_size=sub_min, max_size=sub_max)
        if sub_size < sub_min:
            shorter = shorten(
                subtitle,
                lambda text: (
                    fitted_size(text, sub_look, room, min_size=sub_min, max_size=sub_max) >= sub_min
                ),
            )
            if fitted_size(shorter, sub_look, room, min_size=sub_min, max_size=sub_max) >= sub_min:
                notes.append(f'The sub-line was shortened to "{shorter}" to stay readable.')
                subtitle = shorter
            else:
                notes.append(f'The sub-line "{subtitle}" was left out: it would not be readable.')
                subtitle = ""
            if not subtitle:
                title_box = (box_w, box_h)
    return _Fitted(
        title,
        subtitle,
        tuple(notes),
        title_look,
        sub_look,
        plate,
        title_box,
        title_min,
        title_max,
        sub_min,
    )


def _place_text(
    canvas: Image.Image,
    spec: RenderSpec,
    layout: _Layout,
    design: _Design,
    pal: _Palette,
    scale: int,
    *,
    planned_only: bool = False,
    fitted: _Fitted | None = None,
) -> tuple[list[TextRun], list[str]]:
    """Draw the title and sub-line readable: the words `_fit_text` sets (or `fitted`, what it
    returned for these arguments), each run at CONTRAST_TARGET. Returns the runs and notes.

    `planned_only`: nothing is drawn; the runs are where the words are planned to go (each
    block's alpha at its corner, contrast 0), for a decoration that keeps clear of them."""
    fit = fitted or _fit_text(canvas.size, spec, layout, design, pal)
    notes = list(fit.notes)
    if not fit.title:
        return [], notes
    title, subtitle, plate = fit.title, fit.subtitle, fit.plate
    title_look, sub_look, title_box = fit.title_look, fit.sub_look, fit.title_box
    title_min, title_max, sub_min = fit.title_min, fit.title_max, fit.sub_min
    left, top, right, bottom = layout.text_box
    box_w, box_h = right - left, bottom - top
    main = _set_text(title, title_look, title_box, title_min, title_max)
    if main is None:
        return [], notes
    sub = None
    if subtitle:
        sub_max = max(1, round(main.size * 0.55))
        pad_x, pad_y = (round(sub_max * 0.45), round(sub_max * 0.22)) if plate else (0, 0)
        room = (
            box_w - 2 * pad_x,
            max(1, box_h - main.image.height - round(main.size * 0.22) - 2 * pad_y),
        )
        sub = _set_text(subtitle, sub_look, room, sub_min, sub_max)
    gap = round(main.size * 0.22)
    pad_x, pad_y = (round(sub.size * 0.45), round(sub.size * 0.22)) if sub and plate else (0, 0)
    stack = main.image.height + (gap + sub.image.height + 2 * pad_y if sub else 0)
    kicker = round(main.size * 0.12) if design.kicker else 0
    free = max(0, box_h - stack)
    valign = layout.valign
    y = top + {"top": kicker * 2, "middle": free // 2, "bottom": free}[valign]
    y = min(y, top + free)

    def x_for(width: int, rtl: bool) -> int:
        if layout.align == "center":
            return left + (box_w - width) // 2
        if layout.align == "right":
            return right - width
        return right - width if rtl else left

    main_x = x_for(main.image.width, main.rtl)
    if planned_only:
        title_corner = (main_x, y)
        planned = [
            TextRun(
                "title",
                title_corner,
                main.image.getchannel("A"),
                0.0,
                _block_extent(main, title_corner),
            )
        ]
        if sub is not None:
            sub_corner = (
                x_for(sub.image.width + 2 * pad_x, sub.rtl) + pad_x,
                y + main.image.height + gap + pad_y,
            )
            planned.append(
                TextRun(
                    "subtitle",
                    sub_corner,
                    sub.image.getchannel("A"),
                    0.0,
                    _block_extent(sub, sub_corner, (pad_x, pad_y)),
                )
            )
        return planned, notes
    if kicker and y - kicker * 2 >= 0:
        bar_w = round(min(box_w, main.image.width) * 0.22)
        bar_x = main_x + (main.image.width - bar_w if main.rtl or layout.align == "right" else 0)
        if layout.align == "center":
            bar_x = left + (box_w - bar_w) // 2
        ImageDraw.Draw(canvas).rectangle(
            (bar_x, y - kicker * 2, bar_x + bar_w, y - kicker), fill=pal.accent
        )
    runs: list[TextRun] = []
    title_y = y
    drawn = _draw_checked(
        canvas,
        title,
        _candidates(title_look),
        title_box,
        lambda block: (x_for(block.image.width, block.rtl), title_y),
        lambda target, block, corner: _paste_text(target, block, corner, design, scale),
        (title_min, title_max),
        "title",
    )
    if drawn is None:
        return runs, notes
    main, main_runs = drawn
    runs += main_runs
    if sub is None:
        return runs, notes
    y += main.image.height + gap
    sub_box = (sub.image.width + 1, sub.image.height + 1)
    sizes = (sub.size, sub.size)
    if plate is not None:
        fills = [sub_look.fill, _other(plate)]
        looks = [
            dataclasses.replace(sub_look, fill=fill, emphasis=emphasis)
            for fill in fills
            for emphasis in (sub_look.emphasis, None)
        ]
        sub_y = y

        def draw_plated(target: Image.Image, block: SetText, corner: tuple[int, int]) -> None:
            plate_x, plate_y = corner[0] - pad_x, corner[1] - pad_y
            plate_box = (
                plate_x,
                plate_y,
                plate_x + block.image.width + 2 * pad_x,
                plate_y + block.image.height + 2 * pad_y,
            )
            radius = round((plate_box[3] - plate_box[1]) * 0.22)
            shadow = Image.new("L", (plate_box[2] - plate_x, plate_box[3] - plate_y))
            ImageDraw.Draw(shadow).rounded_rectangle((0, 0, *shadow.size), radius=radius, fill=255)
            _shadow(
                target,
                shadow,
                (plate_x, plate_y),
                _BLACK,
                0.45,
                block.size * 0.12,
                (0, round(block.size * 0.06)),
            )
            ImageDraw.Draw(target).rounded_rectangle(plate_box, radius=radius, fill=plate)
            target.paste(block.image, corner, block.image)

        drawn_sub = _draw_checked(
            canvas,
            subtitle,
            looks,
            sub_box,
            lambda block: (x_for(block.image.width + 2 * pad_x, block.rtl) + pad_x, sub_y + pad_y),
            draw_plated,
            sizes,
            "subtitle",
            (pad_x, pad_y),
        )
    else:
        sub_y = y
        drawn_sub = _draw_checked(
            canvas,
            subtitle,
            _candidates(sub_look),
            sub_box,
            lambda block: (x_for(block.image.width, block.rtl), sub_y),
            lambda target, block, corner: _paste_text(target, block, corner, design, scale),
            sizes,
            "subtitle",
        )
    if drawn_sub is not None:
        runs += drawn_sub[1]
    return runs, notes


# --- the renderer ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """A local render before encoding: the RGB `image`, the cut-out `faces` placed (boxes, in
    the people's order), the text runs drawn with their measured contrast, notes for the
    creator (a shortened title), where the `people` were drawn and the `words` drawn (the
    title and the sub-line as set: shortened, or the sub-line left out, as the notes say)."""

    image: Image.Image
    faces: list[tuple[int, int, int, int]]
    texts: list[TextRun]
    notes: list[str]
    people: Image.Image | None = None  # L: 255 where a person (cut-out or tile) was drawn
    words: tuple[str, ...] = ()


class LocalRenderer:
    """Draws thumbnails locally with Pillow; implements `ImageProvider`."""

    name = "local"

    def generate_image(self, request: ImageRequest) -> GeneratedImage:
        """One PNG of exactly `pixel_size(request.aspect_ratio, request.image_size)` pixels, with
        `notes` saying whether the title had to be shortened.

        Raises `InvalidProviderRequest` for an unknown aspect ratio or image size.
        """
        rendered = self.render(request)
        # Encoded once, by whoever stores it (studio.outputs.encode_unit_files).
        return GeneratedImage(
            image=rendered.image, notes=tuple(rendered.notes), text=rendered.words
        )

    def render(self, request: ImageRequest) -> Rendered:
        """The picture (RGB) with what was drawn where: see `Rendered`. Raises as
        `generate_image`."""
        _RENDER_MEMO.blocks = {}
        try:
            return self._render(request)
        finally:
            _RENDER_MEMO.blocks = None

    def _render(self, request: ImageRequest) -> Rendered:
        try:
            width, height = pixel_size(request.aspect_ratio, request.image_size)
        except KeyError as exc:
            raise InvalidProviderRequest(
                f"unknown aspect ratio {request.aspect_ratio!r} or size {request.image_size!r}"
            ) from exc
        scale = max(1, round(height / 768))
        spec = request.spec
        design = _DESIGNS.get(spec.style_key, _GENERIC)
        pal = _palette(spec.colors, design.default_colors)
        people = _people(request.images)
        references = [image for image in request.images if image.role == "reference"]
        reference = _decode(references[0]) if references else None
        colour_notes: list[str] = []
        if design is _GENERIC and not spec.colors and references:
            # A custom style without a palette chosen: its reference photos' colours, measured.
            measured = _reference_colours(reference, references[1:])
            if measured:
                pal = _palette(measured, design.default_colors)
                colour_notes.append(REFERENCE_COLOURS_NOTE)
        variant = VARIANTS[spec.variation % len(VARIANTS)]
        people, face_notes = _people_with_cutouts(people)
        cutouts = bool(people) and all(person.cutout is not None for person in people)
        has_text = bool(visible_text(spec.title) or visible_text(spec.subtitle))

        layout = _layout(width, height, len(people), design, has_text, variant, cutouts)
        # Painted at the output size (4K backgrounds are drawn at 4K, not scaled up).
        # The shares of the drawing reported as each part is done (request.progress): the
        # background, then the people, then the text.
        report = request.progress or (lambda _share: None)
        canvas = design.base((width, height), pal)
        if reference is not None:
            backdrop = _backdrop(reference, canvas.size, pal)
            canvas = Image.blend(canvas, backdrop, design.reference_mix)
        text_box = None
        if has_text:
            occupied = None
            if people:
                layout, planned, occupied = _text_clear_of_people(
                    canvas, spec, layout, design, pal, scale, people
                )
            else:
                planned, _ = _place_text(
                    canvas, spec, layout, design, pal, scale, planned_only=True
                )
            layout, planned = _text_clear_of_badge(
                canvas, spec, layout, design, pal, planned, occupied
            )
            if design.text_aware:
                # Where the words will be, as planned (fitted, not drawn): the layout's box is
                # wider and taller than what is drawn in it. With or without people: a text-only
                # minimal frame put its disc under "2027".
                text_box = _extent(planned) or layout.text_box
        scene = _Scene(
            focus=layout.focus,
            faces=bool(people),
            landscape=width / height >= 1.2,
            rng=random.Random(spec.seed),
            text_box=text_box,
            backdrop=reference is not None,
        )
        design.decorate(canvas, pal, scene)
        report(0.4)

        drawn = Image.new("L", canvas.size, 0)
        faces = _place_faces(canvas, people, layout, design, pal, spec, drawn)
        if design.letterbox and scene.landscape:
            bar = round(height * 0.075)
            ImageDraw.Draw(canvas).rectangle((0, 0, width, bar), fill=_BLACK)
            ImageDraw.Draw(canvas).rectangle((0, height - bar, width, height), fill=_BLACK)
        report(0.7)
        fit = _fit_text(canvas.size, spec, layout, design, pal)
        texts, notes = _place_text(canvas, spec, layout, design, pal, scale, fitted=fit)
        report(1.0)
        kinds = {run.kind for run in texts}
        words = tuple(
            line
            for line, drawn_as in ((fit.title, {"title", "emphasis"}), (fit.subtitle, {"subtitle"}))
            if line and kinds & drawn_as
        )
        return Rendered(canvas, faces, texts, [*colour_notes, *face_notes, *notes], drawn, words)

    def edit_image(self, request: EditRequest) -> GeneratedImage:
        """Not offered offline: editing a photo by instruction needs an image model."""
        raise CapabilityUnavailable(
            f"edit_image needs a Gemini image model (asked for {request.model!r}); the studio runs"
            " the offline renderer (IMAGE_PROVIDER=local): set GEMINI_API_KEY to edit images"
        )

    def generate_json(self, request: JSONRequest) -> JSONResult:
        """Not offered offline: structured answers need a language model."""
        raise CapabilityUnavailable(
            f"generate_json needs a Gemini text model (asked for {request.model!r}); the studio"
            " runs the offline renderer (IMAGE_PROVIDER=local): set GEMINI_API_KEY for analysis"
        )
