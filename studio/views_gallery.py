"""The studio gallery's htmx endpoints: pages of cards, favourite, delete, new project."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from studio import services
from studio.gallery import DEFAULT_PAGE_SIZE, InvalidCursor, gallery_queryset, page_of, parse_filters
from studio.services import StudioError


@login_required
@require_GET
@vary_on_headers("HX-Request")
def gallery_page(request: HttpRequest) -> HttpResponse:
    """One gallery page after `cursor` for the filters in the query string: the `gallery-page`
    partial (a page section and the next sentinel), or with `part=cards` only its cards (the
    virtualized gallery restoring a page it dropped). 400 for a bad cursor or filter."""
    try:
        filters = parse_filters(request.GET)
        page = page_of(
            gallery_queryset(request.user, filters),
            request.GET.get("cursor"),
            DEFAULT_PAGE_SIZE,
            filters,
        )
    except (InvalidCursor, ValueError):
        return HttpResponse("This page of the gallery is no longer valid. Reload.", status=400)
    partial = "gallery-cards" if request.GET.get("part") == "cards" else "gallery-page"
    response = TemplateResponse(
        request,
        f"studio/studio.html#{partial}",
        {"page": page, "filters": filters, "cursor": request.GET.get("cursor", "")},
    )
    response["Cache-Control"] = "private, no-cache"
    return response


@login_required
@require_POST
def toggle_favorite(request: HttpRequest, thumbnail_id: int) -> TemplateResponse:
    thumbnail = services.access_thumbnail(request.user, thumbnail_id)
    services.do_update_thumbnail(thumbnail=thumbnail, is_favorite=not thumbnail.is_favorite)
    return TemplateResponse(request, "studio/studio.html#thumbnail-card", {"thumbnail": thumbnail})


@login_required
@require_POST
def delete_thumbnail(request: HttpRequest, thumbnail_id: int) -> HttpResponse:
    services.do_delete_thumbnail(thumbnail=services.access_thumbnail(request.user, thumbnail_id))
    return HttpResponse("")


@login_required
@require_POST
def move_thumbnail(request: HttpRequest, thumbnail_id: int) -> TemplateResponse:
    thumbnail = services.access_thumbnail(request.user, thumbnail_id)
    raw = request.POST.get("project_id") or ""
    project = services.access_project(request.user, int(raw)) if raw.isdigit() else None
    services.do_update_thumbnail(thumbnail=thumbnail, project=project)
    return TemplateResponse(request, "studio/studio.html#thumbnail-card", {"thumbnail": thumbnail})


@login_required
@require_POST
def create_project(request: HttpRequest) -> HttpResponse:
    try:
        services.do_create_project(owner=request.user, name=request.POST.get("name", ""))
    except StudioError as exc:
        return HttpResponse(exc.message, status=400)
    response = HttpResponse(status=204)
    response["HX-Refresh"] = "true"
    return response
