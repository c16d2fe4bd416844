"""Face detection and person cut-outs for the offline renderer, with models that ship in packages.

- Face: OpenCV's Haar cascade `haarcascade_frontalface_default.xml`, shipped in the OpenCV wheel
  (`cv2.data.haarcascades`). The largest detection is the face.
- Person: MediaPipe Selfie Segmentation, general model (`selfie_segmentation.tflite`, 256x256
  RGB input in 0..1, one 256x256 foreground probability out; Apache-2.0; model card:
  developers.google.com/ml-kit/images/vision/selfie-segmentation/selfie-model-card.pdf), from
  the npm package `@mediapipe/selfie_segmentation` (pinned in package.json, installed by
  `make install` into node_modules/), run with OpenCV's DNN module (`cv2.dnn.readNetFromTFLite`,
  OpenCV >= 4.8). Nothing is downloaded at run time. `SEGMENTATION_MODEL_PATH` (environment)
  overrides the file's location.
- Refinement: `cv2.grabCut` (2 iterations, at most 384 px) seeded from the model's probabilities
  (>= 0.9 sure person, >= 0.5 probable, >= 0.1 probably background, else background), which
  snaps the model's 256 px edge to the photo's edges. Without the model file the seed is a
  head-and-shoulders prior drawn from the face box, so a cut-out still works (logged once).

Sizes are pixels of the decoded photo.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)

MODEL_INPUT = 256  # the general model's input and output side, px
WORK_SIDE = 384  # grabCut runs at most at this size (its cost grows with the pixel count)
GRABCUT_SEED = 0x5EED
_REPO = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = (
    _REPO / "node_modules" / "@mediapipe" / "selfie_segmentation" / "selfie_segmentation.tflite"
)

Box = tuple[int, int, int, int]  # left, top, right, bottom


@dataclass(frozen=True)
class Cutout:
    """A person cut out of a photo: RGBA `image` cropped to the person, `face` box inside it."""

    image: Image.Image
    face: Box
    segmented: bool  # True when the segmentation model drew the mask (not the prior)


def model_path() -> Path:
    return Path(os.environ.get("SEGMENTATION_MODEL_PATH") or DEFAULT_MODEL)


# OpenCV's detectors and networks keep per-call state inside the object (a Net holds its input
# blob between setInput and forward; a cascade its scaled buffers), so one instance must not run
# on two threads at once (OpenCV maintainers: "You can not share OpenCV algorithms between
# threads", opencv/opencv_contrib#1508). The worker renders on several threads: each thread
# loads its own, once (the net 0.25 MB, the cascade about 1 MB).
_local = threading.local()


@functools.cache
def _model_file() -> Path | None:
    """The segmentation model's path, or None (logged once) when it is not installed."""
    path = model_path()
    if not path.is_file():
        logger.warning(
            "Selfie segmentation model not found at %s (run `make install`); cut-outs use a"
            " head-and-shoulders prior refined by grabCut",
            path,
        )
        return None
    return path


def _net() -> cv2.dnn.Net | None:
    """This thread's segmentation network, or None without the model file."""
    if not hasattr(_local, "net"):
        path = _model_file()
        _local.net = cv2.dnn.readNetFromTFLite(str(path)) if path else None
    return _local.net


def _cascade() -> cv2.CascadeClassifier:
    """This thread's frontal-face cascade."""
    if not hasattr(_local, "cascade"):
        _local.cascade = cv2.CascadeClassifier(
            str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml")  # type: ignore[attr-defined]
        )
    return _local.cascade


