"""The offline renderer: exact sizes, real designs, text, faces, fonts, determinism."""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat

from generation.providers import fonts, local
from generation.providers.base import ImageRequest, InputImage, InvalidProviderRequest, RenderSpec
from generation.providers.local import LocalRenderer
from generation.sizes import pixel_size

FACE_PHOTO = Path(__file__).resolve().parent / "fixtures" / "face-eileen-collins.jpg"
MIXED_TITLE = "Top 10 ⚡ 日本語 العربية हिन्दी 🔥"
STYLES = [*local.BUILT_IN_STYLES, ""]  # and a custom style: the generic look


def render(
    *,
    ratio: str = "16:9",
    size: str = "1K",
    images: list[InputImage] | None = None,
    **spec: object,
) -> Image.Image:
    """The rendered picture as the worker gets it (`GeneratedImage.image`, encoded once when
    stored); `render_bytes` gives the PNG a provider hands over."""
    result = LocalRenderer().generate_image(request(ratio, size, images, spec))
    assert result.mime_type == "image/png" and result.image.mode == "RGB"
    return result.image


def render_bytes(
    *,
    ratio: str = "16:9",
    size: str = "1K",
    images: list[InputImage] | None = None,
    **spec: object,
) -> bytes:
    result = LocalRenderer().generate_image(request(ratio, size, images, spec))
    assert result.mime_type == "image/png"
    assert Image.open(io.BytesIO(result.data)).format == "PNG"
    return result.data


def request(
    ratio: str, size: str, images: list[InputImage] | None, spec: dict[str, object]
) -> ImageRequest:
    return ImageRequest(
        prompt="ignored by the local renderer",
        aspect_ratio=ratio,
        image_size=size,
        model="local",
        images=images or [],
        spec=RenderSpec(**spec),  # type: ignore[arg-type]
    )


def solid_face(colour: tuple[int, int, int], fmt: str = "PNG") -> InputImage:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 480), colour).save(buffer, format=fmt)
    return InputImage(buffer.getvalue(), f"image/{fmt.lower()}", "face")


