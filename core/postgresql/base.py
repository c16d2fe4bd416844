"""Django's PostgreSQL backend (django.db.backends.postgresql) with `FailFastPool` as its
connection pool: the same backend in every other respect (vendor "postgresql", its features,
operations and introspection).

Why: psycopg_pool's `getconn` waits its whole `timeout` (DB_POOL_TIMEOUT, 10 s) for a
connection while the database refuses them, so during an outage every request of every web
worker held its thread for 10 s before its 503, and a worker's message as long; and the pool's
own reconnection attempts back off exponentially (1, 2, 4 ... 64 s apart; psycopg_pool
AttemptWithBackoff) for up to `reconnect_timeout` (300 s by default), so after an outage of a
minute or two the pool went on failing for up to a minute after the database was back
(`benchmarks/db_outage.py`, a 90 s outage: 10.0 s per request, the first success 33.7 s after
the database was back; with this pool and DB_POOL_RECONNECT_TIMEOUT=5, 0.5 s and 1.6 s).
"""

from __future__ import annotations

import threading
from typing import Any

from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool, PoolTimeout

# How long a request waits for a connection once the previous wait ended because the database
# could not be reached: long enough to open one new connection (a few milliseconds on a LAN, tens
# with TLS across zones), short enough that a request during an outage answers at once.
UNREACHABLE_WAIT_SECONDS = 0.5


class FailFastPool(ConnectionPool):
    """A psycopg_pool.ConnectionPool whose `getconn()` waits only UNREACHABLE_WAIT_SECONDS
    (instead of `timeout`) once a wait ended in PoolTimeout while connection attempts were
    failing (the pool's `connections_errors` counter rose during it), until a `getconn()`
    succeeds again. Not while a connection this pool handed out is still in use: new
    connections refused while others work ("too many clients" under load) is saturation, and a
    PoolTimeout with no failed attempt (every connection busy) is too; both keep the full wait.
    An explicit `timeout` argument is used as given (its outcome counts the same)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unreachable = False
        self._in_use = 0  # connections handed out by getconn() and not yet put back
        self._unreachable_lock = threading.Lock()

    @property
    def unreachable(self) -> bool:
        """True while the last wait that ended found the database unreachable."""
        return self._unreachable

    def wait_seconds(self) -> float:
        """Seconds the next `getconn()` without a timeout waits for a connection."""
        return min(self.timeout, UNREACHABLE_WAIT_SECONDS) if self._unreachable else self.timeout

    def _connection_errors(self) -> int:
        return int(self.get_stats().get(self._CONNECTIONS_ERRORS, 0))

    def getconn(self, timeout: float | None = None) -> Any:
        errors = self._connection_errors()
        try:
            conn = super().getconn(self.wait_seconds() if timeout is None else timeout)
        except PoolTimeout:
            # No attempt failed during a short wait: the pool was between attempts (its
            # back-off), so the database is still taken as down.
            if self._connection_errors() > errors:
                with self._unreachable_lock:
                    self._unreachable = self._in_use == 0
            raise
        with self._unreachable_lock:
            self._in_use += 1
            self._unreachable = False
        return conn

    def putconn(self, conn: Any) -> None:
        with self._unreachable_lock:
            self._in_use = max(0, self._in_use - 1)
        super().putconn(conn)


class DatabaseWrapper(base.DatabaseWrapper):
    """Django's PostgreSQL DatabaseWrapper whose pool (OPTIONS "pool") is a FailFastPool."""

    @property
    def pool(self) -> ConnectionPool | None:
        # django-stubs 5 do not declare the pool's private attributes Django 5.2 has.
        pools: dict[str, ConnectionPool] = self._connection_pools  # type: ignore[attr-defined]
        pool_options = self.settings_dict["OPTIONS"].get("pool")
        if (
            self.alias == NO_DB_ALIAS
            or not pool_options
            or self.alias in pools
            or self.settings_dict.get("CONN_MAX_AGE", 0) != 0  # Django's property refuses it
        ):
            return super().pool
        # As Django's property (django/db/backends/postgresql/base.py, 5.2) builds its pool,
        # with this class.
        options = {} if pool_options is True else pool_options
        connect_kwargs = {**self.get_connection_params(), "autocommit": True}
        checks = self.settings_dict["CONN_HEALTH_CHECKS"]
        pool = FailFastPool(
            kwargs=connect_kwargs,
            open=False,
            configure=self._configure_connection,  # type: ignore[attr-defined]
            check=ConnectionPool.check_connection if checks else None,
            **options,
        )
        pools.setdefault(self.alias, pool)  # as Django: the first thread's pool wins
        return pools[self.alias]
