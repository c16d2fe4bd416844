"""Plans, subscriptions and the append-only credit ledger.

Plan rows are data (seeded by migration 0002 from PRODUCT.md's plan table, editable in the admin).
The balance lives on `CreditAccount` and changes only through `billing.services`. Credit packs are
data too (seeded by migration 0005). `StripeEvent` is the table that makes each Stripe event id
processed once.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

RESOLUTION_COST = {"1K": 1, "2K": 2, "4K": 4}  # credits per image, PRODUCT.md "Credits"
EDIT_COST = 2  # credits per edit, PRODUCT.md "Credits"
ALL_ASPECT_RATIOS = ["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"]
ALL_RESOLUTIONS = ["1K", "2K", "4K"]
# The plan feature flags the studio checks (each job type's `feature`; tests check they match).
ALL_FEATURES = ["enhance_title", "analyse_style", "analyse_palette", "heatmap", "youtube"]


class Plan(models.Model):
    """A subscription plan. `None` in a limit field means unlimited."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=40)
    price_cents = models.PositiveIntegerField(help_text="USD cents per month")
    monthly_credits = models.PositiveIntegerField()
    resolutions = models.JSONField(default=list, help_text='e.g. ["1K", "2K"]')
    aspect_ratios = models.JSONField(default=list, help_text='e.g. ["16:9", "1:1"]')
    max_variations = models.PositiveSmallIntegerField(default=1)
    watermark = models.BooleanField(default=False)
    retention_days = models.PositiveIntegerField(null=True, blank=True)
    custom_asset_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Max custom styles, palettes and faces each; empty = unlimited",
    )
    # blank: the Free plan has no features ([]), and without it the admin refused to save it.
    features = models.JSONField(
        default=list,
        blank=True,
        help_text='Feature flags, e.g. ["enhance_title", "heatmap", "youtube"]; [] for none',
    )
    queue_priority = models.CharField(
        max_length=10, choices=[("normal", "normal"), ("high", "high")], default="normal"
    )
    generate_cooldown_seconds = models.PositiveSmallIntegerField(default=0)
    max_concurrent_jobs = models.PositiveSmallIntegerField(
        default=2, help_text="Jobs one creator may have queued or running at once"
    )
    stripe_price_id = models.CharField(max_length=100, blank=True)
    sort_order = models.PositiveSmallIntegerField(default=0)
    is_default = models.BooleanField(default=False, help_text="The plan new accounts start on")

    class Meta:
        ordering = ["sort_order"]
        # One default plan at most, whoever writes (the admin's PlanForm says so first; a
        # script or the shell met nothing, and `default_plan` took the first of two).
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="billing_plan_one_default",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """The admin's check of the JSON limits: `resolutions`, `aspect_ratios` and `features`
        must each be a list of known values (ValidationError naming the field and the values).
        A plain string passed before, and `in` then matched its substrings: `"heatmap"` as
        features gave the plan "heat", `"1K"` as resolutions became ["1", "K"] in /api/me."""
        errors = {}
        for field, known in (
            ("resolutions", ALL_RESOLUTIONS),
            ("aspect_ratios", ALL_ASPECT_RATIOS),
            ("features", ALL_FEATURES),
        ):
            value = getattr(self, field)
            if not isinstance(value, list):
                errors[field] = f'A JSON list, e.g. ["{known[0]}"], not a single value.'
                continue
            unknown = [v for v in value if v not in known]
            if unknown:
                errors[field] = (
                    f"Unknown: {', '.join(map(str, unknown))}. Known: {', '.join(known)}."
                )
        if errors:
            raise ValidationError(errors)

    def has_feature(self, feature: str) -> bool:
        return feature in self.features

    def summary(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "name": self.name,
            "monthly_credits": self.monthly_credits,
            "resolutions": list(self.resolutions),
            "aspect_ratios": list(self.aspect_ratios),
            "max_variations": self.max_variations,
            "watermark": self.watermark,
            "custom_asset_limit": self.custom_asset_limit,
            "features": list(self.features),
        }


