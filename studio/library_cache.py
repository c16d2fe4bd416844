"""Built-in and public styles and palettes, from the shared cache.

Every creator's pickers list the same built-in and public rows, so those lists are cached once for
all users (core.shared_cache) and only the creator's own private rows are queried per request.
Any write that could change a shared list invalidates it.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from core.shared_cache import cached, in_use, invalidate
from core.types import User
from studio.models import Palette, Style

SHARED_LIST_CACHE_SECONDS = 600
SHARED = Q(owner__isnull=True) | Q(is_public=True)


def _library_order(row: Style | Palette) -> tuple[bool, int, str]:
    # Built-in rows first, then by owner and name: `Meta.ordering` (owner_id, name) with NULLs
    # first, the same on PostgreSQL and SQLite.
    return (row.owner_id is not None, row.owner_id or 0, row.name)


def shared_styles() -> list[Style]:
    """Built-in and public styles (shared cache "library:styles")."""
    return cached(
        "library:styles",
        lambda: sorted(Style.objects.filter(SHARED), key=_library_order),
        timeout=SHARED_LIST_CACHE_SECONDS,
    )


def shared_palettes() -> list[Palette]:
    """Built-in and public palettes (shared cache "library:palettes")."""
    return cached(
        "library:palettes",
        lambda: sorted(Palette.objects.filter(SHARED), key=_library_order),
        timeout=SHARED_LIST_CACHE_SECONDS,
    )


def usable_styles(user: User) -> list[Style]:
    """What `Style.objects.usable_by(user)` lists (built-in, public, the user's own), as a list:
    the shared part from the cache, the user's private styles from the database."""
    if not in_use():  # inside a transaction: one query for all of it
        return sorted(Style.objects.usable_by(user), key=_library_order)
    own = Style.objects.filter(owner=user, is_public=False) if user.is_authenticated else []
    return sorted([*shared_styles(), *own], key=_library_order)


def usable_palettes(user: User) -> list[Palette]:
    """What `Palette.objects.usable_by(user)` lists, as a list (see `usable_styles`)."""
    if not in_use():
        return sorted(Palette.objects.usable_by(user), key=_library_order)
    own = Palette.objects.filter(owner=user, is_public=False) if user.is_authenticated else []
    return sorted([*shared_palettes(), *own], key=_library_order)


def _touches_shared_list(instance: Style | Palette, signal: Any, created: bool) -> bool:
    if instance.owner_id is None or instance.is_public:
        return True
    # A private row: creating or deleting it changes no shared list, but an update may have just
    # unpublished it.
    return signal is post_save and not created


@receiver(post_save, sender=Style)
@receiver(post_delete, sender=Style)
def style_changed(
    sender: Any, instance: Style, signal: Any, created: bool = False, **_: Any
) -> None:
    if _touches_shared_list(instance, signal, created):
        invalidate("library:styles")


@receiver(post_save, sender=Palette)
@receiver(post_delete, sender=Palette)
def palette_changed(
    sender: Any, instance: Palette, signal: Any, created: bool = False, **_: Any
) -> None:
    if _touches_shared_list(instance, signal, created):
        invalidate("library:palettes")
