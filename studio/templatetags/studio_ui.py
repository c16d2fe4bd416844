"""Small presentation helpers for the studio templates."""

from __future__ import annotations

from django import template
from django.utils.html import json_script

from billing.models import RESOLUTION_COST

register = template.Library()

# What a creator reads for each job stage (generation.services and studio.jobs set the stages).
STAGE_LABELS = {
    "queued": "Waiting in line",
    "running": "Starting",
    "preparing": "Preparing style and photos",
    "rendering": "Rendering",
    "storing": "Saving your thumbnails",
    "succeeded": "Done",
    "partially_succeeded": "Partly done",
    "failed": "Failed",
    "cancelled": "Cancelled",
}


@register.filter
def stage_label(stage: str) -> str:
    """A job stage in words: "rendering" -> "Rendering"; unknown stages are capitalised."""
    return STAGE_LABELS.get(stage, stage.replace("_", " ").capitalize())


@register.simple_tag
def stage_labels_script() -> str:
    """The labels as a JSON <script id="stage-labels"> for studio.js's live updates."""
    return json_script(STAGE_LABELS, "stage-labels")


@register.filter
def resolution_cost(resolution: str) -> int:
    """Credits per image at a resolution ("2K" -> 2), from billing's price list."""
    return RESOLUTION_COST[resolution]


@register.filter
def dollars(cents: int) -> str:
    """USD cents as a price: 1999 -> "$19.99", 0 -> "$0"."""
    return f"${cents // 100}" if cents % 100 == 0 else f"${cents / 100:.2f}"
