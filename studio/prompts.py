"""Prompt building for thumbnail generation, on the server only.

The prompt is assembled from the title rules, the style's prompt text, the palette's actual colours
(PRODUCT.md flaw 3: the earlier version sent the palette id), the faces' expression and pose, and
technical specs. Aspect ratio and size also go to the provider as image config; the prompt repeats
them only as composition guidance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from generation.providers.base import visible_text


@dataclass(frozen=True)
class TitleLines:
    main: str
    sub: str


# The faces' expressions and poses the studio offers (and the API accepts, in generate and Better
# titles): each goes into the Gemini prompt as written, so only these, not free text.
EXPRESSIONS = ["", "excited", "shocked", "happy", "serious", "curious", "confident", "laughing"]
POSES = ["", "pointing at the text", "arms crossed", "hands on head", "leaning in", "thumbs up"]


# Colon and space, or the full-width colon unless digits stand on both sides of it: a Japanese
# input method writes times and ratios with full-width digits and this colon.
_TITLE_SPLIT = re.compile(r": |(?<![0-9\uff10-\uff19])\uff1a|\uff1a(?![0-9\uff10-\uff19])")


def split_title(title: str) -> TitleLines:
    """Text before the first ": " (colon and space) is the main line, after it the sub-line
    (PRODUCT.md). A colon without a space after it is part of the words: "My 5:00 AM Routine"
    stays whole, and so does "Ratio 16:9". Japanese and Chinese write the colon full-width and
    with no space (U+FF1A, "ラーメンを食べてみた\uff1a結果は意外"): it splits too, whichever
    comes first, except between digits (a time or a ratio typed with full-width digits).
    A line of only invisible characters ("Hello: \u200b") is empty (`visible_text`)."""
    match = _TITLE_SPLIT.search(title)
    if match is None:
        return TitleLines(main=visible_text(title), sub="")
    return TitleLines(
        main=visible_text(title[: match.start()]), sub=visible_text(title[match.end() :])
    )


@dataclass(frozen=True)
class PromptInput:
    title: str
    instructions: str
    style_name: str
    style_prompt: str
    palette_name: str
    palette_colors: list[str]
    face_names: list[str]
    expression: str
    pose: str
    aspect_ratio: str
    image_size: str
    reference_count: int
    variation: int
    variations: int


def build_prompt(data: PromptInput) -> str:
    """The full text prompt for one variation (plain text, a few hundred words)."""
    lines = TitleLines("", "") if not data.title.strip() else split_title(data.title)
    parts = [
        "Create a click-worthy YouTube thumbnail image.",
    ]
    if lines.main:
        parts.append(
            "TEXT: render exactly this main headline, spelled exactly as given, in huge bold "
            f'high-contrast letters with a thick outline: "{lines.main}".'
        )
        if lines.sub:
            parts.append(f'Below it, a smaller sub-line, spelled exactly: "{lines.sub}".')
        parts.append(
            "Keep text inside the safe area, away from the bottom-right corner where YouTube "
            "shows the video length. No other words, logos or watermarks."
        )
    else:
        parts.append("Do not put any text, letters or logos in the image.")
    if data.style_prompt:
        parts.append(f"STYLE ({data.style_name}): {data.style_prompt.strip()}")
    if data.palette_colors:
        colors = ", ".join(data.palette_colors)
        parts.append(
            f"COLOURS: use this palette ({data.palette_name}) as the dominant colours: {colors}. "
            "The first colour is the most prominent."
        )
    if data.face_names:
        who = ", ".join(data.face_names)
        parts.append(
            f"PEOPLE: feature the person or people shown in the face photos ({who}), keeping "
            "their likeness faithful; large in frame, well lit, eyes visible."
        )
        if data.expression:
            parts.append(f"Facial expression: {data.expression}.")
        if data.pose:
            parts.append(f"Pose: {data.pose}.")
    if data.reference_count:
        parts.append(
            f"The first {data.reference_count} image(s) are style references: match their look, "
            "not their content."
        )
    if data.instructions.strip():
        parts.append(f"CREATOR NOTES: {data.instructions.strip()}")
    parts.append(
        f"TECHNICAL: {data.aspect_ratio} aspect ratio, {data.image_size} resolution, sharp focus, "
        "strong subject separation, readable at small sizes on a phone."
    )
    if data.variations > 1:
        parts.append(
            f"This is variation {data.variation + 1} of {data.variations}: choose a distinct "
            "composition."
        )
    return "\n".join(parts)
