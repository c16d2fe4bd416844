"""Gallery cards computed once per page, not once per card.

A card shows a thumbnail's two image sizes (signed media URLs) and links to its large view and
its actions. Rendering each with `{% url %}` and `FieldFile.url` cost 10 URL reversals and 3
storage calls per card; here each route is reversed once per page into a format string and
every image is signed with one `MediaSigner` (one expiry, one derived key), so a page of N cards
costs a fixed number of reversals and no storage calls, plus one HMAC per image
(`tests/test_private_media.py` counts them; `benchmarks/studio_cards.py` times a page).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.urls import reverse

from studio.media import MediaSigner

_PLACEHOLDER = re.compile(r"^\{(\w+)\}$")


def url_format(name: str, *args: Any) -> str:
    """`reverse(name, args)` as a `str.format` template: each argument written `"{field}"` is
    left as that field, e.g. `url_format("thumbnail-page", "{pk}")` -> `"/studio/thumbnails/{pk}"`.
    Placeholders are reversed as distinct digit strings (valid for `int` and `str` converters)
    and swapped back; literal braces are escaped."""
    sentinels: dict[str, str] = {}
    values = []
    for index, arg in enumerate(args):
        match = _PLACEHOLDER.match(arg) if isinstance(arg, str) else None
        if match:
            sentinel = str(987654300 + index)
            sentinels[sentinel] = "{" + match.group(1) + "}"
            values.append(sentinel)
        else:
            values.append(arg)
    url = reverse(name, args=values).replace("{", "{{").replace("}", "}}")
    for sentinel, field in sentinels.items():
        if url.count(sentinel) != 1:
            raise ValueError(f"cannot make a format of {name!r}")
        url = url.replace(sentinel, field)
    return url


@dataclass(frozen=True, slots=True)
class CardPage:
    """What every card of one page shares: its route formats, the page-wide action URLs, whether
    the creator's plan has the palette tool, and the media signer."""

    page: str
    favorite: str
    move: str
    delete: str
    download: str
    palette_url: str
    plans_url: str
    can_analyse_palette: bool
    signer: MediaSigner

    @classmethod
    def for_user(cls, user: Any) -> CardPage:
        from billing.services import effective_plan

        plan = getattr(user, "_effective_plan", None)
        if plan is None and getattr(user, "is_authenticated", False):
            plan = user._effective_plan = effective_plan(user)
        return cls(
            page=url_format("thumbnail-page", "{pk}"),
            favorite=url_format("thumbnail-favorite", "{pk}"),
            move=url_format("thumbnail-move", "{pk}"),
            delete=url_format("thumbnail-delete", "{pk}"),
            download=url_format("api-thumbnail-download", "{pk}") + "?size=youtube",
            palette_url=reverse("run-tool", args=["analyse_palette"]),
            plans_url=reverse("plans"),
            can_analyse_palette=bool(plan and plan.has_feature("analyse_palette")),
            signer=MediaSigner(),
        )

    def card(self, thumbnail: Any) -> Card:
        pk = thumbnail.pk
        sign = self.signer.url
        return Card(
            shared=self,
            page_url=self.page.format(pk=pk),
            favorite_url=self.favorite.format(pk=pk),
            move_url=self.move.format(pk=pk),
            delete_url=self.delete.format(pk=pk),
            download_url=self.download.format(pk=pk),
            image_url=sign(thumbnail.image_medium.name),
            small_url=sign(thumbnail.image_small.name),
        )


@dataclass(frozen=True, slots=True)
class Card:
    """One card's URLs (the `thumbnail-card` partial reads `thumbnail.card`)."""

    shared: CardPage
    page_url: str
    favorite_url: str
    move_url: str
    delete_url: str
    download_url: str
    image_url: str
    small_url: str


def prepare_cards(user: Any, thumbnails: Any) -> Any:
    """Attach `.card` to each thumbnail (one `CardPage` for all) and return them."""
    page: CardPage | None = None
    for thumbnail in thumbnails:
        if page is None:
            page = CardPage.for_user(user)
        thumbnail.card = page.card(thumbnail)
    return thumbnails
