"""Decoding untrusted uploads and deriving stored image variants.

Uploads are decoded with Pillow, checked against a byte limit and a pixel limit (decompression
bombs), EXIF-rotated, and re-encoded before anything reaches storage, so no uploaded byte is
stored as is.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, ImageDraw, ImageFont, ImageOps

ALLOWED_UPLOAD_FORMATS = {"JPEG", "PNG", "WEBP"}
MAX_STORED_SIDE = 2048  # px; larger photos are downscaled: more detail does not help the model
YOUTUBE_MAX_BYTES = 2 * 1024 * 1024  # YouTube's custom-thumbnail limit (2 MB)
YOUTUBE_LONG_SIDE = 1280  # YouTube's recommended thumbnail is 1280x720
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
    400 `unsupported_image_type`, 400 `image_too_large`, 400 `invalid_image`)."""
    name = upload.name or "upload"
    if upload.size is not None and upload.size > settings.UPLOAD_MAX_BYTES:
        limit_mb = settings.UPLOAD_MAX_BYTES // (1024 * 1024)
        raise ImageRejected(f"{name} is larger than {limit_mb} MB.", "file_too_large", 413)
    data = upload.read()
    if len(data) > settings.UPLOAD_MAX_BYTES:
        raise ImageRejected(f"{name} is too large.", "file_too_large", 413)
    return decode_bytes(data, name=name)


def decode_bytes(data: bytes, *, name: str = "image") -> DecodedImage:
    """As `decode_upload`, for bytes already in memory."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
            if probe.format not in ALLOWED_UPLOAD_FORMATS:
                raise ImageRejected(
                    f"{name} is not a JPEG, PNG or WebP image.", "unsupported_image_type"
                )
            width, height = probe.size
            if width * height > settings.UPLOAD_MAX_PIXELS:
                raise ImageRejected(
                    f"{name} has too many pixels ({width}x{height}).", "image_too_large"
                )
            probe.verify()
            image: Image.Image = Image.open(io.BytesIO(data))
            image.load()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"{name} has too many pixels.", "image_too_large") from exc
    except Exception as exc:
        raise ImageRejected(f"{name} is not a readable image.", "invalid_image") from exc
    image = ImageOps.exif_transpose(image)
    image = image.convert("RGB")
    image.thumbnail((MAX_STORED_SIDE, MAX_STORED_SIDE), Image.Resampling.LANCZOS)
    return DecodedImage(image=image, width=image.width, height=image.height)


def encode_jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality, optimize=True, progressive=True)
    return buffer.getvalue()


def encode_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def encode_webp(image: Image.Image, quality: int = 82) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "WEBP", quality=quality, method=4)
    return buffer.getvalue()


def resize_to_width(image: Image.Image, width: int) -> Image.Image:
    if image.width <= width:
        return image.copy()
    height = round(image.height * width / image.width)
    return image.resize((width, height), Image.Resampling.LANCZOS)


def youtube_jpeg(image: Image.Image, aspect_ratio: str) -> tuple[bytes, int, int]:
    """The upload-ready download: cropped to the exact nominal `aspect_ratio` ("16:9"; Gemini's
    sizes are only close to it, e.g. 1376x768), longer side 1280 px (1280x720 for 16:9, YouTube's
    recommended thumbnail size), JPEG under 2 MB (YouTube's limit). Returns (bytes, width, height).
    """
    ratio_w, ratio_h = (int(part) for part in aspect_ratio.split(":"))
    if ratio_w >= ratio_h:
        size = (YOUTUBE_LONG_SIDE, round(YOUTUBE_LONG_SIDE * ratio_h / ratio_w))
    else:
        size = (round(YOUTUBE_LONG_SIDE * ratio_w / ratio_h), YOUTUBE_LONG_SIDE)
    fitted = ImageOps.fit(image.convert("RGB"), size, Image.Resampling.LANCZOS)
    for quality in (92, 85, 78, 70, 60):
        data = encode_jpeg(fitted, quality)
        if len(data) < YOUTUBE_MAX_BYTES:
            break
    return data, size[0], size[1]


def burn_watermark(image: Image.Image, text: str = "Made with ViewBait") -> Image.Image:
    """Free-plan watermark drawn into the pixels (PRODUCT.md flaw 9: it must be in the stored
    file). Bottom-right, about 3.2% of the image height, white with a dark outline at 70%."""
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
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font, stroke_width=2)
    x = base.width - (right - left) - margin
    y = base.height - (bottom - top) - margin
    draw.text(
        (x, y),
        text,
        font=font,
        fill=(255, 255, 255, 180),
        stroke_width=max(2, size // 10),
        stroke_fill=(0, 0, 0, 180),
    )
    return Image.alpha_composite(base, overlay).convert("RGB")
