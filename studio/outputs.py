"""Storing a provider's output as a Thumbnail: full image, gallery variants, YouTube download."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from generation.models import Job
from studio.images import (
    GALLERY_WIDTHS,
    burn_watermark,
    encode_png,
    encode_webp,
    resize_to_width,
    youtube_jpeg,
)
from studio.models import Thumbnail

# Parameters that may leave the server with a thumbnail (never a prompt or internal field).
PUBLIC_PARAMETERS = (
    "title",
    "style_id",
    "palette_id",
    "face_ids",
    "expression",
    "pose",
    "aspect_ratio",
    "resolution",
    "variations",
    "project_id",
    "model",
)


def public_parameters(params: dict[str, Any]) -> dict[str, Any]:
    return {key: params[key] for key in PUBLIC_PARAMETERS if key in params}


def store_thumbnail(
    *,
    job: Job,
    variation_index: int,
    data: bytes,
    retention_days: int | None,
) -> Thumbnail:
    """Decode a provider image, burn the watermark if the job's plan requires it, and store the
    full PNG, ~400/800 px WebP gallery variants and the YouTube JPEG. Raises PIL errors on an
    undecodable image."""
    params = job.params
    image = Image.open(io.BytesIO(data))
    image.load()
    image = image.convert("RGB")
    watermark = bool(params.get("watermark"))
    if watermark:
        image = burn_watermark(image)
    small, medium = (resize_to_width(image, width) for width in GALLERY_WIDTHS)
    download, _, _ = youtube_jpeg(image, params["aspect_ratio"])
    stem = f"{job.id.hex}-{variation_index}"
    thumbnail = Thumbnail(
        owner_id=job.user_id,
        job=job,
        project_id=params.get("project_id"),
        title=params.get("title", ""),
        style_id=params.get("style_id"),
        palette_id=params.get("palette_id"),
        aspect_ratio=params["aspect_ratio"],
        resolution=params["resolution"],
        width=image.width,
        height=image.height,
        has_watermark=watermark,
        variation_index=variation_index,
        parameters=public_parameters(params),
        expires_at=(timezone.now() + dt.timedelta(days=retention_days) if retention_days else None),
    )
    thumbnail.image.save(f"{stem}.png", ContentFile(encode_png(image)), save=False)
    thumbnail.image_small.save(f"{stem}.webp", ContentFile(encode_webp(small)), save=False)
    thumbnail.image_medium.save(f"{stem}.webp", ContentFile(encode_webp(medium)), save=False)
    thumbnail.download.save(f"{stem}.jpg", ContentFile(download), save=False)
    with transaction.atomic():
        thumbnail.save()
        Job.objects.filter(pk=job.pk).update(units_succeeded=job.units_succeeded + 1)
        job.units_succeeded += 1
    return thumbnail


def thumbnail_payload(thumbnail: Thumbnail) -> dict[str, Any]:
    """A thumbnail as the API shows it: URLs and allowlisted parameters only."""
    return {
        "id": thumbnail.pk,
        "title": thumbnail.title,
        "image_url": thumbnail.image_medium.url,
        "small_url": thumbnail.image_small.url,
        "full_url": thumbnail.image.url,
        "download_url": reverse("api-thumbnail-download", args=[thumbnail.pk]) + "?size=youtube",
        "width": thumbnail.width,
        "height": thumbnail.height,
        "aspect_ratio": thumbnail.aspect_ratio,
        "resolution": thumbnail.resolution,
        "has_watermark": thumbnail.has_watermark,
        "is_favorite": thumbnail.is_favorite,
        "is_public": thumbnail.is_public,
        "project_id": thumbnail.project_id,
        "job_id": str(thumbnail.job_id) if thumbnail.job_id else None,
        "created_at": thumbnail.created_at.isoformat(),
        "parameters": public_parameters(thumbnail.parameters),
    }
