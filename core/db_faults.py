"""PostgreSQL faults: which exceptions mean "the database could not be reached", and dropping
the connection that raised one.

A dropped connection (a restarted or failed-over server, a killed backend, a network blip)
surfaces as django.db.OperationalError or InterfaceError ("connection already closed") on the
next query; a database that refuses connections, as OperationalError on connect, or as
psycopg_pool.PoolTimeout once the pool's `DB_POOL_TIMEOUT` is spent waiting for one.
"""

from __future__ import annotations

import logging

import psycopg
from django.db import InterfaceError, OperationalError, connection
from psycopg_pool import PoolTimeout

from core.redis_faults import log_throttled

# SQLSTATEs of an OperationalError that mean the server cannot be reached or is going away
# (PostgreSQL docs, Appendix A "Error Codes"): class 08 (connection exception), 57P01
# admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 53300 too_many_connections.
UNREACHABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def is_database_fault(exc: BaseException) -> bool:
    """True when `exc` means the database could not be reached: InterfaceError (a closed
    connection), psycopg_pool.PoolTimeout, or an OperationalError from psycopg with no SQLSTATE
    (the client lost or could not open the connection) or an UNREACHABLE_SQLSTATES / class 08
    one. Not for the OperationalErrors that are the query's own (a statement timeout 57014, a
    deadlock 40P01, a lock not available 55P03, SQLite's "database is locked"): those are
    errors to see with their traceback, not an outage to wait out (review of 5f3bf41)."""
    if isinstance(exc, (InterfaceError, PoolTimeout)):
        return True
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__ if isinstance(exc.__cause__, psycopg.Error) else exc
    if not isinstance(cause, psycopg.Error):
        return False  # SQLite's, or one raised by hand without a driver error
    if isinstance(cause, PoolTimeout):
        return True
    sqlstate = cause.sqlstate
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in UNREACHABLE_SQLSTATES


def drop_connection() -> None:
    """Give up this thread's database connection after a fault, so its next query opens (or
    takes from the pool) a fresh one instead of failing again on the dead one. Not inside a
    transaction (`atomic`): the fault already dooms it, and its block must unwind first."""
    if not connection.in_atomic_block:
        connection.close()


def log_fault(
    log: logging.Logger, key: str, exc: BaseException, message: str, *args: object
) -> None:
    """Log `exc`, which a background loop (the sweeper, a job's lease renewal) caught and goes
    on after. A database fault (`is_database_fault`): the connection dropped (`drop_connection`)
    and one WARNING line per `key` per REDIS_FAULT_LOG_INTERVAL_SECONDS, "`message`: the
    database is unreachable (OperationalError)", without its traceback: an outage is not a bug,
    and each loop wrote a traceback every few seconds through one (fault test). Anything else:
    an ERROR with its traceback, every time."""
    if is_database_fault(exc):
        drop_connection()
        log_throttled(
            log, key, f"{message}: the database is unreachable (%s)", *args, type(exc).__name__
        )
    else:
        log.error(message, *args, exc_info=exc)
