"""PostgreSQL CPU and connections per request, with the connection pool (the default) and
without it (DB_POOL=0, DB_CONN_MAX_AGE=0: a new connection per request, the earlier setting).

Each mode runs in a child process of its own (the settings are read at start-up): a signed-in
creator with a 1,000-thumbnail library, REQUESTS requests of `GET /api/thumbnails` through
Django's test client (the whole middleware stack and the real queries), after a warm-up. After
each request, before Django closes or returns its connection, the server backend's CPU time is
read from /proc/<backend pid>/schedstat (nanoseconds on a CPU, exact; the database server runs on
this machine). Without the pool each request's backend is new, so its whole life is counted:
PostgreSQL's start-up of a session (authentication, catalog caches) plus the request's queries;
the postmaster's fork is not. With the pool the same few backends serve every request and only
their growth is counted. Also printed: new sessions per request (pg_stat_database) and the
client's wall time per request. Figures are printed, never asserted.

    DATABASE_URL=postgres://... .venv/bin/python benchmarks/db_connections.py [--requests 300]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

MODES = {"pool": {"DB_POOL": "1"}, "no pool": {"DB_POOL": "0", "DB_CONN_MAX_AGE": "0"}}


def backend_cpu_ns(pid: int) -> int:
    """CPU time of a local process so far, in ns (first field of /proc/<pid>/schedstat)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def sessions(settings_dict: dict, name: str) -> int:
    from http_ratios import pg_sessions

    return pg_sessions(settings_dict, name) or 0


def child(requests: int) -> None:
    from _django import django_test_db

    with django_test_db("benchmarks.settings_http"):
        from django.contrib.auth import get_user_model
        from django.core import signals
        from django.core.management import call_command
        from django.db import close_old_connections, connection
        from django.test import Client

        user = get_user_model().objects.create_user(username="db@x.io", email="db@x.io")
        call_command("seed_gallery", email="db@x.io", count=1000, quiet=True)
        client = Client()
        client.force_login(user)
        # Django closes (or returns to the pool) the connection at the end of each request;
        # here that happens after the backend's CPU is read.
        signals.request_finished.disconnect(close_old_connections)
        connection.close()
        pooled = "pool" in connection.settings_dict.get("OPTIONS", {})

        def one() -> tuple[int, float]:
            started = time.perf_counter()
            response = client.get("/api/thumbnails")
            assert response.status_code == 200, response.status_code
            pid = connection.connection.info.backend_pid
            cpu = backend_cpu_ns(pid) - baseline.get(pid, 0)
            baseline[pid] = backend_cpu_ns(pid)
            connection.close()
            return cpu, time.perf_counter() - started

        baseline: dict[int, int] = {}
        for _ in range(20):  # warm-up: caches, the pool's connections
            one()
        name = str(connection.settings_dict["NAME"])
        before = sessions(connection.settings_dict, name)
        cpu_total, wall_total = 0, 0.0
        for _ in range(requests):
            cpu, wall = one()
            cpu_total += cpu
            wall_total += wall
        after = sessions(connection.settings_dict, name)
        print(
            f"{'pool' if pooled else 'no pool':<8} GET /api/thumbnails: database CPU "
            f"{cpu_total / requests / 1e6:6.2f} ms/request, "
            f"{(after - before) / requests:.2f} new sessions/request, "
            f"{wall_total / requests * 1000:6.2f} ms wall/request (n={requests})",
            flush=True,
        )
        if connection.connection is not None:
            connection.close()
        if pooled:
            connection.close_pool()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.requests)
        return
    if "postgres" not in os.environ.get("DATABASE_URL", ""):
        sys.exit("needs DATABASE_URL=postgres://... (a local server: CPU is read from /proc)")
    print(f"PostgreSQL, {os.cpu_count()} CPUs, backend CPU from /proc/<pid>/schedstat")
    with tempfile.TemporaryDirectory() as media:
        for mode, env in MODES.items():
            subprocess.run(
                [sys.executable, __file__, "--child", "--requests", str(args.requests)],
                env={
                    **os.environ,
                    **env,
                    "DJANGO_SETTINGS_MODULE": "benchmarks.settings_http",
                    "BENCH_MEDIA_ROOT": media,
                    "BENCH_DB_SUFFIX": f"db_{mode.replace(' ', '')}",
                    "STATIC_MANIFEST": "0",
                },
                check=True,
            )


if __name__ == "__main__":
    main()
