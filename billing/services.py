"""The only module that moves credits or changes a subscription.

Every movement runs in a transaction that first locks the user's `CreditAccount` row
(`SELECT ... FOR UPDATE` on PostgreSQL; SQLite serialises writers with IMMEDIATE transactions),
then appends one `CreditLedgerEntry` with a unique idempotency key. Repeating a key returns the
first entry and moves nothing.

Plan credits (kind `grant`: monthly grants, upgrade differences) do not roll over: when a billing
period ends, `roll_period` appends an `expiry` entry for what is left of them (possibly 0, so the
entry also marks the period boundary). Spending draws on plan credits first, so "what is left" is
the sum of grants, debits and refunds since the last boundary, capped by the balance; purchased
credit packs (kind `purchase`) and staff adjustments never expire.

Lock order everywhere (docs/architecture.md, "Lock order"): `Subscription` row (or a
`CreditPackPurchase` row), then `CreditAccount` row, then the user's `generation.Job` rows (and
their units). A path that may move credits while it holds a job locks the balance row first
(`lock_existing_account`), since account deletion and submits hold the balance row when they
reach the jobs.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from billing.models import CreditAccount, CreditLedgerEntry, Plan, Subscription
from core.shared_cache import cached, invalidate
from core.types import User

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


def account_summary(user: User) -> AccountSummary:
    """The user's plan slug, status and balance (shared cache "billing:account:<id>",
    invalidated whenever a credit movement or plan change commits)."""
    return cached(
        f"billing:account:{user.pk}",
        lambda: _load_account_summary(user.pk),
        timeout=ACCOUNT_CACHE_SECONDS,
    )


def account_cache_namespaces(user_id: int) -> list[str]:
    """The shared-cache namespaces `effective_plan`, `plan_table` and `account_summary` read for
    the user with this id, for core.shared_cache.warm (one round trip for a page that needs them
    all); read with the signed-in user itself (core.auth.read_with_user, registered in
    billing.apps), since every page's header shows the plan and credits."""
    return ["billing:plans", f"billing:subscription:{user_id}", f"billing:account:{user_id}"]


def invalidate_account(user_id: int) -> None:
    invalidate(f"billing:account:{user_id}")


def _load_subscription_state(user_id: int) -> tuple[str | None, str]:
    row = Subscription.objects.filter(user_id=user_id).values_list("plan__slug", "status").first()
    return (row[0], row[1]) if row is not None else (None, "")


def _subscription_state(user: User) -> tuple[str | None, str]:
    """(plan slug or None, status) of `user`'s subscription, from the shared cache
    "billing:subscription:<id>" (a query on a miss)."""
    return cached(
        f"billing:subscription:{user.pk}",
        lambda: _load_subscription_state(user.pk),
        timeout=ACCOUNT_CACHE_SECONDS,
    )


def invalidate_subscription(user_id: int) -> None:
    invalidate(f"billing:subscription:{user_id}")


def effective_plan(user: User) -> Plan:
    """The plan whose limits apply now: the subscribed plan while the subscription is active or
    trialing, otherwise the default (Free) plan. (Fixes PRODUCT.md flaw 2: past-due accounts kept
    paid features.) Read from the shared cache "billing:subscription:<id>", which only plan
    changes invalidate, so a credit movement (every generate) costs the next request no query."""
    if not user.is_authenticated:
        return default_plan()
    plan_slug, status = _subscription_state(user)
    if status in Subscription.GOOD_STANDING:
        for plan in plan_table():
            if plan.slug == plan_slug:
                return plan
    return default_plan()


@dataclass(frozen=True)
class PlanOnHold:
    """A paid plan the creator subscribes to whose limits do not apply now (`plan_on_hold`):
    `status` is the subscription's, in words ("past due", "paused", "canceled");
    `payment_due` whether a payment would restore it (`Subscription.PAYMENT_DUE`)."""

    plan: Plan
    status: str
    payment_due: bool


