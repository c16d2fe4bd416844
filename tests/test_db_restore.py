"""tests.db_restore: transactional tests' flush empties every table (with DELETE on
PostgreSQL), and serialized-rollback tests get back exactly what the data migrations seeded, in
one INSERT per model instead of two queries per row."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext

from studio.models import Style
from tests import db_restore
from tests.conftest import make_user


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_seeded_rows_come_back_identical_with_one_insert_per_model() -> None:
    seeded = connection._test_serialized_contents  # type: ignore[attr-defined]
    models = {row.__class__ for row in _rows(seeded)}
    assert Style in models and len(_rows(seeded)) > 3 * len(models)  # enough rows to tell apart

    Style.objects.filter(owner__isnull=True).update(name="changed")  # timestamps stay as seeded
    flush()
    raw_saves: list[Any] = []

    def saw(sender: Any, raw: bool, **_: Any) -> None:
        raw_saves.append(sender) if raw else None

    post_save.connect(saw, sender=Style)
    try:
        with CaptureQueriesContext(connection) as queries:
            connection.creation.deserialize_db_from_string(seeded)
    finally:
        post_save.disconnect(saw, sender=Style)

    # Django's JSON keeps milliseconds: a seeded time 0-999 microseconds past a second reads
    # ".000Z" and comes back as a whole second, written "Z" (a fresh-clone run failed on it).
    def whole_seconds(data: str) -> str:
        return data.replace('.000Z"', 'Z"')

    assert whole_seconds(connection.creation.serialize_db_to_string()) == whole_seconds(seeded)
    inserts = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("INSERT")]
    assert len(inserts) <= 2 * len(models), len(inserts)  # a model may need a second batch
    assert len(raw_saves) == Style.objects.count()  # the library cache still hears of each row


def _rows(data: str) -> list[Any]:
    from django.core import serializers

    return [item.object for item in serializers.deserialize("json", data)]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_flush_empties_every_table_without_truncate(owner: Any) -> None:
    from tests.factories.studio import ProjectFactory

    ProjectFactory(owner=owner)
    with CaptureQueriesContext(connection) as queries:
        flush()
    left = {m._meta.label: m._base_manager.count() for m in apps.get_models()}
    assert not any(left.values()), {label: n for label, n in left.items() if n}
    if connection.vendor == "postgresql":
        assert not any("TRUNCATE" in q["sql"].upper() for q in queries), queries.captured_queries


def flush() -> None:
    """The flush a transactional test ends with (TransactionTestCase._fixture_teardown)."""
    call_command(
        "flush", interactive=False, verbosity=0, reset_sequences=False, inhibit_post_migrate=True
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_test_after_a_flush_gets_the_migrations_rows_back() -> None:
    """tests.conftest.restore_migrations_rows: what a non-transactional test runs before it
    starts, for when an xdist worker took it after a transactional test emptied the tables."""
    from billing.models import Plan
    from billing.services import default_plan
    from tests.conftest import restore_migrations_rows

    plans = sorted(Plan.objects.values_list("slug", flat=True))
    assert restore_migrations_rows() is False  # nothing missing: nothing done
    flush()
    assert db_restore.flushed_since_seed()  # so the next non-transactional test looks for them
    assert not Plan.objects.exists()
    assert restore_migrations_rows() is True
    assert sorted(Plan.objects.values_list("slug", flat=True)) == plans
    assert default_plan().slug == "free"


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_flush_that_resets_sequences_restarts_them_without_truncate(owner: Any) -> None:
    """The flush tests.kept_db.reset starts each test process with (sequences reset): every
    table emptied and every sequence back at its start, as TRUNCATE ... RESTART IDENTITY leaves
    them, without that TRUNCATE. In this test's transaction: the rows come back when it is
    rolled back, and the sequences (which no rollback restores) are set back as they were."""
    if connection.vendor != "postgresql":
        pytest.skip("the PostgreSQL flush")
    from django.core.management.color import no_style

    from tests.factories.studio import ProjectFactory

    ProjectFactory(owner=owner)  # sequences used past their start
    sequences = [sequence["name"] for sequence in connection.introspection.sequence_list()]
    assert len(sequences) > 20
    with connection.cursor() as cursor:
        saved = {}
        for name in sequences:  # names from Django's introspection, quoted
            cursor.execute(f"SELECT last_value, is_called FROM {connection.ops.quote_name(name)}")  # noqa: S608
            saved[name] = cursor.fetchone()
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    try:
        with CaptureQueriesContext(connection) as queries:
            connection.ops.execute_sql_flush(
                connection.ops.sql_flush(no_style(), tables, reset_sequences=True)
            )
        left = {m._meta.label: m._base_manager.count() for m in apps.get_models()}
        assert not any(left.values()), {label: n for label, n in left.items() if n}
        with connection.cursor() as cursor:
            for name in sequences:
                cursor.execute("SELECT nextval(%s::regclass)", [connection.ops.quote_name(name)])
                assert cursor.fetchone() == (1,), name
    finally:
        with connection.cursor() as cursor:
            for name, (last_value, is_called) in saved.items():
                cursor.execute(
                    "SELECT setval(%s::regclass, %s, %s)",
                    [connection.ops.quote_name(name), last_value, is_called],
                )
    assert not any("TRUNCATE" in q["sql"].upper() for q in queries), queries.captured_queries


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_kept_database_migrates_only_when_its_migration_files_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """tests.kept_db.skip_unchanged_migrate (creating a kept test database): `migrate` runs
    when the database records no fingerprint or another one, and records the current one; with
    the current one recorded it does nothing. In this test's transaction (the DDL included)."""
    if connection.vendor != "postgresql":
        pytest.skip("the fingerprint is kept in a PostgreSQL table")
    from django.core.management.commands import migrate

    from tests import kept_db

    ran: list[str] = []

    def handle(self: Any, *args: Any, **options: Any) -> None:
        ran.append(options["database"])

    monkeypatch.setattr(migrate.Command, "handle", handle)

    def create_test_db_migrate() -> None:
        with kept_db.skip_unchanged_migrate():
            call_command("migrate", verbosity=0, interactive=False, database="default")

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {kept_db.MIGRATED_TABLE}")
    create_test_db_migrate()  # a new database, or one from before fingerprints
    assert ran == ["default"]
    create_test_db_migrate()  # unchanged: skipped
    assert ran == ["default"]
    monkeypatch.setattr(kept_db, "fingerprint", lambda: "other migration files")
    create_test_db_migrate()  # a stale database (another commit's migrations): migrated
    assert ran == ["default", "default"]
    create_test_db_migrate()
    assert ran == ["default", "default"]
    # A migration unapplied since (a test migrating back, killed before it migrated forward):
    # migrated, though the files are the same.
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM django_migrations WHERE id = (SELECT max(id) FROM django_migrations)"
        )
    create_test_db_migrate()
    assert ran == ["default", "default", "default"]
    create_test_db_migrate()
    assert ran == ["default", "default", "default"]
    assert migrate.Command.handle is handle  # put back


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_reset_that_reloads_the_recorded_seed_leaves_what_seeding_leaves() -> None:
    """tests.kept_db.reset: with the content it recorded under the current seed key, it reloads
    that content instead of seeding again; the database is left as the seeding leaves it, every
    row and every sequence (a sequence left behind its rows made the next insert collide)."""
    if connection.vendor != "postgresql":
        pytest.skip("the seed is recorded on PostgreSQL")
    from tests import kept_db

    seeded: list[str] = []
    real_seed = kept_db._record_seeded

    def record(key: str, contents: str) -> None:
        seeded.append(key)
        real_seed(key, contents)

    def state() -> tuple[str, dict[str, Any]]:
        values = {}
        with connection.cursor() as cursor:
            for sequence in connection.introspection.sequence_list():
                name = connection.ops.quote_name(sequence["name"])
                cursor.execute(f"SELECT last_value, is_called FROM {name}")  # noqa: S608
                values[sequence["name"]] = cursor.fetchone()
        return connection.creation.serialize_db_to_string(), values

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {kept_db.SEEDED_TABLE}")
    kept_db._record_seeded = record  # type: ignore[assignment]
    try:
        kept_db.reset()  # nothing recorded: seeds, and records
        assert seeded == [kept_db.seed_key()]
        seeding = state()
        from tests.factories.studio import ProjectFactory

        ProjectFactory(owner=make_user("reset@example.com"))  # rows and sequences moved on
        kept_db.reset()  # reloads what it recorded
        assert seeded == [kept_db.seed_key()]
        assert state() == seeding
    finally:
        kept_db._record_seeded = real_seed  # type: ignore[assignment]


