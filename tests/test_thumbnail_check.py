"""`thumbnail_check`: the attention heatmap on real images (the hottest region is the face), WCAG
contrast, headline size, face size and the duration badge at YouTube's sizes, the plan gate on
the heatmap, the result cache (no computation, no provider call), Gemini's notes through
structured output, access, and the studio's tool form and result card."""

from __future__ import annotations

import copy
import functools
import hashlib
import io
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils.html import escape
from PIL import Image, ImageDraw, ImageFont

from billing.services import get_balance
from generation.models import Job
from generation.providers.base import ImageRequest, InputImage, RenderSpec
from generation.providers.local import LocalRenderer
from studio import saliency
from studio.images import burn_watermark, encode_jpeg, encode_png, encode_webp, resize_to_width
from studio.job_types import analyse_style
from studio.models import Palette, Style, Thumbnail
from tests import fake_gemini as fake_gemini_module
from tests.conftest import FACE_PHOTO, REFERENCE_PHOTO, JSONClient, set_plan
from tests.fake_gemini import FakeGemini
from tests.test_gemini_provider import sent_image

fake_gemini = fake_gemini_module.fake_gemini
gemini_settings = fake_gemini_module.gemini_settings

# The sample portrait (512x512) scaled to 720x720 and pasted at x=500 on a 1280x720 canvas: its
# face (eyebrows to chin, hair to ears) lies in this box, read off the photo by hand.
PORTRAIT_FACE_BOX = (740, 80, 890, 250)
FONT = "DejaVuSans-Bold.ttf"

pytestmark = pytest.mark.usefixtures("clean_cache")

_ANALYSES: dict[str, saliency.Analysis] = {}


@pytest.fixture(autouse=True)
def _each_image_analysed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """`saliency.analyse` is a function of the image's bytes alone, and these tests check the
    same two thumbnails (the portrait, the render) 16 times: each distinct image is analysed
    once per test process (0.2-0.3 s of CPU each) and every call, the job's included, gets its
    own copy of that analysis."""
    real = saliency.analyse

    def analyse(data: bytes) -> saliency.Analysis:
        key = hashlib.sha256(data).hexdigest()
        if key not in _ANALYSES:
            _ANALYSES[key] = real(data)
        return copy.deepcopy(_ANALYSES[key])

    monkeypatch.setattr(saliency, "analyse", analyse)


def portrait_thumbnail() -> Image.Image:
    canvas = Image.new("RGB", (1280, 720), (40, 44, 52))
    face = Image.open(FACE_PHOTO).convert("RGB").resize((720, 720), Image.Resampling.LANCZOS)
    canvas.paste(face, (500, 0))
    return canvas


def rendered_thumbnail(title: str = "I WENT TO SPACE", image_size: str = "1K") -> Image.Image:
    """A thumbnail from the offline renderer: the sample face and an outlined headline (a copy of
    this process's one render of it: six tests check it, none tests the renderer)."""
    return _rendered(title, image_size).copy()


@functools.cache
def _rendered(title: str, image_size: str) -> Image.Image:
    request = ImageRequest(
        prompt="",
        aspect_ratio="16:9",
        image_size=image_size,
        model="local",
        images=[InputImage(FACE_PHOTO.read_bytes(), "image/jpeg", "face")],
        spec=RenderSpec(title=title, style_key="clean-tech", seed=7),
    )
    return LocalRenderer().generate_image(request).picture()


def render(spec: RenderSpec, images: list[InputImage] | None = None) -> Image.Image:
    """The offline renderer's 16:9 1K picture of `spec` (with `images`: faces, references)."""
    return render_ratio(spec, "16:9", images)


def render_ratio(
    spec: RenderSpec, aspect_ratio: str, images: list[InputImage] | None = None
) -> Image.Image:
    """The offline renderer's 1K picture of `spec` at `aspect_ratio`."""
    request = ImageRequest(
        prompt="",
        aspect_ratio=aspect_ratio,
        image_size="1K",
        model="local",
        images=images or [],
        spec=spec,
    )
    return LocalRenderer().generate_image(request).picture()


