"""`generate_thumbnails`: the studio's main job. One provider call per variation (each a billable
unit, refunded on its own if it fails); one Thumbnail per success.

Price (PRODUCT.md): 1K = 1, 2K = 2, 4K = 4 credits per image, times the variations, and only at
a size the chosen model can deliver (`generation.catalog`).
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import Http404
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.models import RESOLUTION_COST, Plan
from billing.services import effective_plan
from core.types import User
from generation import catalog
from generation.errors import JobRefused
from generation.models import Job
from generation.providers.base import ImageRequest, InputImage, RenderSpec
from generation.registry import JobOutcome, JobType
from generation.services import JobContext, image_slot
from generation.sizes import ASPECT_RATIOS, IMAGE_SIZES
from studio import services
from studio.images import mime_type
from studio.models import Face, FaceImage, Palette, Project, Style, StyleReferenceImage
from studio.outputs import (
    ThumbnailLinks,
    UnitFiles,
    discard_unit_files,
    encode_unit_files,
    store_thumbnail,
    thumbnail_payload,
)
from studio.prompts import EXPRESSIONS, POSES, PromptInput, build_prompt, split_title
from studio.serializers import IdList, InputSerializer, OptionalId, Text

logger = logging.getLogger(__name__)

MAX_FACES_PER_REQUEST = 3
MAX_VARIATIONS = 4


@extend_schema_field(
    {
        "type": "string",
        "pattern": "^("
        + "|".join(f"{s[:-1]}[{s[-1].upper()}{s[-1].lower()}]" for s in IMAGE_SIZES)
        + ")$",
        "default": "1K",
        "description": ", ".join(IMAGE_SIZES) + " (either case)",
    }
)
class ResolutionField(serializers.CharField):
    """An image size as the schema tells it (GenerateInput.validate_resolution checks it)."""


@extend_schema_field(
    {
        "type": "string",
        "enum": [
            "",
            catalog.LOCAL,
            *(m for m, spec in catalog.MODELS.items() if spec.kind == "image"),
        ],
        "default": "",
        "description": "an image model id (blank: the default one); the plan may refuse it",
    }
)
class ImageModelField(serializers.CharField):
    """An image model id as the schema tells it (GenerateInput.validate_model checks it)."""


class GenerateInput(InputSerializer):
    """A generate request (JSON API and the studio's form)."""

    title = Text(max_length=services.TITLE_MAX_CHARS)
    instructions = Text(max_length=services.INSTRUCTIONS_MAX_CHARS)
    style_id = OptionalId()
    palette_id = OptionalId()
    face_ids = IdList(
        noun="face",
        max_length=MAX_FACES_PER_REQUEST,
        error_messages={"max_length": f"Pick at most {MAX_FACES_PER_REQUEST} faces."},
    )
    expression = serializers.ChoiceField(
        choices=EXPRESSIONS, required=False, default="", allow_blank=True
    )
    pose = serializers.ChoiceField(choices=POSES, required=False, default="", allow_blank=True)
    aspect_ratio = serializers.ChoiceField(
        choices=ASPECT_RATIOS,
        required=False,
        default="16:9",
        error_messages={"invalid_choice": f"Choose one of {', '.join(ASPECT_RATIOS)}."},
    )
    resolution = ResolutionField(required=False, default="1K", max_length=4)
    variations = serializers.IntegerField(
        required=False,
        default=1,
        min_value=1,
        max_value=MAX_VARIATIONS,
        error_messages={
            "min_value": f"Choose 1 to {MAX_VARIATIONS}.",
            "max_value": f"Choose 1 to {MAX_VARIATIONS}.",
            "invalid": f"Choose a whole number from 1 to {MAX_VARIATIONS}.",
        },
    )
    project_id = OptionalId()
    model = ImageModelField(required=False, allow_blank=True, default="", max_length=60)

    def validate_resolution(self, value: str) -> str:
        value = value.upper()
        if value not in IMAGE_SIZES:
            raise serializers.ValidationError("Choose 1K, 2K or 4K.")
        return value

    def validate_model(self, value: str) -> str:
        if value and value != catalog.LOCAL:
            try:
                spec = catalog.get_model(value)
            except KeyError:
                raise serializers.ValidationError("Unknown model.") from None
            if spec.kind != "image":
                raise serializers.ValidationError("Not an image model.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Every referenced object must be usable by the caller (else Http404)."""
        user = self.context["user"]
        if attrs.get("style_id") is not None:
            services.access_style(user, attrs["style_id"])
        if attrs.get("palette_id") is not None:
            services.access_palette(user, attrs["palette_id"])
        if attrs.get("project_id") is not None:
            services.access_project(user, attrs["project_id"])
        face_ids = attrs.get("face_ids") or []
        if face_ids:
            found = Face.objects.for_owner(user).filter(pk__in=face_ids).count()
            if found != len(set(face_ids)):
                raise Http404
        return attrs


class ProjectDefaults(GenerateInput):
    """A project's default generator settings (PRODUCT.md: a project has them): the generate
    form's choices without its words, project and model, checked as a generate request is
    (another creator's style, palette or face: Http404). Stored whole in
    `Project.default_settings`; the studio's form takes them when the project is picked."""

    title = None  # type: ignore[assignment]
    instructions = None  # type: ignore[assignment]
    project_id = None  # type: ignore[assignment]
    model = None  # type: ignore[assignment]


def _seed(job: Job, variation: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{job.id}:{variation}".encode()).digest()[:4], "big")


def layout_offset(job: Job) -> int:
    """The local renderer's layout (`RenderSpec.variation`, taken modulo its VARIANTS) of the
    job's first variation; its variation `i` takes `layout_offset(job) + i`, so a job's
    variations differ. The offset is the creator's number of earlier generate jobs, so each
    generate continues where the last one stopped: generating again with the same settings
    always draws the next layout (an offset drawn from the job's id repeated the last layout
    one time in four, and the calm styles have no random details to differ in: byte-identical
    images). One COUNT query, over the creator's rows of the (user, status, created_at) index;
    run it on the job's own thread, not on the render pool's (each pool thread would open a
    database connection of its own)."""
    return Job.objects.filter(
        user_id=job.user_id, type=job.type, created_at__lt=job.created_at
    ).count()


def _read(name: str) -> bytes | None:
    """A stored input image, or None if it was deleted meanwhile (the job carries on)."""
    try:
        with default_storage.open(name, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, OSError):
        logger.warning("input image %s is gone; generating without it", name)
        return None


def render_spec(params: dict[str, Any], seed: int, variation: int = 0) -> RenderSpec:
    """The local renderer's structured request from a generate-shaped snapshot (title, `style`,
    `palette`, expression, pose), a seed and the variation's index (layouts differ by it)."""
    title = split_title(params.get("title", ""))
    style = params.get("style") or {}
    palette = params.get("palette") or {}
    return RenderSpec(
        title=title.main,
        subtitle=title.sub,
        colors=palette.get("colors", []),
        style_name=style.get("name", ""),
        style_key=style.get("slug", ""),
        expression=params.get("expression", ""),
        pose=params.get("pose", ""),
        seed=seed,
        variation=variation,
    )


def load_images(
    named: list[tuple[str, str]], persons: list[int | None] | None = None
) -> list[InputImage]:
    """Read stored images concurrently (at most GENERATION_IMAGE_LOAD_CONCURRENCY at once; object
    storage reads are network calls), keeping the given order and skipping deleted ones.
    `persons[i]` is the person (face index) image i shows, for role="face" images."""
    if not named:
        return []
    workers = max(1, min(settings.GENERATION_IMAGE_LOAD_CONCURRENCY, len(named)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        blobs = list(pool.map(_read, [name for name, _ in named]))
    people = persons or [None] * len(named)
    return [
        InputImage(data=blob, mime_type=mime_type(name, "image/jpeg"), role=role, person=person)  # type: ignore[arg-type]
        for blob, (name, role), person in zip(blobs, named, people, strict=True)
        if blob is not None
    ]


class GenerateThumbnails(JobType):
    name = "generate_thumbnails"
    label = "Generate thumbnails"
    input_serializer = GenerateInput
    rate_limit_route = "generate"
    cooldown = True
    result_kind = "thumbnails"
    result_template = "studio/jobs/generate_thumbnails.html"
    model_kind = "image"
    time_limit_seconds = settings.JOB_TIME_LIMIT_SECONDS

    def model(self, validated: dict[str, Any], plan: Plan) -> catalog.ModelSpec:
        """Offline, always the local renderer; else the requested model (checked against the
        plan in `check_plan`) or the plan's default."""
        if catalog.is_offline():
            return catalog.get_model(catalog.LOCAL)
        requested = validated.get("model")
        if requested and requested != catalog.LOCAL:
            return catalog.get_model(requested)
        return catalog.default_image_model(plan.slug)

    def check_plan(self, plan: Plan, validated: dict[str, Any], model: catalog.ModelSpec) -> None:
        """Plan limits in PRODUCT.md's order (variations, resolution, aspect ratio, custom
        assets), then what the model can deliver. Raises JobRefused 403 (`plan_*`) or 400
        `resolution_not_supported` / `aspect_ratio_not_supported`."""
        services.check_plan_limits(plan, services.GenerateParams(**self._params(validated)))
        if model.id not in {m.id for m in catalog.image_models(plan.slug)}:
            raise JobRefused(
                f"{model.label} is not available on the {plan.name} plan.",
                "plan_model_not_allowed",
                403,
                allowed=[m.id for m in catalog.image_models(plan.slug)],
            )
        if validated["resolution"] not in model.image_sizes:
            raise JobRefused(
                f"{model.label} cannot make {validated['resolution']} images.",
                "resolution_not_supported",
                400,
                allowed=list(model.image_sizes),
            )
        if validated["aspect_ratio"] not in model.aspect_ratios:
            raise JobRefused(
                f"{model.label} cannot make {validated['aspect_ratio']} images.",
                "aspect_ratio_not_supported",
                400,
            )

    @staticmethod
    def _params(validated: dict[str, Any]) -> dict[str, Any]:
        face_ids = validated.get("face_ids") or []
        return {**validated, "face_ids": list(face_ids), "model": validated.get("model") or ""}

    def units(self, validated: dict[str, Any]) -> int:
        return int(validated["variations"])

    def unit_cost(self, validated: dict[str, Any], model: catalog.ModelSpec) -> int:
        return RESOLUTION_COST[validated["resolution"]]

    def rate_weight(self, validated: dict[str, Any], model: catalog.ModelSpec) -> int:
        """Image units (1K = 1, 2K = 2, 4K = 4 per image, times the variations)."""
        return RESOLUTION_COST[validated["resolution"]] * int(validated["variations"])

    def fingerprint_input(self, validated: dict[str, Any]) -> dict[str, Any]:
        return self._params(validated)

    def snapshot(
        self,
        *,
        user: User,
        validated: dict[str, Any],
        plan: Plan,
        model: catalog.ModelSpec,
    ) -> dict[str, Any]:
        """The request plus copies of its style (prompt, reference file names), palette
        (colours) and faces (names, photo file names), and the plan's watermark. A style or
        palette the creator may no longer use (deleted, or made private by its owner since an
        edit's source was made with it) is left out, as a deleted one is."""
        params = {**self._params(validated), "model": model.id, "watermark": plan.watermark}
        style = (
            Style.objects.usable_by(user).filter(pk=params["style_id"]).first()
            if params["style_id"]
            else None
        )
        if style is not None:
            params["style"] = {
                "name": style.name,
                "slug": style.slug,
                "prompt": style.prompt,
                "references": [
                    ref.image.name
                    for ref in StyleReferenceImage.objects.filter(style=style).order_by("position")
                ],
            }
        palette = (
            Palette.objects.usable_by(user).filter(pk=params["palette_id"]).first()
            if params["palette_id"]
            else None
        )
        if palette is not None:
            params["palette"] = {"name": palette.name, "colors": list(palette.colors)}
        if params["face_ids"]:
            faces = {f.pk: f for f in Face.objects.filter(owner=user, pk__in=params["face_ids"])}
            photos: dict[int, list[str]] = {}
            for image in FaceImage.objects.filter(face__in=faces.values()).order_by(
                "face_id", "position"
            ):
                photos.setdefault(image.face_id, []).append(image.image.name or "")
            params["faces"] = [
                {"name": faces[i].name, "images": photos.get(i, [])} for i in params["face_ids"]
            ]
        return params

    def run(self, job: Job, ctx: JobContext) -> JobOutcome:
        params: dict[str, Any] = job.params
        ctx.progress("preparing", 10)
        first_layout = layout_offset(job)
        style = params.get("style") or {}
        palette = params.get("palette") or {}
        faces = params.get("faces") or []
        references = style.get("references", [])
        images = load_images(
            [(name, "reference") for name in references]
            + [(name, "face") for face in faces for name in face["images"]],
            [None for _ in references]
            + [person for person, face in enumerate(faces) for _ in face["images"]],
        )
        model = job.model or catalog.LOCAL

        def request(index: int) -> ImageRequest:
            return ImageRequest(
                # Drawing is most of a unit; encoding and storing its files the rest.
                progress=lambda share: ctx.unit_progress(index, 0.8 * share),
                prompt=build_prompt(
                    PromptInput(
                        title=params.get("title", ""),
                        instructions=params.get("instructions", ""),
                        style_name=style.get("name", ""),
                        style_prompt=style.get("prompt", ""),
                        palette_name=palette.get("name", ""),
                        palette_colors=palette.get("colors", []),
                        face_names=[face["name"] for face in faces],
                        expression=params.get("expression", ""),
                        pose=params.get("pose", ""),
                        aspect_ratio=params["aspect_ratio"],
                        image_size=params["resolution"],
                        reference_count=len(references),
                        variation=index,
                        variations=job.units,
                    )
                ),
                aspect_ratio=params["aspect_ratio"],
                image_size=params["resolution"],
                model=model,
                images=images,
                spec=render_spec(params, _seed(job, index), first_layout + index),
            )

        if not job.prompt:
            job.prompt = request(0).prompt
            Job.objects.filter(pk=job.pk).update(prompt=job.prompt)
        retention = effective_plan(job.user).retention_days

        renders_here = ctx.provider.name == "local"

        def produce(index: int) -> UnitFiles:
            """Render (or fetch) one image and encode its files on this pool thread, holding a
            4K slot while a full-size image is in memory (for a remote provider, only while it
            is decoded and encoded, not during the call)."""
            req = request(index)
            size = req.image_size
            with image_slot(size, ctx.stop) if renders_here else nullcontext():
                generated = ctx.call(lambda provider: provider.generate_image(req), image_size=size)
                ctx.unit_progress(index, 0.8)
                with nullcontext() if renders_here else image_slot(size, ctx.stop):
                    return encode_unit_files(generated, params)

        def deliver(index: int, files: UnitFiles) -> None:
            store_thumbnail(
                job=job,
                variation_index=index,
                data=files,
                retention_days=retention,
                delivering=lambda: ctx.delivering(index),
                links=lambda: _live_links(params),
                extra_parameters={
                    # The layout it was drawn with, for an edit's redraw (studio.job_types.edit).
                    "layout": first_layout + index,
                },
            )

        pending = ctx.pending_units()
        ctx.progress("rendering", 20)
        return ctx.fan_out(pending, produce, deliver)

    def discard_unit(self, job: Job, index: int) -> None:
        discard_unit_files(job, index)

    def discard(self, params: dict[str, Any]) -> None:
        """The style's references and the face photos the job copied that their owner removed
        (from the style, or with the face) while it was queued (kept for it by
        `services.discard_unused_style_files` and `discard_unused_face_files`)."""
        services.discard_unused_style_files((params.get("style") or {}).get("references") or [])
        services.discard_unused_face_files(services.face_photo_names(params.get("faces")))

    def result(self, job: Job) -> dict[str, Any]:
        # .all() so a prefetch (studio_data.load_studio) is used instead of a query per job.
        thumbnails = sorted(job.thumbnails.all(), key=lambda t: t.variation_index)
        notes = dict.fromkeys(
            note for t in thumbnails for note in (t.parameters or {}).get("notes", [])
        )
        links = ThumbnailLinks.build()
        return {
            "thumbnails": [thumbnail_payload(t, links) for t in thumbnails],
            "notes": list(notes),
        }


def _live_links(params: dict[str, Any]) -> dict[str, int | None]:
    """The style, palette and project ids of the request that still exist: a row deleted while
    the job ran leaves its link empty, and the thumbnail is still delivered."""
    checks = (("style_id", Style), ("palette_id", Palette), ("project_id", Project))
    return {
        key: params.get(key)
        if params.get(key) and model.objects.filter(pk=params[key]).exists()
        else None
        for key, model in checks
    }
