"""The only module that moves credits or changes a subscription.

Every movement runs in a transaction that first locks the user's `CreditAccount` row
(`SELECT ... FOR UPDATE` on PostgreSQL; SQLite serialises writers with IMMEDIATE transactions),
then appends one `CreditLedgerEntry` with a unique idempotency key. Repeating a key returns the
first entry and moves nothing.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from billing.models import CreditAccount, CreditLedgerEntry, Plan, Subscription
from viewbait.shared_cache import cached, invalidate

logger = logging.getLogger(__name__)

# Shared-cache lifetimes (seconds). Writes invalidate at once (billing.signals); the lifetime only
# bounds staleness if an invalidation is lost while Redis is unreachable.
PLAN_TABLE_CACHE_SECONDS = 600
ACCOUNT_CACHE_SECONDS = 300


class InsufficientCredits(Exception):
    """Raised by `debit_credits` when the balance is below the amount; nothing is written."""

    def __init__(self, *, balance: int, required: int) -> None:
        super().__init__(f"Insufficient credits: balance {balance}, required {required}")
        self.balance = balance
        self.required = required


@dataclass(frozen=True)
class Movement:
    entry: CreditLedgerEntry
    created: bool  # False when the idempotency key had already been used

    @property
    def balance(self) -> int:
        return self.entry.balance_after


@dataclass(frozen=True)
class AccountSummary:
    """What pages show of an account: the subscribed plan's slug (None before the account is
    opened), the subscription status and the credit balance."""

    plan_slug: str | None
    status: str
    balance: int


def plan_table() -> list[Plan]:
    """Every plan, in `sort_order` (shared cache "billing:plans", invalidated on Plan writes)."""
    return cached(
        "billing:plans",
        lambda: list(Plan.objects.order_by("sort_order", "id")),
        timeout=PLAN_TABLE_CACHE_SECONDS,
    )


def invalidate_plan_table() -> None:
    invalidate("billing:plans")


def default_plan() -> Plan:
    """The plan new accounts start on (`is_default`), else the first plan."""
    plans = plan_table()
    return next((plan for plan in plans if plan.is_default), plans[0])


def _load_account_summary(user_id: int) -> AccountSummary:
    row = (
        Subscription.objects.filter(user_id=user_id)
        .values_list("plan__slug", "status", "user__credit_account__balance")
        .first()
    )
    if row is not None:
        return AccountSummary(plan_slug=row[0], status=row[1], balance=row[2] or 0)
    balance = (
        CreditAccount.objects.filter(user_id=user_id).values_list("balance", flat=True).first()
    )
    return AccountSummary(plan_slug=None, status="", balance=balance or 0)


def account_summary(user: AbstractBaseUser) -> AccountSummary:
    """The user's plan slug, status and balance (shared cache "billing:account:<id>",
    invalidated whenever a credit movement or plan change commits)."""
    return cached(
        f"billing:account:{user.pk}",
        lambda: _load_account_summary(user.pk),
        timeout=ACCOUNT_CACHE_SECONDS,
    )


def invalidate_account(user_id: int) -> None:
    invalidate(f"billing:account:{user_id}")


def effective_plan(user: AbstractBaseUser) -> Plan:
    """The plan whose limits apply now: the subscribed plan while the subscription is active or
    trialing, otherwise the default (Free) plan. (Fixes PRODUCT.md flaw 2: past-due accounts kept
    paid features.)"""
    if not user.is_authenticated:
        return default_plan()
    summary = account_summary(user)
    if summary.status in Subscription.GOOD_STANDING:
        for plan in plan_table():
            if plan.slug == summary.plan_slug:
                return plan
    return default_plan()


def get_balance(user: AbstractBaseUser) -> int:
    """The credit balance to show (from the account summary; credit movements read the locked
    row instead)."""
    return account_summary(user).balance


def lock_account(user: AbstractBaseUser) -> CreditAccount:
    """Lock and return the user's balance row; call inside `transaction.atomic()`.

    Other callers that lock the same row wait until this transaction ends, which is what makes
    check-then-write sequences (idempotency look-ups, debits) safe under concurrency.
    """
    account, _ = CreditAccount.objects.get_or_create(user=user)
    return CreditAccount.objects.select_for_update().get(pk=account.pk)


def _move(
    *,
    user: AbstractBaseUser,
    kind: str,
    amount: int,
    idempotency_key: str,
    reason: str,
    reference: str,
    allow_negative: bool = True,
) -> Movement:
    with transaction.atomic():
        account = lock_account(user)
        existing = CreditLedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return Movement(existing, created=False)
        if not allow_negative and account.balance + amount < 0:
            raise InsufficientCredits(balance=account.balance, required=-amount)
        account.balance += amount
        account.save(update_fields=["balance", "updated_at"])
        entry = CreditLedgerEntry.objects.create(
            user=user,
            kind=kind,
            amount=amount,
            balance_after=account.balance,
            idempotency_key=idempotency_key,
            reason=reason[:200],
            reference=reference[:100],
        )
        return Movement(entry, created=True)


def debit_credits(
    *, user: AbstractBaseUser, amount: int, idempotency_key: str, reason: str, reference: str = ""
) -> Movement:
    """Take `amount` (> 0) credits. Raises `InsufficientCredits` (nothing written) if short."""
    if amount <= 0:
        raise ValueError("debit amount must be positive")
    return _move(
        user=user,
        kind=CreditLedgerEntry.Kind.DEBIT,
        amount=-amount,
        idempotency_key=idempotency_key,
        reason=reason,
        reference=reference,
        allow_negative=False,
    )


def refund_credits(
    *, user: AbstractBaseUser, amount: int, idempotency_key: str, reason: str, reference: str = ""
) -> Movement:
    """Give back `amount` (> 0) credits of an earlier debit, once per idempotency key."""
    if amount <= 0:
        raise ValueError("refund amount must be positive")
    return _move(
        user=user,
        kind=CreditLedgerEntry.Kind.REFUND,
        amount=amount,
        idempotency_key=idempotency_key,
        reason=reason,
        reference=reference,
    )


def grant_credits(
    *, user: AbstractBaseUser, amount: int, idempotency_key: str, reason: str, reference: str = ""
) -> Movement:
    """Add `amount` (>= 0) credits, e.g. a monthly plan grant."""
    if amount < 0:
        raise ValueError("grant amount must not be negative")
    return _move(
        user=user,
        kind=CreditLedgerEntry.Kind.GRANT,
        amount=amount,
        idempotency_key=idempotency_key,
        reason=reason,
        reference=reference,
    )


def adjust_credits(
    *, user: AbstractBaseUser, amount: int, idempotency_key: str, reason: str
) -> Movement:
    """Signed manual correction by staff; may not take the balance below zero."""
    return _move(
        user=user,
        kind=CreditLedgerEntry.Kind.ADJUSTMENT,
        amount=amount,
        idempotency_key=idempotency_key,
        reason=reason,
        reference="",
        allow_negative=amount >= 0,
    )


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """Same day-of-month `months` later, clamped to the month's last day (Jan 31 + 1 month =
    Feb 28 or 29)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _grant_for_period(sub: Subscription) -> Movement:
    return grant_credits(
        user=sub.user,
        amount=sub.plan.monthly_credits,
        idempotency_key=f"grant:monthly:{sub.user_id}:{sub.current_period_start:%Y-%m-%dT%H:%M}",
        reason=f"Monthly credits, {sub.plan.name} plan",
        reference=f"subscription:{sub.pk}",
    )


