"""The studio's job types, registered with the engine in `StudioConfig.ready()`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from billing.models import ALL_RESOLUTIONS, Plan
from billing.services import plan_table
from generation import catalog
from generation.registry import JobType
from studio.job_types.analyse_palette import AnalysePalette
from studio.job_types.analyse_style import AnalyseStyle
from studio.job_types.analyse_video import AnalyseVideo
from studio.job_types.channel_consistency import ChannelConsistency
from studio.job_types.edit import EditThumbnail
from studio.job_types.enhance_title import EnhanceTitle
from studio.job_types.generate import MAX_VARIATIONS, GenerateThumbnails
from studio.job_types.suggest_concepts import SuggestConcepts
from studio.job_types.thumbnail_check import ThumbnailCheck

# In the order the large view offers their tools: what a creator reaches for first, first.
JOB_TYPES: tuple[JobType, ...] = (
    GenerateThumbnails(),
    EditThumbnail(),
    ThumbnailCheck(),
    ChannelConsistency(),
    AnalysePalette(),
    AnalyseStyle(),
    EnhanceTitle(),
    AnalyseVideo(),
    SuggestConcepts(),
)


@dataclass(frozen=True)
class Tool:
    """A job type offered on a thumbnail's large view: its form partial (`tool_template`),
    whether `plan` may use it, else the first plan that may, and what one use costs in credits
    (its button's price, and what the balance must hold for the button to be enabled)."""

    job_type: JobType
    allowed: bool
    unlocked_by: Plan | None
    cost: int


def thumbnail_tools(plan: Plan) -> list[Tool]:
    """The large view's tools, in registration order. A tool's `cost` is its job type's own
    price (`unit_cost`) on the model it runs on for `plan` now (offline, the local one: a
    thumbnail check is then free); each form makes one unit."""
    plans = plan_table()
    tools = []
    for job_type in JOB_TYPES:
        if not job_type.tool_template:
            continue
        feature = job_type.feature
        allowed = feature is None or plan.has_feature(feature)
        unlocked_by = (
            None
            if allowed or feature is None
            else next((p for p in plans if p.has_feature(feature)), None)
        )
        cost = job_type.unit_cost({}, job_type.model({}, plan))
        tools.append(Tool(job_type, allowed, unlocked_by, cost))
    return tools


def generate_prices(plan: Plan) -> dict[str, Any]:
    """What a generate request costs for each of the studio form's priced choices, from the
    job type's own `price` (the server charges the same): `{"default": model id, "prices":
    {model id: {resolution: {variations: credits}}}}` for the image models `plan` may pick
    (offline, the local renderer). The studio shows it on Generate (studio.js reads it from a
    json_script) and disables Generate while the balance cannot pay for the current choices."""
    job_type = GenerateThumbnails()
    models = [job_type.model({"model": m.id}, plan) for m in catalog.image_models(plan.slug)]
    default = job_type.model({}, plan)
    prices = {
        model.id: {
            resolution: {
                str(n): job_type.price({"resolution": resolution, "variations": n}, model)
                for n in range(1, MAX_VARIATIONS + 1)
            }
            for resolution in ALL_RESOLUTIONS
        }
        for model in [default, *models]
    }
    return {"default": default.id, "prices": prices}
