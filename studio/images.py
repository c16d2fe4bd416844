"""Decoding untrusted uploads and deriving stored image variants.

Uploads are decoded with Pillow, checked against a byte limit and a pixel limit (decompression
bombs), EXIF-rotated, and re-encoded before anything reaches storage, so no uploaded byte is
stored as is. Decoding memory is bounded per image, per request and per process (`decode_bytes`).
"""

from __future__ import annotations

import io
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponseBase
from PIL import Image, ImageDraw, ImageFont, ImageOps

from core.middleware import SyncAndAsyncMiddleware
from generation.providers.base import eight_bit
from generation.providers.base import encode_png as encode_png  # for this module's callers
from studio.downloads import youtube_size

ALLOWED_UPLOAD_FORMATS = {"JPEG", "PNG", "WEBP"}
# px: a strip narrower than this holds no face, style or backdrop a thumbnail could use (the face
# detector's smallest face is 24 px).
MIN_SIDE = 16
MAX_STORED_SIDE = 2048  # px; larger photos are downscaled: more detail does not help the model
YOUTUBE_MAX_BYTES = 2 * 1024 * 1024  # YouTube's custom-thumbnail limit (2 MB)
GALLERY_WIDTHS = (400, 800)  # srcset widths of the gallery variants


class ImageRejected(Exception):
    """An upload that is not an acceptable image. `code` and `status` go into the API error."""

    def __init__(self, message: str, code: str = "invalid_image", status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


@dataclass(frozen=True)
class DecodedImage:
    image: Image.Image
    width: int
    height: int


def decode_upload(upload: UploadedFile) -> DecodedImage:
    """Decode an uploaded JPEG/PNG/WebP into an RGB image, EXIF orientation applied and at most
    MAX_STORED_SIDE px on its longer side. Raises ImageRejected (413 `file_too_large`,
    400 `unsupported_image_type`, 400 `image_too_small` (under MIN_SIDE px on a side),
    400 `image_too_large`, 413 `upload_pixels_exceeded`,
    503 `busy`, 400 `invalid_image`)."""
    name = upload.name or "upload"
    if upload.size is not None and upload.size > settings.UPLOAD_MAX_BYTES:
        limit_mb = settings.UPLOAD_MAX_BYTES // (1024 * 1024)
        raise ImageRejected(f"{name} is larger than {limit_mb} MB.", "file_too_large", 413)
    data = upload.read()
    if len(data) > settings.UPLOAD_MAX_BYTES:
        raise ImageRejected(f"{name} is too large.", "file_too_large", 413)
    return decode_bytes(data, name=name)


# Pixels decoded so far in the current request (a one-item list, so the view's thread adds to
# the object the middleware created); None outside a request: only the per-image limit applies.
_request_pixels: ContextVar[list[int] | None] = ContextVar("upload_request_pixels", default=None)
_decode_slots: threading.BoundedSemaphore | None = None
_decoders: ThreadPoolExecutor | None = None
_decode_slots_size = 0
_decode_slots_lock = threading.Lock()


def _slots() -> threading.BoundedSemaphore:
    """The process's decode semaphore, sized from settings.UPLOAD_DECODE_CONCURRENCY (rebuilt if
    the setting changes, as tests do)."""
    return _decode_pool()[0]


def _decode_pool() -> tuple[threading.BoundedSemaphore, ThreadPoolExecutor]:
    """The semaphore and the decoding threads (as many as slots). Decoding always happens on
    these few threads rather than on each request's: glibc keeps a thread's freed memory in that
    thread's malloc arena, so decodes spread over every request thread would each keep their own
    full-size buffer's worth of memory (measured: 4 request threads, one decode at a time, still
    peaked at 4x one decode; benchmarks/upload_memory.py)."""
    global _decode_slots, _decoders, _decode_slots_size
    size = max(1, settings.UPLOAD_DECODE_CONCURRENCY)
    with _decode_slots_lock:
        if _decode_slots is None or _decoders is None or _decode_slots_size != size:
            if _decoders is not None:
                _decoders.shutdown(wait=False)
            _decode_slots = threading.BoundedSemaphore(size)
            _decoders = ThreadPoolExecutor(size, thread_name_prefix="upload-decode")
            _decode_slots_size = size
        return _decode_slots, _decoders


class UploadBudgetMiddleware(SyncAndAsyncMiddleware):
    """Gives each request its own decode budget of settings.UPLOAD_REQUEST_MAX_PIXELS (a context
    variable, which asgiref carries into the thread a sync view runs on)."""

    def call(self, request: HttpRequest) -> HttpResponseBase:
        token = _request_pixels.set([0])
        try:
            return self.get_response(request)
        finally:
            _request_pixels.reset(token)

    async def acall(self, request: HttpRequest) -> HttpResponseBase:
        token = _request_pixels.set([0])
        try:
            return await self.get_response(request)
        finally:
            _request_pixels.reset(token)


def _charge_request(pixels: int, name: str) -> None:
    spent = _request_pixels.get()
    if spent is None:
        return
    if spent[0] + pixels > settings.UPLOAD_REQUEST_MAX_PIXELS:
        raise ImageRejected(
            f"{name}: the images of one request may have "
            f"{settings.UPLOAD_REQUEST_MAX_PIXELS:,} pixels in all.",
            "upload_pixels_exceeded",
            413,
        )
    spent[0] += pixels


def decode_bytes(data: bytes, *, name: str = "image") -> DecodedImage:
    """As `decode_upload`, for bytes already in memory.

    Memory is bounded before any pixel is decoded: the header's size must fit
    settings.UPLOAD_MAX_PIXELS and what is left of the request's UPLOAD_REQUEST_MAX_PIXELS; a
    JPEG is decoded at the smallest DCT scale (1/2, 1/4, 1/8) still at least the stored size
    (Pillow's `draft`); and at most settings.UPLOAD_DECODE_CONCURRENCY images are decoded at once
    per process (a caller waits up to UPLOAD_DECODE_WAIT_SECONDS, then 503 `busy`). The image
    is reduced to the stored size before it is converted, so at most one full-size buffer
    exists per decode."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in ALLOWED_UPLOAD_FORMATS:
                raise ImageRejected(
                    f"{name} is not a JPEG, PNG or WebP image.", "unsupported_image_type"
                )
            width, height = image.size
            if min(width, height) < MIN_SIDE:
                raise ImageRejected(
                    f"{name} is {width}x{height} px: an image needs at least {MIN_SIDE} px on "
                    "each side.",
                    "image_too_small",
                )
            if width * height > settings.UPLOAD_MAX_PIXELS:
                raise ImageRejected(
                    f"{name} has too many pixels ({width}x{height}).", "image_too_large"
                )
            image.verify()
            image = Image.open(io.BytesIO(data))
            if image.format == "JPEG":
                scale = min(1.0, MAX_STORED_SIDE / max(width, height))
                image.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
            _charge_request(image.width * image.height, name)
            slots, decoders = _decode_pool()
            if not slots.acquire(timeout=settings.UPLOAD_DECODE_WAIT_SECONDS):
                raise ImageRejected("Too many images are being read; try again.", "busy", 503)
            try:
                return decoders.submit(_load_reduced, image).result()
            finally:
                slots.release()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"{name} has too many pixels.", "image_too_large") from exc
    except Exception as exc:
        raise ImageRejected(f"{name} is not a readable image.", "invalid_image") from exc


def _load_reduced(image: Image.Image) -> DecodedImage:
    image.load()
    image = eight_bit(image)  # 16-bit greyscale: scaled, not clipped to white
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    # thumbnail() first box-averages by the largest whole factor that keeps the image at least
    # the stored size (Image.reduce; reducing_gap=1), then resamples with LANCZOS: measured 3x
    # faster than LANCZOS from full size for a 6000 px upload, with half the scratch memory.
    image.thumbnail((MAX_STORED_SIDE, MAX_STORED_SIDE), Image.Resampling.LANCZOS, reducing_gap=1.0)
    image = ImageOps.exif_transpose(image)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return DecodedImage(image=image, width=image.width, height=image.height)


def encode_jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality, optimize=True, progressive=True)
    return buffer.getvalue()


# Encoder settings, from `benchmarks/worker_images.py --encoders`. PNG: `encode_png`, with
# generation.providers.base's PNG_OPTIONS. WebP previews (800 px): quality 75/82/90 at method 4
# gave 21.3/25.8/34.2 kB; at quality 82, method 0/2/4/6 gave 31.7/26.6/25.8/25.1 kB for
# 8/13/31/58 ms. Previews are the most-served bytes and cost milliseconds either way, so 82 at
# method 4 stays.
WEBP_QUALITY = 82
WEBP_METHOD = 4
# Previews are resized with Pillow's `reducing_gap`: a fast integer `reduce()` first, then
# LANCZOS over at least 3x the target size (Pillow docs: with 3.0 or more "the result is
# indistinguishable from fair resampling in most cases"); 800 + 400 px previews of a 4K image
# took 444 ms of CPU without it, 123 ms with it.
RESIZE_REDUCING_GAP = 3.0


def encode_webp(image: Image.Image, quality: int = WEBP_QUALITY) -> bytes:
    buffer = io.BytesIO()
    if image.mode != "RGB":
        image = image.convert("RGB")
    image.save(buffer, "WEBP", quality=quality, method=WEBP_METHOD)
    return buffer.getvalue()


def resize_to_width(
    image: Image.Image, width: int, *, source: Image.Image | None = None
) -> Image.Image:
    """`image` at `width` px wide (aspect kept); a copy if it is no wider already. `source`, if
    given, is a smaller copy of `image` to resample from (less CPU); the size is still `image`'s
    scaled, so it does not drift by a rounding."""
    if image.width <= width:
        return image.copy()
    height = round(image.height * width / image.width)
    return (source or image).resize(
        (width, height), Image.Resampling.LANCZOS, reducing_gap=RESIZE_REDUCING_GAP
    )


def youtube_jpeg(image: Image.Image, aspect_ratio: str) -> tuple[bytes, int, int]:
    """The upload-ready download: cropped to the exact nominal `aspect_ratio` ("16:9"; Gemini's
    sizes are only close to it, e.g. 1376x768) at `studio.downloads.youtube_size` (1280x720 for
    16:9, 1080x1920 for 9:16 from a 2K or 4K source, never upscaled), JPEG under 2 MB (YouTube's
    limit). Returns (bytes, width, height).
    """
    size = youtube_size(aspect_ratio, image.size)
    fitted = ImageOps.fit(image.convert("RGB"), size, Image.Resampling.LANCZOS)
    for quality in (92, 85, 78, 70, 60, 50):
        data = encode_jpeg(fitted, quality)
        if len(data) < YOUTUBE_MAX_BYTES:
            break
    return data, size[0], size[1]


def burn_watermark(image: Image.Image, text: str = "Made with ViewBait") -> Image.Image:
    """Free-plan watermark drawn into the pixels (PRODUCT.md flaw 9: it must be in the stored
    file). Bottom-left, about 3.2% of the image height, white with a dark outline at 70% on a
    dark translucent plate (readable on any picture): the bottom-right corner is where
    YouTube's duration badge covers the thumbnail, and the margin (1.4 text heights) keeps it
    above the red watched-progress bar along the bottom edge."""
    base = image.convert("RGBA")
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    size = max(14, round(base.height * 0.032))
    try:
        font: ImageFont.FreeTypeFont | ImageFont.ImageFont = ImageFont.truetype(
            "DejaVuSans-Bold.ttf", size
        )
    except OSError:
        font = ImageFont.load_default(size)
    margin = round(size * 0.8)
    left, top, _, bottom = draw.textbbox((0, 0), text, font=font, stroke_width=2)
    x = margin - left
    y = base.height - (bottom - top) - round(size * 1.4) - top
    # A dark plate under it, so it reads on any picture (white on a yellow stripe did not).
    pad = round(size * 0.35)
    draw.rounded_rectangle(
        (
            x + left - pad,
            y + top - pad,
            x + draw.textlength(text, font=font) + pad,
            y + bottom + pad,
        ),
        radius=pad,
        fill=(0, 0, 0, 110),
    )
    draw.text(
        (x, y),
        text,
        font=font,
        fill=(255, 255, 255, 180),
        stroke_width=max(2, size // 10),
        stroke_fill=(0, 0, 0, 180),
    )
    return Image.alpha_composite(base, overlay).convert("RGB")


IMAGE_TYPES = {
    ".png": "image/png",
    ".webp": "image/webp",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}


def mime_type(name: str, default: str = "image/png") -> str:
    """The MIME type of a stored image by its file name's extension (case ignored): ".png",
    ".webp", ".jpg"/".jpeg"; `default` for any other name. The studio names what it stores
    (PNG originals, WebP gallery sizes, JPEG face photos), so this is what the bytes are."""
    dot = name.rfind(".")
    return IMAGE_TYPES.get(name[dot:].lower(), default) if dot >= 0 else default
