"""`thumbnail_check` (every plan; the heatmap on plans with the "heatmap" feature, Advanced and
Pro): where one of the creator's thumbnails draws the eye, and how readable it stays at the
sizes YouTube shows it.

Input `{"thumbnail_id"}` (one of the caller's thumbnails; a stranger's is 404). The thumbnail's
full-size image is analysed offline by `studio.saliency` (spectral-residual saliency, Haar face
detection, MSER text lines, a centre bias; WCAG 2.1 contrast; sources in that module):

- `heatmap_url`: an RGBA PNG the size of the thumbnail (warm = likely to draw the eye), stored
  through default_storage as `checks/<sha256 of the PNG>.png`; the stored result keeps that
  name (`heatmap_name`) and each answer signs a fresh URL for it (`studio.media`), so a cached
  result never hands out an expired one; None when the plan (snapshotted at submit) lacks the
  "heatmap" feature;
- `sizes`: one entry per slot YouTube shows the image in (`generation.display.slots_for`): a
  landscape or square image (16:9; 4:3, 1:1 and 21:9 letterboxed into the 16:9 tile) at the
  `DISPLAY_SIZES` slots (search results 360x202, suggested videos 168x94, mobile home feed
  360x202), a vertical one (a Short, 9:16) at the `SHORTS_SIZES` tiles (desktop Shorts shelf
  210x373, beside a video 131x232, phone feed shelf 164x291), which have no duration badge
  (the shape is in `studio.saliency.readability`): name, label, width, height, headline_px,
  contrast_ratio, face_fraction, face_px, badge_overlap, has_badge, checks (per-metric value,
  verdict and rule) and a plain `verdict`; the wording's words are counted from the text the
  offline renderer drew when the thumbnail records it (`Thumbnail.parameters["drawn_text"]`,
  wording `source` "text"), else measured on the image ("measured": uploads, an image
  model's pictures, older thumbnails);
- `hottest`: the box [x0, y0, x1, y1] (fractions of the image) where attention peaks, or None
  without the heatmap; `faces` and `text_lines` (counts), `headline_box`; `badge` (the assumed
  duration badge, CSS px); `layout`: {kind "video" or "shorts", aspect, letterboxed}
  (`studio.saliency.layout`); `notes`: with a Gemini key, the text model's critique of the image
  (structured output: 3-5 short strings, never the heatmap itself), else None;
  `measured_by`: "local" or the model id.

Price: free offline (the analysis runs on this machine); 1 credit when the job runs on a Gemini
text model (it adds one structured-output call). Rate-limit route "heatmap". Results are cached
(CachePolicy) by the sha256 of the image's bytes and whether the heatmap is included (and, by
the engine, the model id), so an identical second check computes nothing and calls no provider.
Errors: a provider failure of the critique fails the job (its credit refunded by the engine).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from rest_framework import serializers

from billing.services import effective_plan
from generation import catalog
from generation.errors import ProviderCircuitOpen
from generation.models import Job
from generation.providers.base import InputImage, JSONRequest, ProviderError
from generation.registry import CachePolicy, JobOutcome, JobType, PaidPartFailed
from generation.services import CIRCUIT_OPEN_MESSAGE, JobContext
from studio import services
from studio.media import MediaSigner, media_url
from studio.serializers import MAX_ID, InputSerializer

logger = logging.getLogger(__name__)

HEATMAP_FEATURE = "heatmap"
MAX_NOTES = 5
NOTE_MAX_CHARS = 200
CRITIQUE_LONG_SIDE = 1280  # px: the image sent to Gemini, YouTube's own thumbnail size
SCHEMA = {
    "type": "object",
    "properties": {
        "notes": {
            "type": "array",
            "items": {"type": "string", "description": "one short, concrete note"},
            "minItems": 1,
            "maxItems": MAX_NOTES,
        }
    },
    "required": ["notes"],
}


class ThumbnailCheckInput(InputSerializer):
    """`{"thumbnail_id"}`: one of the caller's thumbnails (Http404 otherwise). Adds the image's
    sha256, its stored names and whether the caller's plan includes the heatmap."""

    thumbnail_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        user = self.context["user"]
        thumbnail = services.access_thumbnail(user, attrs["thumbnail_id"])
        digest = hashlib.sha256()
        with thumbnail.image.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        attrs["image_sha256"] = digest.hexdigest()
        attrs["image_name"] = thumbnail.image.name
        attrs["preview_name"] = thumbnail.image_medium.name
        attrs["watermarked"] = thumbnail.has_watermark
        attrs["heatmap"] = effective_plan(user).has_feature(HEATMAP_FEATURE)
        attrs["drawn_text"] = drawn_text(thumbnail.parameters)
        return attrs


