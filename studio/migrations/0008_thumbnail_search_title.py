# The gallery's accent- and case-insensitive search key (studio.models.search_key), backfilled.

import unicodedata

from django.db import migrations, models

BATCH = 2000


def search_key(text):
    """studio.models.search_key as of this migration (a migration keeps its own copy)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


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
            row.search_title = search_key(row.title)
        Thumbnail.objects.bulk_update(rows, ["search_title"])
        last = rows[-1].pk


def trigram_index(apps, schema_editor):
    # The search is LIKE '%...%' on search_title now; on PostgreSQL a pg_trgm GIN index serves
    # it, in place of 0003's index on upper(title).
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        schema_editor.execute("DROP INDEX IF EXISTS thumb_title_trgm")
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS thumb_search_title_trgm ON studio_thumbnail "
            "USING gin (search_title gin_trgm_ops)"
        )


def drop_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS thumb_search_title_trgm")
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS thumb_title_trgm ON studio_thumbnail "
            "USING gin (upper(title) gin_trgm_ops)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("studio", "0007_faceimage_face_height"),
    ]

    operations = [
        migrations.AddField(
            model_name="thumbnail",
            name="search_title",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
        migrations.RunPython(trigram_index, drop_trigram_index),
    ]