def text_thumbnail(
    text: str, colour: tuple[int, int, int], *, corner: str = "", size: int = 130
) -> Image.Image:
    """`text` in DejaVu Sans Bold on white at the top left; `corner` text in black at the
    bottom right, where YouTube's duration badge sits."""
    image = Image.new("RGB", (1280, 720), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.text((60, 80), text, font=ImageFont.truetype(FONT, size), fill=colour)
    if corner:
        draw.text((1000, 630), corner, font=ImageFont.truetype(FONT, 60), fill=(0, 0, 0))
    return image


def store(owner: Any, image: Image.Image, *, watermark: bool = False) -> Thumbnail:
    """A Thumbnail of `image` with its stored variants, as the generate job stores them."""
    if watermark:
        image = burn_watermark(image)
    key = uuid.uuid4().hex
    thumbnail = Thumbnail(
        owner=owner,
        title="Check me",
        aspect_ratio="16:9",
        resolution="1K",
        width=image.width,
        height=image.height,
        has_watermark=watermark,
    )
    full, small, medium, download = _encoded(image)
    thumbnail.image.save(f"{key}.png", ContentFile(full), save=False)
    thumbnail.image_small.save(f"{key}.webp", ContentFile(small), save=False)
    thumbnail.image_medium.save(f"{key}.webp", ContentFile(medium), save=False)
    thumbnail.download.save(f"{key}.jpg", ContentFile(download), save=False)
    thumbnail.save()
    return thumbnail


_ENCODED: dict[tuple[str, tuple[int, int], str], tuple[bytes, bytes, bytes, bytes]] = {}


def _encoded(image: Image.Image) -> tuple[bytes, bytes, bytes, bytes]:
    """`image`'s stored files (PNG, 400 and 800 px WebP, JPEG), encoded once per test process
    for each distinct picture (the same few are stored by most tests)."""
    key = (hashlib.sha256(image.tobytes()).hexdigest(), image.size, image.mode)
    if key not in _ENCODED:
        _ENCODED[key] = (
            encode_png(image),
            encode_webp(resize_to_width(image, 400)),
            encode_webp(resize_to_width(image, 800)),
            encode_jpeg(image),
        )
    return _ENCODED[key]


@pytest.fixture
def check(
    run_jobs: Callable[[], int], django_capture_on_commit_callbacks: Any
) -> Callable[[JSONClient, Thumbnail], dict[str, Any]]:
    """POST /api/jobs thumbnail_check, run the worker, and return GET /api/jobs/<id>."""

    def _check(client: JSONClient, thumbnail: Thumbnail) -> dict[str, Any]:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post_json(
                "/api/jobs", {"type": "thumbnail_check", "input": {"thumbnail_id": thumbnail.pk}}
            )
        assert response.status_code == 202, response.content
        with django_capture_on_commit_callbacks(execute=True):
            run_jobs()
        data = client.get(f"/api/jobs/{response.json()['id']}").json()
        assert data["status"] == "succeeded", data
        return data

    return _check


def stored_png(url: str) -> np.ndarray:
    """The stored heatmap behind a /media/ URL, decoded with its alpha channel."""
    name = url.split("/media/", 1)[1].split("?", 1)[0]
    with default_storage.open(name, "rb") as handle:
        return cv2.imdecode(np.frombuffer(handle.read(), np.uint8), cv2.IMREAD_UNCHANGED)


def inside(point: tuple[float, float], box: tuple[int, int, int, int]) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


# --- the measurements --------------------------------------------------------------------------


def test_wcag_contrast_of_known_colour_pairs() -> None:
    assert saliency.contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert saliency.contrast_ratio((0x77, 0x77, 0x77), (255, 255, 255)) == pytest.approx(
        4.48, abs=0.005
    )
    assert saliency.contrast_ratio((0x76, 0x76, 0x76), (255, 255, 255)) > 4.5 > 4.48
    assert saliency.contrast_ratio((200, 30, 30), (200, 30, 30)) == 1.0
    assert saliency.relative_luminance((255, 255, 255)) == pytest.approx(1.0)
    assert saliency.relative_luminance((0, 0, 0)) == 0.0
    # The measurement on pixels: a crop of #777777 strokes on white gives the same ratio.
    crop = np.full((40, 120, 3), 255, np.uint8)
    crop[10:30, 10:110] = 0x77
    assert saliency.box_contrast(crop) == pytest.approx(4.48, abs=0.01)


def test_luminance_looked_up_is_the_wcag_formula() -> None:
    """`saliency.luminance_image` looks each channel's level up, weighted, in a table: the same
    floats as the WCAG 2.1 formula on every level of every channel."""
    levels = np.arange(256, dtype=np.uint8)
    bgr = np.stack([levels, levels[::-1], np.roll(levels, 77)], axis=-1)[None]
    c = bgr.astype(np.float64) / 255
    linear = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    expected = 0.2126 * linear[..., 2] + 0.7152 * linear[..., 1] + 0.0722 * linear[..., 0]
    assert np.array_equal(saliency.luminance_image(bgr), expected)


def test_text_lines_are_found_with_their_letter_height() -> None:
    image = text_thumbnail("READ THIS", (0, 0, 0))
    analysis = saliency.analyse(encode_png(image))
    headline = analysis.lines[0]
    # DejaVu Sans Bold's capitals are 0.729 em tall: 130 px type -> ~95 px of 720.
    assert headline.letter_height * 720 == pytest.approx(0.729 * 130, rel=0.08)
    assert headline.letters >= 7
    x0, y0, x1, y1 = (
        v * s for v, s in zip(headline.box.as_list(), (1280, 720, 1280, 720), strict=True)
    )
    assert x0 < 80 and 90 < y0 < 130 and x1 > 700 and y1 < 230
    # A photo without text has none.
    assert saliency.analyse(encode_png(portrait_thumbnail())).lines == []


def test_stacked_lines_joined_by_a_drop_shadow_are_measured_as_letters() -> None:
    """A 9:16 Short whose "DAY 30" / "OF 100" share one black drop shadow (an offline render
    from a creator's walk-through, `fixtures/stacked-lines-short.jpg`): the shadow's blobs span
    both lines, and the check reported 369 px letters (54 px in search results) for 129 px
    ones; what the thumbnail shows there is about 19 px (35 px in the desktop Shorts shelf's
    210x373 tile, where a Short is now measured)."""
    data = (Path(__file__).resolve().parent / "fixtures" / "stacked-lines-short.jpg").read_bytes()
    analysis = saliency.analyse(data)
    assert analysis.lines[0].letter_height * analysis.height == pytest.approx(135, rel=0.1)
    shelf = saliency.readability(analysis)[0]
    assert (shelf["name"], shelf["image_height"]) == ("shorts_desktop", 373)
    assert shelf["headline_px"] == pytest.approx(135 / analysis.height * 373, abs=2.5)


def test_heatmap_hottest_region_covers_the_face_of_the_sample_portrait(
    owner, owner_client, check
) -> None:
    set_plan(owner, "advanced")
    thumbnail = store(owner, portrait_thumbnail())
    result = check(owner_client, thumbnail)["result"]
    heat = stored_png(result["heatmap_url"])
    assert heat.shape == (720, 1280, 4)  # same size as the thumbnail, with alpha
    # Warm = attention: opacity rises with it, and the most opaque pixels are on the face.
    alpha = heat[..., 3].astype(np.float32)
    ys, xs = np.nonzero(alpha >= alpha.max() - 2)
    assert inside((float(xs.mean()), float(ys.mean())), PORTRAIT_FACE_BOX)
    # ... and they are red (warm), while the empty canvas on the left is blue (cold).
    peak_y, peak_x = int(ys.mean()), int(xs.mean())
    blue, green, red = heat[peak_y, peak_x, :3]
    assert red > 120 and blue < 40 and green < 40  # JET's top end is dark red
    assert heat[360, 100, 0] > heat[360, 100, 2]  # BGR: more blue than red on the canvas
    x0, y0, x1, y1 = result["hottest"]
    centre = ((x0 + x1) / 2 * 1280, (y0 + y1) / 2 * 720)
    assert inside(centre, PORTRAIT_FACE_BOX)
    assert result["faces"] == 1 and result["text_lines"] == 0


def test_heatmap_of_a_rendered_thumbnail_puts_the_face_above_the_headline(
    owner, owner_client, check
) -> None:
    set_plan(owner, "pro")
    image = rendered_thumbnail()
    result = check(owner_client, store(owner, image))["result"]
    heat = stored_png(result["heatmap_url"])
    assert heat.shape[:2] == (image.height, image.width)
    [face] = saliency.analyse(encode_png(image)).faces
    x0, y0, x1, y1 = result["hottest"]
    centre_x, centre_y = (x0 + x1) / 2, (y0 + y1) / 2
    assert face.x0 <= centre_x <= face.x1 and face.y0 <= centre_y <= face.y1
    # The headline (left half) is warm too, much more than the empty top-right corner.
    alpha = heat[..., 3]
    headline = result["headline_box"]
    hx, hy = (
        int((headline[0] + headline[2]) / 2 * image.width),
        int((headline[1] + headline[3]) / 2 * image.height),
    )
    assert alpha[hy, hx] > alpha[20, image.width - 20] + 40


# Seeded demo titles (studio.management.commands.seed_demo) as the offline renderer draws them:
# (title, sub-line, palette colours, style, aspect ratio, with the sample face, seed, layout).
DEMOS = {
    "iphone": (
        "iPhone vs Pixel",
        "The Honest Review",
        ["#0A84FF", "#F5F7FA", "#1C1C1E", "#30D158"],  # Clean Tech
        "clean-tech",
        "16:9",
        True,
        44,
        3,
    ),
    "day1": (
        "Day 1 of 100",
        "",
        ["#FF70A6", "#FF9770", "#FFD670", "#E9FF70", "#70D6FF"],  # Candy
        "retro-pop",
        "9:16",
        True,
        11,
        0,
    ),
    "nobody": (
        "Why Nobody Talks About This",
        "",
        ["#111111", "#FFFFFF", "#FFE600"],  # Mono Punch
        "documentary",
        "1:1",
        False,
        77,
        0,
    ),
}


@functools.cache
def _demo(name: str) -> Image.Image:
    title, sub, colours, style, ratio, face, seed, layout = DEMOS[name]
    spec = RenderSpec(
        title=title,
        subtitle=sub,
        colors=colours,
        style_key=style,
        expression="excited" if face else "",
        seed=seed,
        variation=layout,
    )
    images = [InputImage(FACE_PHOTO.read_bytes(), "image/jpeg", "face")] if face else []
    return render_ratio(spec, ratio, images)


def demo(name: str) -> Image.Image:
    """A copy of this process's one render of the seeded demo `name` (DEMOS)."""
    return _demo(name).copy()


def test_a_large_cut_out_face_is_found_and_both_tools_report_it() -> None:
    """The seeded "iPhone vs Pixel" demo (Clean Tech, the sample face cut out large on the left,
    layout 3): on a 960 px copy 10 of the cascade's windows agreed on its face, the check
    wanted 11, so it said "no face found" at every size and its heatmap ignored the face while
    Analyse style (5 windows, a 640 px copy) reported it. One detector now serves both."""
    picture = demo("iphone")
    analysis = saliency.analyse(encode_png(picture))
    [face] = analysis.faces
    assert face.height > 0.3 and face.x1 < 0.5  # large, on the left
    assert analyse_style.detect_faces(picture) == analyse_style.Faces(
        1, pytest.approx(face.height, abs=0.01)
    )
    verdicts = {s["name"]: s["checks"]["face"]["verdict"] for s in saliency.readability(analysis)}
    assert verdicts == {"search": "good", "suggested": "small", "mobile_home": "good"}
    # The heatmap weighs the face: about as warm as the headline (0.15 of the peak unfound).
    grid_h, grid_w = analysis.attention.shape
    centre = analysis.attention[
        int((face.y0 + face.y1) / 2 * grid_h), int((face.x0 + face.x1) / 2 * grid_w)
    ]
    assert centre >= 0.8 * analysis.attention.max()


def test_analyse_style_finds_one_face_in_a_one_face_short() -> None:
    """The "Day 1 of 100" demo (Retro Pop, 9:16, one face): Analyse style's own detector (5
    windows, faces from 6% of the width) counted 9-11 faces in its hair and lettering; the
    shared detector finds the one face, as the check does."""
    picture = demo("day1")
    faces = analyse_style.detect_faces(picture)
    assert faces is not None and faces.count == 1
    assert len(saliency.analyse(encode_png(picture)).faces) == 1


def test_a_vertical_short_is_measured_at_the_shorts_tiles_without_a_badge() -> None:
    """A 9:16 Short (the "Day 1 of 100" demo, 768x1376) was judged letterboxed into the 16:9
    tiles as a narrow strip under a "12:34" badge, and failed at every size (QA walk-through:
    "small text", "too small", "small face"). YouTube shows a Short in 9:16 tiles without a
    duration badge: it is measured there, filling each tile, and reads at all three."""
    from studio.job_types.thumbnail_check import check_image, critique_prompt

    data = encode_png(demo("day1"))
    result = check_image(data, heatmap=False, watermarked=False)
    assert result["layout"] == {"kind": "shorts", "aspect": "9:16", "letterboxed": False}
    assert result["sizes"][0]["name"] == "shorts_desktop"
    analysis = saliency.analyse(data)
    sizes = saliency.readability(analysis)
    assert [(s["name"], s["width"], s["height"]) for s in sizes] == [
        ("shorts_desktop", 210, 373),
        ("shorts_sidebar", 131, 232),
        ("shorts_mobile", 164, 291),
    ]
    for size in sizes:
        assert size["height"] == size["width"] * 16 // 9  # each tile 9:16
        assert size["image_height"] == size["height"]  # filled, not a strip in a 16:9 tile
        assert size["image_width"] >= size["width"] - 2
        assert size["has_badge"] is False
        assert size["checks"]["badge"]["verdict"] == "no badge"
        assert size["badge_overlap"] == {"text": 0.0, "face": 0.0, "attention": 0.0}
        assert size["verdict"] == "good", size["verdict"]
    assert saliency.layout(analysis) == {"kind": "shorts", "aspect": "9:16", "letterboxed": False}
    assert "Shorts shelf" in critique_prompt(sizes, shorts=True)
    assert "badge over its bottom-right" not in critique_prompt(sizes, shorts=True)


@pytest.mark.parametrize(
    ("width", "height", "aspect", "letterboxed"),
    [
        (1280, 720, "16:9", False),
        (960, 720, "4:3", True),
        (720, 720, "1:1", True),
        (1680, 720, "21:9", True),
    ],
)
def test_other_ratios_stay_letterboxed_in_the_16_9_tiles_with_the_badge(
    width: int, height: int, aspect: str, letterboxed: bool
) -> None:
    """Long videos' thumbnails of another ratio are letterboxed into YouTube's 16:9 tiles, under
    the badge, as before; `layout` says so (the card states it)."""
    image = Image.new("RGB", (width, height), (40, 44, 52))
    analysis = saliency.analyse(encode_png(image))
    sizes = saliency.readability(analysis)
    assert [s["name"] for s in sizes] == ["search", "suggested", "mobile_home"]
    assert all(s["has_badge"] and s["checks"]["badge"]["verdict"] == "clear" for s in sizes)
    assert saliency.layout(analysis) == {
        "kind": "video",
        "aspect": aspect,
        "letterboxed": letterboxed,
    }


def test_readability_at_youtube_sizes(owner, owner_client, check) -> None:
    image = rendered_thumbnail()
    result = check(owner_client, store(owner, image))["result"]
    sizes = {s["name"]: s for s in result["sizes"]}
    assert [(s["name"], s["width"], s["height"]) for s in result["sizes"]] == [
        ("search", 360, 202),
        ("suggested", 168, 94),
        ("mobile_home", 360, 202),
    ]
    search, suggested = sizes["search"], sizes["suggested"]
    # The headline's letters scale with the slot: 202/94 times taller in search results.
    assert search["headline_px"] / suggested["headline_px"] == pytest.approx(202 / 94, rel=0.02)
    letter = result["headline_box"][3] - result["headline_box"][1]
    assert search["headline_px"] <= letter * 202 + 0.5
    assert search["headline_px"] >= saliency.HEADLINE_GOOD_PX
    assert search["checks"]["headline"]["verdict"] == "good"
    # White letters with a dark outline on dark blue: high contrast at every size.
    assert all(s["contrast_ratio"] >= 7 for s in result["sizes"])
    # The renderer's cut-out face (about 36% of the frame's height, issue 11) is measured and
    # reads at every size; the verdict follows the face box's CSS height at each slot.
    assert 0.03 < search["face_fraction"] < 0.2
    for size in result["sizes"]:
        face = size["checks"]["face"]
        assert face["verdict"] in ("good", "small")
        assert saliency.face_verdict(face["value"]) == face["verdict"]
    # What a too-small face is called (the sidebar's 168x94 slot shrinks a small face below it):
    assert saliency.face_verdict(8) == "too small" and saliency.face_verdict(None) == "no face"
    for size in result["sizes"]:
        assert size["checks"]["badge"]["verdict"] == "clear"
        assert set(size["checks"]) == {"headline", "contrast", "face", "wording", "badge"}
        assert size["checks"]["wording"] | {"rule": ""} == {
            "value": 4,  # I WENT TO SPACE
            "lines": 3,  # drawn as I WENT / TO / SPACE
            "source": "measured",  # a stored picture without its drawn text
            "verdict": "good",
            "rule": "",
        }
    assert result["notes"] is None and result["measured_by"] == "local"


def test_a_headline_of_many_words_is_not_rated_good_at_any_size() -> None:
    """The 16-word headline a creator checked (the offline renderer's bold-gaming look, four
    to six lines): each line's letters are large enough, so the check called it "good" in
    search results; thumbnails read at a glance take about five words (saliency.WORDS_GOOD).
    The words are counted from the picture: MSER letters split at word spaces."""
    long_title = (
        "This is an extremely long thumbnail title that nobody should ever write because it goes on"
    )
    image = render(RenderSpec(title=long_title, style_key="bold-gaming", seed=2))
    sizes = saliency.readability(saliency.analyse(encode_png(image)))
    for size in sizes:
        wording = size["checks"]["wording"]
        assert 13 <= wording["value"] <= 19 and wording["lines"] >= 3, wording
        assert wording["verdict"] == "too many words"
        assert "too many words" in size["verdict"]
    search = sizes[0]
    assert search["name"] == "search" and search["checks"]["headline"]["verdict"] == "good"
    # Two lines of a few words: counted and good.
    two = saliency.readability(saliency.analyse(encode_png(text_thumbnail("READ THIS", (0, 0, 0)))))
    assert {s["checks"]["wording"]["value"] for s in two} == {2}
    assert {s["checks"]["wording"]["verdict"] for s in two} == {"good"}
    assert not any("too many words" in s["verdict"] for s in two)


def test_the_words_of_a_generated_thumbnail_are_counted_from_the_text_drawn(
    owner, owner_client, submit, run_jobs, check
) -> None:
    """The demo's "Why Nobody Talks About This" (5 words; Documentary, 1:1) was measured as 7
    words in 4 lines, "too many words": MSER letters split at gaps. The offline renderer
    records the lines it drew (`Thumbnail.parameters["drawn_text"]`) and the check counts
    those; the card says where the count came from."""
    set_plan(owner, "pro")  # the 1:1 frame
    response = submit(
        owner_client,
        {
            "title": "Why Nobody Talks About This",
            "style_id": Style.objects.get(slug="documentary").pk,
            "palette_id": Palette.objects.get(name="Mono Punch").pk,
            "aspect_ratio": "1:1",
        },
    )
    assert response.status_code == 202, response.content
    run_jobs()
    thumbnail = Thumbnail.objects.get(owner=owner)
    assert thumbnail.parameters["drawn_text"] == ["Why Nobody Talks About This"]
    data = check(owner_client, thumbnail)
    result = data["result"]
    for size in result["sizes"]:
        wording = size["checks"]["wording"]
        assert (wording["value"], wording["source"], wording["verdict"]) == (5, "text", "good")
        assert "too many words" not in size["verdict"]
    card = owner_client.get(f"/studio/jobs/{data['id']}", HTTP_HX_REQUEST="true")
    assert "counted from the text drawn" in card.content.decode()


def test_words_are_counted_from_known_text_and_measured_without_it() -> None:
    analysis = saliency.analyse(encode_png(rendered_thumbnail()))  # I WENT / TO / SPACE
    known = saliency.readability(
        analysis, text=["I Went To Space: Day 1 — of 100 Sleepless Nights"]
    )
    assert {(s["checks"]["wording"]["value"], s["checks"]["wording"]["source"]) for s in known} == {
        (10, "text")
    }
    assert {s["checks"]["wording"]["verdict"] for s in known} == {"too many words"}
    measured = saliency.readability(analysis)
    assert {
        (s["checks"]["wording"]["value"], s["checks"]["wording"]["source"]) for s in measured
    } == {(4, "measured")}
    # A render known to carry no words: "no text", whatever the picture seems to hold.
    assert {s["checks"]["wording"]["verdict"] for s in saliency.readability(analysis, text=[])} == {
        "no text"
    }


@pytest.mark.parametrize(("name", "words"), [("iphone", 6), ("day1", 4), ("nobody", 5)])
def test_words_measured_on_the_demo_titles(name: str, words: int) -> None:
    """Without the text drawn (an upload, an image model's picture), the words are measured, and
    the demos were miscounted: "iPhone" read as two words (the gap after the "i", 0.27 of the
    line's median letter, an x-height), "NOBODY" as three (its outline found as 4 letters a
    letter height apart, merged with its fill keeping the larger count) and "DAY 1 / OF 100" as
    three (white "1" and "100" beside orange words are pieces of their lines, joined as if
    split by a decoration)."""
    sizes = saliency.readability(saliency.analyse(encode_png(demo(name))))
    assert {(s["checks"]["wording"]["value"], s["checks"]["wording"]["source"]) for s in sizes} == {
        (words, "measured")
    }


def test_a_line_split_by_a_stripe_is_counted_as_one_line_of_its_words() -> None:
    """A custom style's diagonal stripe crosses "Espresso": the detector finds "Best Esp" and
    "resso" as two pieces, and counted three words in four lines, so five words ("Best Espresso
    / In Town", sub-line "Tested") were called too many. The pieces are one line."""
    reference = InputImage(REFERENCE_PHOTO.read_bytes(), "image/jpeg", "reference")
    spec = RenderSpec(title="Best Espresso In Town", subtitle="Tested", style_key="", seed=7)
    image = render(spec, images=[reference])
    for size in saliency.readability(saliency.analyse(encode_png(image))):
        wording = size["checks"]["wording"]
        assert (wording["value"], wording["lines"], wording["verdict"]) == (5, 3, "good"), size


def test_low_contrast_small_text_and_text_under_the_badge_are_called_out(
    owner, owner_client, check
) -> None:
    grey = check(owner_client, store(owner, text_thumbnail("FADED", (0x99, 0x99, 0x99))))
    for size in grey["result"]["sizes"]:
        assert size["contrast_ratio"] == pytest.approx(2.85, abs=0.15)
        assert size["checks"]["contrast"]["verdict"] == "low contrast"
        assert "low contrast" in size["verdict"]
    black = store(owner, text_thumbnail("TINY TEXT", (0, 0, 0), corner="12:00 PM", size=40))
    sizes = {s["name"]: s for s in check(owner_client, black)["result"]["sizes"]}
    suggested = sizes["suggested"]
    # Black on white, but strokes this thin blur into grey when shrunk to the sidebar.
    assert sizes["search"]["contrast_ratio"] > 10 > suggested["contrast_ratio"]
    assert suggested["headline_px"] < saliency.HEADLINE_SMALL_PX
    assert suggested["checks"]["headline"]["verdict"] == "too small"
    assert suggested["badge_overlap"]["text"] >= saliency.BADGE_COVER_SHARE
    assert suggested["verdict"] == "too small, text under badge"


def test_the_free_plan_watermark_is_not_reported_under_the_badge(
    owner, owner_client, check
) -> None:
    result = check(owner_client, store(owner, rendered_thumbnail(), watermark=True))["result"]
    assert result["text_lines"] >= 4  # the watermark is text, and was found
    assert {s["checks"]["badge"]["verdict"] for s in result["sizes"]} == {"clear"}


# --- plans, price, cache -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "heatmap"), [("free", False), ("starter", False), ("advanced", True)]
)
def test_plan_gate_on_the_heatmap(owner, owner_client, check, plan, heatmap) -> None:
    set_plan(owner, plan)
    thumbnail = store(owner, portrait_thumbnail())
    before = (
        set(default_storage.listdir("checks")[1]) if default_storage.exists("checks") else set()
    )
    data = check(owner_client, thumbnail)
    result = data["result"]
    assert len(result["sizes"]) == 3  # every plan gets the readability report
    assert data["cost"] == 0 and get_balance(owner) == 10  # free offline
    if heatmap:
        assert stored_png(result["heatmap_url"]).shape == (720, 1280, 4)
        assert result["heatmap_url"].startswith("/media/checks/")
    else:
        assert result["heatmap_url"] is None and result["hottest"] is None
        after = (
            set(default_storage.listdir("checks")[1]) if default_storage.exists("checks") else set()
        )
        assert after == before  # no heatmap computed or stored


