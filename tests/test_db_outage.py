"""A database that is down, seen from the connection pool (core.postgresql.base.FailFastPool):
once a wait for a connection has found the database unreachable, the next waits are short
(UNREACHABLE_WAIT_SECONDS), until a connection is had again; a pool that is only busy keeps its
full wait. On a throwaway PostgreSQL database that refuses connections as a server that is down
does. The waits each PoolTimeout reports are psycopg_pool's own message ("couldn't get a
connection after N sec"), so nothing here is timed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import connection
from psycopg_pool import PoolTimeout

from core.postgresql.base import UNREACHABLE_WAIT_SECONDS, FailFastPool
from tests.db_faults import ThrowawayDatabase

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]

FULL_WAIT = 1.0


@pytest.fixture
def database() -> Iterator[ThrowawayDatabase]:
    with ThrowawayDatabase(
        connection.get_connection_params(), f"vb_outage_{uuid.uuid4().hex[:8]}"
    ) as made:
        yield made


def make_pool(database: ThrowawayDatabase, **options: object) -> FailFastPool:
    pool = FailFastPool(
        kwargs={**database.connect_kwargs, "connect_timeout": 2},
        min_size=0,
        timeout=FULL_WAIT,
        reconnect_timeout=1.0,
        open=True,
        **options,
    )
    return pool


def waited(pool: FailFastPool) -> str:
    """The PoolTimeout message of a getconn() that must fail."""
    with pytest.raises(PoolTimeout) as caught:
        pool.getconn()
    return str(caught.value)


def test_a_pool_whose_database_is_down_stops_waiting_until_it_is_back(
    database: ThrowawayDatabase,
) -> None:
    pool = make_pool(database, max_size=4)
    try:
        pool.putconn(pool.getconn())  # up: one connection made and kept
        database.refuse()  # the kept connection is gone too (its backend terminated)
        pool.check()  # the pool notices as its health check would
        assert waited(pool) == f"couldn't get a connection after {FULL_WAIT:.2f} sec"
        assert pool.unreachable
        short = f"couldn't get a connection after {UNREACHABLE_WAIT_SECONDS:.2f} sec"
        assert waited(pool) == short
        assert waited(pool) == short  # still down: still short
        database.accept()
        conn = pool.getconn(timeout=10)  # a connection as soon as the pool makes one again
        pool.putconn(conn)
        assert not pool.unreachable
        assert pool.wait_seconds() == FULL_WAIT
    finally:
        pool.close()


def test_a_pool_that_is_only_busy_keeps_its_full_wait(database: ThrowawayDatabase) -> None:
    """Every connection taken (load, not an outage): the wait that ends in PoolTimeout saw no
    failed connection attempt, so the next waits are as long."""
    pool = make_pool(database, max_size=1)
    try:
        held = pool.getconn()
        message = f"couldn't get a connection after {FULL_WAIT:.2f} sec"
        assert waited(pool) == message
        assert not pool.unreachable
        assert waited(pool) == message
        pool.putconn(held)
    finally:
        pool.close()


def test_new_connections_refused_while_others_work_is_load_not_an_outage(
    database: ThrowawayDatabase,
) -> None:
    """A server out of connection slots ("too many clients") refuses new connections while the
    open ones work: a wait that ends with failed attempts while one of the pool's connections is
    in use keeps the full wait; once none is in use, the same failure is an outage."""
    pool = make_pool(database, max_size=2)
    try:
        held = pool.getconn()
        database.refuse(terminate=False)
        message = f"couldn't get a connection after {FULL_WAIT:.2f} sec"
        assert waited(pool) == message  # the pool tried to grow, and failed
        assert not pool.unreachable
        held.execute("SELECT 1")  # still works
        pool.putconn(held)
        database.refuse()  # and now the server is down
        pool.check()
        assert waited(pool) == message
        assert pool.unreachable
    finally:
        pool.close()


def test_the_settings_give_postgresql_the_fail_fast_pool_and_bounded_reconnects() -> None:
    """DATABASE_URL postgres://...: ENGINE core.postgresql, whose pool is a FailFastPool;
    libpq's connect_timeout (DB_CONNECT_TIMEOUT) and the pool's reconnect_timeout
    (DB_POOL_RECONNECT_TIMEOUT) set, so neither a dropped packet nor psycopg_pool's back-off
    holds requests for minutes."""
    database = settings.DATABASES["default"]
    assert database["ENGINE"] == "core.postgresql"
    assert database["OPTIONS"]["connect_timeout"] == 5
    assert database["OPTIONS"]["pool"]["reconnect_timeout"] == 5.0
    assert isinstance(connection.pool, FailFastPool)