def drawn_text(parameters: Any) -> list[str] | None:
    """The lines of words the offline renderer drew on a thumbnail (`Thumbnail.parameters`'
    "drawn_text", stored by `studio.outputs.store_thumbnail`), or None when they are not known:
    an image model's picture, a thumbnail stored before they were recorded."""
    text = parameters.get("drawn_text") if isinstance(parameters, dict) else None
    if isinstance(text, list) and all(isinstance(line, str) for line in text):
        return text
    return None


def store_heatmap(png: bytes) -> str:
    """Save the heatmap PNG under its content hash (`checks/<sha256>.png`); returns its name.
    The same bytes always map to the same file, so it is written once."""
    name = f"checks/{hashlib.sha256(png).hexdigest()}.png"
    if not default_storage.exists(name):
        name = default_storage.save(name, ContentFile(png))
    return name


def critique_prompt(sizes: list[dict[str, Any]], *, shorts: bool = False) -> str:
    """The text model's instructions, with the measured numbers it should build on; `shorts`:
    the image is a vertical Short, shown in the Shorts tiles without a badge."""
    measured = "; ".join(
        f"{s['label']} {s['width']}x{s['height']}: headline {s['headline_px']} px, contrast "
        f"{s['contrast_ratio']}:1, face {s['face_px']} px tall, verdict {s['verdict']}"
        for s in sizes
    )
    where = (
        "as a YouTube Short, small in the 9:16 tiles of the Shorts shelf on desktop and phone "
        "(no video-length badge)"
        if shorts
        else "small in search results, the suggested-videos list and the phone home feed, with "
        "YouTube's video-length badge over its bottom-right corner"
    )
    return (
        f"You review YouTube thumbnails for creators. Look at this thumbnail as it will appear "
        f"{where}. Measured on the image: "
        f"{measured}. Give 3 to 5 short, concrete notes (each under 20 words) on what draws the "
        "eye first, whether the text and face read at small sizes, clutter, and one change "
        "that would help most. Plain sentences, no numbering, no hex codes."
    )


def clean_notes(answer: dict[str, Any]) -> list[str]:
    """At most MAX_NOTES non-empty strings of at most NOTE_MAX_CHARS from the model's JSON."""
    raw = answer.get("notes")
    if not isinstance(raw, list):
        return []
    notes = [" ".join(str(note).split())[:NOTE_MAX_CHARS] for note in raw]
    return [note for note in notes if note][:MAX_NOTES]


