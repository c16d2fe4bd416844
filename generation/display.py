"""Where YouTube shows a thumbnail and what it draws over it: the display slots (CSS px) and
the video-length badge over the bottom-right corner.

One definition for the studio's thumbnail check (`studio.saliency` measures text under the
badge at each slot) and the offline renderer (`generation.providers.local` keeps its text out
of `badge_zones`). A thumbnail of another ratio is fitted inside the 16:9 slot, as YouTube
letterboxes it (`Placement`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 (px of the slot or of the image)


@dataclass(frozen=True)
class DisplaySize:
    """A place YouTube shows thumbnails: the 16:9 slot in CSS pixels, and where the figure
    comes from."""

    name: str
    label: str
    width: int
    height: int
    source: str


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
