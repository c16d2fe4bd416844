"""Gallery paging at scale: p50/p95 of the first page and of a page deep in the library, at
1,000 and 100,000 thumbnails for one creator, through GET /api/thumbnails (every order); and the
studio page's time and query count at 10 and 10,000 thumbnails. Also times seeding 100,000
thumbnails with `seed_gallery`. Uses a throwaway test database (PostgreSQL when DATABASE_URL is
set, else SQLite).

    .venv/bin/python benchmarks/gallery_pages.py [--sizes 1000,100000] [--samples 60]
"""

from __future__ import annotations

import argparse
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


def deep_cursor(client, order: str, depth: int) -> str:
    """Walk to about `depth` rows in with 100-row pages; return the cursor there."""
    url = f"/api/thumbnails?order={order}&limit=100"
    cursor = ""
    for _ in range(depth // 100):
        data = client.get(url + (f"&cursor={cursor}" if cursor else "")).json()
        cursor = data["next_cursor"]
    return cursor


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--samples", type=int, default=60)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with django_test_db():
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from studio.models import Thumbnail

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

        client.force_login(get_user_model().objects.get(username=email))
        for size in (10, 10_000):
            seed_to(size)
            client.get("/studio/")  # warm the shared cache (plans, built-in styles and palettes)
            with CaptureQueriesContext(connection) as queries:
                assert client.get("/studio/").status_code == 200
            count = len(queries.captured_queries)  # read now: the next request resets the log
            times, _ = timed_get(client, "/studio/", max(10, args.samples // 3))
            print(f"studio page at {size:>7,} thumbnails: {count} queries, {percentiles(times)}")
        for size in sizes:
            seed_to(size)
            for order in ("newest", "title", "clicks"):
                first, _ = timed_get(client, f"/api/thumbnails?order={order}", args.samples)
                cursor = deep_cursor(client, order, int(size * 0.9))
                deep, _ = timed_get(
                    client, f"/api/thumbnails?order={order}&cursor={cursor}", args.samples
                )
                ratio = sorted(deep)[len(deep) // 2] / sorted(first)[len(first) // 2]
                print(f"{size:>7,} thumbnails, order={order:<6} first page {percentiles(first)}")
                print(
                    f"{'':>7}  {'':<19}deep page (~90%) {percentiles(deep)}  "
                    f"deep/first p50 = {ratio:.2f}x"
                )


if __name__ == "__main__":
    main()
