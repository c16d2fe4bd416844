"""JSON API plumbing shared by every app: the `{"error": ..., "code": ...}` error shape."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.decorators import api_view as drf_api_view
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.db_faults import is_database_fault
from core.redis_faults import log_throttled

logger = logging.getLogger(__name__)

# What a 503 database_unavailable asks the client to wait: a dropped or restarting database is
# usually back within seconds.
DATABASE_RETRY_AFTER_SECONDS = 5


class APIError(exceptions.APIException):
    """An API failure with a stable machine-readable `code` and optional extra JSON fields."""

    def __init__(self, message: str, code: str, status_code: int = 400, **extra: Any) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.extra = extra


def json_object(request: Request, message: str = "Send a JSON object.") -> Any:
    """The request's body as an object: a JSON object (or a form's fields, for a view that also
    takes forms); else 400 `invalid` with `message`, for a list, string, number or null, and
    for no body at all (0 bytes), which DRF reads as `{}`: an empty POST /api/generate was an
    untitled request, and charged."""
    data = request.data
    if _sent_no_body(request) or not isinstance(data, dict):
        raise APIError(message, "invalid")
    return data


def _sent_no_body(request: Request) -> bool:
    """Whether the request came without a body, as DRF's Request judges it (`_load_stream`: no
    Content-Length, 0 or not a number), which then reads the body as `{}` without parsing."""
    meta = request.META
    try:
        return int(meta.get("CONTENT_LENGTH", meta.get("HTTP_CONTENT_LENGTH", 0)) or 0) == 0
    except (ValueError, TypeError):
        return True


def error_body(message: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"error": message, "code": code, **extra}


def json_error(message: str, code: str, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse(error_body(message, code, **extra), status=status)


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for field, value in detail.items():
            msg = _first_message(value)
            return msg if field == "non_field_errors" else f"{field}: {msg}"
        return "Invalid request."
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else "Invalid request."
    return str(detail)


# A 401 carries a challenge (RFC 9110 section 15.5.2 and 11.6.1). The API signs in with the
# session cookie of the site's sign-in page, which has no registered scheme: "Session", naming it.
SESSION_CHALLENGE = 'Session realm="ViewBait"'


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler giving every error the `{"error", "code"}` shape.

    Unauthenticated requests get 401 with a `WWW-Authenticate: Session` challenge (DRF's
    session auth, which has none, would say 403); Django's 404 and
    PermissionDenied map to 404/403; validation errors keep their field messages in `fields`.
    """
    if isinstance(exc, APIError):
        response = Response(
            error_body(str(exc.detail), exc.error_code, **exc.extra), status=exc.status_code
        )
        if isinstance(exc.extra.get("retry_after"), int):  # e.g. 503 storage_unavailable
            response["Retry-After"] = str(exc.extra["retry_after"])
        return response
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return Response(
            error_body("Authentication required.", "not_authenticated"),
            status=status.HTTP_401_UNAUTHORIZED,
            headers={"WWW-Authenticate": SESSION_CHALLENGE},
        )
    if isinstance(exc, Http404 | exceptions.NotFound):
        return Response(error_body("Not found.", "not_found"), status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(_first_message(exc.detail), "invalid", fields=exc.detail)
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        response.data = error_body(_first_message(exc.detail), code)
    return response


class FileNegotiation(BaseContentNegotiation):
    """For a view that answers with a file (a FileResponse, which no renderer touches): any
    Accept is met, the file's own Content-Type says what it is, and an error is the API's JSON.
    DRF's negotiation answered `Accept: image/jpeg` on the JPEG download with 406, as the view
    lists only JSON (the API review). DRF's documented "IgnoreClientContentNegotiation"."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return parsers[0]

    def select_renderer(
        self, request: Request, renderers: Any, format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        return renderers[0], str(renderers[0].media_type)


class JSONWhenUnnegotiated:
    """A DRF view mixin for views that render other formats (the OpenAPI schema's YAML): when
    content negotiation failed (an unknown `?format=`: 404, an Accept it cannot meet: 406), the
    error is rendered as JSON `{"error", "code"}` like every error under /api/, not with the
    view's first renderer (DRF's fallback, which answered `?format=xml` with a YAML body)."""

    def perform_content_negotiation(
        self, request: Request, force: bool = False
    ) -> tuple[BaseRenderer, str]:
        if force:  # only when negotiation failed: DRF's finalize_response for the error
            renderer = JSONRenderer()
            return renderer, str(renderer.media_type)
        return super().perform_content_negotiation(request, force)  # type: ignore[misc]


# A view's way of answering a refusal it never saw (`renders_refusals`): (request, message,
# code, status, the URL's keyword arguments) -> the response.
RefusalRenderer = Callable[[HttpRequest, str, str, int, dict[str, Any]], HttpResponse]


def renders_refusals(
    render: RefusalRenderer,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Marks a view whose errors are not the API's JSON (an htmx form's `<p class="error">`
    fragment): the refusals made before the view runs (viewbait.input_guard: NUL characters,
    an unreadable form, too large a body) are answered by `render` in the same shape as the
    view's own. Goes outermost (the attribute is read from the URL's view)."""

    def mark(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        view.render_refusal = render  # type: ignore[attr-defined]
        return view

    return mark


def read_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A view that answers GET and HEAD only: any other method gets the API's JSON 405
    `{"error", "code": "method_not_allowed"}` with `Allow: GET, HEAD` before the view runs
    (drf-spectacular's schema view would render its 405 as OpenAPI YAML, the docs view as an
    HTML page, and the docs renderer has no template for DRF's OPTIONS metadata)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            response = json_error(
                f'Method "{request.method}" not allowed.', "method_not_allowed", 405
            )
            response["Allow"] = "GET, HEAD"
            return response
        return view(request, *args, **kwargs)

    return wrapper


def api_view(methods: list[str]) -> Callable[[Callable[..., Any]], Any]:
    """DRF's `api_view`, with HEAD wherever GET is: DRF allows only the methods listed, so a
    HEAD on a GET route was a 405 (Django's class-based views answer HEAD as GET, RFC 9110
    9.3.2). The view runs its read for a HEAD (a view branches on its write methods, never on
    `== "GET"`), and the server sends no body; the OpenAPI schema leaves HEAD out."""
    if "GET" in methods and "HEAD" not in methods:
        methods = [*methods, "HEAD"]

    def decorator(func: Callable[..., Any]) -> Any:
        view = drf_api_view(methods)(func)
        # The rate-limit marks (core.ratelimits: `rate_limit_routes`, `rate_limited_methods`)
        # on the URL's callback, for audits of the URL table, and on its view class, for the
        # OpenAPI schema (DRF's api_view keeps neither).
        for mark in ("rate_limit_routes", "rate_limited_methods"):
            if hasattr(func, mark):
                setattr(view, mark, getattr(func, mark))
                setattr(view.cls, mark, getattr(func, mark))
        return view

    return decorator


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400 (a request Django refuses before or outside a view: a Host header not in
    ALLOWED_HOSTS, any SuspiciousOperation or BadRequest): under /api/ the JSON 400
    `{"error", "code": "bad_request"}` every API error has; elsewhere the site's
    templates/400.html, rendered without a request or context (as the 500 page is: the request
    may be the thing that is wrong, e.g. its Host). Both were Django's bare "Bad Request (400)"
    page."""
    if request.path.startswith("/api/"):
        return json_error("The request could not be understood.", "bad_request", 400)
    return defaults.bad_request(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: under /api/ (a URL no route matches, e.g. a word where an id goes) the
    JSON 404 `{"error", "code": "not_found"}` every API error has; elsewhere the site's
    templates/404.html (through Django's view)."""
    if request.path.startswith("/api/"):
        return json_error("Not found.", "not_found", 404)
    return defaults.page_not_found(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler403: under /api/ the JSON 403 `{"error", "code": "permission_denied"}`;
    elsewhere the site's templates/403.html (the header, a way back), not Django's bare
    "403 Forbidden"."""
    if request.path.startswith("/api/"):
        return json_error("You do not have permission to do this.", "permission_denied", 403)
    return render(request, "403.html", status=403)


def database_unavailable(request: HttpRequest, exc: BaseException) -> HttpResponse:
    """The answer while the database cannot be reached (`exc`: a fault of
    core.db_faults.is_database_fault): a 503 with Retry-After, under /api/ the JSON `{"error",
    "code": "database_unavailable", "retry_after"}`, elsewhere the site's templates/503.html
    saying it is temporary (rendered without a request or context, as the 500 page is: a
    context processor would query the database again). The fault is logged once per
    REDIS_FAULT_LOG_INTERVAL_SECONDS, not with a traceback per request (django.request's
    "Service Unavailable" line is skipped)."""
    log_throttled(
        logger,
        "database-unavailable",
        "the database is unreachable (%s: %s); answering 503 database_unavailable",
        type(exc).__name__,
        exc,
    )
    retry = DATABASE_RETRY_AFTER_SECONDS
    if request.path.startswith("/api/"):
        response: HttpResponse = json_error(
            "The service is briefly unavailable; what you sent may or may not have been saved."
            " Try again in a few seconds, with the same Idempotency-Key where it takes one.",
            "database_unavailable",
            503,
            retry_after=retry,
        )
    else:
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
    response["Retry-After"] = str(retry)
    response._has_been_logged = True  # type: ignore[attr-defined]  # django.utils.log.log_response
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: under /api/ the JSON `{"error", "code": "server_error"}` every API error has
    (a client reading JSON never gets an HTML page); elsewhere the site's templates/500.html,
    which Django renders without a request or context. A database fault is
    `database_unavailable`'s 503 instead: this is the one place every uncaught exception
    reaches, from a view (DRF's exception handler passes on what it does not answer) or from a
    middleware (the session, the signed-in user), and Django calls it while handling it."""
    exc = sys.exc_info()[1]
    if exc is not None and is_database_fault(exc):
        return database_unavailable(request, exc)
    if request.path.startswith("/api/"):
        return json_error("Something went wrong on our side; try again.", "server_error", 500)
    return defaults.server_error(request)


STALE_PAGE = (
    '<p class="error" role="alert">This page is out of date (you signed in or out in another '
    "tab). Reload it and try again.</p>"
)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW (403) of the studio's own forms (the API's DRF views check CSRF in
    SessionAuthentication and answer JSON 403 `permission_denied`): for an htmx request a
    message put at the top of the page's main column (HX-Retarget, which studio.js swaps in),
    since htmx shows no error page; under /api/ the JSON 403 `csrf_failed`; otherwise the
    site's 403 page saying the page is out of date (Django's bare "CSRF verification failed"
    page was what a sign-in form left open while signing in in another tab showed)."""
    if request.headers.get("HX-Request"):
        response = HttpResponse(STALE_PAGE, status=403)
        response["HX-Retarget"] = "#main"
        response["HX-Reswap"] = "afterbegin show:top"
        return response
    if request.path.startswith("/api/"):
        return json_error("The page is out of date; reload it and try again.", "csrf_failed", 403)
    return render(request, "403.html", {"stale": True}, status=403)
