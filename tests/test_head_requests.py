"""HEAD is GET without a body (RFC 9110 9.3.2): every route that answers GET answers HEAD with
the same status, and a HEAD never writes. DRF's `api_view(["GET", ...])` and Django's
`require_GET` refused HEAD with 405, and views that branch on `request.method == "GET"` would
send a HEAD down their write branch (`POST /api/jobs` submits a job)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from billing.models import CreditPack
from studio.media import media_url
from studio.models import Face, Palette, Style, YouTubeChannel
from tests.factories.generation import JobFactory
from tests.factories.studio import ProjectFactory, ThumbnailFactory

pytestmark = pytest.mark.django_db

# The operators' admin is Django's own (its views answer HEAD as GET); the walk covers the
# project's views: studio, billing, the API, accounts, health, media.
SKIPPED_PREFIXES = ("admin/",)
PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)")


def _routes(patterns: list[Any], prefix: str = "") -> list[tuple[str, URLPattern]]:
    found: list[tuple[str, URLPattern]] = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern).lstrip("^").rstrip("$")
        if isinstance(pattern, URLResolver):
            found += _routes(pattern.url_patterns, route)
        else:
            found.append((route.replace("^", "").replace("$", ""), pattern))
    return found


def _models_count() -> dict[str, int]:
    return {
        model._meta.label: model._default_manager.count()
        for app in ("studio", "generation", "billing")
        for model in apps.get_app_config(app).get_models()
    }


@pytest.fixture
def library(owner: Any) -> dict[str, Any]:
    """One of each of the owner's objects a route names, shared and public where it can be."""
    project: Any = ProjectFactory(owner=owner, share_mode="all")
    thumbnail: Any = ThumbnailFactory(owner=owner, project=project, stored=True, is_public=True)
    job: Any = JobFactory(user=owner, status="succeeded", units=1)
    YouTubeChannel.objects.create(user=owner, reference="@owner")
    return {
        "face_id": Face.objects.create(owner=owner, name="Me").pk,
        "style_id": Style.objects.create(owner=owner, name="Mine", prompt="Teal.").pk,
        "palette_id": Palette.objects.create(owner=owner, name="Mine", colors=["#112233"] * 3).pk,
        "job_id": job.pk,
        "thumbnail_id": thumbnail.pk,
        "project_id": project.pk,
        "share_token": project.share_token,
        "public_token": thumbnail.public_token,
        "variant": "small",
        "plan_slug": "starter",
        "pack_slug": CreditPack.objects.values_list("slug", flat=True).first() or "pack",
        "type_name": "analyse_style",
        "key": "not-a-key",
        "uidb36": "0",
        "media": (media_url(thumbnail.image) or "").lstrip("/"),
    }


def _address(route: str, values: dict[str, Any]) -> str:
    if route.startswith("media/"):
        return "/" + values["media"]

    def fill(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name == "token":
            name = "public_token" if route.startswith("p/") else "share_token"
        return str(values[name])

    return "/" + PARAMETER.sub(fill, route)


def test_every_route_that_answers_get_answers_head_alike_and_writes_nothing(owner_client, library):
    owner_client.raise_request_exception = False
    addresses = []
    for route, pattern in _routes(get_resolver().url_patterns):
        if route.startswith(SKIPPED_PREFIXES):
            continue
        address = _address(route, library)
        if address in addresses:  # shadowed by an earlier route (the rate-limited log-in)
            continue
        # The walk reaches the view it means to (not a catch-all route's).
        assert resolve(address).func == pattern.callback, route
        addresses.append(address)
    assert len(addresses) > 60

    before = _models_count()
    heads = {address: owner_client.head(address) for address in addresses}
    assert _models_count() == before  # no HEAD wrote anything

    answered = []
    for address, head in heads.items():
        get = owner_client.get(address)
        if get.status_code == 405:  # a POST-only route: HEAD is refused as GET is
            assert head.status_code == 405, address
            continue
        answered.append(address)
        assert head.status_code == get.status_code, (address, head.status_code, get.status_code)
        assert head.status_code < 500, address
        if get.status_code in (301, 302, 303, 307, 308):
            assert head["Location"] == get["Location"], address
    # The API's readable routes are among those checked, each with the owner's own object.
    for api in ("/api/jobs", "/api/faces", "/api/me/youtube-channel", "/api/thumbnails"):
        assert api in answered
        assert heads[api].status_code == 200, api


@pytest.mark.parametrize(
    "address", ["/api/jobs", "/api/faces", "/api/me/youtube-channel", "/api/projects"]
)
def test_a_head_on_a_read_and_write_api_route_reads(owner_client, owner, address):
    """Those views answered GET in an `if request.method == "GET"` branch and wrote in the
    other: a HEAD must read (200, GET's headers), never submit or validate a body."""
    YouTubeChannel.objects.create(user=owner, reference="@owner")
    before = _models_count()
    head = owner_client.head(address)
    assert head.status_code == 200
    assert head["Content-Type"] == "application/json"
    assert head["Content-Length"] == owner_client.get(address)["Content-Length"]
    assert _models_count() == before
    assert YouTubeChannel.objects.get(user=owner).reference == "@owner"
