"""`analyse_video` (Pro, PRODUCT.md "Analyse a YouTube video"): a public YouTube video -> its
summary, topic, tone, key moments, hooks and notes for its thumbnail.

Input: `{"video_url"}`: a YouTube watch, youtu.be, Shorts, live or embed URL, or the 11-character
video id (`video_id`); normalised to `https://www.youtube.com/watch?v=<id>`. Result
(`Job.result`): `{"video_url", "video_id", "summary", "topic", "tone", "key_moments": [{"time",
"moment"}, ...], "hooks": [...], "thumbnail_notes": [...], "measured_by"}`: at most MAX_MOMENTS
moments (time as "m:ss" or "h:mm:ss"), MAX_HOOKS hooks (each a thumbnail text under 60
characters, which the studio puts in the title field on a click) and MAX_NOTES notes.

Gemini watches the video itself: its video understanding takes a public YouTube URL as file data
(ai.google.dev/gemini-api/docs/video-understanding, "YouTube URLs: public YouTube videos"), with
structured output (`SCHEMA`) at low media resolution (`generation.providers.gemini`); a video it
refuses (private, unlisted, age-restricted, a live stream) fails the job with that said
(`VideoNotWatchable`), refunded. No local
algorithm can watch a video, so offline the request is refused before anything is charged (503
`needs_gemini_key`) and the studio says what a key adds.

Price: 2 credits, as an edit. A video is the most input any tool sends: at default resolution
Gemini counts 263 tokens a second of video (258 a frame at 1 frame a second, plus 32 a second of
audio; "Understand and count tokens"), so a 10-minute video is about 158,000 input tokens, $0.12
on gemini-3.8-flash at $0.75 per 1M (generation/catalog.py); low media resolution cuts the
frames' share. Cached by the video id, the model and `cache.version` for 7 days (a video's
content does not change; its comments and title may), for every creator alike (`shared`: the
video is public).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from rest_framework import serializers

from billing.models import Plan
from generation import catalog
from generation.errors import JobRefused
from generation.models import Job
from generation.providers.base import (
    InvalidJSONReturned,
    InvalidProviderRequest,
    JSONRequest,
    ProviderError,
)
from generation.registry import CachePolicy, JobOutcome, JobType
from generation.services import JobContext
from studio.serializers import InputSerializer

T = TypeVar("T")

VIDEO_CREDITS = 2  # per request, as an edit: see the module docstring
MAX_MOMENTS = 6
MAX_HOOKS = 3
MAX_NOTES = 3
HOOK_MAX_CHARS = 59  # a hook is thumbnail text: under 60 characters, as Better titles'
LINE_MAX_CHARS = 240
SUMMARY_MAX_CHARS = 600
VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
YOUTUBE_HOSTS = frozenset(
    {
        "youtube.com",
        "www.youtube.com",
        "m.youtube.com",
        "music.youtube.com",
        "youtube-nocookie.com",
        "www.youtube-nocookie.com",
    }
)
# Paths whose second segment is the id: /shorts/<id>, /live/<id>, /embed/<id>, /v/<id>.
ID_PATHS = frozenset({"shorts", "live", "embed", "v"})
TIME = re.compile(r"(?:(\d{1,2}):)?([0-5]?\d):([0-5]\d)")
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {"type": "string", "description": "2-3 sentences: what the video delivers"},
        "topic": {"type": "string", "description": "2-6 words"},
        "tone": {"type": "string", "description": "1-3 words, e.g. 'playful, fast'"},
        "key_moments": {
            "type": "array",
            "maxItems": MAX_MOMENTS,
            "items": {
                "type": "object",
                "properties": {
                    "time": {"type": "string", "description": "m:ss or h:mm:ss into the video"},
                    "moment": {"type": "string", "description": "one line"},
                },
                "required": ["time", "moment"],
            },
        },
        "hooks": {
            "type": "array",
            "maxItems": MAX_HOOKS,
            "items": {
                "type": "string",
                "description": "thumbnail text, at most 5 words, under 60 characters",
            },
        },
        "thumbnail_notes": {
            "type": "array",
            "maxItems": MAX_NOTES,
            "items": {"type": "string", "description": "one line: what the thumbnail should show"},
        },
    },
    "required": ["summary", "topic", "tone", "key_moments", "hooks", "thumbnail_notes"],
}
PROMPT = (
    "Watch this YouTube video as the creator's thumbnail designer. Give: a 2-3 sentence summary "
    "of what the video delivers; its topic in 2-6 words; its tone in 1-3 words; up to 6 key "
    "moments with their time into the video (m:ss) and one line each; up to 3 hooks, each a "
    "thumbnail text of at most 5 words and under 60 characters that opens a curiosity gap "
    "without misrepresenting the video (numbers as digits, no invented facts); and up to 3 "
    "one-line notes on what the thumbnail should show (the moment, face, object or contrast that "
    "would make a viewer click). Answer in the video's language."
)
NEEDS_KEY = (
    "This needs a Gemini API key (GEMINI_API_KEY): Gemini watches the public video itself, and "
    "nothing on this machine can. Nothing was charged."
)


def video_id(value: str) -> str | None:
    """The 11-character id of a YouTube video named by `value` (a watch, youtu.be, Shorts,
    live or embed URL, with or without scheme, or the bare id), else None."""
    value = value.strip()
    if VIDEO_ID.fullmatch(value):
        return value
    try:
        url = urlsplit(value if "://" in value else f"https://{value}")
        host = (url.hostname or "").lower()
    except ValueError:  # "http://[oops/": not a URL at all
        return None
    segments = [s for s in url.path.split("/") if s]
    found: str | None = None
    if host == "youtu.be" and segments:
        found = segments[0]
    elif host in YOUTUBE_HOSTS:
        if segments[:1] == ["watch"]:
            found = (parse_qs(url.query).get("v") or [""])[0]
        elif len(segments) >= 2 and segments[0] in ID_PATHS:
            found = segments[1]
    return found if found and VIDEO_ID.fullmatch(found) else None


class VideoNotWatchable(ProviderError):
    """Gemini refused the video itself: its 400 INVALID_ARGUMENT for a private, unlisted or
    age-restricted video, and "Unsupported MIME type" for a live stream in progress (the
    video-understanding docs: "public YouTube videos" only)."""

    code = "video_not_watchable"
    message = (
        "Gemini could not watch this video: it reads public videos only, not private, "
        "unlisted or age-restricted ones, nor a live stream still running."
    )


def watching(ctx: JobContext, fn: Callable[[Any], T]) -> T:
    """`ctx.call(fn)` for a Gemini call that watches a video: its slot held as long as the
    catalog's "video" timeout (TEXT_TIMEOUTS), and Gemini's refusal of the request
    (InvalidProviderRequest, a 4xx that is not the key, the model or the quota) said as what
    it is for a video: VideoNotWatchable."""
    try:
        return ctx.call(fn, image_size="video")
    except InvalidProviderRequest as exc:
        raise VideoNotWatchable(exc.detail) from exc


def watch_url(identifier: str) -> str:
    return f"https://www.youtube.com/watch?v={identifier}"


class AnalyseVideoInput(InputSerializer):
    """`{"video_url"}`: a YouTube watch, youtu.be, Shorts, live or embed address, or the
    11-character video id (normalized to the watch address)."""

    video_url = serializers.CharField(max_length=300, trim_whitespace=True)

    def validate_video_url(self, value: str) -> str:
        identifier = video_id(value)
        if identifier is None:
            raise serializers.ValidationError(
                "Paste a YouTube video's address (youtube.com/watch?v=…, youtu.be/…, "
                "youtube.com/shorts/…) or its 11-character id."
            )
        return watch_url(identifier)


def one_line(value: Any, limit: int = LINE_MAX_CHARS) -> str:
    """One line of plain text from the model's answer, at most `limit` characters (cut at a
    word, with an ellipsis)."""
    text = " ".join(str(value or "").split())
    if len(text) > limit:
        text = text[: limit - 1].rsplit(" ", 1)[0] + "…"
    return text


def thumbnail_text(value: Any) -> str:
    """Text for the thumbnail from the model's answer: one line without quotes, cut at a word
    to at most HOOK_MAX_CHARS (59) characters ("" for none)."""
    text = " ".join(str(value or "").split()).strip('"“” ')
    if len(text) > HOOK_MAX_CHARS:
        text = text[: HOOK_MAX_CHARS + 1].rsplit(" ", 1)[0][:HOOK_MAX_CHARS]
    return text


def needs_key(model: catalog.ModelSpec) -> None:
    """Raises JobRefused (503 `needs_gemini_key`) for the offline model: nothing on this
    machine can watch a video, so a tool that must is refused before anything is charged."""
    if model.id == catalog.LOCAL:
        raise JobRefused(NEEDS_KEY, "needs_gemini_key", status=503)


def _time(value: Any) -> str:
    """ "m:ss" / "h:mm:ss" as the model wrote it, normalised ("1:05", "1:02:03"); "" if it is
    not a time."""
    match = TIME.search(str(value or ""))
    if match is None:
        return ""
    hours, minutes, seconds = match.groups()
    return f"{int(hours)}:{int(minutes):02d}:{seconds}" if hours else f"{int(minutes)}:{seconds}"


def clean_analysis(answer: dict[str, Any]) -> dict[str, Any]:
    """The model's answer within the limits above: lines trimmed, moments without a time or a
    line dropped, hooks cut to thumbnail length at a word, duplicates dropped. Raises
    InvalidJSONReturned (retried) without a summary."""
    summary = one_line(answer.get("summary"), SUMMARY_MAX_CHARS)
    if not summary:
        raise InvalidJSONReturned("analyse_video answer without a summary")
    moments = []
    raw_moments = answer.get("key_moments")
    for item in raw_moments if isinstance(raw_moments, list) else []:
        if not isinstance(item, dict):
            continue
        time, moment = _time(item.get("time")), one_line(item.get("moment"))
        if time and moment:
            moments.append({"time": time, "moment": moment})
    hooks: list[str] = []
    raw_hooks = answer.get("hooks")
    for item in raw_hooks if isinstance(raw_hooks, list) else []:
        hook = thumbnail_text(item)
        if hook and hook.casefold() not in {h.casefold() for h in hooks}:
            hooks.append(hook)
    raw_notes = answer.get("thumbnail_notes")
    notes = [one_line(n) for n in (raw_notes if isinstance(raw_notes, list) else [])]
    return {
        "summary": summary,
        "topic": one_line(answer.get("topic"), 80),
        "tone": one_line(answer.get("tone"), 60),
        "key_moments": moments[:MAX_MOMENTS],
        "hooks": hooks[:MAX_HOOKS],
        "thumbnail_notes": [n for n in notes if n][:MAX_NOTES],
    }


class WatchesVideo(JobType):
    """A Pro job type Gemini answers by watching a public YouTube video (`analyse_video`,
    `suggest_concepts`): a JSON result, VIDEO_CREDITS, refused offline before charging."""

    feature = "youtube"
    result_kind = "json"
    model_kind = "text"
    time_limit_seconds = 600  # up to 3 attempts of the 180 s video timeout, with backoff

    def check_plan(self, plan: Plan, validated: dict[str, Any], model: catalog.ModelSpec) -> None:
        """Offline there is nothing that can watch the video: refused before charging."""
        needs_key(model)

    def unit_cost(self, validated: dict[str, Any], model: catalog.ModelSpec) -> int:
        return VIDEO_CREDITS


class AnalyseVideo(WatchesVideo):
    name = "analyse_video"
    label = "Analyse video"
    input_serializer = AnalyseVideoInput
    rate_limit_route = "analyse_video"
    result_template = "studio/jobs/analyse_video.html"
    # Shared by every creator: the input is the video's address alone, and only a public video
    # is ever answered (Gemini refuses private and unlisted ones: failed jobs are not cached), so
    # a hit tells a creator only that someone analysed a video anyone can watch.
    cache = CachePolicy(version="video-v1", ttl_seconds=7 * 24 * 3600, shared=True)

    def cache_input(self, validated: dict[str, Any]) -> dict[str, Any]:
        return {"video_url": validated["video_url"]}

    def run(self, job: Job, ctx: JobContext) -> JobOutcome:
        url = job.params["video_url"]

        def compute() -> dict[str, Any]:
            request = JSONRequest(prompt=PROMPT, schema=SCHEMA, model=ctx.model.id, video_uri=url)
            analysis = watching(
                ctx, lambda provider: clean_analysis(provider.generate_json(request).data)
            )
            return {
                "video_url": url,
                "video_id": video_id(url),
                **analysis,
                "measured_by": ctx.model.id,
            }

        return ctx.run_json(compute)
