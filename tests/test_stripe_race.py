"""Stripe webhooks racing the creator on real PostgreSQL: renewals (expiry + grant) delivered
while generate requests debit the same account, and one event delivered by several threads at
once. The balance row lock and the unique event id keep the ledger exact."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import OperationalError, connection, connections
from django.test import Client

from billing.models import CreditLedgerEntry, StripeEvent, Subscription
from billing.services import get_balance
from tests import test_stripe_billing
from tests.conftest import make_user
from tests.fake_stripe import FakeStripe
from tests.test_stripe_billing import session_id, start_checkout, stripe_subscription_id

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ROUNDS = 6
GENERATES_PER_ROUND = 4

# The fake Stripe and the priced plans, as in tests/test_stripe_billing.py.
fake = test_stripe_billing.fake
priced = test_stripe_billing.priced


@pytest.fixture(autouse=True)
def _needs_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (set DATABASE_URL); SQLite serialises writers")


def webhook(client: Client, fake: FakeStripe, event: dict[str, Any]) -> int:
    payload, header = fake.sign(event)
    response = client.post(
        "/stripe/webhook/", payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    return int(response.status_code)


def run_together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Each call on its own thread (and database connection), released at once."""
    barrier = threading.Barrier(len(calls))

    def one(call: Callable[[], Any]) -> Any:
        try:
            barrier.wait()
            return call()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(one, calls))


def ledger_sum(user: Any) -> int:
    return sum(CreditLedgerEntry.objects.filter(user=user).values_list("amount", flat=True))


