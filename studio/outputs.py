"""Storing a provider's output as a Thumbnail: full image, gallery variants, YouTube download."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError
from django.utils import timezone

from core.db_faults import is_database_fault
from generation.models import Job
from generation.providers.base import GeneratedImage
from studio.images import (
    GALLERY_WIDTHS,
    burn_watermark,
    encode_png,
    encode_webp,
    resize_to_width,
    youtube_jpeg,
)
from studio.media import MediaSigner, media_url
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


@dataclass(frozen=True)
class UnitFiles:
    """One unit's stored files, each encoded once: the full PNG, the ~400/800 px WebP gallery
    variants and the YouTube JPEG, with the full image's size in pixels and whether the
    watermark is burnt in."""

    png: bytes
    small: bytes
    medium: bytes
    download: bytes
    width: int
    height: int
    watermark: bool
    notes: tuple[str, ...] = ()  # the provider's notes for the creator (GeneratedImage.notes)
    text: tuple[str, ...] | None = None  # the words drawn, when known (GeneratedImage.text)


def encode_unit_files(generated: GeneratedImage | bytes, params: dict[str, Any]) -> UnitFiles:
    """The files of one unit from a provider's output: its in-memory image if it has one (the
    local renderer), else its bytes decoded once (Gemini). The watermark is burnt in if
    `params["watermark"]`; `params["aspect_ratio"]` sizes the YouTube JPEG. Every file is encoded
    exactly once from the same in-memory image. Raises PIL errors on undecodable bytes.

    CPU and memory heavy at 4K (a 5504x3072 RGB image is 68 MB in Pillow): the worker calls it
    inside `generation.services.image_slot`."""
    if isinstance(generated, bytes):
        generated = GeneratedImage(generated)
    image = generated.picture()
    watermark = bool(params.get("watermark"))
    if watermark:
        image = burn_watermark(image)
    medium = resize_to_width(image, GALLERY_WIDTHS[1])
    small = resize_to_width(image, GALLERY_WIDTHS[0], source=medium)  # same look, less CPU
    download, _, _ = youtube_jpeg(image, params["aspect_ratio"])
    return UnitFiles(
        png=encode_png(image),
        small=encode_webp(small),
        medium=encode_webp(medium),
        download=download,
        width=image.width,
        height=image.height,
        watermark=watermark,
        notes=generated.notes,
        text=generated.text,
    )


def store_thumbnail(
    *,
    job: Job,
    variation_index: int,
    data: GeneratedImage | bytes | UnitFiles,
    retention_days: int | None,
    delivering: Callable[[], AbstractContextManager[None]],
    links: Callable[[], dict[str, int | None]],
    extra_parameters: dict[str, Any] | None = None,
) -> Thumbnail:
    """Store a provider's output (`data`: its GeneratedImage or bytes, or the `UnitFiles`
    already made from it by `encode_unit_files`) as the full PNG, ~400/800 px WebP gallery
    variants and the YouTube JPEG, then the Thumbnail row inside `delivering()` (the engine's
    transaction that marks the unit delivered). `links()` reads the ids of the rows the
    thumbnail links to that still exist (None for deleted ones): `style_id`, `palette_id`,
    `project_id` and, for an edit (studio.job_types.edit), `parent_id` (the thumbnail it was
    made from) and `root_id` (the first of that line, `Thumbnail.lineage_id`). If one of them is
    deleted after it was read, the row's foreign key fails when the delivery commits (rolled
    back, the unit still pending): the links are read again, the deleted one now None, and the
    row delivered once more, so the creator keeps the image.

    `extra_parameters` are kept in `Thumbnail.parameters` beside the allowlisted ones (an
    edit's seed and instruction; `thumbnail_payload` still shows only PUBLIC_PARAMETERS), and
    so are the provider's `notes` (GeneratedImage.notes: the local renderer's), when it has any,
    and the lines of words it drew as `drawn_text` when it knows them (GeneratedImage.text: the
    local renderer; the thumbnail check counts the words from them).

    File names are fixed per (job, unit, attempt) (`_unit_files`): a worker whose lease lapsed
    while it rendered never touches the files of the worker that took the job over. If the row
    cannot be written (the unit was cancelled or taken over meanwhile, or any error) this call's
    files are deleted; once it is written, earlier attempts' leftovers of the unit (a worker
    killed between its files and its row) are. A database fault as the row commits deletes
    nothing: the row may have gone in (core.db_faults; the engine then finds the unit
    delivered). Raises PIL errors on an undecodable image, and
    what `delivering` raises (generation.services.UnitNotPending).
    """
    params = job.params
    files = data if isinstance(data, UnitFiles) else encode_unit_files(data, params)
    thumbnail = Thumbnail(
        owner_id=job.user_id,
        job=job,
        title=params.get("title", ""),
        aspect_ratio=params["aspect_ratio"],
        resolution=params["resolution"],
        width=files.width,
        height=files.height,
        has_watermark=files.watermark,
        variation_index=variation_index,
        parameters={
            **public_parameters(params),
            **(extra_parameters or {}),
            # What the renderer changed and why (a shortened title, a sub-line left out), for
            # the job card and the thumbnail's large view, which outlives the card.
            **({"notes": list(files.notes)} if files.notes else {}),
            **({"drawn_text": list(files.text)} if files.text is not None else {}),
        },
        expires_at=(timezone.now() + dt.timedelta(days=retention_days) if retention_days else None),
    )
    contents = (files.png, files.small, files.medium, files.download)
    attempt = _attempt(job)
    written: list[str] = []
    committing = False  # the row was saved; only the delivery's commit is left
    try:
        for (field_name, name), content in zip(
            _unit_files(job, variation_index, attempt), contents, strict=True
        ):
            field = getattr(thumbnail, field_name)
            field.storage.delete(field.field.generate_filename(thumbnail, name))  # this attempt's
            field.save(name, ContentFile(content), save=False)
            written.append(field.name)
        _link(thumbnail, links())
        try:
            with delivering():
                thumbnail.save()
                committing = True
        except IntegrityError:
            committing = False
            _link(thumbnail, links())  # a linked row went after it was read: without it
            thumbnail.pk = None
            thumbnail._state.adding = True
            with delivering():
                thumbnail.save()
                committing = True
    except BaseException as exc:
        if committing and is_database_fault(exc):
            # The connection failed as the delivery committed: PostgreSQL may have committed
            # it, so the files stay. If it did not, the unit is still pending: a later attempt
            # deletes this one's files when it delivers the unit, or its refund does.
            raise
        for name in written:
            default_storage.delete(name)
        raise
    # Delivered under this attempt's lease: no other attempt can deliver the unit now, so what
    # earlier ones wrote for it is garbage.
    for earlier in range(1, attempt):
        _delete_unit_files(job, variation_index, earlier)
    return thumbnail


def _link(thumbnail: Thumbnail, links: dict[str, int | None]) -> None:
    for field in ("style_id", "palette_id", "project_id", "parent_id", "root_id"):
        setattr(thumbnail, field, links.get(field))


def _attempt(job: Job) -> int:
    """The claim the caller works under (`Job.attempts` as its claim set it; at least 1)."""
    return max(1, job.attempts)


def _unit_files(job: Job, index: int, attempt: int) -> tuple[tuple[str, str], ...]:
    """(Thumbnail field, file name) of each file one unit stores in one attempt (claim) of the
    job: fixed per (job, unit, attempt), so `discard_unit_files` and a later attempt can find
    them, and distinct between attempts, so two workers never write or delete each other's. Each
    name is an HMAC of (job, unit, attempt, file) keyed by SECRET_KEY: it looks random and tells
    nothing about its sibling files or the job (private media, `studio.media`)."""
    return tuple(
        (field, f"{_keyed_name(job, index, attempt, field)}.{ext}")
        for field, ext in (
            ("image", "png"),
            ("image_small", "webp"),
            ("image_medium", "webp"),
            ("download", "jpg"),
        )
    )


def _keyed_name(job: Job, index: int, attempt: int, field: str) -> str:
    """32 hex digits (128 bits) of HMAC-SHA256(SECRET_KEY, "<job id>:<unit>:<attempt>:<field>")."""
    message = f"viewbait.media.name:{job.id.hex}:{index}:{attempt}:{field}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()[:32]


def _delete_unit_files(job: Job, index: int, attempt: int) -> None:
    for field_name, name in _unit_files(job, index, attempt):
        field = Thumbnail._meta.get_field(field_name)
        default_storage.delete(field.generate_filename(None, name))  # type: ignore[union-attr]


def discard_unit_files(job: Job, index: int) -> None:
    """Delete whatever files a unit that failed or was cancelled left behind in any attempt so
    far (a worker killed between writing them and committing the row). Only for a unit that was
    never delivered: its files belong to no thumbnail."""
    for attempt in range(1, _attempt(job) + 1):
        _delete_unit_files(job, index, attempt)


@dataclass(frozen=True, slots=True)
class ThumbnailLinks:
    """What every thumbnail of one API answer shares: one media signer and its three routes as
    format strings (studio.cards.url_format), so a list of N thumbnails costs three URL
    reversals instead of 3N (`tests/test_private_media.py` counts them)."""

    signer: MediaSigner
    page: str
    download: str
    public: str

    @classmethod
    def build(cls) -> ThumbnailLinks:
        from studio.cards import url_format

        return cls(
            signer=MediaSigner(),
            page=url_format("thumbnail-page", "{pk}"),
            download=url_format("api-thumbnail-download", "{pk}") + "?size=youtube",
            public=url_format("public-thumbnail", "{token}"),
        )


def thumbnail_payload(thumbnail: Thumbnail, links: ThumbnailLinks | None = None) -> dict[str, Any]:
    """A thumbnail as the API shows it: signed media URLs (`studio.media`), its page and
    YouTube-ready download links, and allowlisted parameters only. Pass one `links` for a list."""
    links = links or ThumbnailLinks.build()
    signer = links.signer
    return {
        "id": thumbnail.pk,
        "title": thumbnail.title,
        "image_url": media_url(thumbnail.image_medium, signer),
        "small_url": media_url(thumbnail.image_small, signer),
        "full_url": media_url(thumbnail.image, signer),
        "download_url": links.download.format(pk=thumbnail.pk),
        "width": thumbnail.width,
        "height": thumbnail.height,
        "aspect_ratio": thumbnail.aspect_ratio,
        "resolution": thumbnail.resolution,
        "has_watermark": thumbnail.has_watermark,
        "is_favorite": thumbnail.is_favorite,
        "is_public": thumbnail.is_public,
        # The public page (/p/<token>/) while the thumbnail is public: its own link to share.
        "public_url": (
            links.public.format(token=thumbnail.public_token)
            if thumbnail.is_public and thumbnail.public_token
            else None
        ),
        "project_id": thumbnail.project_id,
        "job_id": str(thumbnail.job_id) if thumbnail.job_id else None,
        "parent_id": thumbnail.parent_id,
        "page_url": links.page.format(pk=thumbnail.pk),
        "created_at": thumbnail.created_at.isoformat(),
        "parameters": public_parameters(thumbnail.parameters),
    }
