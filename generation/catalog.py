"""The Gemini model catalog: what each model id can do, what it costs Google's list price, and
how long one attempt may take.

Data, not name prefixes: every model the studio may call has a `ModelSpec` here, and
`settings.GEMINI_IMAGE_MODELS` / `GEMINI_TEXT_MODEL` choose among them. A configured id that is
missing here or listed in `RETIRED_MODELS` fails Django's system checks at start-up
(`generation.checks`). Jobs the offline renderer does record the model `local` (`LOCAL_MODEL`).

Sources (all read 2026-11-29 through stored copies; each entry names its own):
- ids, release and shutdown dates: https://ai.google.dev/gemini-api/docs/deprecations and the
  release notes, https://ai.google.dev/gemini-api/docs/changelog (entries up to 2026-10-13);
- prices: https://ai.google.dev/gemini-api/docs/pricing (paid tier, standard, USD), as transcribed
  verbatim on 2026-09-20 and 2026-10-07 (github.com/api-evangelist/gemini and /deepmind,
  plans/*-plans-pricing.yml);
- output pixel sizes, ratios, reference-image limits:
  https://ai.google.dev/gemini-api/docs/image-generation ("Aspect ratios and image size" tables
  for Flash Image and Pro Image; stored copy of the zh-CN page, which documents the GA ids).

`DEPRECATED_MODELS` are still served but announced for shutdown (a start-up warning);
`RETIRED_MODELS` are shut down or past their announced shutdown date (a start-up error).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from django.conf import settings

from generation.sizes import ASPECT_RATIOS, IMAGE_SIZES, PIXEL_SIZES

LOCAL = "local"


@dataclass(frozen=True)
class ModelSpec:
    """One model id.

    `usd_per_image` is Google's list price per output image by image size; text models price
    per 1M tokens (`usd_per_1m_input_tokens`, `usd_per_1m_output_tokens`). `timeout_seconds` is
    the per-attempt HTTP timeout by image size ("" for text models). `plans` lists the plan slugs
    that may pick the model (None: every plan).
    """

    id: str
    kind: Literal["image", "text"]
    label: str
    image_sizes: tuple[str, ...] = ()
    aspect_ratios: tuple[str, ...] = ()
    max_input_images: int = 0
    usd_per_image: Mapping[str, float] = field(default_factory=dict)
    usd_per_1m_input_tokens: float = 0.0
    usd_per_1m_output_tokens: float = 0.0
    timeout_seconds: Mapping[str, float] = field(default_factory=dict)
    plans: tuple[str, ...] | None = None
    # image_size -> aspect_ratio -> (width, height) the model returns (image models only).
    pixel_sizes: Mapping[str, Mapping[str, tuple[int, int]]] = field(default_factory=dict)

    def timeout_for(self, image_size: str = "") -> float:
        """Seconds one attempt may take for `image_size` (the longest configured if unknown)."""
        return self.timeout_seconds.get(image_size) or max(
            self.timeout_seconds.values(), default=60
        )

    def usd_for(self, image_size: str = "", input_tokens: int = 0, output_tokens: int = 0) -> float:
        """List price in USD of one call: one image at `image_size`, or the tokens given."""
        if self.kind == "image":
            return self.usd_per_image.get(image_size, 0.0)
        return (
            input_tokens * self.usd_per_1m_input_tokens
            + output_tokens * self.usd_per_1m_output_tokens
        ) / 1_000_000

    def allows_plan(self, plan_slug: str) -> bool:
        return self.plans is None or plan_slug in self.plans

    def pixel_size(self, aspect_ratio: str, image_size: str) -> tuple[int, int]:
        """(width, height) of the image this model returns. KeyError for an unsupported pair."""
        return self.pixel_sizes[image_size][aspect_ratio]


def _frozen_sizes(
    table: dict[str, dict[str, tuple[int, int]]],
) -> Mapping[str, Mapping[str, tuple[int, int]]]:
    return MappingProxyType({size: MappingProxyType(dict(row)) for size, row in table.items()})


# Output sizes of the Gemini 3 image models: generation.sizes.PIXEL_SIZES (source cited there).
GEMINI_3_IMAGE_PIXEL_SIZES = _frozen_sizes(PIXEL_SIZES)


# A text model's per-attempt budget: 60 s for a prompt (and its images); 180 s when it watches a
# video (`JSONRequest.video_uri`, `timeout_for("video")`), whose input is up to a few hundred
# thousand tokens (263 a second at default media resolution: "Understand and count tokens").
# The studio's own budget; Google publishes no latency for either.
TEXT_TIMEOUTS: Mapping[str, float] = MappingProxyType({"": 60.0, "video": 180.0})


MODELS: Mapping[str, ModelSpec] = MappingProxyType(
    {
        spec.id: spec
        for spec in (
            # Nano Banana Pro, GA 2026-05-28 (changelog); no shutdown date announced
            # (deprecations). Pricing: image output $120 per 1M tokens, "equivalent to $0.134 per
            # 1K/2K image and $0.24 per 4K image" (pricing, transcribed 2026-09-20). Up to 14
            # reference images: 6 objects, 5 characters, 3 style images (image-generation).
            ModelSpec(
                id="gemini-3-pro-image",
                kind="image",
                label="Gemini 3 Pro Image (best text rendering)",
                image_sizes=("1K", "2K", "4K"),
                aspect_ratios=ASPECT_RATIOS,
                max_input_images=14,
                usd_per_image=MappingProxyType({"1K": 0.134, "2K": 0.134, "4K": 0.24}),
                # The studio's own budget: Pro 4K calls take 1-2 minutes; 1K about 20-40 s.
                timeout_seconds=MappingProxyType({"1K": 90.0, "2K": 120.0, "4K": 180.0}),
                # Every plan: it is the one image model with no deprecation announced, so the
                # studio's default must work for Free too.
                plans=None,
                pixel_sizes=GEMINI_3_IMAGE_PIXEL_SIZES,
            ),
            # Nano Banana 2, GA 2026-05-28 (changelog). DEPRECATED 2026-10-06: see
            # DEPRECATED_MODELS. Image output $60 per 1M tokens at 1120 tokens (1K), 1680 (2K),
            # 2520 (4K) per image: $0.067 / $0.101 / $0.151. The rate is Google's pricing row
            # for the -preview id as quoted by aifreeapi.com (checked 2026-03) and the token
            # counts are from docs.cloud.google.com .../models/gemini/3-1-flash-image-preview;
            # Google's row for the GA id was not in the stored pages. Up to 14 reference images:
            # 10 objects and 4 characters (image-generation).
            ModelSpec(
                id="gemini-3.1-flash-image",
                kind="image",
                label="Gemini 3.1 Flash Image (fast)",
                image_sizes=("1K", "2K", "4K"),
                aspect_ratios=ASPECT_RATIOS,
                max_input_images=14,
                usd_per_image=MappingProxyType({"1K": 0.067, "2K": 0.101, "4K": 0.151}),
                timeout_seconds=MappingProxyType({"1K": 60.0, "2K": 90.0, "4K": 120.0}),
                pixel_sizes=GEMINI_3_IMAGE_PIXEL_SIZES,
            ),
            # Nano Banana 2.1, GA 2026-10-06 (changelog: "the updated version of Nano Banana 2
            # (gemini-3.1-flash-image) ... Flash-level speed and cost ... 1K, 2K and 4K"; Google's
            # named replacement for gemini-3.1-flash-image). Image output $30 per 1M tokens,
            # "$0.0336 per 1K image" (LiteLLM discussion #44983, its day-0 pricing), at the
            # token counts Google gives for Nano Banana 2 (1120 for 1K, 1680 for 2K): $0.0336
            # and $0.0504; 4K $0.1134 (inference.sh's Vertex price list, 2026-11-06; laozhang.ai
            # quotes Google's standard 4K price as $0.113). Google's own pricing row for this id
            # was not in the stored pages. Output sizes as Nano Banana 2's (laozhang.ai: 16:9
            # 1376x768 at 1K, 2752x1536 at 2K); up to 14 reference images.
            ModelSpec(
                id="gemini-nano-banana-2.1",
                kind="image",
                label="Gemini Nano Banana 2.1 (fast)",
                image_sizes=("1K", "2K", "4K"),
                aspect_ratios=ASPECT_RATIOS,
                max_input_images=14,
                usd_per_image=MappingProxyType({"1K": 0.0336, "2K": 0.0504, "4K": 0.1134}),
                timeout_seconds=MappingProxyType({"1K": 60.0, "2K": 90.0, "4K": 120.0}),
                pixel_sizes=GEMINI_3_IMAGE_PIXEL_SIZES,
            ),
            # Gemini 3.8 Flash, GA 2026-09-02 (deprecations); the release notes of 2026-09-18
            # name it the Flash model for new projects. $0.75 input / $3.75 output (thinking
            # included) per 1M tokens "through December 31, 2026"; $1.50 / $7.50 "starting
            # January 1, 2027" (pricing, transcribed 2026-09-20 and 2026-10-07).
            ModelSpec(
                id="gemini-3.8-flash",
                kind="text",
                label="Gemini 3.8 Flash",
                max_input_images=3000,  # not re-verified for this id
                usd_per_1m_input_tokens=0.75,
                usd_per_1m_output_tokens=3.75,
                timeout_seconds=TEXT_TIMEOUTS,
            ),
            # Gemini 3.5 Flash, GA 2026-05-19. DEPRECATED 2026-10-08 (see DEPRECATED_MODELS):
            # Google routes its requests to gemini-3.6-flash. $1.50 input / $9.00 output per 1M
            # tokens (pricing, transcribed 2026-09-20 and 2026-10-07; was $0.50 / $3.00 here).
            ModelSpec(
                id="gemini-3.5-flash",
                kind="text",
                label="Gemini 3.5 Flash",
                max_input_images=3000,  # not re-verified for this id
                usd_per_1m_input_tokens=1.50,
                usd_per_1m_output_tokens=9.00,
                timeout_seconds=TEXT_TIMEOUTS,
            ),
        )
    }
)

# Still served, but deprecated by Google: configuring one is a start-up warning.
# id -> (date deprecated, recommended replacement, what Google said).
DEPRECATED_MODELS: Mapping[str, tuple[str, str, str]] = MappingProxyType(
    {
        # Release notes 2026-10-06: "gemini-3.1-flash-image is deprecated (no shutdown date
        # announced yet). Migrate to gemini-nano-banana-2.1." Third parties report a shutdown on
        # 2026-10-29 (LiteLLM discussion #44983; not confirmed on a Google page read here): run
        # `manage.py check_gemini` with the production key to see whether it is still served.
        "gemini-3.1-flash-image": (
            "2026-10-06",
            "gemini-nano-banana-2.1",
            "no shutdown date announced by Google; reported shut down 2026-10-29",
        ),
        # Release notes 2026-10-08: "gemini-3.5-flash is deprecated and has been replaced by
        # gemini-3.6-flash ... API requests to gemini-3.5-flash are automatically routed to
        # gemini-3.6-flash. Update your model string to gemini-3.6-flash (or gemini-3.8-flash)."
        "gemini-3.5-flash": (
            "2026-10-08",
            "gemini-3.8-flash",
            "requests are routed to gemini-3.6-flash",
        ),
    }
)

# Shut down by Google, past or near its announced shutdown date: configuring one is a start-up
# error naming its replacement. id -> (shutdown date, Google's recommended replacement).
# Deprecated ids Google routes to a newer model and that the catalog never priced
# (gemini-3.7-flash -> gemini-3.8-flash, gemini-3-flash-preview) are simply unknown here
# (generation.E002).
RETIRED_MODELS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        # Release notes 2026-05-28 and deprecations: shut down 2026-06-25.
        "gemini-3-pro-image-preview": ("2026-06-25", "gemini-3-pro-image"),
        "gemini-3.1-flash-image-preview": ("2026-06-25", "gemini-3.1-flash-image"),
        # Deprecations: shutdown date October 2, 2026 (no replacement listed). Some resellers
        # still answered for it in November 2026; the studio treats the date as final.
        "gemini-2.5-flash-image": ("2026-10-02", "gemini-3.1-flash-image"),
        # Release notes 2026-01-15: "gemini-2.5-flash-image-preview has been shut down".
        "gemini-2.5-flash-image-preview": ("2026-01-15", "gemini-3.1-flash-image"),
        # Date not re-verified (listed as shut down by third parties).
        "gemini-2.0-flash-preview-image-generation": ("2025-11-14", "gemini-3.1-flash-image"),
        # Deprecations as read 2026-11-10 (dev.to/aideprecations): shutdown 2026-12-01,
        # replacement gemini-3.5-flash-lite; since 2026-09-18 only for projects that used it.
        "gemini-2.5-flash": ("2026-12-01", "gemini-3.5-flash-lite"),
    }
)

LOCAL_SPEC = ModelSpec(
    id=LOCAL,
    kind="image",
    label="Offline renderer",
    image_sizes=IMAGE_SIZES,
    aspect_ratios=ASPECT_RATIOS,
    max_input_images=14,
    timeout_seconds=MappingProxyType({"1K": 30.0, "2K": 60.0, "4K": 120.0}),
    pixel_sizes=GEMINI_3_IMAGE_PIXEL_SIZES,  # the local renderer draws at Gemini's sizes
)


def model_status(model_id: str) -> Literal["current", "deprecated", "retired", "unknown"]:
    """Where `model_id` stands in this catalog ("local" is current)."""
    if model_id in RETIRED_MODELS:
        return "retired"
    if model_id in DEPRECATED_MODELS:
        return "deprecated"
    if model_id == LOCAL or model_id in MODELS:
        return "current"
    return "unknown"


def current_model_ids() -> list[str]:
    """The Gemini ids this catalog considers served and not deprecated."""
    return [m for m in MODELS if m not in DEPRECATED_MODELS]


def is_offline() -> bool:
    """True when the studio runs the offline provider (no GEMINI_API_KEY)."""
    return settings.IMAGE_PROVIDER != "gemini"


def get_model(model_id: str) -> ModelSpec:
    """The spec of `model_id` ("local" included). Raises KeyError for an unknown id."""
    if model_id == LOCAL:
        return LOCAL_SPEC
    return MODELS[model_id]


def image_models(plan_slug: str | None = None) -> list[ModelSpec]:
    """The image models creators may pick, in settings order, limited to what `plan_slug`
    allows; offline, only the local renderer."""
    if is_offline():
        return [LOCAL_SPEC]
    specs = [MODELS[m] for m in settings.GEMINI_IMAGE_MODELS if m in MODELS]
    return [s for s in specs if plan_slug is None or s.allows_plan(plan_slug)]


def default_image_model(plan_slug: str | None = None) -> ModelSpec:
    """`settings.GEMINI_IMAGE_MODEL` if the plan may use it, else the plan's first model."""
    allowed = image_models(plan_slug)
    for spec in allowed:
        if spec.id == settings.GEMINI_IMAGE_MODEL:
            return spec
    return allowed[0] if allowed else get_model(settings.GEMINI_IMAGE_MODEL)


def text_model() -> ModelSpec:
    """The model for JSON (structured output) jobs; offline, the local one."""
    return LOCAL_SPEC if is_offline() else MODELS[settings.GEMINI_TEXT_MODEL]
