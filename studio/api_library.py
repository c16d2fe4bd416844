"""JSON API for the gallery and library: thumbnails list, projects, bootstrap, library actions."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils.cache import get_conditional_response
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from core import ratelimits
from core.api import APIError, api_view, json_object
from studio import api_schema as schema
from studio import services
from studio.gallery import GalleryFilter, InvalidCursor, page_of, parse_filters
from studio.job_types.generate import ProjectDefaults
from studio.media import media_url
from studio.models import Project, Thumbnail
from studio.outputs import ThumbnailLinks, thumbnail_payload
from studio.services import StudioError
from studio.studio_data import bootstrap_data


def _filters(request: Request) -> GalleryFilter:
    try:
        return parse_filters(request.query_params)
    except ValueError as exc:
        raise APIError(str(exc) or "Invalid filter.", "invalid") from exc


def _limit(request: Request) -> int:
    """`?limit=`: a whole number, 1 or more (400 `invalid` otherwise: 0 and negatives were
    answered with a page of 1); more than MAX_PAGE_SIZE gives MAX_PAGE_SIZE (page_of)."""
    serializer = schema.PageQuery(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return int(serializer.validated_data["limit"])


def _page_response(
    request: Request, queryset: Any, filters: GalleryFilter, *, project_id: int | None = None
) -> Response:
    """One page of `queryset` as the API answers it. With `project_id`, an empty page (first or
    later: a cursor from another listing is well formed) looks the project up, so another
    creator's project is a 404 rather than an empty page; a page with rows needs no look-up."""
    try:
        page = page_of(queryset, request.query_params.get("cursor"), _limit(request), filters)
    except InvalidCursor as exc:
        raise APIError("The cursor is not valid.", "invalid_cursor") from exc
    full = request.user.is_staff and request.query_params.get("include_parameters") == "true"
    results = []
    links = ThumbnailLinks.build()
    for thumbnail in page.items:
        data = thumbnail_payload(thumbnail, links)
        if full:
            data["parameters"] = dict(thumbnail.parameters)
        results.append(data)
    if project_id is not None and not results:
        services.access_project(request.user, project_id)
    return Response({"results": results, "next_cursor": page.next_cursor})


def _valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """The body validated by `serializer_class`; raises DRF's ValidationError (400 `invalid`)."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


@extend_schema(
    operation_id="thumbnails_list",
    parameters=schema.PAGE_PARAMETERS,
    responses={200: schema.ThumbnailPage, **schema.errors(404)},
)
@api_view(["GET"])
def thumbnails(request: Request) -> Response:
    """`?cursor=&limit=&project=<id>|none&favorites=true&q=&order=newest|oldest|title|clicks`
    -> `{"results": [...], "next_cursor": str | null}`; 400 `invalid_cursor` for a bad cursor, 404
    for another creator's project (looked up only when the page is empty, as in
    `project_thumbnails`)."""
    filters = _filters(request)
    queryset = filters.apply(Thumbnail.objects.filter(owner=request.user))
    project_id = filters.project if isinstance(filters.project, int) else None
    return _page_response(request, queryset, filters, project_id=project_id)


@extend_schema(methods=["GET"], responses={200: schema.ThumbnailDetailOut, **schema.errors(404)})
@extend_schema(
    methods=["PATCH"],
    request={"application/json": schema.ThumbnailPatch},
    responses={200: schema.ThumbnailOut, **schema.errors(404, 415)},
)
@extend_schema(
    methods=["DELETE"],
    responses={204: OpenApiResponse(description="deleted"), **schema.errors(404)},
)
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
        data = _valid(schema.ThumbnailPatch, json_object(request))
        project: Project | bool | None = False
        if "project_id" in data:
            project = (
                services.access_project(request.user, data["project_id"])
                if data["project_id"] is not None
                else None
            )
        services.do_update_thumbnail(
            thumbnail=thumbnail,
            is_favorite=data.get("is_favorite"),
            is_public=data.get("is_public"),
            project=project,
        )
        return Response(thumbnail_payload(thumbnail))
    # GET and HEAD
    versions = thumbnail.versions().order_by("-created_at", "-id")
    links = ThumbnailLinks.build()
    return Response(
        {
            **thumbnail_payload(thumbnail, links),
            "versions": [
                {
                    "id": v.pk,
                    "parent_id": v.parent_id,
                    "created_at": v.created_at.isoformat(),
                    "small_url": media_url(v.image_small, links.signer),
                    "download_url": links.download.format(pk=v.pk),
                }
                for v in versions
            ],
        }
    )


@extend_schema(
    request={"application/json": schema.MoveThumbnails},
    responses={200: schema.MovedOut, **schema.errors(404, 415)},
)
@api_view(["POST"])
def move_thumbnails(request: Request) -> Response:
    """`{"thumbnail_ids": [int] (at most 500), "project_id": int | null}` (both required) ->
    `{"moved": int}`. All or none: 404 (nothing moved) when any id or the project is not the
    caller's."""
    data = _valid(schema.MoveThumbnails, json_object(request))
    project_id = data["project_id"]
    project = services.access_project(request.user, project_id) if project_id else None
    moved = services.do_move_thumbnails(
        owner=request.user, thumbnail_ids=data["thumbnail_ids"], project=project
    )
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


