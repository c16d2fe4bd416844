"""Font fallback and display typesetting for the local renderer.

Creators write titles in every script and with emoji, and no single font covers all of that. This
module finds the installed fonts once (by file name under the system font folders), picks a font for
each character by its cmap coverage (read with fontTools), splits text into runs of one font each,
and lets Pillow's raqm layout shape each run (ligatures, Arabic joining, Indic clusters, RTL).

Fallback chain, first covering font wins: Noto Sans Black/Bold (Latin, Greek, Cyrillic), the Noto
Sans fonts for Arabic, Hebrew, the Indic scripts, Thai and the rest, Noto Sans CJK, the remaining
Noto Sans fonts, DejaVu Sans, and Pillow's built-in font when no font file exists at all.
Emoji use Noto Color Emoji, a CBDT bitmap font that only loads at 109 px: its glyphs are drawn in
colour at that size and scaled. A character no font covers is drawn with the last font (as a box).

`set_text` fits a title into a box: it wraps words (CJK per character) into balanced lines, picks
the largest size that fits, and draws it with one or two outlines. Sizes and coordinates are pixels.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyphen
from fontTools.ttLib import TTFont, TTLibError
from PIL import Image, ImageDraw, ImageFont, features

logger = logging.getLogger(__name__)

RGB = tuple[int, int, int]
Align = Literal["left", "center", "right"]

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
EMOJI_PX = 109  # the only size Noto Color Emoji's bitmaps load at

_LATIN = ("NotoSans-Black.ttf", "NotoSans-ExtraBold.ttf", "NotoSans-Bold.ttf")
_SCRIPTS = (
    "NotoSansArabic-Bold.ttf",
    "NotoSansHebrew-Bold.ttf",
    "NotoSansDevanagari-Bold.ttf",
    "NotoSansBengali-Bold.ttf",
    "NotoSansThai-Bold.ttf",
    "NotoSansTamil-Bold.ttf",
    "NotoSansTelugu-Bold.ttf",
    "NotoSansGujarati-Bold.ttf",
    "NotoSansGurmukhi-Bold.ttf",
    "NotoSansKannada-Bold.ttf",
    "NotoSansMalayalam-Bold.ttf",
    "NotoSansKhmer-Bold.ttf",
    "NotoSansLao-Bold.ttf",
    "NotoSansMyanmar-Bold.ttf",
    "NotoSansSinhala-Bold.ttf",
    "NotoSansGeorgian-Bold.ttf",
    "NotoSansArmenian-Bold.ttf",
    "NotoSansEthiopic-Bold.ttf",
)
_CJK = ("NotoSansCJK-Black.ttc", "NotoSansCJK-Bold.ttc", "NotoSansCJK-Regular.ttc")
_EMOJI = "NotoColorEmoji.ttf"
_LAST = ("DejaVuSans-Bold.ttf", "DejaVuSans.ttf")

# Characters that belong to the run before them: joiners, variation selectors, skin tones, tags.
_JOINERS = frozenset({0x200C, 0x200D, 0x20E3, *range(0xFE00, 0xFE10), *range(0x1F3FB, 0x1F400)})
_TAGS = range(0xE0020, 0xE0080)
# Neutral characters stay in the current run when its font has them, to keep runs long.
_NEUTRAL_CATEGORIES = frozenset(
    {"Mn", "Mc", "Me", "Cf", "Zs", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po"}
)

REF_SIZE = 200  # words are measured once at this size; widths scale linearly with size
_INK_HEIGHT = 1.02  # ascender-to-descender ink of one line, in font sizes (estimate)
_CAP_MIDDLE = 0.36  # middle of a capital letter above the baseline, in font sizes
_EMOJI_EM = 0.8  # an emoji's scale relative to the font size
_INNER_BREAK_COST = 1.3  # how much a break between CJK characters of a word costs
_MOST_LINES = 6  # lines allowed when max_lines would make the text smaller than min_size


@dataclass(frozen=True)
class FontFace:
    """One font file (`path` None: Pillow's built-in font); `index` selects a face in a .ttc."""

    path: str | None
    index: int = 0
    emoji: bool = False


@dataclass(frozen=True)
class TextLook:
    """How a block of text is drawn. Ratios are fractions of the font size.

    `outer` is a second, wider outline around the `stroke` one; `emphasis` recolours words that
    contain a digit (the "100" in "I Tried 100 Coffee Shops").
    """

    fill: RGB
    stroke: RGB
    stroke_ratio: float = 0.09
    outer: RGB | None = None
    outer_ratio: float = 0.0
    emphasis: RGB | None = None
    uppercase: bool = False
    align: Align = "center"
    line_spacing: float = 1.06
    max_lines: int = 3


@dataclass(frozen=True)
class SetText:
    """A drawn text block: RGBA `image` cropped to its ink, at font `size` px.

    `fill_mask` and `emphasis_mask` (L, the size of `image`) are where the plain and the
    emphasised letters' fill colour was drawn, without outlines or emoji: the pixels whose
    contrast with their surroundings decides readability.
    """

    image: Image.Image
    size: int
    rtl: bool
    fill_mask: Image.Image | None = None
    emphasis_mask: Image.Image | None = None


@dataclass(frozen=True)
class _Run:
    text: str
    face: FontFace | None  # None: the space between two words
    emphasis: bool = False


@dataclass(frozen=True)
class _Token:
    runs: tuple[_Run, ...]
    gap_before: bool  # a space separates it from the previous token
    width: float  # at REF_SIZE, without the gap
    hyphen_before: bool = False  # a line that ends just before it ends with "-"


# --- font discovery and coverage -------------------------------------------------------------


@functools.cache
def _installed() -> dict[str, Path]:
    """Font files under FONT_DIRS by file name (the first one found for a name wins)."""
    found: dict[str, Path] = {}
    for root in FONT_DIRS:
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                if path.suffix.lower() in {".ttf", ".otf", ".ttc"}:
                    found.setdefault(path.name, path)
    return found


def _face(name: str, *, emoji: bool = False) -> FontFace | None:
    path = _installed().get(name)
    return FontFace(str(path), emoji=emoji) if path else None


@functools.cache
def font_chain() -> tuple[FontFace, ...]:
    """The fallback chain for text (emoji excluded), most preferred first; never empty."""
    installed = _installed()
    names = [next((name for name in _LATIN if name in installed), "")]
    names += _SCRIPTS
    names += [next((name for name in _CJK if name in installed), "")]  # face 0: Japanese
    bold = sorted(name for name in installed if name.startswith("NotoSans") and "-Bold." in name)
    bold_families = {name.split("-")[0] for name in bold}
    names += bold + sorted(
        name
        for name in installed
        if name.startswith("NotoSans")
        and "-Regular." in name
        and name.split("-")[0] not in bold_families
    )
    names += _LAST
    chain = [face for name in dict.fromkeys(names) if (face := _face(name))]
    if not chain:
        logger.warning("No font files under %s; using Pillow's built-in font", FONT_DIRS)
        chain.append(FontFace(None))
    return tuple(chain)


@functools.cache
def emoji_face() -> FontFace | None:
    """Noto Color Emoji, or None when it is not installed."""
    return _face(_EMOJI, emoji=True)


@functools.cache
def coverage(face: FontFace) -> frozenset[int]:
    """Code points the face maps to a glyph (empty for the built-in font or an unreadable file)."""
    if face.path is None:
        return frozenset()
    try:
        with TTFont(face.path, lazy=True, fontNumber=face.index) as font:
            cmap = font["cmap"].getBestCmap() or {}
    except (OSError, TTLibError, KeyError) as exc:
        logger.warning("Cannot read the cmap of %s: %s", face.path, exc)
        return frozenset()
    return frozenset(cmap)


@functools.cache
def _chain_face(codepoint: int) -> FontFace:
    chain = font_chain()
    return next((face for face in chain if codepoint in coverage(face)), chain[-1])


_RAQM = features.check("raqm")
_LAYOUT = ImageFont.Layout.RAQM if _RAQM else ImageFont.Layout.BASIC


def _layout_direction(face: FontFace, direction: str | None) -> str | None:
    """The paragraph direction to give Pillow (only raqm takes one; the built-in font is basic)."""
    return direction if _RAQM and face.path is not None else None


@functools.lru_cache(maxsize=512)
def get_font(face: FontFace, size: int) -> ImageFont.FreeTypeFont:
    """A Pillow font for `face` at `size` px (emoji faces always load at EMOJI_PX)."""
    if face.path is None:
        font = ImageFont.load_default(size)
        assert isinstance(font, ImageFont.FreeTypeFont)  # Pillow has FreeType, as truetype() needs
        return font
    return ImageFont.truetype(
        face.path, EMOJI_PX if face.emoji else size, index=face.index, layout_engine=_LAYOUT
    )


# --- runs ----------------------------------------------------------------------------------


def _sticks(char: str, current: FontFace) -> bool:
    """Whether `char` continues the run set in `current` rather than choosing its own font."""
    codepoint = ord(char)
    if codepoint in _JOINERS or codepoint in _TAGS:
        return current.emoji or codepoint in coverage(current)
    if current.emoji:
        return False
    return unicodedata.category(char) in _NEUTRAL_CATEGORIES and codepoint in coverage(current)


def split_runs(text: str) -> list[tuple[str, FontFace]]:
    """`text` as consecutive (substring, font) runs, each drawable with a single font.

    An emoji goes to the colour emoji font when the text font lacks it or a U+FE0F follows it.
    """
    emoji = emoji_face()
    primary = font_chain()[0]
    runs: list[tuple[str, FontFace]] = []
    for i, char in enumerate(text):
        codepoint = ord(char)
        following = text[i + 1] if i + 1 < len(text) else ""
        current = runs[-1][1] if runs else None
        if current is not None and _sticks(char, current):
            face = current
        elif (
            emoji is not None
            and codepoint in coverage(emoji)
            and (codepoint not in coverage(primary) or following == "\ufe0f")
        ):
            face = emoji
        else:
            face = _chain_face(codepoint)
        if runs and runs[-1][1] == face:
            runs[-1] = (runs[-1][0] + char, face)
        else:
            runs.append((char, face))
    return runs


def _direction(text: str, *, digits: bool) -> str | None:
    """The direction of the first strong character: "rtl", "ltr" or None if there is none.

    With `digits`, European and Arabic digits count as left-to-right (they are laid out so).
    """
    strong_ltr = ("L", "EN", "AN") if digits else ("L",)
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return "rtl"
        if kind in strong_ltr:
            return "ltr"
    return None


def _is_cjk(char: str) -> bool:
    codepoint = ord(char)
    return (
        0x2E80 <= codepoint <= 0x9FFF
        or 0xF900 <= codepoint <= 0xFAFF
        or 0xFF00 <= codepoint <= 0xFFEF
        or 0x20000 <= codepoint <= 0x3FFFF
    )


_NO_BREAK_BEFORE = frozenset({"Po", "Pe", "Pf", "Mn", "Mc", "Me", "Cf", "Sk"})
# Basic kinsoku shori (JIS X 4051 "line-start prohibited characters", the common subset): no line
# starts with the prolonged sound mark, small kana, iteration marks or closing punctuation.
KINSOKU_NO_START = frozenset(
    "ー"
    "ぁぃぅぇぉっゃゅょゎゕゖ"
    "ァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ"
    "ゝゞヽヾ々〻"
    "、。，．・：；？！‼⁇⁈⁉"  # noqa: RUF001
    "）」』】〕〉》〗〙〟’”｝］｠»"  # noqa: RUF001
    "…‥〜～"  # noqa: RUF001
)
# ... and no line ends with opening punctuation.
KINSOKU_NO_END = frozenset("（「『【〔〈《〖〘〝‘“｛［｟«")  # noqa: RUF001


# Words longer than this many characters may break inside (a line ending inside one gets a
# hyphen): one 40-letter word ("Donaudampfschifffahrtsgesellschaftskapitän") otherwise set the
# whole title on one line, a hairline a few per cent of the frame tall.
LONG_WORD_CHARS = 12
_HYPHEN_PIECE_CHARS = 3  # no piece of a hyphenated word shorter than this


# A web address, an email or handle, a hashtag: "youtube.com/c/MyChannel", "@MyChannel",
# "#ThumbnailDesign". A hyphen inside one reads as part of it ("MYAWE-SOMECHANNEL").
_ADDRESS = re.compile(r"^[#@]\w|\w[./@]\w")


@functools.cache
def _hyphenator(language: str) -> pyphen.Pyphen:
    return pyphen.Pyphen(lang=language, left=_HYPHEN_PIECE_CHARS, right=_HYPHEN_PIECE_CHARS)


def _long_word_breaks(word: str) -> dict[int, bool]:
    """Where a long word may break: {index: needs a hyphen}. At case and letter-digit changes
    and after "-", "_", "/" or "." ("#ThumbnailDesign2026", "how-to") without a hyphen, and at
    the hyphenation points of the LibreOffice patterns pyphen ships (German ones for a word with
    ä, ö, ü or ß, else US English) with one."""
    breaks: dict[int, bool] = {}
    last = 0
    for i in range(_HYPHEN_PIECE_CHARS, len(word) - _HYPHEN_PIECE_CHARS + 1):
        before, char = word[i - 1], word[i]
        if i - last >= _HYPHEN_PIECE_CHARS and (
            (before.islower() and char.isupper())
            or (before.isalpha() != char.isalpha() and before.isalnum() and char.isalnum())
            or (before in "-_/." and char.isalnum())
        ):
            breaks[i] = False
            last = i
    if _ADDRESS.search(word):
        return breaks  # an address, a handle or a hashtag is never hyphenated
    # Each run of letters between those ("Supercalifragilisticexpialidocious" in "...docious!"),
    # hyphenated.
    start = 0
    for end in [*breaks, len(word)]:
        for run in re.finditer(r"[^\W\d_]+", word[start:end]):
            letters = run.group()
            if len(letters) > LONG_WORD_CHARS // 2:
                language = "de_DE" if set(letters.casefold()) & set("äöüß") else "en_US"
                for position in _hyphenator(language).positions(letters):
                    breaks.setdefault(start + run.start() + position, True)
        start = end
    return dict(sorted(breaks.items()))


# A Japanese phrase longer than this may still break between its characters (a line of a
# thumbnail holds few of them).
LONG_PHRASE_CHARS = 8


@functools.cache
def _japanese_parser() -> Any:
    import budoux

    return budoux.load_default_japanese_parser()


def _phrase_starts(word: str) -> set[int] | None:
    """Where a Japanese run may break: the starts of its phrases (BudouX, Google's phrase model:
    "東京で|一番|おいしい|ラーメンを|探してみた"), and every character of a phrase longer than
    LONG_PHRASE_CHARS. None for text without kana (Chinese keeps breaking between characters):
    breaking anywhere split words ("ラー" / "メン")."""
    if not any(0x3040 <= ord(char) <= 0x30FF for char in word):
        return None
    starts: set[int] = set()
    position = 0
    for phrase in _japanese_parser().parse(word):
        starts.add(position)
        if len(phrase) > LONG_PHRASE_CHARS:
            starts.update(range(position, position + len(phrase)))
        position += len(phrase)
    return starts


def _words(text: str) -> list[tuple[str, bool, bool]]:
    """Breakable units with "space before" and "hyphen before" flags: words, single characters
    inside CJK text, and pieces of words longer than LONG_WORD_CHARS (`_long_word_breaks`).

    Closing punctuation, small kana and ー stay with the character before them (kinsoku), opening
    punctuation with the next.
    """
    units: list[tuple[str, bool, bool]] = []
    for word in text.split():
        for index, (unit, hyphen) in enumerate(_word_units(word)):
            units.append((unit, index == 0 and bool(units), hyphen))
    return units


def _word_units(word: str) -> list[tuple[str, bool]]:
    """`_words` of one word: its units with their "hyphen before" flags."""
    units: list[tuple[str, bool]] = []
    current, hyphen = "", False
    long_breaks = (
        _long_word_breaks(word)
        if len(word) > LONG_WORD_CHARS and not any(_is_cjk(char) for char in word)
        else {}
    )
    phrases = _phrase_starts(word)
    for i, char in enumerate(word):
        if current and i in long_breaks:
            units.append((current, hyphen))
            current, hyphen = "", long_breaks[i]
        elif (
            current
            and (_is_cjk(char) or _is_cjk(current[-1]))
            and unicodedata.category(char) not in _NO_BREAK_BEFORE
            and char not in KINSOKU_NO_START
            and current[-1] not in KINSOKU_NO_END
            and unicodedata.category(current[-1]) not in ("Ps", "Pi")
            and (phrases is None or i in phrases)
        ):
            units.append((current, hyphen))
            current, hyphen = "", False
        current += char
    units.append((current, hyphen))
    return units


# --- measuring and drawing runs --------------------------------------------------------------


def _emoji_scale(size: float) -> float:
    return size * _EMOJI_EM / EMOJI_PX


def _run_width(run: _Run, size: int, direction: str | None) -> float:
    if run.face is None:
        return get_font(font_chain()[0], size).getlength(" ")
    font = get_font(run.face, size)
    if run.face.emoji:
        return font.getlength(run.text) * _emoji_scale(size)
    return font.getlength(run.text, direction=_layout_direction(run.face, direction))


@functools.lru_cache(maxsize=64)
def _emoji_bitmap(text: str, size: int) -> Image.Image:
    """The colour emoji run as RGBA at font `size`; its vertical middle is the image middle."""
    face = emoji_face()
    assert face is not None
    font = get_font(face, EMOJI_PX)
    ascent, descent = font.getmetrics()
    width = math.ceil(font.getlength(text)) + 2
    native = Image.new("RGBA", (width, ascent + descent + 2))
    ImageDraw.Draw(native).text((1, 1 + ascent), text, font=font, anchor="ls", embedded_color=True)
    scale = _emoji_scale(size)
    target = (max(1, round(native.width * scale)), max(1, round(native.height * scale)))
    return native.resize(target, Image.Resampling.LANCZOS)


def _dilate(mask: Image.Image, radius: int) -> Image.Image:
    """`mask` grown by `radius` px on every side (`dilated`), padded by radius. A union of 16
    shifted copies drew a comb of spikes round a pointed shape at 4K (an emoji flame's tip)."""
    padded = Image.new("L", (mask.width + 2 * radius, mask.height + 2 * radius))
    padded.paste(mask, (radius, radius))
    return dilated(padded, radius)


def dilated(alpha: Image.Image, radius: int) -> Image.Image:
    """`alpha` grown by `radius` px, same size: every pixel within `radius` px (Euclidean) of
    the shape (alpha >= 128) is covered, with a one-pixel anti-aliased edge, and the shape keeps
    its own soft edge inside.

    From a distance transform (OpenCV's DIST_L2 with the 5x5 mask, within about 2% of the true
    distance), whose cost does not grow with the radius: the elliptical max filter it replaces
    took 1.7 CPU-s for a 60 px radius (a 4K cut-out's outline) on a 3000x3000 mask, this 0.07 s
    (2 cores, 2.0 GHz EPYC, 2026-12-03)."""
    import cv2  # the renderer's; not loaded by a web process that only measures text
    import numpy as np

    if radius < 1:
        return alpha
    shape = np.asarray(alpha)
    distance = cv2.distanceTransform((shape < 128).astype(np.uint8), cv2.DIST_L2, 5)
    # In place: a 4K cut-out's window is ~15 MP, 60 MB per float32 temporary.
    np.subtract(radius + 0.5, distance, out=distance)
    np.multiply(distance, 255, out=distance)
    np.clip(distance, 0, 255, out=distance)
    grown = distance.astype(np.uint8)
    del distance
    np.maximum(grown, shape, out=grown)
    return Image.fromarray(grown)


def _draw_run(
    canvas: Image.Image,
    run: _Run,
    x: float,
    baseline: float,
    size: int,
    colour: RGB | None,
    stroke: int,
    direction: str | None,
) -> None:
    """Draw one run. `colour` None: the fill pass (emoji in colour); else a silhouette pass."""
    if run.face is None:
        return
    if run.face.emoji:
        bitmap = _emoji_bitmap(run.text, size)
        left = round(x)
        top = round(baseline - _CAP_MIDDLE * size - bitmap.height / 2)
        if colour is None:
            canvas.alpha_composite(bitmap, (left, top))
        elif stroke > 0:
            silhouette = _dilate(bitmap.getchannel("A"), stroke)
            canvas.paste((*colour, 255), (left - stroke, top - stroke), silhouette)
        return
    ImageDraw.Draw(canvas).text(
        (x, baseline),
        run.text,
        font=get_font(run.face, size),
        anchor="ls",
        fill=colour,
        stroke_width=stroke,
        stroke_fill=colour,
        direction=_layout_direction(run.face, direction),
    )


def _draw_fill(
    canvas: Image.Image,
    mask: Image.Image,
    run: _Run,
    x: float,
    baseline: float,
    size: int,
    colour: RGB,
    direction: str | None,
) -> None:
    """The run's letters (no outline) in `colour` on `canvas` and in 255 on `mask` (L, the
    canvas's size), rasterised once for both: drawn with `ImageDraw.text` twice, they were
    rasterised twice, 6 ms of a 1K render's 93 (benchmarks/render_cpu.py). The same pixels:
    this is `ImageDraw.text`'s own single-line path (glyphs rendered at the fractional part of
    the position, blended at its integer part plus their offset)."""
    assert run.face is not None
    font = get_font(run.face, size)
    draw = ImageDraw.Draw(canvas)
    ink = draw.draw.draw_ink(colour)
    glyphs, offset = font.getmask2(
        run.text,
        draw.fontmode,
        _layout_direction(run.face, direction),
        None,
        None,
        0,
        "ls",
        ink,
        (math.modf(x)[0], math.modf(baseline)[0]),
        stroke_filled=True,
    )
    at = (int(x) + offset[0], int(baseline) + offset[1])
    draw.draw.draw_bitmap(at, glyphs, ink)
    ImageDraw.Draw(mask).draw.draw_bitmap(at, glyphs, 255)


# --- line breaking and bidi ------------------------------------------------------------------


def _tokens(text: str, direction: str | None, *, uppercase: bool = False) -> list[_Token]:
    """The text's breakable units, measured; upper-cased after they are found (`uppercase`),
    since case changes mark where a long word may break."""
    tokens: list[_Token] = []
    for word in text.split():
        for index, (runs, width, hyphen) in enumerate(_word_tokens(word, direction, uppercase)):
            tokens.append(_Token(runs, index == 0 and bool(tokens), width, hyphen))
    return tokens


# `shorten` (generation.providers.local) fits runs of a title's words by the dozen, each a new
# text for `_measured` but made of the same words: each word is measured once (font lookup
# per character, getlength per run), the last WORD_MEASURES kept (a few hundred bytes each).
# A 1K render with a face measured its words for 4.6 ms in `shorten`, now 1.0 (2 cores, 2.0 GHz).
WORD_MEASURES = 4096


@functools.lru_cache(maxsize=WORD_MEASURES)
def _word_tokens(
    word: str, direction: str | None, uppercase: bool
) -> tuple[tuple[tuple[_Run, ...], float, bool], ...]:
    """`_tokens` of one word: each unit's runs, width at REF_SIZE and "hyphen before" flag."""
    found = []
    for unit, hyphen in _word_units(word):
        if uppercase:
            unit = unit.upper()
        emphasis = any(char.isdigit() for char in unit)
        runs = tuple(_Run(part, face, emphasis) for part, face in split_runs(unit))
        found.append((runs, sum(_run_width(run, REF_SIZE, direction) for run in runs), hyphen))
    return tuple(found)


def _partitions(
    widths: list[float], gaps: list[float], ends: list[float], most: int
) -> dict[int, list[int]]:
    """For 1..`most` lines: the lines' start indices minimising the widest line.

    `widths[i]` is token i's width, `gaps[i]` the space before it when it does not start a line
    (0 inside a word of CJK text, where breaking is allowed but avoided when possible), `ends[j]`
    what a line ending just before token j adds (a hyphen inside a long word; `len(widths) + 1`
    items).
    """
    count = len(widths)
    prefix = [0.0]
    for i in range(count):
        prefix.append(prefix[-1] + widths[i] + gaps[i])

    def span(i: int, j: int) -> float:  # tokens i..j-1 on one line, breaks inside words dearer
        width = prefix[j] - prefix[i] - gaps[i] + ends[j]
        return width * _INNER_BREAK_COST if i and not gaps[i] else width

    best = [[math.inf] * (count + 1) for _ in range(most + 1)]
    cut = [[0] * (count + 1) for _ in range(most + 1)]
    best[0][0] = 0.0
    for k in range(1, most + 1):
        for j in range(k, count + 1):
            for i in range(k - 1, j):
                value = max(best[k - 1][i], span(i, j))
                if value < best[k][j]:
                    best[k][j], cut[k][j] = value, i
    result = {}
    for lines in range(1, most + 1):
        starts, j = [], count
        for k in range(lines, 0, -1):
            j = cut[k][j]
            starts.append(j)
        result[lines] = starts[::-1]
    return result


def _levels_order(runs: list[_Run], rtl: bool) -> list[_Run]:
    """Runs of one line in visual order (the bidi algorithm's rules L1-L2 at run granularity)."""
    base = 1 if rtl else 0
    kinds = [_direction(run.text, digits=True) if run.face is not None else None for run in runs]
    levels = []
    for i, kind in enumerate(kinds):
        if kind is None:
            before = next((k for k in reversed(kinds[:i]) if k), None)
            after = next((k for k in kinds[i + 1 :] if k), None)
            kind = before if before == after and before else ("rtl" if rtl else "ltr")
        levels.append(base if (kind == "rtl") == rtl else base + 1)
    order = list(range(len(runs)))
    for level in range(max(levels, default=0), 0, -1):
        i = 0
        while i < len(order):
            if levels[order[i]] >= level:
                j = i
                while j < len(order) and levels[order[j]] >= level:
                    j += 1
                order[i:j] = order[i:j][::-1]
                i = j
            else:
                i += 1
    return [runs[i] for i in order]


# --- the text block ------------------------------------------------------------------------


# A last line of one short word ("2", "10", "VS") is chosen only when it draws the block at least
# 1/ORPHAN_PENALTY (1.35x) larger than the best layout without it.
ORPHAN_PENALTY = 0.74
ORPHAN_MAX_CHARS = 3


# A designer keeps a bracketed aside ("(NOT CLICKBAIT)") on one line: a layout that breaks
# inside brackets wins only if its type is 1/BRACKET_PENALTY (1.67x) larger.
BRACKET_PENALTY = 0.6
# ASCII and the full-width / CJK brackets (U+FF08, U+FF3B, U+FF5B, U+300C, U+300E, U+3010)
_OPENING_BRACKETS = "([{\uff08\uff3b\uff5b\u300c\u300e\u3010"
_CLOSING_BRACKETS = ")]}\uff09\uff3d\uff5d\u300d\u300f\u3011"


def _inside_brackets(tokens: list[_Token]) -> list[bool]:
    """For each token index j, whether a line starting at token j would split a bracketed
    phrase (a bracket opened in tokens[:j] and not yet closed)."""
    depth, inside = 0, []
    for token in tokens:
        inside.append(depth > 0)
        for char in "".join(run.text for run in token.runs):
            if char in _OPENING_BRACKETS:
                depth += 1
            elif char in _CLOSING_BRACKETS and depth:
                depth -= 1
    return inside


def _is_short_word(tokens: list[_Token]) -> bool:
    """True for one token of at most ORPHAN_MAX_CHARS characters, outside CJK text (where a
    line may break inside a word)."""
    if len(tokens) != 1:
        return False
    text = "".join(run.text for run in tokens[0].runs).strip()
    return 0 < len(text) <= ORPHAN_MAX_CHARS and not any(_is_cjk(char) for char in text)


@dataclass(frozen=True)
class _Measured:
    """A text's tokens measured at REF_SIZE (`_measured`): what `_plan` needs whatever the box,
    size limits and colours. Read only."""

    tokens: tuple[_Token, ...]
    widths: list[float]
    gaps: list[float]  # the space before each token when it does not start a line
    ends: list[float]  # what a line ending just before token j adds (a hyphen)
    inside: list[bool]  # `_inside_brackets`
    partitions: dict[int, dict[int, list[int]]]  # `_partitions` by `most`, filled when asked


# A render plans its words a hundred times or more, mostly the same texts: each variant of the
# layout that keeps them clear of the people fits the title and its shortened runs again
# (`shorten`), then draws it. Measuring the words (font lookup per character, getlength per run)
# was 70 % of `_plan`'s time; measured once, a 1K render with a face took 8 ms less (149 -> 141,
# benchmarks/render_cpu.py). The last TEXT_MEASURES texts are kept (a few KB each).
TEXT_MEASURES = 512


@functools.lru_cache(maxsize=TEXT_MEASURES)
def _measured(text: str, direction: str | None, uppercase: bool) -> _Measured:
    """`text`'s tokens (`_tokens`) with their widths, gaps, line-end hyphens and brackets."""
    tokens = _tokens(text, direction, uppercase=uppercase)
    space = _run_width(_Run(" ", None), REF_SIZE, direction)
    return _Measured(
        tuple(tokens),
        [token.width for token in tokens],
        [space if token.gap_before else 0.0 for token in tokens],
        [  # the hyphen a line ending inside a long word gets
            _run_width(_Run("-", tokens[j - 1].runs[-1].face), REF_SIZE, direction)
            if j < len(tokens) and tokens[j].hyphen_before
            else 0.0
            for j in range(len(tokens) + 1)
        ],
        _inside_brackets(tokens),
        {},
    )


def _plan(
    text: str, look: TextLook, box: tuple[int, int], min_size: int, max_size: int
) -> tuple[float, list[list[_Run]], str | None, bool] | None:
    """The largest size that fits and the lines (runs in visual order), or None without words
    (or with only words that have no width, such as a zero-width space)."""
    direction = _direction(text.upper() if look.uppercase else text, digits=False)
    rtl = direction == "rtl"
    measured = _measured(text, direction, look.uppercase)
    tokens = measured.tokens
    if not any(width > 0 for width in measured.widths):  # no words, or none with any width
        return None
    widths, gaps, ends, inside = measured.widths, measured.gaps, measured.ends, measured.inside
    outline = 2 * max(look.stroke_ratio, look.outer_ratio)
    box_w, box_h = box

    most = min(len(tokens), max(look.max_lines, _MOST_LINES))
    if most not in measured.partitions:
        measured.partitions[most] = _partitions(widths, gaps, ends, most)
    best_size, best_score, best_starts = 0.0, 0.0, [0]
    for lines, starts in measured.partitions[most].items():
        if lines > look.max_lines and best_size >= min_size:
            break
        stops = [*starts[1:], len(tokens)]
        widest = max(
            sum(widths[i:j]) + sum(gaps[i + 1 : j]) + ends[j]
            for i, j in zip(starts, stops, strict=True)
        )
        size = min(
            box_w / (widest / REF_SIZE + outline),
            box_h / (_INK_HEIGHT + (lines - 1) * look.line_spacing + outline),
            max_size,
        )
        # A designer keeps a short last word ("EPISODE / 2") on the line before it unless the
        # break buys much larger type.
        orphan = lines > 1 and _is_short_word(list(tokens[starts[-1] :]))
        score = size * (ORPHAN_PENALTY if orphan else 1.0)
        if any(inside[start] for start in starts[1:]):
            score *= BRACKET_PENALTY
        if score > best_score * 1.04:
            best_size, best_score, best_starts = size, score, starts

    stops = [*best_starts[1:], len(tokens)]
    lines_of_runs = []
    for i, j in zip(best_starts, stops, strict=True):
        runs: list[_Run] = []
        for k in range(i, j):
            if k > i and tokens[k].gap_before:
                runs.append(_Run(" ", None))
            runs.extend(tokens[k].runs)
        if j < len(tokens) and tokens[j].hyphen_before:  # the line ends inside a long word
            last = runs[-1]
            runs.append(_Run("-", last.face, last.emphasis))
        lines_of_runs.append(_levels_order(runs, rtl))
    return best_size, lines_of_runs, direction, rtl


def fitted_size(
    text: str, look: TextLook, box: tuple[int, int], *, min_size: int, max_size: int
) -> float:
    """The font size (px) `set_text` would choose for `text` in `box`, without drawing; 0 for
    text without words. Used to decide whether a title must be shortened."""
    plan = _plan(text, look, box, min_size, max_size)
    return plan[0] if plan else 0.0


def set_text(
    text: str,
    look: TextLook,
    box: tuple[int, int],
    *,
    min_size: int,
    max_size: int,
) -> SetText | None:
    """Draw `text` as large as fits in `box` (width, height px), or None if it has no words.

    Wraps into at most `look.max_lines` balanced lines (more only when the size would fall below
    `min_size`; the text shrinks further rather than overflow), and never exceeds `max_size` px.
    The returned image is at most `box` in both dimensions.
    """
    plan = _plan(text, look, box, min_size, max_size)
    if plan is None:
        return None
    best_size, lines_of_runs, direction, rtl = plan
    box_w, box_h = box
    size = max(1, math.floor(best_size))
    for _ in range(2):
        image, fill, emphasis = _draw_block(lines_of_runs, look, size, direction, rtl)
        if image.width <= box_w and image.height <= box_h:
            break
        size = max(1, math.floor(size * min(box_w / image.width, box_h / image.height) * 0.99))
    if image.width > box_w or image.height > box_h:
        image.thumbnail((box_w, box_h), Image.Resampling.LANCZOS)
        fill = fill.resize(image.size, Image.Resampling.BILINEAR)
        emphasis = emphasis.resize(image.size, Image.Resampling.BILINEAR)
    return SetText(image, size, rtl, fill, emphasis)


def _run_extent(run: _Run, size: int, direction: str | None) -> tuple[float, float]:
    """(ascent, descent) of the run's ink around the baseline, in px, both usually positive."""
    if run.face is None:
        return 0.0, 0.0
    if run.face.emoji:
        half = _emoji_bitmap(run.text, size).height / 2
        return _CAP_MIDDLE * size + half, half - _CAP_MIDDLE * size
    box = get_font(run.face, size).getbbox(
        run.text, anchor="ls", direction=_layout_direction(run.face, direction)
    )
    return -box[1], box[3]


def _draw_block(
    lines: list[list[_Run]], look: TextLook, size: int, direction: str | None, rtl: bool
) -> tuple[Image.Image, Image.Image, Image.Image]:
    """The lines at `size` px with their outlines, cropped to the ink (RGBA), and the L masks of
    the plain and emphasised fill (see `SetText`).

    Baselines are `look.line_spacing` font sizes apart, more where a line's descenders would
    touch the next line's tall glyphs (CJK, Devanagari, accents).
    """
    stroke = max(1, round(look.stroke_ratio * size)) if look.stroke_ratio > 0 else 0
    outer = round(look.outer_ratio * size) if look.outer is not None else 0
    pad = max(stroke, outer) + 2
    widths = [[_run_width(run, size, direction) for run in line] for line in lines]
    line_widths = [sum(line) for line in widths]
    extents = [[_run_extent(run, size, direction) for run in line] for line in lines]
    ascents = [max((a for a, _ in line), default=0.0) for line in extents]
    descents = [max((d for _, d in line), default=0.0) for line in extents]
    baselines = [pad + ascents[0]]
    for index in range(1, len(lines)):
        clearance = descents[index - 1] + ascents[index] + 0.1 * size
        baselines.append(baselines[-1] + max(look.line_spacing * size, clearance))
    width = math.ceil(max(line_widths)) + 2 * pad
    height = math.ceil(baselines[-1] + descents[-1]) + 2 * pad
    canvas = Image.new("RGBA", (width, height))
    masks = {False: Image.new("L", canvas.size), True: Image.new("L", canvas.size)}

    align = look.align
    if rtl and align != "center":
        align = "right" if align == "left" else "left"
    passes: list[tuple[RGB | None, int]] = []
    if look.outer is not None and outer > stroke:
        passes.append((look.outer, outer))
    if stroke:
        passes.append((look.stroke, stroke))
    passes.append((None, 0))
    for colour, width_px in passes:
        for line, run_widths, line_width, baseline in zip(
            lines, widths, line_widths, baselines, strict=True
        ):
            free = width - 2 * pad - line_width
            x = pad + {"left": 0.0, "center": free / 2, "right": free}[align]
            for run, run_width in zip(line, run_widths, strict=True):
                if colour is None and run.face is not None and not run.face.emoji:
                    emphasised = bool(run.emphasis and look.emphasis)
                    fill = look.emphasis if run.emphasis and look.emphasis else look.fill
                    _draw_fill(canvas, masks[emphasised], run, x, baseline, size, fill, direction)
                else:
                    _draw_run(canvas, run, x, baseline, size, colour, width_px, direction)
                x += run_width
    bbox = canvas.getchannel("A").getbbox() or (0, 0, *canvas.size)
    return canvas.crop(bbox), masks[False].crop(bbox), masks[True].crop(bbox)