def test_a_second_identical_check_is_answered_from_the_cache(
    owner, owner_client, check, monkeypatch
) -> None:
    set_plan(owner, "advanced")
    thumbnail = store(owner, portrait_thumbnail())
    calls = []
    real = saliency.analyse

    def spy(data: bytes) -> saliency.Analysis:
        calls.append(len(data))
        return real(data)

    monkeypatch.setattr(saliency, "analyse", spy)
    first = check(owner_client, thumbnail)
    assert (first["cached"], len(calls)) == (False, 1)
    second = check(owner_client, thumbnail)
    assert (second["cached"], second["cost"], len(calls)) == (True, 0, 1)
    assert second["result"]["heatmap_url"] == first["result"]["heatmap_url"]
    assert second["result"]["sizes"] == first["result"]["sizes"]
    # The same bytes under another thumbnail id: still the cache (keyed by the image's sha256).
    twin = Thumbnail.objects.get(pk=thumbnail.pk)
    twin.pk = None
    twin.save()
    assert check(owner_client, twin)["cached"] is True and len(calls) == 1
    # Its heatmap file deleted (purge_orphan_files, once no job names it): the cached answer
    # would show a broken image, so the check is computed again and the heatmap stored again.
    heatmap = Job.objects.get(pk=first["id"]).result["heatmap_name"]
    default_storage.delete(heatmap)
    redone = check(owner_client, thumbnail)
    assert (redone["cached"], len(calls)) == (False, 2)
    assert default_storage.exists(heatmap)
    assert check(owner_client, thumbnail)["cached"] is True and len(calls) == 2

    def storage_down(name: str) -> bool:
        raise OSError("the storage is unreachable")

    # A storage that cannot be asked: the cached answer is served, not a 500.
    with monkeypatch.context() as patched:
        patched.setattr(default_storage, "exists", storage_down)
        assert check(owner_client, thumbnail)["cached"] is True and len(calls) == 2
    # Without the heatmap (a plan change), the cached answer would be wrong: computed again.
    set_plan(owner, "starter")
    third = check(owner_client, thumbnail)
    assert (third["cached"], third["result"]["heatmap_url"], len(calls)) == (False, None, 3)


