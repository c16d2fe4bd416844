"""HTTP middleware of the studio."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.middleware.gzip import GZipMiddleware
from whitenoise.middleware import WhiteNoiseMiddleware

from core.streaming import stream_under_asgi

# Media types worth compressing: text (HTML, CSS, CSV, plain), JSON, JavaScript, SVG and XML.
# Images, video and archives are compressed already; gzipping them costs CPU for nothing.
COMPRESSIBLE_PREFIXES = ("text/",)
COMPRESSIBLE_TYPES = frozenset(
    {
        "application/json",
        "application/problem+json",
        "application/javascript",
        "application/xml",
        "application/manifest+json",
        "image/svg+xml",
    }
)


def compressible(content_type: str) -> bool:
    """True for a Content-Type value (parameters ignored) of a text-like media type."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type.startswith(COMPRESSIBLE_PREFIXES) or media_type in COMPRESSIBLE_TYPES


class CompressTextMiddleware(GZipMiddleware):
    """Django's GZipMiddleware (gzip when the client sends `Accept-Encoding: gzip`, responses of
    200 bytes or more, Vary: Accept-Encoding), limited to text-like responses (compressible).

    BREACH: compressed HTML that reflects a secret next to attacker-chosen text can leak the
    secret by response length. Django masks the CSRF token with a fresh random mask per response
    and, since 4.2, GZipMiddleware pads each gzip stream with random bytes ("Heal the Breach"),
    which is the mitigation Django documents for this middleware. Static files never reach it:
    StaticFilesMiddleware (WhiteNoise), listed before it, answers them with their precompressed
    copies.
    """

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if not compressible(response.get("Content-Type", "")):
            return response
        return super().process_response(request, response)


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise's middleware, whose file responses stream under ASGI (core.streaming): in the
    web process Django read each file whole into memory before sending it."""

    @staticmethod
    def serve(static_file: Any, request: HttpRequest) -> Any:
        return stream_under_asgi(request, WhiteNoiseMiddleware.serve(static_file, request))
