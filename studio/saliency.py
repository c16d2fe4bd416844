"""Where a thumbnail draws the eye, and how readable it stays at the sizes YouTube shows it.

Offline, deterministic, no model download: OpenCV (opencv-contrib-python-headless) and numpy.

Attention map (`attention_map`), values 0..1 on the analysis grid, a weighted sum of four cues:

- visual saliency: OpenCV's spectral-residual static saliency
  (`cv2.saliency.StaticSaliencySpectralResidual`; Hou & Zhang, "Saliency Detection: A Spectral
  Residual Approach", CVPR 2007), blurred a little;
- faces: OpenCV's bundled Viola-Jones Haar cascade (`cv2.data.haarcascades` +
  "haarcascade_frontalface_default.xml"; Viola & Jones, CVPR 2001), one Gaussian per face;
- text: `detect_text` below (MSER characters, stroke-width filtered, grouped into lines), each
  line a blurred box;
- a centre bias: a Gaussian around the frame centre (Tatler, "The central fixation bias in scene
  viewing", J. Vision 7(14):4, 2007; Judd et al., "Learning to predict where humans look",
  ICCV 2009, where a centre prior alone predicts fixations well).

Weights `WEIGHTS`: faces strongest, text next (Cerf, Frady & Koch, "Faces and text attract gaze
independent of the task", J. Vision 9(12):10, 2009: faces and text draw fixations more than any
low-level cue; Cerf et al., NIPS 2007, added a face channel to a saliency model for the same
reason), low-level saliency and the centre bias below them. The weights are this module's
choice, not fitted to eye-tracking data.

Text (`detect_text`): maximally stable extremal regions (Matas et al., "Robust wide baseline
stereo from maximally stable extremal regions", BMVC 2002) as character candidates, as in Chen
et al., "Robust text detection in natural images with edge-enhanced maximally stable extremal
regions", ICIP 2011: kept when their size, aspect, fill and stroke-width variation (distance
transform; Epshtein et al., "Detecting text in natural scenes with stroke width transform",
CVPR 2010) look like letters, then chained into lines of letters of similar height on one
baseline. Candidates inside a detected face are dropped (eyes and nostrils line up like letters).

Readability (`readability`) at each slot YouTube shows the image in (`generation.display`;
CSS pixels): a vertical image (a Short, 9:16) at each `SHORTS_SIZES` tile, with no duration
badge; any other at each `DISPLAY_SIZES` slot, fitted inside the 16:9 slot as YouTube
letterboxes 4:3, 1:1 or 21:9:

- headline height: the tallest text line's letter height scaled to the slot; judged by visual
  angle with the CSS reference pixel (0.0213 degrees, CSS Values and Units Level 3, "reference
  pixel") against Legge & Bigelow's critical print size, an x-height of 0.2 degrees, the
  smallest size read at full speed ("Does print size matter for reading?", J. Vision 11(5):8,
  2011), taking x-height as `X_HEIGHT_PER_LETTER` of the measured (capital) letter height:
  "good" from `HEADLINE_GOOD_PX`, "small" from half of it (a 2:1 acuity reserve), else
  "too small";
- contrast: WCAG 2.1 contrast ratio (https://www.w3.org/TR/WCAG21/#dfn-contrast-ratio, relative
  luminance per https://www.w3.org/TR/WCAG21/#dfn-relative-luminance) between the two luminance
  classes (Otsu, 1979) of the headline's box in the image as scaled to the slot, so thin
  outlines that blur away at small sizes stop counting; needs 4.5:1, or 3:1 for large text
  (SC 1.4.3: 18.66 CSS px bold, headlines assumed bold, font size = letter height / 0.7);
- face: the largest face's share of the frame and its height in the slot, judged against Tian,
  "Evaluation of face resolution for expression analysis" (CVPR workshops 2004): expressions
  read well from a head of 36x48 px and fail quickly below; a head is taken as 4/3 of the
  cascade's face box: "good" from 48 px of head, "small" from 24, else "too small";
- wording: the words drawn, counted from the text when it is known (the offline renderer's
  title and sub-line as set, `Thumbnail.parameters["drawn_text"]`), else measured: the words
  of every text line (letters split at gaps over `WORD_GAP` capital heights, a line found
  twice counted over both detections' letters, pieces of a line a word space apart counted as
  two words); and the lines,
  judged at every slot (YouTube shows thumbnails at most 360 px wide,
  where a viewer takes in a few words at a glance): "good" up to `WORDS_GOOD` words, else "too
  many words". The threshold is common YouTube design guidance, not a measurement: creators'
  guides advise about five words at most (ventress.app, "How to use text on video thumbnails":
  "three to five words at most"; thumbai.app's thumbnail text guide: "two to five words";
  customthumbnails.com: "1-4 impactful words"). Letters alone passed a 16-word, 6-line
  headline as "good": each line was large enough, the whole too much to read in a glance;
- duration badge: `BADGE` (`generation.display`, whose `badge_zones` the offline renderer
  keeps its text out of), judged "clear" unless text or a face fills at least
  `BADGE_COVER_SHARE` of it.

Errors: `UnreadableImage` for bytes OpenCV cannot decode.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from generation.display import (  # re-exported: the check's geometry, shared with the renderer
    BADGE,
    DISPLAY_SIZES,
    DisplaySize,
    Placement,
    Rect,
    badge_rect,
    slots_for,
)

WORK_WIDTH = 960  # analysis grid width, px (height follows the aspect ratio)
WEIGHTS = {"saliency": 0.45, "faces": 1.0, "text": 0.6, "centre": 0.25}
CENTRE_SIGMA = 0.3  # centre-bias Gaussian, as a fraction of width and of height
FACE_CASCADE = "haarcascade_frontalface_default.xml"
FACE_SIDE = 640  # px, the longer side of the copy faces are detected on (`detect_faces`)
FACE_SCALE_STEP = 1.05
FACE_NEIGHBOURS = 15
FACE_MIN_HEIGHT = 0.06  # share of the image height

# Reading size (see the module docstring).
CSS_PX_DEGREES = 0.0213
CRITICAL_PRINT_DEGREES = 0.2
X_HEIGHT_PER_LETTER = 0.72  # x-height / capital height of a typical bold sans (0.70-0.76)
HEADLINE_GOOD_PX = round(CRITICAL_PRINT_DEGREES / CSS_PX_DEGREES / X_HEIGHT_PER_LETTER, 1)
HEADLINE_SMALL_PX = round(HEADLINE_GOOD_PX / 2, 1)
LETTER_PER_EM = 0.7  # capital height / font size (em) of a typical sans
LARGE_TEXT_BOLD_PX = 18.66  # WCAG 2.1 "large scale": 14 pt bold = 18.66 CSS px
CONTRAST_NORMAL = 4.5
CONTRAST_LARGE = 3.0
HEAD_PER_FACE_BOX = 4 / 3
HEAD_GOOD_PX = 48
HEAD_SMALL_PX = 24
BADGE_COVER_SHARE = 0.1
# Words read at a glance (see the module docstring): creators' design guides put thumbnail text
# at about five words at most ("two to five", "three to five at most", "one to four"). A rule of
# thumb from practice, not a measured threshold: the check says "too many words" above it.
WORDS_GOOD = 5
SAME_COLOUR = 60  # RGB distance under which two letters have one colour


class UnreadableImage(Exception):
    """The bytes are not an image OpenCV can decode."""


@dataclass(frozen=True)
class Box:
    """A rectangle in fractions of the image's width and height (0..1)."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    def as_list(self) -> list[float]:
        return [round(v, 4) for v in (self.x0, self.y0, self.x1, self.y1)]


