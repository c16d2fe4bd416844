"""Database faults as Django raises them, for tests that inject one."""

from __future__ import annotations

import psycopg
from django.db import OperationalError


def dropped_connection(message: str = "server closed the connection unexpectedly") -> Exception:
    """Django's OperationalError for a connection the server dropped, as its error wrapper
    raises it: caused by psycopg's OperationalError, which has no SQLSTATE (no server answer);
    core.db_faults.is_database_fault classifies by that cause."""
    error = OperationalError(message)
    error.__cause__ = psycopg.OperationalError(message)
    return error
