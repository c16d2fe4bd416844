"""Built-in and public styles and palettes, and each creator's own library, from the shared cache.

Every creator's pickers list the same built-in and public rows, so those lists are cached once for
all users (core.shared_cache, "library:styles" and "library:palettes"). A creator's own private
styles and palettes, faces (with their photos) and projects are cached per creator
("library:owner:<id>"): the studio page lists all four on every visit, and they change only when
the creator edits them. Any write that could change a list invalidates it (the receivers below;
`ensure_preview` writes with `update()` and invalidates itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from core.shared_cache import cached, in_use, invalidate
from core.types import User
from studio.models import Face, FaceImage, Palette, Project, Style

SHARED_LIST_CACHE_SECONDS = 600
SHARED = Q(owner__isnull=True) | Q(is_public=True)
SHARED_NAMESPACES = ("library:styles", "library:palettes")  # for core.shared_cache.warm


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


@dataclass(frozen=True)
class OwnerLibrary:
    """A creator's own rows: private styles and palettes (public ones are in the shared lists),
    faces with `images` prefetched in (position, id) order, and projects, each in its model's
    `Meta.ordering`."""

    styles: list[Style]
    palettes: list[Palette]
    faces: list[Face]
    projects: list[Project]


def owner_namespace(user_id: int) -> str:
    return f"library:owner:{user_id}"


def _faces(user_id: int) -> list[Face]:
    images = Prefetch("images", queryset=FaceImage.objects.order_by("position", "id"))
    return list(Face.objects.filter(owner_id=user_id).prefetch_related(images))


def _projects(user_id: int) -> list[Project]:
    return list(Project.objects.filter(owner_id=user_id))


def _load_owner_library(user_id: int) -> OwnerLibrary:
    return OwnerLibrary(
        styles=list(Style.objects.filter(owner_id=user_id, is_public=False)),
        palettes=list(Palette.objects.filter(owner_id=user_id, is_public=False)),
        faces=_faces(user_id),
        projects=_projects(user_id),
    )


def owner_library(user: User) -> OwnerLibrary:
    """`user`'s own library (shared cache "library:owner:<id>"; four queries on a miss)."""
    return cached(
        owner_namespace(user.pk),
        lambda: _load_owner_library(user.pk),
        timeout=SHARED_LIST_CACHE_SECONDS,
    )


def faces_and_projects(user: User) -> tuple[list[Face], list[Project]]:
    """`user`'s faces (photos prefetched) and projects: from the owner library, or two queries
    (three with faces) inside a transaction."""
    if not in_use():
        return _faces(user.pk), _projects(user.pk)
    owner = owner_library(user)
    return owner.faces, owner.projects


def usable_styles(user: User) -> list[Style]:
    """What `Style.objects.usable_by(user)` lists (built-in, public, the user's own), as a list:
    the shared part and the user's private styles from the cache."""
    if not in_use():  # inside a transaction: one query for all of it
        return sorted(Style.objects.usable_by(user), key=_library_order)
    own = owner_library(user).styles if user.is_authenticated else []
    return sorted([*shared_styles(), *own], key=_library_order)


def usable_palettes(user: User) -> list[Palette]:
    """What `Palette.objects.usable_by(user)` lists, as a list (see `usable_styles`)."""
    if not in_use():
        return sorted(Palette.objects.usable_by(user), key=_library_order)
    own = owner_library(user).palettes if user.is_authenticated else []
    return sorted([*shared_palettes(), *own], key=_library_order)


def invalidate_owner_library(user_id: int | None) -> None:
    if user_id is not None:
        invalidate(owner_namespace(user_id))


def invalidate_style_lists(style: Style) -> None:
    """Every cached list `style` is in (for writes that send no signal)."""
    if style.owner_id is None or style.is_public:
        invalidate("library:styles")
    invalidate_owner_library(style.owner_id)


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
    invalidate_owner_library(instance.owner_id)


@receiver(post_save, sender=Palette)
@receiver(post_delete, sender=Palette)
def palette_changed(
    sender: Any, instance: Palette, signal: Any, created: bool = False, **_: Any
) -> None:
    if _touches_shared_list(instance, signal, created):
        invalidate("library:palettes")
    invalidate_owner_library(instance.owner_id)


@receiver(post_save, sender=Face)
@receiver(post_delete, sender=Face)
@receiver(post_save, sender=Project)
@receiver(post_delete, sender=Project)
def owned_row_changed(sender: Any, instance: Face | Project, **_: Any) -> None:
    invalidate_owner_library(instance.owner_id)


@receiver(post_save, sender=FaceImage)
@receiver(post_delete, sender=FaceImage)
def face_image_changed(sender: Any, instance: FaceImage, **_: Any) -> None:
    # The face is usually at hand (the photo was made with it); else one query. It may be gone
    # already (a cascade from deleting it, whose own signal invalidates).
    owner_id: int | None
    if FaceImage._meta.get_field("face").is_cached(instance):
        owner_id = instance.face.owner_id
    else:
        faces = Face.objects.filter(pk=instance.face_id)
        owner_id = faces.values_list("owner_id", flat=True).first()
    invalidate_owner_library(owner_id)