def balance_row(user_id: int) -> str:
    """Whether the creator's balance row (CreditAccount) is held by a transaction right now:
    "free" when another connection can lock it at once (FOR UPDATE NOWAIT never waits), else
    "locked: ..." (psycopg's LockNotAvailable)."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM billing_creditaccount WHERE user_id = %s FOR UPDATE NOWAIT",
                [user_id],
            )
            return "free" if cursor.fetchone() is not None else "missing"
    except OperationalError as exc:  # psycopg's LockNotAvailable
        return f"locked: {exc}"
    finally:
        other.close()


def watch_reads(
    fake: FakeStripe, monkeypatch: pytest.MonkeyPatch, user_id: int
) -> list[tuple[str, str]]:
    """From now on, each request the fake answers appends ("<method> <path>",
    `balance_row(user_id)` as it came in, on the fake's thread while the app waits for it)."""
    api = fake.api
    reads: list[tuple[str, str]] = []

    def reading_api(method: str, path: str, params: dict[str, Any]) -> Any:
        reads.append((f"{method} {path}", balance_row(user_id)))
        return api(method, path, params)

    monkeypatch.setattr(fake, "api", reading_api)
    return reads


def test_renewal_webhooks_racing_generates_keep_the_ledger_exact(
    fake: FakeStripe, priced: Any, no_job_cap: None
) -> None:
    user = make_user("racer@example.com")
    client = Client()
    client.force_login(user)
    url = start_checkout(client, "starter")
    events = fake.complete_checkout(session_id(url), deliver=False)
    assert all(webhook(client, fake, e) == 200 for e in events)
    sub_id = stripe_subscription_id(events)
    assert get_balance(user) == 100

    def generate(title: str) -> int:
        creator = Client()
        creator.force_login(user)
        body = json.dumps({"title": title, "resolution": "2K"})
        return int(creator.post("/api/generate", body, content_type="application/json").status_code)

    def deliver(renewal: list[dict[str, Any]]) -> list[int]:
        hook = Client()
        return [webhook(hook, fake, event) for event in renewal]

    accepted = 0
    invoices = []
    for round_ in range(ROUNDS):
        renewal = fake.renew(sub_id, deliver=False)
        invoices.append(renewal[-1]["data"]["object"]["id"])
        calls: list[Callable[[], Any]] = [lambda renewal=renewal: deliver(renewal)]
        calls += [
            lambda title=f"Round {round_} video {n}": generate(title)
            for n in range(GENERATES_PER_ROUND)
        ]
        results = run_together(calls)
        assert results[0] == [200, 200]
        assert set(results[1:]) <= {202, 402}, results
        accepted += results[1:].count(202)
        assert get_balance(user) == ledger_sum(user) >= 0

    debits = CreditLedgerEntry.objects.filter(user=user, kind="debit")
    # Under load every generate can land between a renewal's expiry and its grant (each a 402),
    # so how many are accepted varies; each accepted one is debited exactly once.
    assert debits.count() == accepted
    for invoice in invoices:
        assert (
            CreditLedgerEntry.objects.filter(idempotency_key=f"grant:invoice:{invoice}").count()
            == 1
        )
    assert CreditLedgerEntry.objects.filter(user=user, kind="expiry").count() == ROUNDS + 1
    assert StripeEvent.objects.count() == len(events) + 2 * ROUNDS
    # The last period's plan credits are exactly its grant minus what was spent since.
    boundary = CreditLedgerEntry.objects.filter(user=user, kind="expiry").latest("id")
    since = CreditLedgerEntry.objects.filter(user=user, id__gt=boundary.id)
    assert get_balance(user) == sum(e.amount for e in since)


def test_one_event_delivered_by_six_threads_at_once_is_processed_once(
    fake: FakeStripe, priced: Any
) -> None:
    user = make_user("twice@example.com")
    client = Client()
    client.force_login(user)
    url = start_checkout(client, "advanced")
    events = fake.complete_checkout(session_id(url), deliver=False)
    invoice_paid = next(e for e in events if e["type"] == "invoice.paid")

    statuses = run_together([lambda: webhook(Client(), fake, invoice_paid)] * 6)
    assert statuses == [200] * 6
    assert StripeEvent.objects.filter(event_id=invoice_paid["id"]).count() == 1
    assert (
        CreditLedgerEntry.objects.filter(user=user, kind="grant")
        .values_list("amount", flat=True)
        .count()
        == 2
    )  # the Free signup grant and the Advanced period's, once
    assert get_balance(user) == 300 == ledger_sum(user)


def test_a_pack_s_grant_reads_stripe_before_it_locks_the_creator_s_balance(
    fake: FakeStripe, priced: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pack's grant reads what was refunded or disputed before it (the payment's charges,
    their refunds and disputes) from Stripe, then grants and takes back without a Stripe call.
    Those reads ran after the grant, holding the creator's balance row lock (taken by the grant,
    kept to the commit) for up to three Stripe calls of 80 s each, retried twice: a slow Stripe
    blocked every generate, debit and refund of that creator. Each read, on the webhook and on
    the return from Checkout, now finds the balance row free (FOR UPDATE NOWAIT from another
    connection, on the fake's thread), and the packs are still taken back exactly."""
    user = make_user("reader@example.com")
    client = Client()
    client.force_login(user)
    api = fake.api
    reads: list[tuple[str, str]] = []

    def reading_api(method: str, path: str, params: dict[str, Any]) -> Any:
        kind = path.strip("/").split("/")[1]
        if method == "GET" and kind in ("charges", "refunds", "disputes"):
            reads.append((kind, balance_row(user.pk)))
        return api(method, path, params)

    def paid_pack(operation_id: str) -> tuple[list[dict[str, Any]], str]:
        response = client.post("/plans/packs/credits-50", {"operation_id": operation_id})
        paid = fake.complete_checkout(session_id(str(response["Location"])), deliver=False)
        charge = fake.charge_of(payment_intent=paid[0]["data"]["object"]["payment_intent"])
        return paid, str(charge["id"])

    # Refunded in part and the rest disputed and lost, all before the grant (its webhook).
    by_webhook, charge = paid_pack("1" * 32)
    early = fake.refund(charge, 500, deliver=False) + fake.dispute(charge, deliver=False)
    # Refunded in full before the grant (the return from Checkout, before any webhook).
    by_return, other_charge = paid_pack("2" * 32)
    early += fake.refund(other_charge, deliver=False)
    assert all(webhook(client, fake, event) == 200 for event in early)
    assert get_balance(user) == 10

    monkeypatch.setattr(fake, "api", reading_api)
    assert all(webhook(client, fake, event) == 200 for event in by_webhook)
    assert sorted({kind for kind, _ in reads}) == ["charges", "disputes", "refunds"]
    on_webhook = len(reads)
    returned = client.get(
        f"/billing/checkout/return?session_id={by_return[0]['data']['object']['id']}"
    )
    assert returned.status_code == 302, returned.content
    assert [kind for kind, _ in reads[on_webhook:]] == ["charges", "refunds"]
    assert {state for _, state in reads} == {"free"}, reads

    assert get_balance(user) == 10 == ledger_sum(user)
    assert sorted(
        CreditLedgerEntry.objects.filter(kind="reversal").values_list("amount", flat=True)
    ) == [-50, -25, -25]


def test_a_renewal_s_grant_reads_the_invoice_s_lines_before_it_locks_the_creator_s_balance(
    fake: FakeStripe, priced: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A renewal's invoice.paid that arrives before the subscription's update starts the new
    period itself (`roll_period` expires the old period's credits: the balance row is locked to
    the commit), then looks for the new period among the invoice's lines. With more lines than
    the 10 Stripe embeds (five plan changes in the period), the rest were listed from Stripe
    under that lock: up to 80 s a try, three tries, every generate, debit and refund of the
    creator waiting. The lines are now read before the sync; the grant is still exact."""
    user = make_user("lines@example.com")
    client = Client()
    client.force_login(user)
    events = fake.complete_checkout(session_id(start_checkout(client, "starter")), deliver=False)
    assert all(webhook(client, fake, event) == 200 for event in events)
    sub_id = stripe_subscription_id(events)
    fake.clock_offset = 10 * 24 * 3600
    for plan in ("advanced", "starter", "advanced", "starter", "advanced"):
        changed = fake.switch_price(sub_id, priced[plan], deliver=False)
        assert all(webhook(client, fake, event) == 200 for event in changed)
    renewal = fake.renew(sub_id, deliver=False)
    assert [event["type"] for event in renewal] == ["customer.subscription.updated", "invoice.paid"]
    invoice = renewal[1]["data"]["object"]
    assert invoice["lines"]["has_more"]

    reads = watch_reads(fake, monkeypatch, user.pk)
    assert webhook(client, fake, renewal[1]) == 200  # invoice.paid first: it rolls the period
    assert f"GET /v1/invoices/{invoice['id']}/lines" in [request for request, _ in reads]
    assert {state for _, state in reads} == {"free"}, reads
    assert webhook(client, fake, renewal[0]) == 200

    grant = CreditLedgerEntry.objects.get(idempotency_key=f"grant:invoice:{invoice['id']}")
    assert grant.amount == 300
    assert get_balance(user) == 300 == ledger_sum(user)


@pytest.mark.parametrize("applied_by", ["webhook", "return"])
def test_a_subscription_checkout_reads_its_invoice_before_it_locks_the_creator_s_balance(
    fake: FakeStripe, priced: Any, monkeypatch: pytest.MonkeyPatch, applied_by: str
) -> None:
    """A subscription Checkout applied before the subscription's own events (its
    checkout.session.completed delivered first, or the return from Checkout) starts the plan's
    period in the sync (Free's credits expire: the balance row is locked to the commit), then
    reads the first invoice from Stripe for its grant: that read ran under the lock. It now
    comes before the sync; the plan's credits are granted once, whatever comes later."""
    user = make_user(f"checkout-{applied_by}@example.com")
    client = Client()
    client.force_login(user)
    events = fake.complete_checkout(session_id(start_checkout(client, "starter")), deliver=False)
    completed = next(e for e in events if e["type"] == "checkout.session.completed")
    session = completed["data"]["object"]

    reads = watch_reads(fake, monkeypatch, user.pk)
    if applied_by == "webhook":
        assert webhook(client, fake, completed) == 200
    else:
        returned = client.get(f"/billing/checkout/return?session_id={session['id']}")
        assert returned.status_code == 302, returned.content
    assert f"GET /v1/invoices/{session['invoice']}" in [request for request, _ in reads]
    assert {state for _, state in reads} == {"free"}, reads
    assert get_balance(user) == 100 == ledger_sum(user)

    assert all(webhook(client, fake, event) == 200 for event in events)
    assert get_balance(user) == 100 == ledger_sum(user)
    assert CreditLedgerEntry.objects.filter(user=user, kind="grant").count() == 2  # Free, Starter


def test_no_stripe_call_of_a_creator_s_billing_life_finds_their_balance_row_locked(
    fake: FakeStripe, priced: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit behind the tests above, kept: one creator's billing life through the webhook
    and the return from Checkout (a plan, a second subscription bought outside the studio and
    cancelled, a failed and then paid renewal, a refunded and disputed subscription payment, a
    pack refunded, the refund failing, then disputed, the plan cancelled at the period end),
    each batch of events delivered newest first (so a sync that starts a period runs before the
    rest of the handler). Every request the app makes to Stripe meanwhile finds the creator's
    balance row free, and the ledger adds up."""
    user = make_user("audit@example.com")
    client = Client()
    client.force_login(user)
    reads = watch_reads(fake, monkeypatch, user.pk)

    def newest_first(events: list[dict[str, Any]]) -> None:
        assert [webhook(client, fake, e) for e in reversed(events)] == [200] * len(events)

    events = fake.complete_checkout(session_id(start_checkout(client, "starter")), deliver=False)
    returned = client.get(
        f"/billing/checkout/return?session_id={events[-1]['data']['object']['id']}"
    )
    assert returned.status_code == 302
    newest_first(events)
    older = stripe_subscription_id(events)
    fake.clock_offset = 5 * 24 * 3600
    outside = test_stripe_billing._second_subscription(fake, user, "advanced")
    newest_first(outside)
    newest_first([test_stripe_billing.resent(events[0], "evt_audit_older_again")])
    newest_first(fake.cancel_now(stripe_subscription_id(outside), deliver=False))
    failed = fake.renew(older, pay=False, deliver=False)
    newest_first(failed)
    invoice = failed[-1]["data"]["object"]["id"]
    newest_first(fake.pay_invoice(invoice, deliver=False))
    first_invoice = next(e for e in events if e["type"] == "invoice.paid")["data"]["object"]
    charge = fake.charge_of(invoice=first_invoice["id"])["id"]
    newest_first(fake.refund(charge, 100, deliver=False) + fake.dispute(charge, deliver=False))
    response = client.post("/plans/packs/credits-50", {"operation_id": "3" * 32})
    paid = fake.complete_checkout(session_id(str(response["Location"])), deliver=False)
    newest_first(paid)
    pack_charge = fake.charge_of(payment_intent=paid[0]["data"]["object"]["payment_intent"])["id"]
    refunded = fake.refund(pack_charge, 500, deliver=False)
    newest_first(refunded)
    newest_first(fake.fail_refund(refunded[0]["data"]["object"]["id"], deliver=False))
    newest_first(fake.dispute(pack_charge, deliver=False))
    newest_first(fake.set_cancel_at_period_end(older, True, deliver=False))
    newest_first(fake.renew(older, deliver=False))

    assert Subscription.objects.get(user=user).plan.slug == "free"
    asked = {re.sub(r"/[a-z_]+_[0-9a-f]{8,}", "/{id}", request) for request, _ in reads}
    assert {
        "GET /v1/checkout/sessions/{id}",  # the return from Checkout
        "GET /v1/invoices/{id}",  # its first invoice
        "GET /v1/subscriptions/{id}",  # each sync; the linked one for the older's event
        "GET /v1/subscriptions",  # the relink, and the end
        "GET /v1/checkout/sessions",  # a subscription's refund: not a pack's
        "GET /v1/charges",  # the pack's grant
        "GET /v1/refunds",  # its refund
        "GET /v1/charges/{id}",  # its dispute
    } <= asked, asked
    assert {state for _, state in reads} == {"free"}, [r for r in reads if r[1] != "free"]
    assert get_balance(user) == ledger_sum(user)
    assert CreditLedgerEntry.objects.filter(kind="reversal").count() == 2  # refund, dispute