@dataclass(frozen=True)
class TextLine:
    """A line of letters: its box and its letter height (fraction of the image height)."""

    box: Box
    letter_height: float
    letters: int
    words: int = 1  # runs of letters split by gaps over WORD_GAP capital heights
    # The letters' horizontal extents and the line's capital height (px on the analysis grid),
    # which the words are counted from (`_words`); kept so two detections of one line can
    # count them together (`_merged`).
    spans: tuple[tuple[int, int], ...] = ()
    capital: float = 0.0


@dataclass
class Analysis:
    """What `analyse` measured on one image."""

    width: int
    height: int
    faces: list[Box]
    lines: list[TextLine]
    attention: np.ndarray  # float32 0..1 on the analysis grid
    image: np.ndarray  # BGR uint8, full size


# --- decoding --------------------------------------------------------------------------------


def decode(data: bytes) -> np.ndarray:
    """BGR uint8 pixels of PNG/JPEG/WebP bytes (alpha dropped). Raises UnreadableImage."""
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if pixels is None:
        raise UnreadableImage("not a decodable image")
    return pixels


def _work(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    if width <= WORK_WIDTH:
        return image
    scale = WORK_WIDTH / width
    return cv2.resize(
        image, (WORK_WIDTH, max(1, round(height * scale))), interpolation=cv2.INTER_AREA
    )


# --- cues ------------------------------------------------------------------------------------


def spectral_saliency(image: np.ndarray) -> np.ndarray:
    """Hou & Zhang's spectral-residual saliency of a BGR image, float32 0..1, same size."""
    detector = cv2.saliency.StaticSaliencySpectralResidual_create()  # type: ignore[attr-defined]
    ok, saliency = detector.computeSaliency(image)
    if not ok:  # pragma: no cover - OpenCV reports failure only for empty input
        return np.zeros(image.shape[:2], np.float32)
    saliency = saliency.astype(np.float32)
    sigma = max(1.0, image.shape[1] / 100)
    saliency = cv2.GaussianBlur(saliency, (0, 0), sigma)
    return _normalised(saliency)


_local = threading.local()


def _face_cascade() -> cv2.CascadeClassifier:
    """This thread's cascade: an OpenCV classifier must not run on two threads at once
    (generation.providers.cutout says why); the worker checks thumbnails on several."""
    if not hasattr(_local, "cascade"):
        cascade = cv2.CascadeClassifier(cv2.data.haarcascades + FACE_CASCADE)  # type: ignore[attr-defined]
        if cascade.empty():  # pragma: no cover - the file ships in the wheel
            raise RuntimeError(f"OpenCV's {FACE_CASCADE} is missing")
        _local.cascade = cascade
    return _local.cascade


def detect_faces(gray: np.ndarray) -> list[Box]:
    """Frontal faces in a grayscale image of any size (Haar cascade), largest first, as
    fractional boxes. The one face detector of the thumbnail check and of `analyse_style` (and
    so `channel_consistency`): both report the same faces for one picture.

    The cascade runs on a copy FACE_SIDE px on its longer side (histogram-equalised), so the
    result does not depend on the picture's resolution, stepping its window FACE_SCALE_STEP a
    scale. Faces under FACE_MIN_HEIGHT of the image height are ignored (too small to matter in
    a thumbnail), and so are detections no more than FACE_NEIGHBOURS overlapping windows agree
    on. Chosen on the offline renderer's thumbnails (the 8 demo titles in every layout, 16:9
    and 9:16, about 200 pictures): a true face gathered 19 windows or more, the cascade's false
    hits on hair, clothing, lettering and decoration at most 13. At the coarser step 1.1 the
    two overlapped (faces from 7, false hits up to 9 windows, on a 640 or a 960 px copy): the
    large cut-out face of the "iPhone vs Pixel" demo (38% of the frame's height) gathered 10
    on the 960 px analysis grid and was missed at 11, while Analyse style's own laxer detector
    (5 windows) found it, and found 11 faces in the one-face "Day 1 of 100" Short."""
    height, width = gray.shape[:2]
    scale = min(1.0, FACE_SIDE / max(height, width))
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    small_h, small_w = gray.shape[:2]
    smallest = max(24, round(small_h * FACE_MIN_HEIGHT))
    if min(small_h, small_w) < smallest:
        return []
    found = _face_cascade().detectMultiScale(
        cv2.equalizeHist(gray),
        scaleFactor=FACE_SCALE_STEP,
        minNeighbors=FACE_NEIGHBOURS,
        minSize=(smallest, smallest),
    )
    boxes = [
        Box(
            float(x) / small_w,
            float(y) / small_h,
            float(x + w) / small_w,
            float(y + h) / small_h,
        )
        for x, y, w, h in found
    ]
    return sorted(boxes, key=lambda b: b.width * b.height, reverse=True)


def _stroke_width_variation(mask: np.ndarray) -> tuple[float, float]:
    """(median stroke width in px, coefficient of variation) of a binary glyph mask: twice the
    distance-transform value along the ridge (pixels that are local maxima of the distance)."""
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, 3)
    ridge = (distance >= cv2.dilate(distance, np.ones((3, 3), np.uint8))) & (padded > 0)
    widths = distance[ridge] * 2
    if widths.size < 3:
        return 0.0, 1.0
    mean = float(widths.mean())
    return float(np.median(widths)), float(widths.std() / mean) if mean else 1.0


