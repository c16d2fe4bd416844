"""PostgreSQL faults: which exceptions mean "the database could not be reached", and dropping
the connection that raised one.

A dropped connection (a restarted or failed-over server, a killed backend, a network blip)
surfaces as django.db.OperationalError or InterfaceError ("connection already closed") on the
next query; a database that refuses connections, as OperationalError on connect, or as
psycopg_pool.PoolTimeout once the pool's `DB_POOL_TIMEOUT` is spent waiting for one.
"""

from __future__ import annotations

from django.db import InterfaceError, OperationalError, connection

try:
    from psycopg_pool import PoolTimeout
except ImportError:  # pragma: no cover - psycopg_pool is a dependency; SQLite needs none

    class PoolTimeout(Exception):  # type: ignore[no-redef]
        pass


DATABASE_FAULTS: tuple[type[Exception], ...] = (OperationalError, InterfaceError, PoolTimeout)


def drop_connection() -> None:
    """Give up this thread's database connection after a fault, so its next query opens (or
    takes from the pool) a fresh one instead of failing again on the dead one. Not inside a
    transaction (`atomic`): the fault already dooms it, and its block must unwind first."""
    if not connection.in_atomic_block:
        connection.close()
