"""JSON API for the gallery and library: thumbnails list, projects, bootstrap, library actions."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.urls import reverse
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import APIError
from studio import services
from studio.gallery import GalleryFilter, InvalidCursor, page_of, parse_filters
from studio.models import Project, Thumbnail
from studio.outputs import thumbnail_payload
from studio.serializers import parse_id
from studio.services import StudioError
from studio.studio_data import bootstrap_data


def _filters(request: Request) -> GalleryFilter:
    try:
        return parse_filters(request.query_params)
    except ValueError as exc:
        raise APIError(str(exc) or "Invalid filter.", "invalid") from exc


def _limit(request: Request) -> int:
    try:
        return int(request.query_params.get("limit") or 20)
    except ValueError as exc:
        raise APIError("limit must be a whole number.", "invalid") from exc


def _page_response(request: Request, queryset: Any, filters: GalleryFilter) -> Response:
    try:
        page = page_of(queryset, request.query_params.get("cursor"), _limit(request), filters)
    except InvalidCursor as exc:
        raise APIError("The cursor is not valid.", "invalid_cursor") from exc
    full = request.user.is_staff and request.query_params.get("include_parameters") == "true"
    results = []
    for thumbnail in page.items:
        data = thumbnail_payload(thumbnail)
        if full:
            data["parameters"] = dict(thumbnail.parameters)
        results.append(data)
    return Response({"results": results, "next_cursor": page.next_cursor})


@api_view(["GET"])
def thumbnails(request: Request) -> Response:
    """`?cursor=&limit=&project=<id>|none&favorites=true&q=&order=newest|oldest|title|clicks`
    -> `{"results": [...], "next_cursor": str | null}`; 400 `invalid_cursor` for a bad cursor."""
    filters = _filters(request)
    queryset = filters.apply(Thumbnail.objects.filter(owner=request.user))
    return _page_response(request, queryset, filters)


@api_view(["GET", "PATCH", "DELETE"])
def thumbnail_detail(request: Request, thumbnail_id: int) -> Response:
    """GET: the thumbnail with `parent_id` and `versions` (every version of its line, newest
    first: `{"id", "parent_id", "created_at", "small_url", "download_url"}`). PATCH
    `{"is_favorite"?, "is_public"?, "project_id"? (null: no project)}`."""
    thumbnail = services.access_thumbnail(request.user, thumbnail_id)
    if request.method == "DELETE":
        services.do_delete_thumbnail(thumbnail=thumbnail)
        return Response(status=status.HTTP_204_NO_CONTENT)
    if request.method == "PATCH":
        data = request.data if isinstance(request.data, dict) else {}
        project: Project | bool | None = False
        if "project_id" in data:
            project = (
                services.access_project(request.user, _id(data["project_id"], "project_id"))
                if data["project_id"] is not None
                else None
            )
        services.do_update_thumbnail(
            thumbnail=thumbnail,
            is_favorite=_optional_bool(data, "is_favorite"),
            is_public=_optional_bool(data, "is_public"),
            project=project,
        )
    if request.method == "GET":
        versions = thumbnail.versions().order_by("-created_at", "-id")
        return Response(
            {
                **thumbnail_payload(thumbnail),
                "versions": [
                    {
                        "id": v.pk,
                        "parent_id": v.parent_id,
                        "created_at": v.created_at.isoformat(),
                        "small_url": v.image_small.url,
                        "download_url": reverse("api-thumbnail-download", args=[v.pk])
                        + "?size=youtube",
                    }
                    for v in versions
                ],
            }
        )
    return Response(thumbnail_payload(thumbnail))


MOVE_MAX_IDS = 500


def _text(data: dict[str, Any], name: str) -> str:
    """Raises APIError 400 `invalid` unless `data[name]` is text (absent: "")."""
    value = data.get(name, "")
    if not isinstance(value, str):
        raise APIError(f"{name} must be text.", "invalid")
    return value


def _id(value: Any, name: str) -> int:
    """Raises APIError 400 `invalid` for anything but a row id."""
    try:
        return parse_id(value)
    except ValueError:
        raise APIError(f"{name} must hold ids (whole numbers).", "invalid") from None


@api_view(["POST"])
def move_thumbnails(request: Request) -> Response:
    """`{"thumbnail_ids": [int], "project_id": int | null}` -> `{"moved": int}`."""
    data = request.data if isinstance(request.data, dict) else {}
    raw = data.get("thumbnail_ids")
    if not isinstance(raw, list) or len(raw) > MOVE_MAX_IDS:
        raise APIError(f"thumbnail_ids must be a list of at most {MOVE_MAX_IDS} ids.", "invalid")
    ids = [_id(value, "thumbnail_ids") for value in raw]
    project_id = data.get("project_id")
    project = (
        services.access_project(request.user, _id(project_id, "project_id"))
        if project_id is not None
        else None
    )
    moved = services.do_move_thumbnails(owner=request.user, thumbnail_ids=ids, project=project)
    return Response({"moved": moved})


def project_payload(project: Project) -> dict[str, Any]:
    return {
        "id": project.pk,
        "name": project.name,
        "share_mode": project.share_mode,
        "share_url": f"/share/{project.share_token}/" if project.share_mode != "off" else None,
        "default_settings": project.default_settings,
        "created_at": project.created_at.isoformat(),
    }


@api_view(["GET", "POST"])
def projects(request: Request) -> Response:
    """POST `{"name"}` -> 201 `{"id", "name", "share_mode", "share_url", ...}`."""
    if request.method == "POST":
        data = request.data if isinstance(request.data, dict) else {}
        try:
            project = services.do_create_project(owner=request.user, name=_text(data, "name"))
        except StudioError as exc:
            raise APIError(exc.message, exc.code, exc.status) from exc
        return Response(project_payload(project), status=status.HTTP_201_CREATED)
    rows = Project.objects.for_owner(request.user)
    return Response({"results": [project_payload(p) for p in rows]})


@api_view(["GET", "PATCH", "DELETE"])
def project_detail(request: Request, project_id: int) -> Response:
    """PATCH `{"name"?, "share_mode"?: "off"|"all"|"favorites"}`; DELETE keeps the thumbnails."""
    project = services.access_project(request.user, project_id)
    if request.method == "DELETE":
        services.do_delete_project(project=project)
        return Response(status=status.HTTP_204_NO_CONTENT)
    if request.method == "PATCH":
        data = request.data if isinstance(request.data, dict) else {}
        try:
            if "name" in data:
                services.do_rename_project(project=project, name=_text(data, "name"))
            if "share_mode" in data:
                services.do_set_project_sharing(project=project, share_mode=str(data["share_mode"]))
        except StudioError as exc:
            raise APIError(exc.message, exc.code, exc.status) from exc
    return Response(project_payload(project))


@api_view(["GET"])
def project_thumbnails(request: Request, project_id: int) -> Response:
    """The project's thumbnails, paged like `/api/thumbnails`, in one query: the owner check is a
    join, and only an empty first page looks the project up to tell "empty" from "not yours"."""
    filters = _filters(request)
    queryset = filters.apply(
        Thumbnail.objects.filter(project_id=project_id, project__owner=request.user)
    )
    response = _page_response(request, queryset, filters)
    if not response.data["results"] and not request.query_params.get("cursor"):
        services.access_project(request.user, project_id)
    return response


@api_view(["GET"])
def bootstrap(request: Request) -> Response:
    """Everything the studio's first paint needs (see studio.studio_data.bootstrap_data), with a
    strong `ETag` over the body: `If-None-Match` with the same tag answers 304 with no body."""
    body = json.dumps(bootstrap_data(request.user), cls=DjangoJSONEncoder, sort_keys=True)
    etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Cookie"}
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(json.loads(body), headers=headers)


def _optional_bool(data: dict[str, Any], key: str) -> bool | None:
    if key not in data:
        return None
    value = data[key]
    if not isinstance(value, bool):
        raise APIError(f"{key} must be true or false.", "invalid")
    return value