def _inside(box: tuple[int, int, int, int], faces: list[tuple[int, int, int, int]]) -> bool:
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    return any(fx <= cx <= fx + fw and fy <= cy <= fy + fh for fx, fy, fw, fh in faces)


def _upright(mask: np.ndarray) -> bool:
    """False for an elongated region (axis ratio over 3) whose long axis is tilted more than
    12 degrees (an italic's slant) from both vertical and horizontal: slashes, stripes and
    rays, not letters."""
    m = cv2.moments(mask, binaryImage=True)
    if m["m00"] == 0:
        return False
    mu20, mu02, mu11 = m["mu20"] / m["m00"], m["mu02"] / m["m00"], m["mu11"] / m["m00"]
    spread = math.sqrt(4 * mu11**2 + (mu20 - mu02) ** 2)
    major, minor = (mu20 + mu02 + spread) / 2, (mu20 + mu02 - spread) / 2
    if minor <= 0 or math.sqrt(major / minor) <= 3:
        return True
    angle = abs(math.degrees(0.5 * math.atan2(2 * mu11, mu20 - mu02))) % 90
    return angle <= 12 or angle >= 78


@dataclass(frozen=True)
class _Glyph:
    """A letter candidate: its box (px on the analysis grid), stroke width and mean colour."""

    x: int
    y: int
    w: int
    h: int
    stroke: float
    colour: tuple[float, float, float]

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)


def _outermost(candidates: list[_Glyph]) -> list[_Glyph]:
    """One region per letter and colour. MSER finds a letter at several thresholds (nested
    regions of one colour): the outermost is kept, as it is over an O's counter. A letter's fill
    and its outline differ in colour and both stay (each chains into its own copy of the line,
    merged later). A region that holds two or more letter-tall regions side by side is a word's
    merged outline, not a letter, and gives way to them."""
    if not candidates:
        return []
    candidates = sorted(candidates, key=lambda g: g.w * g.h, reverse=True)
    boxes = np.array([g.box for g in candidates], dtype=np.int64)
    x, y, w, h = boxes.T
    right, bottom, area = x + w, y + h, w * h
    word = np.zeros(len(candidates), bool)
    for i in range(len(candidates)):
        inside = (
            (x >= x[i] - 1)
            & (y >= y[i] - 1)
            & (right <= right[i] + 1)
            & (bottom <= bottom[i] + 1)
            & (h >= 0.5 * h[i])
            & (area <= 0.6 * area[i])
        )
        if inside.sum() >= 2 and x[inside].max() >= right[inside].min() - 1:
            word[i] = True
    colours = np.array([g.colour for g in candidates], dtype=np.float64)
    kept: list[int] = []
    for j in np.flatnonzero(~word):
        i = int(j)
        if kept:
            k = np.array(kept)
            ix = np.clip(np.minimum(right[k], right[i]) - np.maximum(x[k], x[i]), 0, None)
            iy = np.clip(np.minimum(bottom[k], bottom[i]) - np.maximum(y[k], y[i]), 0, None)
            inter = ix * iy
            same = np.linalg.norm(colours[k] - colours[i], axis=1) <= SAME_COLOUR
            nested = (inter >= 0.9 * area[i]) | (inter / (area[k] + area[i] - inter) >= 0.5)
            if np.any(same & nested):
                continue
        kept.append(i)
    return [candidates[i] for i in kept]


