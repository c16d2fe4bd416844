"""The app's URLs plus `/bench/hello`, a hello-world Django view: the ratio-1 baseline of
benchmarks/http_ratios.py (same process, same middleware as every other path), and two reference
views that split a signed-in page's cost: `/bench/select-1` (a pooled PostgreSQL connection and
one `SELECT 1`) and `/bench/signed-in` (the session and the creator loaded, as every signed-in page
does before its view runs)."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path

from viewbait.urls import urlpatterns as app_urlpatterns


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse("Hello, world", content_type="text/plain")


def select_1(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("SELECT 1", content_type="text/plain")


def signed_in(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(request.user.is_authenticated), content_type="text/plain")


urlpatterns = [
    path("bench/hello", hello),
    path("bench/select-1", select_1),
    path("bench/signed-in", signed_in),
    *app_urlpatterns,
]
