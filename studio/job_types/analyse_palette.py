"""`analyse_palette` (Starter and up, PRODUCT.md): the 3-6 colours of an image, a 2-4 word name
and a one-line description.

The colours are always measured (`generation.colours.measure_colors`): Pillow's median-cut
quantization (Heckbert, "Color Image Quantization for Frame Buffer Display", 1982) of a 256 px
copy, near-duplicates merged, most covering first. Offline the name and description are built
from those colours' hues; with a Gemini key the text model names and describes the same
measured colours (structured output).
Cached by the image's bytes, the model and `cache.version`.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import uuid
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image
from rest_framework import serializers

from generation.colours import measure_colors
from generation.models import Job
from generation.providers.base import InputImage, JSONRequest
from generation.registry import CachePolicy, JobOutcome, JobType
from generation.services import JobContext
from studio import services
from studio.images import ImageRejected, decode_upload, encode_png, mime_type
from studio.serializers import InputSerializer, OptionalId

MIN_COLORS = 3
SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "2-4 words"},
        "description": {"type": "string", "description": "one sentence"},
    },
    "required": ["name", "description"],
}
# Hue names by upper bound of the hue angle in degrees.
HUES = (
    (15, "Red"),
    (40, "Orange"),
    (65, "Yellow"),
    (90, "Lime"),
    (150, "Green"),
    (185, "Teal"),
    (200, "Cyan"),
    (250, "Blue"),
    (275, "Indigo"),
    (300, "Purple"),
    (330, "Magenta"),
    (345, "Pink"),
    (361, "Red"),
)


class AnalysePaletteInput(InputSerializer):
    """`{"thumbnail_id"}` (one of the creator's thumbnails) or a multipart `image` file."""

    thumbnail_id = OptionalId()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        uploads = self.context["files"].get("image") or []
        if (attrs.get("thumbnail_id") is None) == (not uploads):
            raise serializers.ValidationError("Send either thumbnail_id or one image file.")
        if uploads:
            try:
                data = encode_png(decode_upload(uploads[0]).image)
            except ImageRejected as exc:
                raise serializers.ValidationError({"image": exc.message}) from exc
            attrs["image_name"] = ""
        else:
            thumbnail = services.access_thumbnail(self.context["user"], attrs["thumbnail_id"])
            attrs["image_name"] = thumbnail.image_medium.name
            with thumbnail.image_medium.open("rb") as handle:
                data = handle.read()
        attrs["image_sha256"] = hashlib.sha256(data).hexdigest()
        attrs["image_bytes"] = data
        return attrs


def _hls(color: str) -> tuple[float, float, float]:
    r, g, b = (int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    hue, lightness, saturation = colorsys.rgb_to_hls(r, g, b)
    return hue * 360, lightness, saturation


# The weight of an unsaturated colour's coverage in `salience`: a neon accent on 10% of the frame
# outranks black on 65% (10% x 1.15 > 65% x 0.15) and navy on 25%; navy on 40% does not outrank
# red on 60%.
NEUTRAL_WEIGHT = 0.15
NEUTRAL_NAMES = frozenset({"White", "Black", "Grey"})  # what `color_name` calls the unsaturated


def color_name(color: str) -> str:
    """A plain name for "#RRGGBB": a hue word, or white / black / grey for unsaturated ones,
    with "Dark" / "Pale" / "Neon" where lightness or saturation stand out."""
    hue, lightness, saturation = _hls(color)
    if lightness > 0.92:
        return "White"
    if lightness < 0.1:
        return "Black"
    if saturation < 0.15:
        return "Grey"
    word = next(name for bound, name in HUES if hue < bound)
    if lightness < 0.3:
        return f"Dark {word}"
    if lightness > 0.75:
        return f"Pale {word}"
    if saturation > 0.85 and 0.4 < lightness < 0.65:
        return f"Neon {word}"
    return word


def salience(color: str, share: float) -> float:
    """How much `color` ("#RRGGBB") covering `share` (0-1) of the image stands out: the share
    weighted by the square of the colour's chroma (HSL saturation x (1 - |2L - 1|), 0-1) plus a
    floor of NEUTRAL_WEIGHT so black, white and grey still count. A dark frame with a neon accent
    is named for the accent, not for the black or navy that cover most of it; the description
    keeps the coverage."""
    _, lightness, saturation = _hls(color)
    chroma = saturation * (1 - abs(2 * lightness - 1))
    return share * (NEUTRAL_WEIGHT + chroma**2)


def describe_offline(colors: list[tuple[str, float]]) -> dict[str, str]:
    """Name (2-4 words) and one-line description from the measured colours alone: the name from
    the two most salient colours of different hues (`salience`), the description from coverage."""
    by_salience = sorted(colors, key=lambda item: salience(*item), reverse=True)
    names = list(dict.fromkeys(color_name(c) for c, _ in by_salience))
    first = names[0]
    second = next((n for n in names[1:] if n.split()[-1] != first.split()[-1]), None)
    if second and len(f"{first} {second}".split()) > 3:  # at most 4 words with the "&"
        second = second.split()[-1]  # "Neon Orange & Blue", not "Neon Orange & Dark"
    name = f"{first} & {second}" if second else f"{first} Tones"
    warm = sum(share for c, share in colors if _hls(c)[0] < 70 or _hls(c)[0] > 320)
    lights = [_hls(c)[1] for c, _ in colors]
    contrast = "high-contrast" if max(lights) - min(lights) > 0.5 else "low-contrast"
    temperature = "warm" if warm >= 0.5 else "cool"
    lead, share = colors[0]
    description = (
        f"{color_name(lead)} covers {round(share * 100)}% of the image; a {contrast}, "
        f"{temperature} palette of {len(colors)} colours."
    )
    return {"name": " ".join(name.split()[:4]), "description": description}


def _padded(colors: list[tuple[str, float]]) -> list[str]:
    """At least MIN_COLORS hex colours: an image of fewer distinct colours gets darker shades
    of its main colour to make a usable palette."""
    hexes = [c for c, _ in colors]
    r, g, b = (int(hexes[0][i : i + 2], 16) for i in (1, 3, 5))
    factor = 0.55
    while len(hexes) < MIN_COLORS:
        hexes.append(f"#{int(r * factor):02X}{int(g * factor):02X}{int(b * factor):02X}")
        factor *= 0.55
    return hexes


class AnalysePalette(JobType):
    name = "analyse_palette"
    label = "Analyse palette"
    input_serializer = AnalysePaletteInput
    upload_fields = {"image": 1}
    feature = "analyse_palette"
    rate_limit_route = "analyse_palette"
    result_kind = "json"
    result_template = "studio/jobs/analyse_palette.html"
    tool_template = "studio/tools/analyse_palette.html"
    model_kind = "text"
    time_limit_seconds = 120
    # v2: offline names by salience. Per creator: the image is their upload or thumbnail.
    cache = CachePolicy(version="palette-v2")

    def fingerprint_input(self, validated: dict[str, Any]) -> dict[str, Any]:
        return {"thumbnail_id": validated.get("thumbnail_id"), "image": validated["image_sha256"]}

    def cache_input(self, validated: dict[str, Any]) -> str:
        return validated["image_sha256"]

    def snapshot(self, *, validated: dict[str, Any], **_: Any) -> dict[str, Any]:
        """An upload is stored (under a random name) for the worker and deleted when the job
        ends; a thumbnail is read from its own file."""
        params = self.fingerprint_input(validated)
        if validated["image_name"]:
            params["image_name"] = validated["image_name"]
        else:
            name = services.save_upload(
                f"analysis/{uuid.uuid4().hex}.png", ContentFile(validated["image_bytes"])
            )
            params.update(image_name=name, uploaded=True)
        return params

    def discard(self, params: dict[str, Any]) -> None:
        if params.get("uploaded"):
            default_storage.delete(params["image_name"])

    def run(self, job: Job, ctx: JobContext) -> JobOutcome:
        with default_storage.open(job.params["image_name"], "rb") as handle:
            data = handle.read()

        def compute() -> dict[str, Any]:
            colors = measure_colors(Image.open(io.BytesIO(data)))
            hexes = _padded(colors)
            if ctx.model.id == "local":
                text = describe_offline(colors)
            else:
                measured = ", ".join(f"{c} ({round(s * 100)}%)" for c, s in colors)
                answer = ctx.call(
                    lambda provider: provider.generate_json(
                        JSONRequest(
                            prompt=(
                                "You name colour palettes for YouTube thumbnail designers. "
                                f"These colours were measured in the image, with their share "
                                f"of its pixels: {measured}. Give the palette a catchy 2-4 "
                                "word name and a one-sentence description of its mood and "
                                "use. Do not list hex codes."
                            ),
                            schema=SCHEMA,
                            model=ctx.model.id,
                            images=[
                                InputImage(data, mime_type(job.params["image_name"]), "analysis")
                            ],
                        )
                    )
                ).data
                text = {
                    "name": " ".join(str(answer.get("name", "")).split()[:4]) or "Palette",
                    "description": str(answer.get("description", ""))[:300],
                }
            return {"colors": hexes, **text, "measured_by": ctx.model.id}

        return ctx.run_json(compute)
