"""Offline renders at 320x180 for the titles in the tests, in one contact sheet PNG.

    PYTHONPATH=. python scripts/contact_sheet.py [--out docs/screenshots/offline-renders.png]
        [--hero static/img/hero.webp]

`--hero` also writes the landing page's picture: the first case, a real render of the offline
renderer (1120x630 WebP, the 560 px hero at 2x).

Each tile is a 1K render by the local renderer (generation.providers.local) scaled to 320x180 (or
the 9:16 Short scaled to 180 px high), as YouTube shows a thumbnail in search results; a caption
under it names the style, palette, variation and what the render reports (shortened titles).
The face is the sample photo in the repository's test fixtures. Deterministic: same output
for the same code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generation.providers.base import ImageRequest, InputImage, RenderSpec  # noqa: E402
from generation.providers.local import LocalRenderer  # noqa: E402
from studio.images import burn_watermark  # noqa: E402
from studio.prompts import split_title  # noqa: E402

FACE = ROOT / "tests" / "fixtures" / "face-eileen-collins.jpg"
MONO = ["#111111", "#FFD400", "#FFFFFF"]

# (title, style, palette, ratio, faces, variation, watermark)
CASES = [
    ("I Tried 100 Coffee Shops: Only 1 Was Worth It", "bold-gaming", [], "16:9", 1, 0, False),
    ("I Tried 100 Coffee Shops: Only 1 Was Worth It", "bold-gaming", [], "16:9", 1, 1, False),
    ("I Tried 100 Coffee Shops", "minimal", [], "16:9", 0, 0, False),
    ("I Tried 100 Coffee Shops", "minimal", [], "16:9", 1, 2, False),
    ("My 5:00 AM Routine", "vlog-bright", [], "16:9", 1, 0, True),
    ("The Truth: What Nobody Tells You", "documentary", MONO, "16:9", 1, 0, False),
    ("The Truth: What Nobody Tells You", "documentary", MONO, "16:9", 0, 3, False),
    ("Top 10 ⚡ 日本語 العربية हिन्दी 🔥", "clean-tech", [], "16:9", 1, 1, False),
    (
        "ラーメンを食べてみた\uff1a東京ナンバーワンのラーメン屋さんでチャーシューメン",
        "retro-pop",
        [],
        "16:9",
        1,
        0,
        False,
    ),
    (
        "I Spent 30 Days Living Like a Medieval Peasant and This Is What Happened To My Body",
        "cinematic",
        [],
        "16:9",
        1,
        0,
        True,
    ),
    ("Same title 100", "", [], "16:9", 2, 0, False),
    ("Duo: Best Friends Try 5 Spicy Foods", "vlog-bright", [], "9:16", 2, 1, True),
    ("NOOOOOOOOOOOOOOOO!!: I Lost Everything", "bold-gaming", [], "16:9", 1, 0, False),
    ("WATCH: youtube.com/c/MyAwesomeChannelName", "clean-tech", [], "16:9", 0, 1, False),
    ("東京で一番おいしいラーメン\uff1a結果は意外", "cinematic", [], "16:9", 1, 0, False),
]
TILE_W, TILE_H, CAPTION = 320, 180, 28


def render(case: tuple, tile: tuple[int, int] = (TILE_W, TILE_H)) -> tuple[Image.Image, list[str]]:
    title, style, colours, ratio, faces, variation, watermark = case
    lines = split_title(title)
    photo = FACE.read_bytes()
    images = [InputImage(photo, "image/jpeg", "face", person=i) for i in range(faces)]
    request = ImageRequest(
        prompt="",
        aspect_ratio=ratio,
        image_size="1K",
        model="local",
        images=images,
        spec=RenderSpec(
            title=lines.main,
            subtitle=lines.sub,
            colors=colours,
            style_key=style,
            seed=7 + variation,
            variation=variation,
        ),
    )
    rendered = LocalRenderer().render(request)
    image = burn_watermark(rendered.image) if watermark else rendered.image
    image.thumbnail(tile, Image.Resampling.LANCZOS)
    return image, rendered.notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots" / "offline-renders.png"))
    parser.add_argument("--hero", help="also write the landing page's picture here (WebP)")
    args = parser.parse_args()
    if args.hero:
        hero, _ = render(CASES[0], (1120, 630))
        hero.save(args.hero, "WEBP", quality=82, method=6)
        print(args.hero)
    columns = 3
    rows = (len(CASES) + columns - 1) // columns
    gap = 10
    sheet = Image.new(
        "RGB", (columns * (TILE_W + gap) + gap, rows * (TILE_H + CAPTION + gap) + gap), (32, 32, 36)
    )
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(11)
    for index, case in enumerate(CASES):
        image, notes = render(case)
        x = gap + (index % columns) * (TILE_W + gap)
        y = gap + (index // columns) * (TILE_H + CAPTION + gap)
        sheet.paste(image, (x + (TILE_W - image.width) // 2, y))
        style = case[1] or "custom"
        caption = f"{style} · {case[3]} · v{case[5]}" + (" · mono" if case[2] else "")
        caption += " · watermark" if case[6] else ""
        draw.text((x, y + TILE_H + 3), caption, fill=(220, 220, 220), font=font)
        if notes:
            draw.text((x, y + TILE_H + 15), "shortened", fill=(255, 200, 80), font=font)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