def test_gemini_adds_notes_from_the_image_through_structured_output(
    owner, owner_client, check, gemini_settings: FakeGemini, monkeypatch
) -> None:
    gemini_settings.json_answer = {
        "notes": ["The face is the first thing you see.", "  Make the headline bigger.  ", ""]
    }
    thumbnail = store(owner, rendered_thumbnail())
    data = check(owner_client, thumbnail)
    result = data["result"]
    assert result["notes"] == ["The face is the first thing you see.", "Make the headline bigger."]
    assert result["measured_by"] == data["model"] != "local"
    assert result["heatmap_url"] is None  # Free plan: notes, never a heatmap from the model
    assert data["cost"] == 1 and get_balance(owner) == 9
    [request] = gemini_settings.generate_requests()
    config = request.generation_config
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["required"] == ["notes"]
    assert config["responseJsonSchema"]["properties"]["notes"]["type"] == "array"
    [(data_sent, mime)] = [sent_image(part) for part in request.parts if "inlineData" in part]
    assert mime == "image/jpeg"
    # The thumbnail itself (1376x768) at YouTube's 1280 px width.
    assert Image.open(io.BytesIO(data_sent)).size == (1280, 714)
    prompt = next(part["text"] for part in request.parts if "text" in part)
    assert "Suggested videos (desktop sidebar) 168x94" in prompt
    # The same check again: from the cache, no second provider call, nothing charged.
    calls = []
    monkeypatch.setattr(saliency, "analyse", lambda data: calls.append(1))
    again = check(owner_client, thumbnail)
    assert (again["cached"], again["cost"], calls) == (True, 0, [])
    assert again["result"]["notes"] == result["notes"]
    assert len(gemini_settings.generate_requests()) == 1
    assert get_balance(owner) == 9


