"""Seed the credit packs (one-time Stripe Checkout payments for extra credits). PRODUCT.md gives no
packs; ours are priced a little above the Starter plan's price per credit (19.99 / 100), so a plan
stays the better deal. `stripe_price_id` is filled in by `manage.py stripe_prices --commit`."""

from django.db import migrations

PACKS = [
    dict(slug="credits-50", name="50 credits", credits=50, price_cents=999, sort_order=0),
    dict(slug="credits-150", name="150 credits", credits=150, price_cents=2499, sort_order=1),
    dict(slug="credits-400", name="400 credits", credits=400, price_cents=5999, sort_order=2),
]


def seed(apps, schema_editor):
    CreditPack = apps.get_model("billing", "CreditPack")
    for pack in PACKS:
        CreditPack.objects.update_or_create(slug=pack["slug"], defaults=pack)


def unseed(apps, schema_editor):
    slugs = [p["slug"] for p in PACKS]
    apps.get_model("billing", "CreditPack").objects.filter(slug__in=slugs).delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0004_stripe_billing")]
    operations = [migrations.RunPython(seed, unseed)]
