"""Where YouTube shows a thumbnail and what it draws over it: the display slots (CSS px) and
the video-length badge over the bottom-right corner.

One definition for the studio's thumbnail check (`studio.saliency` measures text under the
badge at each slot) and the offline renderer (`generation.providers.local` keeps its text out
of `badge_zones`). A thumbnail of another landscape or square ratio (4:3, 1:1, 21:9) is fitted
inside the 16:9 slot, as YouTube letterboxes it (`Placement`); a vertical one (taller than
wide: a Short's 9:16) is measured in `SHORTS_SIZES`, the 9:16 tiles YouTube shows Shorts in,
which carry no video-length badge (`slots_for`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 (px of the slot or of the image)


@dataclass(frozen=True)
class DisplaySize:
    """A place YouTube shows thumbnails: the slot in CSS pixels (16:9, or 9:16 for Shorts),
    where the figure comes from, and whether YouTube draws the video-length badge over it."""

    name: str
    label: str
    width: int
    height: int
    source: str
    badge: bool = True


DISPLAY_SIZES = (
    DisplaySize(
        "search",
        "Search results (desktop)",
        360,
        202,
        "~360x202: tinypixelkit, 'YouTube thumbnail sizes and best practices for 2026'; "
        "thumbnailcreator.com, 'Mobile vs Desktop: Thumbnail Scaling Tips'",
    ),
    DisplaySize(
        "suggested",
        "Suggested videos (desktop sidebar)",
        168,
        94,
        "~168x94: tinypixelkit (2026) and thumbeast.com, 'How to make thumbnails that work on "
        "mobile' (the same size in the phone's suggested list)",
    ),
    DisplaySize(
        "mobile_home",
        "Mobile home feed (phone)",
        360,
        202,
        "~360x203: thumix.com, 'YouTube thumbnail size for mobile' (portrait feed); the feed is "
        "full-width, so this is a 360 CSS px wide phone; wider phones (390-430) show it larger. "
        "202 here, as for search: 360 x 9/16 is 202.5, and the check listed 360x202 beside "
        "360x203 (creator review)",
    ),
)


# Shorts (9:16) tiles. YouTube publishes no display size for them (its Help Center gives upload
# sizes only; searched 2026-12: creators' guides say only "9:16, 1080x1920" and that the Shorts
# feed itself plays the video, showing no thumbnail). These are derived from the web layout,
# each tile 9:16 (height = width x 16/9, rounded down), and are estimates, not published figures:
SHORTS_SIZES = (
    DisplaySize(
        "shorts_desktop",
        "Shorts shelf (desktop home)",
        210,
        373,
        "~210x373, derived: YouTube's desktop grid sizes a shelf item as the row's usable width "
        "/ items per row - the item margin (insin/control-panel-for-youtube#90); a 1440 px "
        "window with the guide open leaves ~1150 px, assumed shown as 5 Shorts of ~210 px; "
        "wider windows show more tiles (up to 9, control-panel-for-youtube#74)",
        badge=False,
    ),
    DisplaySize(
        "shorts_sidebar",
        "Shorts beside a video (desktop)",
        131,
        232,
        "~131x232, derived: the Shorts shelf in the watch page's 402 px sidebar holds 3 tiles "
        "8 px apart, (402 - 8) / 3 (the reel item's compact width as userscripts override it)",
        badge=False,
    ),
    DisplaySize(
        "shorts_mobile",
        "Shorts shelf (phone home feed)",
        164,
        291,
        "~164x291, derived: the phone feed's Shorts shelf shows 2 tiles across a 360 CSS px "
        "phone, 12 px side margins and an 8 px gap, (360 - 24 - 8) / 2; wider phones "
        "(390-430) show them up to ~197 px wide",
        badge=False,
    ),
)


def slots_for(width: int, height: int) -> tuple[DisplaySize, ...]:
    """Where YouTube shows a `width` x `height` thumbnail: a vertical one (taller than wide)
    as a Short, in SHORTS_SIZES; any other (16:9, and 4:3, 1:1, 21:9 letterboxed into the 16:9
    tile) in DISPLAY_SIZES."""
    return SHORTS_SIZES if height > width else DISPLAY_SIZES


@dataclass(frozen=True)
class Badge:
    """The video-length badge YouTube draws over the bottom-right corner, in CSS pixels. It is
    UI text, so it keeps this size at every thumbnail size and covers more of small ones.

    Assumed, not published: a 12 px label ("12:34") with ~4 px side padding, about 40x20, set
    4 px in from the right and bottom edges of the thumbnail, as the desktop and mobile apps
    draw it (2025-2026); a longer "1:23:45" label is wider still.
    """

    width: int = 40
    height: int = 20
    inset: int = 4


BADGE = Badge()


class Fractions(Protocol):
    """A box in fractions of the image's width and height (0..1)."""

    @property
    def x0(self) -> float: ...
    @property
    def y0(self) -> float: ...
    @property
    def x1(self) -> float: ...
    @property
    def y1(self) -> float: ...


@dataclass(frozen=True)
class Placement:
    """The image letterboxed in a slot: its drawn size and top-left corner, in slot px."""

    width: float
    height: float
    left: float
    top: float

    @classmethod
    def of(cls, image_width: int, image_height: int, slot: DisplaySize) -> Placement:
        scale = min(slot.width / image_width, slot.height / image_height)
        width, height = image_width * scale, image_height * scale
        return cls(width, height, (slot.width - width) / 2, (slot.height - height) / 2)

    def rect(self, box: Fractions) -> Rect:
        """`box` (fractions of the image) in slot px."""
        return (
            self.left + box.x0 * self.width,
            self.top + box.y0 * self.height,
            self.left + box.x1 * self.width,
            self.top + box.y1 * self.height,
        )


def badge_rect(slot: DisplaySize) -> Rect:
    """Where BADGE sits in `slot`, in slot pixels."""
    return (
        slot.width - BADGE.inset - BADGE.width,
        slot.height - BADGE.inset - BADGE.height,
        slot.width - BADGE.inset,
        slot.height - BADGE.inset,
    )


def badge_zones(width: int, height: int) -> list[Rect]:
    """Where the badge covers a `width` x `height` px image, in its px: one rect per
    DISPLAY_SIZES slot (in that order) where the badge falls on the image, clipped to it. At
    16:9 the suggested-videos slot's is the largest (168x94: the right 26 % of the image, the
    bottom 25 %); a portrait image letterboxed in the slot is clear of it."""
    zones = []
    for slot in DISPLAY_SIZES:
        place = Placement.of(width, height, slot)
        x0, y0, x1, y1 = badge_rect(slot)
        scale = width / place.width
        zone = (
            max(0.0, (x0 - place.left) * scale),
            max(0.0, (y0 - place.top) * scale),
            min(float(width), (x1 - place.left) * scale),
            min(float(height), (y1 - place.top) * scale),
        )
        if zone[0] < zone[2] and zone[1] < zone[3]:
            zones.append(zone)
    return zones
