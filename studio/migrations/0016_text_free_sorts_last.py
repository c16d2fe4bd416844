# "Title A-Z" lists text-free thumbnails last (studio.models.TEXT_FREE_SORT_KEY): their sort key
# was "", before every title's. One UPDATE of the text-free rows (the title index's rows only);
# reversed, they get "" back.

from django.db import migrations

TEXT_FREE_SORT_KEY = "\U0010ffff"  # studio.models.TEXT_FREE_SORT_KEY as of this migration


def text_free_last(apps, schema_editor):
    Thumbnail = apps.get_model("studio", "Thumbnail")
    Thumbnail.objects.filter(title="", sort_title="").update(sort_title=TEXT_FREE_SORT_KEY)


def text_free_first(apps, schema_editor):
    Thumbnail = apps.get_model("studio", "Thumbnail")
    Thumbnail.objects.filter(sort_title=TEXT_FREE_SORT_KEY).update(sort_title="")


class Migration(migrations.Migration):
    dependencies = [
        ("studio", "0015_thumbnail_newest_index"),
    ]

    operations = [
        migrations.RunPython(text_free_last, text_free_first),
    ]