@pytest.mark.postgres
@pytest.mark.django_db
def test_only_a_flush_of_every_table_skips_the_foreign_key_checks(owner: Any) -> None:
    """A flush of every table skips the referential-integrity triggers (as a superuser): no row
    can be left referring to a deleted one. A flush of some tables checks, as Django's does: a
    row left referring to a deleted one is an IntegrityError."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's triggers")
    from django.contrib.auth import get_user_model
    from django.core.management.color import no_style
    from django.db import IntegrityError, transaction

    from tests.factories.studio import ProjectFactory

    ProjectFactory(owner=owner)  # refers to the owner
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('is_superuser') = 'on'")
        superuser = cursor.fetchone()[0]
    (every,) = connection.ops.sql_flush(no_style(), tables)
    assert ("session_replication_role = replica" in every) is superuser
    (users,) = connection.ops.sql_flush(no_style(), [get_user_model()._meta.db_table])
    assert "session_replication_role" not in users

    def flush_the_users() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(users)
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    with pytest.raises(IntegrityError):
        flush_the_users()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(every)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        left = {m._meta.label: m._base_manager.count() for m in apps.get_models()}
        assert not any(left.values()), left
        # Checked again once the flush is done (SET LOCAL would outlive its savepoint).
        cursor.execute("SHOW session_replication_role")
        assert cursor.fetchone()[0] == "origin"
        transaction.set_rollback(True)
