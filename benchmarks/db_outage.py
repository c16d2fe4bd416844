"""A PostgreSQL outage seen by one process's connection pool, psycopg_pool's own
(`ConnectionPool` as Django 5.2 builds it, reconnect_timeout at its 300 s default) against
ViewBait's (`core.postgresql.base.FailFastPool` with DB_POOL_RECONNECT_TIMEOUT): a throwaway
database on DATABASE_URL's server refuses connections (ALLOW_CONNECTIONS false, its backends
terminated) for OUTAGE seconds while a client asks for a connection and runs `SELECT 1` every
0.2 s (the pool's timeout at DB_POOL_TIMEOUT's default, 10 s); then it takes connections again.
Printed: how long the requests during the outage waited before failing, and how long after the
database was back the first request succeeded. Figures are printed, never asserted.

    DATABASE_URL=postgres://... .venv/bin/python benchmarks/db_outage.py [--outage 90]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def run(pool_class: type, options: dict, admin: dict, outage: float) -> str:
    import psycopg

    name = f"vb_outage_{uuid.uuid4().hex[:8]}"

    def admin_sql(*statements: tuple[str, list]) -> None:
        with psycopg.connect(**admin) as pg:
            for sql, params in statements:
                pg.execute(sql, params)

    admin_sql((f'CREATE DATABASE "{name}"', []))
    pool = pool_class(
        kwargs={**admin, "dbname": name, "connect_timeout": 5},
        min_size=2,
        max_size=24,
        timeout=10.0,
        open=True,
        **options,
    )
    try:
        pool.wait()
        admin_sql(
            (f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false', []),
            ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]),
        )
        began, waits = time.monotonic(), []
        while time.monotonic() - began < outage:
            start = time.monotonic()
            try:
                with pool.connection() as conn:
                    conn.execute("SELECT 1")
            except Exception:
                waits.append(time.monotonic() - start)
            time.sleep(0.2)
        admin_sql((f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true', []))
        back = time.monotonic()
        while True:
            try:
                with pool.connection() as conn:
                    conn.execute("SELECT 1")
                break
            except Exception:
                time.sleep(0.05)
        recovered = time.monotonic() - back
    finally:
        pool.close()
        admin_sql((f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', []))
    return (
        f"{len(waits)} failed requests during the outage, waiting median"
        f" {statistics.median(waits):.2f} s, max {max(waits):.2f} s; first success"
        f" {recovered:.1f} s after the database was back"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--outage", type=float, default=90.0, help="seconds (default 90)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # psycopg_pool logs every failed attempt
    import dj_database_url
    from psycopg_pool import ConnectionPool

    from core.postgresql.base import FailFastPool

    url = dj_database_url.parse(
        os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    )
    admin = {
        "host": url["HOST"],
        "port": url["PORT"] or 5432,
        "user": url["USER"],
        "password": url["PASSWORD"] or None,
        "dbname": url["NAME"],
        "autocommit": True,
    }
    reconnect = float(os.environ.get("DB_POOL_RECONNECT_TIMEOUT") or 5.0)
    print(f"outage of {args.outage:.0f} s, a request every 0.2 s, pool timeout 10 s")
    print("psycopg_pool ConnectionPool:", run(ConnectionPool, {}, admin, args.outage))
    print(
        f"FailFastPool, reconnect_timeout {reconnect:g} s:",
        run(FailFastPool, {"reconnect_timeout": reconnect}, admin, args.outage),
    )


if __name__ == "__main__":
    main()
