"""`edit_thumbnail` (every plan; 2 credits an edit, PRODUCT.md "Credits",
`billing.models.EDIT_COST`, refunded if it fails): a NEW version of one of the creator's
thumbnails, linked to it (`parent` = the source, `root` = the first of its line,
`Thumbnail.lineage_id`). The source is never changed.

With a Gemini key the image model edits the picture itself: one `edit_image` call whose parts are
the instruction text, then the SOURCE image, then the references (at most MAX_REFERENCES picked
thumbnails or uploads, then the photos of newly added faces), at the source's aspect ratio and
image size, on the plan's default image model (`catalog.default_image_model`). `changes` become
plain sentences after the instruction.

Offline (no key) no model here can follow an instruction, so the local renderer draws the
thumbnail again from the source's own generation parameters (`Thumbnail.parameters`: title,
style, palette, faces, expression, pose, aspect ratio, size) and its seed, with `changes` applied:
`title`, `style_id`, `palette_id`, `face_ids`, and `new_seed` (a fresh random seed: new rays,
bokeh, streaks and other random details of the style's background; the renderer places text and
faces from the size, style and face count alone, so no seed moves them). The first reference
image becomes the backdrop (the renderer blurs and colour-grades its first role="reference"
image). Unchanged parameters give the source's pixels again (the renderer is deterministic), so
an offline edit must change something. The instruction is kept on the job and on the new
thumbnail (`parameters["instruction"]`, not in the public payload) for the record.

Input (`POST /api/jobs {"type": "edit_thumbnail", "input": {...}}`, or multipart / the studio's
form with `changes.<field>` keys; id lists may also be comma-separated strings):
    thumbnail_id: one of the caller's thumbnails (else 404).
    instruction: up to INSTRUCTION_MAX_CHARS characters.
    reference_image_ids: ids of the caller's own thumbnails (else 404).
    references: multipart image files (JPEG/PNG/WebP, `studio.images.decode_upload`), stored for
        the worker under `edits/` and deleted when the job ends (`discard`).
    changes: {"title"?, "style_id"? (null: none), "palette_id"? (null: none), "face_ids"?,
        "new_seed"?}; an absent key keeps the source's value; every id must be usable by the
        caller (else 404).
Errors: 400 `invalid` (instruction too long, more than MAX_REFERENCES references, nothing to
change); 404 `not_found`; 400/413 for a rejected upload (its `studio.images.ImageRejected` code);
403 `plan_*` when the plan no longer allows the source's size or aspect ratio.
"""

from __future__ import annotations

import hashlib
import io
import logging
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import Http404
from PIL import Image
from rest_framework import serializers
from rest_framework.fields import empty

from billing.models import EDIT_COST, Plan
from billing.services import effective_plan
from core.parsers import InvalidJSON, parse_json_text
from core.types import User
from generation import catalog
from generation.errors import JobRefused
from generation.models import Job
from generation.providers.base import (
    EditRequest,
    GeneratedImage,
    ImageRequest,
    InputImage,
)
from generation.registry import JobOutcome, JobType
from generation.services import JobContext
from studio import services
from studio.images import MAX_STORED_SIDE, ImageRejected, decode_upload, encode_png
from studio.job_types.generate import (
    MAX_FACES_PER_REQUEST,
    GenerateThumbnails,
    _live_links,
    _seed,
    load_images,
    render_spec,
)
from studio.models import Face, Thumbnail
from studio.outputs import (
    ThumbnailLinks,
    discard_unit_files,
    store_thumbnail,
    thumbnail_payload,
)
from studio.prompts import split_title
from studio.serializers import MAX_ID, IdList, InputSerializer, OptionalId, Text

logger = logging.getLogger(__name__)

INSTRUCTION_MAX_CHARS = 500
# `generation.providers.base.EditRequest`: "references (at most 4) follow the source".
MAX_REFERENCES = 4
CHANGE_FIELDS = ("title", "style_id", "palette_id", "face_ids", "new_seed")
UPLOAD_DIR = "edits"


