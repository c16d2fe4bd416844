"""Server-side parameter binding on PostgreSQL (DB_SERVER_SIDE_BINDING, off by default): with it
on, queries reach the server with their parameters apart ($1, $2), not quoted into the SQL by
Python, read from the server's own view of the session (pg_stat_activity). Off by default because
PostgreSQL's protocol takes at most 65,535 bound parameters and Django 5.2's cascade deletes
build `IN (...)` lists of every related row (an ops review's creator with 70,000 thumbnails could
not delete their account: a 500)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.backends.postgresql.base import DatabaseWrapper
from psycopg.types.json import Json

from studio.models import Thumbnail
from studio.services import do_delete_account
from tests.conftest import make_user
from tests.factories.studio import ThumbnailFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's protocol"),
]

POSTGRESQL_MAX_BOUND_PARAMETERS = 65_535  # the protocol's Int16 parameter count (Bind message)


@pytest.fixture
def bound() -> Iterator[Any]:
    """A connection to the test database with server-side binding on (and no pool)."""
    settings_dict = {**connection.settings_dict}
    options = {k: v for k, v in settings_dict.get("OPTIONS", {}).items() if k != "pool"}
    settings_dict["OPTIONS"] = {**options, "server_side_binding": True}
    wrapper = DatabaseWrapper(settings_dict, alias="bound")
    try:
        yield wrapper
    finally:
        wrapper.close()


def test_off_by_default_so_parameters_are_quoted_client_side() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid() AND %s > 0", [7]
        )
        (seen,) = cursor.fetchone()
    assert seen.endswith("AND 7 > 0"), seen


def test_on_parameters_reach_postgresql_bound_not_quoted_into_the_sql(bound: Any) -> None:
    with bound.cursor() as cursor:
        cursor.execute(
            "SELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid() AND %s > 0", [7]
        )
        (seen,) = cursor.fetchone()
    assert seen.endswith("AND $1 > 0"), seen


def test_bound_parameters_read_back_what_was_written(bound: Any) -> None:
    """Values that client-side quoting once handled (quotes, backslashes, percent signs,
    non-ASCII, JSON) round-trip through the server's binding unchanged."""
    odd = 'it\'s a \\ "test" — ünïcode 🎬 %s %(x)s'
    with bound.cursor() as cursor:
        cursor.execute("SELECT %s::text, %s::jsonb ->> 'title'", [odd, Json({"title": odd})])
        assert cursor.fetchone() == (odd, odd)


def test_a_library_larger_than_the_bound_parameter_limit_is_deleted_with_its_account() -> None:
    """More thumbnails than PostgreSQL binds in one statement: Django's cascade deletes their
    related rows with one `IN (...)` list, which the default client-side quoting sends whole."""
    user = make_user("big-library@example.com")
    ThumbnailFactory(owner=user, title="The first")
    fields = [f.column for f in Thumbnail._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(fields)  # the model's own column names, no input
    copies = (  # of the first, made by the server in one go
        f"INSERT INTO studio_thumbnail ({columns}) SELECT {columns} FROM studio_thumbnail, "  # noqa: S608
        "generate_series(1, %s) WHERE owner_id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            copies,
            [POSTGRESQL_MAX_BOUND_PARAMETERS, user.pk],
        )
    assert Thumbnail.objects.filter(owner=user).count() > POSTGRESQL_MAX_BOUND_PARAMETERS

    assert do_delete_account(user=user) == POSTGRESQL_MAX_BOUND_PARAMETERS + 1
    assert not Thumbnail.objects.filter(owner_id=user.pk).exists()