def open_account(*, user: AbstractBaseUser, now: dt.datetime | None = None) -> Subscription:
    """Start a new user on the default (Free) plan with its first monthly grant. Idempotent."""
    now = now or timezone.now()
    with transaction.atomic():
        sub, created = Subscription.objects.select_related("plan").get_or_create(
            user=user,
            defaults={
                "plan": default_plan(),
                "current_period_start": now,
                "current_period_end": add_months(now, 1),
            },
        )
        CreditAccount.objects.get_or_create(user=user)
        if created:
            _grant_for_period(sub)
    return sub


def grant_due_monthly_credits(*, now: dt.datetime | None = None, dry_run: bool = True) -> int:
    """Roll every subscription whose period has ended into its next period and grant that
    period's credits (every plan, Free included: PRODUCT.md flaw 7). A subscription not in good
    standing rolls onto the Free plan's grant. Returns how many grants were (or would be) made.
    Safe to run repeatedly: each grant's key names the period it belongs to."""
    now = now or timezone.now()
    count = 0
    due = Subscription.objects.filter(current_period_end__lte=now).select_related("plan", "user")
    for sub in due.iterator():
        with transaction.atomic():
            locked = (
                Subscription.objects.select_for_update()
                .select_related("plan", "user")
                .get(pk=sub.pk)
            )
            while locked.current_period_end <= now:
                count += 1
                if dry_run:
                    break
                locked.current_period_start = locked.current_period_end
                locked.current_period_end = add_months(locked.current_period_start, 1)
                if locked.status not in Subscription.GOOD_STANDING:
                    locked.plan = default_plan()
                    locked.status = Subscription.Status.ACTIVE
                locked.save()
                _grant_for_period(locked)
    logger.info("monthly grants %s: %d", "due" if dry_run else "made", count)
    return count


def change_plan(*, user: AbstractBaseUser, plan: Plan, status: str) -> Subscription:
    """Set a user's plan and status (from a verified Stripe event or the admin, never from a
    user's request)."""
    with transaction.atomic():
        sub = Subscription.objects.select_for_update().get(user=user)
        sub.plan = plan
        sub.status = status
        sub.save(update_fields=["plan", "status", "updated_at"])
    return sub
