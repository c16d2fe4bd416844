"""A base for middleware that runs in whichever mode the handler is in (Django: "Asynchronous
support" in the middleware docs). The web process runs the chain in sync mode, in one thread hop
per response (viewbait.handlers); the async mode serves an async chain such as Django's
AsyncClient's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.http import HttpRequest, HttpResponseBase


class SyncAndAsyncMiddleware:
    """Subclasses define `call(request)` (sync) and `acall(request)` (async); `get_response` is
    the next handler, sync or async to match."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[..., Any]) -> None:
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        return self.acall(request) if self._async else self.call(request)

    def call(self, request: HttpRequest) -> HttpResponseBase:
        raise NotImplementedError

    async def acall(self, request: HttpRequest) -> HttpResponseBase:
        raise NotImplementedError


class SharedCacheScopeMiddleware(SyncAndAsyncMiddleware):
    """Opens core.shared_cache.request_scope for each request: a namespace (the plan table, the
    user's plan and credits, the shared styles) is read from Redis once per request however many
    template tags and services ask for it."""

    def call(self, request: HttpRequest) -> HttpResponseBase:
        from core.shared_cache import request_scope

        with request_scope():
            return self.get_response(request)  # type: ignore[no-any-return]

    async def acall(self, request: HttpRequest) -> HttpResponseBase:
        from core.shared_cache import request_scope

        with request_scope():
            return await self.get_response(request)  # type: ignore[no-any-return]


def _private_page(request: HttpRequest, response: HttpResponseBase) -> bool:
    """A page's answer that sets no cache policy: HTML, or outside the API a page's JSON
    variant (allauth answers its pages, the whole page's HTML included, as JSON to a request
    with `X-Requested-With: XMLHttpRequest` or `Accept: application/json`). The API's JSON
    keeps its own policy."""
    if "Cache-Control" in response:
        return False
    content_type = response.get("Content-Type", "")
    return content_type.startswith("text/html") or (
        content_type.startswith("application/json") and not request.path.startswith("/api/")
    )