@extend_schema(
    methods=["GET"],
    operation_id="projects_list",
    responses={200: schema.ProjectList, **schema.errors()},
)
@extend_schema(
    methods=["POST"],
    request=schema.ProjectCreate,
    responses={201: schema.ProjectOut, **schema.errors(415), **schema.NAME_TAKEN},
)
@api_view(["GET", "POST"])
@ratelimits.limit("library_create", methods=("POST",))
def projects(request: Request) -> Response:
    """POST `{"name"}` -> 201 `{"id", "name", "share_mode", "share_url", ...}`."""
    if request.method == "POST":
        data = _valid(schema.ProjectCreate, json_object(request))
        try:
            project = services.do_create_project(owner=request.user, name=data["name"])
        except StudioError as exc:
            raise APIError(exc.message, exc.code, exc.status) from exc
        return Response(project_payload(project), status=status.HTTP_201_CREATED)
    rows = Project.objects.for_owner(request.user)
    return Response({"results": [project_payload(p) for p in rows]})


@extend_schema(methods=["GET"], responses={200: schema.ProjectOut, **schema.errors(404)})
@extend_schema(
    methods=["PATCH"],
    request={"application/json": schema.ProjectPatch},
    responses={200: schema.ProjectOut, **schema.errors(404, 415), **schema.NAME_TAKEN},
)
@extend_schema(
    methods=["DELETE"],
    responses={204: OpenApiResponse(description="deleted"), **schema.errors(404)},
)
@api_view(["GET", "PATCH", "DELETE"])
def project_detail(request: Request, project_id: int) -> Response:
    """PATCH `{"name"?, "share_mode"?: "off"|"all"|"favorites", "default_settings"?: {...}}`
    (400 with `fields` for bad settings, 404 for another creator's style, palette or face in
    them); DELETE keeps the thumbnails."""
    project = services.access_project(request.user, project_id)
    if request.method == "DELETE":
        services.do_delete_project(project=project)
        return Response(status=status.HTTP_204_NO_CONTENT)
    if request.method == "PATCH":
        data = _valid(schema.ProjectPatch, json_object(request))
        defaults = None
        if data.get("default_settings"):
            checked = ProjectDefaults(data=data["default_settings"], context={"user": request.user})
            if not checked.is_valid():
                raise serializers.ValidationError({"default_settings": checked.errors})
            defaults = dict(checked.validated_data)
        elif "default_settings" in data:  # {} or null: the project has no defaults
            defaults = {}
        try:
            services.do_update_project(
                project=project,
                name=data.get("name"),
                share_mode=data.get("share_mode"),
                default_settings=defaults,
            )
        except StudioError as exc:
            raise APIError(exc.message, exc.code, exc.status) from exc
    return Response(project_payload(project))


@extend_schema(
    parameters=schema.PAGE_PARAMETERS, responses={200: schema.ThumbnailPage, **schema.errors(404)}
)
@api_view(["GET"])
def project_thumbnails(request: Request, project_id: int) -> Response:
    """The project's thumbnails, paged like `/api/thumbnails`, in one query: the owner check is a
    join, and only an empty page (first or later: a cursor from another listing is well formed)
    looks the project up to tell "empty" from "not yours"."""
    filters = _filters(request)
    queryset = filters.apply(
        Thumbnail.objects.filter(project_id=project_id, project__owner=request.user)
    )
    return _page_response(request, queryset, filters, project_id=project_id)


@extend_schema(
    responses={
        200: OpenApiResponse(OpenApiTypes.OBJECT, description="studio.studio_data.bootstrap_data"),
        304: OpenApiResponse(description="If-None-Match matched the ETag"),
        **schema.errors(),
    }
)
@api_view(["GET"])
def bootstrap(request: Request) -> Response:
    """Everything the studio's first paint needs (see studio.studio_data.bootstrap_data), with a
    strong `ETag` over the body: `If-None-Match` with the same tag answers 304 with no body,
    compared weakly as RFC 9110 13.1.2 says (`W/"x"` matches `"x"`: the gzip middleware weakens
    the tag of a compressed answer, and a gzip client sends that back), or with `*`."""
    body = json.dumps(bootstrap_data(request.user), cls=DjangoJSONEncoder, sort_keys=True)
    etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Cookie"}
    conditional = get_conditional_response(request._request, etag=etag)  # Django's own check
    if conditional is not None and conditional.status_code == status.HTTP_304_NOT_MODIFIED:
        return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(json.loads(body), headers=headers)
