"""Keyset (cursor) pagination of a creator's thumbnails, newest first.

Cursors are opaque and signed (django.core.signing): a tampered cursor raises InvalidCursor.
Order is (created_at DESC, id DESC); the unique id breaks ties, so equal timestamps never skip or
repeat a row. One query per page: it fetches `limit + 1` rows to know whether a next page exists.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.core import signing
from django.db.models import Q, QuerySet

from studio.models import Thumbnail

CURSOR_SALT = "studio.gallery.cursor"
DEFAULT_PAGE_SIZE = 24
MAX_PAGE_SIZE = 100


class InvalidCursor(Exception):
    pass


@dataclass(frozen=True)
class Page:
    items: list[Thumbnail]
    next_cursor: str | None


def encode_cursor(thumbnail: Thumbnail) -> str:
    return signing.dumps(
        {"t": thumbnail.created_at.isoformat(), "i": thumbnail.pk}, salt=CURSOR_SALT, compress=True
    )


def decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    """Raises InvalidCursor for anything not made by `encode_cursor`."""
    try:
        data: dict[str, Any] = signing.loads(cursor, salt=CURSOR_SALT)
        return dt.datetime.fromisoformat(data["t"]), int(data["i"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise InvalidCursor from exc


def gallery_queryset(owner: AbstractBaseUser) -> QuerySet[Thumbnail]:
    return Thumbnail.objects.filter(owner=owner).order_by("-created_at", "-id")


def page_of(queryset: QuerySet[Thumbnail], cursor: str | None, limit: int) -> Page:
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    if cursor:
        created_at, pk = decode_cursor(cursor)
        queryset = queryset.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=pk))
    rows = list(queryset[: limit + 1])
    items = rows[:limit]
    return Page(items=items, next_cursor=encode_cursor(items[-1]) if len(rows) > limit else None)
