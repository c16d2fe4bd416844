"""`channel_consistency` (Pro, plan feature "youtube"): how well one of the creator's thumbnails
fits the thumbnails of their channel's recent uploads: a score 1-5 and up to two cues.

Input `{"thumbnail_id"}` (one of the caller's thumbnails; a stranger's is 404). The creator's
channel is the one set on their Account page (`studio.models.YouTubeChannel`); its newest
uploads' thumbnails come from the YouTube Data API (`studio.youtube`: at most 10, at least 3).
Refused before anything is charged: without `YOUTUBE_API_KEY` (503 `youtube_not_configured`: the
studio lacks a service, as analyse video's 503 `needs_gemini_key` offline), or with no channel
set (400 `channel_not_set`).

Every picture (the thumbnail's 800 px copy and each channel thumbnail) is measured on this
machine with analyse style's measurements (`analyse_style.measure_image`; sources there):
brightness (mean luma), contrast (luma standard deviation), saturation (mean HSV saturation),
text coverage (% of the frame), face size (the largest face's height in % of the frame's, 0
without one; left out where OpenCV is missing), layout (the horizontal centre of the visual
weight on the 3x3 thirds grid, in % of the width), and colours: the share of the picture's
dominant colours (`generation.colours.measure_colors`) within COLOUR_MATCH_DISTANCE of the
channel's palette (`analyse_style.combined_palette`; for a channel thumbnail, the palette of the
others). All in % (0-100). The channel pictures' measures are cached as their bytes are
(`channel_measures`, `YOUTUBE_CACHE_SECONDS`), so a check of another thumbnail within the hour
measures only that thumbnail.

The scoring rule: for each measure the channel's typical value is its median over the channel
thumbnails and its spread the median absolute deviation x 1.4826 (a robust standard deviation:
Rousseeuw & Croux, JASA 1993); the channel's range is the median +- max(2 x spread, the
measure's floor in `MEASURES`), the floor standing for what an eye barely tells apart (and for
channels whose thumbnails are near identical). score = 1 + round(4 x measures inside the range
/ measures taken): all inside is 5, none is 1. The cues are the (at most two) measures furthest
outside their range, distance counted in range half-widths, each naming the channel's median
and the thumbnail's value ("Your recent thumbnails are dark (median brightness 28%); this one
is 71%.").

Offline (no Gemini key) that is the result (`judged_by: "measured"`). With a Gemini key the text
model also sees the thumbnail, a contact sheet of the channel's thumbnails and the
measurements, and gives its own score and up to two cues (structured output, `SCHEMA`), which
the result shows (`judged_by` the model id) beside the measured score. When Gemini's call fails
after its retries (an answer without a whole-number score 1-5 counts as a failed call) the job
still succeeds with the measured result and a `judge_error` line, not cached, and its credit is
refunded (`PaidPartFailed`). Result: `{"score",
"cues", "compared", "measures": {name: {"label", "thumbnail", "median", "low", "high",
"inside"}}, "inside", "measured", "measured_score", "judged_by", "channel": {"id", "title"},
"measured_by"}`.

Price: 1 credit. Rate-limit route "channel_consistency". Cached (CachePolicy) by the sha256 of
the thumbnail's image, the channel and its recent videos' ids: an identical check within the
YouTube cache's hour is a free, finished job at submit; a newer upload makes a new key.
YouTube's failures (quota, key, unknown channel, too few uploads, no answer) fail the job with
a plain message and refund its credit.
"""

from __future__ import annotations

import hashlib
import io
import statistics
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image
from rest_framework import serializers

from generation import catalog
from generation.colours import measure_colors
from generation.errors import JobRefused
from generation.models import Job
from generation.providers.base import (
    InputImage,
    InvalidJSONReturned,
    JSONRequest,
    ProviderError,
)
from generation.registry import CachePolicy, JobOutcome, JobType, PaidPartFailed, UnitFailure
from generation.services import JobContext, refunded
from studio import services, youtube
from studio.images import mime_type
from studio.job_types.analyse_palette import color_name
from studio.job_types.analyse_style import (
    ImageReading,
    brightness_word,
    contrast_word,
    face_detection_available,
    measure_image,
    palette_tile,
    saturation_word,
    tiles_palette,
)
from studio.models import YouTubeChannel
from studio.serializers import MAX_ID, InputSerializer

