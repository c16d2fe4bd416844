from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from billing.models import CreditAccount, CreditLedgerEntry, Plan, Subscription


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
    list_display = ["user", "plan", "status", "current_period_end"]
    list_filter = ["plan", "status"]
    search_fields = ["user__email", "stripe_customer_id", "stripe_subscription_id"]
    raw_id_fields = ["user"]
    list_select_related = ["user", "plan"]
    show_full_result_count = False


@admin.register(CreditAccount)
class CreditAccountAdmin(admin.ModelAdmin):
    """Read-only: balances move only through billing.services (e.g. `adjust_credits`)."""

    list_display = ["user", "balance", "updated_at"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CreditLedgerEntry)
class CreditLedgerEntryAdmin(CreditAccountAdmin):
    list_display = ["created_at", "user", "kind", "amount", "balance_after", "reason", "reference"]
    list_filter = ["kind", "created_at"]
    search_fields = ["user__email", "idempotency_key", "reference"]
    date_hierarchy = "created_at"