class CommaIdList(IdList):
    """An id list: a JSON list, or from forms and multipart a list of strings, each may hold
    several comma-separated ids or be empty (a hidden "" lets a form with every box unticked
    still say "none": the studio's form posts send `*_ids` fields as lists)."""

    def to_internal_value(self, data: Any) -> list[int]:
        items = [data] if isinstance(data, str) else data
        if isinstance(items, list):
            data = [
                part.strip() if isinstance(part, str) else part
                for item in items
                for part in (item.split(",") if isinstance(item, str) else [item])
                if not isinstance(part, str) or part.strip()
            ]
        return super().to_internal_value(data)


class ChangesInput(InputSerializer):
    """What an edit changes; a key that is absent keeps the source's value."""

    title = Text(max_length=services.TITLE_MAX_CHARS, default=empty)
    style_id = OptionalId(default=empty)
    palette_id = OptionalId(default=empty)
    face_ids = CommaIdList(
        noun="face",
        max_length=MAX_FACES_PER_REQUEST,
        default=empty,
        error_messages={"max_length": f"Pick at most {MAX_FACES_PER_REQUEST} faces."},
    )
    new_seed = serializers.BooleanField(required=False)


class EditInput(InputSerializer):
    """An edit request; see the module docstring."""

    thumbnail_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    instruction = Text(max_length=INSTRUCTION_MAX_CHARS)
    reference_image_ids = CommaIdList(
        noun="reference image",
        max_length=MAX_REFERENCES,
        error_messages={"max_length": f"Pick at most {MAX_REFERENCES} reference images."},
    )
    changes = ChangesInput(required=False)

    def to_internal_value(self, data: Any) -> Any:
        """Form posts send `changes.<field>` keys (and `changes` may come as a JSON string in
        multipart): folded into one `changes` object."""
        if isinstance(data, Mapping):
            flat = {
                key.removeprefix("changes."): value
                for key, value in data.items()
                if isinstance(key, str) and key.startswith("changes.")
            }
            data = {k: v for k, v in data.items() if not str(k).startswith("changes.")}
            if isinstance(data.get("changes"), str):
                try:
                    data["changes"] = parse_json_text(data["changes"] or "{}")
                except InvalidJSON as exc:
                    raise serializers.ValidationError({"changes": str(exc.detail)}) from None
            if flat:
                changes = data.get("changes")
                if changes is not None and not isinstance(changes, Mapping):
                    raise serializers.ValidationError({"changes": "Must be a JSON object."})
                data["changes"] = {**(changes or {}), **flat}
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Access checks (Http404 for anything the caller may not use), the reference count
        across picks and uploads, the uploads decoded, and the edit's effective parameters."""
        user = self.context["user"]
        source = services.access_thumbnail(user, attrs["thumbnail_id"])
        picked = list(dict.fromkeys(attrs.get("reference_image_ids") or []))
        references = {t.pk: t for t in Thumbnail.objects.for_owner(user).filter(pk__in=picked)}
        if len(references) != len(picked):
            raise Http404
        uploads = self.context["files"].get("references") or []
        if len(picked) + len(uploads) > MAX_REFERENCES:
            raise serializers.ValidationError(
                {"references": f"Use at most {MAX_REFERENCES} reference images in all."}
            )
        images = []
        for upload in uploads:
            try:
                images.append(encode_png(decode_upload(upload).image))
            except ImageRejected as exc:
                raise JobRefused(exc.message, exc.code, exc.status) from exc
        changes = dict(attrs.get("changes") or {})
        if changes.get("style_id") is not None:
            services.access_style(user, changes["style_id"])
        if changes.get("palette_id") is not None:
            services.access_palette(user, changes["palette_id"])
        if "face_ids" in changes:
            face_ids = list(dict.fromkeys(changes["face_ids"]))
            if Face.objects.for_owner(user).filter(pk__in=face_ids).count() != len(face_ids):
                raise Http404
            changes["face_ids"] = face_ids
        effective = effective_parameters(source, changes)
        if "face_ids" not in changes and effective["face_ids"]:
            # The source's faces that still exist (a deleted face is drawn no more).
            kept = set(
                Face.objects.for_owner(user)
                .filter(pk__in=effective["face_ids"])
                .values_list("pk", flat=True)
            )
            effective["face_ids"] = [i for i in effective["face_ids"] if i in kept]
        changed = changed_fields(source, effective, changes) + (
            ["references"] if picked or uploads else []
        )
        instruction = attrs.get("instruction", "")
        if catalog.is_offline() and not changed:
            raise serializers.ValidationError(
                "Offline, ViewBait redraws the thumbnail from its settings: change the text, "
                "style, palette or faces, tick \u201cNew background details\u201d, or add a "
                "reference."
            )
        if not instruction and not changed:
            raise serializers.ValidationError(
                {"instruction": "Say what to change: write an instruction."}
            )
        new_faces = [i for i in effective["face_ids"] if i not in _source_face_ids(source)]
        if not catalog.is_offline() and len(picked) + len(uploads) + len(new_faces) > (
            MAX_REFERENCES
        ):
            raise serializers.ValidationError(
                {"references": f"References and new faces together: at most {MAX_REFERENCES}."}
            )
        attrs.update(
            reference_image_ids=picked,
            changes=changes,
            _source=source,
            _references=[references[i] for i in picked],
            _uploads=images,
            _effective=effective,
            _changed=changed,
            _new_faces=new_faces,
        )
        return attrs