FEATURE = "youtube"
MAX_CUES = 2
CUE_MAX_CHARS = 200
# RGB distance under which a colour counts as one of the channel's: analyse_palette merges
# colours closer than 48 as one; 64 also admits a lighter or darker shade of it.
COLOUR_MATCH_DISTANCE = 64
# Bump when a measurement changes: cached channel measures (`channel_measures`) are keyed by it.
MEASURES_VERSION = "v2"
MAD_TO_SIGMA = 1.4826  # MAD x 1.4826 estimates a normal distribution's standard deviation
SHEET_TILE = (320, 180)  # px per channel thumbnail on the contact sheet Gemini sees
SCHEMA = {
    "type": "object",
    "properties": {
        "score": {
            "type": "integer",
            "minimum": 1,
            "maximum": 5,
            "description": "5: clearly from this channel; 1: looks like another channel's",
        },
        "cues": {
            "type": "array",
            "items": {"type": "string", "description": "one concrete difference, one sentence"},
            "maxItems": MAX_CUES,
        },
    },
    "required": ["score", "cues"],
}


@dataclass(frozen=True)
class Measure:
    """One compared measure: its result key, label, and floor (percentage points) of the
    channel range's half-width."""

    name: str
    label: str
    floor: float


MEASURES = (
    Measure("brightness", "Brightness", 8),
    Measure("contrast", "Contrast", 5),
    Measure("saturation", "Saturation", 8),
    Measure("text", "Text coverage", 5),
    Measure("face", "Face size", 6),
    Measure("layout", "Layout (weight left to right)", 8),
    Measure("colours", "Channel colours", 15),
)


class ChannelConsistencyInput(InputSerializer):
    """`{"thumbnail_id"}`: one of the caller's thumbnails (Http404 otherwise). Adds its 800 px
    copy's name and sha256 and the caller's channel reference ("" when none is set)."""

    thumbnail_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        user = self.context["user"]
        thumbnail = services.access_thumbnail(user, attrs["thumbnail_id"])
        with thumbnail.image_medium.open("rb") as handle:
            attrs["image_sha256"] = hashlib.sha256(handle.read()).hexdigest()
        attrs["image_name"] = thumbnail.image_medium.name
        channel = YouTubeChannel.objects.filter(user=user).first()
        attrs["channel"] = channel.reference if channel else ""
        return attrs


# --- measuring and scoring --------------------------------------------------------------------


def _colour_match(colors: list[tuple[str, float]], palette: list[tuple[str, float]]) -> float:
    """The share (0-1) of a picture's dominant colours within COLOUR_MATCH_DISTANCE of a
    palette colour."""

    def rgb(hex_: str) -> tuple[int, int, int]:
        return int(hex_[1:3], 16), int(hex_[3:5], 16), int(hex_[5:7], 16)

    references = [rgb(c) for c, _ in palette]
    total = sum(share for _, share in colors) or 1.0
    matched = 0.0
    for color, share in colors:
        value = rgb(color)
        if any(
            sum((a - b) ** 2 for a, b in zip(value, ref, strict=True)) ** 0.5
            < COLOUR_MATCH_DISTANCE
            for ref in references
        ):
            matched += share
    return matched / total


def _values(reading: ImageReading, colour_match: float) -> dict[str, float]:
    """A picture's measures in % (MEASURES' names); "face" missing when not measured."""
    columns = [sum(reading.grid[row][col] for row in range(3)) for col in range(3)]
    values = {
        "brightness": reading.mean_luminance * 100,
        "contrast": reading.luminance_std * 100,
        "saturation": reading.saturation * 100,
        "text": reading.text_coverage * 100,
        "layout": sum(share * (col + 0.5) / 3 for col, share in enumerate(columns)) * 100,
        "colours": colour_match * 100,
    }
    if reading.faces is not None:
        values["face"] = reading.faces.largest_height * 100 if reading.faces.count else 0.0
    return values


