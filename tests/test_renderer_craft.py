"""The offline renderer as a creator would judge it: cut-out faces, readable text, variations that
differ, the watermark clear of YouTube's badge, the YouTube-ready download size, no tofu."""

from __future__ import annotations

import functools
import io
import itertools
import random
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from generation.providers import cutout, fonts, local
from generation.providers.base import ImageRequest, InputImage, RenderSpec
from generation.providers.local import LocalRenderer, Rendered
from studio import saliency
from studio.downloads import youtube_size
from studio.images import YOUTUBE_MAX_BYTES, burn_watermark, encode_png, youtube_jpeg
from studio.prompts import TitleLines, split_title

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FACE_PHOTO = FIXTURES / "face-eileen-collins.jpg"
MONO = ["#111111", "#FFD400", "#FFFFFF"]
LONG_TITLE = "I Spent 30 Days Living Like a Medieval Peasant and This Is What Happened To My Body"
JAPANESE = "ラーメンを食べてみた、東京ナンバーワンのラーメン屋さんでチャーシューメンとギョーザ"


def face(data: bytes | None = None, person: int | None = None) -> InputImage:
    return InputImage(data or FACE_PHOTO.read_bytes(), "image/jpeg", "face", person=person)


@functools.cache
def sample_cut_out() -> cutout.Cutout:
    """The sample face photo cut out (0.15 s of CPU), once per test process: read only, as the
    renderer's own memo of cut-outs is (`local._face_photos`)."""
    person = cutout.cut_out(Image.open(FACE_PHOTO).convert("RGB"))
    assert person is not None
    return person


def render(ratio: str = "16:9", size: str = "1K", images=(), **spec: object) -> Rendered:
    request = ImageRequest(
        prompt="",
        aspect_ratio=ratio,
        image_size=size,
        model="local",
        images=list(images),
        spec=RenderSpec(**spec),  # type: ignore[arg-type]
    )
    return LocalRenderer().render(request)


def wcag(rgb: np.ndarray) -> np.ndarray:
    c = rgb.astype(float) / 255
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return c @ [0.2126, 0.7152, 0.0722]


def seen_contrast(image: Image.Image, mask: Image.Image, corner: tuple[int, int]) -> float:
    """Measured independently of the renderer: the picture at 320x180, the letters' median
    luminance against the median of the pixels 1-2 px around them."""
    factor = 180 / min(image.size)
    small = np.asarray(image.resize((round(image.width * factor), round(image.height * factor))))
    full = Image.new("L", image.size)
    full.paste(mask, corner)
    letters = np.asarray(full.resize((small.shape[1], small.shape[0]), Image.Resampling.BOX))
    core = letters > 153
    glyph = (letters > 25).astype(np.uint8)
    around = cv2.dilate(glyph, np.ones((5, 5), np.uint8)).astype(bool) & ~glyph.astype(bool)
    lum = wcag(small)
    a, b = float(np.median(lum[core])), float(np.median(lum[around]))
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


HARD = [
    {
        "style_key": "documentary",
        "colors": MONO,
        "title": "The Truth",
        "subtitle": "What Nobody Tells You",
    },
    {"style_key": "minimal", "title": "I Tried 100 Coffee Shops"},
    {"style_key": "minimal", "colors": ["#FFD400", "#FFF6C0", "#FFE680"], "title": "Top 100 Hacks"},
    {
        "style_key": "vlog-bright",
        "colors": ["#FFFFFF", "#FFF3B0"],
        "title": "My 5:00 AM Routine",
        "subtitle": "Day 1",
    },
    {
        "style_key": "retro-pop",
        "colors": ["#FFD23F", "#FFE066"],
        "title": "Top 10 Snacks",
        "subtitle": "Ranked",
    },
    {
        "style_key": "clean-tech",
        "colors": ["#E0F2FE", "#F8FAFC"],
        "title": "iPhone 17 Review",
        "subtitle": "Worth It?",
    },
]


@pytest.mark.parametrize(
    "spec", HARD, ids=lambda s: f"{s['style_key']}-{s.get('colors', ['default'])[0]}"
)
def test_every_text_run_meets_the_contrast_target(spec: dict) -> None:
    rendered = render(seed=3, **spec)
    assert rendered.texts
    kinds = {run.kind for run in rendered.texts}
    assert "title" in kinds or "emphasis" in kinds
    for run in rendered.texts:
        measured = seen_contrast(rendered.image, run.mask, run.corner)
        assert measured >= 4.5, (run.kind, measured)


def test_japanese_lines_follow_kinsoku() -> None:
    look = fonts.TextLook(fill=(255, 255, 255), stroke=(0, 0, 0), max_lines=6)
    for width in range(180, 700, 40):
        plan = fonts._plan(JAPANESE, look, (width, 2000), 10, 60)
        assert plan is not None
        lines = ["".join(run.text for run in line).strip() for line in plan[1]]
        assert len(lines) > 1
        for line in lines[1:]:
            assert line[0] not in fonts.KINSOKU_NO_START, (width, lines)
        for line in lines[:-1]:
            assert line[-1] not in fonts.KINSOKU_NO_END, (width, lines)


def test_japanese_breaks_between_phrases_not_inside_words() -> None:
    """Breaking between any two characters set "東京で一番おいしいラー / メンを探してみた"."""
    title = "東京で一番おいしいラーメンを探してみた"
    units = [unit for unit, _gap, _hyphen in fonts._words(title)]
    assert units == ["東京で", "一番", "おいしい", "ラーメンを", "探してみた"]
    look = fonts.TextLook(fill=(255, 255, 255), stroke=(0, 0, 0), max_lines=6)
    for width in range(160, 700, 60):
        plan = fonts._plan(title, look, (width, 2000), 10, 60)
        assert plan is not None
        lines = ["".join(run.text for run in line).strip() for line in plan[1]]
        assert not any(line.startswith("メン") for line in lines), (width, lines)
    assert [u for u, _g, _h in fonts._words("北京烤鸭")] == list("北京烤鸭")  # no kana: as before
    # One phrase longer than a line holds may still break between its characters.
    long_phrase = "エンターテインメントアプリケーション開発"
    assert len(fonts._words(long_phrase)) > 1


def test_a_bracketed_aside_stays_on_one_line() -> None:
    """ "My Cat Learned to Cook?! (Not Clickbait)" broke as "... (NOT / CLICKBAIT)"."""
    look = fonts.TextLook(fill=(255, 255, 255), stroke=(0, 0, 0), max_lines=4, uppercase=True)
    title = "My Cat Learned To Cook?! (Not Clickbait)"
    checked = 0
    for width, height in ((560, 540), (640, 600), (720, 640), (900, 520)):
        plan = fonts._plan(title, look, (width, height), 10, 200)
        assert plan is not None
        lines = ["".join(run.text for run in line).strip() for line in plan[1]]
        aside = [line for line in lines if "(" in line or ")" in line]
        assert len(aside) == 1 and "(NOT CLICKBAIT)" in aside[0], (width, lines)
        checked += len(lines) > 1
    assert checked  # the title did break into lines somewhere


def test_only_colon_space_splits_the_title() -> None:
    whole = split_title("My 5:00 AM Routine")
    assert (whole.main, whole.sub) == ("My 5:00 AM Routine", "")
    parts = split_title("Ratio 16:9 Explained: Why It Matters")
    assert (parts.main, parts.sub) == ("Ratio 16:9 Explained", "Why It Matters")
    japanese = split_title("東京で一番おいしいラーメン\uff1a結果は意外: 本当")  # full-width colon
    assert (japanese.main, japanese.sub) == ("東京で一番おいしいラーメン", "結果は意外: 本当")
    assert split_title("Title: ") == TitleLines("Title", "")
    # ... but not between digits, as a Japanese input method writes times and ratios.
    assert split_title("朝\uff15\uff1a\uff10\uff10に起きる生活").sub == ""
    assert split_title("比率\uff11\uff16\uff1a\uff19で撮る理由").sub == ""
    assert split_title("朝活\uff1a\uff15時起き").sub == "\uff15時起き"


