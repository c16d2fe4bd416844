"""Server-side parameter binding on PostgreSQL (DB_SERVER_SIDE_BINDING, on by default): queries
reach the server with their parameters apart ($1, $2), not quoted into the SQL by Python. Read
from the server's own view of the session (pg_stat_activity)."""

from __future__ import annotations

import pytest
from django.db import connection

from generation.models import Job
from tests.conftest import make_user

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's protocol"),
]


def test_parameters_reach_postgresql_bound_not_quoted_into_the_sql() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid() AND %s > 0", [7]
        )
        (seen,) = cursor.fetchone()
    assert seen.endswith("AND $1 > 0"), seen


def test_bound_parameters_read_back_what_was_written() -> None:
    """Values that client-side quoting once handled (quotes, backslashes, percent signs,
    non-ASCII, JSON) round-trip through the server's binding unchanged."""
    user = make_user("binding@example.com")
    odd = 'it\'s a \\ "test" — ünïcode 🎬 %s %(x)s'
    job = Job.objects.create(
        user=user, type="generate_thumbnails", params={"title": odd}, units=1, unit_cost=1
    )
    assert Job.objects.get(pk=job.pk, params__title=odd).params == {"title": odd}