def _source_face_ids(source: Thumbnail) -> list[int]:
    return [int(i) for i in source.parameters.get("face_ids") or []]


def effective_parameters(source: Thumbnail, changes: dict[str, Any]) -> dict[str, Any]:
    """The generation parameters of the new version (the shape `generate`'s input takes): the
    source's `Thumbnail.parameters` with `changes` applied, at the source's aspect ratio and size
    and in the source's current project."""
    params = source.parameters
    return {
        "title": changes.get("title", params.get("title", source.title)),
        "instructions": "",
        "style_id": changes.get("style_id", params.get("style_id")),
        "palette_id": changes.get("palette_id", params.get("palette_id")),
        "face_ids": list(changes.get("face_ids", _source_face_ids(source))),
        "expression": params.get("expression", ""),
        "pose": params.get("pose", ""),
        "aspect_ratio": source.aspect_ratio,
        "resolution": source.resolution,
        "variations": 1,
        "project_id": source.project_id,
        "model": "",
    }


def changed_fields(
    source: Thumbnail, effective: dict[str, Any], changes: dict[str, Any]
) -> list[str]:
    """The names of the fields `changes` really changes (a form sends unchanged values too)."""
    params = source.parameters
    found = [
        name
        for name in ("title", "style_id", "palette_id")
        if effective[name] != params.get(name, source.title if name == "title" else None)
    ]
    if sorted(effective["face_ids"]) != sorted(_source_face_ids(source)):
        found.append("face_ids")
    if changes.get("new_seed"):
        found.append("new_seed")
    return found


def source_seed(source: Thumbnail) -> int:
    """The seed the source was drawn with: an edit records its own; a generated thumbnail's is
    `generate`'s seed of its job and variation; a thumbnail whose job is gone gets one from
    its id (its redraw then differs in the random details)."""
    if isinstance(source.parameters.get("seed"), int):
        return int(source.parameters["seed"])
    if source.job_id is not None:
        return _seed(Job(id=source.job_id), source.variation_index)
    return int.from_bytes(hashlib.sha256(f"thumbnail:{source.pk}".encode()).digest()[:4], "big")


