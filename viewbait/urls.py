from __future__ import annotations

from allauth.account import views as account_views
from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from core import ratelimits
from core.api import JSONWhenUnnegotiated, read_only
from studio import media
from studio import views as studio_views
from viewbait import health
from viewbait.admin_login import EmailAdminAuthenticationForm

handler400 = "core.api.bad_request"
handler403 = "core.api.permission_denied"
handler404 = "core.api.page_not_found"
handler500 = "core.api.server_error"
admin.site.login_form = EmailAdminAuthenticationForm
# The operators' pages name the product, not the framework ("Django administration", "Django
# site admin" in the tab); "View site" leads back to the studio.
admin.site.site_header = "ViewBait operations"
admin.site.site_title = "ViewBait operations"
admin.site.index_title = "Creators, credits, jobs and libraries"


class SchemaView(JSONWhenUnnegotiated, SpectacularAPIView):
    """The OpenAPI schema (YAML, or `?format=json`); an unknown format's 404 is JSON."""


urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    # Sign-up and log-in attempts are limited per client IP (settings.RATE_LIMITS); these shadow
    # the admin's and allauth's own routes of the same names. Both log-in forms count against one
    # "login" budget per IP, and both authenticate through allauth's adapter (the admin's by
    # viewbait.admin_login), so allauth's per-account failed-login limit (ACCOUNT_RATE_LIMITS
    # "login_failed") is one budget for the two pages too: the admin's is no way around either.
    path("admin/login/", ratelimits.limit("login")(admin.site.login), name="admin_login"),
    path("admin/", admin.site.urls),
    path(
        "accounts/login/",
        ratelimits.limit("login")(account_views.login),
        name="account_login",
    ),
    path(
        "accounts/signup/",
        ratelimits.limit("signup")(account_views.signup),
        name="account_signup",
    ),
    path("accounts/delete/", studio_views.account_delete, name="account-delete"),
    path(
        "accounts/youtube-channel/",
        studio_views.set_youtube_channel,
        name="youtube-channel-set",
    ),
    path("accounts/", include("allauth.urls")),
    # GET and HEAD only (core.api.read_only: any other method gets the API's JSON 405).
    path("api/schema/", read_only(SchemaView.as_view()), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file (?script): no inline script
    # for the Content-Security-Policy to refuse.
    path(
        "api/docs/",
        read_only(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("api/", include("studio.api_urls")),
    path("", include("billing.urls")),  # plans page, Checkout, Customer Portal, Stripe webhook
    path("", include("studio.urls")),
]

if settings.SERVE_MEDIA:
    # Signed, expiring URLs only (studio.media); with S3 the bucket serves its presigned URLs.
    urlpatterns += [re_path(r"^media/(?P<path>.+)$", media.serve_media, name="media")]
