"""viewbait.W004: `migrate` (and `check --database default`) warns when one server's connection
pools can open more PostgreSQL connections than the server accepts, read from the server
itself; nothing for SQLite, without the pool, or at a process start (no database is asked)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from viewbait import apps
from viewbait.apps import check_database_connections, procfile_worker_processes

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's max_connections"
)


def accepted() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('max_connections')::int"
            " - current_setting('superuser_reserved_connections')::int"
            " - coalesce(current_setting('reserved_connections', true)::int, 0)"
        )
        return int(cursor.fetchone()[0])


@contextmanager
def with_pool(max_size: int | None) -> Iterator[None]:
    """settings.DATABASES' pool with this max_size (None: no pool), restored after; the open
    connection stays as it is (the check only reads the settings and asks the server)."""
    with pytest.MonkeyPatch.context() as patch:
        options = settings.DATABASES["default"].setdefault("OPTIONS", {})
        if max_size is None:
            patch.delitem(options, "pool", raising=False)
        else:
            patch.setitem(options, "pool", {**(options.get("pool") or {}), "max_size": max_size})
        yield


@postgresql_only
def test_pools_larger_than_the_servers_limit_are_named_with_their_sum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "8")
    limit = accepted()
    workers = procfile_worker_processes()
    too_big = limit // (8 + workers) + 1
    with with_pool(too_big):
        [warning] = check_database_connections(None, databases=["default"])
    assert warning.id == "viewbait.W004"
    assert f"open {(8 + workers) * too_big} PostgreSQL connections" in warning.msg
    processes = "1 Dramatiq process," if workers == 1 else f"{workers} Dramatiq processes,"
    assert f"8 web workers + {processes}" in warning.msg
    assert f"more than the {limit} PostgreSQL accepts" in warning.msg

    fits = limit // (8 + workers)
    with with_pool(fits):
        assert check_database_connections(None, databases=["default"]) == []


@postgresql_only
def test_no_warning_without_the_pool_or_without_a_database_to_ask(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "1000")
    with with_pool(None):
        assert check_database_connections(None, databases=["default"]) == []
    with with_pool(1000):
        # A process start runs the project's checks with databases=None: nothing is asked.
        assert check_database_connections(None, databases=None) == []
        assert [m.id for m in check_database_connections(None, databases=["default"])] == [
            "viewbait.W004"
        ]


def test_sqlite_is_not_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "1000")
    monkeypatch.setitem(settings.DATABASES["default"], "ENGINE", "django.db.backends.sqlite3")
    with with_pool(1000):
        assert check_database_connections(None, databases=["default"]) == []


@pytest.mark.parametrize(
    ("line", "processes"),
    [
        ("worker: python manage.py rundramatiq --processes 3 --threads 4", 3),
        ("worker: env A=1 python manage.py rundramatiq -p 2", 2),
        ("worker: python manage.py rundramatiq --processes=5", 5),
        ("worker: python manage.py rundramatiq --threads 4", None),  # Dramatiq: one per CPU
        ("web: gunicorn app", 0),
    ],
)
def test_worker_processes_come_from_the_procfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str, processes: int | None
) -> None:
    (tmp_path / "Procfile").write_text(f"# comment\n{line}\n")
    monkeypatch.setattr(apps.settings, "BASE_DIR", tmp_path)
    monkeypatch.setattr(apps.os, "cpu_count", lambda: 6)
    assert procfile_worker_processes() == (6 if processes is None else processes)


def test_the_repositorys_procfile_runs_one_worker_process() -> None:
    assert procfile_worker_processes() == 1