class PrivatePagesMiddleware(SyncAndAsyncMiddleware):
    """`Cache-Control: private, no-store` on a signed-in creator's pages (`_private_page`: HTML,
    and a page's JSON variant) that set no cache policy of their own. Without it a browser's
    Back button showed a studio page from its cache: a deleted thumbnail back in the grid (its
    link a 404) and an old credit balance. `no-store` also keeps the page out of the
    back/forward cache and off shared disks (RFC 9111 5.2.2.5). After AuthenticationMiddleware."""

    def call(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if _private_page(request, response) and request.user.is_authenticated:
            response["Cache-Control"] = "private, no-store"
        return response  # type: ignore[no-any-return]

    async def acall(self, request: HttpRequest) -> HttpResponseBase:
        response = await self.get_response(request)
        if _private_page(request, response) and (await request.auser()).is_authenticated:
            response["Cache-Control"] = "private, no-store"
        return response  # type: ignore[no-any-return]


class MethodNotAllowedPageMiddleware(SyncAndAsyncMiddleware):
    """The site's templates/405.html for a page address opened with GET or HEAD that only takes
    a form's POST (Django's `require_POST` answers 405 with an empty body, a blank white page).
    The way a creator meets one: a library form sent after the session ended goes to sign-in
    with the form's address as `next`, and signing in opens it. The 405's `Allow` header stays;
    answers with a body of their own (the API's JSON) pass unchanged. After
    AuthenticationMiddleware (the page's header shows who is signed in)."""

    def call(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if not _blank_405(request, response):
            return response  # type: ignore[no-any-return]
        return _method_not_allowed_page(request, response)

    async def acall(self, request: HttpRequest) -> HttpResponseBase:
        from asgiref.sync import sync_to_async

        response = await self.get_response(request)
        if not _blank_405(request, response):
            return response  # type: ignore[no-any-return]
        return await sync_to_async(_method_not_allowed_page)(request, response)


def _blank_405(request: HttpRequest, response: HttpResponseBase) -> bool:
    return (
        response.status_code == 405
        and request.method in ("GET", "HEAD")
        and not request.path.startswith("/api/")
        and not getattr(response, "streaming", False)
        and not getattr(response, "content", b"")
    )


def _method_not_allowed_page(request: HttpRequest, blank: HttpResponseBase) -> HttpResponseBase:
    from django.shortcuts import render

    page = render(request, "405.html", status=405)
    page["Allow"] = blank.get("Allow", "POST")
    return page


SIGNED_IN_COOKIE = "signed_in"
SIGNED_IN_COOKIE_SECONDS = 400 * 24 * 3600  # outlives any session; browsers cap cookies at 400 days


def _note_sign_out(sender: Any, request: HttpRequest | None, **kwargs: Any) -> None:
    if request is not None:
        request.signed_out = True  # type: ignore[attr-defined]


user_logged_out.connect(_note_sign_out, dispatch_uid="core.middleware.signed_out")


def session_ended(request: HttpRequest) -> bool:
    """Whether this request was sent to sign-in (it has a `next`) by a browser whose session
    ended without its creator signing out: expired, or ended by a password change elsewhere. Such
    a browser still has the marker SignedInMarkerMiddleware set while it was signed in; signing
    out takes the marker away, and a plain visit to the sign-in page has no `next`."""
    return (
        bool(request.COOKIES.get(SIGNED_IN_COOKIE))
        and bool(request.GET.get("next"))
        and not request.user.is_authenticated
    )


class SignedInMarkerMiddleware(SyncAndAsyncMiddleware):
    """Keeps a marker cookie (`signed_in=1`, no personal data) in a browser while a creator is
    signed in there, removed when they sign out, so the sign-in page can tell a session that
    ended by itself from a sign-out (`session_ended`) and say why the creator is there. After
    AuthenticationMiddleware."""

    def call(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if getattr(request, "signed_out", False):
            response.delete_cookie(SIGNED_IN_COOKIE, samesite="Lax")
        elif not request.COOKIES.get(SIGNED_IN_COOKIE) and request.user.is_authenticated:
            self._mark(response)
        return response  # type: ignore[no-any-return]

    async def acall(self, request: HttpRequest) -> HttpResponseBase:
        response = await self.get_response(request)
        if getattr(request, "signed_out", False):
            response.delete_cookie(SIGNED_IN_COOKIE, samesite="Lax")
        elif not request.COOKIES.get(SIGNED_IN_COOKIE) and (await request.auser()).is_authenticated:
            self._mark(response)
        return response  # type: ignore[no-any-return]

    @staticmethod
    def _mark(response: HttpResponseBase) -> None:
        response.set_cookie(
            SIGNED_IN_COOKIE,
            "1",
            max_age=SIGNED_IN_COOKIE_SECONDS,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )


def session_ended_context(request: HttpRequest) -> dict[str, bool]:
    """Template context processor: `session_ended` (see `session_ended`), which the sign-in
    page shows as "Your session ended; sign in to continue."."""
    return {"session_ended": session_ended(request)}


def _login_redirect(response: HttpResponseBase) -> bool:
    """Whether `response` sends the browser to the sign-in page (login_required's 302)."""
    from urllib.parse import urlsplit

    from django.shortcuts import resolve_url

    if response.status_code not in (301, 302, 303, 307, 308):
        return False
    return urlsplit(response.get("Location", "")).path == resolve_url(settings.LOGIN_URL)


def _page_the_creator_was_on(request: HttpRequest) -> str:
    """The address (path and query, no scheme or host) of the page an htmx request (or studio
    JS's fetch) came from: `HX-Current-URL`, else `Referer`; "" when neither names a page of
    this site."""
    from urllib.parse import urlsplit, urlunsplit

    from django.utils.http import url_has_allowed_host_and_scheme

    for header in ("HX-Current-URL", "Referer"):
        url = request.headers.get(header, "")
        if url and url_has_allowed_host_and_scheme(
            url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            parts = urlsplit(url)
            if parts.path.startswith("/") and not parts.path.startswith("//"):
                return urlunsplit(("", "", parts.path, parts.query, ""))
    return ""


def _sign_in_page_instead(request: HttpRequest) -> HttpResponseBase:
    """200 with `HX-Redirect` to sign-in, `next` the page the creator was on: htmx 2 loads it as
    a whole page (it reads HX-Redirect only on a 2xx answer, before any swap)."""
    from urllib.parse import urlencode

    from django.http import HttpResponse
    from django.shortcuts import resolve_url

    login = resolve_url(settings.LOGIN_URL)
    page = _page_the_creator_was_on(request)
    response = HttpResponse(status=200)
    response["HX-Redirect"] = f"{login}?{urlencode({'next': page})}" if page else login
    return response


class HtmxSignInRedirectMiddleware(SyncAndAsyncMiddleware):
    """An htmx request (`HX-Request`, which studio JS's own fetch() sends too) whose session has
    ended (signed out in another tab, expired) gets `HX-Redirect` to the sign-in page instead of
    login_required's 302: htmx followed that 302 inside its request and swapped the whole sign-in
    page, site header and all, into the job list or the gallery while the top bar still showed
    the credits. Signing in brings the creator back to the page they were on (`next`, from
    `HX-Current-URL`, path and query only, this site's only)."""

    def call(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if request.headers.get("HX-Request") and _login_redirect(response):
            return _sign_in_page_instead(request)
        return response  # type: ignore[no-any-return]

    async def acall(self, request: HttpRequest) -> HttpResponseBase:
        response = await self.get_response(request)
        if request.headers.get("HX-Request") and _login_redirect(response):
            return _sign_in_page_instead(request)
        return response  # type: ignore[no-any-return]
