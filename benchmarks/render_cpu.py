"""The offline renderer's CPU per render: every built-in style (and the generic look), with and
without a face, 16:9 at 1K, and one 4K case, in one process.

Each case is rendered once untimed (fonts loaded, the face photo decoded and cut out: the
renderer keeps FACE_PHOTO_MEMO photos, as a worker does across the variations of a request),
then `--runs` rounds render every case once each, interleaved, so a noisy neighbour slows all
cases alike. Before each timed render the caches keyed by a request's words are emptied
(`fonts._measured`, `fonts._word_tokens`): the benchmark repeats its requests, and a worker
meets a title again only in the other variations of its request; the caches keyed by the
frame's size stay, as they do in a worker. Prints per case the median CPU ms of
`time.process_time()` over the rounds (and the lowest), then the means of the medians: 1K
without a face, 1K with one, and 4K.

2 cores at 2.0 GHz shared with other work, medians of 3 interleaved rounds of `--runs 5`, before
and after the renderer's CPU work of 2026-12-04 (the same pixels, `--digest`): 1K without a face
87.2 -> 66.6 ms, with a face 145.3 -> 106.5, all 1K 116.2 -> 86.5; the 4K case 1700 -> 1468 among
the 1K ones, 1651 -> 1287 alone (`--only 4K`, where its 4K frame masks stay kept).

Keeping the words clear of YouTube's duration badge (2026-12-05, `_text_clear_of_badge`: a
block that reaches the bottom-right corner is re-planned in up to four smaller boxes) costs the
frames without a face, whose large words this title takes into the corner: medians of 2
interleaved rounds of `--runs 3` against the commit before it, 1K without a face 86.2, 84.9 ->
122.0, 120.1 ms; with a face 120.1, 117.1 -> 121.5, 117.2; 4K 1226, 1167 -> 1207, 1199.

The renderer's CPU work of 2026-12-05, measured the same way (this file's code run against a
clone of the commit before it, alternated, 3 rounds each; the machine shared with other work
at a load of 4 to 13): 1K without a face 69.0 -> 60.0 ms, with a face 111.8 -> 81.7, all 1K
90.4 -> 70.8; the 4K case 1525 -> 993 among the 1K ones, 1359 -> 823 alone. Not the same
pixels: the soft layers drawn smaller (bokeh, the rays, the documentary's light), the cut-out
scaled by OpenCV and the shadows given their opacity before they are scaled up differ by a few
levels, the cut-out's outline edge by a pixel in places; the words, their layout and every
other layer are the same.

`--digest` also prints a SHA-256 of each case's pixels (`Image.tobytes`), to check that a change
to the renderer draws the same pictures: run it before and after and compare.

    PYTHONPATH=. .venv/bin/python benchmarks/render_cpu.py [--runs 5] [--digest] [--only 1K]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generation.providers import fonts, local  # noqa: E402
from generation.providers.base import ImageRequest, InputImage, RenderSpec  # noqa: E402
from generation.providers.local import LocalRenderer  # noqa: E402

FACE = ROOT / "tests" / "fixtures" / "face-eileen-collins.jpg"
STYLES = (*local.BUILT_IN_STYLES, "")  # and a custom style: the generic look
TITLE = "I Tried 100 Coffee Shops: Only 1 Was Worth It"
SUBTITLE = "The honest ranking"
WORD_CACHES = (
    "_measured",
    "_word_tokens",
)  # fonts' caches of a request's words, emptied per render


def cases() -> list[tuple[str, ImageRequest]]:
    """(name, request): each style without and with the face at 1K, then bold-gaming at 4K."""
    face = InputImage(FACE.read_bytes(), "image/jpeg", "face")
    found = []
    for size, styles in (("1K", STYLES), ("4K", ("bold-gaming",))):
        for style in styles:
            for images in ([], [face]):
                if size == "4K" and not images:
                    continue
                spec = RenderSpec(
                    title=TITLE, subtitle=SUBTITLE, style_key=style, seed=7, variation=0
                )
                name = f"{size} {style or 'generic'}{' +face' if images else ''}"
                found.append((name, ImageRequest("", "16:9", size, "local", images, spec)))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--digest", action="store_true", help="print each case's pixel SHA-256")
    parser.add_argument("--only", default="", help="only the cases whose name contains this")
    args = parser.parse_args()
    renderer = LocalRenderer()
    todo = [(name, request) for name, request in cases() if args.only in name]
    for name, request in todo:  # warm: fonts, the face photo's cut-out
        image = renderer.render(request).image
        if args.digest:
            print(f"digest {hashlib.sha256(image.tobytes()).hexdigest()[:16]}  {name}")
    times: dict[str, list[float]] = {name: [] for name, _ in todo}
    for _ in range(args.runs):
        for name, request in todo:
            for cache in WORD_CACHES:
                if hasattr(fonts, cache):  # (an older renderer, measured for comparison)
                    getattr(fonts, cache).cache_clear()
            start = time.process_time()
            renderer.render(request)
            times[name].append((time.process_time() - start) * 1000)
    medians = {}
    for name, samples in times.items():
        medians[name] = statistics.median(samples)
        print(f"{medians[name]:8.1f} ms  (min {min(samples):7.1f})  {name}")
    for label, keep in (
        ("1K mean, no face", lambda n: n.startswith("1K") and "+face" not in n),
        ("1K mean, face", lambda n: n.startswith("1K") and "+face" in n),
        ("1K mean, all", lambda n: n.startswith("1K")),
        ("4K", lambda n: n.startswith("4K")),
    ):
        chosen = [value for name, value in medians.items() if keep(name)]
        if chosen:
            print(f"{statistics.mean(chosen):8.1f} ms  {label} ({args.runs} runs, median)")


if __name__ == "__main__":
    main()
