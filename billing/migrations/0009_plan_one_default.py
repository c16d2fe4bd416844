"""At most one default plan: a unique index on `is_default` over the rows where it is true.
Rows written before it (a second default ticked in the shell or by a script) keep the one
`billing.services.default_plan` chose, the first in plan order (sort_order, then id); the
others are unticked before the index is built, so the migration cannot fail on them."""

from typing import Any

from django.db import migrations, models


def keep_the_first_default(apps: Any, schema_editor: Any) -> None:
    Plan = apps.get_model("billing", "Plan")
    defaults = Plan.objects.filter(is_default=True).order_by("sort_order", "id")
    first = defaults.values_list("pk", flat=True).first()
    if first is not None:
        defaults.exclude(pk=first).update(is_default=False)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0008_plan_features_may_be_empty"),
    ]

    operations = [
        migrations.RunPython(keep_the_first_default, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="plan",
            constraint=models.UniqueConstraint(
                condition=models.Q(("is_default", True)),
                fields=("is_default",),
                name="billing_plan_one_default",
            ),
        ),
    ]