def test_a_failed_critique_is_refunded(
    owner, owner_client, gemini_settings, run_jobs, django_capture_on_commit_callbacks
) -> None:
    gemini_settings.script("400")
    thumbnail = store(owner, rendered_thumbnail())
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post_json(
            "/api/jobs", {"type": "thumbnail_check", "input": {"thumbnail_id": thumbnail.pk}}
        )
    assert response.status_code == 202
    assert get_balance(owner) == 9
    with django_capture_on_commit_callbacks(execute=True):
        run_jobs()
    # The measurements are delivered; only the critique failed, and its credit came back.
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == "succeeded", job.error
    assert job.result["sizes"] and job.result["notes"] is None
    assert "Gemini's written critique failed" in job.result["critique_error"]
    assert get_balance(owner) == 10
    card = owner_client.get(f"/studio/jobs/{job.pk}", HTTP_HX_REQUEST="true").content.decode()
    assert "the credit was refunded" in card and "Suggested videos" in card
    assert '<p class="job-meta">1 credit, refunded · ' in card  # not "1 credit" as if kept
    history = owner_client.get("/studio/credits/").content.decode()
    assert "Refund: Thumbnail check, its AI part failed" in history
    # Not cached: the next check asks Gemini again (and gets its notes).
    gemini_settings.json_answer = {"notes": ["Make the headline bigger."]}
    with django_capture_on_commit_callbacks(execute=True):
        again = owner_client.post_json(
            "/api/jobs", {"type": "thumbnail_check", "input": {"thumbnail_id": thumbnail.pk}}
        )
    with django_capture_on_commit_callbacks(execute=True):
        run_jobs()
    second = Job.objects.get(pk=again.json()["id"])
    assert (second.status, second.cached) == ("succeeded", False)
    assert second.result["notes"] == ["Make the headline bigger."]
    assert "critique_error" not in second.result


