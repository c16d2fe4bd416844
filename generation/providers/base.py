"""The provider interface shared by Gemini and the offline local provider.

A provider offers up to three capabilities, each one call per unit of work:
`generate_image` (a prompt plus reference images -> one image), `edit_image` (a source image, an
instruction and optional references -> one image) and `generate_json` (a prompt plus images ->
a JSON object matching a JSON schema). A provider that cannot do one raises
`CapabilityUnavailable`, which says what a Gemini key adds.

Every failure is a `ProviderError` subclass with a creator-safe `message`, a stable `code`, and
two facts the engine acts on: `retryable` (a transient fault worth another attempt: HTTP 429 per
minute quotas, 500/503/504, timeouts, connection errors) with an optional `retry_after` in seconds
(Google's `google.rpc.RetryInfo.retryDelay`), and `trips_breaker` (a fault of the service rather
than of this request, counted by the per-model circuit breaker).
"""

from __future__ import annotations

import io
import unicodedata
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class InputImage:
    """An image part sent with the prompt: style references first, then faces; for an edit the
    source image is `EditRequest.source` and extra references follow it."""

    data: bytes
    mime_type: str
    role: Literal["reference", "face", "source", "analysis"]
    # For role="face": which person (0, 1, ... in the creator's order) the photo shows; photos
    # of one person share it. None: every face photo is its own person.
    person: int | None = None


# Unicode categories that draw nothing on their own: format characters (zero-width space, soft
# hyphen, word joiner, byte order mark), separators, combining marks without a letter, controls.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Zs", "Zl", "Zp", "Mn", "Cc"})


def visible_text(text: str) -> str:
    """`text` stripped, or "" when nothing in it is visible: a title line of only a zero-width
    space ("Hello: \u200b") is no line. str.strip() keeps such characters."""
    text = text.strip()
    if any(
        not char.isspace() and unicodedata.category(char) not in _INVISIBLE_CATEGORIES
        for char in text
    ):
        return text
    return ""


@dataclass(frozen=True)
class RenderSpec:
    """The request in structured form, for renderers that do not read prompts (the local one).

    `colors` are "#RRGGBB" strings from the palette, most prominent first; `style_key` is a
    built-in style's slug or "" for a custom style.
    """

    title: str = ""
    subtitle: str = ""
    colors: list[str] = field(default_factory=list)
    style_name: str = ""
    style_key: str = ""
    expression: str = ""
    pose: str = ""
    seed: int = 0
    variation: int = 0  # the variation's index in its request: 0, 1, ... (layouts differ)


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    aspect_ratio: str  # one of generation.sizes.ASPECT_RATIOS
    image_size: str  # "1K", "2K" or "4K"
    model: str
    images: list[InputImage] = field(default_factory=list)
    spec: RenderSpec = field(default_factory=RenderSpec)
    # Called with the share of the picture drawn so far (0-1) by a renderer that can tell (the
    # local one, from its thread); a remote model's single call cannot, and ignores it.
    progress: Callable[[float], None] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class EditRequest:
    """Edit `source` following `instruction`; `references` (at most 4) follow the source."""

    source: InputImage
    instruction: str
    aspect_ratio: str
    image_size: str
    model: str
    references: list[InputImage] = field(default_factory=list)


@dataclass(frozen=True)
class JSONRequest:
    """Structured output: `schema` is a JSON Schema object (sent as `responseJsonSchema`).
    `video_uri`: a public YouTube video's watch URL the model watches with the prompt (Gemini's
    video understanding takes YouTube URLs as file data), "" for none."""

    prompt: str
    schema: dict[str, Any]
    model: str
    images: list[InputImage] = field(default_factory=list)
    video_uri: str = ""


