"""The app's URLs plus `/bench/hello`, a hello-world Django view: the ratio-1 baseline of
benchmarks/http_ratios.py (same process, same middleware as every other path)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from viewbait.urls import urlpatterns as app_urlpatterns


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse("Hello, world", content_type="text/plain")


urlpatterns = [path("bench/hello", hello), *app_urlpatterns]
