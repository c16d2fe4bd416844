"""SQL queries and new Redis connections per accepted `POST /api/generate` (issue 10's target:
at most 8 queries and no new Redis connection once the process is warm).

Counts, for each of N accepted requests after two warm-up requests: the queries Django ran
(`CaptureQueriesContext`, commit hooks included) and the Redis connections opened in this process
(every `connect()` of redis-py's sync and asyncio connections: cache, rate limits, the Channels
layer, the Dramatiq broker). Uses the real settings (a real Redis when REDIS_URL is set) and a
throwaway test database, PostgreSQL when DATABASE_URL is set. Prints the queries of the last
request with `--show`.

    .venv/bin/python benchmarks/generate_queries.py [--requests 20] [--show]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


class ConnectCounter:
    """Counts `connect()` calls of redis-py connections (sync and asyncio) while installed."""

    def __init__(self) -> None:
        self.count = 0
        self._undo: list[tuple[type, object]] = []

    def __enter__(self) -> ConnectCounter:
        import redis.asyncio.connection as aconn
        import redis.connection as conn

        for cls in (conn.AbstractConnection, aconn.AbstractConnection):
            original = cls.connect
            self._undo.append((cls, original))
            cls.connect = self._wrap(original)  # type: ignore[method-assign]
        return self

    def _wrap(self, original):  # type: ignore[no-untyped-def]
        import inspect

        counter = self
        if inspect.iscoroutinefunction(original):

            async def connect(conn, *args, **kwargs):  # type: ignore[no-untyped-def]
                if not conn.is_connected:
                    counter.count += 1
                return await original(conn, *args, **kwargs)

        else:

            def connect(conn, *args, **kwargs):  # type: ignore[no-untyped-def]
                if getattr(conn, "_sock", None) is None:
                    counter.count += 1
                return original(conn, *args, **kwargs)

        return connect

    def __exit__(self, *exc: object) -> None:
        for cls, original in self._undo:
            cls.connect = original  # type: ignore[method-assign]


def is_transaction_control(sql: str) -> bool:
    """BEGIN, COMMIT, ROLLBACK and savepoint statements (not queries in the issue's count)."""
    return sql.split(None, 1)[0].upper() in {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--show", action="store_true")
    args = parser.parse_args()
    from _django import database_label, django_test_db

    with django_test_db("benchmarks.settings_real_broker"):
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from billing.models import Plan
        from billing.services import adjust_credits, change_plan

        user = get_user_model().objects.create_user(username="bench@x.io", email="bench@x.io")
        change_plan(user=user, plan=Plan.objects.get(slug="pro"), status="active")
        adjust_credits(user=user, amount=1000, idempotency_key="bench", reason="bench")
        client = Client()
        client.force_login(user)
        queries: list[int] = []
        statements: list[int] = []
        connects: list[int] = []
        last: list[str] = []
        for i in range(args.requests + 2):
            with CaptureQueriesContext(connection) as captured, ConnectCounter() as redis_count:
                response = client.post(
                    "/api/generate",
                    {"title": f"Benchmark video {i}", "variations": 1},
                    content_type="application/json",
                    headers={"Idempotency-Key": f"bench-{i}"},
                )
            assert response.status_code == 202, response.content
            # Finish the jobs as they are accepted, so the plan's concurrent-job cap never bites.
            from generation.models import Job

            Job.objects.filter(user=user).update(status=Job.Status.SUCCEEDED)
            if i >= 2:
                queries.append(sum(not is_transaction_control(q["sql"]) for q in captured))
                statements.append(len(captured.captured_queries))
                connects.append(redis_count.count)
                last = [q["sql"] for q in captured.captured_queries]
        from django.conf import settings

        layer = settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1]
        redis = "REDIS_URL" if os.environ.get("REDIS_URL") else "no Redis"
        print(
            f"{database_label()} + {layer} ({redis}): "
            f"accepted POST /api/generate: {statistics.mean(queries):.1f} SQL queries "
            f"(max {max(queries)}; {statistics.mean(statements):.1f} statements with BEGIN, "
            f"COMMIT and savepoints), {statistics.mean(connects):.2f} new Redis connections "
            f"(max {max(connects)}) per request, n={len(queries)}"
        )
        if args.show:
            for sql in last:
                print("  ", sql[:160])
        import dramatiq

        dramatiq.get_broker().flush_all()


if __name__ == "__main__":
    main()
