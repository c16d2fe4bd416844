from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from billing.models import (
    CreditAccount,
    CreditLedgerEntry,
    CreditPack,
    CreditPackPurchase,
    Plan,
    StripeEvent,
    Subscription,
)
from billing.services import change_plan


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "price_cents",
        "monthly_credits",
        "max_variations",
        "watermark",
        "queue_priority",
        "generate_cooldown_seconds",
        "is_default",
    ]
    ordering = ["sort_order"]


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    """Plan and status changes go through `billing.services.change_plan` (an upgrade grants the
    difference in monthly credits); what Stripe owns (ids, period, cancel flag) is read-only.
    For a subscription billed through Stripe, change the plan in Stripe: its next event wins."""

    list_display = [
        "user",
        "plan",
        "status",
        "current_period_end",
        "cancel_at_period_end",
        "stripe_customer_id",
        "stripe_subscription_id",
    ]
    list_filter = ["plan", "status", "cancel_at_period_end"]
    search_fields = ["user__email", "stripe_customer_id", "stripe_subscription_id"]
    raw_id_fields = ["user"]
    list_select_related = ["user", "plan"]
    show_full_result_count = False
    readonly_fields = [
        "current_period_start",
        "current_period_end",
        "cancel_at_period_end",
        "stripe_customer_id",
        "stripe_subscription_id",
        "created_at",
        "updated_at",
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*self.readonly_fields, "user"] if obj is not None else self.readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # every user gets one when created (billing.signals)

    def save_model(self, request: HttpRequest, obj: Subscription, form: Any, change: bool) -> None:
        if change and {"plan", "status"} & set(form.changed_data):
            change_plan(
                user=obj.user, plan=obj.plan, status=obj.status, grant_upgrade_difference=True
            )
            return
        super().save_model(request, obj, form, change)


class ReadOnlyAdmin(admin.ModelAdmin):
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CreditAccount)
class CreditAccountAdmin(ReadOnlyAdmin):
    """Read-only: balances move only through billing.services (e.g. `adjust_credits`)."""

    list_display = ["user", "balance", "updated_at"]
    search_fields = ["user__email"]
    list_select_related = ["user"]


@admin.register(CreditLedgerEntry)
class CreditLedgerEntryAdmin(CreditAccountAdmin):
    list_display = ["created_at", "user", "kind", "amount", "balance_after", "reason", "reference"]
    list_filter = ["kind", "created_at"]
    search_fields = ["user__email", "idempotency_key", "reference"]
    date_hierarchy = "created_at"


@admin.register(CreditPack)
class CreditPackAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "credits", "price_cents", "stripe_price_id", "active"]
    list_editable = ["active"]
    ordering = ["sort_order"]


@admin.register(CreditPackPurchase)
class CreditPackPurchaseAdmin(ReadOnlyAdmin):
    """Read-only: recorded at Checkout, paid by the webhook."""

    list_display = ["created_at", "user", "pack", "credits", "price_cents", "status", "paid_at"]
    list_filter = ["status", "pack"]
    search_fields = ["user__email", "stripe_checkout_session_id"]
    list_select_related = ["user", "pack"]


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    """Read-only: each Stripe event processed, once."""

    list_display = ["processed_at", "type", "event_id", "object_id", "outcome"]
    list_filter = ["type"]
    search_fields = ["event_id", "object_id"]
    date_hierarchy = "processed_at"
