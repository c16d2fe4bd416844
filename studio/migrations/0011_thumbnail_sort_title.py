# The gallery's "Title A-Z" key (studio.models.sort_key), backfilled, and the title order's index
# moved onto it from the search key.
#
# Not atomic: studio_thumbnail is the largest table. In one transaction the ADD COLUMN's ACCESS
# EXCLUSIVE lock was held through the backfill of every row and the two index builds, so every
# gallery read and every delivery waited for the whole migration. Here the ADD COLUMN is a quick
# statement of its own (a constant default: no table rewrite on PostgreSQL 11+), each backfill
# batch commits on its own, and on PostgreSQL the new index is built CONCURRENTLY before the old
# one is dropped (reads and writes go on meanwhile; the title order always has an index).

import unicodedata

from django.db import migrations, models

BATCH = 2000
OLD_INDEX = models.Index(fields=["owner", "search_title", "id"], name="thumb_owner_title")
NEW_INDEX = models.Index(fields=["owner", "sort_title", "id"], name="thumb_owner_title")
BUILDING = "thumb_owner_title_new"  # the new index's name until the old one is dropped


def sort_key(text):
    """studio.models.sort_key as of this migration (a migration keeps its own copy)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    key = "".join(char for char in decomposed if not unicodedata.combining(char))
    for at, char in enumerate(key):
        if char.isalnum():
            return key[at:]
    return key


def backfill(apps, schema_editor):
    Thumbnail = apps.get_model("studio", "Thumbnail")
    last = 0
    while True:
        rows = list(
            Thumbnail.objects.filter(pk__gt=last).order_by("pk").only("pk", "title")[:BATCH]
        )
        if not rows:
            return
        for row in rows:
            row.sort_title = sort_key(row.title)
        Thumbnail.objects.bulk_update(rows, ["sort_title"])  # its own transaction
        last = rows[-1].pk


def _swap_index(apps, schema_editor, old, new):
    Thumbnail = apps.get_model("studio", "Thumbnail")
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.remove_index(Thumbnail, old)
        schema_editor.add_index(Thumbnail, new)
        return
    columns = ", ".join(
        schema_editor.quote_name(Thumbnail._meta.get_field(field).column) for field in new.fields
    )
    table = schema_editor.quote_name(Thumbnail._meta.db_table)
    building = schema_editor.quote_name(BUILDING)
    # A build interrupted earlier leaves an INVALID index under BUILDING: dropped first.
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {building}")
    schema_editor.execute(f"CREATE INDEX CONCURRENTLY {building} ON {table} ({columns})")
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(old.name)}")
    schema_editor.execute(f"ALTER INDEX {building} RENAME TO {schema_editor.quote_name(new.name)}")


def move_index(apps, schema_editor):
    _swap_index(apps, schema_editor, OLD_INDEX, NEW_INDEX)


def move_index_back(apps, schema_editor):
    _swap_index(apps, schema_editor, NEW_INDEX, OLD_INDEX)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("studio", "0010_youtube_channel"),
    ]

    operations = [
        migrations.AddField(
            model_name="thumbnail",
            name="sort_title",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="thumbnail", name="thumb_owner_title"),
                migrations.AddIndex(model_name="thumbnail", index=NEW_INDEX),
            ],
            database_operations=[migrations.RunPython(move_index, move_index_back)],
        ),
    ]