def test_a_strangers_thumbnail_is_404(owner_client, other) -> None:
    theirs = store(other, portrait_thumbnail())
    response = owner_client.post_json(
        "/api/jobs", {"type": "thumbnail_check", "input": {"thumbnail_id": theirs.pk}}
    )
    assert response.status_code == 404
    assert Job.objects.count() == 0
    missing = owner_client.post_json("/api/jobs", {"type": "thumbnail_check", "input": {}})
    assert missing.status_code == 400


# --- the studio ----------------------------------------------------------------------------


def test_tool_form_and_result_card_on_the_large_view(
    owner, owner_client, run_jobs, django_capture_on_commit_callbacks
) -> None:
    thumbnail = store(owner, rendered_thumbnail())
    page = owner_client.get(f"/studio/thumbnails/{thumbnail.pk}").content.decode()
    assert 'id="tool-thumbnail_check"' in page
    # The card lands under the tool's own form (not above every tool), errors beside it.
    form, results = (
        page.index('hx-target="#results-thumbnail_check"'),
        page.index('id="results-thumbnail_check"'),
    )
    assert form < page.index('id="errors-thumbnail_check"') < results
    assert "Check thumbnail · free" in page
    assert "attention heatmap comes with the Advanced plan" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            "/studio/tools/thumbnail_check",
            {"thumbnail_id": thumbnail.pk},
            HTTP_HX_REQUEST="true",
            HTTP_HX_TARGET="results-thumbnail_check",
        )
    assert response.status_code == 202
    # An earlier refusal under the form is cleared by the accepted card.
    assert '<div id="errors-thumbnail_check" hx-swap-oob="innerHTML"></div>' in (
        response.content.decode()
    )
    job = Job.objects.get(type="thumbnail_check")
    with django_capture_on_commit_callbacks(execute=True):
        run_jobs()
    html = owner_client.get(f"/studio/jobs/{job.pk}", HTTP_HX_REQUEST="true").content.decode()
    preview = escape(default_storage.url(thumbnail.image_medium.name))
    for size in Job.objects.get(pk=job.pk).result["sizes"]:
        # Each preview is the stored image, drawn by the browser at the slot's size.
        assert (
            f'<img src="{preview}" width="{size["image_width"]}" height="{size["image_height"]}"'
            in html
        )
        assert f"width: {size['width']}px; aspect-ratio: {size['width']} / {size['height']}" in html
    suggested = Job.objects.get(pk=job.pk).result["sizes"][-1]
    assert "Suggested videos (desktop sidebar)" in html
    assert f"{suggested['checks']['face']['verdict']}" in html  # each slot's face verdict shown
    assert '<p class="job-meta">free · offline renderer</p>' in html  # not "0 credits"
    assert "A Gemini key adds a written critique" in html  # offline: says what a key adds
    assert "check-overlay" not in html  # Free plan: no heatmap


