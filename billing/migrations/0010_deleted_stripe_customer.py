"""Deleted accounts' Stripe customers (`DeletedStripeCustomer`): the webhook backstop undoes a
late payment for those only, never a granted credit pack."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0009_plan_one_default"),
    ]

    operations = [
        migrations.CreateModel(
            name="DeletedStripeCustomer",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("stripe_customer_id", models.CharField(max_length=100, unique=True)),
                ("account_id", models.PositiveBigIntegerField(help_text="The deleted user's id")),
                (
                    "granted_checkout_sessions",
                    models.JSONField(
                        blank=True,
                        default=list,
                        help_text="Credit pack Checkout Sessions granted before the deletion: never refunded",
                    ),
                ),
                ("deleted_at", models.DateTimeField()),
            ],
        ),
    ]