class ThumbnailCheck(JobType):
    name = "thumbnail_check"
    label = "Thumbnail check"
    input_serializer = ThumbnailCheckInput
    feature = None  # every plan; the heatmap part is gated by the snapshotted plan
    rate_limit_route = "heatmap"
    result_kind = "json"
    result_template = "studio/jobs/thumbnail_check.html"
    tool_template = "studio/tools/thumbnail_check.html"
    model_kind = "text"
    time_limit_seconds = 120
    # per creator: their own thumbnail. v5: a vertical image is measured at the Shorts tiles
    cache = CachePolicy(version="thumbnail-check-v5")

    def fingerprint_input(self, validated: dict[str, Any]) -> dict[str, Any]:
        """What the request sent (the thumbnail; its image never changes): not whether the plan
        includes the heatmap, so a retry after a plan change is the job charged, not a 409."""
        return {"thumbnail_id": validated["thumbnail_id"], "image": validated["image_sha256"]}

    def cache_input(self, validated: dict[str, Any]) -> dict[str, Any]:
        """The image, the heatmap and the words known drawn on it (the count comes from them)."""
        return {
            "image": validated["image_sha256"],
            "heatmap": validated["heatmap"],
            "text": validated.get("drawn_text"),
        }

    def cached_result_usable(self, result: dict[str, Any]) -> bool:
        """A cached result whose heatmap file is gone (`purge_orphan_files` deletes heatmaps
        no job's result names) is computed again: served, it would show a broken image. A
        storage that cannot be asked (a fault) leaves the cached result usable, logged."""
        name = result.get("heatmap_name")
        try:
            return not name or default_storage.exists(name)
        except Exception:  # the storage cannot be asked: the rest of the answer still holds
            logger.warning("could not check heatmap %s; serving the cached check", name)
            return True

    def unit_cost(self, validated: dict[str, Any], model: catalog.ModelSpec) -> int:
        """Free offline; 1 credit for the Gemini critique."""
        return 0 if model.id == catalog.LOCAL else 1

    def snapshot(self, *, validated: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {
            **self.fingerprint_input(validated),
            "heatmap": validated["heatmap"],
            "image_name": validated["image_name"],
            "preview_name": validated["preview_name"],
            "watermarked": validated["watermarked"],
            "drawn_text": validated.get("drawn_text"),
        }

    def run(self, job: Job, ctx: JobContext) -> JobOutcome:
        params = job.params
        with default_storage.open(params["image_name"], "rb") as handle:
            data = handle.read()

        def compute() -> dict[str, Any]:
            return check_image(
                data,
                heatmap=bool(params.get("heatmap")),
                watermarked=bool(params.get("watermarked")),
                ctx=ctx,
                text=drawn_text(params),
            )

        return ctx.run_json(compute)

    def result(self, job: Job) -> dict[str, Any]:
        """`result` with signed `heatmap_url` and `preview_url` (this job's thumbnail, ~800 px
        WebP, for the previews), fresh on every answer."""
        if not isinstance(job.result, dict):
            return {"result": job.result}
        return {"result": public_result(job.result, job.params.get("preview_name"))}


def public_result(stored: dict[str, Any], preview_name: str | None) -> dict[str, Any]:
    """A stored check result as answered: `heatmap_name` becomes a signed `heatmap_url` (results
    stored before private media kept an unsigned `/media/...` URL: its name is recovered)."""
    result = dict(stored)
    name = result.pop("heatmap_name", None)
    legacy = result.get("heatmap_url")
    if name is None and isinstance(legacy, str) and legacy.startswith(settings.MEDIA_URL):
        name = legacy[len(settings.MEDIA_URL) :].split("?", 1)[0]
    signer = MediaSigner()
    result["heatmap_url"] = media_url(name, signer)
    result["preview_url"] = media_url(preview_name, signer)
    return result


def check_image(
    data: bytes,
    *,
    heatmap: bool,
    watermarked: bool,
    ctx: JobContext | None = None,
    text: list[str] | None = None,
) -> dict[str, Any]:
    """The check's result for encoded image bytes (module docstring); `text`, the lines of words
    known drawn on it (None: unknown), is what the words are counted from. With `ctx` on a Gemini
    model, adds the critique through `ctx.call`; when the critique fails after its retries,
    raises PaidPartFailed carrying the measured result with a `critique_error` line (the engine
    delivers it and refunds the critique's credit). Raises saliency.UnreadableImage."""
    # Imported here: OpenCV and numpy (about 35 MB and 0.2 s per process) are only needed
    # where a check runs, not in every web process and management command.
    from studio import saliency

    if ctx is not None:
        ctx.progress("analysing", 30)
    analysis = saliency.analyse(data)
    sizes = saliency.readability(
        analysis, ignore=saliency.WATERMARK_REGION if watermarked else None, text=text
    )
    layout = saliency.layout(analysis)
    heatmap_name = None
    hottest = None
    if heatmap:
        heatmap_name = store_heatmap(saliency.heatmap_png(analysis))
        hottest = saliency.hottest_region(analysis).as_list()
    model = ctx.model.id if ctx is not None else catalog.LOCAL
    notes = None
    critique_failed: ProviderError | ProviderCircuitOpen | None = None
    if ctx is not None and model != catalog.LOCAL:
        ctx.progress("analysing", 60)
        image = saliency.jpeg(analysis, CRITIQUE_LONG_SIDE)
        try:
            answer = ctx.call(
                lambda provider: provider.generate_json(
                    JSONRequest(
                        prompt=critique_prompt(sizes, shorts=layout["kind"] == "shorts"),
                        schema=SCHEMA,
                        model=model,
                        images=[InputImage(image, "image/jpeg", "analysis")],
                    )
                )
            ).data
            notes = clean_notes(answer)
        except (ProviderError, ProviderCircuitOpen) as exc:
            # The measurements stand on their own: deliver them, refund the critique's credit.
            critique_failed = exc
    headline = analysis.lines[0] if analysis.lines else None
    result = {
        "width": analysis.width,
        "height": analysis.height,
        "heatmap_name": heatmap_name,
        "hottest": hottest,
        "sizes": sizes,
        "faces": len(analysis.faces),
        "text_lines": len(analysis.lines),
        "headline_box": headline.box.as_list() if headline else None,
        "badge": {
            "width": saliency.BADGE.width,
            "height": saliency.BADGE.height,
            "inset": saliency.BADGE.inset,
        },
        "layout": layout,
        "thresholds": saliency.thresholds(),
        "notes": notes,
        "measured_by": model,
    }
    if critique_failed is not None:
        message = (
            critique_failed.message
            if isinstance(critique_failed, ProviderError)
            else CIRCUIT_OPEN_MESSAGE
        )
        code = getattr(critique_failed, "code", "provider_unavailable")
        result["critique_error"] = (
            f"Gemini's written critique failed ({message.rstrip('.')}); the measurements above "
            "are complete and the credit was refunded. Check again for the critique."
        )
        raise PaidPartFailed(result, code)
    return result