def detect_face(photo: Image.Image) -> Box | None:
    """The largest frontal face in `photo` (RGB), or None. Detection runs at most 640 px wide."""
    scale = min(1.0, 640 / max(photo.size))
    # At least 1 px a side: a 1300x1 strip would otherwise round to 0 (Pillow's ValueError).
    small = photo.resize((max(1, round(photo.width * scale)), max(1, round(photo.height * scale))))
    grey = cv2.equalizeHist(cv2.cvtColor(np.asarray(small), cv2.COLOR_RGB2GRAY))
    side = min(grey.shape)
    found = _cascade().detectMultiScale(
        grey, scaleFactor=1.1, minNeighbors=6, minSize=(max(24, side // 10),) * 2
    )
    if len(found) == 0:
        return None
    x, y, w, h = max(found, key=lambda box: box[2] * box[3])
    return (
        round(x / scale),
        round(y / scale),
        round((x + w) / scale),
        round((y + h) / scale),
    )


def photo_score(photo: Image.Image, face: Box | None) -> float:
    """How good a photo is as the person's cut-out: the face's share of the photo's height times
    its sharpness (variance of the Laplacian inside the face box, capped); 0 without a face."""
    if face is None:
        return 0.0
    crop = np.asarray(photo.crop(face).convert("L").resize((128, 128)))
    sharpness = float(cv2.Laplacian(crop, cv2.CV_64F).var())
    size = (face[3] - face[1]) / photo.height
    return size * min(sharpness, 400.0) ** 0.5


def _probabilities(rgb: np.ndarray) -> np.ndarray | None:
    net = _net()
    if net is None:
        return None
    blob = cv2.dnn.blobFromImage(
        cv2.resize(rgb, (MODEL_INPUT, MODEL_INPUT), interpolation=cv2.INTER_AREA), 1 / 255.0
    )
    net.setInput(blob)
    out = net.forward().reshape(MODEL_INPUT, MODEL_INPUT)
    return cv2.resize(out, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)


def _prior(shape: tuple[int, int], face: Box) -> np.ndarray:
    """A head-and-shoulders probability map from the face box (no model)."""
    height, width = shape
    prior = np.zeros((height, width), np.float32)
    left, top, right, bottom = face
    fw, fh = right - left, bottom - top
    cx = (left + right) / 2
    cv2.ellipse(
        prior,
        (round(cx), round((top + bottom) / 2 - fh * 0.1)),
        (round(fw * 0.62), round(fh * 0.8)),
        0,
        0,
        360,
        1.0,
        -1,
    )
    shoulders = np.array(
        [
            (cx - fw * 0.35, bottom),
            (cx + fw * 0.35, bottom),
            (cx + fw * 1.6, bottom + fh * 0.9),
            (cx + fw * 1.8, height),
            (cx - fw * 1.8, height),
            (cx - fw * 1.6, bottom + fh * 0.9),
        ],
        np.int32,
    )
    cv2.fillPoly(prior, [shoulders], 0.8)
    return cv2.GaussianBlur(prior, (0, 0), fw * 0.15)


def person_mask(photo: Image.Image, face: Box) -> tuple[Image.Image, bool]:
    """An L mask of the person in `photo` (255 person, soft 2 px edge) and whether the model
    drew it."""
    scale = min(1.0, WORK_SIDE / max(photo.size))
    work = photo.resize((round(photo.width * scale), round(photo.height * scale)))
    rgb = np.ascontiguousarray(np.asarray(work))
    probabilities = _probabilities(rgb)
    segmented = probabilities is not None
    if probabilities is None:
        scaled_face = tuple(round(v * scale) for v in face)
        probabilities = _prior(rgb.shape[:2], scaled_face)  # type: ignore[arg-type]
    seed = np.full(rgb.shape[:2], cv2.GC_BGD, np.uint8)
    seed[probabilities >= 0.1] = cv2.GC_PR_BGD
    seed[probabilities >= 0.5] = cv2.GC_PR_FGD
    seed[probabilities >= 0.9] = cv2.GC_FGD
    left, top, right, bottom = (round(v * scale) for v in face)
    inner = (right - left) // 5
    seed[top + inner : bottom - inner, left + inner : right - inner] = cv2.GC_FGD  # the face
    mask = (probabilities >= 0.5).astype(np.uint8) * 255
    has_both = (seed == cv2.GC_BGD).any() or (seed == cv2.GC_PR_BGD).any()
    if has_both and ((seed == cv2.GC_FGD) | (seed == cv2.GC_PR_FGD)).any():
        background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        try:
            # grabCut starts its colour models with k-means from OpenCV's per-thread random
            # generator, whose state moves on with every call: seeded, one photo gives one
            # cut-out on any thread, first call or hundredth (renders are reproducible).
            cv2.setRNGSeed(GRABCUT_SEED)
            cv2.grabCut(rgb, seed, (0, 0, 0, 0), background, foreground, 2, cv2.GC_INIT_WITH_MASK)
            mask = np.where((seed == cv2.GC_FGD) | (seed == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
        except cv2.error as exc:  # a degenerate seed: keep the model's mask
            logger.warning("grabCut failed, keeping the unrefined mask: %s", exc)
    mask = _largest_component(mask)
    soft = Image.fromarray(mask).resize(photo.size, Image.Resampling.BILINEAR)
    return soft, segmented


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """Only the biggest connected blob (the person), holes filled by a small closing."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((mask > 127).astype(np.uint8))
    if count <= 1:
        return mask
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    kept = np.where(labels == biggest, 255, 0).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    return cv2.morphologyEx(kept, cv2.MORPH_CLOSE, kernel)


def cut_out(photo: Image.Image, face: Box | None = None) -> Cutout | None:
    """The person in `photo` (RGB) as an RGBA cut-out, or None when no face is found."""
    face = face or detect_face(photo)
    if face is None:
        return None
    mask, segmented = person_mask(photo, face)
    rgba = photo.convert("RGBA")
    rgba.putalpha(mask)
    bbox = mask.point(lambda v: 255 if v > 24 else 0).getbbox()
    if bbox is None:
        return None
    # Keep the face inside the crop even if the mask missed part of it, and a transparent
    # margin of a fifth of the face's height round the person where the photo has room: the
    # renderer's outline (up to 0.045 face heights) and a turned cut-out's corners (0.12) need
    # it, and a crop that ended at the crown outlined the head with a flat top. Where the person
    # runs off the photo (shoulders, the bottom edge), the crop ends there and so does the outline.
    margin = math.ceil((face[3] - face[1]) * 0.2)
    bbox = (
        max(0, min(bbox[0], face[0]) - margin),
        max(0, min(bbox[1], face[1]) - margin),
        min(photo.width, max(bbox[2], face[2]) + margin),
        min(photo.height, max(bbox[3], face[3]) + margin),
    )
    crop = rgba.crop(bbox)
    inner = (face[0] - bbox[0], face[1] - bbox[1], face[2] - bbox[0], face[3] - bbox[1])
    return Cutout(crop, inner, segmented)
