"""Seed the plan table from PRODUCT.md "Plans (billing)". Cooldowns (seconds between generate
requests) per issue 4: Free 12, Starter 8, Advanced 4, Pro 2."""

from django.db import migrations

ALL_RATIOS = ["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"]

PLANS = [
    dict(
        slug="free",
        name="Free",
        price_cents=0,
        monthly_credits=10,
        resolutions=["1K"],
        aspect_ratios=["16:9"],
        max_variations=1,
        watermark=True,
        retention_days=30,
        custom_asset_limit=1,
        features=[],
        queue_priority="normal",
        generate_cooldown_seconds=12,
        sort_order=0,
        is_default=True,
    ),
    dict(
        slug="starter",
        name="Starter",
        price_cents=1999,
        monthly_credits=100,
        resolutions=["1K", "2K"],
        aspect_ratios=["16:9", "1:1", "3:2", "3:4", "9:16"],
        max_variations=2,
        watermark=False,
        retention_days=None,
        custom_asset_limit=None,
        features=["enhance_title", "analyse_style", "analyse_palette"],
        queue_priority="normal",
        generate_cooldown_seconds=8,
        sort_order=1,
        is_default=False,
    ),
    dict(
        slug="advanced",
        name="Advanced",
        price_cents=4999,
        monthly_credits=300,
        resolutions=["1K", "2K", "4K"],
        aspect_ratios=ALL_RATIOS,
        max_variations=3,
        watermark=False,
        retention_days=None,
        custom_asset_limit=None,
        features=["enhance_title", "analyse_style", "analyse_palette", "heatmap"],
        queue_priority="high",
        generate_cooldown_seconds=4,
        sort_order=2,
        is_default=False,
    ),
    dict(
        slug="pro",
        name="Pro",
        price_cents=9999,
        monthly_credits=700,
        resolutions=["1K", "2K", "4K"],
        aspect_ratios=ALL_RATIOS,
        max_variations=4,
        watermark=False,
        retention_days=None,
        custom_asset_limit=None,
        features=["enhance_title", "analyse_style", "analyse_palette", "heatmap", "youtube"],
        queue_priority="high",
        generate_cooldown_seconds=2,
        sort_order=3,
        is_default=False,
    ),
]


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    for plan in PLANS:
        Plan.objects.update_or_create(slug=plan["slug"], defaults=plan)


def unseed(apps, schema_editor):
    apps.get_model("billing", "Plan").objects.filter(slug__in=[p["slug"] for p in PLANS]).delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
