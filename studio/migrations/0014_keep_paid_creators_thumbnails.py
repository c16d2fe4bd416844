"""Thumbnails of creators already in good standing on a plan that keeps thumbnails for good lose
the expiry they got on Free: what studio.retention does when a subscription is saved, for the
rows from before it existed (purge_expired_thumbnails spares them anyway)."""

from django.db import migrations

GOOD_STANDING = ("active", "trialing")  # billing.models.Subscription.GOOD_STANDING


def keep_paid_creators_thumbnails(apps, schema_editor):
    Thumbnail = apps.get_model("studio", "Thumbnail")
    Subscription = apps.get_model("billing", "Subscription")
    owners = Subscription.objects.filter(
        status__in=GOOD_STANDING, plan__retention_days__isnull=True
    ).values("user_id")
    Thumbnail.objects.filter(owner_id__in=owners, expires_at__isnull=False).update(expires_at=None)


class Migration(migrations.Migration):
    dependencies = [
        ("studio", "0013_thumbnail_public_token"),
        ("billing", "0008_plan_features_may_be_empty"),
    ]

    operations = [
        migrations.RunPython(keep_paid_creators_thumbnails, migrations.RunPython.noop),
    ]
