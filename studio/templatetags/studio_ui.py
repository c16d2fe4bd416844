"""Small presentation helpers for the studio templates."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django import template
from django.conf import settings
from django.utils.formats import date_format
from django.utils.html import format_html, json_script

from billing.services import effective_plan, get_balance, plan_table
from generation import catalog
from generation.registry import get_job_type
from generation.services import REFUNDED_SENTENCE
from studio import youtube
from studio.media import media_url as _media_url
from studio.models import YouTubeChannel

register = template.Library()

# What a creator reads for each job stage (generation.services and studio.jobs set the stages).
STAGE_LABELS = {
    "queued": "Waiting in line",
    "running": "Starting",
    "preparing": "Preparing style and photos",
    "rendering": "Rendering",
    "storing": "Saving your thumbnails",
    "analysing": "Analysing",
    "reading_channel": "Reading your YouTube channel",
    "waiting": "Waiting for the AI service",
    "retrying": "The AI service stumbled: trying again",
    "succeeded": "Done",
    "partially_succeeded": "Partly done",
    "failed": "Failed",
    "cancelled": "Cancelled",
}


@register.filter
def without_refund_sentence(message: str) -> str:
    """A failed job's error without generation.services' "Your credits were refunded.": the
    card says it once, with the amount, in its own refund note."""
    return " ".join(message.replace(REFUNDED_SENTENCE, "").split())


@register.filter
def stage_label(stage: str) -> str:
    """A job stage in words: "rendering" -> "Rendering"; unknown stages are capitalised."""
    return STAGE_LABELS.get(stage, stage.replace("_", " ").capitalize())


@register.simple_tag
def stage_labels_script() -> str:
    """The labels as a JSON <script id="stage-labels"> for studio.js's live updates."""
    return json_script(STAGE_LABELS, "stage-labels")


@register.simple_tag
def live_updates_script() -> str:
    """studio.js's live-update settings as a JSON <script id="live-updates">: `poll_ms`, how
    often (milliseconds) a page without a websocket fetches its unfinished job cards
    (settings.STUDIO_POLL_MS)."""
    return json_script({"poll_ms": settings.STUDIO_POLL_MS}, "live-updates")


@register.simple_tag
def tool_prices() -> str:
    """What each tool but Generate costs, from the job types' own prices on the models they
    run on now (those of the plan with the most features), grouped by price, dearest first, for
    the plans table's price line: "Edit thumbnail, Analyse video and Suggest concepts 2
    credits each; ...; Thumbnail check free" (offline, the check is free)."""
    from studio.job_types import JOB_TYPES

    plans = plan_table()
    if not plans:
        return ""
    top = max(plans, key=lambda plan: len(plan.features))
    by_cost: dict[int, list[str]] = {}
    for job_type in JOB_TYPES:
        if job_type.name == "generate_thumbnails":
            continue
        by_cost.setdefault(job_type.unit_cost({}, job_type.model({}, top)), []).append(
            job_type.label
        )
    parts = []
    for cost, labels in sorted(by_cost.items(), reverse=True):
        names = labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} and {labels[-1]}"
        if cost == 0:
            parts.append(f"{names} free")
        else:
            each = " each" if len(labels) > 1 else ""
            parts.append(f"{names} {cost} credit{'s' if cost != 1 else ''}{each}")
    return "; ".join(parts)


@register.filter
def to_json(value: Any) -> str:
    """`value` as JSON, for a data- attribute (autoescaping makes it safe there)."""
    return json.dumps(value, sort_keys=True)


@register.filter
def model_name(model_id: str) -> str:
    """A model as the studio's Model menu names it, without its note: "gemini-3-pro-image" ->
    "Gemini 3 Pro Image", "gemini-3.8-flash" -> "Gemini 3.8 Flash", "local" -> "offline
    renderer"; an id the catalog does not know is shown as it is. Job cards and results said
    the raw id beside a menu that offered "Gemini 3 Pro Image (best text rendering)"."""
    if model_id == catalog.LOCAL:
        return "offline renderer"
    try:
        label = catalog.get_model(model_id).label
    except KeyError:
        return model_id
    return label.split(" (", 1)[0]


@register.filter
def some_locked(choices: Any) -> bool:
    """Whether any of a plan-limited menu's `(value, allowed, unlocked by)` choices is not
    allowed on the creator's plan (greyed out in the menu)."""
    return any(not allowed for _, allowed, _ in choices)


@register.filter
def dollars(cents: int) -> str:
    """USD cents as a price: 1999 -> "$19.99", 0 -> "$0"."""
    return f"${cents // 100}" if cents % 100 == 0 else f"${cents / 100:.2f}"


@register.filter
def percent_of(part: float, whole: float) -> str:
    """`part` as a CSS percentage of `whole`: 40, 360 -> "11.111%" ("0%" when `whole` is 0)."""
    return f"{100 * part / whole:.3f}%" if whole else "0%"


FEATURE_NAMES = {
    "enhance_title": "better titles",
    "analyse_style": "analyse style",
    "analyse_palette": "analyse palette",
    "heatmap": "attention heatmap",
    # The Pro plan's YouTube tools (PRODUCT.md), named as the studio's buttons and the credit
    # history name them: Analyse video, Suggest concepts and Channel consistency.
    "youtube": "YouTube: analyse video, suggest concepts, channel consistency",
}


@register.filter
def feature_names(features: list[str]) -> str:
    """Plan features in words: ["heatmap", "youtube"] -> "Attention heatmap, YouTube: analyse
    video, suggest concepts, channel consistency"."""
    text = ", ".join(FEATURE_NAMES.get(f, f.replace("_", " ")) for f in features)
    return text[:1].upper() + text[1:]


