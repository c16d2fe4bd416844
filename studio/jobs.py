"""Job types the studio registers with the generation engine."""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from django.conf import settings
from django.db.models.fields.files import FieldFile

from billing.services import effective_plan
from generation.models import Job
from generation.progress import ProgressReporter
from generation.providers import get_image_provider
from generation.providers.base import ImageRequest, InputImage, ProviderError, RenderSpec
from generation.registry import JobOutcome, UnitFailure
from studio.models import Face, FaceImage, Palette, Style, StyleReferenceImage
from studio.outputs import store_thumbnail, thumbnail_payload
from studio.prompts import PromptInput, build_prompt, split_title

logger = logging.getLogger(__name__)

STORE_FAILED = UnitFailure(-1, "storage_error", "The image could not be saved.")


def _read(field: FieldFile) -> bytes:
    with field.open("rb") as handle:
        return handle.read()


def load_images(fields: list[tuple[FieldFile, str]]) -> list[InputImage]:
    """Read stored images concurrently (at most GENERATION_IMAGE_LOAD_CONCURRENCY at once; object
    storage reads are network calls), keeping the given order."""
    if not fields:
        return []
    workers = max(1, min(settings.GENERATION_IMAGE_LOAD_CONCURRENCY, len(fields)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        blobs = list(pool.map(_read, [field for field, _ in fields]))
    return [
        InputImage(
            data=blob, mime_type="image/jpeg" if role == "face" else _mime(field.name), role=role
        )  # type: ignore[arg-type]
        for blob, (field, role) in zip(blobs, fields, strict=True)
    ]


def _mime(name: str) -> str:
    lower = name.lower()
    if lower.endswith(".png"):
        return "image/png"
    if lower.endswith(".webp"):
        return "image/webp"
    return "image/jpeg"


def _seed(job: Job, variation: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{job.id}:{variation}".encode()).digest()[:4], "big")


class GenerateThumbnails:
    """`generate_thumbnails`: one provider call per variation; one Thumbnail per success."""

    name = "generate_thumbnails"

    def run(self, job: Job, progress: ProgressReporter) -> JobOutcome:
        params: dict[str, Any] = job.params
        progress.update("preparing", 10)
        style = Style.objects.filter(pk=params.get("style_id")).first()
        palette = Palette.objects.filter(pk=params.get("palette_id")).first()
        faces = list(Face.objects.filter(owner_id=job.user_id, pk__in=params.get("face_ids", [])))
        references = (
            list(StyleReferenceImage.objects.filter(style=style)) if style is not None else []
        )
        face_images = list(FaceImage.objects.filter(face__in=faces).order_by("face_id", "position"))
        images = load_images(
            [(ref.image, "reference") for ref in references]
            + [(img.image, "face") for img in face_images]
        )
        title = split_title(params.get("title", ""))
        units = job.units
        prompts = [
            build_prompt(
                PromptInput(
                    title=params.get("title", ""),
                    instructions=params.get("instructions", ""),
                    style_name=style.name if style else "",
                    style_prompt=style.prompt if style else "",
                    palette_name=palette.name if palette else "",
                    palette_colors=list(palette.colors) if palette else [],
                    face_names=[face.name for face in faces],
                    expression=params.get("expression", ""),
                    pose=params.get("pose", ""),
                    aspect_ratio=params["aspect_ratio"],
                    image_size=params["resolution"],
                    reference_count=len(references),
                    variation=index,
                    variations=units,
                )
            )
            for index in range(units)
        ]
        job.prompt = prompts[0]
        Job.objects.filter(pk=job.pk).update(prompt=job.prompt)
        requests = [
            ImageRequest(
                prompt=prompts[index],
                aspect_ratio=params["aspect_ratio"],
                image_size=params["resolution"],
                model=params.get("model") or settings.GEMINI_IMAGE_MODEL,
                images=images,
                spec=RenderSpec(
                    title=title.main,
                    subtitle=title.sub,
                    colors=list(palette.colors) if palette else [],
                    style_name=style.name if style else "",
                    style_key=style.slug if style else "",
                    expression=params.get("expression", ""),
                    pose=params.get("pose", ""),
                    seed=_seed(job, index),
                ),
            )
            for index in range(units)
        ]
        provider = get_image_provider()
        retention = effective_plan(job.user).retention_days
        progress.update("rendering", 20, f"{units} image(s) with {provider.name}")
        failures: list[UnitFailure] = []
        done = 0
        # Provider calls run on threads (network-bound); database writes stay on this thread.
        workers = max(1, min(settings.GENERATION_PROVIDER_CONCURRENCY, units))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {
                pool.submit(provider.generate_image, request): index
                for index, request in enumerate(requests)
            }
            for future in as_completed(futures):
                index = futures[future]
                try:
                    generated = future.result()
                except ProviderError as exc:
                    logger.warning(
                        "job %s variation %d: %s (%s)", job.id, index, exc.code, exc.detail
                    )
                    failures.append(UnitFailure(index, exc.code, exc.message))
                else:
                    progress.update("storing", 20 + round(70 * (done + 0.5) / units))
                    try:
                        store_thumbnail(
                            job=job,
                            variation_index=index,
                            data=generated.data,
                            retention_days=retention,
                        )
                    except Exception:
                        logger.exception("job %s variation %d: storing failed", job.id, index)
                        failures.append(UnitFailure(index, STORE_FAILED.code, STORE_FAILED.message))
                done += 1
                progress.update(
                    "rendering" if done < units else "storing", 20 + round(70 * done / units)
                )
        return JobOutcome(failures=sorted(failures, key=lambda failure: failure.index))

    def result(self, job: Job) -> dict[str, Any]:
        # .all() so a prefetch (studio_data.load_studio) is used instead of a query per job.
        thumbnails = sorted(job.thumbnails.all(), key=lambda t: t.variation_index)
        return {"thumbnails": [thumbnail_payload(t) for t in thumbnails]}
