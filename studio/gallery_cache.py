"""The studio's first gallery page as rendered HTML, from the shared cache.

`GET /studio/` with no filters (the page a creator lands on, every visit) shows the newest page
of cards. Rendering those cards is most of the page's CPU (`benchmarks/studio_split.py`), and
they change only when the creator's thumbnails or projects do, so the rendered fragment is kept
in the shared cache (core.shared_cache) under "studio:gallery:v2:<owner id>":

- every write that can change a card invalidates it: saving or deleting a Thumbnail or a
  Project (signals below), and the bulk writes that send no signals (`do_move_thumbnails`,
  `seed_gallery`) call `invalidate_gallery` themselves;
- a fragment holds signed media URLs, so it is used only within the expiry step it was signed
  for (studio.media: URLs are stable for a quarter of MEDIA_URL_MAX_AGE, 15 minutes by default),
  with the key they were signed with (a rotated SECRET_KEY, or another deployment sharing the
  Redis, would otherwise serve images that answer 404) and for the plan feature the cards show
  (the palette tool); otherwise it is rendered again.

Filtered, searched and later pages are rendered per request as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from core.shared_cache import cached, invalidate
from studio.cards import prepare_cards
from studio.gallery import DEFAULT_PAGE_SIZE, GalleryFilter, gallery_queryset, page_of
from studio.media import MediaSigner
from studio.models import Project, Thumbnail

FRAGMENT_CACHE_SECONDS = 900


@dataclass(frozen=True)
class GalleryFragment:
    expires: int  # the media signer's expiry step the URLs were signed for
    key_id: str  # MediaSigner.key_id of the key they were signed with
    can_analyse_palette: bool
    html: str


def namespace(owner_id: int) -> str:
    # v2: GalleryFragment gained key_id. Change the version with the fragment's fields, so a
    # deploy never reads a fragment of the old shape (those expire unread).
    return f"studio:gallery:v2:{owner_id}"


def first_page_html(
    owner: Any, projects: list[Project], *, can_analyse_palette: bool
) -> SafeString:
    """The owner's unfiltered first gallery page (the `gallery-page` partial of
    studio/studio.html; `projects` fill each card's move menu): the cached fragment when it is
    current, else rendered and cached for the next request."""
    signer = MediaSigner()
    expires, key_id = signer.expires, signer.key_id

    def load() -> GalleryFragment:
        filters = GalleryFilter()
        page = page_of(gallery_queryset(owner, filters), None, DEFAULT_PAGE_SIZE, filters)
        prepare_cards(owner, page.items)
        context = {"page": page, "filters": filters, "projects": projects, "cursor": None}
        html = render_to_string("studio/studio.html#gallery-page", context)
        return GalleryFragment(expires, key_id, can_analyse_palette, html)

    fragment = cached(
        namespace(owner.pk),
        load,
        timeout=FRAGMENT_CACHE_SECONDS,
        valid=lambda f: (
            (f.expires, f.key_id, f.can_analyse_palette) == (expires, key_id, can_analyse_palette)
        ),
    )
    return mark_safe(fragment.html)  # noqa: S308  (rendered by this project's template)


def invalidate_gallery(owner_id: int) -> None:
    invalidate(namespace(owner_id))


@receiver(post_save, sender=Thumbnail)
@receiver(post_delete, sender=Thumbnail)
@receiver(post_save, sender=Project)
@receiver(post_delete, sender=Project)
def _card_source_changed(sender: Any, instance: Thumbnail | Project, **_: Any) -> None:
    if instance.owner_id is not None:
        invalidate_gallery(instance.owner_id)