@register.filter
def video_seconds(time: str) -> int:
    """A moment's "m:ss" or "h:mm:ss" as seconds into the video, for YouTube's `t=` parameter:
    "1:05" -> 65, "1:02:03" -> 3723; 0 for anything else."""
    try:
        parts = [int(p) for p in str(time).split(":")]
    except ValueError:
        return 0
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds if len(parts) in (2, 3) else 0


@register.filter
def result_template(job: Any) -> str:
    """The job type's result partial ("" for a type no longer registered)."""
    try:
        return get_job_type(job.type).result_template
    except KeyError:
        return ""


@register.filter
def job_label(job: Any) -> str:
    try:
        return get_job_type(job.type).label
    except KeyError:
        return job.type


@register.filter
def media_url(file: Any) -> str:
    """A stored file's signed, expiring URL (`studio.media.media_url`); "" for an empty field."""
    return _media_url(file) or ""


def _plan(user: Any) -> Any:
    """The user's effective plan, looked up once per user object."""
    plan = getattr(user, "_effective_plan", None)
    if plan is None:
        plan = user._effective_plan = effective_plan(user)
    return plan


@register.filter
def has_feature(user: Any, feature: str) -> bool:
    """Whether the user's effective plan has `feature` (looked up once per user object)."""
    if not getattr(user, "is_authenticated", False):
        return False
    return bool(_plan(user).has_feature(feature))


@register.simple_tag
def plan_of(user: Any) -> Any:
    """The signed-in user's effective plan (billing.services.effective_plan), for pages whose
    view does not pass `plan` (allauth's account pages)."""
    return _plan(user)


@register.simple_tag
def credit_balance(user: Any) -> int:
    """The signed-in user's credit balance (billing's cached account summary), for pages whose
    view does not pass `credits` (allauth's account pages)."""
    return get_balance(user)


@register.simple_tag
def support_email() -> str:
    """The address creators can write to for help (settings.SUPPORT_EMAIL), "" when none is
    set, for pages whose view does not pass it (allauth's)."""
    return str(settings.SUPPORT_EMAIL)


@register.simple_tag
def youtube_configured() -> bool:
    """Whether the studio has a YouTube Data API key (`studio.youtube.is_configured`)."""
    return youtube.is_configured()


@register.simple_tag
def youtube_channel_of(user: Any) -> YouTubeChannel | None:
    """The creator's YouTube channel, or None when they have not set one (one query)."""
    if not getattr(user, "is_authenticated", False):
        return None
    return YouTubeChannel.objects.filter(user=user).first()


@register.filter
def measures_in_order(measures: Any) -> list[tuple[str, Any]]:
    """A channel consistency result's `measures` as (name, measure) pairs in the job type's own
    order (`MEASURES`: brightness first); the stored JSON's key order is the database's."""
    from studio.job_types.channel_consistency import MEASURES

    if not isinstance(measures, dict):
        return []
    return [(m.name, measures[m.name]) for m in MEASURES if m.name in measures]


# A date-time shown to a creator (static/js/local_time.js rewrites each in the browser's time
# zone): the date part and the clock part, as Django formats them, for each style the page uses.
LOCAL_TIME_STYLES = {
    "datetime": "j M Y",  # "5 Dec 2026, 20:26"
    "short": "j M",  # "5 Dec, 20:26"
    # A day alone (a renewal, a thumbnail's deletion): its date where the browser is.
    "date": "j F Y",  # "5 December 2026"
    "date_short": "j M Y",  # "5 Dec 2026"
    "day": "j F",  # "5 December"
}
DATE_ONLY_STYLES = frozenset({"date", "date_short", "day"})


def _utc_parts(value: dt.datetime, style: str) -> tuple[str, str, str]:
    """`value` in UTC: its ISO 8601 ("2026-12-05T20:26:00Z"), date part and clock part."""
    utc = value.astimezone(dt.UTC)
    return (
        utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        date_format(utc, LOCAL_TIME_STYLES[style]),
        date_format(utc, "H:i"),
    )


@register.simple_tag
def local_time(value: dt.datetime | None, style: str = "datetime") -> str:
    """`<time datetime="...Z">5 Dec 2026, 20:26 UTC</time>`: the server's fallback, labelled
    UTC, which local_time.js rewrites in the browser's time zone (the server knows none: a
    browser in Los Angeles read "20:26", 8 hours off). Each part is a `.day` span, kept on one
    line (the credit history's phone layout puts the clock under the date). A date-only style
    (DATE_ONLY_STYLES) is the day alone, unlabelled: "5 December 2026"."""
    if value is None:
        return ""
    iso, day, clock = _utc_parts(value, style)
    if style in DATE_ONLY_STYLES:
        return format_html('<time datetime="{}" data-local-time="{}">{}</time>', iso, style, day)
    return format_html(
        '<time datetime="{}" data-local-time="{}"><span class="day">{},</span> '
        '<span class="day">{} UTC</span></time>',
        iso,
        style,
        day,
        clock,
    )


@register.simple_tag
def local_time_attrs(value: dt.datetime, prefix: str, style: str = "datetime") -> str:
    """An `alt` for an image named by its time ("Version from 5 Dec, 20:13 UTC"), with the
    attributes local_time.js rewrites it from in the browser's time zone."""
    iso, day, clock = _utc_parts(value, style)
    return format_html(
        'alt="{} {}, {} UTC" data-local-alt="{}" data-local-time="{}" data-datetime="{}"',
        prefix,
        day,
        clock,
        prefix,
        style,
        iso,
    )
