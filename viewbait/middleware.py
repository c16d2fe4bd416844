"""HTTP middleware of the studio."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponseBase
from django.middleware.gzip import GZipMiddleware
from whitenoise.middleware import WhiteNoiseMiddleware

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
    WhiteNoiseMiddleware, listed before it, answers them with their precompressed copies.
    """

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if not compressible(response.get("Content-Type", "")):
            return response
        return super().process_response(request, response)


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoiseMiddleware (6.x is sync-only) that also runs natively in the ASGI web process.

    Django runs each middleware in the mode of the chain around it; one sync-only middleware near
    the top makes every request hop to a thread for it and back to the event loop for the rest
    of the chain, before the view's own hop (django.core.handlers.base.load_middleware). Here the
    common case, a path that is not a static file, costs a dict look-up and an `await`; a static
    file is served by WhiteNoise's own code on a thread.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any = None) -> None:
        super().__init__(get_response)
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self._is_async:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        if self.autorefresh:
            static_file = await sync_to_async(self.find_file, thread_sensitive=False)(
                request.path_info
            )
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return await sync_to_async(self.serve, thread_sensitive=False)(static_file, request)
        response: Awaitable[HttpResponseBase] = self.get_response(request)
        return await response
