"""A kept test database (`pytest --reuse-db`) that starts every run as a fresh one would.

The catalog (plans, credit packs, built-in styles and palettes) is seeded by data migrations, and
transactional tests flush every table when they end, so a database kept from an earlier run comes
back without it: its migrations have all run and do not run again. `reset()` empties the database
and runs the same seeding functions the migrations run (imported from them, with the current
models), then records that content as what serialized-rollback tests restore.

A new data migration must be listed in SEEDS (or in NOT_DATA if it only changes the schema):
`reset()` refuses to run with a RunPython of this project's apps it does not know.

Creating a kept test database runs `migrate` (Django's create_test_db, keepdb=True) in every
test process: with nothing to apply it still loads every migration, renders the project's
models and emits post_migrate (0.09 CPU-s a process, and the flush in `reset()` emits
post_migrate again). `skip_unchanged_migrate()` makes that `migrate` a no-op when the database
records (MIGRATED_TABLE, outside Django's tables: no flush empties it) that it was migrated
with the same migration files (`fingerprint()`: every installed app's migration files, by
content, and Django's version) and the same migration rows (`_state()`: their count and newest
id); otherwise it migrates and records the new state. A new database, one kept from another
commit (a stale test database on a CI machine) or one a test left migrated back (killed
between its backward and forward migrations), migrates.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import django
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.core.management.commands import migrate
from django.db import connection, connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations.special import RunPython

PROJECT_APPS = {"billing", "generation", "studio"}
# (app, migration, function), in the order the migrations run them.
SEEDS = [
    ("billing", "0002_seed_plans", "seed"),
    ("billing", "0003_plan_max_concurrent_jobs", "seed_max_concurrent_jobs"),
    ("billing", "0005_seed_credit_packs", "seed"),
    ("studio", "0002_seed_builtin_styles_palettes", "seed"),
]
NOT_DATA = {
    ("billing", "0009_plan_one_default", "keep_the_first_default"),  # unticks rows, adds none
    ("studio", "0003_gallery_indexes", "_trigram_index"),  # an index, kept with the schema
    ("studio", "0008_thumbnail_search_title", "backfill"),  # fills a column of existing rows
    ("studio", "0008_thumbnail_search_title", "trigram_index"),
    ("studio", "0011_thumbnail_sort_title", "backfill"),  # fills a column of existing rows
    ("studio", "0012_owner_name_unique", "rename_duplicates"),  # renames rows, adds none
    ("studio", "0013_thumbnail_public_token", "tokens_for_public_thumbnails"),  # fills a column
    ("studio", "0014_keep_paid_creators_thumbnails", "keep_paid_creators_thumbnails"),  # clears one
    ("studio", "0016_text_free_sorts_last", "text_free_last"),  # sets a column of existing rows
}


def data_migrations() -> set[tuple[str, str, str]]:
    """(app, migration, function) of every RunPython in this project's migrations."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return {
        (app, name, getattr(operation.code, "__name__", repr(operation.code)))
        for (app, name), migration in loader.disk_migrations.items()
        if app in PROJECT_APPS
        for operation in migration.operations
        if isinstance(operation, RunPython)
    }


def reset() -> None:
    """Empty the database and seed it as its migrations did; record that content as what
    serialized-rollback tests reload. On PostgreSQL a reset that finds the content it recorded
    last time under the same `seed_key()` (SEEDED_TABLE) empties the database and reloads that
    content instead (`_reload`): what this function would seed again, but for the timestamps
    of the seeded rows (0.09 CPU-s a test process: the flush's post_migrate, the seeding, the
    serializing and the data-migration check)."""
    key = seed_key() if connection.vendor == "postgresql" else None
    contents = _seeded(key) if key else None
    if contents is not None:
        _reload(contents)
        return
    unknown = data_migrations() - set(SEEDS) - NOT_DATA
    if unknown:
        raise RuntimeError(
            f"tests/kept_db.py: add these data migrations to SEEDS (or NOT_DATA): {sorted(unknown)}"
        )
    # Every table emptied; post_migrate recreates content types and permissions, as migrate does.
    call_command("flush", interactive=False, verbosity=0)
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()
    with connection.schema_editor() as schema_editor:
        for app, name, function in SEEDS:
            module = importlib.import_module(f"{app}.migrations.{name}")
            getattr(module, function)(apps, schema_editor)
    # What serialized_rollback=True tests load back after the flush of the test before them.
    contents = connection.creation.serialize_db_to_string()
    connection._test_serialized_contents = contents  # type: ignore[attr-defined]
    if key:
        _record_seeded(key, contents)


SEEDED_TABLE = "viewbait_test_seeded"  # one row: seed_key() and what reset() seeded under it


def seed_key() -> str:
    """What the seeded content follows from: the migration files (`fingerprint()`: the seeding
    functions are in them), this file (SEEDS), the installed apps (content types and
    permissions) and the project apps' models (defaults the seeding fills in)."""
    digest = hashlib.sha256(fingerprint().encode())
    digest.update(Path(__file__).read_bytes())
    digest.update(repr(settings.INSTALLED_APPS).encode())
    for label in sorted(PROJECT_APPS):
        folder = Path(apps.get_app_config(label).path)
        for path in sorted([*folder.glob("models.py"), *folder.glob("models/*.py")]):
            digest.update(f"\n{path.name}\n".encode() + path.read_bytes())
    return digest.hexdigest()


