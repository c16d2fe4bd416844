"""One default plan at most, whoever writes: the admin's PlanForm refuses a second one, and the
database (billing_plan_one_default, a unique index on the rows with `is_default`) refuses what
skips the form (the shell, a script). Migration 0009 unticks all but the first default in plan
order before building the index. Runs on PostgreSQL and SQLite."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from billing.models import Plan
from billing.services import default_plan, invalidate_plan_table
from tests import kept_db

BEFORE = ("billing", "0008_plan_features_may_be_empty")
ADDED = ("billing", "0009_plan_one_default")
# How each database names the refusal: PostgreSQL the index, SQLite its column.
ONE_DEFAULT = r"billing_plan_one_default|UNIQUE constraint failed: billing_plan\.is_default"


def extra_plan(slug: str, **fields: Any) -> Plan:
    return Plan.objects.create(
        slug=slug, name=slug.title(), price_cents=0, monthly_credits=1, **fields
    )


@pytest.mark.django_db
def test_the_database_refuses_a_second_default_plan() -> None:
    seeded = Plan.objects.get(is_default=True)  # the seed's Free plan: the data is valid
    with pytest.raises(IntegrityError, match=ONE_DEFAULT), transaction.atomic():
        extra_plan("second", is_default=True)
    other = Plan.objects.exclude(pk=seeded.pk).first()
    assert other is not None
    with pytest.raises(IntegrityError, match=ONE_DEFAULT), transaction.atomic():
        Plan.objects.filter(pk=other.pk).update(is_default=True)
    assert list(Plan.objects.filter(is_default=True)) == [seeded]
    # Any number of plans that are not the default; moving the default is untick, then tick.
    extra_plan("third")
    extra_plan("fourth")
    seeded.is_default = False
    seeded.save()
    other.is_default = True
    other.save()
    assert default_plan().pk == other.pk


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_migration_keeps_the_first_default_in_plan_order() -> None:
    """Defaults written before the index: the one `default_plan` took (first by sort_order,
    then id) stays the default, the others are unticked, and the index is then built."""
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    try:
        old = executor.loader.project_state([BEFORE]).apps.get_model("billing", "Plan")
        seeded = old.objects.get(is_default=True)  # the seed's Free plan
        old.objects.filter(pk=seeded.pk).update(sort_order=5)
        fields = {"price_cents": 0, "monthly_credits": 1, "is_default": True}
        first = old.objects.create(slug="early", name="Early", sort_order=1, **fields)
        tied = old.objects.create(slug="tied", name="Tied", sort_order=1, **fields)  # later id
        late = old.objects.create(slug="late", name="Late", sort_order=99, **fields)

        executor.loader.build_graph()
        executor.migrate([ADDED])

        assert list(Plan.objects.filter(is_default=True).values_list("pk", flat=True)) == [first.pk]
        unticked = [seeded.pk, tied.pk, late.pk]
        assert Plan.objects.filter(pk__in=unticked, is_default=False).count() == 3
        invalidate_plan_table()  # written by the migration, past the model's signals
        assert default_plan().pk == first.pk
        with pytest.raises(IntegrityError, match=ONE_DEFAULT), transaction.atomic():
            Plan.objects.filter(pk=late.pk).update(is_default=True)
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
        kept_db.record_migrated(connection.alias)  # forward again: no migrate next run