def source_layout(source: Thumbnail) -> int:
    """The local renderer's layout the source was drawn with (`RenderSpec.variation`): recorded
    in its parameters since generate offsets layouts per job (`generate.layout_offset`); older
    thumbnails were drawn with their variation index."""
    layout = source.parameters.get("layout")
    return layout if isinstance(layout, int) else source.variation_index


def _copy(name: str, ext: str) -> str:
    """A private copy of a stored file under UPLOAD_DIR (random name)."""
    with default_storage.open(name, "rb") as handle:
        return services.save_upload(f"{UPLOAD_DIR}/{uuid.uuid4().hex}.{ext}", handle)


def _ext(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else "png"


def gemini_instruction(params: dict[str, Any], reference_count: int, face_count: int) -> str:
    """The text part of the edit: what the images are, the creator's instruction, then the
    `changes` as plain sentences."""
    lines = [
        "Edit the first image, a YouTube thumbnail, as asked below. Keep everything that is not "
        "asked to change (composition, text, people, colours) and keep it bold and readable at "
        "small sizes."
    ]
    if reference_count:
        last = 1 + reference_count
        which = "Image 2 is a reference" if last == 2 else f"Images 2 to {last} are references"
        lines.append(f"{which} the creator picked; use them as the instruction says.")
    if params.get("instruction"):
        lines.append(f"Instruction: {params['instruction']}")
    changed = params.get("changed") or []
    if "title" in changed:
        title = split_title(params.get("title", ""))
        if title.main:
            sub = f' and the sub-line to "{title.sub}"' if title.sub else ""
            lines.append(f'Change the headline text to "{title.main}"{sub}.')
        else:
            lines.append("Remove all text from the image.")
    style = params.get("style") or {}
    if "style_id" in changed and style:
        lines.append(f"Restyle it in the style {style['name']}: {style.get('prompt', '')}".strip())
    palette = params.get("palette") or {}
    if "palette_id" in changed and palette.get("colors"):
        lines.append(f"Recolour it with this palette: {', '.join(palette['colors'])}.")
    if face_count:
        first = 2 + reference_count
        where = (
            f"image {first}" if face_count == 1 else f"images {first} to {first + face_count - 1}"
        )
        lines.append(f"Feature the person shown in {where}, keeping their likeness.")
    return "\n".join(lines)


def fit_for_model(data: bytes) -> tuple[bytes, str]:
    """The source image for the model: as stored if its longer side is at most MAX_STORED_SIDE
    px (`studio.images`: more detail does not help the model), else a downscaled PNG."""
    image = Image.open(io.BytesIO(data))
    if max(image.size) <= MAX_STORED_SIDE:
        return data, Image.MIME.get(image.format or "PNG", "image/png")
    image.thumbnail((MAX_STORED_SIDE, MAX_STORED_SIDE), Image.Resampling.LANCZOS)
    return encode_png(image.convert("RGB")), "image/png"


def offline_request(params: dict[str, Any], images: list[InputImage]) -> ImageRequest:
    """The local renderer's request for the edit: the snapshot's effective parameters, the same
    fields `generate` renders from, and its seed. `images`: references first, then the style's
    reference images, then face photos."""
    return ImageRequest(
        prompt=params.get("instruction", ""),
        aspect_ratio=params["aspect_ratio"],
        image_size=params["resolution"],
        model=catalog.LOCAL,
        images=images,
        spec=render_spec(params, int(params["seed"]), int(params.get("layout", 0))),
    )


class EditThumbnail(JobType):
    name = "edit_thumbnail"
    label = "Edit thumbnail"
    input_serializer = EditInput
    upload_fields = {"references": MAX_REFERENCES}
    feature = None  # every plan
    rate_limit_route = "edit"
    result_kind = "thumbnails"
    result_template = "studio/jobs/edit_thumbnail.html"
    tool_template = "studio/tools/edit_thumbnail.html"
    model_kind = "image"
    time_limit_seconds = settings.JOB_TIME_LIMIT_SECONDS

    def model(self, validated: dict[str, Any], plan: Plan) -> catalog.ModelSpec:
        """Offline the local renderer; else the plan's default image model."""
        if catalog.is_offline():
            return catalog.get_model(catalog.LOCAL)
        return catalog.default_image_model(plan.slug)

    def check_plan(self, plan: Plan, validated: dict[str, Any], model: catalog.ModelSpec) -> None:
        """The new version is made at the source's size and aspect ratio, with its faces: the
        plan must still allow them (`services.check_plan_limits`, 403 `plan_*`; a downgraded
        account cannot get a 4K image for the price of an edit), and the model must make them
        (400 `resolution_not_supported` / `aspect_ratio_not_supported`)."""
        effective = validated["_effective"]
        services.check_plan_limits(
            plan,
            services.GenerateParams(
                aspect_ratio=effective["aspect_ratio"],
                resolution=effective["resolution"],
                face_ids=effective["face_ids"],
            ),
        )
        if effective["resolution"] not in model.image_sizes:
            raise JobRefused(
                f"{model.label} cannot make {effective['resolution']} images.",
                "resolution_not_supported",
                400,
            )
        if effective["aspect_ratio"] not in model.aspect_ratios:
            raise JobRefused(
                f"{model.label} cannot make {effective['aspect_ratio']} images.",
                "aspect_ratio_not_supported",
                400,
            )

    def unit_cost(self, validated: dict[str, Any], model: catalog.ModelSpec) -> int:
        return EDIT_COST

    def fingerprint_input(self, validated: dict[str, Any]) -> dict[str, Any]:
        return {
            "thumbnail_id": validated["thumbnail_id"],
            "instruction": validated.get("instruction", ""),
            "reference_image_ids": validated.get("reference_image_ids", []),
            "uploads": [hashlib.sha256(data).hexdigest() for data in validated["_uploads"]],
            "changes": validated.get("changes", {}),
        }

    def snapshot(
        self,
        *,
        user: User,
        validated: dict[str, Any],
        plan: Plan,
        model: catalog.ModelSpec,
    ) -> dict[str, Any]:
        """The effective parameters with copies of their style (prompt, reference files),
        palette (colours) and faces (names, photo files), as `generate` snapshots them; the
        source's id, line and seed; private copies of the reference images (and, for Gemini,
        of the source image) under UPLOAD_DIR, listed in `stored` for `discard`; the plan's
        watermark."""
        source: Thumbnail = validated["_source"]
        effective = validated["_effective"]
        params = GenerateThumbnails().snapshot(
            user=user, validated=effective, plan=plan, model=model
        )
        changes = validated.get("changes", {})
        params.update(
            self.fingerprint_input(validated),
            changed=validated["_changed"],
            new_face_ids=validated["_new_faces"],
            seed=secrets.randbits(32) if changes.get("new_seed") else source_seed(source),
            layout=source_layout(source),
            source={"lineage_id": source.lineage_id, "title": source.title, "image": ""},
        )
        stored: list[str] = []
        params["stored"] = stored
        try:
            if model.id != catalog.LOCAL:
                source_name = source.image.name or ""  # a saved row always has one
                name = _copy(source_name, _ext(source_name))
                stored.append(name)
                params["source"]["image"] = name
            references = []
            for thumbnail in validated["_references"]:
                name = _copy(thumbnail.image_medium.name, _ext(thumbnail.image_medium.name))
                stored.append(name)
                references.append(name)
            for data in validated["_uploads"]:
                name = services.save_upload(
                    f"{UPLOAD_DIR}/{uuid.uuid4().hex}.png", ContentFile(data)
                )
                stored.append(name)
                references.append(name)
        except BaseException:
            self.discard(params)
            raise
        params["references"] = references
        return params

    def discard(self, params: dict[str, Any]) -> None:
        for name in params.get("stored") or []:
            try:
                default_storage.delete(name)
            except Exception:
                logger.warning("could not delete %s", name, exc_info=True)
        # As generate's: style references removed from their style, and the photos of faces
        # deleted, while this job was queued.
        services.discard_unused_style_files((params.get("style") or {}).get("references") or [])
        services.discard_unused_face_files(services.face_photo_names(params.get("faces")))

    def run(self, job: Job, ctx: JobContext) -> JobOutcome:
        params: dict[str, Any] = job.params
        ctx.progress("preparing", 10)
        style = params.get("style") or {}
        faces = params.get("faces") or []
        size = params["resolution"]
        if ctx.model.id == catalog.LOCAL:
            images = load_images(
                [(name, "reference") for name in params.get("references", [])]
                + [(name, "reference") for name in style.get("references", [])]
                + [(name, "face") for face in faces for name in face["images"]]
            )
            offline = offline_request(params, images)

            def produce(_index: int) -> GeneratedImage:
                return ctx.call(lambda p: p.generate_image(offline), image_size=size)

        else:
            with default_storage.open(params["source"]["image"], "rb") as handle:
                source_data, source_mime = fit_for_model(handle.read())
            references = load_images([(n, "reference") for n in params.get("references", [])])
            new_faces = set(params.get("new_face_ids") or [])
            face_photos = load_images(
                [
                    (face["images"][0], "face")
                    for face_id, face in zip(params.get("face_ids", []), faces, strict=False)
                    if face_id in new_faces and face["images"]
                ]
            )
            text = gemini_instruction(params, len(references), len(face_photos))
            if not job.prompt:
                job.prompt = text
                Job.objects.filter(pk=job.pk).update(prompt=text)
            edit = EditRequest(
                source=InputImage(source_data, source_mime, "source"),
                instruction=text,
                references=[*references, *face_photos],
                aspect_ratio=params["aspect_ratio"],
                image_size=size,
                model=job.model,
            )

            def produce(_index: int) -> GeneratedImage:
                return ctx.call(lambda p: p.edit_image(edit), image_size=size)

        retention = effective_plan(job.user).retention_days

        def links() -> dict[str, int | None]:
            parent_id, root_id = _lineage(job, params)
            return {**_live_links(params), "parent_id": parent_id, "root_id": root_id}

        def deliver(index: int, generated: GeneratedImage) -> None:
            store_thumbnail(
                job=job,
                variation_index=index,
                data=generated,
                retention_days=retention,
                delivering=lambda: ctx.delivering(index),
                links=links,
                extra_parameters={
                    "seed": params["seed"],
                    "layout": int(params.get("layout", 0)),
                    "instruction": params.get("instruction", ""),
                },
            )

        ctx.progress("rendering", 20)
        return ctx.fan_out(ctx.pending_units(), produce, deliver)

    def discard_unit(self, job: Job, index: int) -> None:
        discard_unit_files(job, index)

    def result(self, job: Job) -> dict[str, Any]:
        # .all() so a prefetch (studio.studio_data.load_studio) is used.
        links = ThumbnailLinks.build()
        return {"thumbnails": [thumbnail_payload(t, links) for t in job.thumbnails.all()]}


def _lineage(job: Job, params: dict[str, Any]) -> tuple[int | None, int | None]:
    """(parent id, root id) of the new version, from the rows that exist now: the source and
    its line; if the source was deleted meanwhile, no parent, and the line's first as the job
    row names it now (deleting a line's first moves its edits in flight to the new first:
    studio.services.do_delete_thumbnail), if that still exists."""
    row = Thumbnail.objects.filter(pk=params["thumbnail_id"]).values_list("pk", "root_id").first()
    if row is not None:
        return row[0], row[1] or row[0]
    now = Job.objects.filter(pk=job.pk).values_list("params", flat=True).first() or params
    root = now["source"]["lineage_id"]
    return None, root if Thumbnail.objects.filter(pk=root).exists() else None
