"""A kept test database (`pytest --reuse-db`) that starts every run as a fresh one would.

The catalog (plans, credit packs, built-in styles and palettes) is seeded by data migrations, and
transactional tests flush every table when they end, so a database kept from an earlier run comes
back without it: its migrations have all run and do not run again. `reset()` empties the database
and runs the same seeding functions the migrations run (imported from them, with the current
models), then records that content as what serialized-rollback tests restore.

A new data migration must be listed in SEEDS (or in NOT_DATA if it only changes the schema):
`reset()` refuses to run with a RunPython of this project's apps it does not know.
"""

from __future__ import annotations

import importlib

from django.apps import apps
from django.core.management import call_command
from django.db import connection
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
    connection._test_serialized_contents = connection.creation.serialize_db_to_string()  # type: ignore[attr-defined]
