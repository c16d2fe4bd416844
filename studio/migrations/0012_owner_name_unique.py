# One style (palette, face, project) of a name per owner, case and surrounding spaces aside, kept
# by the database: a unique index on (owner, LOWER(TRIM(name))) for each; built-in styles and
# palettes (no owner) are left out. Until now only studio.services.check_asset_name kept the rule,
# so a write that skipped it (a script, a shell, two admin saves at once) may have left duplicates:
# those are renamed first, or the index builds would fail.
#
# Within each owner's group of one folded name the oldest row (lowest id) keeps its name and the
# others become "Name (2)", "Name (3)", ... in id order: the first number that no row of that owner
# has (compared as the index compares, by the database), the name cut to fit the field. Groups
# are taken in the order of their oldest row, so the outcome is the same on every database.
# Not reversed: the renamed rows keep their new names when the constraints are removed.

from django.conf import settings
from django.db import migrations, models
from django.db.models import Count, Min, Value
from django.db.models.functions import Lower, Trim

MODELS = ("style", "palette", "face", "project")


def folded(name):
    """studio.models.folded_name as of this migration."""
    return Lower(Trim(name))


def free_name(model, owner_id, name, max_length):
    number = 1
    while True:
        number += 1
        suffix = f" ({number})"
        candidate = name[: max_length - len(suffix)].rstrip() + suffix
        taken = model.objects.filter(owner_id=owner_id).annotate(folded=folded("name"))
        if not taken.filter(folded=folded(Value(candidate))).exists():
            return candidate


def rename_model_duplicates(model):
    max_length = model._meta.get_field("name").max_length
    owned = model.objects.filter(owner__isnull=False).annotate(folded=folded("name"))
    groups = list(
        owned.values("owner_id", "folded")
        .annotate(rows=Count("pk"), oldest=Min("pk"))
        .filter(rows__gt=1)
        .order_by("owner_id", "oldest")
    )
    for group in groups:
        rows = owned.filter(owner_id=group["owner_id"], folded=group["folded"]).order_by("pk")
        for row in list(rows)[1:]:
            row.name = free_name(model, row.owner_id, row.name.strip(), max_length)
            row.save(update_fields=["name"])


def rename_duplicates(apps, schema_editor):
    library = [apps.get_model("studio", name) for name in MODELS]
    if schema_editor.connection.vendor == "postgresql":
        # Writers (the app still running without the constraints) wait for this migration's
        # commit: none adds a duplicate between the renaming and the index builds. Reads go on.
        tables = ", ".join(schema_editor.quote_name(m._meta.db_table) for m in library)
        schema_editor.execute(f"LOCK TABLE {tables} IN SHARE ROW EXCLUSIVE MODE")
    for model in library:
        rename_model_duplicates(model)


class Migration(migrations.Migration):
    dependencies = [
        ("studio", "0011_thumbnail_sort_title"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(rename_duplicates, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="face",
            constraint=models.UniqueConstraint(
                models.F("owner"),
                Lower(Trim("name")),
                name="face_owner_name_unique",
                violation_error_code="name_taken",
                violation_error_message="Its owner already has a face of this name (case and surrounding spaces aside).",
            ),
        ),
        migrations.AddConstraint(
            model_name="palette",
            constraint=models.UniqueConstraint(
                models.F("owner"),
                Lower(Trim("name")),
                condition=models.Q(("owner__isnull", False)),
                name="palette_owner_name_unique",
                violation_error_code="name_taken",
                violation_error_message="Its owner already has a palette of this name (case and surrounding spaces aside).",
            ),
        ),
        migrations.AddConstraint(
            model_name="project",
            constraint=models.UniqueConstraint(
                models.F("owner"),
                Lower(Trim("name")),
                name="project_owner_name_unique",
                violation_error_code="name_taken",
                violation_error_message="Its owner already has a project of this name (case and surrounding spaces aside).",
            ),
        ),
        migrations.AddConstraint(
            model_name="style",
            constraint=models.UniqueConstraint(
                models.F("owner"),
                Lower(Trim("name")),
                condition=models.Q(("owner__isnull", False)),
                name="style_owner_name_unique",
                violation_error_code="name_taken",
                violation_error_message="Its owner already has a style of this name (case and surrounding spaces aside).",
            ),
        ),
    ]