def share(image: Image.Image, test: Callable[[int, int, int], bool]) -> float:
    """The fraction of pixels whose (r, g, b) passes `test` (sampled on a 4 px grid), each
    distinct colour tested once (`getcolors`: a 4K frame's grid has 1.3 million pixels)."""
    sample = image.resize((image.width // 4, image.height // 4), Image.Resampling.NEAREST)
    colours = sample.convert("RGB").getcolors(maxcolors=sample.width * sample.height)
    assert colours is not None
    return sum(count for count, pixel in colours if test(*pixel)) / (sample.width * sample.height)


def changed_share(a: Image.Image, b: Image.Image, box: tuple[int, int, int, int]) -> float:
    """The fraction of pixels in `box` that differ clearly between `a` and `b`."""
    diff = ImageChops.difference(a.crop(box), b.crop(box)).convert("L")
    histogram = diff.histogram()
    return sum(histogram[24:]) / sum(histogram)


def installed(*names: str) -> bool:
    """Whether every named font file is under the system font folders."""
    return all(
        any(next(root.rglob(name), None) for root in fonts.FONT_DIRS if root.is_dir())
        for name in names
    )


@pytest.fixture
def reset_font_caches() -> Iterator[None]:
    """Forget discovered fonts before and after a test that changes FONT_DIRS."""

    def clear() -> None:
        for value in vars(fonts).values():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()

    clear()
    yield
    clear()


@pytest.mark.parametrize(
    ("ratio", "size"),
    [("16:9", "1K"), ("9:16", "1K"), ("1:1", "2K"), ("21:9", "1K"), ("4:5", "1K"), ("3:2", "2K")],
)
def test_output_has_the_exact_pixel_size(ratio: str, size: str) -> None:
    image = render(ratio=ratio, size=size, title="Exact size", subtitle="every ratio", seed=1)
    assert image.size == pixel_size(ratio, size)


def test_4k_is_drawn_at_full_size() -> None:
    image = render(size="4K", title="Big", images=[solid_face((255, 0, 255))], seed=2)
    assert image.size == (5504, 3072)
    assert share(image, lambda r, g, b: r > 230 and g < 30 and b > 230) > 0.15
    text_area = image.crop((0, 0, image.width * 45 // 100, image.height))
    assert share(text_area, lambda r, g, b: min(r, g, b) > 235) > 0.02


@pytest.mark.parametrize(("ratio", "size"), [("7:3", "1K"), ("16:9", "8K"), ("", "")])
def test_unknown_ratio_or_size_is_refused(ratio: str, size: str) -> None:
    with pytest.raises(InvalidProviderRequest):
        render_bytes(ratio=ratio, size=size, title="x")


@functools.cache
def _background(style: str) -> Image.Image:
    """`style`'s picture without text or face at seed 3 (the background alone), rendered once
    per test process: two tests check it, neither changes it."""
    return render(style_key=style, seed=3)


@pytest.mark.parametrize("style", STYLES)
def test_every_style_is_a_design_not_a_flat_fill(style: str) -> None:
    image = _background(style)  # no text, no face: the background alone
    colours = image.getcolors(maxcolors=1_000_000)
    assert colours is not None
    assert len(colours) > 200
    assert max(ImageStat.Stat(image).stddev) > 12


@pytest.mark.parametrize("style", ["bold-gaming", "vlog-bright", ""])
def test_same_request_gives_identical_bytes(style: str) -> None:
    face = solid_face((255, 0, 255))
    spec = {"title": MIXED_TITLE, "subtitle": "again", "style_key": style, "seed": 42}
    assert render_bytes(images=[face], **spec) == render_bytes(images=[face], **spec)


@pytest.mark.parametrize("style", ["bold-gaming", "vlog-bright", ""])
def test_the_seed_varies_the_details(style: str) -> None:
    assert render(style_key=style, seed=1).tobytes() != render(style_key=style, seed=2).tobytes()


def test_styles_look_clearly_different() -> None:
    face = solid_face((120, 120, 120))
    images = {
        style: render(style_key=style, title="Same title 100", images=[face], seed=5)
        for style in STYLES
    }
    for i, a in enumerate(STYLES):
        for b in STYLES[i + 1 :]:
            difference = ImageStat.Stat(ImageChops.difference(images[a], images[b])).mean
            assert sum(difference) / 3 > 12, (a, b)


def test_palette_colours_drive_the_background() -> None:
    red = render(style_key="clean-tech", colors=["#D00000", "#400000"], seed=1)
    green = render(style_key="clean-tech", colors=["#00B000", "#003000"], seed=1)
    red_mean, green_mean = ImageStat.Stat(red).mean, ImageStat.Stat(green).mean
    assert red_mean[0] > red_mean[1]
    assert green_mean[1] > green_mean[0]


def test_a_palette_that_opens_with_its_ground_shows_its_hues() -> None:
    """Neon Night starts with a near-black: taken in order, its vivid version was Bold Gaming's
    own purple, and the picture had no neon pink or cyan (the same as the style's default)."""
    neon = ["#0D0221", "#FF2A6D", "#05D9E8", "#D1F7FF", "#F9C80E"]
    default = render(style_key="bold-gaming", title="Watch", seed=2)
    night = render(style_key="bold-gaming", title="Watch", colors=neon, seed=2)
    assert sum(ImageStat.Stat(ImageChops.difference(default, night)).mean) / 3 > 12

    def near(image: Image.Image, colour: tuple[int, int, int]) -> float:
        pixels = np.asarray(image.convert("RGB")).astype(int)
        return float((np.abs(pixels - colour).sum(axis=2) < 90).mean())

    assert near(night, (255, 42, 109)) > 0.01  # the neon pink glow
    assert near(night, (255, 42, 109)) > 5 * near(default, (255, 42, 109))


def test_a_dark_accent_is_made_lighter_in_its_own_hue_not_replaced() -> None:
    """A palette whose only vivid colour is a dark red: the sub-line's plate is a lighter red of
    the palette, not a yellow the creator never picked (the generic look and Bold Gaming put
    ink text on a plate of the accent)."""
    colors = ["#112233", "#FFEEDD", "#FF0044"]
    red_hue = local._hls((255, 0, 68))[0]

    def hue_distance(colour: tuple[int, int, int]) -> float:
        distance = abs(local._hls(colour)[0] - red_hue)
        return min(distance, 1 - distance)

    lighter = local._light_enough((255, 0, 68))
    assert local._luma(lighter) > 0.45 and hue_distance(lighter) < 0.01
    assert local._light_enough((255, 221, 51)) == (255, 221, 51)  # light enough already
    assert local._luma(local._light_enough((0, 0, 0))) > 0.75  # black: a light grey
    for style in ("", "bold-gaming"):
        image = render(
            style_key=style, title="My First Video", subtitle="Hello World", colors=colors, seed=3
        )
        pixels = np.asarray(image).astype(int)
        yellow = (np.abs(pixels - (255, 221, 51)).sum(axis=2) < 60).mean()
        plate = (np.abs(pixels - lighter).sum(axis=2) < 60).mean()
        assert yellow < 0.001, style
        assert plate > 0.01, style


def test_title_is_drawn_in_the_text_area() -> None:
    face = solid_face((255, 0, 255))
    plain = render(images=[face], seed=7)
    titled = render(images=[face], title="I Tried 100 Coffee Shops", seed=7)
    width, height = plain.size
    text_area = (0, 0, width * 45 // 100, height)
    assert changed_share(plain, titled, text_area) > 0.08
    # White fill and dark outline: both appear where the text goes.
    area = titled.crop(text_area)
    assert share(area, lambda r, g, b: min(r, g, b) > 235) > 0.02
    assert share(area, lambda r, g, b: max(r, g, b) < 30) > 0.02


def test_subtitle_adds_to_the_title() -> None:
    title_only = render(title="I Tried 100 Coffee Shops", seed=8)
    both = render(title="I Tried 100 Coffee Shops", subtitle="Only 1 Was Worth It", seed=8)
    width, height = both.size
    assert changed_share(title_only, both, (0, 0, width, height)) > 0.05


def test_subtitle_alone_becomes_the_main_line() -> None:
    blank = render(seed=9)
    subtitle_only = render(subtitle="Only 1 Was Worth It", seed=9)
    assert changed_share(blank, subtitle_only, (0, 0, *blank.size)) > 0.05


def test_long_text_never_leaves_its_box() -> None:
    look = fonts.TextLook(
        fill=(255, 255, 255), stroke=(0, 0, 0), outer=(255, 0, 0), outer_ratio=0.2
    )
    text = " ".join(["Supercalifragilisticexpialidocious"] * 3 + ["and", "much", "more"] * 8)
    for box in [(300, 200), (900, 160), (120, 600)]:
        block = fonts.set_text(text, look, box, min_size=30, max_size=400)
        assert block is not None
        assert block.image.width <= box[0]
        assert block.image.height <= box[1]


def test_empty_text_draws_nothing() -> None:
    look = fonts.TextLook(fill=(255, 255, 255), stroke=(0, 0, 0))
    assert fonts.set_text("   ", look, (400, 300), min_size=10, max_size=100) is None


# Characters that draw nothing: a zero-width space, a soft hyphen, a word joiner, a combining
# accent with no letter, a no-break space.
INVISIBLE = ["\u200b", "\u00ad", "\u2060", "\u0301", "\u00a0\u200b"]


@pytest.mark.parametrize("style", STYLES)
def test_a_line_of_invisible_characters_is_no_line(style: str) -> None:
    """ "Hello: <zero-width space>" split into a sub-line that draws nothing: measuring it
    divided by its zero width in the styles without an outline, and every image of the job
    failed. Each style tries an invisible line in each of the three places (an invisible
    sub-line, an invisible title alone, an invisible title over a sub-line), where its looks
    differ; which characters draw nothing is decided before any look (`visible_text`), so
    each style takes the next character of INVISIBLE in each place, and every character is
    tried in every place across the eight styles (not all 15 cases in every style)."""
    hello = render(style_key=style, title="Hello", seed=3)
    blank = _background(style)
    first = STYLES.index(style)
    sub_line, title_alone, title_over_sub_line = (
        INVISIBLE[(first + place) % len(INVISIBLE)] for place in range(3)
    )
    assert same(render(style_key=style, title="Hello", subtitle=sub_line, seed=3), hello)
    assert same(render(style_key=style, title=title_alone, seed=3), blank)
    assert same(render(style_key=style, title=title_over_sub_line, subtitle="Hello", seed=3), hello)


def test_every_invisible_character_is_tried_in_every_place() -> None:
    """The rotation above covers each (character, place) pair: 8 styles, 5 characters."""
    pairs = {
        (INVISIBLE[(first + place) % len(INVISIBLE)], place)
        for first in range(len(STYLES))
        for place in range(3)
    }
    assert len(pairs) == len(INVISIBLE) * 3


def test_text_of_zero_width_has_no_size() -> None:
    look = fonts.TextLook(fill=(255, 255, 255), stroke=(0, 0, 0), stroke_ratio=0.0)
    for invisible in ["\u200b", "\u00ad", "\u2060"]:  # no outline, no advance: no width at all
        assert fonts.fitted_size(invisible, look, (400, 300), min_size=10, max_size=100) == 0
        assert fonts.set_text(invisible, look, (400, 300), min_size=10, max_size=100) is None


def test_a_face_is_composited_large() -> None:
    magenta = render(style_key="clean-tech", images=[solid_face((255, 0, 255))], seed=1)
    without = render(style_key="clean-tech", seed=1)

    def is_magenta(r: int, g: int, b: int) -> bool:
        return r > 230 and g < 30 and b > 230

    assert share(magenta, is_magenta) > 0.15
    assert share(without, is_magenta) == 0


def test_several_faces_sit_side_by_side() -> None:
    faces = [solid_face((255, 0, 255)), solid_face((0, 255, 0), fmt="JPEG")]
    image = render(ratio="9:16", style_key="vlog-bright", images=faces, title="Duo", seed=1)
    left, right = (
        image.crop((0, 0, image.width // 2, image.height)),
        image.crop((image.width // 2, 0, image.width, image.height)),
    )

    def is_magenta(r: int, g: int, b: int) -> bool:
        return r > 220 and g < 40 and b > 220

    def is_green(r: int, g: int, b: int) -> bool:
        return r < 40 and g > 220 and b < 40

    assert share(left, is_magenta) > 0.05
    assert share(right, is_green) > 0.05


@pytest.mark.parametrize("style", STYLES)
def test_a_real_face_photo_is_prominent(style: str) -> None:
    photo = InputImage(FACE_PHOTO.read_bytes(), "image/jpeg", "face")
    # One render gives the picture and where its face went (`generate_image` returns the same
    # picture: test_output_has_the_exact_pixel_size and others check that path).
    spec: dict[str, object] = {"style_key": style, "title": "I Tried 100 Coffee Shops", "seed": 4}
    rendered = LocalRenderer().render(request("16:9", "1K", [photo], spec))
    with_face = rendered.image
    without = render(style_key=style, title="I Tried 100 Coffee Shops", seed=4)
    width, height = with_face.size
    face_side = (width // 2, 0, width, height)
    assert changed_share(without, with_face, face_side) > 0.4

    # The photo's face was found and cut out, large, on the face side.
    (box,) = rendered.faces
    assert box[0] > width * 0.4
    assert box[3] - box[1] >= height * 0.3


def test_expression_and_pose_change_the_framing() -> None:
    photo = InputImage(FACE_PHOTO.read_bytes(), "image/jpeg", "face")
    calm = render(images=[photo], seed=1)
    shocked = render(images=[photo], expression="shocked", pose="head tilted", seed=1)
    assert calm.tobytes() != shocked.tobytes()


def test_an_undecodable_face_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    broken = InputImage(b"\x89PNG\r\n\x1a\nnot really", "image/png", "face")
    with caplog.at_level(logging.WARNING, logger="generation.providers.local"):
        skipped = render(title="Still works", images=[broken], seed=3)
    assert skipped.tobytes() == render(title="Still works", seed=3).tobytes()
    assert "undecodable face" in caplog.text

    mixed = render(title="Still works", images=[broken, solid_face((255, 0, 255))], seed=3)
    assert share(mixed, lambda r, g, b: r > 230 and g < 30 and b > 230) > 0.1


def grey16(photo: Image.Image, mode: str = "I;16") -> bytes:
    """`photo` as a 16-bit greyscale PNG (it opens as I;16) or TIFF (I;16B, big-endian)."""
    grey = np.asarray(photo.convert("L")).astype(np.uint16) * 257  # 255 -> 65535
    buffer = io.BytesIO()
    if mode == "I;16B":
        Image.frombytes(mode, photo.size, grey.astype(">u2").tobytes()).save(buffer, "TIFF")
    else:
        Image.fromarray(grey).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("mode", ["I;16", "I;16B"])
def test_a_16_bit_greyscale_face_keeps_its_tones(mode: str) -> None:
    # Pillow's convert("RGB") clips 16-bit values to 255: the face came out nearly white.
    photo = Image.open(FACE_PHOTO)
    data = grey16(photo, mode)
    assert Image.open(io.BytesIO(data)).mode == mode
    decoded = local._decode(InputImage(data, "image/png", "face"))
    assert decoded is not None and decoded.mode == "RGB"
    expected = np.asarray(photo.convert("L")).mean()
    assert np.asarray(decoded.convert("L")).mean() == pytest.approx(expected, abs=3)


def test_a_reference_image_becomes_the_backdrop() -> None:
    buffer = io.BytesIO()
    stripes = Image.new("RGB", (600, 400), (0, 0, 0))
    for x in range(0, 600, 100):
        stripes.paste((255, 255, 255), (x, 0, x + 50, 400))
    stripes.save(buffer, format="PNG")
    reference = InputImage(buffer.getvalue(), "image/png", "reference")
    plain = render(style_key="minimal", seed=1)
    backed = render(style_key="minimal", images=[reference], seed=1)
    assert changed_share(plain, backed, (0, 0, *plain.size)) > 0.3


REFERENCE_PHOTO = FACE_PHOTO.parent / "reference-coffee.jpg"


def hue_shares(image: Image.Image) -> tuple[float, float]:
    """The shares of the clearly coloured pixels (HSV saturation over 25 %) that are warm (hue
    under 50 or over 340 degrees: reds, oranges, browns) and cold (180-300: cyans to purples)."""
    hsv = np.asarray(image.convert("HSV").resize((160, 90))).reshape(-1, 3).astype(float)
    coloured = hsv[hsv[:, 1] > 64]
    hue = coloured[:, 0] * 360 / 256
    warm = np.count_nonzero((hue < 50) | (hue > 340)) / len(coloured)
    cold = np.count_nonzero((hue >= 180) & (hue <= 300)) / len(coloured)
    return warm, cold


def test_a_custom_style_takes_its_colours_from_its_reference_photos() -> None:
    """A custom style (no built-in design) made from a warm espresso photo draws a warm
    background, preview included, and says where the colours came from; a palette the creator
    picked wins. Its generic look's red/blue split came out blue and purple over the photo."""
    from studio.style_previews import render_preview

    reference = InputImage(REFERENCE_PHOTO.read_bytes(), "image/jpeg", "reference")
    for ratio in ("16:9", "9:16"):
        rendered = LocalRenderer().render(
            request(ratio, "1K", [reference], {"title": "", "style_key": "", "seed": 5})
        )
        warm, cold = hue_shares(rendered.image)
        assert warm > 0.85 and cold < 0.03, (ratio, warm, cold)
        assert rendered.notes == [local.REFERENCE_COLOURS_NOTE]
    preview = Image.open(
        io.BytesIO(render_preview(name="Noir", slug="", seed=53, reference=reference.data))
    )
    assert hue_shares(preview)[0] > 0.85
    chosen = LocalRenderer().render(
        request(
            "16:9",
            "1K",
            [reference],
            {"title": "", "style_key": "", "seed": 5, "colors": ["#0EA5E9", "#1E293B", "#22D3EE"]},
        )
    )
    assert hue_shares(chosen.image)[1] > 0.5 and chosen.notes == []
    # A built-in style keeps its own colours over a reference.
    built_in = LocalRenderer().render(
        request("16:9", "1K", [reference], {"title": "", "style_key": "clean-tech", "seed": 5})
    )
    assert built_in.notes == []


def test_mixed_scripts_and_emoji_render() -> None:
    plain = render(ratio="1:1", seed=6)
    mixed = render(ratio="1:1", title=MIXED_TITLE, subtitle="Привет Ελλάδα 👀", seed=6)
    assert changed_share(plain, mixed, (0, 0, *plain.size)) > 0.1


def test_runs_pick_a_font_that_has_each_character() -> None:
    if not installed("NotoSans-Bold.ttf", "NotoSansCJK-Bold.ttc", "NotoSansArabic-Bold.ttf"):
        pytest.skip("Noto fonts are not installed")
    for text, face in fonts.split_runs(MIXED_TITLE):
        for char in text:
            if not char.isspace() and ord(char) not in (0xFE0F, 0x200D):
                assert ord(char) in fonts.coverage(face), (char, face)
    faces = {text.strip(): face for text, face in fonts.split_runs(MIXED_TITLE) if text.strip()}
    assert len({faces["日本語"], faces["العربية"], faces["हिन्दी"]}) == 3


def test_emoji_are_drawn_in_colour() -> None:
    if not installed("NotoColorEmoji.ttf"):
        pytest.skip("Noto Color Emoji is not installed")
    emoji_runs = [text for text, face in fonts.split_runs(MIXED_TITLE) if face.emoji]
    assert emoji_runs == ["⚡", "🔥"]
    look = fonts.TextLook(fill=(255, 255, 255), stroke=(0, 0, 0))  # no colour but the emoji's

    def is_colourful(r: int, g: int, b: int) -> bool:
        return max(r, g, b) - min(r, g, b) > 80

    with_emoji = fonts.set_text(MIXED_TITLE, look, (900, 500), min_size=20, max_size=200)
    without = fonts.set_text(
        "Top 10 日本語 العربية हिन्दी", look, (900, 500), min_size=20, max_size=200
    )
    assert with_emoji is not None
    assert without is not None
    assert share(with_emoji.image.convert("RGB"), is_colourful) > 0.01
    assert share(without.image.convert("RGB"), is_colourful) == 0


def test_works_with_dejavu_only(monkeypatch: pytest.MonkeyPatch, reset_font_caches: None) -> None:
    dejavu = Path("/usr/share/fonts/truetype/dejavu")
    if not dejavu.is_dir():
        pytest.skip("DejaVu is not installed")
    monkeypatch.setattr(fonts, "FONT_DIRS", (dejavu,))
    chain = fonts.font_chain()
    assert chain[0].path is not None
    assert "DejaVu" in chain[0].path
    assert fonts.emoji_face() is None
    image = render(title=MIXED_TITLE, subtitle="fallback", seed=1)
    assert changed_share(render(seed=1), image, (0, 0, *image.size)) > 0.05


def test_works_without_any_font_file(
    monkeypatch: pytest.MonkeyPatch, reset_font_caches: None, tmp_path: Path
) -> None:
    monkeypatch.setattr(fonts, "FONT_DIRS", (tmp_path,))
    assert fonts.font_chain() == (fonts.FontFace(None),)
    image = render(title="Pillow's own font", seed=1)
    assert changed_share(render(seed=1), image, (0, 0, *image.size)) > 0.05


def test_the_renderer_reports_its_progress_as_it_draws() -> None:
    shares: list[float] = []
    request = ImageRequest(
        prompt="",
        aspect_ratio="16:9",
        image_size="1K",
        model="local",
        spec=RenderSpec(title="Progress", style_key="minimal"),
        progress=shares.append,
    )
    LocalRenderer().render(request)
    assert shares == sorted(shares) and len(shares) >= 3 and shares[-1] == 1.0


# --- the renderer's shortcuts draw what the long way drew ----------------------------------------


def same(a: Image.Image, b: Image.Image) -> bool:
    """Identical pixels (a bool: pytest's diff of two frames' bytes takes minutes)."""
    return a.size == b.size and a.mode == b.mode and a.tobytes() == b.tobytes()


def _old_blob(
    size: tuple[int, int], centre: tuple[float, float], radii: tuple[float, float], power: float
) -> Image.Image:
    """`local._blob` as it was drawn before `_blob_part`: the whole frame scaled up."""
    factor = 4 if min(radii) >= 40 else 1
    shape = Image.radial_gradient("L").point(
        local._lut(lambda v: (1 - min(1.0, v * 255 / 181)) ** power)
    )
    width = max(1, round(2 * radii[0] / factor))
    height = max(1, round(2 * radii[1] / factor))
    mask = Image.new("L", (-(-size[0] // factor), -(-size[1] // factor)))
    mask.paste(
        shape.resize((width, height), Image.Resampling.BILINEAR),
        (round(centre[0] / factor - width / 2), round(centre[1] / factor - height / 2)),
    )
    return mask.resize(size, Image.Resampling.BILINEAR) if factor > 1 else mask


@pytest.mark.parametrize("size", [(1376, 768), (768, 1376), (2752, 1536), (1366, 770)])
def test_a_glow_is_scaled_up_only_where_it_shows_and_draws_the_same(size: tuple[int, int]) -> None:
    width, height = size
    cases = [
        ((width * 0.7, height * 0.5), (height * 0.95, height * 0.95), 1.6),
        ((width / 2, height * 0.3), (height * 0.09 * 7, height * 0.09), 1.6),  # a streak
        ((width / 2, height * 0.25), (height * 0.018 * 40, height * 0.018), 1.6),
        ((-width * 0.2, height * 0.1), (height * 0.4, height * 0.3), 0.9),  # partly off
        ((width * 3, height * 3), (height * 0.4, height * 0.3), 1.6),  # off the frame
    ]
    for centre, radii, power in cases:
        part, corner = local._blob_part(size, centre, radii, power=power)
        whole = Image.new("L", size)
        whole.paste(part, corner)
        assert same(whole, _old_blob(size, centre, radii, power))
        assert same(local._blob(size, centre, radii, power=power), whole)
    narrow, _ = local._blob_part(size, (width / 2, height / 2), (width * 0.2, 60))
    assert narrow.width < width * 0.5  # not the whole frame


def _old_fill(
    image: Image.Image,
    colour: tuple[int, int, int],
    polygons: list[list[tuple[float, float]]],
    ellipses: list[tuple[float, float, float, float]],
) -> None:
    """`local._fill` as it was before it drew shapes apart in bands: one frame-sized mask."""
    k = 4 if max(image.size) <= 2048 else 2
    big = Image.new("L", (image.width * k, image.height * k))
    draw = ImageDraw.Draw(big)
    for points in polygons:
        draw.polygon([(x * k, y * k) for x, y in points], fill=255)
    for left, top, right, bottom in ellipses:
        draw.ellipse((left * k, top * k, right * k, bottom * k), fill=255)
    image.paste(colour, (0, 0), big.reduce(k))


@pytest.mark.parametrize("size", [(1376, 768), (2752, 1536)])
def test_shapes_filled_apart_look_as_filled_together(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(11)
    width, height = size
    for _ in range(12):
        polygons = []
        for _ in range(int(rng.integers(0, 5))):  # some across an edge or off the frame
            centre = rng.uniform(-0.2, 1.2, 2) * size
            corners = centre + rng.uniform(-0.1, 0.1, (int(rng.integers(3, 6)), 2)) * size
            polygons.append([(float(x), float(y)) for x, y in corners])
        ellipses = []
        for _ in range(int(rng.integers(0, 5))):
            x, y = rng.uniform(-0.1, 1.1) * width, rng.uniform(-0.1, 1.1) * height
            rx, ry = rng.uniform(0.3, 0.2 * height, 2)
            ellipses.append((x - rx, y - ry, x + rx, y + ry))
        expected = Image.new("RGB", size, (30, 40, 50))
        _old_fill(expected, (250, 200, 10), polygons, ellipses)
        filled = Image.new("RGB", size, (30, 40, 50))
        local._fill(filled, (250, 200, 10), polygons=polygons, ellipses=ellipses)
        assert same(filled, expected)
    apart = local._apart(
        [([], False, (0, 0, 10, 10)), ([], False, (20, 20, 30, 30)), ([], True, (8, 8, 22, 22))]
    )
    assert len(apart) == 1  # the third joins both
    assert len(local._apart([([], False, (0, 0, 10, 10)), ([], False, (10, 0, 20, 10))])) == 2


def test_blend_is_a_colour_paste() -> None:
    rng = np.random.default_rng(5)
    canvas = Image.fromarray(rng.integers(0, 256, (300, 700, 3), dtype=np.uint8))
    mask = Image.fromarray(rng.integers(0, 256, (900, 650), dtype=np.uint8))  # several bands
    for corner in [(0, 0), (-40, -500), (120, 33)]:
        expected, blended = canvas.copy(), canvas.copy()
        expected.paste((250, 20, 99), corner, mask)
        local._blend(blended, (250, 20, 99), corner, mask)
        assert same(blended, expected)


def test_gradient_is_the_composite_of_its_colours_and_its_ramp_is_kept() -> None:
    size = (1376, 768)
    for start, end, angle in [((10, 20, 30), (250, 200, 9), 35), ((0, 0, 0), (255, 255, 255), 0)]:
        ramp = local._gradient_mask(size, angle)
        expected = Image.composite(Image.new("RGB", size, end), Image.new("RGB", size, start), ramp)
        assert same(local._gradient(size, start, end, angle), expected)
        assert local._gradient_mask(size, angle) is ramp  # drawn once


def test_frame_masks_are_kept_up_to_their_pixel_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "_frame_masks", type(local._frame_masks)())
    monkeypatch.setattr(local, "FRAME_MASK_PIXELS", 3 * 64 * 32)
    mask = local._vignette_mask((64, 32), 0.8)
    assert local._vignette_mask((64, 32), 0.8) is mask
    assert mask.getpixel((0, 0)) > 200 and mask.getpixel((32, 16)) == 0
    for angle in range(5):
        local._gradient_mask((64, 32), angle)
    assert len(local._frame_masks) == 3  # the last three drawn
    assert local._vignette_mask((64, 32), 0.8) is not mask  # dropped, drawn again
    local._vignette_mask((640, 320), 0.8)  # alone over the budget: kept alone
    assert list(local._frame_masks) == [("vignette", (640, 320), 0.8)]


def test_words_are_measured_once_and_the_measures_are_bounded() -> None:
    look = fonts.TextLook(fill=(255, 255, 255), stroke=(0, 0, 0), uppercase=True)
    fonts._measured.cache_clear()
    fresh = fonts._plan("I Tried 100 Coffee Shops", look, (900, 400), 20, 200)
    again = fonts._plan("I Tried 100 Coffee Shops", look, (600, 500), 20, 200)
    assert fonts._measured.cache_info().hits >= 1  # the second box measured nothing
    fonts._measured.cache_clear()
    assert fonts._plan("I Tried 100 Coffee Shops", look, (600, 500), 20, 200) == again
    assert fonts._plan("I Tried 100 Coffee Shops", look, (900, 400), 20, 200) == fresh
    assert fonts._measured.cache_info().maxsize == fonts.TEXT_MEASURES


def _old_draw_checked(  # type: ignore[no-untyped-def]
    canvas, text, looks, box, place, draw, sizes, kind, pads=(0, 0)
):
    """`local._draw_checked` as it was before it tried each look on the canvas itself: on a
    copy of the whole canvas, pasted back when the look passed (the runs' `extent`, from
    `pads`, is not part of the picture)."""
    for attempt, look in enumerate([*looks, None]):
        if look is None:
            look = looks[-1]
        block = local._set_text(text, look, box, sizes[0], sizes[1])
        if block is None:
            return None
        corner = place(block)
        trial = canvas.copy()
        if attempt == len(looks):
            pad = round(block.size * 0.18)
            plate = (
                corner[0] - pad,
                corner[1] - pad,
                corner[0] + block.image.width + pad,
                corner[1] + block.image.height + pad,
            )
            overlay = Image.new("L", trial.size)
            ImageDraw.Draw(overlay).rounded_rectangle(plate, radius=pad, fill=round(255 * 0.88))
            trial.paste(local._other(look.fill), (0, 0), overlay)
        draw(trial, block, corner)
        runs = []
        for run_kind, mask in (
            (kind, block.fill_mask),
            ("emphasis" if kind == "title" else kind, block.emphasis_mask),
        ):
            if mask is not None and mask.getbbox():
                contrast = local.measure_contrast(trial, mask, corner)
                runs.append(local.TextRun(run_kind, corner, mask, contrast))
        if all(run.contrast >= local.CONTRAST_TARGET for run in runs) or attempt == len(looks):
            canvas.paste(trial)
            return block, runs
    return None


@pytest.mark.parametrize("style", ["minimal", "documentary", "bold-gaming", "vlog-bright"])
def test_looks_tried_on_the_canvas_leave_what_copies_left(
    style: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Minimal and documentary with a face fail their first looks here (the canvas is put back
    and the next look tried); a plated sub-line and a last-resort plate reach furthest."""
    face = InputImage(FACE_PHOTO.read_bytes(), "image/jpeg", "face")
    spec = {"title": "Sunny Yellow 100 Days", "subtitle": "bright and white", "seed": 3}
    tried = render(images=[face], style_key=style, **spec)
    plated = render(style_key=style, colors=["#777777", "#808080"], **spec)
    monkeypatch.setattr(local, "_draw_checked", _old_draw_checked)
    assert same(tried, render(images=[face], style_key=style, **spec))
    assert same(plated, render(style_key=style, colors=["#777777", "#808080"], **spec))


def test_letters_rasterised_once_are_the_letters_drawn_twice() -> None:
    for text in ["I Tried 100 Coffee Shops", "العربية", "हिन्दी", "日本語のタイトル"]:
        for size, x, baseline in [(90, 10.0, 100.0), (37, 13.37, 61.5), (160, 4.75, 170.25)]:
            for word, face in fonts.split_runs(text):
                run = fonts._Run(word, face)
                direction = "rtl" if text == "العربية" else None
                canvas = Image.new("RGBA", (900, 260))
                mask = Image.new("L", canvas.size)
                fonts._draw_fill(canvas, mask, run, x, baseline, size, (250, 20, 99), direction)
                expected = Image.new("RGBA", canvas.size)
                expected_mask = Image.new("L", canvas.size)
                for target, fill in ((expected, (250, 20, 99)), (expected_mask, 255)):
                    ImageDraw.Draw(target).text(
                        (x, baseline),
                        word,
                        font=fonts.get_font(face, size),
                        anchor="ls",
                        fill=fill,
                        direction=fonts._layout_direction(face, direction),
                    )
                assert expected_mask.getbbox() is not None
                assert same(canvas, expected) and same(mask, expected_mask)


def test_luminance_looked_up_is_luminance_computed() -> None:
    values = np.arange(256, dtype=np.uint8)
    pixels = np.stack([values, values[::-1], np.roll(values, 77)], axis=-1)
    c = pixels.astype(np.float64) / 255
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    expected = linear @ np.array([0.2126, 0.7152, 0.0722])
    assert np.array_equal(local._luminance(pixels), expected)  # the same floats
    assert np.array_equal(local._luminance(pixels.astype(np.int64)), expected)


def test_the_contrast_measures_median_and_percentile_are_numpys() -> None:
    """`local._median` and `local._percentile` give `np.median`'s and `np.percentile`'s floats
    for the luminances a word's measurement takes (odd and even counts, ties, one value)."""
    rng = np.random.default_rng(7)
    for size in [1, 2, 3, 4, 5, 10, 99, 100, 1001, 4096]:
        for levels in (256, 3):  # every level, or a few with many ties
            pixels = (rng.integers(0, levels, (size, 3)) * (255 // (levels - 1))).astype(np.uint8)
            values = local._luminance(pixels)
            assert local._median(values) == float(np.median(values)), (size, levels)
            for q in (30, 70):
                assert local._percentile(values, q) == float(np.percentile(values, q)), (size, q)
