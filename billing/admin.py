from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from billing.models import (
    CreditAccount,
    CreditLedgerEntry,
    CreditPack,
    CreditPackPurchase,
    Plan,
    StripeEvent,
    Subscription,
)
from billing.services import (
    MAX_ADJUSTMENT,
    InsufficientCredits,
    adjust_credits,
    change_plan,
    effective_plan,
)
from core.admin_display import breakable, short_datetime


class StripePriceReminder(admin.ModelAdmin):
    """Saving a new `price_cents` for a plan or pack while Stripe is configured says that
    Checkout keeps billing the old Stripe price until `manage.py stripe_prices --commit`
    creates the new one (the admin said nothing, and the old amount went on being charged)."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and "price_cents" in form.changed_data and settings.STRIPE_SECRET_KEY:
            self.message_user(
                request,
                f"{obj.name} now costs {obj.price_cents} cents, but Stripe Checkout keeps "
                "billing its current Stripe price until you run "
                "`python manage.py stripe_prices --commit`, which creates the new price.",
                messages.WARNING,
            )


class PlanForm(forms.ModelForm):
    """A plan's limits as the studio can honour them: `max_variations` and
    `max_concurrent_jobs` at least 1 (0 refused every generate of every creator on the plan),
    and one default plan at most (`billing.services.default_plan` took the first of two
    silently, so new accounts started on whichever sorted first)."""

    def _at_least_one(self, field: str) -> int:
        value: int = self.cleaned_data[field]
        if value is not None and value < 1:
            raise forms.ValidationError("At least 1: with 0 the plan's creators can make nothing.")
        return value

    def clean_max_variations(self) -> int:
        return self._at_least_one("max_variations")

    def clean_max_concurrent_jobs(self) -> int:
        return self._at_least_one("max_concurrent_jobs")

    def clean_is_default(self) -> bool:
        is_default: bool = self.cleaned_data["is_default"]
        other = Plan.objects.filter(is_default=True).exclude(pk=self.instance.pk).first()
        if is_default and other is not None:
            raise forms.ValidationError(
                f"{other.name} is the default plan: untick “Is default” there first."
            )
        return is_default


@admin.register(Plan)
class PlanAdmin(StripePriceReminder):
    form = PlanForm
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

    # Breakable emails and Stripe ids and a short date: the list fits beside the filters at
    # 1440 px (the two Stripe ids ran under them).
    list_display = [
        "creator",
        "plan",
        "status",
        "period_end",
        "cancels",
        "stripe_customer",
        "stripe_subscription",
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

    @admin.display(description="User email", ordering="user__email")
    def creator(self, subscription: Subscription) -> str:
        return breakable(subscription.user.email)

    @admin.display(description="Period ends", ordering="current_period_end")
    def period_end(self, subscription: Subscription) -> str:
        return short_datetime(subscription.current_period_end)

    @admin.display(description="Cancels", boolean=True, ordering="cancel_at_period_end")
    def cancels(self, subscription: Subscription) -> bool:
        """Cancel at period end (set in Stripe): the plan ends at the period's end."""
        return subscription.cancel_at_period_end

    @admin.display(description="Customer", ordering="stripe_customer_id")
    def stripe_customer(self, subscription: Subscription) -> str:
        return (
            breakable(subscription.stripe_customer_id) if subscription.stripe_customer_id else "-"
        )

    @admin.display(description="Stripe id", ordering="stripe_subscription_id")
    def stripe_subscription(self, subscription: Subscription) -> str:
        sub_id = subscription.stripe_subscription_id
        return breakable(sub_id) if sub_id else "-"

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


class AdjustCreditsForm(forms.Form):
    """A signed amount of credits and why. `key` is drawn when the form is shown, so sending
    the same form twice (a double click, a resubmitted page) moves the credits once."""

    amount = forms.IntegerField(
        min_value=-MAX_ADJUSTMENT,
        max_value=MAX_ADJUSTMENT,
        help_text="Credits to add (e.g. 20) or, with a minus sign, to take back (e.g. -5). "
        "Added credits never expire.",
    )
    reason = forms.CharField(
        max_length=150,
        widget=forms.TextInput(attrs={"class": "vTextField"}),
        help_text="Shown in the ledger, e.g. “Goodwill: renders failed during the outage”.",
    )
    key = forms.CharField(widget=forms.HiddenInput, max_length=32)

    def clean_amount(self) -> int:
        amount: int = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("Enter a number of credits other than 0.")
        return amount