def test_result_card_shows_the_heatmap_over_the_thumbnail(owner, owner_client, check) -> None:
    set_plan(owner, "advanced")
    thumbnail = store(owner, portrait_thumbnail())
    data = check(owner_client, thumbnail)
    html = owner_client.get(f"/studio/jobs/{data['id']}", HTTP_HX_REQUEST="true").content.decode()
    assert f'class="check-overlay" src="{escape(data["result"]["heatmap_url"])}"' in html


def test_the_card_gives_the_face_as_a_share_of_the_pictures_height() -> None:
    """A creator reads "% of the frame" as the face's height against the picture's (the 30-45%
    YouTube norm); the area share (8% for a face filling 40% of the height) read as too small."""
    from django.template.loader import render_to_string

    def card(size: dict[str, Any], **thresholds: int) -> str:
        result = {
            "sizes": [size],
            "badge": {"width": 44, "height": 20, "inset": 4},
            "thresholds": thresholds,
        }
        return render_to_string("studio/jobs/thumbnail_check.html", {"payload": {"result": result}})

    size = {
        "name": "home",
        "label": "Home page",
        "width": 360,
        "height": 202,
        "image_width": 360,
        "image_height": 202,
        "face_px": 80.8,
        "face_fraction": 0.08,
        "checks": {"face": {"verdict": "good"}},
    }
    html = card(size, headline_good_px=12)
    assert "80.8 px tall, 40% of the picture's height · good" in html
    assert "<dt>Words</dt>" not in html  # a result stored before words were counted
    size["checks"]["wording"] = {"value": 16, "lines": 6, "verdict": "too many words"}
    html = card(size, headline_good_px=12, words_good=5)
    assert "16 in 6 lines · too many words" in html and "about 5 at most" in html


