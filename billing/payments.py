"""Stripe: Checkout for plans and credit packs, the Customer Portal, and webhooks.

Plain stripe-python (`StripeClient`, pinned in pyproject.toml) with our own webhook handling:

- Outgoing calls carry idempotency keys made from our own ids (the user for the customer, the
  plans page's operation id for each Checkout or Portal session), so a retry or a double click
  creates nothing twice at Stripe.
- A webhook is verified (`stripe.WebhookSignature`), then processed once per `event.id`: the
  `StripeEvent` row and every change the event causes commit in one transaction.
- Decisions never depend on arrival order: every subscription event re-reads the subscription's
  current state from Stripe, under our row lock, and applies that (`_apply_subscription`).
- Credits move only through `billing.services`: a paid period's grant on `invoice.paid` (key from
  the invoice id), an upgrade's difference when the plan rises mid-period, the expiry of unused
  plan credits when a period ends, a credit pack once per Checkout Session, and the refunded or
  disputed share of a pack taken back once per refund or dispute (`_take_back_pack`), by the
  refund's or dispute's event or, when that came before the pack's grant, by the grant itself
  (`_settle_reversals`, from what `_reversals_of` read of Stripe before the grant took the
  balance row lock), and given back once when such a refund fails later (`_on_refund_failed`).
- No Stripe call is made while the creator's balance row is locked (each movement locks it to
  the event's commit; a slow Stripe would hold up every debit of the creator): what a movement
  needs from Stripe is read first, holding at most our subscription or purchase row lock (the
  subscription in `_sync_locked`, `_lines_for_grant`'s invoice lines, a subscription Checkout's
  first invoice, `_reversals_of`), and applied with no network call.

The price always comes from our own rows (`Plan.stripe_price_id`, `CreditPack.stripe_price_id`),
never from the request.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.util
import json
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from billing import services
from billing.models import (
    CreditPack,
    CreditPackPurchase,
    DeletedStripeCustomer,
    Plan,
    StripeEvent,
    Subscription,
)
from core.types import User

logger = logging.getLogger(__name__)
# stripe-python logs every request and response at INFO; its warnings and errors still show.
logging.getLogger("stripe").setLevel(logging.WARNING)

Obj = dict[str, Any]

# Stripe subscription statuses after which the subscription never bills again.
ENDED = ("canceled", "incomplete_expired")
# Statuses of a subscription that bills the customer (Stripe retries a past-due one's invoice).
BILLING = ("active", "trialing", "past_due")
# Invoices that open a billing period (and so carry its monthly grant).
PERIOD_INVOICES = ("subscription_create", "subscription_cycle")


class PaymentsNotConfigured(Exception):
    """No STRIPE_SECRET_KEY: the plans page says payments are not configured."""


class CheckoutRefused(Exception):
    """What was asked for is not for sale (unknown, free or unpriced plan or pack)."""


class UnknownPlan(CheckoutRefused):
    """The plans page named a plan the portal cannot switch to (the view answers 400)."""


class PaymentProviderError(Exception):
    """Stripe answered with an error or could not be reached; the message is safe to show."""


class BadWebhook(Exception):
    """The webhook's signature or body is not valid: answered 400, nothing changed."""


class EventNotApplied(PaymentProviderError):
    """A valid event we cannot apply as it stands (a subscription billing a price no plan has):
    nothing is recorded, the webhook answers 503 so Stripe sends the event again (for up to
    three days), and the log says what to fix. Never answered 200 "ignored": the creator pays.
    Not raised for a subscription followed because the linked one stopped billing: the account
    goes back to Free then (`_apply_subscription`)."""


def configured() -> bool:
    """True when Stripe calls can be made (a secret key is set). With STRIPE_FAKE, this is
    also where the development fake is started and the prices are created in it."""
    if settings.STRIPE_FAKE:
        _ensure_fake()
    return bool(settings.STRIPE_SECRET_KEY)


@functools.lru_cache(maxsize=4)
def _client(api_key: str, api_base: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=2,  # safe: every POST carries an idempotency key
    )


def client() -> stripe.StripeClient:
    """The StripeClient for STRIPE_SECRET_KEY and STRIPE_API_BASE (one per process and key)."""
    if not configured():
        raise PaymentsNotConfigured
    return _client(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE)


def _call(what: str, call: Callable[[], Any]) -> Obj:
    """Run one Stripe call; its result as a plain dict. Stripe errors become
    PaymentProviderError with a message fit for the creator (details go to the log)."""
    try:
        return dict(call().to_dict())
    except stripe.StripeError as exc:
        logger.warning("stripe %s failed: %s", what, exc)
        raise PaymentProviderError(
            "The payment service could not be reached; nothing was charged. Try again."
        ) from exc


