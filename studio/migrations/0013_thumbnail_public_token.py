"""A public thumbnail's own page (/p/<token>/): its token, and one for every thumbnail already
public (the flag could be set through the API before any page read it)."""

import secrets

from django.db import migrations, models


def tokens_for_public_thumbnails(apps, schema_editor):
    Thumbnail = apps.get_model("studio", "Thumbnail")
    for pk in (
        Thumbnail.objects.filter(is_public=True, public_token=None)
        .values_list("pk", flat=True)
        .iterator()
    ):
        Thumbnail.objects.filter(pk=pk).update(public_token=secrets.token_urlsafe(24))


class Migration(migrations.Migration):
    dependencies = [
        ("studio", "0012_owner_name_unique"),
    ]

    operations = [
        migrations.AddField(
            model_name="thumbnail",
            name="public_token",
            field=models.CharField(
                blank=True, editable=False, max_length=43, null=True, unique=True
            ),
        ),
        migrations.RunPython(tokens_for_public_thumbnails, migrations.RunPython.noop),
    ]