def _seeded(key: str) -> str | None:
    """The content recorded under `key`, if the database has it."""
    row = _note(connection.alias, SEEDED_TABLE)
    return row[1] if row is not None and row[0] == key else None


def _record_seeded(key: str, contents: str) -> None:
    _set_note(connection.alias, SEEDED_TABLE, "key text, contents text", [key, contents])


def _note(alias: str, table: str) -> tuple[Any, ...] | None:
    """The one row of the side table `table` (SEEDED_TABLE, MIGRATED_TABLE: outside Django's
    tables, so no flush empties it) of the database `alias`, if it has one."""
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [table])
        if not cursor.fetchone()[0]:
            return None
        cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 (a constant)
        row = cursor.fetchone()
    return tuple(row) if row else None


def _set_note(alias: str, table: str, columns: str, values: list[str]) -> None:
    """Make `values` the one row of the side table `table` (created with `columns`)."""
    with connections[alias].cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (a constant)
        marks = ", ".join(["%s"] * len(values))
        cursor.execute(f"INSERT INTO {table} VALUES ({marks})", values)  # noqa: S608


def _reload(contents: str) -> None:
    """Every table emptied and its sequences restarted (the flush of `reset()`, without its
    post_migrate), `contents` loaded back (content types and permissions included), and each
    sequence set past the rows loaded, as inserting them through their sequences left it."""
    from django.contrib.contenttypes.models import ContentType
    from django.core.management.color import no_style

    call_command("flush", interactive=False, verbosity=0, inhibit_post_migrate=True)
    ContentType.objects.clear_cache()
    connection.creation.deserialize_db_from_string(contents)
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), apps.get_models()):
            cursor.execute(sql)
    connection._test_serialized_contents = contents  # type: ignore[attr-defined]


MIGRATED_TABLE = "viewbait_test_migrated"  # one row: the _state() the database was migrated to


@functools.cache
def fingerprint() -> str:
    """A digest of every installed app's migration files (their paths and contents) and
    Django's version: what `migrate` would apply from."""
    digest = hashlib.sha256(django.get_version().encode())
    loader = MigrationLoader
    for app_config in sorted(apps.get_app_configs(), key=lambda config: config.label):
        module_name, _explicit = loader.migrations_module(app_config.label)
        spec = importlib.util.find_spec(module_name) if module_name else None
        digest.update(f"\n{app_config.label}:{module_name}".encode())
        if spec is None or not spec.submodule_search_locations:
            continue
        for folder in spec.submodule_search_locations:
            for path in sorted(Path(folder).glob("*.py")):
                digest.update(f"\n{path.name}\n".encode() + path.read_bytes())
    return digest.hexdigest()


def _recorded(alias: str) -> str | None:
    """The state (`_state()`) the database `alias` was last migrated to, if it records one."""
    row = _note(alias, MIGRATED_TABLE)
    return row[0] if row is not None else None


def _state(alias: str) -> str:
    """What `migrate` recorded for the database `alias`: `fingerprint()` and how many migration
    rows it has, and its newest row's id. A migration unapplied since (a test that migrates
    back and forward again, killed in between) changes the latter, so the next run migrates."""
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT count(*), coalesce(max(id), 0) FROM django_migrations")
        count, newest = cursor.fetchone()
    return f"{fingerprint()} {count}:{newest}"


def record_migrated(alias: str = "default") -> None:
    """After a test migrated the kept database `alias` back and then forward again: record its
    state again, so that the next run need not migrate. A database that records nothing, or
    another `fingerprint()`, is left to migrate."""
    if connections[alias].vendor != "postgresql":
        return
    recorded = _recorded(alias)
    if recorded is not None and recorded.split(" ")[0] == fingerprint():
        _record(alias, _state(alias))


def _record(alias: str, value: str) -> None:
    _set_note(alias, MIGRATED_TABLE, "fingerprint text", [value])


def _forget(alias: str) -> None:
    """The database `alias` is being migrated: it records no fingerprint until that ends (a
    migrate that fails part way leaves none)."""
    with connections[alias].cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {MIGRATED_TABLE}")


@contextmanager
def skip_unchanged_migrate() -> Iterator[None]:
    """Within: `migrate` of a PostgreSQL database that records the current `fingerprint()`
    does nothing; any other migrates as ever, then records it (see the module docstring)."""
    handle: Callable[..., Any] = migrate.Command.handle

    def handle_unless_unchanged(command: Any, *args: Any, **options: Any) -> Any:
        alias = options.get("database") or "default"
        if connections[alias].vendor != "postgresql":
            return handle(command, *args, **options)
        recorded = _recorded(alias)
        if recorded is not None and recorded == _state(alias):
            return None
        _forget(alias)
        result = handle(command, *args, **options)
        _record(alias, _state(alias))
        return result

    migrate.Command.handle = handle_unless_unchanged  # type: ignore[method-assign, assignment]
    try:
        yield
    finally:
        migrate.Command.handle = handle  # type: ignore[method-assign]