def plan_on_hold(user: User) -> PlanOnHold | None:
    """The plan `user` subscribes to while its status keeps its limits off (past due, unpaid,
    incomplete, paused, canceled: `effective_plan` is then the default plan), as /plans/ says
    it; None in good standing or on the default plan. From the same cached state as
    `effective_plan`: no query."""
    if not user.is_authenticated:
        return None
    slug, status = _subscription_state(user)
    if not slug or status in Subscription.GOOD_STANDING or slug == default_plan().slug:
        return None
    plan = next((plan for plan in plan_table() if plan.slug == slug), None)
    if plan is None:
        return None
    return PlanOnHold(
        plan=plan,
        status=str(Subscription.Status(status).label).lower(),
        payment_due=status in Subscription.PAYMENT_DUE,
    )


def plan_slug(user: User) -> str:
    """The slug of `user`'s effective plan ("free", "starter", ...): what rate limits key on
    (settings.RATELIMIT_PLAN_SLUG)."""
    return effective_plan(user).slug


def get_balance(user: User) -> int:
    """The credit balance to show (from the account summary; credit movements read the locked
    row instead)."""
    return account_summary(user).balance


LEDGER_PAGE_SIZE = 50
# The largest single credit adjustment the admin form and `manage.py adjust_credits` take
# (credits), either way: a typo of a few extra digits is refused rather than minting a fortune.
MAX_ADJUSTMENT = 100_000


def ledger_page(
    user: User, *, before: int | None = None, limit: int = LEDGER_PAGE_SIZE
) -> tuple[list[CreditLedgerEntry], int | None]:
    """The user's credit movements, newest first, `limit` at a time (keyset paging on the
    entry id, which grows with `created_at`): those with an id below `before`, the last id of
    the page before. Returns the entries and the `before` of the next page (None at the end).
    One query."""
    rows = CreditLedgerEntry.objects.filter(user_id=user.pk)
    if before is not None:
        rows = rows.filter(pk__lt=before)
    entries = list(rows.order_by("-id")[: limit + 1])
    more = len(entries) > limit
    entries = entries[:limit]
    return entries, (entries[-1].pk if more and entries else None)


def credits_renew_at(user: User) -> dt.datetime | None:
    """When the user's plan credits are next granted: the subscription's current period end
    (one query), or None before the account is opened. Stripe-billed plans renew at Stripe's
    period end, which the webhook copies to the same field."""
    return (
        Subscription.objects.filter(user_id=user.pk)
        .values_list("current_period_end", flat=True)
        .first()
    )


def lock_account(user: User) -> CreditAccount:
    """Lock and return the user's balance row; call inside `transaction.atomic()`.

    Other callers that lock the same row wait until this transaction ends, which is what makes
    check-then-write sequences (idempotency look-ups, debits) safe under concurrency.
    """
    try:
        return CreditAccount.objects.select_for_update().get(user=user)
    except CreditAccount.DoesNotExist:
        account, _ = CreditAccount.objects.get_or_create(user=user)
        return CreditAccount.objects.select_for_update().get(pk=account.pk)


def lock_existing_account(*, user_id: int) -> CreditAccount | None:
    """Lock the balance row of the user with id `user_id`, if there is one; call inside
    `transaction.atomic()` before locking any of the user's jobs (the lock order above). None
    when there is no row (the account was deleted meanwhile, and its jobs with it): unlike
    `lock_account` it never creates one, which would name a user no longer there."""
    return CreditAccount.objects.select_for_update().filter(user_id=user_id).first()


