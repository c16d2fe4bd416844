"""Public, read-only project galleries behind a share link (`/share/<token>/`)."""

from __future__ import annotations

from django.db.models import F
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from studio import services
from studio.models import Thumbnail

SHARE_PAGE_SIZE = 60


@require_GET
def shared_project(request: HttpRequest, token: str) -> TemplateResponse:
    """The project's thumbnails (all, or favourites only, per its share mode); 404 when sharing
    is off or the token is unknown."""
    project = services.access_shared_project(token)
    thumbnails = list(services.shared_thumbnails(project)[:SHARE_PAGE_SIZE])
    return TemplateResponse(
        request, "studio/share.html", {"project": project, "thumbnails": thumbnails}
    )


@require_GET
def shared_thumbnail(request: HttpRequest, token: str, thumbnail_id: int) -> TemplateResponse:
    """One shared thumbnail in a page (large image, title, link back to the project), counting
    the share click; 404 when sharing is off, the token is unknown or the thumbnail is not
    shared by this project."""
    project = services.access_shared_project(token)
    thumbnail = get_object_or_404(services.shared_thumbnails(project), pk=thumbnail_id)
    Thumbnail.objects.filter(pk=thumbnail.pk).update(share_clicks=F("share_clicks") + 1)
    return TemplateResponse(
        request, "studio/share_thumbnail.html", {"project": project, "thumbnail": thumbnail}
    )