def test_a_line_of_invisible_characters_is_no_line() -> None:
    # Format characters and lone combining marks draw nothing; str.strip() keeps them.
    for invisible in ["\u200b", "\u00ad", "\u2060", "\u0301", "\u200b\u00a0\ufeff", "\x07"]:
        assert split_title(f"Hello: {invisible}") == TitleLines("Hello", "")
        assert split_title(f"{invisible}: Hello") == TitleLines("", "Hello")
        assert split_title(invisible) == TitleLines("", "")
    # ... but they stay inside visible words (a soft hyphen is a hyphenation point).
    assert split_title("Auto\u00admobile: e\u0301te\u0301") == TitleLines(
        "Auto\u00admobile", "e\u0301te\u0301"
    )


def test_a_title_too_long_for_the_frame_is_shortened_not_shrunk() -> None:
    rendered = render(title=LONG_TITLE, style_key="cinematic", images=[face()], seed=1)
    assert rendered.notes and "shortened" in rendered.notes[0]
    kept = rendered.notes[0].split('"')[1]
    assert kept.startswith("I Spent 30 Days")  # the hook and the number stay
    assert len(kept.split()) < len(LONG_TITLE.split())
    # Drawn at reading size: letters at least READING_SHARE of the frame height.
    title = [run for run in rendered.texts if run.kind in ("title", "emphasis")]
    ink_rows = max(run.mask.getbbox()[3] - run.mask.getbbox()[1] for run in title)
    assert ink_rows >= rendered.image.height * local.READING_SHARE
    short = render(title="I Tried 100 Coffee Shops", images=[face()], seed=1)
    assert short.notes == []


@pytest.mark.parametrize(
    ("title", "width", "kept"),
    [
        ("I Quit My $200K Job To Make Thumbnails Full Time", 24, "I Quit My $200K Job"),
        ("The Truth About Living On $10 A Day For A Month", 24, "Living On $10 A Day"),
        ("My Family Tried Living Off Grid For 30 Days", 24, "Off Grid For 30 Days"),
        ("You Will Not Believe What Happened In Tokyo Last Night", 24, "You Will Not Believe"),
        ("Best Budget Laptop - Tested For A Month", 24, "Best Budget Laptop"),
    ],
)
def test_a_shortened_title_is_one_phrase_that_keeps_its_numbers_whole(
    title: str, width: int, kept: str
) -> None:
    """`fits` here is a character count: what the renderer measures in pixels."""
    assert local.shorten(title, lambda text: len(text) <= width) == kept


@pytest.mark.parametrize(
    ("title", "lettered"),
    [
        ("NOOOOOOOOOOOOOOOO!!", "NOOOO!!"),
        ("AAAAAAAAAAAAAAAAAAAAAAHHHHHHHHHHHHH", "AAAAHHHH"),
        ("Sooooo Good!!!!!!", "Soooo Good!!!"),
        ("WHAT?!?! Bookkeeper Tries 1000000 Subscribers...", None),  # nothing stretched
    ],
)
def test_stretched_letters_are_squeezed_as_a_letterer_would(title: str, lettered: str) -> None:
    assert local.unstretched(title) == (lettered or title)


def test_a_screamed_word_is_lettered_large_and_the_sub_line_stays() -> None:
    """ "NOOOOOOOOOOOOOOOO!!" has no hyphenation point: it was set as one line a few per cent of
    the frame tall, and the sub-line was dropped as unreadable beside it."""
    rendered = render(title="NOOOOOOOOOOOOOOOO!!", subtitle="I Lost Everything", images=[face()])
    assert rendered.notes == [
        'The title was shortened to "NOOOO!!" to stay readable at small sizes.'
    ]
    assert [run.kind for run in rendered.texts].count("subtitle") >= 1
    # The words drawn, as set (the thumbnail check counts them: Thumbnail "drawn_text").
    assert rendered.words == ("NOOOO!!", "I Lost Everything")
    title = [run for run in rendered.texts if run.kind in ("title", "emphasis")]
    ink_rows = max(run.mask.getbbox()[3] - run.mask.getbbox()[1] for run in title)
    assert ink_rows >= 1.3 * rendered.image.height * local.READING_SHARE


def test_an_address_breaks_at_its_own_seams_never_with_a_hyphen() -> None:
    breaks = fonts._long_word_breaks("youtube.com/c/MyAwesomeChannelName")
    assert breaks and not any(breaks.values())  # "MYAWE-SOMECHANNEL" read as part of it
    assert not any(fonts._long_word_breaks("@SupercalifragilisticChannel").values())
    assert any(fonts._long_word_breaks("Supercalifragilisticexpialidocious").values())


def test_a_shortened_title_is_always_a_run_of_the_title_and_never_dangles() -> None:
    titles = [
        LONG_TITLE,
        "We Tried Every Coffee Shop In Lisbon For A Week",
        "Why Nobody Talks About This",
    ]
    for title in titles:
        for width in range(8, len(title)):
            kept = local.shorten(title, lambda text, width=width: len(text) <= width)
            assert f" {kept} " in f" {title} ", (title, width, kept)
            assert kept.split()[-1].lower() not in local._DANGLING or len(kept.split()) == 2


def test_the_generate_job_reports_a_shortened_title() -> None:
    generated = LocalRenderer().generate_image(
        ImageRequest(
            "",
            "16:9",
            "1K",
            "local",
            [face()],
            RenderSpec(title=LONG_TITLE, style_key="cinematic", seed=1),
        )
    )
    assert generated.notes and "shortened" in generated.notes[0]


def test_variations_differ_in_layout() -> None:
    first = render(title="I Tried 100 Coffee Shops", images=[face()], seed=1, variation=0)
    second = render(title="I Tried 100 Coffee Shops", images=[face()], seed=1, variation=1)
    width = first.image.width
    (a,), (b,) = first.faces, second.faces
    assert (a[0] + a[2]) / 2 > width / 2 > (b[0] + b[2]) / 2  # the face changes sides
    title_a = next(run for run in first.texts if run.kind == "title")
    title_b = next(run for run in second.texts if run.kind == "title")
    assert title_a.corner[0] < width / 2 < title_b.corner[0] + title_b.mask.width


def line_boxes(rendered: Rendered) -> list[tuple[int, int, int, int]]:
    """Each text run's ink box, px, in drawing order."""
    return [
        (
            run.corner[0] + ink[0],
            run.corner[1] + ink[1],
            run.corner[0] + ink[2],
            run.corner[1] + ink[3],
        )
        for run in rendered.texts
        if (ink := run.mask.getbbox())
    ]


def ink_box(rendered: Rendered) -> tuple[int, int, int, int]:
    """The box round every text run's ink, px."""
    edges = zip(*line_boxes(rendered), strict=True)
    return tuple(f(edge) for f, edge in zip((min, min, max, max), edges, strict=True))  # type: ignore[return-value]