def take_credits(*, user: User, amount: int) -> CreditAccount | None:
    """Lock the user's balance row and take `amount` (> 0) credits from it in one statement
    (`UPDATE ... WHERE balance >= amount RETURNING`, PostgreSQL and SQLite 3.35+); call inside
    `transaction.atomic()` and record the movement with `record_debit` in the same transaction
    (or roll it back). Returns the row with its new balance, or None when nothing was taken (the
    balance is short or there is no row: nothing is then locked either)."""
    if amount <= 0:
        raise ValueError("debit amount must be positive")
    table = connection.ops.quote_name(CreditAccount._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET balance = balance - %s, updated_at = %s"  # noqa: S608
            " WHERE user_id = %s AND balance >= %s RETURNING id, balance",
            [amount, timezone.now(), user.pk, amount],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return CreditAccount(id=row[0], user_id=user.pk, balance=row[1])


def record_debit(
    account: CreditAccount,
    *,
    user: User,
    amount: int,
    idempotency_key: str,
    reason: str,
    reference: str = "",
) -> Movement:
    """The ledger entry of `amount` credits `take_credits` took from `account`. No look-up of
    `idempotency_key`: it must be new (named after a row created in the same transaction)."""
    entry = CreditLedgerEntry.objects.create(
        user=user,
        kind=CreditLedgerEntry.Kind.DEBIT,
        amount=-amount,
        balance_after=account.balance,
        idempotency_key=idempotency_key,
        reason=reason[:200],
        reference=reference[:100],
    )
    # The UPDATE sent no post_save, so billing.signals did not see this movement.
    invalidate_account(user.pk)
    return Movement(entry, created=True)


def _append(
    account: CreditAccount,
    *,
    user: User,
    kind: str,
    amount: int,
    idempotency_key: str,
    reason: str,
    reference: str,
) -> Movement:
    """Write one movement on a locked account (the caller checked the key)."""
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


def _existing(idempotency_key: str) -> Movement | None:
    entry = CreditLedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
    return Movement(entry, created=False) if entry is not None else None


def _locked_move(
    *,
    user: User,
    kind: str,
    idempotency_key: str,
    reference: str,
    decide: Callable[[CreditAccount], tuple[int, str] | None],
) -> Movement | None:
    """The one shape of every movement: lock the balance row, answer a key already used with
    its entry, else `decide(account)` the (amount, reason) to write, or None to write nothing
    (it may raise, e.g. InsufficientCredits, with nothing written)."""
    with transaction.atomic():
        account = lock_account(user)
        existing = _existing(idempotency_key)
        if existing is not None:
            return existing
        decided = decide(account)
        if decided is None:
            return None
        amount, reason = decided
        return _append(
            account,
            user=user,
            kind=kind,
            amount=amount,
            idempotency_key=idempotency_key,
            reason=reason,
            reference=reference,
        )


def _move(
    *,
    user: User,
    kind: str,
    amount: int,
    idempotency_key: str,
    reason: str,
    reference: str,
    allow_negative: bool = True,
) -> Movement:
    def decide(account: CreditAccount) -> tuple[int, str]:
        if not allow_negative and account.balance + amount < 0:
            raise InsufficientCredits(balance=account.balance, required=-amount)
        return amount, reason

    movement = _locked_move(
        user=user, kind=kind, idempotency_key=idempotency_key, reference=reference, decide=decide
    )
    assert movement is not None  # decide always writes
    return movement


def debit_credits(
    *, user: User, amount: int, idempotency_key: str, reason: str, reference: str = ""
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
    *, user: User, amount: int, idempotency_key: str, reason: str, reference: str = ""
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
    *, user: User, amount: int, idempotency_key: str, reason: str, reference: str = ""
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


def grant_purchased_credits(
    *, user: User, amount: int, idempotency_key: str, reason: str, reference: str = ""
) -> Movement:
    """Add a paid credit pack's `amount` (> 0) credits; they never expire."""
    if amount <= 0:
        raise ValueError("purchased amount must be positive")
    return _move(
        user=user,
        kind=CreditLedgerEntry.Kind.PURCHASE,
        amount=amount,
        idempotency_key=idempotency_key,
        reason=reason,
        reference=reference,
    )


def take_back_purchased_credits(
    *, user: User, amount: int, idempotency_key: str, reason: str, reference: str = ""
) -> Movement:
    """Take back up to `amount` (> 0) credits of a paid credit pack whose payment was refunded or
    lost in a dispute (billing.payments decides the amount), never more than the balance holds:
    credits already spent stay spent, and the balance never goes below 0. One `reversal` entry
    records what was taken (possibly 0, its reason then saying how much could not be), once
    per key."""
    if amount <= 0:
        raise ValueError("take-back amount must be positive")

    def decide(account: CreditAccount) -> tuple[int, str]:
        taken = min(amount, max(0, account.balance))
        if taken < amount:
            return -taken, f"{reason} ({taken} of {amount}: the rest was already spent)"
        return -taken, reason

    movement = _locked_move(
        user=user,
        kind=CreditLedgerEntry.Kind.REVERSAL,
        idempotency_key=idempotency_key,
        reference=reference,
        decide=decide,
    )
    assert movement is not None  # decide always writes, 0 included
    return movement


def return_reversed_credits(
    *, user: User, reversal_key: str, idempotency_key: str, reason: str, reference: str = ""
) -> Movement | None:
    """Give back what the `reversal` entry `reversal_key` took (a credit pack's refund that
    failed after it was counted: the creator was not paid back after all), as credits that never
    expire, once per `idempotency_key`. None when that reversal took nothing or does not exist
    (its refund failed before it was counted), so there is nothing to give back."""

    def decide(_account: CreditAccount) -> tuple[int, str] | None:
        reversal = CreditLedgerEntry.objects.filter(
            user=user, kind=CreditLedgerEntry.Kind.REVERSAL, idempotency_key=reversal_key
        ).first()
        if reversal is None or reversal.amount == 0:
            return None
        return -reversal.amount, reason

    return _locked_move(
        user=user,
        kind=CreditLedgerEntry.Kind.PURCHASE,
        idempotency_key=idempotency_key,
        reference=reference,
        decide=decide,
    )


@dataclass(frozen=True)
class PeriodCredits:
    """Plan credits since the last period boundary (the last `expiry` entry): `granted` by
    grants, and `unused` (granted minus net spending, which may be negative when purchased
    credits were spent too)."""

    granted: int
    unused: int


def _period_credits(user_id: int) -> PeriodCredits:
    """Read under the account lock (every entry of the user is written under it, so ids after
    the boundary are exactly this period's).

    A refund of a debit made before the boundary (same `reference`, e.g. "job:<id>": a job that
    was queued when the period ended and failed or was cancelled after) gives back what an
    earlier period spent, pack credits included; it is not this period's plan credits, so it is
    not counted here and does not expire. Counted, it expired a refunded pack's credits at the
    next period end."""
    Kind = CreditLedgerEntry.Kind
    entries = CreditLedgerEntry.objects.filter(user_id=user_id)
    boundary = entries.filter(kind=Kind.EXPIRY).order_by("-id").values_list("id", flat=True)
    since = entries.filter(id__gt=boundary[0]) if boundary else entries
    moves = since.filter(kind__in=[Kind.GRANT, Kind.DEBIT, Kind.REFUND])
    if boundary:
        earlier_debits = entries.filter(kind=Kind.DEBIT, id__lt=boundary[0]).exclude(reference="")
        moves = moves.exclude(kind=Kind.REFUND, reference__in=earlier_debits.values("reference"))
    granted = unused = 0
    for kind, amount in moves.values_list("kind", "amount"):
        unused += amount
        if kind == Kind.GRANT:
            granted += amount
    return PeriodCredits(granted=granted, unused=unused)


def expire_unused_plan_credits(
    *, user: User, idempotency_key: str, reason: str, reference: str = ""
) -> Movement:
    """End a period: take back what is left of its plan credits (0 or more, never below the
    balance), as one `expiry` entry that also marks the boundary. Once per key."""

    def decide(account: CreditAccount) -> tuple[int, str]:
        return -max(0, min(_period_credits(user.pk).unused, account.balance)), reason

    movement = _locked_move(
        user=user,
        kind=CreditLedgerEntry.Kind.EXPIRY,
        idempotency_key=idempotency_key,
        reference=reference,
        decide=decide,
    )
    assert movement is not None  # decide always writes, 0 included (the boundary)
    return movement


def top_up_plan_credits(
    *,
    user: User,
    target: int,
    idempotency_key: str,
    reason: str,
    reference: str = "",
    only_after_a_grant: bool = False,
) -> Movement | None:
    """Grant what this period's plan grants lack to reach `target` credits: a paid period's
    grant (`target` = the plan's monthly credits) or an upgrade's difference (the new plan's
    monthly credits minus what the period was already granted). With `only_after_a_grant`,
    nothing happens while the period has had no grant yet (its invoice is not paid: the grant
    that comes with it will use the new plan). None when nothing was (or had to be) granted."""

    def decide(_account: CreditAccount) -> tuple[int, str] | None:
        granted = _period_credits(user.pk).granted
        if only_after_a_grant and granted == 0:
            return None
        return (target - granted, reason) if target > granted else None

    return _locked_move(
        user=user,
        kind=CreditLedgerEntry.Kind.GRANT,
        idempotency_key=idempotency_key,
        reference=reference,
        decide=decide,
    )


def adjust_credits(*, user: User, amount: int, idempotency_key: str, reason: str) -> Movement:
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


def _period_grant(sub: Subscription) -> dict[str, Any]:
    """The monthly grant of `sub`'s current period: amount, idempotency key (the user and the
    period's start, to the minute), reason and reference, as `grant_credits` takes them."""
    return {
        "amount": sub.plan.monthly_credits,
        "idempotency_key": f"grant:monthly:{sub.user_id}:{sub.current_period_start:%Y-%m-%dT%H:%M}",
        "reason": f"Monthly credits, {sub.plan.name} plan",
        "reference": f"subscription:{sub.pk}",
    }


def _grant_for_period(sub: Subscription) -> Movement:
    return grant_credits(user=sub.user, **_period_grant(sub))


def open_account(*, user: User, now: dt.datetime | None = None) -> Subscription:
    """Start a user on the default (Free) plan with its first monthly grant. Idempotent: a user
    who already has a subscription keeps it (and gets no second grant)."""
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


def open_new_account(*, user: User, now: dt.datetime | None = None) -> Subscription:
    """`open_account` for a user inserted in the current transaction (the user's post_save
    signal): neither row can exist yet, so the subscription, the balance row (holding the grant)
    and the grant's ledger entry are three INSERTs, without the look-ups, savepoints, lock and
    balance UPDATE of the idempotent path (12 queries). The balance row needs no lock: no
    other transaction sees it before this one commits. Raises IntegrityError if the user
    already has a subscription or a balance row (then it was not new: use `open_account`)."""
    now = now or timezone.now()
    with transaction.atomic():
        sub = Subscription.objects.create(
            user=user,
            plan=default_plan(),  # in the transaction, as open_account reads it: not cached
            current_period_start=now,
            current_period_end=add_months(now, 1),
        )
        grant = _period_grant(sub)
        account = CreditAccount.objects.create(user=user, balance=grant["amount"])
        CreditLedgerEntry.objects.create(
            user=user,
            kind=CreditLedgerEntry.Kind.GRANT,
            amount=grant["amount"],
            balance_after=account.balance,
            idempotency_key=grant["idempotency_key"],
            reason=grant["reason"][:200],
            reference=grant["reference"][:100],
        )
    return sub


def roll_period(
    *, sub: Subscription, start: dt.datetime, end: dt.datetime, new_plan: Plan | None = None
) -> Movement:
    """Move a locked subscription to the period [start, end), expiring what is left of the old
    period's plan credits first (key: the old and the new period's starts, to the microsecond).
    `new_plan`: the period is a new plan's, started before the old period's end (an upgrade
    from Free through Checkout), which the ledger line says. The caller saves `sub` and makes
    the new period's grant."""
    reason = (
        f"Unused {sub.plan.name} plan credits, replaced by the {new_plan.name} plan's"
        if new_plan is not None and new_plan.pk != sub.plan_id
        else f"Unused {sub.plan.name} plan credits expired at the period end"
    )
    movement = expire_unused_plan_credits(
        user=sub.user,
        idempotency_key=(
            f"expire:{sub.user_id}:{sub.current_period_start.isoformat()}:{start.isoformat()}"
        ),
        reason=reason,
        reference=f"subscription:{sub.pk}",
    )
    sub.current_period_start, sub.current_period_end = start, end
    return movement


def grant_due_monthly_credits(*, now: dt.datetime | None = None, dry_run: bool = True) -> int:
    """Roll every subscription whose period has ended into its next period: expire the old
    period's unused plan credits and grant the new period's (every plan, Free included: PRODUCT.md
    flaw 7). A subscription not in good standing rolls onto the Free plan's grant. Subscriptions
    billed through Stripe are skipped: their periods and grants follow Stripe's invoices
    (billing.payments). Returns how many grants were (or would be) made. Safe to run
    repeatedly: each key names the period it belongs to."""
    now = now or timezone.now()
    count = 0
    due = (
        Subscription.objects.filter(current_period_end__lte=now, stripe_subscription_id="")
        .select_related("plan", "user")
        .order_by("pk")
    )
    for sub in due.iterator():
        with transaction.atomic():
            locked = (
                Subscription.objects.select_for_update(of=("self",))
                .select_related("plan", "user")
                .get(pk=sub.pk)
            )
            if locked.stripe_subscription_id:
                continue  # linked to Stripe since the look-up
            if dry_run:  # the periods --commit would grant, one by one
                end = locked.current_period_end
                while end <= now:
                    count += 1
                    end = add_months(end, 1)
                continue
            while locked.current_period_end <= now:
                count += 1
                start = locked.current_period_end
                roll_period(sub=locked, start=start, end=add_months(start, 1))
                if locked.status not in Subscription.GOOD_STANDING:
                    locked.plan = default_plan()
                    locked.status = Subscription.Status.ACTIVE
                locked.save()
                _grant_for_period(locked)
    return count  # the caller reports it (grant_monthly_credits prints it once)


def change_plan(
    *, user: User, plan: Plan, status: str, grant_upgrade_difference: bool = False
) -> Subscription:
    """Set a user's plan and status (from the admin or a verified Stripe event, never from a
    user's request). With `grant_upgrade_difference` (the admin's path), a move in good standing
    to a plan with more monthly credits grants the difference for the current period at once
    (`top_up_plan_credits`)."""
    with transaction.atomic():
        sub = (
            Subscription.objects.select_for_update(of=("self",))
            .select_related("user")
            .get(user=user)
        )
        sub.plan = plan
        sub.status = status
        sub.save(update_fields=["plan", "status", "updated_at"])
        if grant_upgrade_difference and status in Subscription.GOOD_STANDING:
            grant_upgrade_credits(sub=sub)
    return sub


def grant_upgrade_credits(*, sub: Subscription) -> Movement | None:
    """Top a locked subscription's current period up to its plan's monthly credits: the
    difference an upgrade mid-period grants at once (nothing before the period's own grant,
    nothing on a downgrade). Once per period and credit level."""
    return top_up_plan_credits(
        user=sub.user,
        target=sub.plan.monthly_credits,
        idempotency_key=(
            f"grant:upgrade:{sub.user_id}:{sub.current_period_start:%Y-%m-%dT%H:%M:%S}"
            f":{sub.plan.monthly_credits}"
        ),
        reason=f"Upgrade to {sub.plan.name}: the difference in monthly credits",
        reference=f"subscription:{sub.pk}",
        only_after_a_grant=True,
    )