def detect_text(image: np.ndarray, faces: list[Box] | None = None) -> list[TextLine]:
    """Lines of text in a BGR image, tallest letters first (see the module docstring).

    A letter is an MSER region (of the grayscale image) 1.5-45% of the image height tall,
    0.08-2.2 times as wide as tall, inside the frame (not cut by its edge), filling 20-95% of
    its box (more only for a narrow I), not a tilted bar, with a stroke width 4-45% of its
    height varying by less than 60%, and standing out from its box (contrast ratio of the
    box's two tones at least 1.5). Nested regions of one letter and colour count once (the
    outermost). Two letters chain when they look like one font on one line: heights within
    1.4x, tops or bottoms aligned within 20% of the height, at most 1.1 heights apart, stroke
    widths within 2x and colours within RGB distance SAME_COLOUR. A line is a chain of three
    letters or more, or of two stacked under or over such a line (a short word of a
    multi-line headline); a line found twice (fill and outline) counts once, and pieces of one
    line split by a decoration crossing it are one line (`_joined`). Letters centred
    inside a detected face are ignored (eyes and nostrils line up like letters).
    """
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    height, width = gray.shape[:2]
    area = height * width
    mser = cv2.MSER_create(  # type: ignore[attr-defined]
        delta=5, min_area=max(20, round(area * 0.00004)), max_area=round(area * 0.06)
    )
    regions, boxes = mser.detectRegions(gray)
    face_px = [
        (
            round(f.x0 * width),
            round(f.y0 * height),
            round(f.width * width),
            round(f.height * height),
        )
        for f in faces or []
    ]
    candidates: list[_Glyph] = []
    # MSER finds a letter at several thresholds, mostly with the same box: each box's crop is
    # measured once (a render's 439 measurements were of 105 boxes; a crop's contrast is a
    # function of its pixels alone).
    contrasts: dict[tuple[int, int, int, int], float | None] = {}
    pixels = image.reshape(-1, 3)  # a letter's pixels gathered by flat index: the same values
    for points, (x, y, w, h) in zip(regions, boxes, strict=True):
        if not (0.015 * height <= h <= 0.45 * height and 0.08 <= w / h <= 2.2):
            continue
        if x <= 0 or y <= 0 or x + w >= width or y + h >= height:
            continue  # cut by the frame: decoration running off the edge, not a letter
        fill = len(points) / float(w * h)
        if fill < 0.2 or (fill > 0.95 and w / h > 0.4):
            continue  # too sparse, or a solid block (only an I or a 1 fills its box)
        if _inside((x, y, w, h), face_px):
            continue
        mask = np.zeros((h, w), np.uint8)
        mask[points[:, 1] - y, points[:, 0] - x] = 255
        if not _upright(mask):
            continue
        stroke, variation = _stroke_width_variation(mask)
        if variation >= 0.6 or not 0.04 * h <= stroke <= 0.45 * h:
            continue
        box = (int(x), int(y), int(w), int(h))
        if box not in contrasts:
            contrasts[box] = box_contrast(image[y : y + h, x : x + w])
        tones = contrasts[box]
        if tones is None or tones < 1.5:
            continue
        colour = np.take(pixels, points[:, 1] * width + points[:, 0], axis=0).mean(axis=0)
        candidates.append(
            _Glyph(int(x), int(y), int(w), int(h), stroke, (colour[0], colour[1], colour[2]))
        )
    return _chain(_outermost(candidates), width, height)


def _same_line(a: _Glyph, b: _Glyph) -> bool:
    tall = max(a.h, b.h)
    if tall / min(a.h, b.h) > 1.4:
        return False
    if min(abs(a.y - b.y), abs(a.y + a.h - b.y - b.h)) > 0.2 * tall:
        return False
    if max(b.x - (a.x + a.w), a.x - (b.x + b.w)) > 1.1 * tall:
        return False
    if max(a.stroke, b.stroke) > 2.0 * max(0.5, min(a.stroke, b.stroke)):
        return False
    return math.dist(a.colour, b.colour) <= SAME_COLOUR