@pytest.mark.parametrize("ratio", ["1:1", "9:16"])
def test_upright_variations_with_a_face_differ_in_layout(ratio: str) -> None:
    """Squares and Shorts put the text above the person; variations 0, 1 and 3 were the same
    picture (the person a few pixels to one side). Now consecutive variations move the person
    to another side or size, and the title's block with them."""
    rendered = [
        render(ratio=ratio, title="I Tried 100 Coffee Shops", images=[face()], seed=7, variation=v)
        for v in range(len(local.VARIANTS))
    ]
    width, height = rendered[0].image.size
    for i, a in enumerate(rendered):
        b = rendered[(i + 1) % len(rendered)]
        ((fa,), (fb,)) = a.faces, b.faces
        moved = abs((fa[0] + fa[2]) - (fb[0] + fb[2])) / 2
        resized = abs((fa[3] - fa[1]) - (fb[3] - fb[1])) / (fa[3] - fa[1])
        assert moved >= 0.12 * width or resized >= 0.12, (ratio, i, fa, fb)
        lines_a, lines_b = line_boxes(a), line_boxes(b)
        text_moved = max(
            max(abs(p - q) for p, q in zip(line_a, line_b, strict=True))
            for line_a, line_b in zip(lines_a, lines_b, strict=False)
        )
        assert text_moved >= 0.05 * min(width, height), (ratio, i, lines_a, lines_b)
    # Beside the person the title lines up on the far edge: variation 1 has the person on the
    # left and the title against the right margin, variation 3 the other way round.
    (left_face,), (right_face,) = rendered[1].faces, rendered[3].faces
    assert (
        (left_face[0] + left_face[2]) / 2
        < width * 0.42
        < width * 0.58
        < (right_face[0] + right_face[2]) / 2
    )
    assert width - ink_box(rendered[1])[2] < ink_box(rendered[1])[0]
    assert ink_box(rendered[3])[0] < width - ink_box(rendered[3])[2]
    for each in rendered:  # nothing on the face
        assert ink_box(each)[3] <= each.faces[0][1], ink_box(each)
    # Moved to one side, a pair keeps both faces in the frame (a Short's left face was cut).
    for variation in range(len(local.VARIANTS)):
        pair = render(
            ratio=ratio,
            title="Duo",
            images=[face(person=0), face(person=1)],
            seed=7,
            variation=variation,
        )
        for x0, _, x1, _ in pair.faces:
            assert 0.03 * width <= x0 < x1 <= 0.97 * width, (variation, pair.faces)


def test_a_new_seed_changes_the_picture_in_every_style() -> None:
    """An offline edit with `new_seed` ("a fresh random seed: new rays, bokeh, streaks and other
    random details", studio.job_types.edit) gave the same pixels in the clean-tech, documentary
    and minimal styles (nothing there used the seed), and in cinematic for 1 pair of seeds in 5."""
    for style_key in sorted(local._DESIGNS):
        pictures = {
            render(title="Second", style_key=style_key, seed=seed).image.tobytes()
            for seed in (3, 4, 36)  # cinematic's streak drew 3 and 4 the same
        }
        assert len(pictures) == 3, style_key


@pytest.mark.parametrize("style_key", sorted(local._DESIGNS))
def test_variations_without_a_face_differ_in_layout(style_key: str) -> None:
    """Without faces the text block is the layout: the four cinematic variations of "4K Test:
    Four Variations" were the same picture (text centred at the bottom in each)."""
    blocks = []
    for variation in range(len(local.VARIANTS)):
        rendered = render(
            title="4K Test",
            subtitle="Four Variations",
            style_key=style_key,
            seed=7,
            variation=variation,
        )
        blocks.append(ink_box(rendered))
    width, height = rendered.image.size
    for (i, a), (j, b) in itertools.combinations(enumerate(blocks), 2):
        moved = max(abs(p - q) for p, q in zip(a, b, strict=True))
        assert moved >= 0.05 * min(width, height), (style_key, i, j, a, b)


@pytest.mark.parametrize("ratio", ["16:9", "9:16"])
def test_text_free_variations_with_a_face_stand_it_in_different_places(ratio: str) -> None:
    """Without words the people are the layout: every text-free variation stood the face in the
    middle, so generating again with the same settings drew the same picture."""
    centres = []
    for variation in range(3):
        rendered = render(ratio=ratio, images=[face()], seed=3, variation=variation)
        (box,) = rendered.faces
        centres.append((box[0] + box[2]) / 2)
        assert box[0] >= 0 and box[2] <= rendered.image.width  # still inside the frame
    width = rendered.image.width
    apart = 0.08 if ratio == "16:9" else 0.06  # a Short's face nearly fills its width
    for a, b in itertools.combinations(centres, 2):
        assert abs(a - b) >= apart * width, centres