class Subscription(models.Model):
    """One per user. Paid features apply only while `status` is active or trialing."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        TRIALING = "trialing"
        PAST_DUE = "past_due"
        CANCELED = "canceled"
        INCOMPLETE = "incomplete"
        INCOMPLETE_EXPIRED = "incomplete_expired"
        UNPAID = "unpaid"
        PAUSED = "paused"

    GOOD_STANDING = (Status.ACTIVE, Status.TRIALING)
    # Stripe statuses whose paid features are locked until a payment succeeds (the banner's case).
    PAYMENT_DUE = (Status.PAST_DUE, Status.UNPAID, Status.INCOMPLETE)

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscription"
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    current_period_start = models.DateTimeField()
    current_period_end = models.DateTimeField(db_index=True)
    stripe_customer_id = models.CharField(max_length=100, blank=True, db_index=True)
    stripe_subscription_id = models.CharField(
        max_length=100, blank=True, db_index=True, help_text="Empty: not billed through Stripe"
    )
    cancel_at_period_end = models.BooleanField(
        default=False, help_text="Set in Stripe: the plan ends (back to Free) at the period end"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user} on {self.plan} ({self.status})"

    @property
    def billed_by_stripe(self) -> bool:
        return bool(self.stripe_subscription_id)


class CreditAccount(models.Model):
    """The balance row: locked (SELECT ... FOR UPDATE) by every credit movement."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="credit_account"
    )
    balance = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        permissions = [("adjust_credits", "Can grant or take back credits (admin adjustment)")]

    def __str__(self) -> str:
        return f"{self.user}: {self.balance} credits"


class CreditLedgerEntry(models.Model):
    """One credit movement. Append-only: rows are never updated or deleted by the app."""

    class Kind(models.TextChoices):
        GRANT = "grant"  # plan credits (monthly grant, upgrade difference): expire at period end
        DEBIT = "debit"
        REFUND = "refund"
        ADJUSTMENT = "adjustment"
        PURCHASE = "purchase"  # a paid credit pack: never expires
        # A paid credit pack taken back: its payment refunded or lost in a dispute.
        REVERSAL = "reversal"
        EXPIRY = "expiry"  # unused plan credits at a period end; also marks the period boundary

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="credit_entries"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    amount = models.IntegerField(help_text="Signed: grants and refunds > 0, debits < 0")
    balance_after = models.IntegerField()
    idempotency_key = models.CharField(max_length=200, unique=True)
    reason = models.CharField(max_length=200, blank=True)
    reference = models.CharField(max_length=100, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"])]
        verbose_name_plural = "credit ledger entries"

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+d} ({self.idempotency_key})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValueError("Credit ledger entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError("Credit ledger entries are append-only")


class CreditPack(models.Model):
    """Extra credits bought once through Stripe Checkout (payment mode). The price charged is
    `stripe_price_id`'s; `price_cents` is what the plans page shows and must match it."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=40)
    credits = models.PositiveIntegerField()
    price_cents = models.PositiveIntegerField(help_text="USD cents")
    stripe_price_id = models.CharField(max_length=100, blank=True)
    active = models.BooleanField(default=True, help_text="Offered on the plans page")
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.credits} credits)"


class CreditPackPurchase(models.Model):
    """One Checkout Session for a credit pack, recorded when it is created, so the webhook grants
    exactly what was offered (credits copied from the pack at that moment), once per session."""

    class Status(models.TextChoices):
        OPEN = "open"
        PAID = "paid"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="credit_pack_purchases"
    )
    pack = models.ForeignKey(CreditPack, on_delete=models.PROTECT, related_name="purchases")
    credits = models.PositiveIntegerField()
    price_cents = models.PositiveIntegerField()
    stripe_checkout_session_id = models.CharField(max_length=200, unique=True)
    stripe_payment_intent_id = models.CharField(
        max_length=200,
        blank=True,
        db_index=True,
        help_text="The payment's PaymentIntent (set when paid): what refunds and disputes name",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user}: {self.pack} ({self.status})"


class DeletedStripeCustomer(models.Model):
    """The Stripe customer of an account since deleted (kept by the deletion's transaction,
    `billing.payments.remember_deleted_customer`): what lets a webhook that comes later undo a
    payment made for that account (its subscription cancelled, its payments refunded), and only
    for it. A customer not listed here is not ours to touch (another app or environment sharing
    the Stripe account)."""

    stripe_customer_id = models.CharField(max_length=100, unique=True)
    account_id = models.PositiveBigIntegerField(help_text="The deleted user's id")
    granted_checkout_sessions = models.JSONField(
        default=list,
        blank=True,
        help_text="Credit pack Checkout Sessions granted before the deletion: never refunded",
    )
    deleted_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.stripe_customer_id} (account {self.account_id}, deleted)"


class StripeEvent(models.Model):
    """A Stripe webhook event we processed (the unique `event_id` is what makes a replay a no-op).
    Written in the same transaction as the changes the event caused."""

    event_id = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    object_id = models.CharField(max_length=100, blank=True, help_text="data.object.id")
    stripe_created = models.DateTimeField(help_text="The event's `created` (Stripe's clock)")
    processed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    outcome = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-processed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"
