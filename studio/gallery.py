"""Keyset (cursor) pagination of thumbnails for every gallery order.

Each order is a pair of columns ending in the unique id, so rows with equal timestamps, titles or
click counts are never skipped or repeated, and rows inserted while paging cannot shift a page.
Cursors are opaque and signed (django.core.signing) and carry the order and filters they were made
for; a tampered or mismatched cursor raises InvalidCursor. A page is one query fetching
`limit + 1` rows (no COUNT(*)). Migration 0003 adds a composite index matching each order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.core import signing
from django.db.models import BooleanField, F, Field, Func, QuerySet, Value

from core.parsers import BAD_CHARACTERS_MESSAGE, has_bad_characters
from studio.models import Thumbnail, search_key
from studio.serializers import parse_id

CURSOR_SALT = "studio.gallery.cursor"
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


class InvalidCursor(Exception):
    pass


@dataclass(frozen=True)
class Order:
    """`field` then `id`, both descending or both ascending (one index serves both ways)."""

    field: str
    descending: bool

    def order_by(self) -> list[str]:
        sign = "-" if self.descending else ""
        return [f"{sign}{self.field}", f"{sign}id"]

    def after(self, value: Any, pk: int) -> RowCompare:
        """Rows after (value, pk) in this order: `(field, id) < (value, pk)` when descending, `>`
        when ascending, for `QuerySet.filter`. One index range condition on the composite index,
        so a deep page starts where the cursor points, ties or not."""
        field = Thumbnail._meta.get_field(self.field)
        assert isinstance(field, Field)  # a concrete column of ORDERS, never a relation
        return RowCompare(
            (F(self.field), F("id")),
            "<" if self.descending else ">",
            (Value(value, output_field=field), Value(pk, output_field=Thumbnail._meta.pk)),
        )


class RowCompare(Func):
    """`(a, b, ...) <op> (x, y, ...)`: an SQL row-value comparison (SQL-92; PostgreSQL, SQLite >=
    3.15, MySQL, MariaDB), compared lexicographically. Django 5.2 has no public expression for
    it (its `Tuple` lookups are internal), so this composes public `Func`s: each side renders as
    `(expr, expr)` and they are joined by `op`. A boolean expression, usable in `filter()`.
    Raises ValueError for an operator other than <, <=, > or >=, or sides of different length."""

    template = "%(expressions)s"
    output_field = BooleanField()

    def __init__(self, left: tuple[Any, ...], op: str, right: tuple[Any, ...]) -> None:
        if op not in ("<", "<=", ">", ">=") or len(left) != len(right) or not left:
            raise ValueError(f"cannot compare {len(left)} with {len(right)} values by {op!r}")
        self.arg_joiner = f" {op} "
        super().__init__(_row(left), _row(right))


def _row(items: tuple[Any, ...]) -> Func:
    """`(a, b, ...)`; its output field is a placeholder: a row has no single type."""
    return Func(*items, function="", output_field=Field())


ORDERS: dict[str, Order] = {
    "newest": Order("created_at", descending=True),
    "oldest": Order("created_at", descending=False),
    # Case and accents folded (models.search_key): "iPhone" among the I titles, "Écoles" among
    # the E ones; the raw title sorted by code point (SQLite, a C collation), capitals first.
    # From the first letter or digit (models.sort_key): "🔥🔥 I ate only rice" among the I ones.
    "title": Order("sort_title", descending=False),
    "clicks": Order("share_clicks", descending=True),
}


@dataclass(frozen=True)
class GalleryFilter:
    """`project`: a project id, "none" for thumbnails in no project, or None for all."""

    project: int | str | None = None
    favorites: bool = False
    q: str = ""
    order: str = "newest"

    def query(self) -> str:
        """These filters as a query string, for links that page through the same view."""
        params: dict[str, str] = {"order": self.order}
        if self.project is not None:
            params["project"] = str(self.project)
        if self.favorites:
            params["favorites"] = "true"
        if self.q:
            params["q"] = self.q
        return urlencode(params)

    def key(self) -> str:
        raw = f"{self.project}|{self.favorites}|{self.q}|{self.order}"
        return hashlib.sha256(raw.encode()).hexdigest()[:12]

    def apply(self, queryset: QuerySet[Thumbnail]) -> QuerySet[Thumbnail]:
        if self.project == "none":
            queryset = queryset.filter(project__isnull=True)
        elif self.project is not None:
            queryset = queryset.filter(project_id=self.project)
        if self.favorites:
            queryset = queryset.filter(is_favorite=True)
        # Every word of the query, in any order ("iphone pixel" finds "iPhone vs Pixel: The
        # Honest Review"; the whole phrase found nothing): one LIKE each, ANDed in the one query.
        for word in dict.fromkeys(search_key(self.q).split()):
            queryset = queryset.filter(search_title__contains=word)
        return queryset.order_by(*ORDERS[self.order].order_by())


@dataclass(frozen=True)
class Page:
    """`start_cursor` refetches exactly this page later (the virtualized gallery restores pages
    it dropped with it); `next_cursor` is None on the last page."""

    items: list[Thumbnail]
    next_cursor: str | None
    start_cursor: str | None = None


def _encode_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def _decode_value(order: Order, value: Any) -> Any:
    if order.field == "created_at":
        return dt.datetime.fromisoformat(value)
    if order.field == "share_clicks":
        return int(value)
    return str(value)


def encode_cursor(thumbnail: Thumbnail, filters: GalleryFilter, *, inclusive: bool = False) -> str:
    """A cursor for the rows after `thumbnail`, or from it on with `inclusive` (the id is moved
    one step back in the order, so the thumbnail itself is the first row after the cursor)."""
    order = ORDERS[filters.order]
    value = _encode_value(getattr(thumbnail, order.field))
    pk = thumbnail.pk
    if inclusive:
        pk = pk + 1 if order.descending else pk - 1
    return signing.dumps(
        {"o": filters.order, "f": filters.key(), "v": value, "i": pk},
        salt=CURSOR_SALT,
        compress=True,
    )


def decode_cursor(cursor: str, filters: GalleryFilter) -> tuple[Any, int]:
    """(last value, last id). Raises InvalidCursor if tampered with or made for other filters."""
    try:
        data: dict[str, Any] = signing.loads(cursor, salt=CURSOR_SALT)
        if data["o"] != filters.order or data["f"] != filters.key():
            raise InvalidCursor
        return _decode_value(ORDERS[filters.order], data["v"]), int(data["i"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise InvalidCursor from exc


def gallery_queryset(owner: Any, filters: GalleryFilter | None = None) -> QuerySet[Thumbnail]:
    return (filters or GalleryFilter()).apply(Thumbnail.objects.filter(owner=owner))


def page_of(
    queryset: QuerySet[Thumbnail],
    cursor: str | None,
    limit: int = DEFAULT_PAGE_SIZE,
    filters: GalleryFilter | None = None,
) -> Page:
    """One page of `queryset` (already filtered and ordered by `filters`) after `cursor`."""
    filters = filters or GalleryFilter()
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    if cursor:
        value, pk = decode_cursor(cursor, filters)
        queryset = queryset.filter(ORDERS[filters.order].after(value, pk))
    rows = list(queryset[: limit + 1])
    items = rows[:limit]
    has_more = len(rows) > limit
    return Page(
        items=items,
        next_cursor=encode_cursor(items[-1], filters) if has_more else None,
        start_cursor=encode_cursor(items[0], filters, inclusive=True) if items else None,
    )


# A checkbox sends "on"; links and API clients "true"/"1"; absent or "" means off.
TRUE_VALUES = frozenset({"1", "true", "yes", "on"})
FALSE_VALUES = frozenset({"", "0", "false", "no", "off"})


def parse_filters(params: Any) -> GalleryFilter:
    """From query parameters `project`, `favorites`, `q`, `order`. Raises ValueError."""
    project_raw = (params.get("project") or "").strip()
    project: int | str | None
    if project_raw in ("", "all"):
        project = None
    elif project_raw == "none":
        project = "none"
    else:
        try:
            project = parse_id(project_raw)
        except ValueError:
            raise ValueError("project must be a project id, none or all") from None
    order = params.get("order") or "newest"
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}")
    favorites_raw = (params.get("favorites") or "").strip().lower()
    if favorites_raw not in TRUE_VALUES | FALSE_VALUES:
        raise ValueError("favorites must be true or false")
    favorites = favorites_raw in TRUE_VALUES
    q = (params.get("q") or "").strip()[:100]
    if has_bad_characters(q):
        # The input guard refuses it in a request's own query; the studio's address read from
        # HX-Current-URL (views._under_gallery_filters) went past it to PostgreSQL: a 500.
        raise ValueError(BAD_CHARACTERS_MESSAGE)
    return GalleryFilter(project=project, favorites=favorites, q=q, order=order)
