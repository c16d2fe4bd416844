"""JSON API (DRF function views). Thin: parse, call one service, render.

Errors are `{"error": ..., "code": ...}` (core.api). Another user's object is a 404.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from django.http import FileResponse, Http404, QueryDict
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import content_negotiation_class, parser_classes
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from billing.services import effective_plan, get_balance
from core import ratelimits
from core.api import APIError, FileNegotiation, api_view, error_body, json_object
from core.parsers import SafeJSONParser
from core.streaming import stream_under_asgi
from generation.errors import refusal_for
from generation.models import Job
from generation.pipeline import Submission, submit
from generation.progress import job_payload
from generation.services import cancel_job
from studio import api_schema as schema
from studio import services
from studio.forms import form_fields
from studio.job_types.generate import GenerateInput
from studio.library_cache import usable_palettes, usable_styles
from studio.media import media_url
from studio.models import Face, Palette, Style, Thumbnail, YouTubeChannel
from studio.serializers import YouTubeChannelInput, unknown_fields_error
from studio.services import StudioError
from studio.style_previews import is_drawn


def _raise(exc: StudioError) -> APIError:
    return APIError(exc.message, exc.code, exc.status, **exc.extra)


def face_payload(face: Face) -> dict[str, Any]:
    return {
        "id": face.pk,
        "name": face.name,
        "created_at": face.created_at.isoformat(),
        "images": [
            {"url": media_url(img.image), "width": img.width, "height": img.height}
            for img in face.images.all()
        ],
    }


def style_payload(style: Style, user: Any, *, references: bool = False) -> dict[str, Any]:
    """A public or built-in style shows name, description and preview, never its prompt. With
    `references`, the caller's own style also lists its reference images (one query)."""
    data: dict[str, Any] = {
        "id": style.pk,
        "name": style.name,
        "description": style.description,
        # A preview not drawn yet (or a copy of a reference, from before): the route that draws
        # it (studio.style_previews), so a reference image is never the preview handed out.
        "preview_url": media_url(style.preview)
        if is_drawn(style)
        else reverse("style-preview", args=[style.pk]),
        "builtin": style.owner_id is None,
        "is_public": style.is_public,
        "mine": style.owner_id == user.pk,
    }
    if style.owner_id == user.pk:
        data["prompt"] = style.prompt
        if references:
            data["reference_images"] = [
                {
                    "id": ref.pk,
                    "url": media_url(ref.image),
                    "width": ref.width,
                    "height": ref.height,
                }
                for ref in style.reference_images.all()
            ]
    return data


def palette_payload(palette: Palette, user: Any) -> dict[str, Any]:
    return {
        "id": palette.pk,
        "name": palette.name,
        "colors": list(palette.colors),
        "builtin": palette.owner_id is None,
        "is_public": palette.is_public,
        "mine": palette.owner_id == user.pk,
    }


def me_payload(user: Any) -> dict[str, Any]:
    plan = effective_plan(user)
    return {
        "id": user.pk,
        "email": user.email,
        "plan": plan.slug,
        "plan_name": plan.name,
        "limits": plan.summary(),
        "credits_remaining": get_balance(user),
    }


@extend_schema(responses={200: schema.MeOut, **schema.errors()})
@api_view(["GET"])
def me(request: Request) -> Response:
    return Response(me_payload(request.user))


def youtube_channel_payload(channel: YouTubeChannel | None) -> dict[str, Any]:
    return {
        "channel": channel.reference if channel else None,
        "url": channel.url if channel else None,
    }


@extend_schema(methods=["GET"], responses={200: schema.YouTubeChannelOut, **schema.errors()})
@extend_schema(
    methods=["PUT"],
    request=YouTubeChannelInput,
    responses={200: schema.YouTubeChannelOut, **schema.errors(403, 415)},
)
@api_view(["GET", "PUT"])
def youtube_channel(request: Request) -> Response:
    """The creator's YouTube channel (channel consistency compares with its recent uploads):
    `{"channel": "@handle" | "UC..." | null, "url"}`. PUT `{"channel"}` sets it (an address,
    @handle or channel id; blank forgets it, on any plan): 400 `invalid` for anything else,
    403 `plan_feature` when setting one without the Pro plan's YouTube tools."""
    if request.method == "PUT":
        serializer = YouTubeChannelInput(data=json_object(request))
        serializer.is_valid(raise_exception=True)
        try:
            channel = services.do_set_youtube_channel(
                user=request.user, reference=serializer.validated_data["channel"]
            )
        except StudioError as exc:
            raise _raise(exc) from exc
        return Response(youtube_channel_payload(channel))
    # GET and HEAD
    return Response(
        youtube_channel_payload(YouTubeChannel.objects.filter(user=request.user).first())
    )