def measure_channel(
    channel: list[Image.Image],
) -> tuple[list[dict[str, float]], list[tuple[str, float]]]:
    """(each channel picture's measures, the channel's palette); a picture's colour match is
    against the palette of the others. Each picture is resized for the palettes once."""
    tiles = [palette_tile(picture) for picture in channel]
    palette = tiles_palette(tiles)
    values = []
    for i, picture in enumerate(channel):
        others = tiles[:i] + tiles[i + 1 :]
        own_palette = tiles_palette(others) if others else palette
        values.append(
            _values(measure_image(picture), _colour_match(measure_colors(picture), own_palette))
        )
    return values, palette


def measure_thumbnail(thumbnail: Image.Image, palette: list[tuple[str, float]]) -> dict[str, float]:
    """The thumbnail's measures, its colour match against the channel's `palette`."""
    return _values(measure_image(thumbnail), _colour_match(measure_colors(thumbnail), palette))


def channel_measures(
    blobs: list[bytes],
) -> tuple[list[dict[str, float]], list[tuple[str, float]]]:
    """`measure_channel` of the channel thumbnails `blobs` (JPEG bytes), from the cache when a
    check within `YOUTUBE_CACHE_SECONDS` measured the same pictures (then cached): checking
    several thumbnails against a channel measures its pictures once, not each time (about
    0.07 s of CPU a picture, 10 a channel; the new thumbnail is measured every time)."""
    digest = hashlib.sha256()
    for blob in blobs:
        digest.update(hashlib.sha256(blob).digest())
    key = f"channel-measures:{MEASURES_VERSION}:{face_detection_available()}:{digest.hexdigest()}"
    found = cache.get(key)
    if isinstance(found, dict) and len(found.get("values") or []) == len(blobs):
        return found["values"], [(colour, share) for colour, share in found["palette"]]
    values, palette = measure_channel([Image.open(io.BytesIO(blob)) for blob in blobs])
    cache.set(key, {"values": values, "palette": palette}, settings.YOUTUBE_CACHE_SECONDS)
    return values, palette


def _cue(measure: Measure, value: float, median: float, palette: list[tuple[str, float]]) -> str:
    """One sentence naming the channel's median and the thumbnail's value."""
    v, m = round(value), round(median)
    if measure.name == "brightness":
        return (
            f"Your recent thumbnails are {brightness_word(m)} (median brightness {m}%); "
            f"this one is {v}%."
        )
    if measure.name == "contrast":
        return (
            f"Your recent thumbnails have {contrast_word(m)} contrast (median {m}%); this one "
            f"has {contrast_word(v)} contrast ({v}%)."
        )
    if measure.name == "saturation":
        return (
            f"Your recent thumbnails are {saturation_word(m)} (median saturation {m}%); this "
            f"one is {saturation_word(v)} ({v}%)."
        )
    if measure.name == "text":
        if m < 5:
            return (
                f"Your recent thumbnails carry little or no text (median {m}% of the frame); "
                f"this one's text covers {v}%."
            )
        return (
            f"Text covers about {m}% of your recent thumbnails (median); in this one it "
            f"covers {v}%."
        )
    if measure.name == "face":
        if m == 0:
            return (
                "Your recent thumbnails mostly show no face; this one shows one "
                f"{v}% of the frame's height."
            )
        shown = f"{v}% of the frame's height" if v else "none"
        return (
            f"Your recent thumbnails show a face about {m}% of the frame's height (median); "
            f"this one shows {shown}."
        )
    if measure.name == "layout":

        def side(pct: int) -> str:
            return "left" if pct < 45 else "right" if pct > 55 else "centre"

        return (
            f"Your recent thumbnails put their weight {side(m)} (median centre at {m}% of "
            f"the width); this one's is {side(v)}, at {v}%."
        )
    names = ", ".join(dict.fromkeys(color_name(c).lower() for c, _ in palette[:3]))
    return (
        f"{v}% of this thumbnail is in your channel's colours ({names}); your recent "
        f"thumbnails have a median of {m}%."
    )


