"""Where `GET /studio/` (a 10,000-thumbnail library) spends its time, split into the view (context
building, with each SQL query's wall time) and template rendering; CPU and wall milliseconds per
request over REQUESTS requests through Django's test client. Printed, never asserted.

    .venv/bin/python benchmarks/studio_split.py [--requests 100]
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def redis_commands() -> int | None:
    """Commands the REDIS_URL server has processed so far (INFO stats), None without one."""
    url = os.environ.get("REDIS_URL")
    if not url:
        return None
    import redis

    return int(redis.Redis.from_url(url).info("stats")["total_commands_processed"]) - 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--cprofile", action="store_true", help="cProfile's busiest functions")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the gallery query")
    args = parser.parse_args()
    from http_ratios import seeded_client

    with seeded_client("prof") as client:
        from django.db import connection
        from django.template.response import TemplateResponse

        queries: dict[str, list[float]] = collections.defaultdict(list)

        def timer(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                queries[sql[:110]].append(time.perf_counter() - start)

        render_cpu = [0.0]
        original_render = TemplateResponse.render

        def timed_render(self):  # type: ignore[no-untyped-def]
            start = time.process_time()
            try:
                return original_render(self)
            finally:
                render_cpu[0] += time.process_time() - start

        TemplateResponse.render = timed_render  # type: ignore[method-assign]
        for _ in range(10):
            assert client.get("/studio/").status_code == 200
        queries.clear()
        render_cpu[0] = 0.0
        redis_before = redis_commands()
        wall, cpu = time.perf_counter(), time.process_time()
        with connection.execute_wrapper(timer):
            for _ in range(args.requests):
                response = client.get("/studio/")
                assert response.status_code == 200
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        n = args.requests
        if redis_before is not None:
            print(f"Redis commands per request: {(redis_commands() - redis_before) / n:.1f}")
        hello_cpu = time.process_time()
        for _ in range(n):
            client.get("/bench/hello")
        hello_cpu = time.process_time() - hello_cpu
        print(f"GET /bench/hello (same client, same session): {hello_cpu / n * 1000:.1f} ms CPU")
        if args.cprofile:
            import cProfile
            import pstats

            profile = cProfile.Profile()
            profile.enable()
            for _ in range(n):
                client.get("/studio/")
            profile.disable()
            pstats.Stats(profile).sort_stats("tottime").print_stats(45)
        print(f"GET /studio/: {wall / n * 1000:.1f} ms wall, {cpu / n * 1000:.1f} ms CPU each")
        print(f"  template rendering: {render_cpu[0] / n * 1000:.1f} ms CPU per request")
        print(f"  {len(response.content)} bytes of HTML")
        total = 0.0
        for sql, times in sorted(queries.items(), key=lambda kv: -sum(kv[1])):
            total += sum(times)
            print(f"  {sum(times) / n * 1000:6.2f} ms  x{len(times) / n:.0f}  {sql}")
        count = sum(map(len, queries.values())) / n
        print(f"  SQL: {total / n * 1000:.1f} ms wall, {count:.0f} queries per request")
        if args.explain:
            from django.contrib.auth import get_user_model

            from studio.gallery import gallery_queryset

            user = get_user_model().objects.get(email="bench0@x.io")
            sql, params = gallery_queryset(user)[:21].query.sql_with_params()
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                print("\n".join(row[0] for row in cursor.fetchall()))


if __name__ == "__main__":
    main()
