"""How sharp a face photo can look in a thumbnail, from the height of the face found in it.

The offline renderer draws a lone cut-out face `generation.providers.local.cutout_face_height`
px tall (16:9: 332 at 1K, 664 at 2K, 1,327 at 4K, at the largest framing). A photo whose face is
smaller is scaled up that much; up to `MAX_UPSCALE` (1.5x, Lanczos) still reads as sharp at the
sizes YouTube shows, beyond it edges and skin go soft. `face_photo_note` tells the creator, in
the library, which resolutions a face's best photo is sharp at and what photo would do better.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable

MAX_UPSCALE = 1.5
RESOLUTIONS = ("1K", "2K", "4K")


@functools.cache
def needed_face_height(resolution: str) -> int:
    """Px height a photo's face needs to stay sharp at `resolution` (16:9)."""
    from generation.providers.local import cutout_face_height

    return math.ceil(cutout_face_height(resolution) / MAX_UPSCALE)


def sharp_up_to(face_heights: Iterable[int | None]) -> str | None:
    """The largest resolution ("1K", "2K", "4K") the best of a face's photos stays sharp at, ""
    when not even 1K, None when nothing was measured or no face was found."""
    measured = [height for height in face_heights if height is not None]
    if not measured or max(measured) == 0:
        return None
    sharp = [size for size in RESOLUTIONS if max(measured) >= needed_face_height(size)]
    return sharp[-1] if sharp else ""


def no_face_found(face_heights: Iterable[int | None]) -> bool:
    """True when photos were measured and no face was found in any (every height 0)."""
    measured = [height for height in face_heights if height is not None]
    return bool(measured) and max(measured) == 0


def face_photo_note(face_heights: Iterable[int | None]) -> str:
    """One line for a face's photos' detected face heights (px; 0: no face found; None: not
    measured), judged on the largest (the renderer picks the best photo). Empty when every
    resolution is sharp or nothing was measured."""
    measured = [height for height in face_heights if height is not None]
    sharp = sharp_up_to(measured)
    if not measured or sharp == RESOLUTIONS[-1]:
        return ""
    if sharp is None:
        return (
            "No face found in these photos: thumbnails show them in a frame instead of cutting "
            "you out, and leave them out beside faces that are cut out. A clear, front-facing "
            "photo works best."
        )
    if not sharp:
        return (
            f"Small face ({max(measured)} px tall): thumbnails will look soft. Use a photo where "
            f"your face is at least {needed_face_height('1K')} px tall "
            f"({needed_face_height('4K'):,} px for 4K)."
        )
    return (
        f"Sharp up to {sharp}. For 4K, use a photo where your face is at least "
        f"{needed_face_height('4K'):,} px tall (this one: {max(measured)} px)."
    )