def score_consistency(
    thumbnail: dict[str, float],
    channel: list[dict[str, float]],
    palette: list[tuple[str, float]],
) -> dict[str, Any]:
    """`{"score", "cues", "measures", "inside", "measured"}` (how many measures fall inside the
    channel's range, of how many taken) by the module docstring's rule, from
    `measure_thumbnail`'s and `measure_channel`'s values. Raises ValueError for an empty
    `channel`."""
    if not channel:
        raise ValueError("no channel thumbnails to compare with")
    measures: dict[str, dict[str, Any]] = {}
    outside: list[tuple[float, str]] = []
    for measure in MEASURES:
        if measure.name not in thumbnail or any(measure.name not in c for c in channel):
            continue
        values = [c[measure.name] for c in channel]
        median = statistics.median(values)
        spread = MAD_TO_SIGMA * statistics.median(abs(v - median) for v in values)
        half = max(2 * spread, measure.floor)
        value = thumbnail[measure.name]
        inside = abs(value - median) <= half
        measures[measure.name] = {
            "label": measure.label,
            "thumbnail": round(value),
            "median": round(median),
            "low": max(0, round(median - half)),
            "high": min(100, round(median + half)),
            "inside": inside,
        }
        if not inside:
            outside.append((abs(value - median) / half, _cue(measure, value, median, palette)))
    taken = len(measures)
    inside_count = sum(1 for m in measures.values() if m["inside"])
    score = 1 + round(4 * inside_count / taken) if taken else 1
    cues = [cue for _, cue in sorted(outside, key=lambda item: item[0], reverse=True)]
    return {
        "score": score,
        "cues": cues[:MAX_CUES],
        "measures": measures,
        "inside": inside_count,
        "measured": taken,
    }