@admin.register(CreditAccount)
class CreditAccountAdmin(ReadOnlyAdmin):
    """Read-only: balances move only through billing.services. Staff with the
    `billing.adjust_credits` permission (superusers have it) grant or take back credits on the
    account's "Adjust credits" page: a ledger entry of kind `adjustment` through
    `billing.services.adjust_credits`, under the account's row lock and an idempotency key, and
    an entry in the admin's history naming who did it."""

    list_display = ["user__email", "balance", "updated"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    fields = ["user", "email", "plan", "balance", "updated_at"]
    readonly_fields = ["email", "plan"]
    change_form_template = "admin/billing/creditaccount/change_form.html"

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or self.may_adjust(request)

    @admin.display(description="Updated at", ordering="updated_at")
    def updated(self, account: CreditAccount) -> str:  # the other lists' short form
        return short_datetime(account.updated_at)

    @admin.display(description="Email")
    def email(self, account: CreditAccount) -> str:
        return account.user.email

    @admin.display(description="Plan")
    def plan(self, account: CreditAccount) -> str:
        """The plan the creator's limits come from now (billing.services.effective_plan)."""
        return effective_plan(account.user).name

    def may_adjust(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("billing.adjust_credits"))

    def get_urls(self) -> list[Any]:
        adjust = path(
            "<int:object_id>/adjust/",
            self.admin_site.admin_view(self.adjust_view),
            name="billing_creditaccount_adjust",
        )
        return [adjust, *super().get_urls()]

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        context["may_adjust"] = self.may_adjust(request)
        return super().render_change_form(request, context, *args, **kwargs)

    def adjust_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not self.may_adjust(request):
            raise PermissionDenied
        account = get_object_or_404(CreditAccount.objects.select_related("user"), pk=object_id)
        form = AdjustCreditsForm(
            request.POST if request.method == "POST" else None,
            initial={"key": uuid.uuid4().hex},
        )
        if form.is_valid():
            amount, reason = form.cleaned_data["amount"], form.cleaned_data["reason"]
            staff = request.user.get_username()
            try:
                movement = adjust_credits(
                    user=account.user,
                    amount=amount,
                    idempotency_key=f"admin-adjust:{form.cleaned_data['key']}",
                    reason=f"{reason} (by {staff})",
                )
            except InsufficientCredits as refused:
                form.add_error(
                    "amount",
                    f"That would take the balance below zero: it is {refused.balance}.",
                )
            else:
                entry, change = movement.entry, f"{amount:+d} credits: {reason}"
                recorded = (entry.user_id, entry.amount)
                if not movement.created and recorded != (account.user_id, amount):
                    # The form sent again with other values (a page restored by Back): its key
                    # recorded something else, and nothing moved. A new key to send these with.
                    data = request.POST.copy()
                    data["key"] = uuid.uuid4().hex
                    form = AdjustCreditsForm(data)
                    form.is_valid()
                    form.add_error(
                        None,
                        f"This form was already sent for {entry.amount:+d} credits on "
                        f"{entry.created_at:%Y-%m-%d %H:%M} UTC; nothing changed. Send it again "
                        "to record this adjustment as a new one.",
                    )
                    return self._adjust_page(request, account, form)
                if movement.created:
                    self.log_change(request, account, f"Adjusted credits {change}")
                    messages.success(request, f"{change}. The balance is now {movement.balance}.")
                else:
                    messages.info(request, f"Already recorded: {change}. Nothing changed.")
                return HttpResponseRedirect(
                    reverse("admin:billing_creditaccount_change", args=[account.pk])
                )
        return self._adjust_page(request, account, form)

    def _adjust_page(
        self, request: HttpRequest, account: CreditAccount, form: AdjustCreditsForm
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": f"Adjust credits of {account.user}",
            "opts": self.model._meta,
            "original": account,
            "form": form,
            "entries": account.user.credit_entries.order_by("-created_at", "-id")[:10],
        }
        return TemplateResponse(request, "admin/billing/creditaccount/adjust.html", context)


@admin.register(CreditLedgerEntry)
class CreditLedgerEntryAdmin(ReadOnlyAdmin):
    list_select_related = ["user"]
    # Short dates and breakable emails and references, so the list fits beside the filters at
    # 1440 px (a job reference, "job:<uuid>:debit", ran under the filters).
    list_display = ["created", "creator", "kind", "amount", "balance_after", "why", "ref"]
    list_filter = ["kind", "created_at"]
    search_fields = ["user__email", "idempotency_key", "reference"]
    date_hierarchy = "created_at"

    @admin.display(description="Created at", ordering="created_at")
    def created(self, entry: CreditLedgerEntry) -> str:
        return short_datetime(entry.created_at)

    @admin.display(description="User email", ordering="user__email")
    def creator(self, entry: CreditLedgerEntry) -> str:
        return breakable(entry.user.email)

    @admin.display(description="Reason", ordering="reason")
    def why(self, entry: CreditLedgerEntry) -> str:
        return breakable(entry.reason)

    @admin.display(description="Reference", ordering="reference")
    def ref(self, entry: CreditLedgerEntry) -> str:
        return breakable(entry.reference) if entry.reference else "-"


# A pack's bounds. Credits: 1 to MAX_ADJUSTMENT, the largest grant the admin makes at once (a
# few extra digits are a typo; Django's own bound was the database's, 2147483647). Price:
# Stripe's minimum charge in USD (50 cents; it cannot charge 0) to its largest amount
# (99,999,999 cents, eight digits).
PACK_CREDITS = (1, MAX_ADJUSTMENT)
PACK_PRICE_CENTS = (50, 99_999_999)


def bounded_integer(low: int, high: int, help_text: str = "") -> forms.IntegerField:
    """An admin form's whole number in [low, high]; out of it, "Enter <low> to <high>."."""
    said = f"Enter {low:,} to {high:,}."
    return forms.IntegerField(
        min_value=low,
        max_value=high,
        help_text=help_text,
        error_messages={"min_value": said, "max_value": said},
    )


class CreditPackForm(forms.ModelForm):
    """A pack Stripe Checkout can sell and the ledger can grant (`PACK_CREDITS`,
    `PACK_PRICE_CENTS`): a form error naming the range, where 0 credits or a free pack were
    saved, and up to 2147483647 (the database's integer) taken."""

    credits = bounded_integer(*PACK_CREDITS)
    price_cents = bounded_integer(*PACK_PRICE_CENTS, help_text="USD cents")


@admin.register(CreditPack)
class CreditPackAdmin(StripePriceReminder):
    form = CreditPackForm
    list_display = ["name", "slug", "credits", "price_cents", "stripe_price_id", "active"]
    list_editable = ["active"]
    ordering = ["sort_order"]


@admin.register(CreditPackPurchase)
class CreditPackPurchaseAdmin(ReadOnlyAdmin):
    """Read-only: recorded at Checkout, paid by the webhook."""

    list_display = [
        "created_at",
        "user__email",
        "pack",
        "credits",
        "price_cents",
        "status",
        "paid_at",
    ]
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
