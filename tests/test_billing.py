from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from billing.models import CreditLedgerEntry, Plan, Subscription
from billing.services import (
    InsufficientCredits,
    add_months,
    debit_credits,
    effective_plan,
    get_balance,
    grant_due_monthly_credits,
    refund_credits,
)
from tests.conftest import set_plan

pytestmark = pytest.mark.django_db


def test_plans_seeded_from_product_table() -> None:
    plans = {p.slug: p for p in Plan.objects.all()}
    assert [p.monthly_credits for p in Plan.objects.order_by("sort_order")] == [10, 100, 300, 700]
    assert plans["free"].watermark and not plans["starter"].watermark
    assert plans["free"].aspect_ratios == ["16:9"]
    assert len(plans["advanced"].aspect_ratios) == 10
    assert [p.max_variations for p in Plan.objects.order_by("sort_order")] == [1, 2, 3, 4]
    assert plans["free"].is_default


def test_new_user_starts_on_free_with_ten_credits_through_the_ledger(owner) -> None:
    assert owner.subscription.plan.slug == "free"
    assert get_balance(owner) == 10
    entry = CreditLedgerEntry.objects.get(user=owner)
    assert (entry.kind, entry.amount, entry.balance_after) == ("grant", 10, 10)


def test_a_new_user_is_opened_with_three_inserts_and_the_same_rows_as_the_idempotent_path() -> None:
    """A sign-up opens its account in three INSERTs (subscription, balance row holding the
    grant, the grant's ledger entry) after the user's own, not the idempotent path's twelve
    look-ups, savepoints and updates; the rows are those `open_account` writes."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from billing.models import CreditAccount
    from billing.services import open_account

    with CaptureQueriesContext(connection) as captured:
        user = get_user_model().objects.create_user(
            username="new", email="new@example.com", password="x"
        )
    statements = [
        query["sql"].split(" (")[0]
        for query in captured.captured_queries
        if "SAVEPOINT" not in query["sql"] and '"billing_plan"' not in query["sql"]
    ]  # savepoints: the test's transaction; the plan: the plan table's cache
    assert statements == [
        'INSERT INTO "auth_user"',
        'INSERT INTO "billing_subscription"',
        'INSERT INTO "billing_creditaccount"',
        'INSERT INTO "billing_creditledgerentry"',
    ]
    sub = Subscription.objects.get(user=user)
    assert (sub.plan.slug, sub.current_period_end) == (
        "free",
        add_months(sub.current_period_start, 1),
    )
    assert CreditAccount.objects.get(user=user).balance == 10
    entry = CreditLedgerEntry.objects.get(user=user)
    assert (entry.kind, entry.amount, entry.balance_after) == ("grant", 10, 10)
    assert entry.idempotency_key == (
        f"grant:monthly:{user.pk}:{sub.current_period_start:%Y-%m-%dT%H:%M}"
    )
    assert (entry.reason, entry.reference) == (
        "Monthly credits, Free plan",
        f"subscription:{sub.pk}",
    )
    # Opening it again through the idempotent path finds everything there: nothing new.
    assert open_account(user=user).pk == sub.pk
    assert CreditLedgerEntry.objects.filter(user=user).count() == 1
    assert get_balance(user) == 10


def test_debit_is_idempotent_per_key(owner) -> None:
    first = debit_credits(user=owner, amount=3, idempotency_key="k1", reason="t")
    again = debit_credits(user=owner, amount=3, idempotency_key="k1", reason="t")
    assert first.created and not again.created
    assert again.entry.pk == first.entry.pk
    assert get_balance(owner) == 7


def test_insufficient_credits_writes_nothing(owner) -> None:
    with pytest.raises(InsufficientCredits) as info:
        debit_credits(user=owner, amount=11, idempotency_key="big", reason="t")
    assert (info.value.balance, info.value.required) == (10, 11)
    assert get_balance(owner) == 10
    assert not CreditLedgerEntry.objects.filter(idempotency_key="big").exists()


def test_refund_once(owner) -> None:
    debit_credits(user=owner, amount=4, idempotency_key="d", reason="t")
    refund_credits(user=owner, amount=4, idempotency_key="r", reason="t")
    refund_credits(user=owner, amount=4, idempotency_key="r", reason="t")
    assert get_balance(owner) == 10


def test_ledger_rows_are_append_only(owner) -> None:
    entry = CreditLedgerEntry.objects.get(user=owner)
    entry.amount = 1000
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
    with pytest.raises(ValueError, match="append-only"):
        entry.delete()


def test_past_due_subscription_loses_paid_features(owner) -> None:
    set_plan(owner, "pro", status="past_due")
    assert effective_plan(owner).slug == "free"
    set_plan(owner, "pro", status="active")
    assert effective_plan(owner).slug == "pro"


def test_monthly_grant_for_every_plan_including_free(owner, other) -> None:
    set_plan(other, "starter")
    later = timezone.now() + dt.timedelta(days=32)
    assert grant_due_monthly_credits(now=later, dry_run=True) == 2
    assert get_balance(owner) == 10  # dry run changed nothing
    assert grant_due_monthly_credits(now=later, dry_run=False) == 2
    # Unused plan credits do not roll over (issue 9): the old period's 10 expire, then the grant.
    assert get_balance(owner) == 10
    assert get_balance(other) == 100
    expiry = CreditLedgerEntry.objects.get(user=owner, kind="expiry")
    assert (expiry.amount, expiry.balance_after) == (-10, 0)
    assert grant_due_monthly_credits(now=later, dry_run=False) == 0  # period already rolled
    assert Subscription.objects.get(user=owner).current_period_start > timezone.now()


def test_a_dry_run_counts_every_period_the_commit_grants(owner) -> None:
    """Three periods behind (cron stopped for a while): both say three."""
    later = timezone.now() + dt.timedelta(days=95)
    assert grant_due_monthly_credits(now=later, dry_run=True) == 3
    assert grant_due_monthly_credits(now=later, dry_run=False) == 3


def test_add_months_clamps_to_month_end() -> None:
    jan31 = dt.datetime(2026, 1, 31, tzinfo=dt.UTC)
    assert add_months(jan31, 1) == dt.datetime(2026, 2, 28, tzinfo=dt.UTC)
    assert add_months(jan31, 12) == dt.datetime(2027, 1, 31, tzinfo=dt.UTC)


def test_a_refund_after_a_period_end_gives_back_credits_that_do_not_expire(owner) -> None:
    """A job queued across a period end and cancelled after it: its refund (pack credits
    included) was counted as the new period's plan credits and expired at the next period
    end, taking the pack's 50 credits with it. Refunds of an earlier period's debits stay."""
    from billing.models import CreditAccount
    from billing.services import grant_due_monthly_credits, grant_purchased_credits
    from generation.services import cancel_job, submit_job

    def balance() -> int:
        return CreditAccount.objects.get(user=owner).balance

    grant_purchased_credits(user=owner, amount=50, idempotency_key="pack", reason="pack")
    assert balance() == 60  # Free's 10 plan credits and the pack's 50
    job, _, _ = submit_job(
        user=owner, job_type="generate_thumbnails", params={}, units=1, unit_cost=60
    )
    assert balance() == 0
    grant_due_monthly_credits(now=timezone.now() + dt.timedelta(days=32), dry_run=False)
    assert balance() == 10  # nothing left to expire; the new period's grant
    cancel_job(job)
    assert balance() == 70
    grant_due_monthly_credits(now=timezone.now() + dt.timedelta(days=64), dry_run=False)
    expiry = CreditLedgerEntry.objects.filter(user=owner, kind="expiry").latest("id")
    assert expiry.amount == -10  # only the unused grant of the period that ended
    assert balance() == 70  # the refunded 60 and the next grant of 10


def test_the_plan_admin_refuses_limits_that_are_not_lists_of_known_values(staff, client) -> None:
    """A plan's JSON limits saved from the admin as a plain string ("heatmap", "1K") were kept:
    `in` then matched substrings (Free had the heatmap as "heat...") and /api/me showed
    ["1", "K"]. The admin now says what is wrong and changes nothing. And the Free plan, whose
    features are [], could not be saved at all."""
    from django.core.exceptions import ValidationError
    from django.forms.models import model_to_dict

    from billing.models import ALL_FEATURES
    from studio.job_types import JOB_TYPES
    from studio.job_types.thumbnail_check import HEATMAP_FEATURE

    assert {t.feature for t in JOB_TYPES if t.feature} | {HEATMAP_FEATURE} <= set(ALL_FEATURES)
    for plan in Plan.objects.all():
        plan.full_clean()  # the seeded plans are valid
    client.force_login(staff)
    free = Plan.objects.get(slug="free")
    form = {k: "" if v is None else v for k, v in model_to_dict(free).items()}
    form.update(resolutions='["1K"]', aspect_ratios='["16:9"]', features="[]")
    saved = client.post(f"/admin/billing/plan/{free.pk}/change/", form)
    assert saved.status_code == 302  # Free has no features: "[]" was "This field is required."
    form.update(resolutions='"1K"', aspect_ratios='["16:9", "16:10"]', features='"heatmap"')
    answer = client.post(f"/admin/billing/plan/{free.pk}/change/", form)
    assert answer.status_code == 200  # the form again, with its errors
    page = answer.content.decode()
    assert "A JSON list, e.g. [&quot;1K&quot;], not a single value." in page
    assert "Unknown: 16:10." in page
    free.refresh_from_db()
    assert (free.resolutions, free.aspect_ratios, free.features) == (["1K"], ["16:9"], [])
    free.features = ["heatmap", "heatmaps"]
    with pytest.raises(ValidationError, match="Unknown: heatmaps"):
        free.full_clean()


def test_a_price_changed_in_the_admin_says_stripe_needs_stripe_prices(
    staff, client, settings
) -> None:
    """Checkout bills the Stripe price stored on the row until `stripe_prices --commit` makes
    a new one: the admin now says so when a plan's price changes with Stripe configured."""
    from django.forms.models import model_to_dict

    client.force_login(staff)
    starter = Plan.objects.get(slug="starter")
    form = {k: "" if v is None else v for k, v in model_to_dict(starter).items()}
    form.update(resolutions='["1K", "2K"]', aspect_ratios=json.dumps(starter.aspect_ratios))
    form.update(features=json.dumps(starter.features))
    url = f"/admin/billing/plan/{starter.pk}/change/"
    settings.STRIPE_SECRET_KEY = "sk_test_reminder"
    unchanged = client.post(url, form, follow=True).content.decode()
    assert "stripe_prices --commit" not in unchanged
    form["price_cents"] = 2499
    changed = client.post(url, form, follow=True).content.decode()
    assert "Starter now costs 2499 cents" in changed and "stripe_prices --commit" in changed
    settings.STRIPE_SECRET_KEY = ""
    form["price_cents"] = 2599
    assert "stripe_prices" not in client.post(url, form, follow=True).content.decode()
