"""JSON API (DRF function views). Thin: parse, call one service, render.

Errors are `{"error": ..., "code": ...}` (viewbait.api). Another user's object is a 404.
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, HttpResponse
from rest_framework import status
from rest_framework.decorators import api_view, parser_classes
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from billing.services import InsufficientCredits, effective_plan, get_balance
from generation.progress import job_payload
from generation.services import IdempotencyKeyReused
from studio import services
from studio.library_cache import usable_palettes, usable_styles
from studio.limits import generate as limited_generate
from studio.models import Face, Palette, Style
from studio.services import StudioError
from viewbait import ratelimits
from viewbait.api import APIError


def _raise(exc: StudioError) -> APIError:
    return APIError(exc.message, exc.code, exc.status, **exc.extra)


def face_payload(face: Face) -> dict[str, Any]:
    return {
        "id": face.pk,
        "name": face.name,
        "created_at": face.created_at.isoformat(),
        "images": [
            {"url": img.image.url, "width": img.width, "height": img.height}
            for img in face.images.all()
        ],
    }


def style_payload(style: Style, user: Any) -> dict[str, Any]:
    """A public or built-in style shows name, description and preview, never its prompt."""
    data: dict[str, Any] = {
        "id": style.pk,
        "name": style.name,
        "description": style.description,
        "preview_url": style.preview.url if style.preview else None,
        "builtin": style.owner_id is None,
        "is_public": style.is_public,
        "mine": style.owner_id == user.pk,
    }
    if style.owner_id == user.pk:
        data["prompt"] = style.prompt
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


@api_view(["GET"])
def me(request: Request) -> Response:
    return Response(me_payload(request.user))


@api_view(["GET", "POST"])
@parser_classes([MultiPartParser, FormParser])
@ratelimits.limit("face_upload")
def faces(request: Request) -> Response:
    if request.method == "GET":
        rows = Face.objects.for_owner(request.user).prefetch_related("images")
        return Response({"results": [face_payload(face) for face in rows]})
    try:
        face = services.do_create_face(
            owner=request.user,
            name=str(request.data.get("name", "")),
            files=request.FILES.getlist("images"),
        )
    except StudioError as exc:
        raise _raise(exc) from exc
    return Response(face_payload(face), status=status.HTTP_201_CREATED)


@api_view(["GET", "DELETE"])
def face_detail(request: Request, face_id: int) -> Response:
    face = services.access_face(request.user, face_id)
    if request.method == "DELETE":
        services.do_delete_face(face=face)
        return Response(status=status.HTTP_204_NO_CONTENT)
    return Response(face_payload(face))


@api_view(["GET"])
def styles(request: Request) -> Response:
    rows = usable_styles(request.user)
    return Response({"results": [style_payload(s, request.user) for s in rows]})


@api_view(["GET"])
def palettes(request: Request) -> Response:
    rows = usable_palettes(request.user)
    return Response({"results": [palette_payload(p, request.user) for p in rows]})


@api_view(["POST"])
def generate(request: Request) -> HttpResponse:
    """202 `{"id", "status", "cost", "credits_remaining", ...job}`. A replay with the same
    Idempotency-Key and body answers 202 with the original job, charges nothing, counts against
    no limit, and carries `Idempotent-Replayed: true`. Over the plan's rate limit: 429
    `rate_limited` with Retry-After; limiter down: 503 `limiter_unavailable` (nothing charged)."""
    if not isinstance(request.data, dict):
        raise APIError("Send a JSON object.", "invalid")
    key = request.headers.get("Idempotency-Key") or None
    if key is not None and len(key) > 200:
        raise APIError("Idempotency-Key is longer than 200 characters.", "invalid")
    try:
        params = services.check_generate_params(request.user, request.data)
        job, created, limits = limited_generate(request, params=params, idempotency_key=key)
    except (ratelimits.RateLimited, ratelimits.LimiterUnavailable) as exc:
        return ratelimits.error_response(request, exc)
    except StudioError as exc:
        raise _raise(exc) from exc
    except InsufficientCredits as exc:
        raise APIError(
            f"This needs {exc.required} credits; you have {exc.balance}.",
            "insufficient_credits",
            status.HTTP_402_PAYMENT_REQUIRED,
            balance=exc.balance,
            required=exc.required,
        ) from exc
    except IdempotencyKeyReused as exc:
        raise APIError(
            "This Idempotency-Key was already used for a different request.",
            "idempotency_key_reused",
            status.HTTP_409_CONFLICT,
        ) from exc
    body = {**job_payload(job), "credits_remaining": get_balance(request.user)}
    response = Response(body, status=status.HTTP_202_ACCEPTED)
    # As Stripe does: a replay answers like the original and says so in a header.
    response["Idempotent-Replayed"] = "false" if created else "true"
    ratelimits.add_headers(response, limits)
    return response


@api_view(["GET"])
def job_detail(request: Request, job_id: str) -> Response:
    return Response(job_payload(services.access_job(request.user, job_id)))


@api_view(["GET"])
def thumbnail_download(request: Request, thumbnail_id: int) -> FileResponse:
    """`?size=youtube` (default): the 1280 px JPEG; `?size=full`: the full-resolution PNG."""
    thumbnail = services.access_thumbnail(request.user, thumbnail_id)
    size = request.query_params.get("size", "youtube")
    if size not in ("youtube", "full"):
        raise APIError("size must be youtube or full.", "invalid")
    field = thumbnail.download if size == "youtube" else thumbnail.image
    ext = "jpg" if size == "youtube" else "png"
    filename = f"viewbait-{thumbnail.pk}-{size}.{ext}"
    response = FileResponse(field.open("rb"), as_attachment=True, filename=filename)
    response["Cache-Control"] = "private, max-age=86400"
    return response
