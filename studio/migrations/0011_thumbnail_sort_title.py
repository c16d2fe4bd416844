# The gallery's "Title A-Z" key (studio.models.sort_key), backfilled, and the title order's index
# moved onto it from the search key.

import unicodedata

from django.db import migrations, models

BATCH = 2000


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
        Thumbnail.objects.bulk_update(rows, ["sort_title"])
        last = rows[-1].pk


class Migration(migrations.Migration):
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
        migrations.RemoveIndex(
            model_name="thumbnail",
            name="thumb_owner_title",
        ),
        migrations.AddIndex(
            model_name="thumbnail",
            index=models.Index(fields=["owner", "sort_title", "id"], name="thumb_owner_title"),
        ),
    ]
