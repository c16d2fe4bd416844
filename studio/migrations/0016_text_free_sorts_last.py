# "Title A-Z" lists text-free thumbnails after the titled ones (studio.models.sort_key): every
# key now starts with a class character, "1" and the folded title for a titled thumbnail, "2"
# for a text-free one (its key was "", before every title's).
#
# Not atomic, in batches, as 0011: studio_thumbnail is the largest table, and one UPDATE of every
# row in one transaction would hold all their row locks (every delivery and edit of them waiting)
# until it committed. Each batch commits on its own; a key already in the new form is left alone,
# so a migration interrupted and run again picks up where it stopped, and a row an older web or
# worker process wrote in the old form meanwhile is converted by running it again
# (`manage.py migrate studio 0015` then `migrate`).

import unicodedata

from django.db import migrations

BATCH = 2000
TITLED_SORT_PREFIX = "1"  # studio.models as of this migration
TEXT_FREE_SORT_KEY = "2"


def old_sort_key(text):
    """studio.models.sort_key before this migration (0011's)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    key = "".join(char for char in decomposed if not unicodedata.combining(char))
    for at, char in enumerate(key):
        if char.isalnum():
            return key[at:]
    return key


def new_sort_key(text):
    """studio.models.sort_key as of this migration."""
    key = old_sort_key(text)
    return TITLED_SORT_PREFIX + key if key else TEXT_FREE_SORT_KEY


def _rewrite(apps, key_of):
    Thumbnail = apps.get_model("studio", "Thumbnail")
    last = 0
    while True:
        rows = list(
            Thumbnail.objects.filter(pk__gt=last)
            .order_by("pk")
            .only("pk", "title", "sort_title")[:BATCH]
        )
        if not rows:
            return
        changed = [row for row in rows if row.sort_title != key_of(row.title)]
        for row in changed:
            row.sort_title = key_of(row.title)
        if changed:
            Thumbnail.objects.bulk_update(changed, ["sort_title"])  # its own transaction
        last = rows[-1].pk


def text_free_last(apps, schema_editor):
    _rewrite(apps, new_sort_key)


def text_free_first(apps, schema_editor):
    _rewrite(apps, old_sort_key)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("studio", "0015_thumbnail_newest_index"),
    ]

    operations = [
        migrations.RunPython(text_free_last, text_free_first),
    ]