def _chain(glyphs: list[_Glyph], width: int, height: int) -> list[TextLine]:
    parent = list(range(len(glyphs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(glyphs):
        for j in range(i + 1, len(glyphs)):
            if _same_line(a, glyphs[j]):
                parent[root(i)] = root(j)
    groups: dict[int, list[_Glyph]] = {}
    for i, glyph in enumerate(glyphs):
        groups.setdefault(root(i), []).append(glyph)
    found = []
    for members in groups.values():
        if len(members) < 2:
            continue
        x0 = min(g.x for g in members)
        y0 = min(g.y for g in members)
        x1 = max(g.x + g.w for g in members)
        y1 = max(g.y + g.h for g in members)
        letter = float(np.median([g.h for g in members]))
        spans = tuple((g.x, g.x + g.w) for g in members)
        capital = float(np.percentile([g.h for g in members], 75))
        found.append(
            TextLine(
                Box(x0 / width, y0 / height, x1 / width, y1 / height),
                letter / height,
                len(members),
                _words(spans, capital),
                spans,
                capital,
            )
        )
    found = _joined(_merged(found), width / height)
    long_lines = [line for line in found if line.letters >= 3]
    lines = long_lines + [
        line
        for line in found
        if line.letters == 2 and any(_stacked(line, other) for other in long_lines)
    ]
    return sorted(lines, key=lambda line: (line.letter_height, line.box.width), reverse=True)


# A word space is wider than the space between letters: in bold display faces about a third
# of the capital height against a tenth or less (kerned pairs touch); split at a quarter. The
# offline renderer's letter gaps were 0.04-0.2 of the capital height, its spaces 0.4-0.7.
WORD_GAP = 0.25


def _words(spans: tuple[tuple[int, int], ...], capital: float) -> int:
    """The words in a line of letters (their horizontal `spans`): runs of them (overlapping
    ones, a letter's fill and outline, join) apart by more than WORD_GAP `capital` heights, the
    line's taller letters (the 75th percentile of its letters' heights): the median of a
    mixed-case line is nearer its x-height, and the gap after the "i" of "iPhone" (0.27 of the
    median) split it in two."""
    words, right = 0, -math.inf
    for x0, x1 in sorted(spans):
        if x0 - right > WORD_GAP * capital:
            words += 1
        right = max(right, x1)
    return words


# Two overlapping detections of one line differ by less than this (an outline round a 0.7-em
# capital, 0.12 em a side, is 1.34x its fill; partial detections of one line came out 1.55x
# apart); a blob spanning two stacked lines is at least twice their letters plus the gap.
STACKED_LINES_RATIO = 1.9


def _merged(lines: list[TextLine]) -> list[TextLine]:
    """A line found twice (its letters' fill and their outline, in two colours) becomes one:
    boxes overlapping by half or more are joined, keeping the larger letter height (the
    outline's, the letters' visible size) and letter count; the words are counted over both
    detections' letters together (a sparse detection alone reads its missed letters' gaps as
    word spaces: the outline of "NOBODY", 4 letters a letter height apart, made it three words
    when the larger count was kept). Heights STACKED_LINES_RATIO or more apart are not one line
    seen twice: the taller "letters" are blobs spanning stacked lines (a drop shadow joining
    "DAY 30" to "OF 100" below it read as 369 px letters, 2.7 times their size), so the
    smaller height is kept."""
    lines = sorted(lines, key=lambda line: line.letters, reverse=True)
    out: list[TextLine] = []
    for line in lines:
        for i, kept in enumerate(out):
            a, b = line.box, kept.box
            ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
            iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
            if ix * iy >= 0.5 * min(a.width * a.height, b.width * b.height):
                low, high = sorted((line.letter_height, kept.letter_height))
                spans = line.spans + kept.spans
                capital = max(line.capital, kept.capital)
                out[i] = TextLine(
                    Box(min(a.x0, b.x0), min(a.y0, b.y0), max(a.x1, b.x1), max(a.y1, b.y1)),
                    high if high < low * STACKED_LINES_RATIO else low,
                    max(line.letters, kept.letters),
                    _words(spans, capital),
                    spans,
                    capital,
                )
                break
        else:
            out.append(line)
    return out


# A word space between two pieces of one line: the offline renderer's were 0.36-0.53 letter
# heights; the gap of a missed letter or more is wider (a stripe's through "Espresso", 1.2).
JOIN_SPACE = 0.75
# Two pieces of one line on one baseline at most this many letter heights apart are one line
# whose letters between them were not found (a decoration crossing them): a word space is a
# third of a letter height, a missed letter or two about one.
PIECE_GAP = 1.5


def _joined(lines: list[TextLine], aspect: float) -> list[TextLine]:
    """Pieces of one line (letter heights within 1.4x, their boxes overlapping by half the
    smaller's height, at most PIECE_GAP letter heights apart) become one line. A join a word
    space wide (WORD_GAP to JOIN_SPACE letter heights) is counted as one: a word in another
    colour is a piece of its own ("I TRIED" and an orange "100", 0.5 apart, were counted two
    words). A wider join is counted as no word space (a word split by missed letters is one
    word; a space among the missed letters goes uncounted, erring towards fewer words): a
    diagonal stripe through "Espresso" split "Best Espresso" into "Best Esp" and "resso"
    (1.2 apart), three words. `aspect` is the image's width / height (boxes are fractions of
    each)."""
    out = sorted(lines, key=lambda line: line.box.x0)
    joined = True
    while joined:
        joined = False
        for i, a in enumerate(out):
            for j in range(i + 1, len(out)):
                b = out[j]
                low, high = sorted((a.letter_height, b.letter_height))
                overlap = min(a.box.y1, b.box.y1) - max(a.box.y0, b.box.y0)
                gap = (max(a.box.x0, b.box.x0) - min(a.box.x1, b.box.x1)) * aspect
                if high > 1.4 * low or overlap < 0.5 * low or not 0 < gap <= PIECE_GAP * high:
                    continue
                out[i] = TextLine(
                    Box(
                        min(a.box.x0, b.box.x0),
                        min(a.box.y0, b.box.y0),
                        max(a.box.x1, b.box.x1),
                        max(a.box.y1, b.box.y1),
                    ),
                    high,
                    a.letters + b.letters,
                    a.words + b.words - (0 if WORD_GAP * high < gap <= JOIN_SPACE * high else 1),
                    a.spans + b.spans,
                    max(a.capital, b.capital),
                )
                del out[j]
                joined = True
                break
            if joined:
                break
    return out


def _stacked(short: TextLine, line: TextLine) -> bool:
    """Whether `short` sits just above or below `line`, in its column, at a similar size."""
    ratio = short.letter_height / line.letter_height
    if not 1 / 1.5 <= ratio <= 1.5:
        return False
    gap = max(short.box.y0 - line.box.y1, line.box.y0 - short.box.y1)
    overlap = min(short.box.x1, line.box.x1) - max(short.box.x0, line.box.x0)
    return gap <= 1.5 * max(short.letter_height, line.letter_height) and overlap > 0


def centre_bias(height: int, width: int) -> np.ndarray:
    """A Gaussian around the centre, sigma CENTRE_SIGMA of each side, peak 1."""
    ys = (np.arange(height, dtype=np.float32) - (height - 1) / 2) / (CENTRE_SIGMA * height)
    xs = (np.arange(width, dtype=np.float32) - (width - 1) / 2) / (CENTRE_SIGMA * width)
    return np.exp(-0.5 * (ys[:, None] ** 2 + xs[None, :] ** 2)).astype(np.float32)


def _face_map(faces: list[Box], height: int, width: int) -> np.ndarray:
    ys = np.arange(height, dtype=np.float32)[:, None]
    xs = np.arange(width, dtype=np.float32)[None, :]
    out = np.zeros((height, width), np.float32)
    for face in faces:
        cx, cy = (face.x0 + face.x1) / 2 * width, (face.y0 + face.y1) / 2 * height
        sx, sy = max(1.0, face.width * width * 0.5), max(1.0, face.height * height * 0.6)
        out = np.maximum(out, np.exp(-0.5 * (((xs - cx) / sx) ** 2 + ((ys - cy) / sy) ** 2)))
    return out


def _text_map(lines: list[TextLine], height: int, width: int) -> np.ndarray:
    out = np.zeros((height, width), np.float32)
    if not lines:
        return out
    for line in lines:
        box = line.box
        cv2.rectangle(
            out,
            (round(box.x0 * width), round(box.y0 * height)),
            (round(box.x1 * width), round(box.y1 * height)),
            1.0,
            thickness=-1,
        )
    sigma = max(1.0, 0.3 * max(line.letter_height for line in lines) * height)
    return _normalised(cv2.GaussianBlur(out, (0, 0), sigma))


def _normalised(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-9:
        return np.zeros_like(values, dtype=np.float32)
    return ((values - low) / (high - low)).astype(np.float32)


def attention_map(image: np.ndarray, faces: list[Box], lines: list[TextLine]) -> np.ndarray:
    """The weighted cues (WEIGHTS) on `image`'s grid, float32 scaled to 0..1."""
    height, width = image.shape[:2]
    combined = (
        WEIGHTS["saliency"] * spectral_saliency(image)
        + WEIGHTS["faces"] * _face_map(faces, height, width)
        + WEIGHTS["text"] * _text_map(lines, height, width)
        + WEIGHTS["centre"] * centre_bias(height, width)
    )
    return _normalised(combined)


def analyse(data: bytes) -> Analysis:
    """Faces, text lines and the attention map of an encoded image. Raises UnreadableImage."""
    image = decode(data)
    work = _work(image)
    faces = detect_faces(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    lines = detect_text(work, faces)
    return Analysis(
        width=image.shape[1],
        height=image.shape[0],
        faces=faces,
        lines=lines,
        attention=attention_map(work, faces, lines),
        image=image,
    )


# --- the heatmap -----------------------------------------------------------------------------


def heatmap_png(analysis: Analysis) -> bytes:
    """An RGBA PNG the size of the image: the attention map in OpenCV's JET colours (blue =
    little attention, dark red = most), opaque where attention is high (alpha 190) and mostly
    transparent where it is low (alpha 40), to lay over the thumbnail."""
    levels = np.clip(analysis.attention * 255, 0, 255).astype(np.uint8)
    full = cv2.resize(levels, (analysis.width, analysis.height), interpolation=cv2.INTER_LINEAR)
    colours = cv2.applyColorMap(full, cv2.COLORMAP_JET)
    alpha_table = np.round(40 + np.arange(256) * (150 / 255)).astype(np.uint8)
    rgba = cv2.merge([*cv2.split(colours), cv2.LUT(full, alpha_table)])
    ok, encoded = cv2.imencode(".png", rgba, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:  # pragma: no cover
        raise RuntimeError("PNG encoding failed")
    return encoded.tobytes()


def jpeg(analysis: Analysis, long_side: int) -> bytes:
    """The analysed image as a quality-90 JPEG, downscaled to at most `long_side` px."""
    image = analysis.image
    scale = long_side / max(analysis.width, analysis.height)
    if scale < 1:
        size = (round(analysis.width * scale), round(analysis.height * scale))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:  # pragma: no cover
        raise RuntimeError("JPEG encoding failed")
    return encoded.tobytes()


def hottest_region(analysis: Analysis, level: float = 0.85) -> Box:
    """The bounding box of the connected area where attention is at least `level` of its
    peak, around the peak: where the eye most likely lands first."""
    attention = analysis.attention
    height, width = attention.shape
    hot = (attention >= level * float(attention.max())).astype(np.uint8)
    _, labels = cv2.connectedComponents(hot)
    peak_y, peak_x = np.unravel_index(int(np.argmax(attention)), attention.shape)
    ys, xs = np.nonzero(labels == labels[peak_y, peak_x])
    return Box(xs.min() / width, ys.min() / height, (xs.max() + 1) / width, (ys.max() + 1) / height)


# --- contrast (WCAG 2.1) ---------------------------------------------------------------------


def _linear(channel: np.ndarray | float) -> np.ndarray | float:
    """sRGB channel 0..1 to linear light, WCAG 2.1's relative-luminance definition."""
    c = np.asarray(channel, dtype=np.float64)
    out = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(out) if out.ndim == 0 else out


def relative_luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2.1 relative luminance of an 8-bit sRGB colour: 0 (black) .. 1 (white)."""
    r, g, b = (_linear(v / 255) for v in rgb)
    return float(0.2126 * r + 0.7152 * g + 0.0722 * b)


def contrast_ratio(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG 2.1 contrast ratio (L1 + 0.05) / (L2 + 0.05) of two colours: 1 .. 21."""
    return _ratio(relative_luminance(a), relative_luminance(b))


def _ratio(la: float, lb: float) -> float:
    high, low = max(la, lb), min(la, lb)
    return (high + 0.05) / (low + 0.05)


# `luminance_image`'s tables, B, G, R: each 8-bit level's linear value times its channel's
# weight (the same floats as weighting the looked-up values: one product each way).
_LINEAR_LEVELS = np.asarray(_linear(np.arange(256) / 255), dtype=np.float64)
_WEIGHTED_LEVELS = tuple(weight * _LINEAR_LEVELS for weight in (0.0722, 0.7152, 0.2126))


def luminance_image(bgr: np.ndarray) -> np.ndarray:
    """Per-pixel WCAG relative luminance of BGR uint8 pixels (float64 0..1)."""
    b, g, r = (table[bgr[..., i]] for i, table in enumerate(_WEIGHTED_LEVELS))
    return r + g + b


def box_contrast(bgr: np.ndarray) -> float | None:
    """Contrast ratio between the two luminance classes of a (text) crop: Otsu's threshold
    splits it, each class is represented by its median luminance. None for a crop too small or
    of one tone."""
    if bgr.size == 0 or min(bgr.shape[:2]) < 2:
        return None
    luminance = luminance_image(bgr)
    levels = np.clip(luminance * 255, 0, 255).astype(np.uint8)
    _, split = cv2.threshold(levels, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    light, dark = luminance[split > 0], luminance[split == 0]
    if light.size == 0 or dark.size == 0:
        return 1.0
    return _ratio(float(np.median(light)), float(np.median(dark)))


# --- readability -----------------------------------------------------------------------------

# The region of `studio.images.burn_watermark` (bottom-left, ~3.2% of the height, 1.4 of that
# above the bottom edge), with room to spare: text wholly inside it is the Free plan's watermark.
WATERMARK_REGION = Box(0.0, 0.85, 0.55, 1.0)


def _overlap(a: Rect, b: Rect) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return ix * iy


def _contains(outer: Box, inner: Box) -> bool:
    return (
        inner.x0 >= outer.x0
        and inner.y0 >= outer.y0
        and inner.x1 <= outer.x1
        and inner.y1 <= outer.y1
    )


def headline_verdict(px: float | None) -> str:
    """ "good", "small", "too small" for a letter height in CSS px, "no text" for None."""
    if px is None:
        return "no text"
    if px >= HEADLINE_GOOD_PX:
        return "good"
    return "small" if px >= HEADLINE_SMALL_PX else "too small"


def contrast_needed(headline_px: float | None) -> float:
    """WCAG 2.1 SC 1.4.3's minimum for the headline: 3:1 when it is large-scale text (bold,
    font size = letter height / LETTER_PER_EM >= 18.66 px), else 4.5:1."""
    large = headline_px is not None and headline_px / LETTER_PER_EM >= LARGE_TEXT_BOLD_PX
    return CONTRAST_LARGE if large else CONTRAST_NORMAL


def face_verdict(px: float | None) -> str:
    """ "good", "small", "too small" for a face box height in CSS px, "no face" for None."""
    if px is None:
        return "no face"
    head = px * HEAD_PER_FACE_BOX
    if head >= HEAD_GOOD_PX:
        return "good"
    return "small" if head >= HEAD_SMALL_PX else "too small"


def _headline_contrast(analysis: Analysis, line: TextLine, place: Placement) -> float | None:
    """box_contrast of the headline's box (plus 15% of its height around it) in the image as
    drawn at the slot's size (area-averaged, as a browser downscales)."""
    drawn_w, drawn_h = max(1, round(place.width)), max(1, round(place.height))
    scaled = cv2.resize(analysis.image, (drawn_w, drawn_h), interpolation=cv2.INTER_AREA)
    pad_y = 0.15 * line.box.height
    pad_x = pad_y * analysis.height / analysis.width
    x0 = max(0, math.floor((line.box.x0 - pad_x) * drawn_w))
    x1 = min(drawn_w, math.ceil((line.box.x1 + pad_x) * drawn_w))
    y0 = max(0, math.floor((line.box.y0 - pad_y) * drawn_h))
    y1 = min(drawn_h, math.ceil((line.box.y1 + pad_y) * drawn_h))
    measured = box_contrast(scaled[y0:y1, x0:x1])
    return round(measured, 2) if measured is not None else None


def _attention_under(analysis: Analysis, badge: Rect, place: Placement) -> float:
    """The share of the attention map's total under the badge."""
    grid_h, grid_w = analysis.attention.shape
    x0 = max(0, math.floor((badge[0] - place.left) / place.width * grid_w))
    x1 = min(grid_w, math.ceil((badge[2] - place.left) / place.width * grid_w))
    y0 = max(0, math.floor((badge[1] - place.top) / place.height * grid_h))
    y1 = min(grid_h, math.ceil((badge[3] - place.top) / place.height * grid_h))
    total = float(analysis.attention.sum())
    if x1 <= x0 or y1 <= y0 or total <= 0:
        return 0.0
    return float(analysis.attention[y0:y1, x0:x1].sum()) / total


def count_words(text: list[str] | tuple[str, ...]) -> int:
    """The words in lines of known text: runs of non-space characters with a letter or digit in
    them (a lone ":" or dash is no word; "21:9" and "4K" are)."""
    return sum(1 for line in text for word in line.split() if any(c.isalnum() for c in word))


def _slot_report(
    analysis: Analysis,
    slot: DisplaySize,
    lines: list[TextLine],
    text: list[str] | tuple[str, ...] | None = None,
) -> dict[str, Any]:
    place = Placement.of(analysis.width, analysis.height, slot)
    texts = [line.box for line in lines]
    if text is not None:
        words, wording_source, has_words = count_words(text), "text", bool(count_words(text))
    else:
        words, wording_source = sum(line.words for line in lines), "measured"
        has_words = bool(lines)
    headline = analysis.lines[0] if analysis.lines else None
    face = analysis.faces[0] if analysis.faces else None
    headline_px = round(headline.letter_height * place.height, 1) if headline else None
    contrast = _headline_contrast(analysis, headline, place) if headline else None
    face_px = round(face.height * place.height, 1) if face else None
    badge: Rect | None = badge_rect(slot) if slot.badge else None  # Shorts tiles have none
    badge_area = BADGE.width * BADGE.height
    text_cover = face_cover = attention = 0.0
    if badge is not None:
        text_cover = min(1.0, sum(_overlap(badge, place.rect(b)) for b in texts) / badge_area)
        face_cover = min(
            1.0, sum(_overlap(badge, place.rect(f)) for f in analysis.faces) / badge_area
        )
        attention = _attention_under(analysis, badge, place)
    needed = contrast_needed(headline_px)
    if badge is None:
        badge_verdict = "no badge"
    elif text_cover >= BADGE_COVER_SHARE:
        badge_verdict = "text under badge"
    elif face_cover >= BADGE_COVER_SHARE:
        badge_verdict = "face under badge"
    else:
        badge_verdict = "clear"
    checks: dict[str, dict[str, Any]] = {
        "headline": {
            "value": headline_px,
            "verdict": headline_verdict(headline_px),
            "rule": f"letters >= {HEADLINE_GOOD_PX} px good, >= {HEADLINE_SMALL_PX} px small "
            "(0.2 degree x-height, Legge & Bigelow 2011)",
        },
        "contrast": {
            "value": contrast,
            "needed": needed,
            "verdict": "no text"
            if contrast is None
            else ("good" if contrast >= needed else "low contrast"),
            "rule": f">= {needed}:1 (WCAG 2.1 SC 1.4.3, "
            f"{'large' if needed == CONTRAST_LARGE else 'normal'} text)",
        },
        "face": {
            "value": face_px,
            "verdict": face_verdict(face_px),
            "rule": f"head (4/3 of the face box) >= {HEAD_GOOD_PX} px good, "
            f">= {HEAD_SMALL_PX} px small (Tian 2004)",
        },
        "wording": {
            "value": words,
            "lines": len(lines),
            "source": wording_source,
            "verdict": "no text"
            if not has_words
            else ("good" if words <= WORDS_GOOD else "too many words"),
            "rule": f"<= {WORDS_GOOD} words good (common YouTube thumbnail guidance: about "
            "3-5 words read at a glance)",
        },
        "badge": {
            "value": round(max(text_cover, face_cover), 3),
            "verdict": badge_verdict,
            "rule": f"{BADGE.width}x{BADGE.height} px badge {BADGE.inset} px in from the "
            f"bottom-right; flagged when text or a face fills "
            f">= {round(BADGE_COVER_SHARE * 100)}% of it"
            if badge is not None
            else "YouTube draws no video-length badge over a Short's tile",
        },
    }
    problems = []
    for name, check in checks.items():
        verdict = check["verdict"]
        if verdict in ("good", "clear", "no badge", "no text", "no face"):
            continue
        if name == "headline":
            problems.append("too small" if verdict == "too small" else "small text")
        elif name == "face":
            problems.append("face too small" if verdict == "too small" else "small face")
        else:
            problems.append(str(verdict))
    return {
        "name": slot.name,
        "label": slot.label,
        "width": slot.width,
        "height": slot.height,
        "image_width": round(place.width),
        "image_height": round(place.height),
        "headline_px": headline_px,
        "contrast_ratio": contrast,
        "face_fraction": round(face.width * face.height, 4) if face else 0.0,
        "face_px": face_px,
        "badge_overlap": {
            "text": round(text_cover, 3),
            "face": round(face_cover, 3),
            "attention": round(attention, 3),
        },
        "has_badge": badge is not None,
        "checks": checks,
        "verdict": ", ".join(problems) or "good",
        "source": slot.source,
    }


def thresholds() -> dict[str, float]:
    """The numbers the verdicts compare against (CSS px and contrast ratios)."""
    return {
        "headline_good_px": HEADLINE_GOOD_PX,
        "headline_small_px": HEADLINE_SMALL_PX,
        "head_good_px": HEAD_GOOD_PX,
        "head_small_px": HEAD_SMALL_PX,
        "words_good": WORDS_GOOD,
        "contrast_normal": CONTRAST_NORMAL,
        "contrast_large": CONTRAST_LARGE,
    }


def readability(
    analysis: Analysis,
    *,
    ignore: Box | None = None,
    text: list[str] | tuple[str, ...] | None = None,
) -> list[dict[str, Any]]:
    """The report for each slot the image is shown in (`slots_for`: SHORTS_SIZES for a vertical
    image, else DISPLAY_SIZES), in that order. Text lines wholly inside `ignore`
    (the Free plan's watermark, `WATERMARK_REGION`) do not count as text under the badge.
    `text`: the lines of words known to be drawn on the image (the offline renderer's title and
    sub-line as set), or None when unknown (an upload, an image model's picture): the words
    are counted from it (`count_words`; wording's `source` "text"), else measured on the image
    (each text line's runs of letters; `source` "measured").

    Each entry: name, label, width and height (the slot, CSS px), image_width and
    image_height (the thumbnail as drawn in it), headline_px (letter height of the tallest line,
    CSS px, or None without text), contrast_ratio (WCAG, 1-21, or None), face_fraction (the
    largest face box's share of the frame, 0-1, 0.0 without a face), face_px (its height, CSS
    px, or None), badge_overlap {text, face: share of the badge's area over them, 0-1;
    attention: share of the attention map under it, 0-1; all 0 without a badge}, has_badge
    (whether YouTube draws the duration badge over the slot: not over a Short's), checks
    {headline, contrast, face, wording, badge: {value, verdict, rule}; contrast also has
    `needed`, the ratio it must reach; wording's value is the words, its `lines` the text
    lines measured, its `source` where the words were counted: "text" or "measured"},
    verdict ("good" or the problems, comma-separated: "too small", "small text", "low
    contrast", "face too small", "small face", "too many words", "text under badge", "face
    under badge"; the badge check's verdict is "no badge" on a Short's tile), source
    (where the slot's size comes from).
    """
    lines = [line for line in analysis.lines if ignore is None or not _contains(ignore, line.box)]
    slots = slots_for(analysis.width, analysis.height)
    return [_slot_report(analysis, slot, lines, text) for slot in slots]


NAMED_RATIOS = ("16:9", "9:16", "4:3", "3:4", "1:1", "21:9", "3:2", "2:3", "4:5", "5:4")


def aspect_name(width: int, height: int) -> str:
    """The image's ratio as creators name it ("9:16" for 768x1376, an image model's 9:16) when
    within 2% of one of NAMED_RATIOS, else width/height to two decimals ("1.85:1")."""
    ratio = width / height
    for name in NAMED_RATIOS:
        w, h = name.split(":")
        if abs(ratio / (int(w) / int(h)) - 1) <= 0.02:
            return name
    return f"{ratio:.2f}:1"


def layout(analysis: Analysis) -> dict[str, Any]:
    """How YouTube shows the image: `kind` "shorts" (vertical: the 9:16 Shorts tiles, no
    badge) or "video" (the 16:9 tiles), the image's `aspect` (`aspect_name`) and
    `letterboxed`: whether it is drawn narrower or shorter than its tile by 2 px or more, with
    black bars (a 4:3, 1:1 or 21:9 picture in the 16:9 tile)."""
    slots = slots_for(analysis.width, analysis.height)
    place = Placement.of(analysis.width, analysis.height, slots[0])
    bars = max(slots[0].width - place.width, slots[0].height - place.height)
    return {
        "kind": "video" if slots is DISPLAY_SIZES else "shorts",
        "aspect": aspect_name(analysis.width, analysis.height),
        "letterboxed": bars >= 2,
    }
