"""Keyset paging when most rows tie on the order's column (issue 10 item 5): pages stay exact (no
duplicate, no skip) and a deep cursor is one index range start, not a scan through the tie."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.db import connection

from studio.gallery import ORDERS, GalleryFilter, page_of
from studio.models import Thumbnail, search_key, sort_key

pytestmark = pytest.mark.django_db

BASE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def tied_library(owner: Any, count: int) -> None:
    """`count` thumbnails where 9 in 10 have 0 clicks, the title "Same title" and one of three
    timestamps; the rest have distinct clicks, titles (some after an emoji) and times."""
    titles = ["Same title" if i % 10 else f"{'🔥 ' * (i % 3)}Title {i:05d}" for i in range(count)]
    Thumbnail.objects.bulk_create(
        [
            Thumbnail(
                owner=owner,
                title=titles[i],
                search_title=search_key(titles[i]),
                sort_title=sort_key(titles[i]),
                share_clicks=0 if i % 10 else i,
                aspect_ratio="16:9",
                resolution="1K",
                width=1376,
                height=768,
                image="x.png",
                image_small="x.webp",
                image_medium="x.webp",
                download="x.jpg",
                created_at=BASE + dt.timedelta(seconds=i % 3 if i % 10 else i),
            )
            for i in range(count)
        ],
        batch_size=1000,
    )


def walk(owner: Any, filters: GalleryFilter, limit: int) -> list[int]:
    queryset = filters.apply(Thumbnail.objects.filter(owner=owner))
    seen: list[int] = []
    cursor = None
    while True:
        page = page_of(queryset, cursor, limit, filters)
        seen.extend(t.pk for t in page.items)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_pages_through_a_big_tie_return_every_row_once_in_order(owner: Any, order: str) -> None:
    tied_library(owner, 300)
    filters = GalleryFilter(order=order)
    expected = list(
        filters.apply(Thumbnail.objects.filter(owner=owner)).values_list("pk", flat=True)
    )
    assert walk(owner, filters, 7) == expected
    assert len(set(expected)) == 300


def deep_cursor(owner: Any, filters: GalleryFilter, depth: int) -> tuple[Any, int]:
    """(value, id) of the row `depth` rows into the order."""
    row = filters.apply(Thumbnail.objects.filter(owner=owner))[depth]
    return getattr(row, ORDERS[filters.order].field), row.pk


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL plan")
@pytest.mark.parametrize(
    ("order", "index"), [("clicks", "thumb_owner_clicks"), ("title", "thumb_owner_title")]
)
def test_postgresql_starts_a_deep_page_inside_the_tie_at_the_cursor(
    owner: Any, other: Any, order: str, index: str
) -> None:
    tied_library(owner, 3000)
    tied_library(other, 300)
    filters = GalleryFilter(order=order)
    value, pk = deep_cursor(owner, filters, 2000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE studio_thumbnail")
        # At a test's size a sequential scan can be as cheap; the plan shape is what is checked.
        cursor.execute("SET LOCAL enable_seqscan = off")
    queryset = filters.apply(Thumbnail.objects.filter(owner=owner)).filter(
        ORDERS[order].after(value, pk)
    )[:21]
    plan = json.loads(queryset.explain(format="json", analyze=True))[0]["Plan"]
    scan = plan["Plans"][0] if plan["Node Type"] == "Limit" else plan
    assert scan["Node Type"] == "Index Scan", plan
    assert scan["Index Name"] == index
    assert "ROW(" in scan["Index Cond"], plan  # the cursor bounds the index range
    assert scan.get("Rows Removed by Filter", 0) == 0  # no tied row before the cursor is read
    assert scan["Actual Rows"] == 21
    assert len(list(queryset)) == 21
