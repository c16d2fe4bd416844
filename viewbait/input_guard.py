"""Input checks shared by every view, so odd input is a 4xx `{"error", "code"}`, never a 500.

One place for the rules no single form or serializer can enforce:

- `InputGuardMiddleware`: a URL (path plus query string) longer than `settings.MAX_URL_LENGTH`
  characters is 414 `url_too_long`; a body whose Content-Length is above its limit is 413
  `request_too_large` before anything reads it (multipart: `settings.UPLOAD_MAX_REQUEST_BYTES`;
  any other body: `settings.DATA_UPLOAD_MAX_MEMORY_SIZE`; `body_limit`; in the web process
  viewbait.handlers applies the same limit while the ASGI body is read, which Django's handler
  does before any middleware); a NUL character or a lone UTF-16
  surrogate in the path, the query string or a form field (name or value) is 400
  `invalid_characters` (PostgreSQL text cannot hold NUL, and UTF-8 cannot encode a lone
  surrogate: either would be a database or encoding error later); a form Django cannot read
  (too many fields or files, a broken multipart body, a urlencoded body in a charset other
  than UTF-8) is 400 `invalid_form`. Django's own `RequestDataTooBig` / `TooManyFieldsSent` /
  `TooManyFilesSent` / `BadRequest` raised inside a view become 413 / 400 JSON too. A view
  whose errors are HTML (the studio's htmx forms: `core.api.renders_refusals`) gets these
  refusals in its own error shape instead, with the same status; /api/ is always JSON.
- `core.parsers.SafeJSONParser` (DRF's default JSON parser here): the same character rule
  for every string and key of a JSON body, and at most `MAX_JSON_DEPTH` levels of nesting (400
  `too_deep`; deeper JSON would otherwise end in Python's RecursionError).

Servers in front may cut long URLs or large bodies earlier (Daphne/Twisted: about 16 KiB of
request line and headers; nginx: 8 KiB per header line by default).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.http.multipartparser import MultiPartParserError
from django.urls import Resolver404, resolve

from core.api import json_error
from core.middleware import SyncAndAsyncMiddleware
from core.parsers import BAD_CHARACTERS_MESSAGE, has_bad_characters


def body_limit(content_type: str) -> int | None:
    """The most bytes a request body of this media type (parameters ignored) may have:
    `settings.UPLOAD_MAX_REQUEST_BYTES` for multipart, else `settings.DATA_UPLOAD_MAX_MEMORY_SIZE`
    (None: no limit). Also applied by viewbait.handlers while the body is read."""
    if content_type == "multipart/form-data":
        return int(settings.UPLOAD_MAX_REQUEST_BYTES)
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


FORM_UNREADABLE_MESSAGE = "The form could not be read."


def too_large(limit: int | None, request: HttpRequest | None = None) -> HttpResponse:
    """The 413 `request_too_large` answer (with `limit`, in bytes): JSON, or with `request`
    the view's own error shape (`refusal`)."""
    message = f"The request body is larger than {limit} bytes."
    if request is None:
        return json_error(message, "request_too_large", 413, limit=limit)
    return refusal(request, message, "request_too_large", 413, limit=limit)


def refusal(
    request: HttpRequest, message: str, code: str, status: int, **extra: Any
) -> HttpResponse:
    """The guard's answer: JSON `{"error", "code", **extra}`, or, for a view marked with
    `core.api.renders_refusals` (outside /api/), that view's own error fragment."""
    if not request.path.startswith("/api/"):
        try:
            match = resolve(request.path_info)
        except Resolver404:
            match = None
        render = getattr(match.func, "render_refusal", None) if match else None
        if match is not None and render is not None:
            return render(request, message, code, status, dict(match.kwargs))
    return json_error(message, code, status, **extra)


def _content_length(request: HttpRequest) -> int:
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def _form_has_bad_characters(request: HttpRequest) -> bool:
    fields = [request.GET]
    if request.method == "POST" and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        fields.append(request.POST)  # parsed once; Django and DRF reuse it
    return any(
        has_bad_characters(key) or any(has_bad_characters(v) for v in values)
        for query in fields
        for key, values in query.lists()
    )


class InputGuardMiddleware(SyncAndAsyncMiddleware):
    """See the module docstring. Goes first in MIDDLEWARE, before anything reads the body.
    Under ASGI the checks run in the event loop (the body is already buffered by Django's ASGI
    handler, so reading the form is CPU work only)."""

    def call(self, request: HttpRequest) -> HttpResponseBase:
        return self.refuse(request) or self.get_response(request)

    async def acall(self, request: HttpRequest) -> HttpResponseBase:
        return self.refuse(request) or await self.get_response(request)

    def refuse(self, request: HttpRequest) -> HttpResponse | None:
        """The 414/413/400 answer for `request`, or None to let it through."""
        url_length = len(request.path) + len(request.META.get("QUERY_STRING", ""))
        if url_length > settings.MAX_URL_LENGTH:
            return refusal(
                request,
                f"The URL is longer than {settings.MAX_URL_LENGTH} characters.",
                "url_too_long",
                414,
            )
        limit = body_limit(request.content_type or "")
        if limit is not None and _content_length(request) > limit:
            return too_large(limit, request)
        try:
            bad = has_bad_characters(request.path) or _form_has_bad_characters(request)
        except RequestDataTooBig:
            return too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE, request)
        except (TooManyFieldsSent, TooManyFilesSent, MultiPartParserError, BadRequest):
            # BadRequest: a urlencoded form declared in a charset other than UTF-8 (Django
            # refuses to read it); TooManyFilesSent: more than DATA_UPLOAD_MAX_NUMBER_FILES.
            # Both were Django's bare HTML 400 page, under /api/ too.
            return refusal(request, FORM_UNREADABLE_MESSAGE, "invalid_form", 400)
        if bad:
            return refusal(request, BAD_CHARACTERS_MESSAGE, "invalid_characters", 400)
        return None

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if isinstance(exc, RequestDataTooBig):
            return too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE, request)
        if isinstance(
            exc, TooManyFieldsSent | TooManyFilesSent | MultiPartParserError | BadRequest
        ):
            return refusal(request, FORM_UNREADABLE_MESSAGE, "invalid_form", 400)
        return None