def contact_sheet(pictures: list[bytes]) -> bytes:
    """The channel thumbnails side by side, 4 a row at SHEET_TILE each, as one JPEG."""
    columns = min(4, len(pictures))
    rows = (len(pictures) + columns - 1) // columns
    sheet = Image.new("RGB", (SHEET_TILE[0] * columns, SHEET_TILE[1] * rows), (0, 0, 0))
    for i, data in enumerate(pictures):
        tile = Image.open(io.BytesIO(data)).convert("RGB").resize(SHEET_TILE)
        sheet.paste(tile, ((i % columns) * SHEET_TILE[0], (i // columns) * SHEET_TILE[1]))
    buffer = io.BytesIO()
    sheet.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def gemini_prompt(measured: dict[str, Any], compared: int) -> str:
    """The text model's instructions, with the measurements it should build on."""
    lines = "; ".join(
        f"{m['label']}: this {m['thumbnail']}%, channel median {m['median']}% "
        f"(typical {m['low']}-{m['high']}%)"
        for m in measured["measures"].values()
    )
    return (
        "You judge whether a YouTube thumbnail looks like it belongs to the creator's channel. "
        f"The first image is the new thumbnail; the second shows the channel's {compared} most "
        f"recent thumbnails. Measured on the images: {lines}. Score 1-5 how consistent the new "
        "thumbnail is with the channel's look (colours, type, faces, layout, mood), and give "
        "at most two short, concrete cues (one sentence each) on what differs most. Plain "
        "sentences, no hex codes."
    )


def clean_cues(raw: Any) -> list[str]:
    """At most MAX_CUES non-empty strings of at most CUE_MAX_CHARS."""
    if not isinstance(raw, list):
        return []
    cues = [" ".join(str(cue).split())[:CUE_MAX_CHARS] for cue in raw]
    return [cue for cue in cues if cue][:MAX_CUES]


def judgement(answer: dict[str, Any]) -> tuple[int, list[str]]:
    """Gemini's score (a whole number 1-5) and cleaned cues. Raises InvalidJSONReturned
    (retried; after the retries the measured result is delivered and refunded) for an answer
    without such a score: it is no judgement, and was delivered as a charged, cached one."""
    score = answer.get("score")
    if not (isinstance(score, int) and not isinstance(score, bool) and 1 <= score <= 5):
        raise InvalidJSONReturned(f"channel_consistency answer with score {score!r:.40}")
    return score, clean_cues(answer.get("cues"))


def _key_input(image_sha256: str, channel: str, video_ids: list[str] | None) -> dict[str, Any]:
    return {"image": image_sha256, "channel": youtube.cache_identity(channel), "videos": video_ids}


class ChannelConsistency(JobType):
    name = "channel_consistency"
    label = "Channel consistency"
    input_serializer = ChannelConsistencyInput
    feature = FEATURE
    rate_limit_route = "channel_consistency"
    result_kind = "json"
    result_template = "studio/jobs/channel_consistency.html"
    tool_template = "studio/tools/channel_consistency.html"
    model_kind = "text"
    time_limit_seconds = 180
    # Per creator: the channel is public, the thumbnail compared with it is theirs.
    cache = CachePolicy(version="channel-consistency-v2")

    def check_plan(self, plan: Any, validated: dict[str, Any], model: catalog.ModelSpec) -> None:
        """Refuses, nothing charged, without a YouTube key (503) or without a channel set
        (400)."""
        if not youtube.is_configured():
            raise JobRefused(
                "Reading a channel needs a YouTube Data API key (YOUTUBE_API_KEY), which this "
                "studio does not have; nothing was charged.",
                "youtube_not_configured",
                status=503,
            )
        if not validated["channel"]:
            raise JobRefused(
                "Set your YouTube channel on your Account page first; nothing was charged.",
                "channel_not_set",
                account_url=reverse("account_email"),
            )

    def fingerprint_input(self, validated: dict[str, Any]) -> dict[str, Any]:
        """What the request sent (the thumbnail; its image never changes): not the channel,
        which is the Account page's, so a retry after the channel changed is the job charged."""
        return {"thumbnail_id": validated["thumbnail_id"], "image": validated["image_sha256"]}

    def cache_input(self, validated: dict[str, Any]) -> dict[str, Any]:
        """The image, the channel and its recent videos' ids when a check within the YouTube
        cache's hour read them (no YouTube call here); else `videos` is None, a key never
        stored, and the worker keys the result once it has read the channel."""
        uploads = youtube.cached_uploads(validated["channel"]) if validated["channel"] else None
        ids = uploads.video_ids if uploads is not None else None
        return _key_input(validated["image_sha256"], validated["channel"], ids)

    def snapshot(self, *, validated: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {
            **self.fingerprint_input(validated),
            "channel": validated["channel"],
            "image_name": validated["image_name"],
        }

    def run(self, job: Job, ctx: JobContext) -> JobOutcome:
        params = job.params
        ctx.progress("reading_channel", 10)
        try:
            uploads = youtube.fetch_uploads(params["channel"])
        except ProviderError as exc:
            return JobOutcome([UnitFailure(0, exc.code, refunded(exc.message, job.unit_cost))])
        params["cache_key"] = self.result_cache_key(
            owner_id=job.user_id,
            model=ctx.model.id,
            normalized_input=_key_input(params["image"], params["channel"], uploads.video_ids),
        )
        with default_storage.open(params["image_name"], "rb") as handle:
            data = handle.read()

        def compute() -> dict[str, Any]:
            pictures = youtube.fetch_thumbnails(uploads)
            ctx.progress("analysing", 40)
            blobs = [blob for _id, blob in pictures]
            channel_values, palette = channel_measures(blobs)
            thumbnail_values = measure_thumbnail(Image.open(io.BytesIO(data)), palette)
            measured = score_consistency(thumbnail_values, channel_values, palette)
            result: dict[str, Any] = {
                **measured,
                "compared": len(blobs),
                "measured_score": measured["score"],
                "judged_by": "measured",
                "channel": {"id": uploads.channel_id, "title": uploads.title},
                "measured_by": ctx.model.id,
            }
            if ctx.model.id == catalog.LOCAL:
                return result
            ctx.progress("analysing", 70)
            request = JSONRequest(
                prompt=gemini_prompt(measured, len(blobs)),
                schema=SCHEMA,
                model=ctx.model.id,
                images=[
                    InputImage(data, mime_type(params["image_name"]), "analysis"),
                    InputImage(contact_sheet(blobs), "image/jpeg", "analysis"),
                ],
            )
            try:
                score, cues = ctx.call(
                    lambda provider: judgement(provider.generate_json(request).data)
                )
            except ProviderError as exc:
                # The channel was read and measured (YouTube quota spent): deliver the measured
                # score rather than nothing, refunded as thumbnail check's failed critique is.
                result["judge_error"] = (
                    f"Gemini's judgement failed ({exc.message.rstrip('.')}); this is the "
                    "measured score, and the credit was refunded. Check again for Gemini's."
                )
                raise PaidPartFailed(result, exc.code) from exc
            result["score"], result["cues"], result["judged_by"] = score, cues, ctx.model.id
            return result

        return ctx.run_json(compute)
