"""The payment-due banner: shown on every page while a paid subscription's payment has failed
(its paid features are locked by `effective_plan` at the same moment)."""

from __future__ import annotations

from typing import Any

from django import template

from billing import payments
from billing.models import Subscription
from billing.services import account_summary, plan_table

register = template.Library()


@register.inclusion_tag("billing/payment_banner.html", takes_context=True)
def payment_banner(context: dict[str, Any]) -> dict[str, Any]:
    """`{% payment_banner %}`: for a payment due, the banner with a Customer Portal button (or,
    where there is no Stripe account to manage, who can help); otherwise nothing. One cached
    account-summary read per page (plus one query while a payment is due and Stripe is on)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"show": False}
    summary = account_summary(user)
    if summary.status not in Subscription.PAYMENT_DUE:
        return {"show": False}
    plan = next((p for p in plan_table() if p.slug == summary.plan_slug), None)
    return {
        "show": True,
        "plan_name": plan.name if plan else "paid",
        "csrf_token": context.get("csrf_token"),
        # Without Stripe, or for a plan set from the admin (no Stripe customer), the portal has
        # nothing to open: the banner says who can help instead.
        "portal": payments.configured()
        and Subscription.objects.filter(user=user).exclude(stripe_customer_id="").exists(),
    }
