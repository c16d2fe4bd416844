"""`suggest_concepts` (Pro, PRODUCT.md "Suggest thumbnail concepts for a video"): a public YouTube
video (and the creator's working text, if any) -> 2-4 thumbnail concepts, each a text, one of the
creator's styles, the scene and why it would work.

Input: `{"video_url", "title"?}`: the video as `analyse_video` reads it (a YouTube URL or id),
`title` the generate form's thumbnail text (up to 100 characters). Result (`Job.result`):
`{"video_url", "concepts": [{"text", "style_id", "style_name", "scene", "why"}, ...],
"measured_by"}`: MIN_CONCEPTS to MAX_CONCEPTS concepts; `text` under 60 characters; `style_id` one
of the styles the creator can pick in the studio (built-in or their own: the list Gemini was
given, copied at submit time), or None when the model named none of them. One click on a concept
puts its text in the title field and picks its style (studio.js).

Gemini watches the video (its URL as file data, as `analyse_video`) with structured output
(`SCHEMA`). Offline nothing can watch a video: refused before charging (503 `needs_gemini_key`),
and the studio says what a key adds. Price: 2 credits, as `analyse_video` (the same video input).
Cached by the video, the text, the styles offered (ids, names, descriptions), the model and
`cache.version` for 7 days.
"""

from __future__ import annotations

from typing import Any

from generation.models import Job
from generation.providers.base import InvalidJSONReturned, JSONRequest
from generation.registry import CachePolicy, JobOutcome
from generation.services import JobContext
from studio import services
from studio.job_types.analyse_video import (
    AnalyseVideoInput,
    WatchesVideo,
    one_line,
    thumbnail_text,
    watching,
)
from studio.library_cache import usable_styles
from studio.serializers import Text

MIN_CONCEPTS = 2
MAX_CONCEPTS = 4
MAX_STYLES = 24  # the styles named to Gemini: the built-in ones and the creator's first
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "concepts": {
            "type": "array",
            "minItems": MIN_CONCEPTS,
            "maxItems": MAX_CONCEPTS,
            "items": {
                "type": "object",
                "properties": {
                    "text": {
                        "type": "string",
                        "description": "thumbnail text, at most 5 words, under 60 characters",
                    },
                    "style": {"type": "string", "description": "one of the listed style names"},
                    "scene": {"type": "string", "description": "one line: what the image shows"},
                    "why": {"type": "string", "description": "one line: why viewers would click"},
                },
                "required": ["text", "style", "scene", "why"],
            },
        }
    },
    "required": ["concepts"],
}


class SuggestConceptsInput(AnalyseVideoInput):
    """`{"video_url", "title"?}`: the video as analyse video takes it, and the generate form's
    thumbnail text (up to 100 characters)."""

    title = Text(max_length=services.TITLE_MAX_CHARS)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        user = self.context["user"]
        styles = [s for s in usable_styles(user) if s.owner_id in (None, user.pk)]
        attrs["title"] = " ".join(attrs.get("title", "").split())
        attrs["styles"] = [
            {"id": s.pk, "name": s.name, "description": s.description} for s in styles
        ][:MAX_STYLES]
        return attrs


def prompt(params: dict[str, Any]) -> str:
    lines = [
        "Watch this YouTube video as the creator's thumbnail designer and suggest 2 to 4 "
        "different thumbnail concepts for it.",
        "Each concept: the text printed on the thumbnail (at most 5 words, under 60 characters, "
        "numbers as digits, a curiosity gap that does not misrepresent the video); one style "
        "from the list below, by its exact name; the scene in one line (what the image shows: "
        "the moment, the face and its expression, the object); why viewers would click, in one "
        "line. Make the concepts differ in angle, not only in wording. Answer in the video's "
        "language.",
    ]
    if params.get("title"):
        lines.append(f'The creator\'s working thumbnail text: "{params["title"]}".')
    lines.append("Styles:")
    for style in params["styles"]:
        described = f": {style['description']}" if style["description"] else ""
        lines.append(f"- {style['name']}{described}")
    return "\n".join(lines)


def clean_concepts(answer: dict[str, Any], styles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The model's concepts within the limits: texts cut to thumbnail length at a word, lines
    trimmed, a style matched to the offered list by name (case and spacing ignored; None if
    the model named another), empty and repeated texts dropped, at most MAX_CONCEPTS. Raises
    InvalidJSONReturned (retried; refunded once the retries are spent) when fewer than
    MIN_CONCEPTS are left: the schema asks for 2 and the creator pays for 2-4."""
    by_name = {" ".join(s["name"].split()).casefold(): s for s in styles}
    items = answer.get("concepts")
    concepts: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        text = thumbnail_text(item.get("text"))
        if not text or text.casefold() in seen:
            continue
        seen.add(text.casefold())
        style = by_name.get(" ".join(str(item.get("style") or "").split()).casefold())
        concepts.append(
            {
                "text": text,
                "style_id": style["id"] if style else None,
                "style_name": style["name"] if style else "",
                "scene": one_line(item.get("scene")),
                "why": one_line(item.get("why")),
            }
        )
    if len(concepts) < MIN_CONCEPTS:
        raise InvalidJSONReturned(f"suggest_concepts answer with {len(concepts)} usable concepts")
    return concepts[:MAX_CONCEPTS]


class SuggestConcepts(WatchesVideo):
    name = "suggest_concepts"
    label = "Suggest concepts"  # the studio button's name, on every page
    input_serializer = SuggestConceptsInput
    rate_limit_route = "suggest_concepts"
    result_template = "studio/jobs/suggest_concepts.html"
    # Per creator: the video is public, but the text and the styles offered are theirs.
    cache = CachePolicy(version="concepts-v1", ttl_seconds=7 * 24 * 3600)

    def fingerprint_input(self, validated: dict[str, Any]) -> dict[str, Any]:
        return {"video_url": validated["video_url"], "title": validated["title"]}

    def cache_input(self, validated: dict[str, Any]) -> dict[str, Any]:
        """The video, the text and the styles offered as the prompt names them and the result
        points at them (id, name, description), so an edited style is asked again; the engine
        adds the owner (the policy is not `shared`), so an answer is never another creator's."""
        return {
            **self.fingerprint_input(validated),  # the text as the prompt sends it
            "styles": sorted((s["id"], s["name"], s["description"]) for s in validated["styles"]),
        }

    def snapshot(self, *, validated: dict[str, Any], **_: Any) -> dict[str, Any]:
        """The input with the styles offered (ids, names, descriptions) copied."""
        return {**self.fingerprint_input(validated), "styles": validated["styles"]}

    def run(self, job: Job, ctx: JobContext) -> JobOutcome:
        params = job.params

        def compute() -> dict[str, Any]:
            request = JSONRequest(
                prompt=prompt(params),
                schema=SCHEMA,
                model=ctx.model.id,
                video_uri=params["video_url"],
            )
            concepts = watching(
                ctx,
                lambda provider: clean_concepts(
                    provider.generate_json(request).data, params["styles"]
                ),
            )
            return {
                "video_url": params["video_url"],
                "concepts": concepts,
                "measured_by": ctx.model.id,
            }

        return ctx.run_json(compute)
