"""Faster flush and reload for transactional tests, with Django's semantics.

Every `transaction=True` test ends with Django's `flush`, and a `serialized_rollback=True` one
then reloads what the migrations seeded.

Flush: on PostgreSQL Django empties the ~30 tables with one TRUNCATE, which makes new files for
every table and index: 0.16-0.25 s a test against 0.04 s for a DELETE of each table in one
statement string and transaction (psql, 2026-12-02), and test tables hold a few rows. `install()`
makes the flush DELETE, as Django's SQLite backend always does; foreign keys are DEFERRABLE
INITIALLY DEFERRED, so the order does not matter within the transaction. A flush that resets
sequences (tests.kept_db.reset, at the start of every test process) also sets each sequence the
tables own back to its start, as TRUNCATE ... RESTART IDENTITY does, in the same statement string:
that TRUNCATE took 0.05 s on a quiet 2-core machine and 0.25-1.1 s on a busy one (it takes
every table's lock and makes new files), against 2-25 ms (2026-12-05).

Reload:
Django's `BaseDatabaseCreation.deserialize_db_from_string` saves the serialized rows (content
types, permissions and the catalog the data migrations seed: about 150 rows) one at a time, and
each raw save with a primary key is an UPDATE that finds nothing, then an INSERT: about 300
queries. A serialized-rollback test paid 0.5-0.9 CPU-seconds for it on a 2-core machine, and 47
tests do (2026-12-02). `restore()` writes the same rows with one INSERT per model and batch
(`QuerySet._insert` with `raw=True`, the call `Model.save_base(raw=True)` itself makes, so field
`pre_save` hooks such as `auto_now` leave the stored values alone; ON CONFLICT on the primary key
updates a row that is still there, as the raw save's UPDATE does), and sends the same
`pre_save`/`post_save` signals with `raw=True` (the library cache's invalidation listens). Rows
with many-to-many data or of multi-table-inherited models are saved as Django saves them.
On PostgreSQL the rows of a content are deserialized and their INSERT statements compiled
(parameters quoted in, as the backend's client-side binding sends them) on its first reload in a
process; later reloads of the same content run those statements and send the signals with the
same row objects: 5 of a reload's 8 CPU-ms went to deserializing and compiling again.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from io import StringIO
from typing import Any

from django.core import serializers
from django.db import transaction
from django.db.models.constants import OnConflict
from django.db.models.signals import post_save, pre_save
from django.db.models.sql import InsertQuery


def restore(creation: Any, data: str) -> None:
    """Load `data` (a `serialize_db_to_string()` result) into `creation.connection`'s emptied
    database, as `deserialize_db_from_string` does: in one transaction, foreign keys checked at
    the end. Raises what the database raises on a bad row (IntegrityError)."""
    connection = creation.connection
    alias = connection.alias
    prepared = _prepared(connection, data)
    if prepared is None:
        _restore_rows(connection, data)
        return
    batches, table_names = prepared
    with transaction.atomic(using=alias):
        with connection.constraint_checks_disabled(), connection.cursor() as cursor:
            for model, rows, statements in batches:
                _send_saves(model, rows, alias, partial(_run_all, cursor, statements))
        connection.check_constraints(table_names=table_names)


# The rows of each serialized content and the SQL that inserts them, by (alias, content): the
# reload of the same content (every serialized-rollback test's) runs the same statements,
# deserialized and compiled once per process.
_PREPARED: dict[tuple[str, str], Any] = {}


def _prepared(connection: Any, data: str) -> Any:
    """(batches of (model, rows, SQL statements), table names) for `data` on a PostgreSQL
    `connection`, or None where the rows cannot be inserted so (another database, rows with
    many-to-many data, deferred fields or parent models: Django saves those one by one)."""
    key = (connection.alias, data)
    if key in _PREPARED:
        return _PREPARED[key]
    prepared = None
    if connection.vendor == "postgresql":
        by_model: dict[type[Any], list[Any]] = {}
        plain = True
        for deserialized in serializers.deserialize("json", StringIO(data), using=key[0]):
            row = deserialized.object
            if deserialized.m2m_data or deserialized.deferred_fields or type(row)._meta.parents:
                plain = False
                break
            by_model.setdefault(type(row), []).append(row)
        if plain:
            batches = [
                (model, rows, _insert_statements(model, rows, connection))
                for model, rows in by_model.items()
            ]
            prepared = (batches, sorted(model._meta.db_table for model in by_model))
    _PREPARED[key] = prepared
    return prepared


def _insert_statements(model: Any, rows: list[Any], connection: Any) -> list[str]:
    """The statements `_insert_raw` runs for `rows`, with their parameters quoted in (psycopg's
    client-side quoting, as Django's PostgreSQL backend sends them by default)."""
    statements = []
    fields, conflict, size = _insert_arguments(model, rows, connection)
    for start in range(0, len(rows), size):
        query = InsertQuery(model, **conflict)
        query.insert_values(fields, rows[start : start + size], raw=True)
        for sql, params in query.get_compiler(using=connection.alias).as_sql():
            statements.append(connection.ops.compose_sql(sql, params))
    return statements


def _restore_rows(connection: Any, data: str) -> None:
    """`restore` without prepared statements: deserialized now, inserted with the ORM."""
    alias = connection.alias
    batches: dict[type[Any], list[Any]] = {}
    table_names: set[str] = set()
    with transaction.atomic(using=alias):
        with connection.constraint_checks_disabled():
            for deserialized in serializers.deserialize("json", StringIO(data), using=alias):
                row = deserialized.object
                model = type(row)
                table_names.add(model._meta.db_table)
                if deserialized.m2m_data or deserialized.deferred_fields or model._meta.parents:
                    deserialized.save()
                else:
                    batches.setdefault(model, []).append(row)
            for model, rows in batches.items():
                _insert_raw(model, rows, alias, connection)
        connection.check_constraints(table_names=sorted(table_names))


def _insert_arguments(
    model: Any, rows: list[Any], connection: Any
) -> tuple[list[Any], dict[str, Any], int]:
    """(fields, on-conflict arguments, batch size) of the raw insert of `rows`."""
    fields = [field for field in model._meta.local_concrete_fields if not field.generated]
    # An upsert on the primary key, as a raw save is (UPDATE, then INSERT if no row): the first
    # such test of a run reloads into a database that still holds the rows.
    changeable = [field for field in fields if not field.primary_key]
    conflict = {
        "on_conflict": OnConflict.UPDATE if changeable else OnConflict.IGNORE,
        "update_fields": changeable or None,
        "unique_fields": [model._meta.pk] if changeable else None,
    }
    return fields, conflict, connection.ops.bulk_batch_size(fields, rows) or len(rows)


def _insert_raw(model: Any, rows: list[Any], alias: str, connection: Any) -> None:
    fields, conflict, size = _insert_arguments(model, rows, connection)

    def insert() -> None:
        for start in range(0, len(rows), size):
            model._base_manager.using(alias)._insert(
                rows[start : start + size], fields, raw=True, **conflict
            )

    _send_saves(model, rows, alias, insert)


def _run_all(cursor: Any, statements: list[str]) -> None:
    for statement in statements:
        cursor.execute(statement)


def _send_saves(model: Any, rows: list[Any], alias: str, insert: Callable[[], Any]) -> None:
    """`pre_save` for each row, `insert()`, then `post_save`, all with raw=True, as a raw save
    sends them."""
    for row in rows:
        pre_save.send(sender=model, instance=row, raw=True, using=alias, update_fields=None)
    insert()
    for row in rows:
        row._state.adding, row._state.db = False, alias
        post_save.send(
            sender=model, instance=row, created=True, raw=True, using=alias, update_fields=None
        )


# Whether a flush has emptied this process's test database since it was last seeded (created
# by the migrations, or tests.kept_db.reset): until then it holds the migrations' rows, and a
# test need not look for them (tests.conftest._migrations_rows).
_flushed_since_seed = False


def flushed_since_seed() -> bool:
    """Whether a flush ran on a connection `install()` saw since `seeded()` (or the start)."""
    return _flushed_since_seed


def seeded() -> None:
    """The test database holds the migrations' rows again (tests.kept_db.reset seeded it)."""
    global _flushed_since_seed
    _flushed_since_seed = False


# What TRUNCATE ... RESTART IDENTITY restarts: every sequence owned by a column of the tables
# (serial: pg_depend type "a", identity: "i"), back to its start value.
_RESTART_SEQUENCES = (
    " SELECT setval(d.objid::regclass, s.seqstart, false)"
    " FROM pg_depend d JOIN pg_sequence s ON s.seqrelid = d.objid"
    " WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass"
    " AND d.deptype IN ('a', 'i') AND d.refobjid = ANY(ARRAY[{tables}]::regclass[]);"
)


# A flush of every table needs no foreign-key checks: each row it deletes goes with every row
# that could refer to it. The DELETEs fired PostgreSQL's referential-integrity trigger for every
# row they removed (content types, permissions, the catalog: 7-8 ms of the server's CPU a
# flush, about 2.5 without, 2026-12-05); in replica mode (for this transaction only) no
# ordinary trigger fires, and the project has no triggers of its own. Only a superuser may set
# it; another role's flush checks as before, as does a flush of some tables only.
_NO_TRIGGERS = "SET LOCAL session_replication_role = replica; "
_TRIGGERS_BACK = " SET LOCAL session_replication_role = origin;"


def _skips_foreign_key_checks(connection: Any, tables: Any) -> bool:
    """Whether a PostgreSQL flush of `tables` empties every model's table, on a connection that
    may set session_replication_role (asked once a connection)."""
    from django.apps import apps

    every = {
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy
    }
    if not every <= set(tables):
        return False
    allowed = getattr(connection, "_viewbait_may_skip_triggers", None)
    if allowed is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('is_superuser') = 'on'")
            allowed = bool(cursor.fetchone()[0])
        connection._viewbait_may_skip_triggers = allowed
    return bool(allowed)


def install(connection: Any) -> None:
    """Make `connection`'s serialized-rollback reload use `restore()`, its flush DELETE on
    PostgreSQL, and every flush of it noted (`flushed_since_seed`)."""
    creation = connection.creation
    creation.deserialize_db_from_string = lambda data: restore(creation, data)
    ops = connection.ops
    django_sql_flush = ops.sql_flush

    def sql_flush(
        style: Any, tables: Any, *, reset_sequences: bool = False, allow_cascade: bool = False
    ) -> list[str]:
        global _flushed_since_seed
        _flushed_since_seed = _flushed_since_seed or bool(tables)
        if connection.vendor != "postgresql" or not tables:
            return django_sql_flush(  # type: ignore[no-any-return]
                style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
            )
        # Table names from Django's introspection, quoted: no outside input.
        quoted = [ops.quote_name(table) for table in tables]
        sql = " ".join(f"DELETE FROM {table};" for table in quoted)  # noqa: S608
        if _skips_foreign_key_checks(connection, tables):
            # Put back at the end: SET LOCAL outlives the savepoint Django's flush runs in, so in
            # a test's transaction the checks would stay off for the rest of the test.
            sql = _NO_TRIGGERS + sql + _TRIGGERS_BACK
        if reset_sequences:
            sql += _RESTART_SEQUENCES.format(
                tables=", ".join("'" + table.replace("'", "''") + "'" for table in quoted)
            )
        return [sql]

    ops.sql_flush = sql_flush