# Every PNG ViewBait writes (stored thumbnails, images sent on to Gemini) is compressed with
# zlib's run-length strategy (Z_RLE: after PNG's per-row filters, repeats of the byte just before,
# which is what a filtered picture's redundancy mostly is). From `benchmarks/worker_images.py
# --encoders` and renders with a face (2026-12-05, 2 cores): 1376x768 0.28 MB in 29 ms against
# level 6 with zlib's default strategy 0.27 MB in 78 ms (a face render 0.71 MB in 43 ms against
# 0.68 in 157); 5504x3072 1.28 MB in 324 ms against 1.20 in 565 (with a face 4.40 MB in 476 ms
# against 4.45 in 1425); level 1 was 1.75 MB in 333 ms, level 9 1.09 MB in 3.0 s. So level 6's
# bytes within 3-7% at level 1's CPU: the PNG had been half of a 4K image's worker CPU. Level 6
# is kept for a reader that ignores the strategy; under Z_RLE zlib does not search, at any level.
PNG_OPTIONS: dict[str, Any] = {"compress_level": 6, "compress_type": zlib.Z_RLE}


def encode_png(image: Any) -> bytes:
    """A Pillow image as PNG bytes (PNG_OPTIONS; lossless: the same pixels at any setting)."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=False, **PNG_OPTIONS)
    return buffer.getvalue()


# Modes of more than 8 bits per sample: a 16-bit greyscale PNG or TIFF opens as I;16 (or its byte
# orders), some TIFFs as I (32-bit signed). Pillow's convert("L"/"RGB") clips their values to 255
# instead of scaling them (Pillow 13: a 16-bit photo of mean 115 came out at 229, nearly white).
_WIDE_GREY = frozenset({"I;16", "I;16B", "I;16L", "I;16N"})


def eight_bit(image: Any) -> Any:
    """A Pillow image with more than 8 bits per sample (I;16*, I) as an 8-bit L image of the
    same tones; any other image unchanged. I;16 keeps its top 8 bits (65535 -> 255). I holds
    8-bit values (kept), 16-bit ones (top 8 bits) or a wider range (stretched from its lowest
    to its highest value)."""
    import numpy as np
    from PIL import Image

    if image.mode not in _WIDE_GREY and image.mode != "I":
        return image
    values = np.asarray(image)  # uint16 in its byte order for I;16*, int32 for I
    if image.mode in _WIDE_GREY:
        grey = (values.astype(np.uint16) >> 8).astype(np.uint8)
    else:
        low, high = int(values.min(initial=0)), int(values.max(initial=0))
        if low >= 0 and high <= 255:
            grey = values.astype(np.uint8)
        elif low >= 0 and high <= 65535:
            grey = (values >> 8).astype(np.uint8)
        else:
            span = max(1, high - low)
            grey = ((values.astype(np.int64) - low) * 255 // span).astype(np.uint8)
    converted = Image.fromarray(grey)  # L
    # EXIF and the rest stay; a transparent grey level is a 16-bit value, meaningless in L.
    converted.info = {key: value for key, value in image.info.items() if key != "transparency"}
    return converted


class GeneratedImage:
    """One generated image: encoded `data` in `mime_type` (what Gemini returns), or the decoded
    Pillow `image` itself from a renderer that draws in memory (the local one). The worker stores
    from `image` without an encode-decode round trip (`studio.outputs.encode_unit_files`); `data`
    on such a result encodes a PNG (`encode_png`) on first use only.
    `notes`: what the provider changed and the creator should know, one sentence each (the local
    renderer: a title shortened to stay readable). `text`: the lines of words drawn on the
    image (the title and sub-line as set), when the provider knows them (the local renderer;
    None from an image model, whose lettering is its own). Raises ValueError if given neither."""

    def __init__(
        self,
        data: bytes | None = None,
        mime_type: str = "image/png",
        *,
        image: Any = None,
        notes: tuple[str, ...] = (),
        text: tuple[str, ...] | None = None,
    ) -> None:
        if data is None and image is None:
            raise ValueError("GeneratedImage needs data or an image")
        self._data = data
        self.mime_type = mime_type
        self.image = image  # a PIL.Image.Image, or None
        self.notes = notes
        self.text = text

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data = encode_png(self.image)
        return self._data

    def picture(self) -> Any:
        """The picture as an RGB Pillow image: the renderer's own `image` (not a copy; do not
        draw on it), else `data` decoded once. Raises PIL's errors on undecodable data."""
        from PIL import Image

        image = self.image
        if image is None:
            image = Image.open(io.BytesIO(self.data))
            image.load()
        return image if image.mode == "RGB" else image.convert("RGB")

    def __repr__(self) -> str:
        kind = "image" if self._data is None else f"{len(self._data)} bytes"
        return f"GeneratedImage({kind}, {self.mime_type})"


