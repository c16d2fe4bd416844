"""The image-provider interface shared by Gemini and the local renderer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol


@dataclass(frozen=True)
class InputImage:
    """An image part sent with the prompt: style references first, then faces."""

    data: bytes
    mime_type: str
    role: Literal["reference", "face"]


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


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    aspect_ratio: str  # one of generation.sizes.ASPECT_RATIOS
    image_size: str  # "1K", "2K" or "4K"
    model: str
    images: list[InputImage] = field(default_factory=list)
    spec: RenderSpec = field(default_factory=RenderSpec)


@dataclass(frozen=True)
class GeneratedImage:
    data: bytes
    mime_type: str


class ProviderError(Exception):
    """A provider failure with a creator-safe `message` and a stable `code`.

    Never carries the provider's raw text to the browser; the raw error is logged instead.
    """

    code = "provider_error"
    message = "The image service failed. Your credits for this image were refunded."

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.message)
        self.detail = detail


class SafetyBlocked(ProviderError):
    code = "safety_blocked"
    message = "The image was blocked by the safety filter. Try different text or photos."


class QuotaExceeded(ProviderError):
    code = "quota_exceeded"
    message = "The image service is busy right now. Please try again in a minute."


class ProviderTimeout(ProviderError):
    code = "timeout"
    message = "The image service took too long to answer."


class ProviderUnavailable(ProviderError):
    code = "provider_error"
    message = "The image service failed. Please try again."


class NoImageReturned(ProviderError):
    code = "no_image"
    message = "The image service returned no image. Try rephrasing your text."


class InvalidProviderRequest(ProviderError):
    code = "invalid_request"
    message = "The image service could not use this request."


class ImageProvider(Protocol):
    name: str

    def generate_image(self, request: ImageRequest) -> GeneratedImage:
        """One image for one request. Raises a `ProviderError` subclass on failure."""
        ...
