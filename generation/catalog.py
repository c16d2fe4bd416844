"""The Gemini model catalog: what each model id can do, what it costs Google's list price, and
how long one attempt may take.

Data, not name prefixes: every model the studio may call has a `ModelSpec` here, and
`settings.GEMINI_IMAGE_MODELS` / `GEMINI_TEXT_MODEL` choose among them. A configured id that is
missing here or listed in `RETIRED_MODELS` fails Django's system checks at start-up
(`generation.checks`). Jobs the offline renderer does record the model `local` (`LOCAL_MODEL`).

Sources (read 2026-11-29):
- ids and shutdown dates: https://ai.google.dev/gemini-api/docs/deprecations
- prices: https://ai.google.dev/gemini-api/docs/pricing (paid tier, USD)
- sizes and ratios: https://ai.google.dev/gemini-api/docs/image-generation
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from django.conf import settings

from generation.sizes import ASPECT_RATIOS, IMAGE_SIZES

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

    def timeout_for(self, image_size: str = "") -> float:
        """Seconds one attempt may take for `image_size` (the longest configured if unknown)."""
        return self.timeout_seconds.get(image_size) or max(self.timeout_seconds.values(), default=60)

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


MODELS: Mapping[str, ModelSpec] = MappingProxyType(
    {
        spec.id: spec
        for spec in (
            # Nano Banana Pro, GA 2026-05-28. $0.134 per 1K/2K image, $0.24 per 4K image.
            ModelSpec(
                id="gemini-3-pro-image",
                kind="image",
                label="Gemini 3 Pro Image (best text rendering)",
                image_sizes=("1K", "2K", "4K"),
                aspect_ratios=ASPECT_RATIOS,
                max_input_images=14,
                usd_per_image=MappingProxyType({"1K": 0.134, "2K": 0.134, "4K": 0.24}),
                # Pro 4K calls take 1-2 minutes; 1K about 20-40 s.
                timeout_seconds=MappingProxyType({"1K": 90.0, "2K": 120.0, "4K": 180.0}),
                plans=("starter", "advanced", "pro"),
            ),
            # Nano Banana 2, GA 2026-05-28. $0.067 per 1K image, $0.101 2K, $0.151 4K.
            ModelSpec(
                id="gemini-3.1-flash-image",
                kind="image",
                label="Gemini 3.1 Flash Image (fast)",
                image_sizes=("1K", "2K", "4K"),
                aspect_ratios=ASPECT_RATIOS,
                max_input_images=14,
                usd_per_image=MappingProxyType({"1K": 0.067, "2K": 0.101, "4K": 0.151}),
                timeout_seconds=MappingProxyType({"1K": 60.0, "2K": 90.0, "4K": 120.0}),
            ),
            # Gemini 3.5 Flash, GA 2026-05-19: $0.50 input / $3.00 output per 1M tokens.
            ModelSpec(
                id="gemini-3.5-flash",
                kind="text",
                label="Gemini 3.5 Flash",
                max_input_images=3000,
                usd_per_1m_input_tokens=0.50,
                usd_per_1m_output_tokens=3.00,
                timeout_seconds=MappingProxyType({"": 60.0}),
            ),
        )
    }
)

# Shut down by Google: configuring one is a start-up error naming its replacement.
RETIRED_MODELS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "gemini-3-pro-image-preview": ("2026-06-25", "gemini-3-pro-image"),
        "gemini-3.1-flash-image-preview": ("2026-06-25", "gemini-3.1-flash-image"),
        "gemini-2.5-flash-image": ("2026-10-02", "gemini-3.1-flash-image"),
        "gemini-2.5-flash-image-preview": ("2026-01-15", "gemini-3.1-flash-image"),
        "gemini-2.0-flash-preview-image-generation": ("2025-11-14", "gemini-3.1-flash-image"),
        "gemini-2.5-flash": ("2026-06-17", "gemini-3.5-flash"),
        "gemini-3-flash-preview": ("2026-06-25", "gemini-3.5-flash"),
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
)


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