def test_the_card_shows_a_short_in_shorts_tiles_and_says_when_a_picture_is_letterboxed() -> None:
    """A Short's card draws its 9:16 tiles without the "12:34" badge and says why; a 4:3 (or
    1:1, 21:9) picture's card says YouTube letterboxes it in the 16:9 tiles; a 16:9 one's card,
    and a result stored before `layout` and `has_badge`, look as before."""
    from django.template.loader import render_to_string

    from studio.job_types.thumbnail_check import check_image

    def card(result: dict[str, Any]) -> str:
        return render_to_string("studio/jobs/thumbnail_check.html", {"payload": {"result": result}})

    short = check_image(encode_png(demo("day1")), heatmap=False, watermarked=False)
    html = card(short)
    assert html.count('class="check-slot" style="width: ') == 3
    assert 'style="width: 210px; aspect-ratio: 210 / 373"' in html
    # Each figure is its tile's width (the caption wraps under it): the 131 and 164 px tiles share
    # a row of a 335 px phone card instead of taking one row each, widened by their captions.
    for width in (210, 131, 164):
        assert f'<figure class="check-size" style="width: {width}px">' in html
    assert "12:34" not in html and "check-badge" not in html
    assert "At YouTube's Shorts sizes" in html
    assert "A vertical (9:16) thumbnail is shown as a Short" in html
    assert "none on a Short's tile" in html
    assert "the badge is assumed" not in html

    boxed = check_image(
        encode_png(Image.new("RGB", (960, 720), (40, 44, 52))), heatmap=False, watermarked=False
    )
    html = card(boxed)
    assert html.count("12:34") == 3
    assert "YouTube shows a 4:3 thumbnail letterboxed in its 16:9 tiles" in html
    assert "Shorts sizes" not in html

    wide = check_image(
        encode_png(Image.new("RGB", (1280, 720), (40, 44, 52))), heatmap=False, watermarked=False
    )
    html = card(wide)
    assert html.count("12:34") == 3 and "letterboxed" not in html
    older = copy.deepcopy(wide)  # stored by v4: no layout, no has_badge
    del older["layout"]
    for size in older["sizes"]:
        del size["has_badge"]
    assert card(older) == html


def test_a_retry_after_a_plan_change_answers_the_original_job(
    owner, owner_client, django_capture_on_commit_callbacks
) -> None:
    """The Idempotency-Key's fingerprint is what the request sent (the thumbnail), not whether
    the plan includes the heatmap: a retry of the same request after an upgrade landed (a
    Stripe webhook, another tab) is the job sent first, not a 409 `idempotency_key_reused`."""
    set_plan(owner, "starter")
    thumbnail = store(owner, rendered_thumbnail())
    body = {"type": "thumbnail_check", "input": {"thumbnail_id": thumbnail.pk}}
    with django_capture_on_commit_callbacks(execute=True):
        first = owner_client.post_json("/api/jobs", body, HTTP_IDEMPOTENCY_KEY="check-1")
    assert first.status_code == 202, first.content
    set_plan(owner, "advanced")
    with django_capture_on_commit_callbacks(execute=True):
        retry = owner_client.post_json("/api/jobs", body, HTTP_IDEMPOTENCY_KEY="check-1")
    assert retry.status_code == 202, retry.content
    assert retry.json()["id"] == first.json()["id"]
    assert Job.objects.filter(user=owner, type="thumbnail_check").count() == 1


def test_the_slots_of_one_width_have_one_height() -> None:
    """Each 16:9 slot is its width x 9/16 rounded down, so two 360 px wide places read the same
    (the check listed search at 360x202 and the phone feed at 360x203)."""
    from generation.display import DISPLAY_SIZES

    assert {(s.width, s.height) for s in DISPLAY_SIZES} == {
        (s.width, s.width * 9 // 16) for s in DISPLAY_SIZES
    }