@dataclass(frozen=True)
class JSONResult:
    data: dict[str, Any]
    input_tokens: int = 0
    output_tokens: int = 0


class ProviderError(Exception):
    """A provider failure with a creator-safe `message` and a stable `code`.

    Never carries the provider's raw text to the browser; the raw error is logged and kept in
    `detail`. `retry_after` is seconds, from Google's RetryInfo when the answer carried one.
    """

    code = "provider_error"
    message = "The image service failed."
    retryable = False
    trips_breaker = False

    def __init__(self, detail: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(detail or self.message)
        self.detail = detail
        self.retry_after = retry_after


class SafetyBlocked(ProviderError):
    code = "safety_blocked"
    message = "The request was blocked by Google's safety filter. Try different text or photos."


class QuotaExceeded(ProviderError):
    """A per-minute quota (HTTP 429 RESOURCE_EXHAUSTED) that clears within about a minute."""

    code = "quota_exceeded"
    message = "The AI service is busy right now. Please try again in a minute."
    retryable = True


class QuotaExhausted(ProviderError):
    """A daily quota (QuotaFailure violation whose quotaId names a per-day limit): retrying
    within hours cannot help."""

    code = "quota_exhausted"
    message = (
        "ViewBait's Gemini quota for today is used up; it resets daily (midnight Pacific time)."
    )


class ProviderTimeout(ProviderError):
    code = "timeout"
    message = "The AI service took too long to answer."
    retryable = True
    trips_breaker = True


class ProviderUnavailable(ProviderError):
    code = "provider_error"
    message = "The AI service failed. Please try again."
    retryable = True
    trips_breaker = True


class ProviderAuthFailed(ProviderError):
    """HTTP 400 API_KEY_INVALID, 401 or 403: the key is missing, wrong or not allowed."""

    code = "provider_auth"
    message = "The Gemini API key is missing or invalid; the studio's operator needs to fix it."
    trips_breaker = True


class ModelUnavailable(ProviderError):
    """HTTP 404 NOT_FOUND for the model: retired or never existed."""

    code = "model_unavailable"
    message = "This AI model is no longer available. Pick another model."
    trips_breaker = True


class NoImageReturned(ProviderError):
    code = "no_image"
    message = "The image service returned no image. Try rephrasing your text."


class InvalidProviderRequest(ProviderError):
    code = "invalid_request"
    message = "The AI service could not use this request."


class InvalidJSONReturned(ProviderError):
    code = "invalid_response"
    message = "The AI service returned an answer ViewBait could not read. Please try again."
    retryable = True


class CapabilityUnavailable(ProviderError):
    """The configured provider cannot do this (the offline provider has no language model)."""

    code = "needs_api_key"
    message = "This needs a Gemini API key; the studio is running offline."


class Provider(Protocol):
    """`name` is "gemini" or "local"; jobs record the model id (`local` for the offline one)."""

    name: str

    def generate_image(self, request: ImageRequest) -> GeneratedImage:
        """One image for one request. Raises a `ProviderError` subclass on failure."""
        ...

    def edit_image(self, request: EditRequest) -> GeneratedImage:
        """One edited image. Raises a `ProviderError` subclass on failure."""
        ...

    def generate_json(self, request: JSONRequest) -> JSONResult:
        """One JSON object matching `request.schema`. Raises a `ProviderError` subclass."""
        ...