def test_a_custom_styles_reference_photo_shows_through_the_whole_frame() -> None:
    """A custom style (no built-in design) draws its first reference as the backdrop; the
    design's split panel covered a third of the frame opaquely, so over half the photo was gone
    behind the face. Two different photos must still differ under the panel."""
    coffee = Image.open(FIXTURES / "reference-coffee.jpg").convert("RGB")
    flipped = ImageOps.flip(coffee)
    strips = []
    for photo in (coffee, flipped):
        data = io.BytesIO()
        photo.save(data, "PNG", compress_level=1)
        rendered = render(
            images=[InputImage(data.getvalue(), "image/png", "reference")],
            colors=["#FF0044", "#111111", "#FFD400"],
            seed=5,
        )
        pixels = np.asarray(rendered.image.convert("L"), dtype=np.float32)
        strips.append(pixels[:, -pixels.shape[1] // 6 :])  # the right edge: always the panel
    assert np.abs(strips[0] - strips[1]).mean() > 6


def test_a_face_is_cut_out_and_placed_large() -> None:
    person = sample_cut_out()
    assert person.segmented
    alpha = np.asarray(person.image.getchannel("A"))
    height, width = alpha.shape
    assert alpha[: height // 10, : width // 10].mean() < 30  # the studio backdrop is gone
    fx0, fy0, fx1, fy1 = person.face
    assert alpha[fy0:fy1, fx0:fx1].mean() > 240  # the face is kept
    # The YouTube norm, 30-45 % of the frame; a square, with its text above, a little less.
    for ratio, low, high in (("16:9", 0.30, 0.45), ("9:16", 0.30, 0.45), ("1:1", 0.24, 0.30)):
        rendered = render(ratio=ratio, title="Big face", images=[face()], seed=2)
        (box,) = rendered.faces
        share = (box[3] - box[1]) / min(rendered.image.height, rendered.image.width * 1.05)
        assert low <= share <= high, (ratio, share)


def quit_my_job(ratio: str, style_key: str, variation: int) -> Rendered:
    """A two-line title with a sub-line beside the sample face."""
    return render(
        ratio=ratio,
        title="I Quit My $200K Job",
        subtitle="Was It Worth It?",
        style_key=style_key,
        images=[face()],
        seed=1,
        variation=variation,
    )


@pytest.mark.parametrize("ratio", ["5:4", "4:3"])
def test_in_narrow_landscapes_the_title_stays_clear_of_the_hair(ratio: str) -> None:
    """The text column ended at 55 % of the width, where a 5:4 frame's head already begins: the
    title's lines came within 0.09 face heights of the face (into the hair)."""
    for style_key in ("clean-tech", "minimal"):
        for variation in range(len(local.VARIANTS)):
            rendered = quit_my_job(ratio, style_key, variation)
            ((left, top, right, bottom),) = rendered.faces
            for run in rendered.texts:
                ink = run.mask.getbbox()
                x0, x1 = run.corner[0] + ink[0], run.corner[0] + ink[2]
                gap = left - x1 if x1 <= (left + right) / 2 else x0 - right
                assert gap >= 0.3 * (bottom - top), (style_key, variation, run.kind, gap)


@pytest.mark.parametrize("style_key", ["clean-tech", "cinematic", "documentary", "minimal"])
def test_a_square_keeps_room_for_a_title_and_its_sub_line_above_the_face(style_key: str) -> None:
    """With the 16:9 face share a square's text had the top 17 %: "I Quit My $200K Job" came
    out as "I Quit" and the sub-line was left out."""
    for variation in range(len(local.VARIANTS)):
        rendered = quit_my_job("1:1", style_key, variation)
        assert rendered.notes == [], (variation, rendered.notes)
        assert {run.kind for run in rendered.texts} >= {"title", "subtitle"}
        (box,) = rendered.faces
        lowest_text = max(run.corner[1] + run.mask.height for run in rendered.texts)
        assert lowest_text <= box[1], (variation, lowest_text, box)  # nothing on the face


@pytest.mark.parametrize(
    ("style", "ratio", "pose"),
    [
        ("bold-gaming", "16:9", ""),
        ("cinematic", "16:9", "leaning tilt"),
        ("vlog", "9:16", "action"),
        ("minimal", "1:1", ""),
    ],
)
def test_only_the_part_of_a_cut_out_that_reaches_the_frame_is_drawn(
    monkeypatch, style: str, ratio: str, pose: str
) -> None:
    """A large face runs off the frame; resampling only the part that can reach the canvas
    (with its outline, glow and tilt) draws the same picture as resampling all of it."""
    sizes: list[tuple[int, int]] = []  # of the RGBA cut-outs resampled (PIL's or OpenCV's)
    resize = Image.Image.resize
    scale = cv2.resize

    def spy(image: Image.Image, size, *args, **kwargs):  # type: ignore[no-untyped-def]
        if image.mode == "RGBA":
            sizes.append(tuple(size))
        return resize(image, size, *args, **kwargs)

    def cv2_spy(source: np.ndarray, *args: Any, **kwargs: Any) -> np.ndarray:
        scaled = scale(source, *args, **kwargs)
        if scaled.ndim == 3 and scaled.shape[2] == 4:
            sizes.append((scaled.shape[1], scaled.shape[0]))
        return scaled

    spec: dict[str, Any] = {"title": "Big face", "style_key": style, "pose": pose, "seed": 3}
    monkeypatch.setattr(Image.Image, "resize", spy)
    monkeypatch.setattr(cv2, "resize", cv2_spy)
    cropped = render(ratio=ratio, images=[face()], **spec)
    drawn = list(sizes)
    monkeypatch.setattr(local, "_cutout_window", lambda size, *_: (0, 0, *size))
    sizes.clear()
    whole = render(ratio=ratio, images=[face()], **spec)
    assert cropped.faces == whole.faces
    difference = np.abs(
        np.asarray(cropped.image, dtype=np.int16) - np.asarray(whole.image, dtype=np.int16)
    )
    # Resampling rounding at most (a turned cut-out: bicubic about a sub-pixel centre), which
    # can move a pixel of the outline's one-pixel anti-aliased edge across the shape's threshold.
    assert (difference.max(axis=2) > 3).sum() <= 8, np.argwhere(difference.max(axis=2) > 3)
    frame = cropped.image.size
    assert max(h for _, h in sizes) > frame[1]  # the whole cut-out is taller than the frame
    assert all(h <= frame[1] * 1.5 for _, h in drawn), drawn


@pytest.mark.parametrize("radius", [3, 60])
def test_an_outline_grows_the_shape_by_its_radius_with_a_smooth_edge(radius: int) -> None:
    """The cut-out's outline (`fonts.dilated`): a soft-edged disc of radius 200 grows to one of
    radius 200 + `radius`, round (not square), its own soft edge kept inside."""
    disc = Image.new("L", (800, 800))
    ImageDraw.Draw(disc).ellipse((200, 200, 600, 600), fill=255)
    disc = disc.filter(ImageFilter.GaussianBlur(2))
    grown = np.asarray(fonts.dilated(disc, radius)).astype(int)
    row = grown[400]
    covered = np.flatnonzero(row >= 128)
    assert abs((covered[-1] - covered[0] + 1) / 2 - (200 + radius)) <= 1.5
    diagonal = np.array([grown[400 + d, 400 + d] for d in range(400)])
    reach = np.flatnonzero(diagonal >= 128)[-1] * 2**0.5  # round: as far along the diagonal
    assert abs(reach - (200 + radius)) <= 3, reach
    beyond = np.asarray(disc)[400] == 0  # outside the disc's own soft edge
    assert ((row > 0) & (row < 255) & beyond).sum() <= 2  # a one-pixel anti-aliased edge
    assert (grown >= np.asarray(disc)).all()


def test_a_text_outline_round_a_point_is_a_whole_disc() -> None:
    """An emoji's outline (`fonts._dilate`) round its pointed tip at 4K: every pixel within the
    radius is covered. A union of 16 shifted copies left gaps between the copies, drawn as a
    comb of spikes round a flame's tip."""
    dot = Image.new("L", (9, 9))
    dot.putpixel((4, 4), 255)
    radius = 40
    grown = np.asarray(fonts._dilate(dot, radius))
    centre = 4 + radius
    ys, xs = np.mgrid[: grown.shape[0], : grown.shape[1]]
    inside = (ys - centre) ** 2 + (xs - centre) ** 2 <= (radius - 1) ** 2
    assert (grown[inside] >= 128).all(), (grown[inside] < 128).sum()
    assert (grown[~((ys - centre) ** 2 + (xs - centre) ** 2 <= (radius + 2) ** 2)] == 0).all()


@pytest.mark.parametrize("tilt", [0, 6])
def test_the_outline_goes_round_the_crown(tilt: float) -> None:
    """The cut-out keeps a transparent margin above the person where the photo has room, so the
    outline runs round the crown instead of along a flat cut at the crop's top edge; at the
    photo's bottom edge, where the body runs off the photo, the crop still ends."""
    cut = sample_cut_out()
    alpha = np.asarray(cut.image.getchannel("A"))
    face_height = cut.face[3] - cut.face[1]
    crown = int(np.flatnonzero((alpha > 127).any(axis=1))[0])
    assert crown >= 0.15 * face_height  # transparent rows above the head
    assert (alpha[-1] > 127).any()  # the body reaches the crop's bottom, as the photo's
    canvas = Image.new("RGB", (1600, 1600), (0, 0, 0))
    design = local._DESIGNS["bold-gaming"]
    pal = local._palette([], design.default_colors)
    placed = 300
    box = local._place_cutout(canvas, cut, 800, placed, 800, design, pal, tilt)
    scale = placed / face_height
    top = box[1] - round((cut.face[1] - crown) * scale)  # the crown on the canvas
    outline = design.face_ring(pal)
    assert outline is not None
    ring = np.abs(np.asarray(canvas).astype(int) - np.array(outline)).sum(axis=2) < 60
    width = round(placed * 0.045)
    above = ring[top - width + 2 : top, 760:840]  # over the middle of the head
    assert above.any(axis=1).all(), np.flatnonzero(ring[: top + 5, 800])


def test_contrast_is_the_worst_words_when_a_title_runs_onto_a_dark_shape() -> None:
    """Dark letters: "Desk Setup" on a pale background, "Tour" on a dark disc (the Minimal
    style's "Minimal Desk Setup Tour" in Forest Calm). The title is as readable as "Tour", not
    as most of its letters are."""
    mask = Image.new("L", (1800, 200))
    font = fonts.get_font(fonts.font_chain()[0], 180)
    ImageDraw.Draw(mask).text((0, 0), "Desk Setup Tour", font=font, fill=255)
    mask = mask.crop(mask.getbbox())
    words = local._words(mask)
    tour = words[-1][0]  # where "Tour" starts: the last word
    assert words[0][0] == 0 and tour > 900, words
    corner = (100, 550)
    image = Image.new("RGB", (2200, 900), (236, 242, 236))
    disc = corner[0] + tour - 30
    ImageDraw.Draw(image).ellipse((disc, 200, disc + 1200, 1400), fill=(27, 67, 50))
    image.paste((13, 34, 24), corner, mask)
    assert local.measure_contrast(image, mask, corner) < 1.6
    pale = mask.crop((0, 0, tour - 10, mask.height))
    assert local.measure_contrast(image, pale, corner) > 10  # "Desk Setup" alone reads well


def test_a_turned_cut_out_is_drawn_from_what_turning_brings_into_the_frame() -> None:
    """The window of a cut-out turned 30 degrees about a point far from the frame reaches past
    the frame's own area (plus the outline's reach): the corners turn in from outside it."""
    straight = local._cutout_window((6000, 6000), (-2000, -2000), (1000, 1000), 10, 0, (0, 0))
    turned = local._cutout_window((6000, 6000), (-2000, -2000), (1000, 1000), 10, 30, (0, 0))
    assert straight == (1993, 1993, 3007, 3007)
    assert turned[0] < 1200 and turned[1] < 1200 and turned[2] > 3700 and turned[3] > 3700


def test_photos_of_one_person_are_one_cut_out_and_people_keep_their_order() -> None:
    photo = Image.open(FACE_PHOTO).convert("RGB")
    blurred = io.BytesIO()
    photo.filter(ImageFilter.GaussianBlur(4)).save(blurred, "JPEG")
    one = render(title="Me", images=[face(blurred.getvalue(), 0), face(None, 0)], seed=1)
    assert len(one.faces) == 1
    assert cutout.photo_score(photo, cutout.detect_face(photo)) > cutout.photo_score(
        Image.open(blurred), cutout.detect_face(Image.open(blurred).convert("RGB"))
    )
    mirrored = io.BytesIO()
    photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(mirrored, "JPEG")
    two = render(title="Us", images=[face(None, 0), face(mirrored.getvalue(), 1)], seed=1)
    assert len(two.faces) == 2
    assert two.faces[0][0] < two.faces[1][0]  # the first chosen face stands left


def test_a_face_photo_without_a_face_does_not_shrink_the_people_cut_out() -> None:
    """A photo with no person chosen as a face (the coffee reference) beside two real faces: the
    two are cut out exactly as without it (same face boxes: size and place), it is left out, and
    the job's notes say so. All three were drawn as small round tiles, as the layout sized for
    cut-outs only when every person had one."""
    flipped = io.BytesIO()
    Image.open(FACE_PHOTO).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(flipped, "JPEG")
    coffee = (FIXTURES / "reference-coffee.jpg").read_bytes()
    assert cutout.detect_face(Image.open(io.BytesIO(coffee)).convert("RGB")) is None
    for ratio in ("16:9", "9:16"):
        people = [face(None, 0), face(flipped.getvalue(), 2)]
        alone = render(ratio, title="Me Vs My Twin", images=people, seed=4)
        mixed = render(
            ratio,
            title="Me Vs My Twin",
            images=[people[0], face(coffee, 1), people[1]],
            seed=4,
        )
        assert len(alone.faces) == 2 and mixed.faces == alone.faces, (ratio, mixed.faces)
        assert alone.faces[0][3] - alone.faces[0][1] > 0.3 * min(alone.image.size)  # large
        assert not any("left out" in note for note in alone.notes)
        assert any("1 of the 3 face photos was left out" in note for note in mixed.notes)


def test_a_face_photo_is_measured_and_cut_out_once_for_all_variations(monkeypatch) -> None:
    detected: list[tuple[int, int]] = []
    cut: list[tuple[int, int]] = []

    def counting_detect(photo: Image.Image):
        detected.append(photo.size)
        return cutout.detect_face(photo)

    def counting_cut_out(photo: Image.Image, face=None):
        cut.append(photo.size)
        return cutout.cut_out(photo, face)

    monkeypatch.setattr(local, "detect_face", counting_detect)
    monkeypatch.setattr(local, "cut_out", counting_cut_out)
    monkeypatch.setattr(local, "_face_photos", {})
    # The sample photo at 256 px and its mirror image (faces still found and cut out, as in
    # test_cut_outs_on_several_threads_match_one_at_a_time): what is counted is how often each
    # photo is measured and cut out, not the cut-out's detail, and each costs a quarter of the
    # 512 px photo's CPU.
    small = Image.open(FACE_PHOTO).convert("RGB").resize((256, 256), Image.Resampling.LANCZOS)
    photos = []
    for photo in (small, small.transpose(Image.Transpose.FLIP_LEFT_RIGHT)):
        encoded = io.BytesIO()
        photo.save(encoded, "JPEG")
        photos.append(encoded.getvalue())
    renders = [
        render(title="Four", images=[face(photos[0])], seed=3, variation=i) for i in range(4)
    ]
    assert len(detected) == len(cut) == 1
    assert all(len(rendered.faces) == 1 for rendered in renders)
    other = render(title="Other", images=[face(photos[1])], seed=3)
    assert len(detected) == len(cut) == 2  # another photo is measured for itself
    assert len(other.faces) == 1


def test_cut_outs_on_several_threads_match_one_at_a_time() -> None:
    """The worker renders on several threads; OpenCV's cascade and network keep per-call state,
    so each thread has its own (a shared net let one thread's forward pass read another's input,
    and once corrupted the heap: `malloc(): unaligned tcache chunk detected`). And one photo
    gives one cut-out whichever thread makes it, however many it made before (grabCut's random
    start is seeded)."""
    from concurrent.futures import ThreadPoolExecutor

    from studio import saliency

    # The sample photo at 256 px (its face still found and segmented): what is checked is which
    # objects each thread uses and that each photo gives one cut-out, not the cut-out's detail,
    # and a cut-out costs half the CPU of the 512 px photo's.
    original = Image.open(FACE_PHOTO).convert("RGB").resize((256, 256), Image.Resampling.LANCZOS)
    photos = [original, original.transpose(Image.Transpose.FLIP_LEFT_RIGHT)] * 3
    expected = [cutout.cut_out(photo) for photo in photos[:2]] * 3  # made one at a time
    together = threading.Barrier(6)  # six tasks on six threads at once

    def objects_of_this_thread(_: int) -> tuple[object, ...]:
        together.wait(timeout=10)
        return (cutout._net(), cutout._cascade(), saliency._face_cascade())

    with ThreadPoolExecutor(max_workers=6) as pool:
        objects = list(pool.map(objects_of_this_thread, range(6)))
        results = list(pool.map(cutout.cut_out, photos))
    for kind in range(3):  # no two threads share one
        assert len({id(found[kind]) for found in objects}) == len(objects)
    for got, want in zip(results, expected, strict=True):
        assert got is not None and want is not None
        assert got.face == want.face
        assert got.image.tobytes() == want.image.tobytes()


def test_watermark_is_drawn_and_clear_of_the_duration_badge() -> None:
    plain = Image.new("RGB", (1280, 720), (90, 120, 150))
    marked = np.asarray(burn_watermark(plain)).astype(int)
    changed = np.abs(marked - np.asarray(plain).astype(int)).sum(axis=2) > 60
    height, width = changed.shape
    assert changed.sum() > 0.002 * height * width  # the watermark is in the pixels
    # YouTube's duration badge: the bottom-right corner (about 20 % wide, 15 % high).
    assert not changed[int(height * 0.85) :, int(width * 0.8) :].any()
    assert changed[int(height * 0.85) :, : width // 2].sum() == changed.sum()
    # Readable on any picture: its letters against what is around them in its box, on a
    # yellow stripe and on white (1.33 and 1.19 with the outline alone).
    for colour in ((255, 212, 0), (250, 250, 250)):
        plain = Image.new("RGB", (1280, 720), colour)
        marked = np.asarray(burn_watermark(plain))
        changed = np.abs(marked.astype(int) - np.asarray(plain).astype(int)).sum(axis=2) > 60
        rows, columns = np.nonzero(changed)
        box = local._luminance(
            marked[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]
        )
        assert local.contrast_ratio(np.percentile(box, 97), np.median(box)) >= 3, colour


def badge_zones_as_the_check_sees_them(width: int, height: int) -> list[saliency.Rect]:
    """Where the thumbnail check puts YouTube's duration badge on a `width` x `height` image,
    px: its badge rect at each display size, mapped back through the letterbox."""
    zones = []
    for slot in saliency.DISPLAY_SIZES:
        place = saliency.Placement.of(width, height, slot)
        x0, y0, x1, y1 = saliency.badge_rect(slot)
        zones.append(
            (
                (x0 - place.left) / place.width * width,
                (y0 - place.top) / place.height * height,
                (x1 - place.left) / place.width * width,
                (y1 - place.top) / place.height * height,
            )
        )
    return zones


@functools.cache
def iphone_vs_pixel(variation: int) -> Rendered:
    """The seeded "iPhone vs Pixel" demo in Clean Tech beside the sample face, rendered once per
    test process: two tests check the badge on variations 1 and 3, neither changes it."""
    return render(
        title="iPhone vs Pixel",
        subtitle="The Honest Review",
        style_key="clean-tech",
        variation=variation,
        images=[face()],
    )


ARABIC_TITLE = "أفضل ١٠ مطاعم في دبي"  # noqa: RUF001 (Arabic-Indic digits)
ARABIC_SUB = "لن تصدق رقم 1"


@pytest.mark.parametrize(
    ("spec", "with_face"),
    [
        *(
            (
                {
                    "title": "iPhone vs Pixel",
                    "subtitle": "The Honest Review",
                    "style_key": "clean-tech",
                    "variation": variation,
                },
                True,
            )
            for variation in range(4)
        ),
        *(
            (
                {
                    "title": ARABIC_TITLE,
                    "subtitle": ARABIC_SUB,
                    "style_key": "bold-gaming",
                    "variation": variation,
                },
                with_face,
            )
            for variation, with_face in ((1, True), (3, True), (3, False))
        ),
        ({"title": "This Changed Everything", "style_key": "cinematic", "variation": 3}, True),
        ({"title": "Focus test", "style_key": "clean-tech", "variation": 3}, False),
    ],
)
def test_no_text_runs_under_youtubes_duration_badge(spec: dict, with_face: bool) -> None:
    """YouTube draws the video length over the bottom-right corner, larger in share the smaller
    the thumbnail (168x94 in the sidebar). Right-aligned text beside a face on the left ran
    into it: the badge hid "Review" of "The Honest Review" (the seeded iPhone vs Pixel demo),
    an Arabic sub-line's plate and the last word of a cinematic title. No run, plate included,
    may touch the badge at any size the thumbnail check measures."""
    if spec["title"] == "iPhone vs Pixel" and with_face:  # the shared render has the face
        rendered = iphone_vs_pixel(spec["variation"])
    else:
        rendered = render(images=[face()] if with_face else [], **spec)
    width, height = rendered.image.size
    zones = badge_zones_as_the_check_sees_them(width, height)
    assert {run.kind for run in rendered.texts} >= (
        {"title", "subtitle"} if spec.get("subtitle") else {"title"}
    )
    for run in rendered.texts:
        box = run.box
        assert box is not None
        for zone in zones:
            apart = box[2] <= zone[0] or box[0] >= zone[2] or box[3] <= zone[1]
            assert apart or box[1] >= zone[3], (run.kind, box, zone)
    if with_face:  # the words still keep clear of the person
        people = np.asarray(rendered.people) > 0
        for x0, y0, x1, y1 in line_boxes(rendered):
            assert people[y0:y1, x0:x1].mean() < 0.02, (x0, y0, x1, y1)


@pytest.mark.parametrize("variation", [1, 3])
def test_the_thumbnail_check_finds_no_text_under_the_badge(variation: int) -> None:
    """The product's own check, at its three sizes, on the seeded demo that it flagged
    ("iPhone vs Pixel", 168x94: 36-48 % of the badge over the sub-line)."""
    analysis = saliency.analyse(encode_png(iphone_vs_pixel(variation).image))
    assert analysis.lines  # the check reads the text...
    for size in saliency.readability(analysis):  # ...and finds none of it under the badge
        assert size["checks"]["badge"]["verdict"] == "clear", size


def test_a_sub_lines_plate_is_recorded_with_its_run() -> None:
    """`Rendered.texts` gave a boxed sub-line's fill mask only: its plate, reaching past the
    letters, went unrecorded, so nothing measured it under the badge."""
    rendered = render(title=ARABIC_TITLE, subtitle=ARABIC_SUB, style_key="bold-gaming")
    image = np.asarray(rendered.image).astype(int)
    (sub,) = [run for run in rendered.texts if run.kind == "subtitle"]
    ink = line_boxes(Rendered(rendered.image, [], [sub], []))[0]
    box = sub.box
    assert box is not None
    assert box[0] < ink[0] - 5 and box[2] > ink[2] + 5 and box[1] < ink[1] and box[3] > ink[3]
    middle = (box[1] + box[3]) // 2
    plate = image[middle, box[0] + 3]
    assert np.abs(image[middle, box[2] - 4] - plate).sum() < 30  # the plate, edge to edge
    assert np.abs(image[middle, box[0] - 8] - plate).sum() > 60  # and the picture outside it


@pytest.mark.parametrize("ratio", ["16:9", "9:16"])
def test_a_short_title_alone_is_large_and_near_the_middle(ratio: str) -> None:
    """ "Focus test" in Bold Gaming without a face: the "top" variation set it on one line in
    the top third and left the rest of the frame to an empty sunburst. Without a face the
    words are the picture: in every variation the block's centre is within 12 % of the frame's
    height of its middle, and the block is at least 45 % of a landscape frame's height (70 %
    of a Short's width: there the words are as wide as they can be)."""
    for variation in range(len(local.VARIANTS)):
        rendered = render(
            ratio, title="Focus test", style_key="bold-gaming", variation=variation, seed=18
        )
        width, height = rendered.image.size
        left, top, right, bottom = ink_box(rendered)
        assert abs((top + bottom) / 2 - height / 2) <= 0.12 * height, (variation, top, bottom)
        if width > height:
            assert bottom - top >= 0.45 * height, (variation, top, bottom)
        else:
            assert right - left >= 0.7 * width, (variation, left, right)


def test_accent_stripes_leave_out_the_corner_the_words_reach() -> None:
    """Bold Gaming's stripes in the bottom-left corner were drawn whatever the words: a
    text-only "bottom" variation, set bottom left (clear of the badge), ran "TEST" over them.
    Each corner's set is left out where the words' box reaches it."""

    def striped(avoid: tuple[int, int, int, int] | None) -> np.ndarray:
        image = Image.new("RGB", (1376, 768))
        local._slashes(image, (255, 212, 0), random.Random(1), avoid)
        return np.asarray(image)[..., 0] > 0

    both = striped(None)
    assert both[600:, :400].any() and both[:170, -400:].any()
    low_left = striped((100, 300, 900, 700))
    assert not low_left[600:, :400].any() and low_left[:170, -400:].any()
    high_right = striped((700, 60, 1300, 400))
    assert low_left.sum() and high_right[600:, :400].any() and not high_right[:170, -400:].any()


@pytest.mark.parametrize(
    ("ratio", "source", "expected"),
    [
        ("16:9", (1376, 768), (1280, 720)),
        ("16:9", (5504, 3072), (1280, 720)),
        ("9:16", (1536, 2752), (1080, 1920)),
        ("9:16", (768, 1376), (768, 1365)),  # never upscaled beyond the source
        ("1:1", (1024, 1024), (1024, 1024)),
        ("1:1", (2048, 2048), (1080, 1080)),
        ("4:3", (2400, 1792), (1280, 960)),
        ("21:9", (1584, 672), (1280, 549)),
    ],
)
def test_youtube_download_size(
    ratio: str, source: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert youtube_size(ratio, source) == expected


def test_youtube_download_is_under_2_mb_even_for_noise() -> None:
    noise = Image.fromarray(np.random.default_rng(1).integers(0, 255, (2752, 1536, 3), np.uint8))
    data, width, height = youtube_jpeg(noise, "9:16")
    assert (width, height) == (1080, 1920)
    assert len(data) < YOUTUBE_MAX_BYTES


def _glyph(font: ImageFont.FreeTypeFont, text: str) -> bytes:
    image = Image.new("L", (200, 200))
    ImageDraw.Draw(image).text((20, 150), text, font=font, fill=255, anchor="ls")
    return image.tobytes()


@pytest.mark.parametrize(
    "text", ["Top 10", "日本語のラーメン", "العربية", "हिन्दी", "Привет Ελλάδα", "ไทย"]
)
def test_no_character_is_drawn_as_tofu(text: str) -> None:
    if fonts.font_chain()[0].path is None or "Noto" not in (fonts.font_chain()[0].path or ""):
        pytest.skip("Noto fonts are not installed (scripts/system-deps.sh)")
    for run, face_ in fonts.split_runs(text):
        font = fonts.get_font(face_, 100)
        notdef = _glyph(font, "\U0010fffd")  # a private-use code point: the font's .notdef box
        for char in run:
            if not char.isspace():
                assert ord(char) in fonts.coverage(face_), (char, face_.path)
                assert _glyph(font, char) != notdef, (char, face_.path)


def test_4k_backgrounds_are_drawn_at_4k() -> None:
    big = render(size="4K", style_key="retro-pop", seed=5).image
    small = render(size="1K", style_key="retro-pop", seed=5).image
    upscaled = small.resize(big.size, Image.Resampling.BICUBIC)

    def sharpness(image: Image.Image) -> float:
        crop = image.crop((0, 0, 1400, 800)).convert("L")
        return float(cv2.Laplacian(np.asarray(crop), cv2.CV_64F).var())

    assert sharpness(big) > 2 * sharpness(upscaled)


def test_each_variation_of_a_job_gets_its_own_index() -> None:
    from studio.job_types.generate import render_spec

    specs = [render_spec({"title": "A: B"}, seed=9, variation=index) for index in range(3)]
    assert [spec.variation for spec in specs] == [0, 1, 2]
    assert (specs[0].title, specs[0].subtitle) == ("A", "B")


@pytest.mark.parametrize(
    ("ratio", "title"),
    [
        ("1:1", "Learn Python in 30 Minutes"),
        ("4:5", "Learn Python in 30 Minutes"),
        ("9:16", "Learn Python in 30 Minutes"),
        ("16:9", "WOW"),
        ("16:9", "I Survived 100 Days in Minecraft Hardcore"),
        ("4:3", "Tiniest Hotel Room"),
    ],
)
def test_the_minimal_disc_keeps_clear_of_the_words(ratio: str, title: str, monkeypatch) -> None:
    """The minimal style's disc behind the face never runs under the words, above or beside
    them: type half on a disc and half off it read as two words (a creator's walk-through;
    a review counted 4,500 letter pixels of "WOW" on it at 16:9)."""
    discs: list[tuple[float, float, float, float]] = []
    fill = local._fill

    def spy(image: Image.Image, colour: Any, **shapes: Any) -> None:
        discs.extend(e for e in shapes.get("ellipses", ()) if e[2] - e[0] > image.height * 0.3)
        fill(image, colour, **shapes)

    monkeypatch.setattr(local, "_fill", spy)
    rendered = render(ratio, images=[face()], title=title, style_key="minimal")
    assert len(discs) == 1
    left, top, right, bottom = discs[0]
    cx, cy, r = (left + right) / 2, (top + bottom) / 2, (right - left) / 2
    on_disc = 0
    for run in rendered.texts:
        ys, xs = np.nonzero(np.asarray(run.mask) > 128)
        xs, ys = xs + run.corner[0], ys + run.corner[1]
        on_disc += int(((xs - cx) ** 2 + (ys - cy) ** 2 < r * r).sum())
    assert on_disc == 0, (ratio, title, on_disc)


@pytest.mark.parametrize(
    ("ratio", "title", "variation"),
    [
        ("9:16", "I Tried 100 Coffee Shops", 0),
        ("9:16", "The Truth: What Nobody Tells You", 2),
        ("1:1", "The Truth: What Nobody Tells You", 0),
        ("4:3", "The Truth: What Nobody Tells You", 0),
    ],
)
def test_no_letter_touches_the_head(ratio: str, title: str, variation: int) -> None:
    """`_layout` leaves room for an average head: the sample photo's big hair reached into the
    last line in Shorts and squares, and into the sub-line in 4:3. No letter now comes within
    1 % of the frame height of the drawn head (down to a quarter face below the chin; words may
    cross the shoulders), and the title is not shortened for it."""
    lines = split_title(title)
    rendered = render(
        ratio,
        images=[face()],
        title=lines.main,
        subtitle=lines.sub,
        style_key="minimal",
        seed=7 + variation,
        variation=variation,
    )
    assert rendered.notes == []
    assert rendered.people is not None
    margin = round(rendered.image.height * 0.01)
    kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    near_people = cv2.dilate(np.asarray(rendered.people), kernel) > 127
    ((_, face_top, _, face_bottom),) = rendered.faces
    near_people[round(face_bottom + 0.25 * (face_bottom - face_top)) :] = False
    for run in rendered.texts:
        letters = np.zeros(near_people.shape, bool)
        x, y = run.corner
        ink = np.asarray(run.mask) > 127
        letters[y : y + ink.shape[0], x : x + ink.shape[1]] = ink[
            : near_people.shape[0] - y, : near_people.shape[1] - x
        ]
        assert not (letters & near_people).any(), (run.kind, int((letters & near_people).sum()))


def test_beside_the_words_the_people_make_room_before_the_title_shrinks() -> None:
    """In 4:3 the sample's hair reached the words; pulling the text block in (or up) alone
    shrank the title to 0.35 of the frame height. Moving the person up to 8 % of the width
    towards the edge (the face stays in the frame) keeps it at 0.42, clear of the head."""
    lines = split_title("The Truth: What Nobody Tells You")
    rendered = render(
        "4:3", images=[face()], title=lines.main, subtitle=lines.sub, style_key="minimal", seed=7
    )
    (title,) = [run for run in rendered.texts if run.kind == "title"]
    ink = title.mask.getbbox()
    assert ink is not None
    assert (ink[3] - ink[1]) / rendered.image.height >= 0.4
    ((*_, right, _),) = rendered.faces
    assert right <= rendered.image.width  # the face whole


@pytest.mark.parametrize("style_key", ["cinematic", "minimal"])
def test_above_the_people_they_move_down_before_the_title_shrinks(style_key: str) -> None:
    """A head one occupancy cell (8 px) below the words' edge still counted as touching them,
    but lowering the people by less than a cell was not tried, so the text block was raised
    instead: in 4:5 the title came out at 0.21 of the frame height where moving the person
    down keeps it at 0.23."""
    lines = split_title("I Quit My $200K Job: Was It Worth It?")
    rendered = render(
        "4:5",
        images=[face()],
        title=lines.main,
        subtitle=lines.sub,
        style_key=style_key,
        seed=9,
        variation=2,
    )
    (title,) = [run for run in rendered.texts if run.kind == "title"]
    ink = title.mask.getbbox()
    assert ink is not None
    assert (ink[3] - ink[1]) / rendered.image.height >= 0.225
    assert rendered.notes == []


def test_a_group_beside_the_words_gets_the_block_raised_or_narrowed() -> None:
    """When the people cannot move far enough (a group of three fills the frame's side), the
    text block is raised above the heads or narrowed beside them: without the raise three heads
    in 5:4 reached the words; without the narrowing two people in 5:4 made the title shorten."""
    lines = split_title("I Quit My $200K Job: Was It Worth It?")

    def group(people: int, style_key: str) -> Rendered:
        return render(
            "5:4",
            images=[face(person=i) for i in range(people)],
            title=lines.main,
            subtitle=lines.sub,
            style_key=style_key,
            seed=9,
            variation=2,
        )

    three = group(3, "documentary")
    assert three.people is not None
    near_people = np.asarray(three.people) > 127
    chin = max(bottom + 0.25 * (bottom - top) for _, top, _, bottom in three.faces)
    near_people[round(chin) :] = False
    for run in three.texts:
        x, y = run.corner
        ink = np.asarray(run.mask) > 127
        assert not (near_people[y : y + ink.shape[0], x : x + ink.shape[1]] & ink).any()
    two = group(2, "bold-gaming")
    assert two.notes == []


FOREST_CALM = ["#1B4332", "#40916C", "#B7E4C7", "#F1FAEE", "#FFB703"]


def near(image: Image.Image, colour: tuple[int, int, int], box: tuple[int, int, int, int]) -> int:
    """How many pixels inside `box` are within 12 (per channel) of `colour`."""
    pixels = np.asarray(image.crop(box)).astype(int)
    return int((np.abs(pixels - colour).max(axis=2) <= 12).sum())


def grown(mask: Image.Image, size: int) -> np.ndarray:
    """Where `mask` is non-zero within a `size` x `size` square: Pillow's MaxFilter(size) > 0,
    as an OpenCV dilation (MaxFilter(25) took 0.6 s on a 1K frame, this a millisecond)."""
    ink = (np.asarray(mask) > 0).astype(np.uint8)
    return cv2.dilate(ink, np.ones((size, size), np.uint8)).astype(bool)


def test_the_minimal_disc_stays_clear_of_a_text_only_title() -> None:
    """Without a face the minimal style's disc was placed as if no words were there: "2027"
    in the palette's dark green sat on the dark-green disc, outlined to a thin line. Now the
    words' planned box moves the disc in every variation, so no line has disc behind it."""
    disc = local._palette(FOREST_CALM, ()).primary
    for variation in range(len(local.VARIANTS)):
        rendered = render(
            title="Minimal Desk Setup Tour 2027",
            subtitle="Budget Edition",
            colors=FOREST_CALM,
            style_key="minimal",
            seed=11 + variation,
            variation=variation,
        )
        image = np.asarray(rendered.image).astype(int)
        is_disc = np.abs(image - disc).max(axis=2) <= 12
        assert is_disc.sum() > 50_000  # a disc is drawn
        letters = Image.new("L", rendered.image.size)
        for run in rendered.texts:
            letters.paste(run.mask, run.corner, run.mask)
        # Round the letters (their outline and shadow included): no disc behind them.
        near_letters = grown(letters, 9)
        outside = grown(letters, 25)
        ring = outside & ~near_letters
        assert (is_disc & ring).sum() < 0.01 * ring.sum(), variation


def test_a_short_last_word_stays_on_the_line_before_it() -> None:
    """ "EPISODE / 2": the side-aligned text-only layouts broke a short title before its number
    for slightly larger type. Every variation now draws the title on one line."""
    for variation in range(len(local.VARIANTS)):
        rendered = render(
            title="Episode 2", subtitle="the grind", style_key="bold-gaming", variation=variation
        )
        titles = [
            box
            for run, box in zip(rendered.texts, line_boxes(rendered), strict=True)
            if run.kind != "subtitle"
        ]
        assert len(titles) >= 2  # "EPISODE" and its emphasised "2"
        assert max(top for _, top, _, _ in titles) < min(bottom for _, _, _, bottom in titles)


def test_bold_gamings_top_right_stripes_are_whole_and_give_way_to_the_words() -> None:
    """The top-right stripes started past the frame's right edge (a clipped triangle on every
    render); now they are the bottom-left ones turned half a turn, left out where the words are."""
    accent = local._palette([], local._DESIGNS["bold-gaming"].default_colors).accent
    centred = render(title="Episode 2", style_key="bold-gaming", variation=0)
    width, height = centred.image.size
    corner = np.asarray(centred.image.crop((width // 2, 0, width, height * 3 // 10))).astype(int)
    columns = np.nonzero((np.abs(corner - accent).max(axis=2) <= 12).any(axis=0))[0]
    assert columns.size and width // 2 + columns.min() < width * 0.85
    right = render(
        title="I Tried 100 Coffee Shops",
        style_key="bold-gaming",
        images=[face()],
        seed=8,
        variation=1,
    )
    assert ink_box(right)[2] > width * 0.85  # the words on the right, at the top
    assert ink_box(right)[1] < height * 0.3
    letters = Image.new("L", right.image.size)
    for run in right.texts:
        letters.paste(run.mask, run.corner, run.mask)
    away = ~grown(letters, 31)  # off the letters
    pixels = np.asarray(right.image).astype(int)
    stripes = (np.abs(pixels - accent).max(axis=2) <= 12) & away
    assert stripes[: height * 3 // 10, width // 2 :].sum() < 50
    assert stripes[height * 7 // 10 :, : width // 3].sum() > 500  # the bottom-left ones stay


def test_a_text_only_side_layout_keeps_a_short_title_large() -> None:
    """Without a face the side-aligned variations put the words in a block 62% of the width,
    and "EPISODE 2" came out 40% smaller than centred. The block is 74% wide: the title keeps
    at least 70% of its centred height in every style."""
    for style in ("bold-gaming", "minimal", "vlog-bright"):
        heights = []
        for variation in range(len(local.VARIANTS)):
            rendered = render(title="Episode 2", style_key=style, variation=variation)
            boxes = zip(rendered.texts, line_boxes(rendered), strict=True)
            heights.append(max(box[3] - box[1] for run, box in boxes if run.kind != "subtitle"))
        assert min(heights) >= 0.7 * heights[0], (style, heights)


@pytest.mark.parametrize(
    "title",
    ["Donaudampfschifffahrtsgesellschaftskapitän", "#ThumbnailDesignTutorialForBeginners2026"],
)
def test_one_long_word_breaks_into_lines_instead_of_shrinking_to_a_hairline(title: str) -> None:
    """A 40-character word could not break: the title was one line about 3% of the frame tall.
    It now breaks at hyphenation points (with a hyphen) or where the case changes, and fills a
    readable block."""
    for style in ("bold-gaming", "clean-tech"):
        rendered = render(title=title, style_key=style, seed=3)
        height = rendered.image.height
        left, top, right, bottom = ink_box(rendered)
        assert bottom - top > 0.25 * height, (style, bottom - top)
        assert right - left < 0.95 * rendered.image.width


def test_where_a_long_word_may_break() -> None:
    breaks = fonts._long_word_breaks
    hashtag = breaks("#ThumbnailDesign2026")
    assert {10: False, 16: False}.items() <= hashtag.items()  # no hyphen at case changes
    german = breaks("Donaudampfschifffahrtsgesellschaftskapitän")
    assert german[5] and german[10]  # Donau-dampf-...: hyphenated, German patterns
    assert all(3 <= i <= len("Donaudampfschifffahrtsgesellschaftskapitän") - 3 for i in german)
    assert breaks("Supercalifragilisticexpialidocious!")  # letters hyphenated, "!" or not
    assert breaks("„Donaudampfschifffahrtsgesellschaftskapitän“")
    assert 1 not in breaks("iPhone15ProMaxReview")  # no one-letter piece at a case change
    assert fonts._words("Short words stay whole") == [
        ("Short", False, False),
        ("words", True, False),
        ("stay", True, False),
        ("whole", True, False),
    ]
