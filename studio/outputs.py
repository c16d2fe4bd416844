"""Storing a provider's output as a Thumbnail: full image, gallery variants, YouTube download."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
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
    delivering: Callable[[], AbstractContextManager[None]],
    links: dict[str, int | None],
    parent_id: int | None = None,
    root_id: int | None = None,
    extra_parameters: dict[str, Any] | None = None,
) -> Thumbnail:
    """Decode a provider image, burn the watermark if the job's plan requires it, and store the
    full PNG, ~400/800 px WebP gallery variants and the YouTube JPEG, then the Thumbnail row
    inside `delivering()` (the engine's transaction that marks the unit delivered). `links`
    holds the style, palette and project ids that still exist (None for deleted ones).

    An edit (studio.job_types.edit) passes `parent_id` (the thumbnail it was made from) and
    `root_id` (the first of that line, `Thumbnail.lineage_id`), both rows that still exist, and
    `extra_parameters` kept in `Thumbnail.parameters` beside the allowlisted ones (its seed and
    instruction; `thumbnail_payload` still shows only PUBLIC_PARAMETERS).

    File names are fixed per (job, unit), so a re-run after a crash overwrites its own leftovers
    instead of orphaning them; if the row cannot be written (the unit was cancelled meanwhile,
    or any error) the files are deleted. Raises PIL errors on an undecodable image, and what
    `delivering` raises (generation.services.UnitNotPending).
    """
    params = job.params
    image: Image.Image = Image.open(io.BytesIO(data))
    image.load()
    image = image.convert("RGB")
    watermark = bool(params.get("watermark"))
    if watermark:
        image = burn_watermark(image)
    small, medium = (resize_to_width(image, width) for width in GALLERY_WIDTHS)
    download, _, _ = youtube_jpeg(image, params["aspect_ratio"])
    thumbnail = Thumbnail(
        owner_id=job.user_id,
        job=job,
        project_id=links.get("project_id"),
        parent_id=parent_id,
        root_id=root_id,
        title=params.get("title", ""),
        style_id=links.get("style_id"),
        palette_id=links.get("palette_id"),
        aspect_ratio=params["aspect_ratio"],
        resolution=params["resolution"],
        width=image.width,
        height=image.height,
        has_watermark=watermark,
        variation_index=variation_index,
        parameters={**public_parameters(params), **(extra_parameters or {})},
        expires_at=(timezone.now() + dt.timedelta(days=retention_days) if retention_days else None),
    )
    contents = (encode_png(image), encode_webp(small), encode_webp(medium), download)
    written: list[str] = []
    try:
        for (field_name, name), content in zip(
            _unit_files(job, variation_index), contents, strict=True
        ):
            field = getattr(thumbnail, field_name)
            field.storage.delete(field.field.generate_filename(thumbnail, name))  # a crash's
            field.save(name, ContentFile(content), save=False)
            written.append(field.name)
        with delivering():
            thumbnail.save()
    except BaseException:
        for name in written:
            default_storage.delete(name)
        raise
    return thumbnail


def _unit_files(job: Job, index: int) -> tuple[tuple[str, str], ...]:
    """(Thumbnail field, file name) of each file one unit stores: fixed per (job, unit), so a
    re-run overwrites a crashed run's files and `discard_unit_files` can find them."""
    stem = f"{job.id.hex}-{index}"
    return (
        ("image", f"{stem}.png"),
        ("image_small", f"{stem}-400.webp"),
        ("image_medium", f"{stem}-800.webp"),
        ("download", f"{stem}.jpg"),
    )


def discard_unit_files(job: Job, index: int) -> None:
    """Delete whatever files a unit that failed or was cancelled left behind (a worker killed
    between writing them and committing the row)."""
    for field_name, name in _unit_files(job, index):
        field = Thumbnail._meta.get_field(field_name)
        default_storage.delete(field.generate_filename(None, name))  # type: ignore[union-attr]


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
        "parent_id": thumbnail.parent_id,
        "page_url": reverse("thumbnail-page", args=[thumbnail.pk]),
        "created_at": thumbnail.created_at.isoformat(),
        "parameters": public_parameters(thumbnail.parameters),
    }