@extend_schema(
    methods=["GET"], operation_id="faces_list", responses={200: schema.FaceList, **schema.errors()}
)
@extend_schema(
    methods=["POST"],
    request={"multipart/form-data": schema.FaceCreate},
    responses={201: schema.FaceOut, **schema.errors(403, 415, 429, 503), **schema.NAME_TAKEN},
)
@api_view(["GET", "POST"])
@parser_classes([MultiPartParser, FormParser])
@ratelimits.limit("face_upload")
def faces(request: Request) -> Response:
    if request.method == "POST":
        serializer = schema.FaceCreate(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            face = services.do_create_face(
                owner=request.user,
                name=serializer.validated_data["name"],
                files=serializer.validated_data["images"],
            )
        except StudioError as exc:
            raise _raise(exc) from exc
        return Response(face_payload(face), status=status.HTTP_201_CREATED)
    # GET and HEAD
    rows = Face.objects.for_owner(request.user).prefetch_related("images")
    return Response({"results": [face_payload(face) for face in rows]})


@extend_schema(methods=["GET"], responses={200: schema.FaceOut, **schema.errors(404)})
@extend_schema(
    methods=["DELETE"],
    responses={204: OpenApiResponse(description="deleted"), **schema.errors(404)},
)
@api_view(["GET", "DELETE"])
def face_detail(request: Request, face_id: int) -> Response:
    face = services.access_face(request.user, face_id)
    if request.method == "DELETE":
        services.do_delete_face(face=face)
        return Response(status=status.HTTP_204_NO_CONTENT)
    return Response(face_payload(face))


@extend_schema(operation_id="styles_list", responses={200: schema.StyleList, **schema.errors()})
@api_view(["GET"])
def styles(request: Request) -> Response:
    rows = usable_styles(request.user)
    return Response({"results": [style_payload(s, request.user) for s in rows]})


@extend_schema(operation_id="palettes_list", responses={200: schema.PaletteList, **schema.errors()})
@api_view(["GET"])
def palettes(request: Request) -> Response:
    rows = usable_palettes(request.user)
    return Response({"results": [palette_payload(p, request.user) for p in rows]})


def _own_asset(model: type[Style] | type[Palette], user: Any, pk: int, *, edit: bool) -> Any:
    """`model` row `pk` as the caller may see it (built-in, public or their own; anything else
    404). With `edit`, a built-in or another creator's public row is refused: 403 `read_only`."""
    row = get_object_or_404(model.objects.usable_by(user), pk=pk)
    if edit and row.owner_id != user.pk:
        noun = model._meta.verbose_name
        whose = "A built-in" if row.owner_id is None else "Another creator's"
        raise APIError(f"{whose} {noun} cannot be changed.", "read_only", 403)
    return row


@extend_schema(methods=["GET"], responses={200: schema.StyleOut, **schema.errors(404)})
@extend_schema(
    methods=["PATCH"],
    request={"application/json": schema.StylePatch, "multipart/form-data": schema.StylePatch},
    responses={
        200: schema.StyleOut,
        **schema.errors(403, 404, 415, 429, 503),
        **schema.NAME_TAKEN,
    },
)
@extend_schema(
    methods=["DELETE"],
    responses={204: OpenApiResponse(description="deleted"), **schema.errors(403, 404)},
)
@api_view(["GET", "PATCH", "DELETE"])
@parser_classes([SafeJSONParser, MultiPartParser, FormParser])
@ratelimits.limit("library_create", methods=("PATCH",))
def style_detail(request: Request, style_id: int) -> Response:
    """GET: a style the caller can use (their own with `prompt` and `reference_images`). PATCH
    (the caller's own only; a built-in or another's public style is 403 `read_only`) `{"name"?,
    "description"?, "prompt"?, "remove_reference_ids"?, "reference_images"? (multipart)}`:
    only what is sent changes, and the preview is drawn again for a new name or other images.
    DELETE the caller's own."""
    style = _own_asset(Style, request.user, style_id, edit=request.method in ("PATCH", "DELETE"))
    if request.method == "DELETE":
        services.do_delete_style(style=style)
        return Response(status=status.HTTP_204_NO_CONTENT)
    if request.method == "PATCH":
        serializer = schema.StylePatch(data=json_object(request))
        serializer.is_valid(raise_exception=True)
        try:
            services.do_update_style(style=style, **serializer.changes())
        except StudioError as exc:
            raise _raise(exc) from exc
    return Response(style_payload(style, request.user, references=True))


@extend_schema(methods=["GET"], responses={200: schema.PaletteOut, **schema.errors(404)})
@extend_schema(
    methods=["PATCH"],
    request={"application/json": schema.PalettePatch},
    responses={
        200: schema.PaletteOut,
        **schema.errors(403, 404, 415, 429, 503),
        **schema.NAME_TAKEN,
    },
)
@extend_schema(
    methods=["DELETE"],
    responses={204: OpenApiResponse(description="deleted"), **schema.errors(403, 404)},
)
@api_view(["GET", "PATCH", "DELETE"])
@ratelimits.limit("library_create", methods=("PATCH",))
def palette_detail(request: Request, palette_id: int) -> Response:
    """GET: a palette the caller can use. PATCH (the caller's own only; a built-in or
    another's public palette is 403 `read_only`) `{"name"?, "colors"?: ["#RRGGBB", ...]}`:
    only what is sent changes. DELETE the caller's own."""
    palette = _own_asset(
        Palette, request.user, palette_id, edit=request.method in ("PATCH", "DELETE")
    )
    if request.method == "DELETE":
        services.do_delete_palette(palette=palette)
        return Response(status=status.HTTP_204_NO_CONTENT)
    if request.method == "PATCH":
        serializer = schema.PalettePatch(data=json_object(request))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            services.do_update_palette(
                palette=palette, name=data.get("name"), colors=data.get("colors")
            )
        except StudioError as exc:
            raise _raise(exc) from exc
    return Response(palette_payload(palette, request.user))


def refused(exc: Exception) -> Response:
    """The `{"error", "code", ...}` answer for a refused job request (generation.errors'
    table), with Retry-After and the RateLimit headers where they apply. Re-raises anything
    that is not a refusal."""
    refusal = refusal_for(exc)
    if refusal is None:
        raise exc
    response = Response(
        error_body(refusal.message, refusal.code, **refusal.extra), status=refusal.status
    )
    ratelimits.add_headers(response, refusal.usages, refusal.retry_after)
    return response


def _accepted(request: Request, submission: Submission) -> Response:
    body = {
        **job_payload(submission.job, with_result=submission.has_result),
        "credits_remaining": submission.balance(request.user),
    }
    response = Response(body, status=status.HTTP_202_ACCEPTED)
    # As Stripe does: a replay answers like the original and says so in a header.
    response["Idempotent-Replayed"] = "false" if submission.created else "true"
    ratelimits.add_headers(response, submission.usages)
    return response


def _submit(request: Request, type_name: Any, data: Any, files: Any) -> Response:
    try:
        submission = submit(
            request,
            type_name=type_name,
            data=data,
            files=files,
            idempotency_key=request.headers.get("Idempotency-Key"),  # None when not sent
        )
    except Exception as exc:
        return refused(exc)
    return _accepted(request, submission)


@extend_schema(
    parameters=schema.JOB_SUBMIT_HEADERS,
    request={"application/json": GenerateInput},
    responses={202: schema.JobAccepted, **schema.errors(402, 403, 404, 409, 415, 429, 503)},
)
@api_view(["POST"])
@ratelimits.counted_within(methods=("POST",))  # the job type's route (generation.pipeline)
def generate(request: Request) -> Response:
    """202 `{"id", "status", "cost", "credits_remaining", ...job}`: the `generate_thumbnails`
    job type (same as `POST /api/jobs` with that type). A replay with the same Idempotency-Key
    and body answers 202 with the original job, charges nothing, counts against no limit, and
    carries `Idempotent-Replayed: true`. Refusals: see generation.errors."""
    return _submit(request, "generate_thumbnails", json_object(request), {})


@extend_schema(
    methods=["GET"], operation_id="jobs_list", responses={200: schema.JobList, **schema.errors()}
)
@extend_schema(
    methods=["POST"],
    parameters=schema.JOB_SUBMIT_HEADERS,
    request={"application/json": schema.JOB_REQUEST, "multipart/form-data": schema.JOB_FORM},
    responses={202: schema.JobAccepted, **schema.errors(402, 403, 404, 409, 415, 429, 503)},
)
@api_view(["GET", "POST"])
@parser_classes([SafeJSONParser, MultiPartParser, FormParser])
@ratelimits.counted_within(methods=("POST",))  # the job type's route (generation.pipeline)
def jobs(request: Request) -> Response:
    """POST `{"type", "input": {...}}` (JSON), or multipart with `type`, the input's fields and
    files: submits any job type -> 202 job. GET: the caller's 20 most recent jobs, each with its
    result as `GET /api/jobs/<id>` gives it (`thumbnails`, `result`), in two queries: the jobs
    and one prefetch of their thumbnails."""
    if request.method != "POST":  # GET and HEAD
        rows = (
            Job.objects.filter(user=request.user)
            .prefetch_related(
                Prefetch("thumbnails", queryset=Thumbnail.objects.order_by("variation_index"))
            )
            .order_by("-created_at")[:20]
        )
        return Response({"results": [job_payload(job) for job in rows]})
    json_object(request, 'Send a JSON object {"type", "input"}.')  # not a list, nor no body
    data: Any
    if isinstance(request.data, QueryDict):
        # Multipart or a form: read as the studio's forms are (`*_ids` and any field sent more
        # than once are lists; QueryDict.items() kept only the last of each, so two
        # thumbnail_ids analysed one); the files go separately.
        data = {k: v for k, v in form_fields(request.POST).items() if k != "type"}
    elif isinstance(request.data, dict) and "input" in request.data:
        data = request.data.get("input")
        if not isinstance(data, dict):
            raise APIError("input must be a JSON object.", "invalid")
        # Beside "input" only "type": another key is refused as the input's unknown fields are
        # (KnownFieldsOnly), before anything is charged.
        unknown = sorted(str(key) for key in request.data if key not in ("type", "input"))
        if unknown:
            raise unknown_fields_error(unknown, ["type", "input"])
    else:
        data = {k: v for k, v in request.data.items() if k != "type"}
    files = {name: request.FILES.getlist(name) for name in request.FILES}
    return _submit(request, request.data.get("type"), data, files)


@extend_schema(parameters=[schema.JOB_ID], responses={200: schema.JobOut, **schema.errors(404)})
@api_view(["GET"])
def job_detail(request: Request, job_id: str) -> Response:
    """The job with its result: `thumbnails` for image job types, `result` for JSON ones."""
    return Response(job_payload(services.access_job(request.user, job_id)))


@extend_schema(
    parameters=[schema.JOB_ID],
    request=None,
    responses={200: schema.JobAccepted, **schema.errors(404, 409)},
)
@api_view(["POST"])
def job_cancel(request: Request, job_id: str) -> Response:
    """Cancel a queued or running job: undelivered units refunded, status `cancelled`. A job
    that already finished: 409 `job_finished`."""
    job = services.access_job(request.user, job_id)
    # Judged again after the cancel: the job may finish between the look-up and its lock.
    if job.is_finished or cancel_job(job).status != Job.Status.CANCELLED:
        raise APIError("This job has already finished.", "job_finished", status.HTTP_409_CONFLICT)
    return Response({**job_payload(job), "credits_remaining": get_balance(request.user)})


def download_filename(thumbnail: Thumbnail, size: str, ext: str) -> str:
    """`<title slug>-<size>.<ext>`, e.g. "i-tried-100-coffee-shops-only-1-was-worth-it-youtube.jpg";
    the title is transliterated to ASCII where that keeps all its letters (slugify: "Café" is
    "cafe") and kept as Unicode where it would lose some (a Japanese or Arabic title stays so,
    digits and all: an Arabic title with "100" in it was "100-youtube.jpg"; FileResponse sends
    RFC 6266 `filename*`). Text-free thumbnails are "viewbait-<id>"."""
    title = thumbnail.title or ""
    ascii_stem = slugify(title)[:80].strip("-")
    unicode_stem = slugify(title, allow_unicode=True)[:80].strip("-")
    kept = sum(c.isalnum() for c in ascii_stem) >= sum(c.isalnum() for c in unicode_stem)
    stem = ascii_stem if kept else unicode_stem
    return f"{stem or f'viewbait-{thumbnail.pk}'}-{size}.{ext}"


@extend_schema(
    parameters=schema.DOWNLOAD_PARAMETERS,
    responses={
        (200, "image/jpeg"): OpenApiResponse(OpenApiTypes.BINARY, description="?size=youtube"),
        (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="?size=full"),
        **schema.errors(404),
    },
)
@api_view(["GET"])
@content_negotiation_class(FileNegotiation)
def thumbnail_download(request: Request, thumbnail_id: int) -> FileResponse:
    """`?size=youtube` (default): the 1280 px JPEG; `?size=full`: the full-resolution PNG. 404
    (JSON) for a stranger's thumbnail or a stored file that is gone."""
    thumbnail = services.access_thumbnail(request.user, thumbnail_id)
    size = request.query_params.get("size", "youtube")
    if size not in ("youtube", "full"):
        raise APIError("size must be youtube or full.", "invalid")
    field = thumbnail.download if size == "youtube" else thumbnail.image
    ext = "jpg" if size == "youtube" else "png"
    filename = download_filename(thumbnail, size, ext)
    if not field:  # no file at all (a row made outside a job): the field cannot open
        raise Http404
    try:
        handle = field.open("rb")
    except FileNotFoundError:  # gone: a delete's on-commit removal won the race, a lost file
        raise Http404 from None
    response = FileResponse(handle, as_attachment=True, filename=filename)
    response = stream_under_asgi(request._request, response)  # not read whole into memory
    response["Cache-Control"] = "private, max-age=86400"
    return response
