"""Shared-cache hit ratio under a studio load (core.shared_cache), and what it saves.

Creators open the studio page again and again; every fifth load is followed by a generate (which
moves credits, so that creator's account summary is invalidated) and every 100th by someone
publishing a palette (which invalidates the shared palette list for everyone). Prints hits,
misses and the hit ratio per cached family (the plan table, account summaries, built-in and
public styles and palettes), and the database queries per studio load with the cache warm
against the cache bypassed.

Uses a throwaway test database (PostgreSQL when DATABASE_URL is set, else SQLite) and the
configured cache (Redis when REDIS_URL is set, else process memory).

    .venv/bin/python benchmarks/cache_hit_ratio.py [--creators 20] [--loads 1000]
"""

from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("VIEWBAIT_VAR_DIR", tempfile.mkdtemp(prefix="viewbait-bench-"))

from _django import database_label, django_test_db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--creators", type=int, default=20)
    parser.add_argument("--loads", type=int, default=1000)
    args = parser.parse_args()

    with django_test_db():
        from django.conf import settings
        from django.db import connection, transaction
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from billing.models import Plan
        from billing.services import adjust_credits, change_plan
        from core import shared_cache
        from studio.services import do_create_palette
        from tests.conftest import make_user

        starter = Plan.objects.get(slug="starter")
        clients = []
        for n in range(args.creators):
            user = make_user(f"creator{n}@example.com")
            change_plan(user=user, plan=starter, status="active")
            adjust_credits(user=user, amount=10_000, idempotency_key=f"bench:{n}", reason="bench")
            client = Client()
            client.force_login(user)
            clients.append((user, client))

        shared_cache.reset_stats()
        queries = 0
        for load in range(args.loads):
            user, client = clients[load % len(clients)]
            with CaptureQueriesContext(connection) as captured:
                assert client.get("/studio/").status_code == 200
            queries += len(captured.captured_queries)
            if load % 5 == 4:
                response = client.post(
                    "/api/generate", {"title": f"Load {load}"}, content_type="application/json"
                )
                assert response.status_code == 202, response.content
            if load % 100 == 99:
                do_create_palette(
                    owner=user, name=f"Published {load}", colors=["#112233"] * 3, is_public=True
                )
        stats = shared_cache.stats()

        with transaction.atomic(), CaptureQueriesContext(connection) as bypassed:
            clients[0][1].get("/studio/")  # inside a transaction the cache is bypassed

    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    print(
        f"studio load: {args.loads} page loads by {args.creators} creators, "
        f"{args.loads // 5} generates, {args.loads // 100} palettes published "
        f"({database_label()}, cache {backend})"
    )
    total_hits = total_lookups = 0
    for family, counts in sorted(stats.items()):
        lookups = counts["hits"] + counts["misses"]
        total_hits += counts["hits"]
        total_lookups += lookups
        print(
            f"  {family:18} hits {counts['hits']:5}  misses {counts['misses']:4}  "
            f"errors {counts['errors']}  hit ratio {counts['hits'] / lookups:.1%}"
        )
    print(f"  overall hit ratio {total_hits / total_lookups:.1%} ({total_lookups} lookups)")
    print(
        f"  queries per studio load: {queries / args.loads:.1f} with the shared cache, "
        f"{len(bypassed.captured_queries)} without"
    )


if __name__ == "__main__":
    main()
