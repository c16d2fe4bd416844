"""Gallery paging at scale: p50/p95 of the first page and of a page deep in the library (~90% in),
at 1,000 and 100,000 thumbnails for one creator, through GET /api/thumbnails (every order), with
first-page and deep-page requests interleaved (one of each per round, so drift in machine load hits
both alike) and their p50 ratio; then the same after making 90% of the library tie (0 clicks and
one shared title, as in a library nobody has shared yet). Also the studio page's time and query
count at 10 and 10,000 thumbnails, and the time to seed with `seed_gallery`. Uses a throwaway test
database (PostgreSQL when DATABASE_URL is set, else SQLite).

    .venv/bin/python benchmarks/gallery_pages.py [--sizes 1000,100000] [--samples 60]
        [--skip-studio]
"""

from __future__ import annotations

import argparse
import statistics
import time

from _django import database_label, django_test_db, percentiles


def timed_get(client, url: str, samples: int) -> tuple[list[float], dict]:
    times, data = [], {}
    for _ in range(samples + 5):
        started = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.content[:300]
        times.append(elapsed)
        data = response.json() if response["Content-Type"].startswith("application/json") else {}
    return times[5:], data


def interleaved(client, first_url: str, deep_url: str, samples: int) -> tuple[list, list]:
    """`samples` rounds of one first-page and one deep-page request (after 5 warm-up rounds)."""
    first, deep = [], []
    for i in range(samples + 5):
        for url, into in ((first_url, first), (deep_url, deep)):
            started = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, response.content[:300]
            if i >= 5:
                into.append(elapsed)
    return first, deep


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--skip-studio", action="store_true", help="only the paging figures")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with django_test_db():
        from django.core.management import call_command
        from django.db import connection
        from django.db.models import F
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from studio.gallery import ORDERS, GalleryFilter, encode_cursor, page_of
        from studio.models import Thumbnail, sort_key

        print(f"database: {database_label()}")
        client = Client()
        email = "bench-gallery@example.com"

        def seed_to(total: int) -> None:
            have = Thumbnail.objects.filter(owner__email=email).count()
            if total > have:
                started = time.perf_counter()
                call_command("seed_gallery", email=email, count=total - have, quiet=True)
                took = time.perf_counter() - started
                print(
                    f"seed_gallery {total - have} thumbnails: {took:.1f} s "
                    f"({(total - have) / took:,.0f} rows/s)"
                )
                if connection.vendor == "postgresql":
                    with connection.cursor() as cursor:
                        cursor.execute("ANALYZE studio_thumbnail")

        seed_to(10)
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.get(username=email)
        client.force_login(user)
        for size in () if args.skip_studio else (10, 10_000):
            seed_to(size)
            client.get("/studio/")  # warm the shared cache (plans, built-in styles and palettes)
            with CaptureQueriesContext(connection) as queries:
                assert client.get("/studio/").status_code == 200
            count = len(queries.captured_queries)  # read now: the next request resets the log
            times, _ = timed_get(client, "/studio/", max(10, args.samples // 3))
            print(f"studio page at {size:>7,} thumbnails: {count} queries, {percentiles(times)}")

        def tie_90_percent() -> None:
            """9 in 10 rows get 0 clicks and an empty title (sorted first); the rest keep their
            title and get distinct click counts (their id)."""
            Thumbnail.objects.filter(owner__email=email).update(share_clicks=F("id"))
            Thumbnail.objects.filter(owner__email=email).annotate(r=F("id") % 10).exclude(
                r=0
            ).update(share_clicks=0, title="", search_title="", sort_title=sort_key(""))
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("ANALYZE studio_thumbnail")

        def page_query_ms(queryset, cursor, filters) -> float:
            started = time.perf_counter()
            page_of(queryset, cursor, 20, filters)
            return (time.perf_counter() - started) * 1000

        def report(size: int, case: str, depth: float) -> None:
            """HTTP (GET /api/thumbnails) and the page query alone (`page_of`), first page and
            the page after row `depth * size`, interleaved."""
            for order in ORDERS:
                filters = GalleryFilter(order=order)
                queryset = filters.apply(Thumbnail.objects.filter(owner=user))  # as the API
                cursor = encode_cursor(queryset[int(size * depth)], filters)
                base = f"/api/thumbnails?order={order}"
                first, deep = interleaved(client, base, f"{base}&cursor={cursor}", args.samples)
                ratio = statistics.median(deep) / statistics.median(first)
                q_first, q_deep = [], []
                for i in range(args.samples * 2 + 5):
                    a = page_query_ms(queryset, None, filters)
                    b = page_query_ms(queryset, cursor, filters)
                    if i >= 5:
                        q_first.append(a)
                        q_deep.append(b)
                q_ratio = statistics.median(q_deep) / statistics.median(q_first)
                label = f"{size:,} thumbnails, {case}, order={order}, deep = after row {depth:.0%}"
                print(label)
                print(f"  HTTP  first {percentiles(first)}")
                print(f"        deep  {percentiles(deep)}  deep/first p50 = {ratio:.2f}x")
                print(f"  query first {percentiles(q_first)}")
                print(f"        deep  {percentiles(q_deep)}  deep/first p50 = {q_ratio:.2f}x")

        for size in sizes:
            seed_to(size)
            report(size, "as seeded", 0.9)
        tie_90_percent()
        # 90% of rows tie: the first 90% in the title order (empty titles sort first) and the
        # last 90% in the clicks order; 85% in is inside the tie for both.
        report(sizes[-1], "90% ties", 0.85)


if __name__ == "__main__":
    main()
