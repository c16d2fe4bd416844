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


class ThrowawayDatabase:
    """An empty PostgreSQL database made for one test (a context manager: created on entry,
    dropped with its connections on exit) that can be told to refuse new connections, as a
    server that is down does for a client (`refuse`: ALLOW_CONNECTIONS false and its backends
    terminated) and to take them again (`accept`). `admin` are psycopg.connect arguments for a
    database on the same server with the rights to create one (the test's `postgres`)."""

    def __init__(self, admin: dict, name: str) -> None:
        self.admin = {**admin, "dbname": "postgres", "autocommit": True}
        self.name = name
        self.connect_kwargs = {**self.admin, "dbname": name}

    def _run(self, *statements: tuple[str, list]) -> None:
        with psycopg.connect(**self.admin) as pg:
            for sql, params in statements:
                pg.execute(sql, params)

    def __enter__(self) -> ThrowawayDatabase:
        self._run((f'CREATE DATABASE "{self.name}"', []))
        return self

    def __exit__(self, *exc: object) -> None:
        self._run((f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)', []))

    def refuse(self, *, terminate: bool = True) -> None:
        """New connections refused; with `terminate`, the open ones closed too (a server that
        went down), else they go on working (a server out of connection slots)."""
        self._run((f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false', []))
        if terminate:
            self._run(
                (
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    [self.name],
                )
            )

    def accept(self) -> None:
        self._run((f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true', []))
