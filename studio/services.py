"""Creator-facing services: `check_*` validates, `do_*` mutates, `access_*` fetches with a
permission check (a stranger's id raises Http404)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Q, Value
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import ngettext
from PIL import Image

from billing.models import CreditPackPurchase, Plan, Subscription
from billing.services import effective_plan, lock_account, lock_existing_account, plan_table
from core.types import User
from generation.errors import JobRefused
from generation.models import Job
from studio.gallery_cache import invalidate_gallery
from studio.images import ImageRejected, decode_upload, encode_jpeg
from studio.models import (
    NAME_TAKEN,
    Face,
    FaceImage,
    Palette,
    Project,
    Style,
    StyleReferenceImage,
    Thumbnail,
    YouTubeChannel,
    folded_name,
    new_share_token,
    refused_by_owner_name_index,
)

logger = logging.getLogger(__name__)

MAX_FACE_PHOTOS = 3
MAX_STYLE_REFERENCES = 4
TITLE_MAX_CHARS = 100
INSTRUCTIONS_MAX_CHARS = 500


class StudioError(JobRefused):
    """A refused request: `message` for the creator, `code` for clients, HTTP `status`."""


@dataclass
class GenerateParams:
    """A validated generation request; stored on the Job as its params (no prompt)."""

    title: str = ""
    instructions: str = ""
    style_id: int | None = None
    palette_id: int | None = None
    face_ids: list[int] = field(default_factory=list)
    expression: str = ""
    pose: str = ""
    aspect_ratio: str = "16:9"
    resolution: str = "1K"
    variations: int = 1
    project_id: int | None = None
    model: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- access helpers ------------------------------------------------------------------------


def access_style(user: User, style_id: int) -> Style:
    return get_object_or_404(Style.objects.usable_by(user), pk=style_id)


def access_palette(user: User, palette_id: int) -> Palette:
    return get_object_or_404(Palette.objects.usable_by(user), pk=palette_id)


def access_face(user: User, face_id: int) -> Face:
    return get_object_or_404(Face.objects.for_owner(user), pk=face_id)


def access_project(user: User, project_id: int) -> Project:
    return get_object_or_404(Project.objects.for_owner(user), pk=project_id)


def access_thumbnail(user: User, thumbnail_id: int) -> Thumbnail:
    return get_object_or_404(Thumbnail.objects.for_owner(user), pk=thumbnail_id)


def access_job(user: User, job_id: Any) -> Job:
    try:
        return Job.objects.get(pk=job_id, user=user)
    except (Job.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise Http404 from exc


# --- generation ----------------------------------------------------------------------------


def _first_plan_with(field: str, value: str) -> str:
    """ "the <Plan> plan or higher" for the cheapest plan whose `field` (a list) holds `value`,
    as the plan-gated options in the form name it; "a higher plan" if none does."""
    plans = sorted(plan_table(), key=lambda p: p.price_cents)
    first = next((p for p in plans if value in getattr(p, field)), None)
    return f"the {first.name} plan or higher" if first is not None else "a higher plan"


def check_plan_limits(plan: Plan, params: GenerateParams) -> None:
    """Plan limits in PRODUCT.md's order: variations, resolution, aspect ratio, custom assets.
    Raises StudioError 403 with code `plan_variations_limit`, `plan_resolution_not_allowed`,
    `plan_aspect_ratio_not_allowed` or `plan_custom_assets_limit`."""
    if params.variations > plan.max_variations:
        raise StudioError(
            ngettext(
                "The %(plan)s plan allows up to %(count)d variation per request.",
                "The %(plan)s plan allows up to %(count)d variations per request.",
                plan.max_variations,
            )
            % {"plan": plan.name, "count": plan.max_variations},
            "plan_variations_limit",
            403,
            limit=plan.max_variations,
        )
    if params.resolution not in plan.resolutions:
        raise StudioError(
            f"{params.resolution} needs {_first_plan_with('resolutions', params.resolution)}.",
            "plan_resolution_not_allowed",
            403,
            allowed=plan.resolutions,
        )
    if params.aspect_ratio not in plan.aspect_ratios:
        raise StudioError(
            f"The {params.aspect_ratio} aspect ratio needs "
            f"{_first_plan_with('aspect_ratios', params.aspect_ratio)}.",
            "plan_aspect_ratio_not_allowed",
            403,
            allowed=plan.aspect_ratios,
        )
    limit = plan.custom_asset_limit
    if limit is not None and len(set(params.face_ids)) > limit:
        # An account that downgraded keeps its faces but may use only `limit` per request.
        raise StudioError(
            ngettext(
                "The %(plan)s plan allows %(count)d custom face per request.",
                "The %(plan)s plan allows %(count)d custom faces per request.",
                limit,
            )
            % {"plan": plan.name, "count": limit},
            "plan_custom_assets_limit",
            403,
            limit=limit,
        )


# --- faces ---------------------------------------------------------------------------------


def measured_face_height(image: Image.Image) -> int:
    """Px height of the largest frontal face in `image` (the renderer's own detector,
    `generation.providers.cutout.detect_face`), 0 if none is found. About 50-100 ms."""
    from generation.providers.cutout import detect_face

    box = detect_face(image.convert("RGB"))
    return 0 if box is None else box[3] - box[1]


MEASURE_PER_REQUEST = 6


def measure_unmeasured_faces(faces: Iterable[Face]) -> list[Face]:
    """`faces` (with `images` prefetched) as a list, after measuring up to MEASURE_PER_REQUEST
    photos stored before photos were measured (`FaceImage.face_height` NULL): each reads its
    file and runs the detector (about 60-100 ms), so a library of old faces is measured over a
    few visits. A file that cannot be read is left unmeasured."""
    faces = list(faces)
    todo = [image for face in faces for image in face.images.all() if image.face_height is None]
    for image in todo[:MEASURE_PER_REQUEST]:
        try:
            with image.image.open("rb") as handle, Image.open(handle) as photo:
                height = measured_face_height(photo)
        except (OSError, ValueError, Image.DecompressionBombError):
            logger.warning("face photo %s could not be measured", image.pk, exc_info=True)
            continue
        image.face_height = height
        image.save(update_fields=["face_height"])  # its signal refreshes the studio's face chips
    return faces


@dataclass(frozen=True)
class PreparedPhoto:
    """An upload decoded, checked and re-encoded: `data` is the JPEG to store (none of the
    upload's bytes, so no EXIF such as GPS), `image` the decoded picture (to measure a face),
    `width` x `height` its size in px."""

    image: Image.Image
    data: bytes
    width: int
    height: int


def prepare_photos(files: Iterable[UploadedFile]) -> list[PreparedPhoto]:
    """Every upload decoded and checked (`studio.images.decode_upload`: JPEG/PNG/WebP, the byte
    and pixel limits, EXIF orientation applied) and re-encoded as JPEG, before anything is
    stored: the one way an uploaded face photo or style reference reaches storage, from the
    studio, the API or the admin. Raises StudioError with the image's code (400
    `invalid_image`, `unsupported_image_type`, `image_too_small`, `image_too_large`; 413
    `file_too_large`, `upload_pixels_exceeded`; 503 `busy`)."""
    try:
        decoded = [decode_upload(f) for f in files]
    except ImageRejected as exc:
        raise StudioError(exc.message, exc.code, exc.status) from exc
    return [PreparedPhoto(d.image, encode_jpeg(d.image), d.width, d.height) for d in decoded]


def do_create_face(*, owner: User, name: str, files: list[UploadedFile]) -> Face:
    """Create a face from 1-3 photos. Every photo is decoded and checked before anything is
    stored; on any failure nothing is stored. Raises StudioError (400 `invalid`; 409
    `name_taken` for a name another of the owner's faces has, as in `check_asset_name`; 403
    `plan_custom_assets_limit`, or the image's own code: 400/413)."""
    name = name.strip()
    if not name:
        raise StudioError("Give the face a name.", "invalid")
    if len(name) > 80:
        raise StudioError("The name is longer than 80 characters.", "invalid")
    if not 1 <= len(files) <= MAX_FACE_PHOTOS:
        raise StudioError(f"Upload 1 to {MAX_FACE_PHOTOS} photos for a face.", "invalid")
    name = check_asset_name(Face, owner, name)
    check_custom_asset_quota(owner, Face)
    decoded = prepare_photos(files)
    # Measured and stored before the transaction: the detector's CPU time and the storage's
    # writes hold no row locks (the quota check below holds the balance row).
    face_heights = [measured_face_height(photo.image) for photo in decoded]
    stored: list[str | None] = []
    try:
        for photo in decoded:
            stored.append(_store(FaceImage, "image", photo.data))
        with transaction.atomic(), name_taken_as_409(Face, name):
            check_custom_asset_quota(owner, Face, lock=True)
            # Again under the owner's balance row: another request may have taken the name.
            lock_account(owner)
            name = check_asset_name(Face, owner, name)
            face = Face.objects.create(owner=owner, name=name)
            for position, (photo, face_height, stored_name) in enumerate(
                zip(decoded, face_heights, stored, strict=True)
            ):
                FaceImage.objects.create(
                    face=face,
                    image=stored_name,
                    width=photo.width,
                    height=photo.height,
                    face_height=face_height,
                    position=position,
                )
    except Exception:
        _delete_files(stored)
        raise
    return face


def _store(model: Any, field_name: str, data: bytes, ext: str = "jpg") -> str:
    """Save `data` under a fresh private name where `model.field_name` keeps its files; the
    stored name, for a row written afterwards. Raises StudioError 503 `storage_unavailable`
    as `save_upload`."""
    field = model._meta.get_field(field_name)
    name = field.generate_filename(None, private_name(ext))
    return save_upload(name, ContentFile(data), storage=field.storage)


# Seconds a client is told to wait (Retry-After) when the storage refused an upload's write.
STORAGE_RETRY_AFTER_SECONDS = 30


def storage_errors() -> tuple[type[BaseException], ...]:
    """What a storage backend raises when it cannot write: OSError (local files: a full or
    read-only disk, permissions), and botocore's errors when django-storages' S3 backend is
    installed (the bucket unreachable, credentials or permissions refused)."""
    errors: list[type[BaseException]] = [OSError]
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # no S3 backend installed
        pass
    else:
        errors += [BotoCoreError, ClientError]
    return tuple(errors)


def save_upload(name: str, content: Any, *, storage: Storage | None = None) -> str:
    """Store an upload (or a request's private copy of a stored file) under `name` in `storage`
    (default_storage); the name stored. The one way a request writes a file: the storage's
    fault (`storage_errors`) becomes StudioError 503 `storage_unavailable` with `retry_after`
    (the API's Retry-After), never a 500; the caller deletes what it stored before and
    charges nothing, as for any refusal."""
    target = default_storage if storage is None else storage
    try:
        return str(target.save(name, content))
    except storage_errors() as exc:
        logger.warning("storage refused to save %s", name, exc_info=True)
        raise StudioError(
            "Files cannot be saved right now. Nothing was charged; try again in a minute.",
            "storage_unavailable",
            503,
            retry_after=STORAGE_RETRY_AFTER_SECONDS,
        ) from exc


def drawn_preview(name: str, reference: bytes) -> bytes:
    """A new custom style's preview over its first reference image (studio.style_previews)."""
    from studio.style_previews import render_preview

    return render_preview(name=name, slug="", seed=0, reference=reference)


def do_delete_face(*, face: Face) -> None:
    """Delete a face and, after the transaction commits, its stored photos: those a queued or
    running generate or edit job copied (`params["faces"]`, read when it runs) when that job
    ends (`discard_unused_face_files`), as a deleted style's references."""
    names = [img.image.name for img in face.images.all()]
    with transaction.atomic():
        face.delete()
        discard_unused_face_files(names)


def access_own_style(user: User, style_id: int) -> Style:
    return get_object_or_404(Style.objects.for_owner(user), pk=style_id)


def access_own_palette(user: User, palette_id: int) -> Palette:
    return get_object_or_404(Palette.objects.for_owner(user), pk=palette_id)


def check_asset_name(
    model: type[Style] | type[Palette] | type[Project] | type[Face],
    owner: User | None,
    name: str,
    *,
    row: Style | Palette | Project | Face | None = None,
) -> str:
    """`name` stripped, for one of `owner`'s styles, palettes, projects or faces (`row` when
    renaming it). Raises StudioError 409 `name_taken` (NAME_TAKEN; HTTP's answer to a request
    that conflicts with the resource's current state) when another of their styles (palettes,
    projects, faces) has it, case and surrounding spaces aside: the studio's menus (and a
    generate prompt's face names) could not tell the two apart. The message names that other
    one as it is spelled ("You already have a project named “Vlogs”." for "vlogs "), not as
    typed. Names are compared as the
    model's unique index on (owner, `folded_name`) compares them, so this refuses exactly what
    the index would. Call it again under the owner's balance row lock before writing: another
    request may have taken the name meanwhile; every service writer takes that lock, so two
    requests at once get one row and one 409. Were a writer to skip the lock (a script, an
    admin save), the index refuses the later write, and `name_taken_as_409` turns that into the
    same 409."""
    name = (name or "").strip()
    if owner is None:  # a built-in one (the admin's business)
        return name
    taken = (
        model.objects.filter(owner=owner)
        .alias(folded=folded_name())
        .filter(folded=folded_name(Value(name)))
    )
    if row is not None:
        taken = taken.exclude(pk=row.pk)
    existing = taken.values_list("name", flat=True).first()
    if existing is not None:  # named as the creator sees it in their menus ("Vlogs" for "vlogs")
        raise _name_taken(model, existing)
    return name


def _name_taken(
    model: type[Style] | type[Palette] | type[Project] | type[Face], name: str
) -> StudioError:
    noun = model._meta.verbose_name
    return StudioError(f"You already have a {noun} named “{name}”.", NAME_TAKEN, 409)


@contextmanager
def name_taken_as_409(
    model: type[Style] | type[Palette] | type[Project] | type[Face], name: str | None
) -> Iterator[None]:
    """Around a write of `name` (stripped) to one of `model`'s rows, inside the write's
    `transaction.atomic()` (which then rolls back): the IntegrityError of the model's
    per-owner name index (`studio.models.owner_name_unique`) raised as `check_asset_name`'s
    StudioError 409 `name_taken`; any other IntegrityError as it was. The index refuses a
    name the check let through only when another writer skipped the owner's balance row."""
    try:
        yield
    except IntegrityError as exc:
        if name is None or not refused_by_owner_name_index(model, exc):
            raise
        raise _name_taken(model, name.strip()) from exc


def free_asset_name(model: type[Style] | type[Palette], owner: User, name: str) -> str:
    """`name`, or "`name` 2", "`name` 3", ... (cut to fit 80 characters): the first that none
    of `owner`'s styles (palettes) has, case aside. For a style or palette saved from an
    analysis, whose name the creator did not choose."""
    taken = {
        existing.casefold()
        for existing in model.objects.filter(owner=owner).values_list("name", flat=True)
    }
    candidate, number = name, 1
    while candidate.casefold() in taken:
        number += 1
        suffix = f" {number}"
        candidate = name[: 80 - len(suffix)].rstrip() + suffix
    return candidate


def _saved_before(rows: Any, name: str) -> Any:
    """The first of `rows` named `name` or as `free_asset_name` numbers it ("`name` 2"): the
    style or palette an analysis was saved as before, or None."""
    for row in rows:
        if row.name == name:
            return row
        base, _, number = row.name.rpartition(" ")
        if number.isdigit() and base == name[: 80 - len(number) - 1].rstrip():
            return row
    return None


def do_create_style(
    *,
    owner: User,
    name: str,
    description: str,
    prompt: str,
    is_public: bool,
    references: list[UploadedFile],
) -> Style:
    """A custom style with up to 4 reference images, each decoded and re-encoded before storing.
    Raises StudioError (400/413; 409 `name_taken` for a name another of the owner's styles
    has, as in `check_asset_name`; 403 `plan_custom_assets_limit`)."""
    if len(references) > MAX_STYLE_REFERENCES:
        raise StudioError(f"Add at most {MAX_STYLE_REFERENCES} reference images.", "invalid")
    name = check_asset_name(Style, owner, name)
    check_custom_asset_quota(owner, Style)
    decoded = prepare_photos(references)
    stored: list[str] = []
    try:
        # Stored before the transaction: the storage's writes hold no row locks.
        reference_names, preview = _store_style_files(name, decoded, stored)
        with transaction.atomic(), name_taken_as_409(Style, name):
            check_custom_asset_quota(owner, Style, lock=True)
            return _create_style_rows(
                owner=owner,
                name=name,
                description=description,
                prompt=prompt,
                is_public=is_public,
                decoded=decoded,
                reference_names=reference_names,
                preview=preview,
            )
    except Exception:
        _delete_files(stored)
        raise


def _store_style_files(
    name: str, decoded: list[PreparedPhoto], stored: list[str]
) -> tuple[list[str], str]:
    """Store a new style's reference images and its preview (drawn with `name`), each name
    appended to `stored` as it is written (for the caller to delete should the style not be
    created); the reference names and the preview's ("" without references). Call it outside
    any transaction: the storage's writes and the drawing hold no row locks."""
    encoded = [p.data for p in decoded]
    reference_names = []
    for data in encoded:
        reference_names.append(_store(StyleReferenceImage, "image", data))
        stored.append(reference_names[-1])
    # The preview is drawn in the style over its first reference, never that image itself:
    # a published style shows its preview to every creator, its references to nobody.
    preview = _store(Style, "preview", drawn_preview(name, encoded[0]), "webp") if encoded else ""
    if preview:
        stored.append(preview)
    return reference_names, preview


def _create_style_rows(
    *,
    owner: User,
    name: str,
    description: str,
    prompt: str,
    is_public: bool,
    decoded: list[PreparedPhoto],
    reference_names: list[str],
    preview: str,
) -> Style:
    """The Style row and its reference image rows over files `_store_style_files` stored; inside
    `transaction.atomic()`, after the custom-asset quota's locked count."""
    # Again under the owner's balance row: another request may have taken the name.
    lock_account(owner)
    name = check_asset_name(Style, owner, name)
    style = Style.objects.create(
        owner=owner,
        name=name,
        description=description,
        prompt=prompt,
        is_public=is_public,
        preview=preview,
    )
    for position, (photo, stored_name) in enumerate(zip(decoded, reference_names, strict=True)):
        StyleReferenceImage.objects.create(
            style=style,
            image=stored_name,
            width=photo.width,
            height=photo.height,
            position=position,
        )
    return style


def do_delete_style(*, style: Style) -> None:
    """Delete the style and, once that commits, its preview and reference images (those an
    unfinished job copied when it ends, as `do_update_style` removes them). The files are
    read under the locks an edit takes (the owner's balance row, then the style's row, as in
    `do_update_style`): read before, a reference or preview an edit added meanwhile was missed
    and never deleted."""
    with transaction.atomic():
        if style.owner_id is not None:
            lock_existing_account(user_id=style.owner_id)
        preview = Style.objects.select_for_update().filter(pk=style.pk).values_list("preview")
        row = preview.first()
        if row is None:
            return  # deleted meanwhile (another tab), files and all
        references = list(
            StyleReferenceImage.objects.filter(style_id=style.pk).values_list("image", flat=True)
        )
        style.delete()
        discard_files_on_commit([row[0]])
        # As an edit's removed references: those a queued or running job copied (by name, read
        # when it runs) stay until it ends (`discard_unused_style_files`).
        discard_unused_style_files(references)


def do_update_style(
    *,
    style: Style,
    name: str | None = None,
    description: str | None = None,
    prompt: str | None = None,
    add_references: list[UploadedFile] | None = None,
    remove_reference_ids: list[int] | None = None,
) -> Style:
    """Edit one of the creator's own styles (already validated: name 1-80, description 0-300,
    prompt 1-2000 characters); None leaves a field as it is. `remove_reference_ids` are ids of
    this style's reference images, `add_references` new uploads (decoded and re-encoded as in
    `do_create_style`), at most MAX_STYLE_REFERENCES in all afterwards. A new name or other
    references redraw the preview (drawn from both) once the change commits, so it never shows
    the old version; files replaced are deleted once the change commits. Raises StudioError
    400 `invalid` (an id not of this style, too many references), 409 `name_taken` (a name
    another of the owner's styles has) or an image's code, with nothing changed."""
    add_references = add_references or []
    remove = set(remove_reference_ids or [])
    # Refused before decoding any upload; checked again under the locks below, since another
    # edit (a second tab, the API) may have renamed or added to it meanwhile.
    _check_style_edit(style, name, remove, len(add_references))
    decoded = prepare_photos(add_references)
    stored: list[str] = []
    try:
        # Inside the try: a fault storing the second deletes the first.
        for photo in decoded:
            stored.append(_store(StyleReferenceImage, "image", photo.data))
        with transaction.atomic(), name_taken_as_409(Style, name):
            # One edit of the owner's library at a time (their balance row, as the custom-asset
            # quota takes it), then this style's row, read again: two edits at once neither pass
            # the name or reference checks together nor write back each other's old fields.
            if style.owner_id is not None:
                lock_existing_account(user_id=style.owner_id)
            if not Style.objects.select_for_update().filter(pk=style.pk).exists():
                raise StudioError("That style was deleted.", "not_found", 404)
            style.refresh_from_db()
            name, current, kept = _check_style_edit(style, name, remove, len(add_references))
            renamed = name is not None and name != style.name
            # Only the fields sent: another edit's change to the others stays.
            changed = {"name": name, "description": description, "prompt": prompt}
            changed = {field: value for field, value in changed.items() if value is not None}
            for field, value in changed.items():
                setattr(style, field, value)
            if changed:
                style.save(update_fields=list(changed))
            removed = [ref for ref in current if ref.pk in remove]
            StyleReferenceImage.objects.filter(pk__in=[ref.pk for ref in removed]).delete()
            # A queued or running job copied them by name (studio.job_types.generate's
            # snapshot): those stay until it ends (`discard_unused_style_files`).
            discard_unused_style_files(ref.image.name for ref in removed)
            position = max((ref.position for ref in kept), default=-1) + 1
            for offset, (photo, stored_name) in enumerate(zip(decoded, stored, strict=True)):
                StyleReferenceImage.objects.create(
                    style=style,
                    image=stored_name,
                    width=photo.width,
                    height=photo.height,
                    position=position + offset,
                )
            redraw = bool(renamed or removed or stored)
            if redraw and style.preview:
                # The preview is drawn from the name and the first reference: the old one goes
                # with this change, and the next view draws one should the redraw below fail.
                discard_files_on_commit([style.preview.name])
                style.preview = ""
                style.save(update_fields=["preview"])
    except Exception:
        _delete_files(stored)
        raise
    if redraw:
        # Drawn (up to a second) after the commit, outside the balance row's lock, which
        # the creator's submits and billing wait on; swapped in under it only if the name and
        # first reference are still those it was drawn from (studio.style_previews).
        from studio.style_previews import redraw_preview

        try:
            redraw_preview(style)
        except Exception:  # the edit is saved; the next view draws the preview
            logger.warning("could not redraw the preview of style %s", style.pk, exc_info=True)
    return style


def _check_style_edit(
    style: Style, name: str | None, remove: set[int], adding: int
) -> tuple[str | None, list[StyleReferenceImage], list[StyleReferenceImage]]:
    """`do_update_style`'s checks: the name (stripped), the style's references and those kept.
    Raises StudioError 400 `invalid`, or 409 `name_taken` (`check_asset_name`)."""
    if name is not None:
        name = check_asset_name(Style, style.owner, name, row=style)
    current = list(StyleReferenceImage.objects.filter(style=style).order_by("position", "pk"))
    unknown = remove - {ref.pk for ref in current}
    if unknown:
        raise StudioError("That reference image is not one of this style's.", "invalid")
    kept = [ref for ref in current if ref.pk not in remove]
    if len(kept) + adding > MAX_STYLE_REFERENCES:
        raise StudioError(
            f"A style has at most {MAX_STYLE_REFERENCES} reference images: it has {len(kept)}, "
            f"so add at most {MAX_STYLE_REFERENCES - len(kept)}.",
            "invalid",
        )
    return name, current, kept


def do_update_palette(
    *, palette: Palette, name: str | None = None, colors: list[str] | None = None
) -> Palette:
    """Edit one of the creator's own palettes (already validated: name 1-80 characters, 3-6
    "#RRGGBB" colours); None leaves a field as it is. Raises StudioError 409 `name_taken` for
    a name another of the owner's palettes has (`check_asset_name`)."""
    with transaction.atomic(), name_taken_as_409(Palette, name):
        # As `do_update_style`: the owner's balance row (their library's names), then this
        # palette's row read again, and only the fields sent are written.
        if palette.owner_id is not None:
            lock_existing_account(user_id=palette.owner_id)
        if not Palette.objects.select_for_update().filter(pk=palette.pk).exists():
            raise StudioError("That palette was deleted.", "not_found", 404)
        palette.refresh_from_db()
        changed = []
        if name is not None:
            palette.name = check_asset_name(Palette, palette.owner, name, row=palette)
            changed.append("name")
        if colors is not None:
            palette.colors = colors
            changed.append("colors")
        if changed:
            palette.save(update_fields=changed)
    return palette


def do_create_palette(*, owner: User, name: str, colors: list[str], is_public: bool) -> Palette:
    """A custom palette of 3-6 "#RRGGBB" colours (validated by the form). Raises StudioError 403
    `plan_custom_assets_limit`, or 409 `name_taken` for a name another of the owner's palettes
    has (`check_asset_name`)."""
    name = check_asset_name(Palette, owner, name)
    with transaction.atomic(), name_taken_as_409(Palette, name):
        check_custom_asset_quota(owner, Palette, lock=True)
        # Again under the owner's balance row: another request may have taken the name.
        lock_account(owner)
        name = check_asset_name(Palette, owner, name)
        return Palette.objects.create(owner=owner, name=name, colors=colors, is_public=is_public)


def do_create_palette_from_analysis(*, owner: User, job: Job) -> Palette:
    """Save `owner`'s finished `analyse_palette` job as a private custom palette (its name and
    colours). Saving the same analysis again returns the palette saved first (same owner, name
    and colours), so a second click makes no copy; a name another of the owner's palettes has
    is numbered ("Sunset 2", `free_asset_name`). Raises StudioError 400 `invalid` (not a
    finished palette analysis of `owner`, or not 3-6 colours) or 403 `plan_custom_assets_limit`."""
    from studio.forms import PaletteForm

    result = job.result or {}
    if job.user_id != owner.pk or job.type != "analyse_palette" or not result.get("colors"):
        raise StudioError("Only a finished palette analysis can be saved as a palette.", "invalid")
    name = " ".join(str(result.get("name") or "").split())[:80] or "Analysed palette"
    # The library form's rules (3-6 "#RRGGBB" colours): a near-solid image measures fewer.
    form = PaletteForm({"name": name, "colors": ",".join(map(str, result["colors"]))})
    if not form.is_valid():
        message = next(iter(form.errors.values()))[0]
        raise StudioError(f"This palette cannot be saved: {message}", "invalid")
    colors = form.cleaned_data["colors"]
    with transaction.atomic():
        # The balance row before the job's (docs/architecture.md, "Lock order"): the asset
        # quota's count locks it, and an account deletion holds it while it locks the jobs.
        lock_existing_account(user_id=owner.pk)
        # Two clicks at once (two tabs) queue on the job's row: the second finds the first's.
        Job.objects.select_for_update().filter(pk=job.pk).first()
        saved = _saved_before(Palette.objects.filter(owner=owner, colors=colors), name)
        if saved is not None:
            return saved
        name = free_asset_name(Palette, owner, name)  # "Sunset 2" beside another "Sunset"
        return do_create_palette(owner=owner, name=name, colors=colors, is_public=False)


def do_delete_palette(*, palette: Palette) -> None:
    palette.delete()


YOUTUBE_FEATURE = "youtube"  # the plan feature of the YouTube tools (Pro, PRODUCT.md)


def check_youtube_feature(user: User) -> None:
    """Raises StudioError 403 `plan_feature` (with `required_plan` and `plans_url`, as a job
    type's gate does) when the creator's plan lacks the YouTube tools."""
    if effective_plan(user).has_feature(YOUTUBE_FEATURE):
        return
    unlocking = next((p for p in plan_table() if p.has_feature(YOUTUBE_FEATURE)), None)
    needed = f"the {unlocking.name} plan or higher" if unlocking else "a higher plan"
    raise StudioError(
        f"Your YouTube channel is used by the YouTube tools, which need {needed}.",
        "plan_feature",
        403,
        feature=YOUTUBE_FEATURE,
        required_plan=unlocking.slug if unlocking else None,
        plans_url=reverse("plans"),
    )


def do_set_youtube_channel(*, user: User, reference: str) -> YouTubeChannel | None:
    """Set the creator's YouTube channel to `reference` (normalized by
    `studio.youtube.parse_channel_reference`), or forget it when `reference` is "". Returns the
    row, or None once forgotten. Raises StudioError 403 `plan_feature` when setting one without
    the feature; forgetting is open to every plan (a creator who left Pro can still remove the
    channel they had saved)."""
    if not reference:
        YouTubeChannel.objects.filter(user=user).delete()
        return None
    check_youtube_feature(user)
    channel, _ = YouTubeChannel.objects.update_or_create(
        user=user, defaults={"reference": reference}
    )
    return channel


def check_custom_asset_quota(
    owner: User, model: type[Face] | type[Style] | type[Palette], *, lock: bool = False
) -> None:
    """Raises StudioError 403 `plan_custom_assets_limit` when the plan's limit of custom styles,
    palettes or faces (each counted on its own; PRODUCT.md: Free 1 each) is reached.

    With `lock` (inside `transaction.atomic()`, right before the insert) the count is taken
    under the owner's balance row lock (`billing.services.lock_account`), so requests racing
    for the last place cannot all pass it; the creators call it once without `lock` first, to
    refuse before decoding any upload."""
    plan = effective_plan(owner)
    limit = plan.custom_asset_limit
    if limit is None:
        return
    if lock:
        lock_account(owner)
    if model.objects.filter(owner=owner).count() >= limit:
        meta = model._meta
        noun = meta.verbose_name if limit == 1 else meta.verbose_name_plural
        raise StudioError(
            f"The {plan.name} plan allows {limit} custom {noun}. Upgrade for unlimited.",
            "plan_custom_assets_limit",
            403,
            limit=limit,
        )


def private_name(ext: str = "jpg") -> str:
    """A random, unguessable file name (128 bits): stored photos are served by URL, so a name
    must not be derivable from an id."""
    return f"{uuid.uuid4().hex}.{ext}"


def discard_files_on_commit(names: Iterable[str | None]) -> None:
    """Delete these stored files once the current transaction commits (at once outside one);
    a rolled-back change keeps them."""
    kept = [name for name in names if name]
    if kept:
        transaction.on_commit(lambda: _delete_files(kept))


def discard_unused_style_files(names: Iterable[str | None]) -> None:
    """Delete, once the current transaction commits, those of these style reference files that
    no style's reference image holds and no unfinished job copied (a generate or edit job's
    `params["style"]["references"]`, which it reads when it runs): a reference removed from a
    style while a job made with it was queued is deleted when that job ends (the job types'
    `discard`), not under it."""
    _discard_unheld(StyleReferenceImage, names)


def discard_unused_face_files(names: Iterable[str | None]) -> None:
    """Delete, once the current transaction commits, those of these face photo files that no
    face's photo holds and no unfinished job copied (a generate or edit job's
    `params["faces"][i]["images"]`, which it reads when it runs): the photos of a face deleted
    while a job made with it was queued are deleted when that job ends (the job types'
    `discard`), not under it."""
    _discard_unheld(FaceImage, names)


def _discard_unheld(model: Any, names: Iterable[str | None]) -> None:
    """Delete, once the current transaction commits, those of `names` that no `model` row's
    `image` holds and no unfinished job copied (`_copied_by_unfinished_jobs`)."""
    wanted = {name for name in names if name}
    if not wanted:
        return
    unheld = wanted - set(model.objects.filter(image__in=wanted).values_list("image", flat=True))
    discard_files_on_commit(unheld - _copied_by_unfinished_jobs(unheld))


def face_photo_names(faces: Any) -> list[str]:
    """The photo file names a job's `params["faces"]` copied (`[{"name", "images"}, ...]`)."""
    if not isinstance(faces, list):
        return []
    return [
        name
        for face in faces
        if isinstance(face, dict) and isinstance(face.get("images"), list)
        for name in face["images"]
        if isinstance(name, str)
    ]


def _copied_by_unfinished_jobs(names: set[str]) -> set[str]:
    """Those of `names` a queued or running job copied: a generate or edit job's style
    references (`params["style"]["references"]`) and face photos (`params["faces"]`)."""
    if not names:
        return set()
    unfinished = (
        # The partial index of unfinished jobs (job_unfinished_idx), not a scan of all jobs.
        Job.objects.filter(status__in=[Job.Status.QUEUED, Job.Status.RUNNING])
        .filter(Q(params__style__isnull=False) | Q(params__faces__isnull=False))
        .values_list("params__style__references", "params__faces")
    )
    copied: set[str] = set()
    for references, faces in unfinished:
        if isinstance(references, list):
            copied.update(name for name in references if isinstance(name, str))
        copied.update(face_photo_names(faces))
    return names & copied


# `manage.py seed_gallery` gives thousands of rows the same few files, stored under this prefix:
# deleting one such row (the studio, the admin, purge_expired_thumbnails) deleted the files every
# other row still showed. They are never deleted with a row (remove the folder to reclaim them).
SHARED_SEED_FILES = "seed/"


def _delete_files(names: Iterable[str | None]) -> None:
    """Delete these stored files (missing names and `SHARED_SEED_FILES` skipped); a storage
    fault is logged, never raised (the rows are gone already)."""
    from django.core.files.storage import default_storage

    for name in names:
        if not name or name.startswith(SHARED_SEED_FILES):
            continue
        try:
            default_storage.delete(name)
        except Exception:
            logger.warning("could not delete %s", name, exc_info=True)


# --- projects and library actions ------------------------------------------------------------


def do_create_project(*, owner: User, name: str) -> Project:
    """Raises StudioError 400 `invalid` for an empty or over-long name, 409 `name_taken` for
    one of the owner's other projects has (case and surrounding spaces aside)."""
    with transaction.atomic(), name_taken_as_409(Project, name):
        # Checked under the owner's balance row: two requests at once (a double submit, the
        # studio and the API) both passed the check and made two projects of one name.
        lock_existing_account(user_id=owner.pk)
        return Project.objects.create(owner=owner, name=_project_name(name, owner=owner))


def do_update_project(
    *,
    project: Project,
    name: str | None = None,
    share_mode: str | None = None,
    default_settings: dict[str, Any] | None = None,
) -> Project:
    """Rename, set sharing (`share_mode` "off", "all" or "favorites") and/or store the default
    generator settings (already validated: studio.job_types.generate.ProjectDefaults); None
    leaves a field as it is. Turning sharing off also replaces the share token, so a link that
    was sent around stays dead when sharing is turned on again (the new link is a new token).
    All are checked before any is saved: raises StudioError 400 `invalid` with nothing changed
    (409 `name_taken` for a name another of the owner's projects has, as in
    `do_create_project`)."""
    with transaction.atomic(), name_taken_as_409(Project, name):
        # As `do_create_project`: the name is checked under the owner's balance row, and the
        # project's sharing read again under its own lock (another tab may have changed it).
        lock_existing_account(user_id=project.owner_id)
        rows = Project.objects.select_for_update().filter(pk=project.pk)
        shared = rows.values_list("share_mode", flat=True).first()
        if shared is None:
            raise Http404("That project was deleted.")  # meanwhile, in another tab
        return _update_project(
            project,
            shared=shared,
            name=name,
            share_mode=share_mode,
            default_settings=default_settings,
        )


def _update_project(
    project: Project,
    *,
    shared: str,
    name: str | None,
    share_mode: str | None,
    default_settings: dict[str, Any] | None,
) -> Project:
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = _project_name(name, owner=project.owner, project=project)
    if share_mode is not None:
        if share_mode not in Project.ShareMode.values:
            raise StudioError("share_mode must be off, all or favorites.", "invalid")
        changes["share_mode"] = share_mode
        if share_mode == Project.ShareMode.OFF and shared != Project.ShareMode.OFF:
            changes["share_token"] = new_share_token()
    if default_settings is not None:
        changes["default_settings"] = default_settings
    for name_of_field, value in changes.items():
        setattr(project, name_of_field, value)
    if changes:
        project.save(update_fields=list(changes))
    return project


def do_delete_project(*, project: Project) -> None:
    """Delete a project; its thumbnails stay in the library with no project (FK SET_NULL)."""
    project.delete()


def _project_name(name: str, *, owner: User, project: Project | None = None) -> str:
    """`name` stripped, for one of `owner`'s projects (`project` when renaming it): two
    projects of one name could not be told apart in the studio's project menus."""
    name = (name or "").strip()
    if not name:
        raise StudioError("Give the project a name.", "invalid")
    if len(name) > 100:
        raise StudioError("The name is longer than 100 characters.", "invalid")
    return check_asset_name(Project, owner, name, row=project)


def do_update_thumbnail(
    *,
    thumbnail: Thumbnail,
    is_favorite: bool | None = None,
    is_public: bool | None = None,
    project: Project | bool | None = False,
) -> Thumbnail:
    """Set any of favourite, public and project (`project=None` unassigns; False leaves it)."""
    fields = []
    if is_favorite is not None:
        thumbnail.is_favorite = is_favorite
        fields.append("is_favorite")
    if is_public is not None:
        thumbnail.is_public = is_public
        fields.append("is_public")
    if project is not False:
        thumbnail.project = project  # type: ignore[assignment]
        fields.append("project")
    if fields:
        thumbnail.save(update_fields=fields)
    return thumbnail


def do_move_thumbnails(*, owner: User, thumbnail_ids: list[int], project: Project | None) -> int:
    """Move the thumbnails `thumbnail_ids` (an id sent twice counts once) into `project` (None:
    no project) in one UPDATE, and return how many moved. All or none: raises Http404, moving
    nothing, when any id is not one of the owner's thumbnails (another creator's or gone), as
    every other endpoint answers a stranger's id."""
    wanted = set(thumbnail_ids)
    with transaction.atomic():
        moved = Thumbnail.objects.filter(owner=owner, pk__in=wanted).update(project=project)
        if moved != len(wanted):
            raise Http404("No such thumbnail.")  # rolls the UPDATE back
    invalidate_gallery(owner.pk)  # update() sends no post_save
    return moved


def do_delete_thumbnail(*, thumbnail: Thumbnail) -> None:
    """Delete the row now and its stored files after the transaction commits. Deleting the
    first of a line of versions makes its oldest edit the line's first, so the other versions
    stay one line (`root` is SET_NULL: each would have become an original of its own)."""
    names = [
        f.name
        for f in (
            thumbnail.image,
            thumbnail.image_small,
            thumbnail.image_medium,
            thumbnail.download,
        )
        if f
    ]
    with transaction.atomic():
        if thumbnail.root_id is None:
            line = Thumbnail.objects.filter(root_id=thumbnail.pk)
            heir = line.order_by("created_at", "pk").values_list("pk", flat=True).first()
            if heir is not None:
                line.exclude(pk=heir).update(root_id=heir)
                Thumbnail.objects.filter(pk=heir).update(root_id=None)
                _move_edits_in_flight(thumbnail, heir)
        thumbnail.delete()
        transaction.on_commit(lambda: _delete_files(names))


def _move_edits_in_flight(root: Thumbnail, heir: int) -> None:
    """Point the unfinished edits of `root`'s line at `heir`, its line's new first: their
    snapshot (`params["source"]["lineage_id"]`) names the line they join when they deliver
    (studio.job_types.edit._lineage reads it again then)."""
    from generation.services import UNFINISHED

    edits = Job.objects.select_for_update().filter(
        user_id=root.owner_id,
        type="edit_thumbnail",
        status__in=UNFINISHED,
        params__source__lineage_id=root.pk,
    )
    for job in edits:
        job.params["source"]["lineage_id"] = heir
        job.save(update_fields=["params"])


def shared_thumbnails(project: Project) -> Any:
    """What a project's share link shows: all its thumbnails, or only favourites."""
    rows = Thumbnail.objects.filter(project=project).order_by("-created_at", "-id")
    if project.share_mode == Project.ShareMode.FAVORITES:
        rows = rows.filter(is_favorite=True)
    return rows


def access_shared_project(token: str) -> Project:
    """The project behind a share token, if sharing is on; else Http404."""
    return get_object_or_404(
        Project.objects.exclude(share_mode=Project.ShareMode.OFF), share_token=token
    )


# --- styles from a style analysis ------------------------------------------------------------


def do_create_style_from_analysis(*, owner: User, job: Job, is_public: bool = False) -> Style:
    """Save `owner`'s finished `analyse_style` job as a custom style: the result's name,
    description and prompt, with the analysed images as its reference images (the first
    MAX_STYLE_REFERENCES still stored, in the order they were sent; the first one is also the
    preview). A thumbnail contributes its YouTube-ready JPEG while the creator still has it;
    an uploaded image is kept with the job (`retain_inputs`) until `purge_job_history` deletes
    the job. As `do_create_style` (custom-asset quota, decoding, random file names), the images
    are read, decoded, drawn and stored before any row is locked. Saving the same analysis again
    returns the style saved first (same owner, name and prompt), also when two saves race (the
    second deletes the files it stored); a name another of the owner's styles has is numbered
    ("Neon night 2", `free_asset_name`).

    Raises StudioError 400 `invalid` (not a finished style analysis of `owner`), 409
    `images_gone` (none of the analysed images is still stored: the creator deleted the
    thumbnails), 403 `plan_custom_assets_limit`, or an image's code (`prepare_photos`)."""
    result = job.result or {}
    if job.user_id != owner.pk or job.type != "analyse_style" or not result.get("prompt"):
        raise StudioError("Only a finished style analysis can be saved as a style.", "invalid")
    name = " ".join(str(result.get("name") or "").split())[:80] or "Analysed style"
    prompt = str(result["prompt"]).strip()
    description = " ".join(str(result.get("description") or "").split())[:300]
    mine = Style.objects.filter(owner=owner, prompt=prompt)
    saved = _saved_before(mine, name)
    if saved is not None:  # a second click: nothing read or stored
        return saved
    check_custom_asset_quota(owner, Style)  # refused before reading any image
    decoded = prepare_photos(_analysed_images(owner, job))
    drawn_as = free_asset_name(Style, owner, name)  # "Neon night 2" beside another
    stored: list[str] = []
    try:
        # Stored before the transaction: the storage's reads and writes hold no row locks.
        reference_names, preview = _store_style_files(drawn_as, decoded, stored)
        with transaction.atomic(), name_taken_as_409(Style, drawn_as):
            # The balance row before the job's (docs/architecture.md, "Lock order"): the asset
            # quota's count locks it, and an account deletion holds it while it locks the jobs.
            lock_existing_account(user_id=owner.pk)
            # Two clicks at once (two tabs) queue on the job's row: the second finds the
            # first's style, and its files go.
            Job.objects.select_for_update().filter(pk=job.pk).first()
            saved = _saved_before(mine.all(), name)  # read again (`mine` caches its rows)
            if saved is not None:
                discard_files_on_commit(stored)
                return saved
            check_custom_asset_quota(owner, Style, lock=True)
            style = _create_style_rows(
                owner=owner,
                name=free_asset_name(Style, owner, name),  # again: another may have taken it
                description=description,
                prompt=prompt,
                is_public=is_public,
                decoded=decoded,
                reference_names=reference_names,
                preview=preview,
            )
    except Exception:
        _delete_files(stored)
        raise
    if style.name != drawn_as and preview:
        # Another style took the name meanwhile: the preview shows the one it was drawn with.
        from studio.style_previews import redraw_preview

        try:
            redraw_preview(style)
        except Exception:  # the style is saved; the next view draws the preview
            logger.warning("could not redraw the preview of style %s", style.pk, exc_info=True)
    return style


def _analysed_images(owner: User, job: Job) -> list[UploadedFile]:
    """The first MAX_STYLE_REFERENCES images of a style analysis still stored, in the order they
    were sent (a thumbnail's YouTube-ready JPEG while `owner` still has it, an upload kept with
    the job). Raises StudioError 409 `images_gone` when none of them is."""
    from django.core.files.storage import default_storage
    from django.core.files.uploadedfile import SimpleUploadedFile

    references: list[UploadedFile] = []
    analysed = job.params.get("images") or []
    for entry in analysed:
        if len(references) >= MAX_STYLE_REFERENCES:
            break
        stored = None
        if entry.get("thumbnail_id") is not None:
            thumbnail = Thumbnail.objects.for_owner(owner).filter(pk=entry["thumbnail_id"]).first()
            if thumbnail is not None:
                stored = (thumbnail.download or thumbnail.image_medium).name
        elif entry.get("uploaded"):
            stored = entry["name"]
        if not stored:
            continue
        try:
            with default_storage.open(stored, "rb") as handle:
                data = handle.read()
        except (FileNotFoundError, OSError):
            continue  # deleted meanwhile: saved without it
        references.append(SimpleUploadedFile(stored.rsplit("/", 1)[-1], data))
    if analysed and not references:
        # A style without the images it was analysed from is not what the creator asked for.
        raise StudioError(
            "The images this analysis looked at are gone (deleted since), so it cannot be "
            "saved with them. Analyse them again to save the style.",
            "images_gone",
            409,
        )
    return references


# --- deleting an account ---------------------------------------------------------------------


def renews_through_stripe(user: User) -> bool:
    """Whether `user` has a Stripe subscription that will charge again (active, trialing or
    awaiting a payment, and not set to end at the period end)."""
    from billing.models import Subscription

    subscription = Subscription.objects.filter(user=user).first()
    return bool(
        subscription is not None
        and subscription.billed_by_stripe
        and subscription.status in (*Subscription.GOOD_STANDING, *Subscription.PAYMENT_DUE)
        and not subscription.cancel_at_period_end
    )


STILL_RENEWS = (
    "Your paid plan still renews through Stripe. Cancel it on the plans page first "
    "(Manage billing), then delete the account."
)


def payment_due_through_stripe(user: User) -> bool:
    """Whether `user`'s Stripe plan is past due or unpaid, set to end or not: Stripe may still
    charge its unpaid invoice (a retry, a new card), which a deleted account would not get."""
    from billing.models import Subscription

    subscription = Subscription.objects.filter(user=user).first()
    return bool(
        subscription is not None
        and subscription.billed_by_stripe
        and subscription.status in (Subscription.Status.PAST_DUE, Subscription.Status.UNPAID)
    )


PAYMENT_DUE = (
    "Your plan's last payment failed and Stripe may still charge it (its retries, or a new "
    "card). Pay it (Manage billing on the plans page), or wait until the plan has ended, then "
    "delete the account: deleted now, that payment would reach no account."
)


def close_stripe_for_deletion(user: User) -> None:
    """What Stripe must settle before `user`'s account goes (`billing.payments.close_for_deletion`):
    their Checkouts still open (another tab's, payable for 24 hours) are expired. Raises
    StudioError 409 `subscription_active` while Stripe has a plan of theirs that renews (its
    webhook not here yet), 409 `payment_pending` while a payment is on its way (a credit pack
    paid by bank debit: deleted now, its money would come for no account) or a plan set to end
    is past due (Stripe may still charge its invoice), 503
    `payments_unavailable` when Stripe cannot be reached. Nothing to do with payments off."""
    from billing import payments

    try:
        blocker = payments.close_for_deletion(user=user)
    except payments.PaymentProviderError as exc:
        raise StudioError(
            "The payment service could not be reached to close your open checkouts, so nothing "
            "was deleted. Try again in a minute.",
            "payments_unavailable",
            503,
        ) from exc
    if blocker == "subscription_active":
        raise StudioError(STILL_RENEWS, "subscription_active", 409)
    if blocker == "payment_due":
        raise StudioError(PAYMENT_DUE, "payment_pending", 409)
    if blocker == "payment_pending":
        raise StudioError(
            "A payment of yours is still on its way through Stripe (a bank payment takes a few "
            "days). Delete the account once it has arrived or failed: deleted now, the payment "
            "would reach no account.",
            "payment_pending",
            409,
        )


def do_delete_account(*, user: User) -> int:
    """Delete `user` with everything they made: thumbnails, faces, styles, palettes, projects,
    jobs and their credit history (the rows cascade), then, once the transaction commits, every
    stored file of theirs (thumbnail files, face photos, style references and previews, the
    uploads their jobs kept; a public style's references that another creator's unfinished job
    copied when that job ends). Returns how many thumbnails went.

    Raises StudioError 409 `subscription_active` while a Stripe subscription still renews: it
    would go on charging a deleted account, so the creator cancels it first (the plans page's
    billing portal), and the account can go once it no longer renews. Before anything is
    deleted, their Checkouts still open in Stripe are expired (`close_stripe_for_deletion`)."""
    from billing import payments
    from generation.registry import get_job_type
    from generation.services import UNFINISHED as UNFINISHED_JOBS

    if renews_through_stripe(user):
        raise StudioError(STILL_RENEWS, "subscription_active", 409)
    if payment_due_through_stripe(user):
        raise StudioError(PAYMENT_DUE, "payment_pending", 409)
    # From here on a payment (a plan switched or resumed in another tab while Stripe is asked)
    # counts as made after the deletion: the backstop refunds it (review).
    began = timezone.now()
    close_stripe_for_deletion(user)
    with transaction.atomic():
        # What could still add a row with files first: a worker delivers under its job's row
        # lock (generation.services.JobContext.delivering), and the creator's own submits and
        # quota-counted uploads take the balance row. Held until the commit, the rows and file
        # names read below are all there is; a delivery that was waiting then finds no job.
        # Billing's rows a webhook locks before the balance row (the Subscription, a credit
        # pack's purchase: a refund or a lost dispute takes its credits back), then the balance
        # row, then jobs: the lock order every path keeps (billing.services), so a webhook, a
        # cancel or a worker's refund waits here instead of deadlocking with the deletion (whose
        # cascade deletes these rows).
        list(Subscription.objects.select_for_update().filter(user=user).values_list("pk"))
        list(CreditPackPurchase.objects.select_for_update().filter(user=user).values_list("pk"))
        lock_account(user)
        list(Job.objects.select_for_update().filter(user=user, status__in=UNFINISHED_JOBS))
        thumbnails = Thumbnail.objects.filter(owner=user)
        names: list[str | None] = [
            name
            for row in thumbnails.values_list("image", "image_small", "image_medium", "download")
            for name in row
        ]
        names += FaceImage.objects.filter(face__owner=user).values_list("image", flat=True)
        references = list(
            StyleReferenceImage.objects.filter(style__owner=user).values_list("image", flat=True)
        )
        names += Style.objects.filter(owner=user).values_list("preview", flat=True)
        jobs = [(j.type, j.params) for j in Job.objects.filter(user=user).only("type", "params")]
        count = thumbnails.count()

        def delete_files() -> None:
            _delete_files(names)
            for job_type, params in jobs:
                try:
                    get_job_type(job_type).discard(params)
                except Exception:  # an unknown old type, a storage fault: the rows are gone
                    logger.warning("could not discard a %s job's inputs", job_type, exc_info=True)

        # Kept past the cascade: a late webhook undoes a payment for this customer only.
        payments.remember_deleted_customer(user=user, since=began)
        user.delete()
        transaction.on_commit(delete_files)
        # A public style's references another creator's queued or running job copied (read
        # when it runs) stay until that job ends, as when the style alone is deleted
        # (`do_delete_style`). Faces are their owner's alone: only the jobs deleted here copied
        # them.
        discard_unused_style_files(references)
    return count