def _site(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _moment(timestamp: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(timestamp), dt.UTC)


# --- customers, Checkout and the portal ------------------------------------------------------
def ensure_customer(*, user: User) -> str:
    """The user's one Stripe customer id, created on first use (idempotency key from the user
    id, under the subscription row lock, so concurrent checkouts share it)."""
    services.open_account(user=user)
    with transaction.atomic():
        sub = Subscription.objects.select_for_update().get(user=user)
        if sub.stripe_customer_id:
            return sub.stripe_customer_id
        customer = _call(
            "customers.create",
            lambda: client().v1.customers.create(
                params={
                    "email": getattr(user, "email", "") or "",
                    "metadata": {"user_id": str(user.pk)},
                },
                options={"idempotency_key": f"viewbait:customer:{user.pk}"},
            ),
        )
        sub.stripe_customer_id = customer["id"]
        sub.save(update_fields=["stripe_customer_id", "updated_at"])
        return sub.stripe_customer_id


def has_live_subscription(*, user: User, customer_id: str) -> bool:
    """Whether the customer already has a subscription that is not over: ours says so, or
    Stripe does (it knows before its webhooks reach us)."""
    sub = Subscription.objects.get(user=user)
    if sub.stripe_subscription_id and sub.status not in ENDED:
        return True
    listed = _call(
        "subscriptions.list",
        lambda: client().v1.subscriptions.list(params={"customer": customer_id, "limit": 10}),
    )
    return any(row["status"] not in ENDED for row in listed["data"])


def start_plan_checkout(*, user: User, plan_slug: str, operation_id: str) -> str:
    """The URL to send the creator to for `plan_slug`: a new Checkout Session in subscription
    mode (price from the Plan row), or the Customer Portal when they already subscribe (one
    subscription per customer: plan changes happen there). Raises CheckoutRefused,
    PaymentsNotConfigured, PaymentProviderError."""
    plan = next((p for p in services.plan_table() if p.slug == plan_slug), None)
    if plan is None or plan.price_cents == 0 or not plan.stripe_price_id:
        raise CheckoutRefused("That plan cannot be bought online.")
    customer_id = ensure_customer(user=user)
    if has_live_subscription(user=user, customer_id=customer_id):
        return start_portal(user=user, operation_id=operation_id, plan=plan)
    metadata = {"user_id": str(user.pk), "plan": plan.slug}
    session = _create_checkout(
        user=user,
        customer_id=customer_id,
        price_id=plan.stripe_price_id,
        idempotency_key=f"viewbait:checkout:{user.pk}:{plan.slug}:{operation_id}",
        mode="subscription",
        metadata=metadata,
        subscription_data={"metadata": metadata},
    )
    _expire_other_checkouts(customer_id=customer_id, keep=session)
    return str(session["url"])


def _expire_other_checkouts(*, customer_id: str, keep: Obj) -> None:
    """Expire the customer's open subscription-mode Checkout Sessions older than `keep` (the
    plans page in another tab, an earlier attempt), so only the newest can be paid: two paid
    sessions would make two subscriptions billing for one plan. Stripe then shows an expired
    session's page as expired. Runs after the new session is created, so a double click's
    replay (same idempotency key, same session) is kept; a newer one (by `created`, in
    seconds) is left to its own request, so two racing requests expire each other's only
    within one second (both then say expired; nothing is charged). A Stripe fault here is
    logged, not raised: the creator's checkout goes on, and a second subscription is still
    caught by the webhooks (`_apply_subscription`)."""
    try:
        listed = _call(
            "checkout.sessions.list",
            lambda: client().v1.checkout.sessions.list(
                params={"customer": customer_id, "status": "open", "limit": 100}
            ),
        )
        for other in listed["data"]:
            newer = other["created"] > keep["created"]
            if other["id"] == keep["id"] or newer or other.get("mode") != "subscription":
                continue
            _call(
                "checkout.sessions.expire",
                functools.partial(client().v1.checkout.sessions.expire, other["id"]),
            )
    except PaymentProviderError:
        logger.warning("could not expire customer %s's other checkouts", customer_id)


def _create_checkout(
    *,
    user: User,
    customer_id: str,
    price_id: str,
    idempotency_key: str,
    **params: Any,
) -> Obj:
    """A new Checkout Session for one unit of `price_id`, returning to the studio (success) or
    the plans page (cancel); `params` adds the mode, metadata and the like."""
    # Any: `params` adds keys of Stripe's SessionCreateParams TypedDict the caller picked.
    session: Any = {
        "customer": customer_id,
        "client_reference_id": str(user.pk),
        "line_items": [{"price": price_id, "quantity": 1}],
        "success_url": _site(reverse("billing-checkout-return"))
        + "?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": _site(reverse("plans")) + "?checkout=cancelled",
        **params,
    }
    return _call(
        "checkout.sessions.create",
        lambda: client().v1.checkout.sessions.create(
            params=session, options={"idempotency_key": idempotency_key}
        ),
    )


def start_pack_checkout(*, user: User, pack_slug: str, operation_id: str) -> str:
    """The Checkout URL (payment mode) for one credit pack; the session is recorded as a
    `CreditPackPurchase` so the webhook grants exactly that pack's credits, once."""
    pack = CreditPack.objects.filter(slug=pack_slug, active=True).first()
    if pack is None or not pack.stripe_price_id:
        raise CheckoutRefused("That credit pack cannot be bought online.")
    customer_id = ensure_customer(user=user)
    session = _create_checkout(
        user=user,
        customer_id=customer_id,
        price_id=pack.stripe_price_id,
        idempotency_key=f"viewbait:pack:{user.pk}:{pack.slug}:{operation_id}",
        mode="payment",
        metadata={"user_id": str(user.pk), "credit_pack": pack.slug},
    )
    CreditPackPurchase.objects.get_or_create(
        stripe_checkout_session_id=session["id"],
        defaults={
            "user": user,
            "pack": pack,
            "credits": pack.credits,
            "price_cents": pack.price_cents,
        },
    )
    return str(session["url"])


def portal_plan(slug: str) -> Plan | None:
    """The plan a plans-page button asks the portal for: None for no `slug` (Manage billing),
    else a plan of the table that is free (Cancel paid plan) or has a Stripe price (Switch to
    X). Raises UnknownPlan for anything else."""
    if not slug:
        return None
    plan = next((p for p in services.plan_table() if p.slug == slug), None)
    if plan is None or (plan.price_cents and not plan.stripe_price_id):
        raise UnknownPlan("That plan cannot be chosen here.")
    return plan


def start_portal(*, user: User, operation_id: str, plan: Plan | None = None) -> str:
    """The Customer Portal URL, returning to the plans page. With `plan`, a deep link
    (`flow_data`, Stripe's "portal flows") into the one step the creator chose: the
    confirmation of the switch to a paid plan's price, or the cancellation for a free plan;
    once done, Stripe redirects back to the plans page. Without `plan`, or when there is no
    such step (no subscription that bills, already on that price, already cancelling), the
    portal's home (card, plan change, cancel). Raises CheckoutRefused when the user has never
    been a Stripe customer."""
    row = Subscription.objects.filter(user=user).first()
    if row is None or not row.stripe_customer_id:
        raise CheckoutRefused("There is no billing account to manage yet.")
    params: Any = {"customer": row.stripe_customer_id, "return_url": _site(reverse("plans"))}
    flow = _portal_flow(row, plan) if plan is not None else None
    if flow is not None:
        params["flow_data"] = flow
    key = f"viewbait:portal:{user.pk}:{operation_id}"
    if plan is not None:
        # The page's buttons share one operation id: each choice is its own session.
        key = f"viewbait:portal:{user.pk}:{plan.slug}:{operation_id}"
    session = _call(
        "billing_portal.sessions.create",
        lambda: client().v1.billing_portal.sessions.create(
            params=params, options={"idempotency_key": key}
        ),
    )
    return str(session["url"])


def _portal_flow(row: Subscription, plan: Plan) -> Obj | None:
    """The portal session's `flow_data` for moving `row` to `plan`: `subscription_update_confirm`
    (the subscription, its one item's id and the plan's price) for a paid plan,
    `subscription_cancel` (the subscription) for a free one; each redirects to the plans page
    when completed. None when the step cannot be offered: no subscription that bills (read from
    Stripe, which has the item id we do not keep), not exactly one item (Stripe's portal cannot
    update those), already on that price, or already cancelling at the period end."""
    if not row.stripe_subscription_id or row.status in ENDED:
        return None
    subscription_id = row.stripe_subscription_id
    remote = _call(
        "subscriptions.retrieve",
        lambda: client().v1.subscriptions.retrieve(subscription_id),
    )
    items = remote["items"]["data"]
    if remote["status"] not in BILLING or len(items) != 1:
        return None
    done = {"type": "redirect", "redirect": {"return_url": _site(reverse("plans"))}}
    if not plan.price_cents:
        if remote.get("cancel_at_period_end"):
            return None
        return {
            "type": "subscription_cancel",
            "subscription_cancel": {"subscription": subscription_id},
            "after_completion": done,
        }
    if items[0]["price"]["id"] == plan.stripe_price_id:
        return None
    return {
        "type": "subscription_update_confirm",
        "subscription_update_confirm": {
            "subscription": subscription_id,
            "items": [{"id": items[0]["id"], "price": plan.stripe_price_id}],
        },
        "after_completion": done,
    }


def finish_checkout(*, user: User, session_id: str) -> str:
    """After Stripe sends the creator back: read the session and apply it now (the webhook
    does the same, whichever comes first; both are idempotent), so the new plan or credits are
    there when the studio loads. Returns "subscription", "payment" or "open" (not complete, or
    complete with a delayed payment method's money still on its way: nothing was granted);
    raises CheckoutRefused for another user's or an unknown session."""
    session = _call(
        "checkout.sessions.retrieve",
        lambda: client().v1.checkout.sessions.retrieve(session_id),
    )
    if session.get("client_reference_id") != str(user.pk):
        raise CheckoutRefused("Unknown checkout.")
    if session.get("status") != "complete":
        return "open"
    with transaction.atomic():
        _apply_checkout_session(session)
    if session.get("payment_status") not in ("paid", "no_payment_required"):
        return "open"
    return str(session["mode"])


# --- webhooks --------------------------------------------------------------------------------
def handle_webhook(*, payload: bytes, signature: str | None) -> str:
    """Verify a webhook and process its event once. Returns the outcome (for the log and the
    StripeEvent row); raises BadWebhook (nothing changed) for a bad signature or body."""
    if not settings.STRIPE_WEBHOOK_SECRET:
        raise BadWebhook("webhooks are not configured")
    if signature is not None and not signature.isascii():
        # Stripe's header is ASCII; the SDK's compare_digest raises TypeError on anything else.
        raise BadWebhook("malformed Stripe-Signature header")
    try:
        stripe.WebhookSignature.verify_header(
            payload,
            signature,
            settings.STRIPE_WEBHOOK_SECRET,
            tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
        )
        event = json.loads(payload)
    except (stripe.SignatureVerificationError, ValueError) as exc:
        raise BadWebhook(str(exc)) from exc
    if not isinstance(event, dict) or event.get("object") != "event" or "id" not in event:
        raise BadWebhook("not an event")
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise BadWebhook("an event without a data object")
    object_id = data["object"].get("id")
    if not isinstance(object_id, str) or not object_id:
        # Every Stripe object has an id; the handlers look theirs up (a KeyError was a 500).
        raise BadWebhook("an event whose data object has no id")
    created = event.get("created", 0)
    if isinstance(created, bool) or not isinstance(created, int) or not 0 <= created < 2**40:
        raise BadWebhook("an event without a valid created time")
    return process_event(event)


def process_event(event: Obj) -> str:
    """Apply one verified event, exactly once per event id: the `StripeEvent` row is inserted
    first (a concurrent duplicate waits on its unique index, then finds it) and commits with
    everything the event changed. A Stripe error while handling, or an event that cannot be
    applied yet (`EventNotApplied`), rolls all of it back and raises, so the webhook answers 503
    and Stripe delivers the event again."""
    obj = event.get("data", {}).get("object", {}) or {}
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = StripeEvent.objects.create(
                    event_id=event["id"],
                    type=str(event.get("type", ""))[:100],
                    object_id=str(obj.get("id", ""))[:100],
                    stripe_created=_moment(event.get("created") or 0),
                )
        except IntegrityError:
            return "duplicate"
        handler = HANDLERS.get(record.type)
        outcome = handler(obj) if handler is not None else "ignored"
        record.outcome = outcome[:200]
        record.save(update_fields=["outcome"])
    logger.info("stripe event %s %s: %s", record.type, record.event_id, outcome)
    return outcome


def _locked_subscription(customer_id: str | None) -> Subscription | None:
    if not customer_id:
        return None
    return (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan", "user")
        .filter(stripe_customer_id=customer_id)
        .first()
    )


def _sync(subscription_id: str, customer_id: str | None) -> tuple[Subscription | None, str]:
    """Lock our row for the customer and apply the subscription's current state
    (`_sync_locked`)."""
    row = _locked_subscription(customer_id)
    if row is None:
        return None, _cancel_if_account_deleted(subscription_id, customer_id)
    return row, _sync_locked(row, subscription_id)


def _sync_locked(row: Subscription, subscription_id: str) -> str:
    """Read the subscription's current state from Stripe (after our row lock, so concurrent
    handlers apply states in the order Stripe had them) and apply it. Applying can lock the
    creator's balance row (a new period's expiry, a grant) to the commit, so a caller that needs
    more of Stripe reads it before this, under our row lock only (`_on_invoice_paid`,
    `_apply_checkout_session`)."""
    remote = _call(
        "subscriptions.retrieve",
        lambda: client().v1.subscriptions.retrieve(subscription_id),
    )
    return _apply_subscription(row, remote)


def _plan_for_price(price: Obj) -> Plan | None:
    """The plan a subscription's price bills: the plan whose price it is now, else the plan its
    `metadata.slug` names. `ensure_prices` sets that slug on every price it creates, so a price
    it replaced (the plan's price changed in the admin) still names its plan, and subscriptions
    Stripe keeps billing at it are still that plan's. None for a price made outside
    `stripe_prices` that no plan has."""
    plans = services.plan_table()
    plan = next((p for p in plans if p.stripe_price_id == price["id"]), None)
    slug = (price.get("metadata") or {}).get("slug")
    if plan is None and slug:
        plan = next((p for p in plans if p.slug == slug), None)
    return plan


def _other_live_subscription(row: Subscription, *, ended: str) -> Obj | None:
    """Another subscription of the row's customer that still bills (active, trialing or past
    due; not `ended`), or None. An incomplete one (its first payment never went through) is
    not followed."""
    listed = _call(
        "subscriptions.list",
        lambda: client().v1.subscriptions.list(
            params={"customer": row.stripe_customer_id, "limit": 10}
        ),
    )
    return next(
        (dict(s) for s in listed["data"] if s["id"] != ended and s["status"] in BILLING),
        None,
    )


def _linked_subscription(row: Subscription) -> Obj:
    """Stripe's current state of the subscription the row follows."""
    subscription_id = row.stripe_subscription_id
    return _call(
        "subscriptions.retrieve",
        lambda: client().v1.subscriptions.retrieve(subscription_id),
    )


def _started_before(one: Obj, other: Obj) -> bool:
    """Whether subscription `one` is older than `other`: created earlier (Stripe's `created`,
    in seconds), ties broken by id so that both sides agree whatever the events' order."""
    return (int(one["created"]), str(one["id"])) < (int(other["created"]), str(other["id"]))


def _apply_subscription(row: Subscription, remote: Obj, *, relink: Obj | None = None) -> str:
    """Make our locked row follow Stripe's subscription `remote` (its current state). Another
    subscription than the linked one is followed only when the linked one no longer bills, or
    `remote` bills and is the newer (a customer with two: the newer one, whatever the order
    their events arrive in). With `relink` (the linked subscription, which ended while `remote`
    still bills; also when an event of `remote` finds the linked one no longer billing before
    that one's own event came), a period `remote` has in good standing gets its plan's credits,
    as its paid invoice's grant was skipped while another subscription was linked; a `remote`
    whose price no plan has is not followed: the account goes back to Free (an error logged),
    as if nothing else billed, instead of the event failing until Stripe gives up."""
    status = remote["status"]
    linked = row.stripe_subscription_id == remote["id"]
    if status in ENDED:
        if not linked:
            return f"ignored: {status} subscription {remote['id']} is not this account's"
        other = _other_live_subscription(row, ended=remote["id"])
        if other is not None:  # the creator still pays for another one: follow it
            logger.warning(
                "customer %s: subscription %s ended, following their live %s",
                row.stripe_customer_id,
                remote["id"],
                other["id"],
            )
            return f"{remote['id']} {status}; " + _apply_subscription(row, other, relink=remote)
        _back_to_free(row, at=_ended_at(remote))
        return f"ended: back to {row.plan.name}"
    if not linked and not relink and row.stripe_subscription_id:
        # Two live subscriptions (one made outside the studio): follow the newer one that
        # bills, whichever's event came last (an update of the older one switched the account
        # to it and expired the period's credits).
        current = _linked_subscription(row)
        if current["status"] in BILLING and (
            status not in BILLING or _started_before(remote, current)
        ):
            why = "older than" if status in BILLING else f"{status}, unlike"
            logger.warning(
                "customer %s has a second subscription %s (%s); following the linked %s",
                row.stripe_customer_id,
                remote["id"],
                status,
                current["id"],
            )
            return f"ignored: {remote['id']} is {why} the linked {current['id']}, which bills"
        logger.warning(
            "customer %s has a second subscription %s; following it, not %s (%s)",
            row.stripe_customer_id,
            remote["id"],
            current["id"],
            current["status"],
        )
        # The linked one no longer bills (cancelled in Stripe, its deleted event still on its
        # way): a relink, as that event's would be, so the outcome is the same in either order
        # (`remote`'s period in good standing gets its plan's credits; then the late event of
        # the linked one is not this account's any more).
        relink = current if current["status"] not in BILLING else None
    item = remote["items"]["data"][0]
    plan = _plan_for_price(item["price"])
    if plan is None and relink is not None:
        # The linked one stopped billing and the other bills a price no plan has: an error
        # (503) would leave the account on the ended paid plan until Stripe gives up. Free
        # meanwhile; the other's own events answer 503 (below) until its price names a plan.
        logger.error(
            "stripe subscription %s of customer %s no longer bills (%s); their subscription %s "
            "bills price %s, which no plan has: back to Free. Set the price's metadata slug to "
            "its plan's slug in Stripe, or a plan's price id to it",
            relink["id"],
            row.stripe_customer_id,
            relink["status"],
            remote["id"],
            item["price"]["id"],
        )
        _back_to_free(row, at=_ended_at(relink))
        return f"no plan has price {item['price']['id']} of {remote['id']}: back to {row.plan.name}"
    if plan is None:
        # The creator pays for it: never answered "ignored". Stripe sends the event again until
        # the price names a plan (set its metadata `slug` in Stripe, or the plan's price id).
        logger.error(
            "stripe subscription %s bills price %s, which no plan has: set the price's metadata "
            "slug to its plan's slug in Stripe, or a plan's price id to it (Stripe sends the "
            "event again)",
            remote["id"],
            item["price"]["id"],
        )
        raise EventNotApplied(f"no plan has price {item['price']['id']}")
    start, end = _moment(item["current_period_start"]), _moment(item["current_period_end"])
    previous_plan = row.plan
    new_period = not linked or start > row.current_period_start
    if new_period:
        services.roll_period(sub=row, start=start, end=end, new_plan=plan)
    row.current_period_end = end
    row.plan = plan
    row.status = status if status in Subscription.Status.values else Subscription.Status.UNPAID
    row.stripe_subscription_id = remote["id"]
    row.cancel_at_period_end = bool(remote.get("cancel_at_period_end"))
    row.save()
    outcome = f"{plan.slug} {row.status}" + (", new period" if new_period else "")
    grant: tuple[Plan, str, str] | None = None  # (whose credits, key, ledger wording)
    if new_period and row.status not in Subscription.GOOD_STANDING:
        # Payment due: the Free plan's limits apply, and so does its monthly grant; the paid
        # invoice tops the period up to the plan's credits later (`_grant_for_invoice`).
        free = services.default_plan()
        grant = (
            free,
            f"payment-due:{row.user_id}",
            f"Monthly credits, {free.name} plan (payment due)",
        )
    elif relink and row.status in Subscription.GOOD_STANDING:
        grant = (plan, f"relink:{remote['id']}", f"Monthly credits, {plan.name} plan")
    if grant is not None:
        services.top_up_plan_credits(
            user=row.user,
            target=grant[0].monthly_credits,
            idempotency_key=f"grant:{grant[1]}:{start.isoformat()}",
            reason=grant[2],
            reference=f"subscription:{row.pk}",
        )
    if (
        not new_period
        and plan.monthly_credits > previous_plan.monthly_credits
        and row.status in Subscription.GOOD_STANDING
    ):
        movement = services.grant_upgrade_credits(sub=row)
        if movement is not None and movement.created:
            outcome += f", upgrade +{movement.entry.amount}"
    return outcome


def _ended_at(subscription: Obj) -> dt.datetime:
    """When Stripe's `subscription` ended (now for one that stopped billing without ending)."""
    return _moment(subscription.get("ended_at") or int(timezone.now().timestamp()))


def _back_to_free(row: Subscription, *, at: dt.datetime) -> None:
    """The Stripe subscription ended: a Free period starts at its end, with the Free grant."""
    free = services.default_plan()
    ended = row.stripe_subscription_id
    services.roll_period(sub=row, start=at, end=services.add_months(at, 1))
    row.plan = free
    row.status = Subscription.Status.ACTIVE
    row.stripe_subscription_id = ""
    row.cancel_at_period_end = False
    row.save()
    services.grant_credits(
        user=row.user,
        amount=free.monthly_credits,
        idempotency_key=f"grant:free-after:{ended}",
        reason=f"Monthly credits, {free.name} plan",
        reference=f"subscription:{row.pk}",
    )


def _invoice_subscription(invoice: Obj) -> str | None:
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    subscription = details.get("subscription")
    if isinstance(subscription, dict):
        subscription = subscription.get("id")
    return subscription


def _on_subscription(obj: Obj) -> str:
    _, outcome = _sync(obj["id"], obj.get("customer"))
    return outcome


def _on_invoice_paid(obj: Obj) -> str:
    """Sync the subscription, then grant the period's credits if this invoice opened the
    current period (key from the invoice id: once, whatever the order or repetition). The
    invoice's lines are read between the two (`_lines_for_grant`), under our subscription row
    lock only: the sync can start a new period, which locks the creator's balance row to the
    commit, and no Stripe call is made under that lock."""
    subscription_id = _invoice_subscription(obj)
    if not subscription_id:
        return "ignored: not a subscription invoice"
    customer_id = obj.get("customer")
    row = _locked_subscription(customer_id)
    if row is None:
        return _cancel_if_account_deleted(subscription_id, customer_id)
    lines = _lines_for_grant(obj)
    outcome = _sync_locked(row, subscription_id)
    return f"{outcome}; {_grant_for_invoice(row, obj, lines)}"


def _lines_for_grant(invoice: Obj) -> list[Obj]:
    """What `_grant_for_invoice` needs of Stripe, read before anything locks the creator's
    balance row: every line of a paid invoice that opens a period (`_invoice_lines`, a Stripe
    call when they are more than the page the invoice embeds), none of any other invoice (it
    grants nothing). A finalized invoice's lines never change, so reading them before the
    sync decides nothing differently."""
    if invoice.get("status") != "paid" or invoice.get("billing_reason") not in PERIOD_INVOICES:
        return []
    return _invoice_lines(invoice)


def _grant_for_invoice(row: Subscription, invoice: Obj, lines: list[Obj]) -> str:
    """A paid invoice that opened the subscription's current period grants the plan's monthly
    credits (topping up what the period already had), once per invoice id. `lines`: the
    invoice's, as `_lines_for_grant` read them; no Stripe call (the balance row may be locked
    already, by the sync's new period)."""
    if invoice.get("status") != "paid":
        return "no grant: invoice not paid"
    if invoice.get("billing_reason") not in PERIOD_INVOICES:
        return f"no grant for a {invoice.get('billing_reason')} invoice"
    # Any of its lines: a renewal after a plan change mid-period lists that change's
    # prorations first, whose periods start at the change.
    period_starts = {_moment(line["period"]["start"]) for line in lines if line.get("period")}
    subscription_id = _invoice_subscription(invoice)
    if (
        row.stripe_subscription_id != subscription_id
        or row.current_period_start not in period_starts
    ):
        return "no grant: the invoice's period is not the current one"
    movement = services.top_up_plan_credits(
        user=row.user,
        target=row.plan.monthly_credits,
        idempotency_key=f"grant:invoice:{invoice['id']}",
        reason=f"Monthly credits, {row.plan.name} plan",
        reference=f"invoice:{invoice['id']}",
    )
    return f"granted {movement.entry.amount if movement and movement.created else 0}"


def _invoice_lines(invoice: Obj) -> list[Obj]:
    """Every line of `invoice`: the page it embeds (Stripe embeds at most the first 10), then,
    when that page says `has_more`, the rest from `GET /v1/invoices/{id}/lines` through the
    SDK's auto-paging (100 a page, after the embedded page's last line). Raises
    PaymentProviderError when Stripe cannot list them (the webhook then answers 503 and Stripe
    sends the event again)."""
    listed = invoice.get("lines") or {}
    lines: list[Obj] = list(listed.get("data") or [])
    if not listed.get("has_more"):
        return lines
    params: Any = {"limit": 100}
    if lines:
        params["starting_after"] = lines[-1]["id"]
    try:
        page = client().v1.invoices.line_items.list(invoice["id"], params=params)
        lines += [dict(line.to_dict()) for line in page.auto_paging_iter()]
    except stripe.StripeError as exc:
        logger.warning("stripe invoices.line_items.list failed: %s", exc)
        raise PaymentProviderError(
            "The payment service could not be reached; nothing was charged. Try again."
        ) from exc
    return lines


def _on_invoice_payment_failed(obj: Obj) -> str:
    subscription_id = _invoice_subscription(obj)
    if not subscription_id:
        return "ignored: not a subscription invoice"
    _, outcome = _sync(subscription_id, obj.get("customer"))
    return outcome


def _on_checkout_completed(obj: Obj) -> str:
    return _apply_checkout_session(obj)


def _apply_checkout_session(session: Obj) -> str:
    """A completed Checkout Session: subscription mode syncs the new subscription; payment mode
    grants the recorded credit pack once (key from the session id) when it is paid."""
    if session.get("mode") == "subscription":
        if not session.get("subscription"):
            return "ignored: no subscription"
        subscription_id = session["subscription"]
        if isinstance(subscription_id, dict):
            subscription_id = subscription_id["id"]
        customer_id = session.get("customer")
        row = _locked_subscription(customer_id)
        if row is None:
            return _cancel_if_account_deleted(subscription_id, customer_id)
        invoice_id = session.get("invoice")
        if not invoice_id:
            return _sync_locked(row, subscription_id)
        # The first invoice's grant, in case its own invoice.paid is still on its way. Read
        # under our row lock only, before the sync, which can lock the creator's balance row to
        # the commit (the plan's period replaces Free's, expiring its credits): a slow Stripe
        # would block every debit of the creator meanwhile. Read before it was paid, it grants
        # nothing here; its invoice.paid does (same key).
        invoice = _call("invoices.retrieve", lambda: client().v1.invoices.retrieve(invoice_id))
        lines = _lines_for_grant(invoice)
        outcome = _sync_locked(row, subscription_id)
        return f"{outcome}; {_grant_for_invoice(row, invoice, lines)}"
    if session.get("payment_status") != "paid":
        return f"ignored: payment {session.get('payment_status')}"
    purchase = (
        CreditPackPurchase.objects.select_for_update(of=("self",))
        .select_related("user", "pack")
        .filter(stripe_checkout_session_id=session["id"])
        .first()
    )
    if purchase is None:
        return _refund_if_account_deleted(session)
    payment_intent = _id_of(session.get("payment_intent"))
    paid_with = payment_intent or purchase.stripe_payment_intent_id
    # Not granted yet: a refund or lost dispute may have come first (its event found the pack
    # not paid: NOT_GRANTED_YET). Read them from Stripe now, under the purchase row lock only (a
    # later one's event waits for it, then finds the pack granted), never under the balance row
    # lock the grant takes and keeps to the commit: a slow Stripe would block every debit of the
    # creator meanwhile.
    reversals: list[ChargeReversals] | None = None
    if purchase.status != CreditPackPurchase.Status.PAID and paid_with:
        reversals = _reversals_of(paid_with)
    movement = services.grant_purchased_credits(
        user=purchase.user,
        amount=purchase.credits,
        idempotency_key=f"purchase:{session['id']}",
        reason=f"Credit pack: {purchase.pack.name}",
        reference=f"checkout:{session['id']}"[:100],
    )
    if purchase.status != CreditPackPurchase.Status.PAID or (
        payment_intent and purchase.stripe_payment_intent_id != payment_intent
    ):
        purchase.status = CreditPackPurchase.Status.PAID
        purchase.paid_at = purchase.paid_at or timezone.now()
        # What a refund or a dispute of this payment names.
        purchase.stripe_payment_intent_id = payment_intent or purchase.stripe_payment_intent_id
        purchase.save(update_fields=["status", "paid_at", "stripe_payment_intent_id"])
    settled = _settle_reversals(purchase, reversals) if reversals is not None else ""
    if not movement.created:
        return f"credit pack already granted{settled}"
    return f"credit pack +{purchase.credits}{settled}"


# --- refunds and disputes --------------------------------------------------------------------
# The rule (README, "Payments"): a credit pack is credits for money, so when its payment is
# refunded (in full or in part, once or several times) or lost in a dispute, the refunded or
# disputed share of the pack's credits is taken back (the running total's share, rounded down),
# never more than the balance holds (what was spent stays spent), once per refund or dispute id.
# A subscription's payment takes no credits back: its plan credits expire at the period's end
# anyway, a partial refund is the studio's goodwill, and to end the plan the studio cancels the
# subscription in Stripe, which expires its unused credits at once (customer.subscription.deleted).
# Refunds count while `pending` or `succeeded`; one that fails later (a closed or lost card:
# `refund.failed`, `charge.refund.updated`) gives back what it took, once (the creator kept the
# money, so they keep the credits). A refund or dispute whose event comes before the pack's grant
# is taken back by the grant, which reads the payment's refunds and disputes from Stripe before
# it locks the balance (`_reversals_of`, `_settle_reversals`), under the same keys: once,
# whatever the order.
REFUND_COUNTS = ("pending", "succeeded")
# A refund or lost dispute of a pack whose grant has not been applied yet: the grant, when it
# comes, takes it back (`_settle_reversals`), so the outcome never depends on arrival order.
NOT_GRANTED_YET = "ignored: the credit pack is not granted yet; its grant takes this back"


def _id_of(value: Any) -> str:
    """The id of an expandable field: the string itself, or the expanded object's id."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def _purchase_for_payment(payment_intent: str) -> CreditPackPurchase | None:
    """The credit pack bought with this PaymentIntent, row-locked: by the id kept when it was
    paid, else (paid before that id was kept) through the Checkout Session Stripe lists for the
    PaymentIntent, whose id it then keeps. None for any other payment (a subscription's)."""
    if not payment_intent:
        return None
    rows = CreditPackPurchase.objects.select_for_update(of=("self",)).select_related("user", "pack")
    purchase = rows.filter(stripe_payment_intent_id=payment_intent).first()
    if purchase is not None:
        return purchase
    listed = _call(
        "checkout.sessions.list",
        lambda: client().v1.checkout.sessions.list(
            params={"payment_intent": payment_intent, "limit": 1}
        ),
    )
    for session in listed["data"]:
        purchase = rows.filter(stripe_checkout_session_id=session["id"]).first()
        if purchase is not None:
            purchase.stripe_payment_intent_id = payment_intent
            purchase.save(update_fields=["stripe_payment_intent_id"])
            return purchase
    return None


def _pack_share(purchase: CreditPackPurchase, cents: int, charged: int) -> int:
    """The pack's credits that `cents` of the `charged` cents paid for, rounded down."""
    return purchase.credits * max(0, min(cents, charged)) // charged if charged > 0 else 0


def _take_back_pack(purchase: CreditPackPurchase, *, share: int, key: str, why: str) -> int:
    """Take back `share` of the pack's credits under the idempotency key `key`. Returns the
    credits taken now (0 for a replay, a share of 0, or nothing left in the balance)."""
    if share <= 0:
        return 0
    part = "" if share == purchase.credits else f" ({share} of {purchase.credits} credits)"
    movement = services.take_back_purchased_credits(
        user=purchase.user,
        amount=share,
        idempotency_key=key,
        reason=f"Credit pack {why}: {purchase.pack.name}{part}",
        reference=f"checkout:{purchase.stripe_checkout_session_id}"[:100],
    )
    return -movement.entry.amount if movement.created else 0


def _on_charge_refunded(charge: Obj) -> str:
    """A charge refunded in full or in part (`charge.refunded`, sent again for each refund): each
    of its refunds takes back its share of a credit pack once (key `reversal:refund:<id>`)."""
    purchase = _purchase_for_payment(_id_of(charge.get("payment_intent")))
    if purchase is None:
        return "ignored: not a credit pack payment"
    if purchase.status != CreditPackPurchase.Status.PAID:
        return NOT_GRANTED_YET
    return f"credit pack refunded: -{_take_back_refunds(purchase, charge, _refunds_of(charge))}"


def _refunds_of(charge: Obj) -> list[Obj]:
    """Every refund of `charge`, read from Stripe (newest first, as Stripe lists them)."""
    return _listed(client().v1.refunds.list, {"charge": charge["id"], "limit": 100})


def _take_back_refunds(purchase: CreditPackPurchase, charge: Obj, refunds: list[Obj]) -> int:
    """Take back the share of the pack's credits each counting refund of `charge` (`refunds`,
    as `_refunds_of` read them) paid back, once per refund id. No Stripe call: it runs under
    the balance row lock. Returns the credits taken now."""
    charged = int(charge.get("amount") or 0)
    # Each refund's share is what the refunds up to it paid for less what those before it did,
    # so refunds that add up to the whole charge take back the whole pack. Oldest first: Stripe
    # lists the newest first, in an order that does not change between calls.
    counted = [r for r in reversed(refunds) if r.get("status") in REFUND_COUNTS]
    refunded = taken = 0
    for refund in counted:
        before, refunded = refunded, refunded + int(refund["amount"])
        taken += _take_back_pack(
            purchase,
            share=_pack_share(purchase, refunded, charged) - _pack_share(purchase, before, charged),
            key=f"reversal:refund:{refund['id']}",
            why="refunded",
        )
    return taken


def _on_refund_failed(refund: Obj) -> str:
    """A refund that failed or was cancelled after it was made (`refund.failed`, or
    `charge.refund.updated` with status `failed` or `canceled`): what its `charge.refunded`
    took back of a credit pack is given back once (key `reversal-failed:refund:<id>`), as
    credits that never expire."""
    # `canceled`: a refund stopped before the money went out (it counted while pending).
    if refund.get("status") not in ("failed", "canceled"):
        return f"ignored: refund {refund.get('status')}"
    purchase = _purchase_for_payment(_id_of(refund.get("payment_intent")))
    if purchase is None:
        return "ignored: not a credit pack payment"
    movement = services.return_reversed_credits(
        user=purchase.user,
        reversal_key=f"reversal:refund:{refund['id']}",
        idempotency_key=f"reversal-failed:refund:{refund['id']}",
        reason=f"Credit pack refund failed: {purchase.pack.name} (the credits are yours again)",
        reference=f"checkout:{purchase.stripe_checkout_session_id}"[:100],
    )
    if movement is None:
        return "credit pack refund failed: nothing had been taken back"
    if not movement.created:
        return "credit pack refund failed: already given back"
    return f"credit pack refund failed: +{movement.entry.amount}"


def _on_dispute_closed(dispute: Obj) -> str:
    """A dispute decided (`charge.dispute.closed`): a lost one takes back the disputed share of
    a credit pack once (key `reversal:dispute:<id>`); a won one changes nothing."""
    if dispute.get("status") != "lost":
        return f"ignored: dispute {dispute.get('status')}"
    purchase = _purchase_for_payment(_id_of(dispute.get("payment_intent")))
    if purchase is None:
        return "ignored: not a credit pack payment"
    if purchase.status != CreditPackPurchase.Status.PAID:
        return NOT_GRANTED_YET
    charge_id = _id_of(dispute.get("charge"))
    charge = _call("charges.retrieve", lambda: client().v1.charges.retrieve(charge_id))
    return f"credit pack dispute lost: -{_take_back_dispute(purchase, dispute, charge)}"


def _take_back_dispute(purchase: CreditPackPurchase, dispute: Obj, charge: Obj) -> int:
    """Take back the share of the pack's credits the lost `dispute` of `charge` (as Stripe has
    it now: what was refunded of it) covers, once per dispute id. No Stripe call: it runs
    under the balance row lock. Returns the credits taken now."""
    charged = int(charge.get("amount") or 0)
    # The dispute covers what was not refunded: its share is counted after the refunds'.
    refunded = int(charge.get("amount_refunded") or 0)
    disputed = refunded + int(dispute.get("amount") or 0)
    return _take_back_pack(
        purchase,
        share=_pack_share(purchase, disputed, charged) - _pack_share(purchase, refunded, charged),
        key=f"reversal:dispute:{dispute['id']}",
        why="payment disputed and lost",
    )


class ChargeReversals(NamedTuple):
    """One charge of a pack's payment as Stripe has it, with its refunds and its disputes."""

    charge: Obj
    refunds: list[Obj]
    disputes: list[Obj]


def _reversals_of(payment_intent: str) -> list[ChargeReversals]:
    """What may have paid back a pack's payment, read from Stripe before its grant: the
    payment's charges, each one's refunds and, for a disputed one, its disputes."""
    stripe_client = client()
    found = []
    for charge in _listed(
        stripe_client.v1.charges.list, {"payment_intent": payment_intent, "limit": 100}
    ):
        disputes: list[Obj] = []
        if charge.get("disputed"):
            disputes = _listed(
                stripe_client.v1.disputes.list, {"charge": charge["id"], "limit": 100}
            )
        found.append(ChargeReversals(charge, _refunds_of(charge), disputes))
    return found


def _settle_reversals(purchase: CreditPackPurchase, reversals: list[ChargeReversals]) -> str:
    """At a pack's grant: take back the shares of the pack that its payment's refunds and lost
    disputes (`reversals`, read from Stripe by `_reversals_of` before the grant took the
    balance row lock) paid back, under the keys their own events use (`reversal:refund:<id>`,
    `reversal:dispute:<id>`), so each is taken once whichever comes first. Their events, when
    they came before the grant (Stripe does not keep an order; a first delivery can fail and
    be retried hours later), were recorded as NOT_GRANTED_YET. No Stripe call. The outcome's
    tail, or ""."""
    refunded = disputed = 0
    for charge, refunds, disputes in reversals:
        refunded += _take_back_refunds(purchase, charge, refunds)
        for dispute in disputes:
            if dispute.get("status") == "lost":
                disputed += _take_back_dispute(purchase, dispute, charge)
    tail = f"; refunded before the grant: -{refunded}" if refunded else ""
    return tail + (f"; dispute lost before the grant: -{disputed}" if disputed else "")


HANDLERS: dict[str, Callable[[Obj], str]] = {
    "checkout.session.completed": _on_checkout_completed,
    # A delayed payment method (bank debits): completed unpaid, then paid days later.
    "checkout.session.async_payment_succeeded": _on_checkout_completed,
    "customer.subscription.created": _on_subscription,
    "customer.subscription.updated": _on_subscription,
    "customer.subscription.deleted": _on_subscription,
    "invoice.paid": _on_invoice_paid,
    "invoice.payment_failed": _on_invoice_payment_failed,
    "charge.refunded": _on_charge_refunded,
    "refund.failed": _on_refund_failed,
    "charge.refund.updated": _on_refund_failed,
    "charge.dispute.closed": _on_dispute_closed,
}


# --- prices ----------------------------------------------------------------------------------
def ensure_prices(*, dry_run: bool = True) -> list[str]:
    """Give every paid plan and active credit pack a Stripe price of its `price_cents`: keep an
    id Stripe knows with that amount, still active; otherwise (no id, an id Stripe does not know,
    an archived price, or another amount: the price was changed in the admin) create a product
    and price (monthly for plans, one-time for packs; idempotency key from the slug and amount)
    and store its id. Returns a line per row (what was or would be done); a replaced price is
    named, since Stripe keeps billing existing subscriptions at it until they are moved."""
    lines: list[str] = []
    rows: list[tuple[Plan | CreditPack, bool]] = [
        (plan, True) for plan in Plan.objects.filter(price_cents__gt=0).order_by("sort_order")
    ]
    rows += [(pack, False) for pack in CreditPack.objects.filter(active=True)]
    for row, recurring in rows:
        known = _stripe_price(row.stripe_price_id) if row.stripe_price_id else None
        if known is not None and known["unit_amount"] == row.price_cents and known["active"]:
            lines.append(f"{row.slug}: {row.stripe_price_id} (exists)")
            continue
        replaces = ""
        if known is not None:
            state = "archived" if not known["active"] else f"{known['unit_amount']} cents"
            replaces = (
                f", replacing {row.stripe_price_id} ({state}; existing subscriptions stay on it "
                f"until moved in Stripe)"
            )
        if dry_run:
            lines.append(f"{row.slug}: would create a price of {row.price_cents} cents{replaces}")
            continue
        params: Obj = {
            "currency": "usd",
            "unit_amount": row.price_cents,
            "product_data": {"name": f"ViewBait {row.name}"},
            "lookup_key": f"viewbait-{row.slug}-{row.price_cents}",
            # Back to an earlier amount: the key moves from that old price to this one.
            "transfer_lookup_key": True,
            # What names a replaced price's plan to the webhook (`_plan_for_price`).
            "metadata": {"slug": row.slug},
        }
        if recurring:
            params["recurring"] = {"interval": "month"}
        # The replaced price in the key: the same amount again after an archived one must make
        # a new price, not get the archived one back from the idempotency cache.
        key = f"viewbait:price:{row.slug}:{row.price_cents}"
        if known is not None:
            key += f":{row.stripe_price_id}"

        def create(params: Obj = params, key: str = key) -> Any:
            return client().v1.prices.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": key},
            )

        price = _call("prices.create", create)
        type(row).objects.filter(pk=row.pk).update(stripe_price_id=price["id"])
        lines.append(f"{row.slug}: created {price['id']}{replaces}")
    services.invalidate_plan_table()
    return lines


def _stripe_price(price_id: str) -> Any | None:
    """Stripe's price `price_id` (`unit_amount`, `active`, ...), or None when Stripe has none."""
    try:
        return client().v1.prices.retrieve(price_id)
    except stripe.InvalidRequestError:
        return None


# --- STRIPE_FAKE (development) ---------------------------------------------------------------
_fake_lock = threading.Lock()
_fake_ready = False


def _ensure_fake() -> None:
    """Start tests/fake_stripe.py on a thread of this process unless something already listens
    on STRIPE_FAKE_PORT, then make sure the plans and packs have prices in it."""
    global _fake_ready
    if _fake_ready:
        return
    with _fake_lock:
        if _fake_ready:
            return
        port = settings.STRIPE_FAKE_PORT
        with socket.socket() as probe:
            listening = probe.connect_ex(("127.0.0.1", port)) == 0
        if not listening:
            path = settings.BASE_DIR / "tests" / "fake_stripe.py"
            spec = importlib.util.spec_from_file_location("viewbait_fake_stripe", path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            module.FakeStripe(
                api_key=settings.STRIPE_SECRET_KEY,
                webhook_secret=settings.STRIPE_WEBHOOK_SECRET,
                webhook_url=_site("/stripe/webhook/"),
                port=port,
                state_file=settings.VAR_DIR / "fake-stripe.json",
            ).start()
            logger.warning("STRIPE_FAKE: fake Stripe started on 127.0.0.1:%s", port)
        _fake_ready = True
    ensure_prices(dry_run=False)


# --- an account being deleted ----------------------------------------------------------------
# Stripe's delayed payment methods (bank debits) settle within days: a credit pack's Checkout
# completed in this many days whose payment still processes keeps the account from deletion.
PENDING_PAYMENT_DAYS = 30
# A payment intent's statuses while its money may still arrive (a bank debit in flight, a
# voucher not yet paid).
PAYMENT_ON_ITS_WAY = ("processing", "requires_action")
# A subscription's statuses while its unpaid invoice may still be charged (Stripe's retries, or a
# new card), whether or not it is set to end at the period end.
PAYMENT_RETRIED = ("past_due", "unpaid")


def close_for_deletion(*, user: User) -> str | None:
    """Before `user`'s account is deleted (`studio.services.do_delete_account`, outside its
    transaction): what in Stripe still keeps it, else their open Checkout Sessions expired (a
    plan or pack Checkout left open in another tab stays payable for 24 hours: paid after the
    deletion, it billed an account that no longer exists).

    Returns "subscription_active" while Stripe has a subscription of theirs that bills and is not
    set to end (its webhook may not have reached us yet), "payment_due" while one set to end is
    past due or unpaid (a retry of its invoice would still charge them), "payment_pending" while
    a payment is on its way (a credit pack's bank debit still processing, a subscription's first
    payment), else None, the open sessions expired. Asks nothing of Stripe for a user who never
    was its customer, or with payments off (no STRIPE_SECRET_KEY). Raises PaymentProviderError
    when Stripe cannot be reached or refuses an expiry (a session paid that moment: asked again,
    it is a subscription or a payment)."""
    row = Subscription.objects.filter(user=user).first()
    if row is None or not row.stripe_customer_id or not configured():
        return None
    customer = row.stripe_customer_id
    stripe_client = client()
    for sub in _listed(stripe_client.v1.subscriptions.list, {"customer": customer, "limit": 100}):
        if sub["status"] in (*BILLING, "unpaid") and not sub.get("cancel_at_period_end"):
            return "subscription_active"
        if sub["status"] in PAYMENT_RETRIED:  # set to end, but Stripe retries the invoice
            return "payment_due"
        if sub["status"] == "incomplete":
            return "payment_pending"
    since = int(timezone.now().timestamp()) - PENDING_PAYMENT_DAYS * 24 * 3600
    sessions = _listed(
        stripe_client.v1.checkout.sessions.list,
        {"customer": customer, "created": {"gte": since}, "limit": 100},
    )
    for session in sessions:
        payment_intent = _id_of(session.get("payment_intent"))
        if (
            session["status"] == "complete"
            and session.get("payment_status") == "unpaid"
            and payment_intent
        ):
            intent = _call(
                "payment_intents.retrieve",
                functools.partial(stripe_client.v1.payment_intents.retrieve, payment_intent),
            )
            if intent["status"] in PAYMENT_ON_ITS_WAY:
                return "payment_pending"
    for session in sessions:
        if session["status"] == "open":
            _call(
                "checkout.sessions.expire",
                functools.partial(stripe_client.v1.checkout.sessions.expire, session["id"]),
            )
    return None


def _listed(list_call: Callable[..., Any], params: Any) -> list[Obj]:
    """Every object of a Stripe list (auto-paging), as plain dicts; PaymentProviderError when
    Stripe cannot list them."""
    try:
        return [dict(row.to_dict()) for row in list_call(params=params).auto_paging_iter()]
    except stripe.StripeError as exc:
        logger.warning("stripe list failed: %s", exc)
        raise PaymentProviderError(
            "The payment service could not be reached; nothing was charged. Try again."
        ) from exc


def remember_deleted_customer(*, user: User, since: dt.datetime | None = None) -> None:
    """In the deletion's transaction (`studio.services.do_delete_account`), after it locked the
    subscription and pack purchase rows, before they cascade away: keep the user's Stripe
    customer id (`DeletedStripeCustomer`) with the credit pack Checkouts granted to them, so a
    webhook that comes later undoes a payment made for this account only, and never refunds a
    pack that was delivered. Nothing for a user who never was a Stripe customer. `since`
    (default now): when the deletion began, before Stripe was asked (`close_for_deletion`); a
    plan's payment from then on is refunded by the backstop."""
    row = Subscription.objects.filter(user=user).first()
    if row is None or not row.stripe_customer_id:
        return
    granted = CreditPackPurchase.objects.filter(user=user, status=CreditPackPurchase.Status.PAID)
    DeletedStripeCustomer.objects.update_or_create(
        stripe_customer_id=row.stripe_customer_id,
        defaults={
            "account_id": user.pk,
            "granted_checkout_sessions": sorted(
                granted.values_list("stripe_checkout_session_id", flat=True)
            ),
            "deleted_at": since or timezone.now(),
        },
    )


def _deleted_customer(customer: Any) -> DeletedStripeCustomer | None:
    """The deleted account whose Stripe customer `customer` (an id or expanded object) was, or
    None (not a customer of ours, or of an account that exists)."""
    customer_id = _id_of(customer)
    if not customer_id:
        return None
    return DeletedStripeCustomer.objects.filter(stripe_customer_id=customer_id).first()


def _cancel_if_account_deleted(subscription_id: str, customer_id: str | None) -> str:
    """A subscription event for a customer no account has. A subscription of a deleted account's
    customer (`DeletedStripeCustomer`: a Checkout paid in another tab as the account went) is
    cancelled at once, so it never bills again; any other customer (another app's or
    environment's) is ignored without a call to Stripe; a subscription Stripe no longer has
    (`resource_missing`) is done, not an error Stripe would retry."""
    gone = _deleted_customer(customer_id)
    if gone is None:
        return f"ignored: no account for customer {customer_id}"
    try:
        remote = dict(client().v1.subscriptions.retrieve(subscription_id).to_dict())
    except stripe.InvalidRequestError as exc:
        if exc.code != "resource_missing":
            raise PaymentProviderError("Stripe refused to show the subscription.") from exc
        # Gone from Stripe: nothing left to bill. Not a 503 that Stripe retries for 3 days.
        return (
            f"ignored: subscription {subscription_id} of deleted account {gone.account_id} is gone"
        )
    except stripe.StripeError as exc:
        raise PaymentProviderError("The payment service could not be reached.") from exc
    done: list[str] = []
    if remote["status"] not in ENDED:
        try:
            client().v1.subscriptions.cancel(subscription_id)
        except stripe.InvalidRequestError as exc:
            if exc.code != "resource_missing":  # else cancelled meanwhile (another of its events)
                raise PaymentProviderError("Stripe refused the cancellation.") from exc
        except stripe.StripeError as exc:
            raise PaymentProviderError("The payment service could not be reached.") from exc
        logger.warning(
            "cancelled subscription %s of deleted account %s", subscription_id, gone.account_id
        )
        done.append(f"cancelled: account {gone.account_id} was deleted")
    done += _refund_invoices_paid_since(subscription_id, gone)
    if not done:
        return f"ignored: {remote['status']} subscription of deleted account {gone.account_id}"
    return "; ".join(done)


def _refund_invoices_paid_since(subscription_id: str, gone: DeletedStripeCustomer) -> list[str]:
    """Refund in full every invoice of the subscription paid at or after the account's deletion
    (its `status_transitions.paid_at`, Stripe's clock): a period of an account that no longer
    exists, never delivered. Each through the invoice's paid payments (`GET /v1/invoice_payments`:
    since API version 2025-03-31.basil an invoice names no payment intent or charge itself), once
    per payment (idempotency key from the invoice and payment ids; one refunded already counts).
    An invoice paid before the deletion (a plan set to end at its period end) was delivered and
    is kept. What was refunded, a line each."""
    since = int(gone.deleted_at.timestamp())
    stripe_client = client()
    invoices = _listed(
        stripe_client.v1.invoices.list,
        {"subscription": subscription_id, "status": "paid", "limit": 100},
    )
    done = []
    for invoice in invoices:
        if int((invoice.get("status_transitions") or {}).get("paid_at") or 0) < since:
            continue
        paid = _listed(
            stripe_client.v1.invoice_payments.list,
            {"invoice": invoice["id"], "status": "paid", "limit": 100},
        )
        for payment in paid:
            method = payment.get("payment") or {}
            target: Obj = {
                key: _id_of(method.get(key))
                for key in ("payment_intent", "charge")
                if _id_of(method.get(key))
            }
            if len(target) != 1:  # a payment record (paid outside Stripe): nothing to refund
                continue
            refund = _refund_for_deleted_account(
                {**target, "metadata": {"user_id": str(gone.account_id), "invoice": invoice["id"]}},
                key=f"viewbait:refund-deleted-account:{invoice['id']}:{payment['id']}",
            )
            if refund is None:
                done.append(f"invoice {invoice['id']} already refunded")
                continue
            logger.warning(
                "refunded invoice %s of deleted account %s", invoice["id"], gone.account_id
            )
            done.append(f"refunded {refund['amount']} of invoice {invoice['id']}")
    return done


def _refund_for_deleted_account(params: Obj, *, key: str) -> Obj | None:
    """Refund what is left of a payment (`payment_intent` or `charge` in `params`) under the
    idempotency key `key`; None when it was refunded already (by this key: Stripe answers the
    first refund again, `Idempotent-Replayed`; or otherwise). PaymentProviderError when Stripe
    refuses or cannot be reached (the webhook answers 503 and Stripe sends the event again)."""
    create: Any = {"reason": "requested_by_customer", **params}  # RefundCreateParams
    try:
        refund = client().v1.refunds.create(params=create, options={"idempotency_key": key})
        response = refund.last_response
        if response is not None and response.headers.get("Idempotent-Replayed") == "true":
            return None
        return dict(refund.to_dict())
    except stripe.InvalidRequestError as exc:
        if exc.code != "charge_already_refunded":
            raise PaymentProviderError("Stripe refused the refund.") from exc
        return None
    except stripe.StripeError as exc:
        raise PaymentProviderError("The payment service could not be reached.") from exc


def _refund_if_account_deleted(session: Obj) -> str:
    """A paid payment-mode Checkout with no credit pack recorded. One of a deleted account's
    customer (`DeletedStripeCustomer`) that was not granted before the deletion (paid, or its
    bank debit landed, after it) is refunded in full, once (the idempotency key from the session
    id; one refunded already counts); a pack granted before (its purchase row went with the
    account) and anything else (another app's Checkout) are ignored."""
    gone = _deleted_customer(session.get("customer"))
    payment_intent = _id_of(session.get("payment_intent"))
    if gone is None or not payment_intent:
        return "ignored: no credit pack recorded for this session"
    if session["id"] in gone.granted_checkout_sessions:
        return f"ignored: credit pack granted before account {gone.account_id} was deleted"
    deleted = str(gone.account_id)
    refund = _refund_for_deleted_account(
        {
            "payment_intent": payment_intent,
            "metadata": {"user_id": deleted, "checkout_session": session["id"]},
        },
        key=f"viewbait:refund-deleted-account:{session['id']}",
    )
    if refund is None:
        return f"already refunded: account {deleted} was deleted"
    logger.warning("refunded %s of deleted account %s", payment_intent, deleted)
    return f"refunded {refund['amount']}: account {deleted} was deleted"
