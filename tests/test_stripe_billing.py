"""Stripe billing end to end: the real stripe-python client against tests/fake_stripe.py (a
stateful fake Stripe on a local port), webhooks signed like Stripe's and posted to
/stripe/webhook/, and the creator's plan, features and credits that follow."""

from __future__ import annotations

import copy
import datetime as dt
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import stripe
from django.utils import timezone

from billing import payments
from billing.models import (
    CreditLedgerEntry,
    CreditPack,
    CreditPackPurchase,
    Plan,
    StripeEvent,
    Subscription,
)
from billing.services import (
    change_plan,
    debit_credits,
    effective_plan,
    get_balance,
    grant_due_monthly_credits,
    invalidate_plan_table,
)
from generation.models import Job
from tests.conftest import JSONClient, make_user
from tests.fake_stripe import FakeStripe, StripeError

pytestmark = pytest.mark.django_db

WEBHOOK = "/stripe/webhook/"


@pytest.fixture
def fake(settings: Any) -> Iterator[FakeStripe]:
    """A fresh fake Stripe, and the app pointed at it (as STRIPE_API_BASE does)."""
    server = FakeStripe().start()
    settings.STRIPE_FAKE = False
    settings.STRIPE_SECRET_KEY = server.api_key
    settings.STRIPE_WEBHOOK_SECRET = server.webhook_secret
    settings.STRIPE_API_BASE = server.base_url
    settings.SITE_URL = "http://testserver"
    yield server
    server.stop()


def _catalog() -> str:
    """What `ensure_prices` reads: every plan and credit pack as stored (their repr)."""
    return repr(
        (
            list(Plan.objects.order_by("pk").values_list()),
            list(CreditPack.objects.order_by("pk").values_list()),
        )
    )


# What `ensure_prices(dry_run=False)` did to a fresh fake (its products and prices, idempotency
# keys, recorded requests) and to the catalog (price ids by plan and pack pk), by the catalog
# it started from: made once per test process (see `priced`).
_PRICED: dict[str, tuple[Any, ...]] = {}


@pytest.fixture
def priced(fake: FakeStripe, db: None) -> dict[str, str]:
    """Every paid plan and credit pack priced in the fake (`manage.py stripe_prices --commit`).

    The first test of a process (for a given catalog) prices them through the Stripe API, as the
    command does: ten requests over HTTP to the fake, about 0.05 CPU-s a test. Later tests get
    the same result put straight into their fresh fake: deep copies of the products, prices,
    idempotency keys and recorded requests that call left, and the same price ids stored on
    the plans and packs (test_a_price_changed_in_the_admin_gets_a_new_stripe_price runs
    ensure_prices itself)."""
    before = _catalog()
    if before not in _PRICED:
        assert not fake.requests and not any(fake.objects.values()), "a fresh fake"
        payments.ensure_prices(dry_run=False)
        with fake.lock:
            _PRICED[before] = copy.deepcopy(
                (
                    {kind: fake.objects[kind] for kind in ("product", "price")},
                    fake.idempotency,
                    fake.requests,
                    {
                        model: dict(model.objects.values_list("pk", "stripe_price_id"))
                        for model in (Plan, CreditPack)
                    },
                )
            )
    else:
        objects, idempotency, requests, stored = copy.deepcopy(_PRICED[before])
        with fake.lock:
            for kind, found in objects.items():
                fake.objects[kind].update(found)
            fake.idempotency.update(idempotency)
            fake.requests[:0] = requests
        for model, ids in stored.items():
            for pk, price_id in ids.items():
                model.objects.filter(pk=pk).update(stripe_price_id=price_id)
        invalidate_plan_table()
    ids = dict(Plan.objects.exclude(stripe_price_id="").values_list("slug", "stripe_price_id"))
    ids.update(CreditPack.objects.values_list("slug", "stripe_price_id"))
    return ids


def post_event(client: Any, fake: FakeStripe, event: dict[str, Any], **sign: Any) -> Any:
    payload, header = fake.sign(event, **sign)
    return client.post(
        WEBHOOK, payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )


def deliver(client: Any, fake: FakeStripe, events: list[dict[str, Any]]) -> None:
    for event in events:
        response = post_event(client, fake, event)
        assert response.status_code == 200, (event["type"], response.content)


def start_checkout(client: JSONClient, plan: str, operation_id: str = "a" * 32) -> str:
    response = client.post(f"/plans/checkout/{plan}", {"operation_id": operation_id})
    assert response.status_code == 302, response.content
    return str(response["Location"])


def session_id(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1]


def subscribe(client: JSONClient, fake: FakeStripe, plan: str) -> list[dict[str, Any]]:
    """Checkout for `plan`, paid; returns the events (not yet delivered)."""
    url = start_checkout(client, plan, operation_id=f"{plan:0<32}"[:32].replace("r", "0"))
    assert url.startswith(f"{fake.base_url}/checkout/cs_test_"), url
    return fake.complete_checkout(session_id(url), deliver=False)


def stripe_subscription_id(events: list[dict[str, Any]]) -> str:
    return next(
        e["data"]["object"]["id"] for e in events if e["type"] == "customer.subscription.created"
    )


def resent(event: dict[str, Any], event_id: str, **changes: Any) -> dict[str, Any]:
    """A copy of `event` under another id (Stripe re-sends, or a later event about the same
    object): `type=` changes its type, any other keyword a field of its object."""
    copied = copy.deepcopy(event)
    copied["id"] = event_id
    copied["type"] = changes.pop("type", copied["type"])
    copied["data"]["object"].update(changes)
    return copied


def ledger_sum(user: Any) -> int:
    return sum(CreditLedgerEntry.objects.filter(user=user).values_list("amount", flat=True))


def generate(client: JSONClient, resolution: str, **extra: Any) -> Any:
    body = {"title": "Plan check", "resolution": resolution, **extra}
    return client.post_json("/api/generate", body)


# --- without Stripe keys ------------------------------------------------------------------
def test_a_price_changed_in_the_admin_gets_a_new_stripe_price(
    fake: FakeStripe, priced: dict[str, str]
) -> None:
    """`stripe_prices` called a stored id "exists" whatever its amount, so after the admin
    raised Starter to $24.99 Checkout kept billing $19.99 while the plans page said $24.99. A
    price of another amount, or an archived one, is now replaced (and named)."""
    Plan.objects.filter(slug="starter").update(price_cents=2499)
    old = priced["starter"]
    dry = payments.ensure_prices(dry_run=True)
    assert f"starter: would create a price of 2499 cents, replacing {old} (1999 cents;" in (
        "\n".join(dry)
    )
    assert Plan.objects.get(slug="starter").stripe_price_id == old  # a dry run changes nothing
    payments.ensure_prices(dry_run=False)
    new = Plan.objects.get(slug="starter").stripe_price_id
    assert new != old and fake.objects["price"][new]["unit_amount"] == 2499
    assert f"starter: {new} (exists)" in payments.ensure_prices(dry_run=True)
    fake.objects["price"][priced["pro"]]["active"] = False  # archived in Stripe's dashboard
    lines = payments.ensure_prices(dry_run=False)
    assert any(line.startswith("pro: created ") and "(archived;" in line for line in lines)
    assert Plan.objects.get(slug="pro").stripe_price_id != priced["pro"]


def test_without_keys_the_plans_page_shows_plans_and_says_payments_are_off(
    settings: Any, owner: Any, owner_client: JSONClient
) -> None:
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = ""
    page = owner_client.get("/plans/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "doesn't take payments online yet" in html
    assert "Ask the studio's team: they can change your plan." in html
    assert "payments-off-staff" not in html  # the how-to is for the studio's team only
    staff_client = JSONClient()
    staff_client.force_login(make_user("team@example.com", is_staff=True, is_superuser=True))
    staff_page = staff_client.get("/plans/").content.decode()
    assert 'href="/admin/billing/subscription/">Subscriptions</a>' in staff_page
    for name in ("Free", "Starter", "Advanced", "Pro"):
        assert name in html
    settings.SUPPORT_EMAIL = "help@studio.example"
    html = owner_client.get("/plans/").content.decode()
    assert 'href="mailto:help@studio.example?subject=Change%20my%20ViewBait%20plan"' in html
    assert 'id="current-plan">Free<' in html
    balance = get_balance(owner)  # the header's credits badge, as on every page
    assert (
        f'<a id="credits" class="credits" href="/studio/credits/" data-credits="{balance}"' in html
    )
    # The Pro plan's YouTube tools, all three built: sold without "coming soon".
    assert "YouTube: analyse video, suggest concepts, channel consistency" in html
    assert "coming soon" not in html
    assert "Upgrade to" not in html and "Buy " not in html
    refused = owner_client.post("/plans/checkout/starter", {"operation_id": "b" * 32})
    assert refused.status_code == 302 and refused["Location"] == "/plans/"
    assert owner_client.post(WEBHOOK, b"{}", content_type="application/json").status_code == 400
    assert owner.subscription.plan.slug == "free"


def test_anonymous_plans_page_has_no_buttons(fake: FakeStripe, priced: Any, anon_client) -> None:
    html = anon_client.get("/plans/").content.decode()
    assert "Starter" in html and "Upgrade to" not in html and 'id="credits"' not in html
    assert anon_client.post("/plans/checkout/starter").status_code == 302  # to the login page


# --- upgrade through Checkout -------------------------------------------------------------
def test_upgrade_to_starter_through_checkout(
    fake: FakeStripe, priced: dict[str, str], owner: Any, owner_client: JSONClient
) -> None:
    assert generate(owner_client, "2K").json()["code"] == "plan_resolution_not_allowed"
    page = owner_client.get("/plans/").content.decode()
    assert "Upgrade to Starter" in page and "payments-off" not in page

    # The price comes from the Plan row: a price smuggled into the form is ignored.
    response = owner_client.post(
        "/plans/checkout/starter", {"operation_id": "c" * 32, "price": priced["pro"]}
    )
    url = response["Location"]
    session = fake.objects["checkout.session"][session_id(url)]
    assert session["mode"] == "subscription"
    assert session["_line_items"] == [{"price": priced["starter"], "quantity": 1}]
    assert session["client_reference_id"] == str(owner.pk)
    assert session["success_url"].startswith("http://testserver/billing/checkout/return?")
    assert session["cancel_url"] == "http://testserver/plans/?checkout=cancelled"
    sub = Subscription.objects.get(user=owner)
    assert session["customer"] == sub.stripe_customer_id
    assert fake.objects["customer"][sub.stripe_customer_id]["email"] == owner.email

    # A double submit of the same form is the same session, one customer (idempotency keys).
    again = owner_client.post(
        "/plans/checkout/starter", {"operation_id": "c" * 32, "price": priced["pro"]}
    )
    assert again["Location"] == url
    assert len(fake.objects["checkout.session"]) == 1
    assert len(fake.objects["customer"]) == 1
    posts = [(path, headers) for method, path, headers, _ in fake.requests if method == "POST"]
    assert posts and all(h["idempotency-key"].startswith("viewbait:") for _, h in posts), posts
    assert {h["idempotency-key"] for p, h in posts if p == "/v1/customers"} == {
        f"viewbait:customer:{owner.pk}"
    }

    events = fake.complete_checkout(session_id(url), deliver=False)
    assert [e["type"] for e in events] == [
        "customer.subscription.created",
        "invoice.paid",
        "checkout.session.completed",
    ]
    deliver(owner_client, fake, events)

    sub.refresh_from_db()
    remote = fake.objects["subscription"][sub.stripe_subscription_id]
    item = remote["items"]["data"][0]
    assert (sub.plan.slug, sub.status) == ("starter", "active")
    assert sub.current_period_start == dt.datetime.fromtimestamp(
        item["current_period_start"], dt.UTC
    )
    assert sub.current_period_end == dt.datetime.fromtimestamp(item["current_period_end"], dt.UTC)
    assert effective_plan(owner).slug == "starter"
    # The Free period's unused 10 expire; the paid period's 100 come with its invoice.
    entries = list(CreditLedgerEntry.objects.filter(user=owner).order_by("id"))
    assert [(e.kind, e.amount) for e in entries] == [
        ("grant", 10),
        ("expiry", -10),
        ("grant", 100),
    ]
    # Said as what happened: the Free period did not end, Starter's credits took its place.
    assert entries[1].reason == "Unused Free plan credits, replaced by the Starter plan's"
    invoice_id = next(e["data"]["object"]["id"] for e in events if e["type"] == "invoice.paid")
    assert entries[-1].idempotency_key == f"grant:invoice:{invoice_id}"
    assert get_balance(owner) == 100 == ledger_sum(owner)
    assert StripeEvent.objects.count() == 3

    response = generate(owner_client, "2K")
    assert response.status_code == 202, response.content
    assert response.json()["credits_remaining"] == 98

    back = owner_client.get(f"/billing/checkout/return?session_id={session_id(url)}", follow=True)
    assert back.redirect_chain[-1][0] == "/studio/"
    assert "you are on the Starter plan" in back.content.decode()
    assert get_balance(owner) == 98  # the return applied nothing twice

    plans = owner_client.get("/plans/").content.decode()
    assert 'id="current-plan">Starter<' in plans
    assert "Renews" in plans and f"{sub.current_period_end:%-d %b %Y}" in plans
    assert "Manage billing" in plans and "Upgrade to" not in plans


def test_return_from_checkout_applies_the_plan_before_the_webhook(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    url = start_checkout(owner_client, "starter")
    fake.complete_checkout(session_id(url), deliver=False)  # webhooks still on their way
    back = owner_client.get(f"/billing/checkout/return?session_id={session_id(url)}")
    assert back.status_code == 302 and back["Location"] == "/studio/"
    assert effective_plan(owner).slug == "starter"
    assert generate(owner_client, "2K").status_code == 202


def test_another_users_checkout_session_is_404(
    fake: FakeStripe, priced: Any, owner_client: JSONClient, other_client: JSONClient, other: Any
) -> None:
    url = start_checkout(owner_client, "starter")
    fake.complete_checkout(session_id(url), deliver=False)
    response = other_client.get(f"/billing/checkout/return?session_id={session_id(url)}")
    assert response.status_code == 404
    assert effective_plan(other).slug == "free"


def test_a_subscriber_is_sent_to_the_portal_not_a_second_checkout(
    fake: FakeStripe, priced: dict[str, str], owner: Any, owner_client: JSONClient
) -> None:
    events = subscribe(owner_client, fake, "starter")
    # Stripe knows before its webhooks reach us: the second checkout already goes to the portal.
    url = start_checkout(owner_client, "advanced", operation_id="d" * 32)
    assert url.startswith(f"{fake.base_url}/portal/bps_"), url
    deliver(owner_client, fake, events)
    url = start_checkout(owner_client, "pro", operation_id="e" * 32)
    assert url.startswith(f"{fake.base_url}/portal/bps_"), url
    portal = fake.objects["billing_portal.session"][session_id(url)]
    assert portal["return_url"] == "http://testserver/plans/"
    # Straight to the confirmation of the plan asked for.
    assert portal["flow"]["type"] == "subscription_update_confirm"
    assert portal["flow"]["subscription_update_confirm"]["items"][0]["price"] == priced["pro"]
    assert len(fake.objects["checkout.session"]) == 1
    assert len(fake.objects["subscription"]) == 1


def test_a_second_tab_s_checkout_expires_the_first_so_one_plan_is_billed_once(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    first = start_checkout(owner_client, "starter", operation_id="1" * 32)
    again = start_checkout(owner_client, "starter", operation_id="1" * 32)  # a double click
    assert (
        again == first and fake.objects["checkout.session"][session_id(first)]["status"] == "open"
    )
    second = start_checkout(owner_client, "advanced", operation_id="2" * 32)  # another tab
    assert fake.objects["checkout.session"][session_id(first)]["status"] == "expired"
    with pytest.raises(StripeError, match="no longer active"):
        fake.complete_checkout(session_id(first), deliver=False)
    deliver(owner_client, fake, fake.complete_checkout(session_id(second), deliver=False))
    live = [s for s in fake.objects["subscription"].values() if s["status"] not in payments.ENDED]
    assert len(live) == 1
    assert effective_plan(owner).slug == "advanced"


def test_two_tabs_checking_out_at_once_leave_the_newer_session_open(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient, monkeypatch: Any
) -> None:
    """Both sessions are made before either request looks for the other (their Stripe calls
    interleave): each expired the other's, and neither could be paid."""
    deferred: list[dict[str, Any]] = []
    expire = payments._expire_other_checkouts
    monkeypatch.setattr(payments, "_expire_other_checkouts", lambda **call: deferred.append(call))
    first = start_checkout(owner_client, "starter", operation_id="1" * 32)
    fake.clock_offset += 1
    second = start_checkout(owner_client, "advanced", operation_id="2" * 32)
    for call in reversed(deferred):
        expire(**call)
    sessions = fake.objects["checkout.session"]
    assert sessions[session_id(first)]["status"] == "expired"
    assert sessions[session_id(second)]["status"] == "open"


def test_an_incomplete_subscription_is_not_followed_when_the_linked_one_ends(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    """Its first payment never went through: the creator is on Free, not on a plan due."""
    deliver(owner_client, fake, subscribe(owner_client, fake, "starter"))
    customer = Subscription.objects.get(user=owner).stripe_customer_id
    outside = fake.create_checkout_session(
        {
            "mode": "subscription",
            "customer": customer,
            "success_url": "http://testserver/",
            "line_items": [{"price": Plan.objects.get(slug="advanced").stripe_price_id}],
        }
    )
    fake.complete_checkout(outside["id"], deliver=False)
    unpaid = next(
        s
        for s in fake.objects["subscription"].values()
        if s["customer"] == customer
        and s["id"] != Subscription.objects.get(user=owner).stripe_subscription_id
    )
    unpaid["status"] = "incomplete"
    linked = Subscription.objects.get(user=owner).stripe_subscription_id
    deliver(owner_client, fake, fake.cancel_now(linked, deliver=False))
    row = Subscription.objects.get(user=owner)
    assert (row.plan.slug, row.status, row.stripe_subscription_id) == ("free", "active", "")


def test_when_the_linked_subscription_ends_a_second_one_still_billing_is_followed(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    """Two live subscriptions (one made outside the studio, e.g. in Stripe's dashboard): the
    creator cancels the one we follow; the other still bills, so the plan stays."""
    deliver(owner_client, fake, subscribe(owner_client, fake, "starter"))
    customer = Subscription.objects.get(user=owner).stripe_customer_id
    fake.clock_offset = 5 * 24 * 3600  # five days later
    outside = fake.create_checkout_session(
        {
            "mode": "subscription",
            "customer": customer,
            "success_url": "http://testserver/",
            "line_items": [{"price": Plan.objects.get(slug="advanced").stripe_price_id}],
        }
    )
    deliver(owner_client, fake, fake.complete_checkout(outside["id"], deliver=False))
    linked = Subscription.objects.get(user=owner).stripe_subscription_id
    deliver(owner_client, fake, fake.cancel_now(linked, deliver=False))
    row = Subscription.objects.get(user=owner)
    still = [s for s in fake.objects["subscription"].values() if s["status"] not in payments.ENDED]
    assert [s["id"] for s in still] == [row.stripe_subscription_id]
    assert effective_plan(owner).slug == "starter"
    # Following Advanced expired Starter's unused credits; Starter's paid period gets them back.
    assert get_balance(owner) == Plan.objects.get(slug="starter").monthly_credits


def _second_subscription(fake: FakeStripe, owner: Any, plan: str) -> list[dict[str, Any]]:
    """A second subscription to `plan` for the owner's Stripe customer, bought outside the
    studio (Stripe's dashboard, a payment link) and paid; its events, not yet delivered."""
    session = fake.create_checkout_session(
        {
            "mode": "subscription",
            "customer": Subscription.objects.get(user=owner).stripe_customer_id,
            "success_url": "http://testserver/",
            "line_items": [{"price": Plan.objects.get(slug=plan).stripe_price_id}],
        }
    )
    return fake.complete_checkout(session["id"], deliver=False)


def starter_then_advanced(
    owner_client: JSONClient, fake: FakeStripe, owner: Any
) -> tuple[list[dict[str, Any]], str, str]:
    """(Starter's events, Starter's id, Advanced's id): Starter subscribed in the studio, then
    Advanced bought outside it five days later, both delivered."""
    older_events = subscribe(owner_client, fake, "starter")
    deliver(owner_client, fake, older_events)
    fake.clock_offset = 5 * 24 * 3600
    newer_events = _second_subscription(fake, owner, "advanced")
    deliver(owner_client, fake, newer_events)
    return (
        older_events,
        stripe_subscription_id(older_events),
        stripe_subscription_id(newer_events),
    )


def test_an_event_of_the_older_of_two_live_subscriptions_does_not_switch_the_account(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    """Starter, then Advanced bought outside the studio five days later: the account follows
    Advanced, the newer. Any later event of Starter (here its cancellation at the period end,
    set in the dashboard; then its renewal) switched the account back to Starter and expired
    the period's Advanced credits, though both still bill. It is now recorded as ignored."""
    older_events, older, newer = starter_then_advanced(owner_client, fake, owner)
    row = Subscription.objects.get(user=owner)
    assert (row.plan.slug, row.stripe_subscription_id) == ("advanced", newer)
    balance, entries = get_balance(owner), CreditLedgerEntry.objects.count()
    assert balance == 300

    cancel = fake.set_cancel_at_period_end(older, True, deliver=False)
    resumed = fake.set_cancel_at_period_end(older, False, deliver=False)
    renewal = fake.renew(older, deliver=False)
    deliver(owner_client, fake, cancel + resumed + renewal)
    deliver(owner_client, fake, [resent(older_events[0], "evt_older_created_again")])
    row = Subscription.objects.get(user=owner)
    assert (row.plan.slug, row.status, row.stripe_subscription_id) == ("advanced", "active", newer)
    assert not row.cancel_at_period_end
    assert (get_balance(owner), CreditLedgerEntry.objects.count()) == (balance, entries)
    assert StripeEvent.objects.get(event_id=cancel[0]["id"]).outcome == (
        f"ignored: {older} is older than the linked {newer}, which bills"
    )
    assert StripeEvent.objects.get(event_id=renewal[1]["id"]).outcome == (
        f"ignored: {older} is older than the linked {newer}, which bills; "
        "no grant: the invoice's period is not the current one"
    )


def test_two_live_subscriptions_events_in_any_order_follow_the_newer(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    """The older subscription's events arrive after the newer one's (a first delivery failed,
    Stripe retried later): the account stays on the newer one, as in the other order."""
    payments.ensure_customer(user=owner)
    older_events = _second_subscription(fake, owner, "starter")
    fake.clock_offset = 5 * 24 * 3600
    newer_events = _second_subscription(fake, owner, "advanced")
    deliver(owner_client, fake, newer_events + older_events)
    row = Subscription.objects.get(user=owner)
    newer = stripe_subscription_id(newer_events)
    assert (row.plan.slug, row.stripe_subscription_id) == ("advanced", newer)
    assert get_balance(owner) == 300 == ledger_sum(owner)


@pytest.mark.parametrize("older_first", [True, False], ids=["older-first", "deleted-first"])
def test_the_newer_of_two_subscriptions_cancelled_gives_the_older_s_credits_in_any_order(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient, older_first: bool
) -> None:
    """Starter, then Advanced (followed, the newer); Advanced is cancelled at once in Stripe.
    Its deleted event relinks to Starter and grants Starter's credits. An event of Starter (a
    re-sent created event) arriving before that deleted event found the linked Advanced no
    longer billing and followed Starter without the relink: the period rolled (Advanced's
    unused credits expired) and nothing was granted, and the late deleted event was then
    "not this account's": balance 0 in that order, 100 in the other. Both orders now give
    Starter with its 100 credits."""
    older_events, older, newer = starter_then_advanced(owner_client, fake, owner)
    assert Subscription.objects.get(user=owner).stripe_subscription_id == newer

    deleted = fake.cancel_now(newer, deliver=False)
    again = [resent(older_events[0], "evt_older_created_again")]
    deliver(owner_client, fake, again + deleted if older_first else deleted + again)
    row = Subscription.objects.get(user=owner)
    assert (row.plan.slug, row.status, row.stripe_subscription_id) == ("starter", "active", older)
    assert get_balance(owner) == 100 == ledger_sum(owner)
    relinked = CreditLedgerEntry.objects.filter(
        idempotency_key__startswith=f"grant:relink:{older}:"
    )
    assert relinked.count() == 1
    late = StripeEvent.objects.get(event_id=(deleted if older_first else again)[0]["id"])
    assert late.outcome == (
        f"ignored: canceled subscription {newer} is not this account's"
        if older_first
        else "starter active"
    )


def test_a_second_subscription_that_does_not_bill_is_not_followed(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    """A newer subscription whose first payment has not gone through (`incomplete`): the
    creator still pays for the linked one, so its plan stays; once the newer one bills, it is
    followed."""
    deliver(owner_client, fake, subscribe(owner_client, fake, "starter"))
    linked = Subscription.objects.get(user=owner).stripe_subscription_id
    fake.clock_offset = 5 * 24 * 3600
    events = _second_subscription(fake, owner, "advanced")
    newer = stripe_subscription_id(events)
    fake.objects["subscription"][newer]["status"] = "incomplete"
    deliver(owner_client, fake, events[:1])
    row = Subscription.objects.get(user=owner)
    assert (row.plan.slug, row.status, row.stripe_subscription_id) == ("starter", "active", linked)
    assert StripeEvent.objects.get(event_id=events[0]["id"]).outcome == (
        f"ignored: {newer} is incomplete, unlike the linked {linked}, which bills"
    )
    fake.objects["subscription"][newer]["status"] = "active"
    deliver(owner_client, fake, events[1:])
    row = Subscription.objects.get(user=owner)
    assert (row.plan.slug, row.status, row.stripe_subscription_id) == ("advanced", "active", newer)
    assert get_balance(owner) == 300 == ledger_sum(owner)


def test_unknown_free_or_unpriced_plans_are_not_for_sale(
    fake: FakeStripe, priced: Any, owner_client: JSONClient
) -> None:
    for slug in ("free", "platinum"):
        response = owner_client.post(f"/plans/checkout/{slug}", {"operation_id": "f" * 32})
        assert response["Location"] == "/plans/"
    assert fake.objects["checkout.session"] == {}


# --- exactly once, any order ----------------------------------------------------------------
def test_the_same_event_twice_changes_nothing_the_second_time(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    events = subscribe(owner_client, fake, "starter")
    deliver(owner_client, fake, events)
    balance, rows = get_balance(owner), CreditLedgerEntry.objects.count()
    invoice_paid = next(e for e in events if e["type"] == "invoice.paid")
    for _ in range(2):
        assert post_event(owner_client, fake, invoice_paid).status_code == 200
    assert (get_balance(owner), CreditLedgerEntry.objects.count()) == (balance, rows)
    assert StripeEvent.objects.filter(event_id=invoice_paid["id"]).count() == 1

    # The same invoice again under a new event id (Stripe re-sends): still one grant.
    again = resent(invoice_paid, "evt_resent_invoice_paid")
    assert post_event(owner_client, fake, again).status_code == 200
    assert (get_balance(owner), CreditLedgerEntry.objects.count()) == (balance, rows)
    assert StripeEvent.objects.filter(event_id="evt_resent_invoice_paid").exists()


# --- the plans page's portal buttons: deep links (Stripe's portal flows) -------------------
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None


def fake_page(url: str, *, post: bool = False) -> tuple[int, str, str]:
    """GET (or POST, as its form does) one of the fake's hosted pages: status, Location, body."""
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(
        url, data=b"" if post else None, method="POST" if post else "GET"
    )
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, "", response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", ""), exc.read().decode()


def portal_button(client: JSONClient, plan: str, operation_id: str = "b" * 32) -> Any:
    return client.post("/billing/portal", {"operation_id": operation_id, "plan": plan})


def test_switch_to_pro_opens_the_portal_on_pro_s_confirmation_and_confirming_switches(
    fake: FakeStripe, priced: dict[str, str], owner: Any, owner_client: JSONClient
) -> None:
    deliver(owner_client, fake, subscribe(owner_client, fake, "starter"))
    sub = Subscription.objects.get(user=owner)
    item = fake.objects["subscription"][sub.stripe_subscription_id]["items"]["data"][0]
    page = owner_client.get("/plans/").content.decode()
    assert '<input type="hidden" name="plan" value="pro">' in page

    response = portal_button(owner_client, "pro")
    assert response.status_code == 302, response.content
    url = response["Location"]
    assert url.startswith(f"{fake.base_url}/portal/bps_"), url
    portal = fake.objects["billing_portal.session"][session_id(url)]
    assert portal["flow"]["type"] == "subscription_update_confirm"
    assert (
        portal["flow"]["subscription_update_confirm"]["subscription"] == sub.stripe_subscription_id
    )
    assert portal["flow"]["subscription_update_confirm"]["items"] == [
        {"id": item["id"], "price": priced["pro"], "quantity": None}
    ]
    assert portal["flow"]["after_completion"]["redirect"] == {
        "return_url": "http://testserver/plans/"
    }
    assert portal["return_url"] == "http://testserver/plans/"

    # Stripe's page opens on the confirmation of Pro, not on the portal's home.
    status, _, body = fake_page(url)
    assert status == 200 and "Confirm your update" in body
    assert "New plan: ViewBait Pro" in body and "Current plan: ViewBait Starter" in body
    assert "<select" not in body
    status, location, _ = fake_page(f"{url}/confirm", post=True)
    assert (status, location) == (303, "http://testserver/plans/")
    deliver(owner_client, fake, fake.events_of("customer.subscription.updated")[-1:])
    assert Subscription.objects.get(user=owner).plan.slug == "pro"
    assert effective_plan(owner).slug == "pro"
    # The flow is done: the same link is the portal's home now.
    assert "Fake Customer Portal" in fake_page(url)[2]


def test_cancel_paid_plan_opens_the_portal_on_the_cancellation(
    fake: FakeStripe, priced: dict[str, str], owner: Any, owner_client: JSONClient
) -> None:
    deliver(owner_client, fake, subscribe(owner_client, fake, "starter"))
    sub = Subscription.objects.get(user=owner)
    page = owner_client.get("/plans/").content.decode()
    assert '<input type="hidden" name="plan" value="free">' in page
    assert "Cancel paid plan" in page

    url = portal_button(owner_client, "free")["Location"]
    portal = fake.objects["billing_portal.session"][session_id(url)]
    assert portal["flow"]["type"] == "subscription_cancel"
    assert portal["flow"]["subscription_cancel"]["subscription"] == sub.stripe_subscription_id
    assert portal["flow"]["after_completion"]["type"] == "redirect"

    status, _, body = fake_page(url)
    assert status == 200 and "Cancel your plan" in body
    assert fake_page(f"{url}/confirm", post=True)[:2] == (303, "http://testserver/plans/")
    deliver(owner_client, fake, fake.events_of("customer.subscription.updated")[-1:])
    sub.refresh_from_db()
    assert (sub.plan.slug, sub.cancel_at_period_end) == ("starter", True)

    # Already cancelling: the button opens the portal's home (where the plan can be resumed).
    url = portal_button(owner_client, "free", operation_id="c" * 32)["Location"]
    assert fake.objects["billing_portal.session"][session_id(url)]["flow"] is None


def test_manage_billing_and_a_creator_without_a_subscription_get_the_portal_s_home(
    fake: FakeStripe, priced: dict[str, str], owner: Any, owner_client: JSONClient
) -> None:
    events = subscribe(owner_client, fake, "starter")
    deliver(owner_client, fake, events)
    url = owner_client.post("/billing/portal", {"operation_id": "d" * 32})["Location"]
    assert fake.objects["billing_portal.session"][session_id(url)]["flow"] is None

    deliver(owner_client, fake, fake.cancel_now(stripe_subscription_id(events), deliver=False))
    assert Subscription.objects.get(user=owner).stripe_subscription_id == ""
    url = portal_button(owner_client, "pro", operation_id="e" * 32)["Location"]
    assert url.startswith(f"{fake.base_url}/portal/bps_"), url
    assert fake.objects["billing_portal.session"][session_id(url)]["flow"] is None


def test_a_plan_the_portal_cannot_switch_to_is_refused(
    fake: FakeStripe, priced: dict[str, str], owner: Any, owner_client: JSONClient
) -> None:
    deliver(owner_client, fake, subscribe(owner_client, fake, "starter"))
    Plan.objects.filter(slug="advanced").update(stripe_price_id="")
    assert "Switch to Advanced" not in owner_client.get("/plans/").content.decode()
    for plan in ("platinum", "advanced", "<b>"):
        response = portal_button(owner_client, plan)
        assert response.status_code == 400, (plan, response.content)
        assert response.json() == {
            "error": "That plan cannot be chosen here.",
            "code": "unknown_plan",
        }
    assert fake.objects["billing_portal.session"] == {}


# --- the fake's portal flows (flow_data) ----------------------------------------------------
def _confirm(sub: str, items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    part: dict[str, Any] = {"subscription": sub} if sub else {}
    if items is not None:
        part["items"] = items
    return {"type": "subscription_update_confirm", "subscription_update_confirm": part}


def _cancel(sub: str, **extra: Any) -> dict[str, Any]:
    return {"type": "subscription_cancel", "subscription_cancel": {"subscription": sub}, **extra}


# Each: flow_data from (subscription id, its item's id, Pro's price id), and the param named.
BAD_FLOWS: list[tuple[Callable[[str, str, str], dict[str, Any]], str]] = [
    (lambda s, i, p: {"type": "subscription_upgrade"}, "flow_data[type]"),
    (lambda s, i, p: {"type": "subscription_cancel"}, "flow_data[subscription_cancel]"),
    (lambda s, i, p: _cancel("sub_nope"), "flow_data[subscription_cancel][subscription]"),
    (
        lambda s, i, p: _confirm("", [{"id": i, "price": p}]),
        "flow_data[subscription_update_confirm][subscription]",
    ),
    (lambda s, i, p: _confirm(s), "flow_data[subscription_update_confirm][items]"),
    (
        lambda s, i, p: _confirm(s, [{"price": p}]),
        "flow_data[subscription_update_confirm][items][0][id]",
    ),
    (
        lambda s, i, p: _confirm(s, [{"id": "si_nope", "price": p}]),
        "flow_data[subscription_update_confirm][items][0][id]",
    ),
    (
        lambda s, i, p: _confirm(s, [{"id": i, "price": "price_nope"}]),
        "flow_data[subscription_update_confirm][items][0][price]",
    ),
    (
        lambda s, i, p: _cancel(s, after_completion={"type": "redirect"}),
        "flow_data[after_completion][redirect]",
    ),
    (
        lambda s, i, p: _cancel(s, after_completion={"type": "elsewhere"}),
        "flow_data[after_completion][type]",
    ),
]


@pytest.mark.parametrize(("flow", "param"), BAD_FLOWS)
def test_the_fake_refuses_flow_data_stripe_refuses(
    fake: FakeStripe,
    priced: dict[str, str],
    owner_client: JSONClient,
    flow: Callable[[str, str, str], dict[str, Any]],
    param: str,
) -> None:
    """An unknown flow type, a missing field or one naming nothing is Stripe's 400
    invalid_request_error naming the param (through stripe-python, as the app calls it); the
    same flow with its fields in place is a session."""
    sub_id = stripe_subscription_id(subscribe(owner_client, fake, "starter"))
    remote = fake.objects["subscription"][sub_id]
    item_id = remote["items"]["data"][0]["id"]
    sessions = payments.client().v1.billing_portal.sessions
    # Any: flow_data built as the app builds it (a dict), not as stripe-python's TypedDict.
    params: Any = {
        "customer": remote["customer"],
        "flow_data": flow(sub_id, item_id, priced["pro"]),
    }
    with pytest.raises(stripe.InvalidRequestError) as raised:
        sessions.create(params=params)
    assert raised.value.http_status == 400
    assert raised.value.error is not None
    assert (raised.value.error.type, raised.value.error.param) == ("invalid_request_error", param)
    assert fake.objects["billing_portal.session"] == {}

    for good in (_confirm(sub_id, [{"id": item_id, "price": priced["pro"]}]), _cancel(sub_id)):
        params = {"customer": remote["customer"], "flow_data": good}
        session = sessions.create(params=params)
        assert session.flow is not None and session.flow.type == good["type"]


@pytest.mark.parametrize("order", ["as_sent", "updated_first"])
def test_subscription_updated_before_checkout_completed(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient, order: str
) -> None:
    """The creator upgrades in the portal right after paying; Stripe's events arrive late and
    shuffled. Every event reads the subscription's current state, so the order is irrelevant."""
    events = subscribe(owner_client, fake, "starter")
    sub_id = stripe_subscription_id(events)
    events += fake.switch_price(sub_id, priced["advanced"], deliver=False)
    if order == "updated_first":
        by_type = {e["type"]: e for e in events}
        events = [
            by_type["customer.subscription.updated"],
            by_type["checkout.session.completed"],
            by_type["invoice.paid"],
            by_type["customer.subscription.created"],
        ]
    deliver(owner_client, fake, events)
    sub = Subscription.objects.get(user=owner)
    assert (sub.plan.slug, sub.status, sub.stripe_subscription_id) == ("advanced", "active", sub_id)
    assert get_balance(owner) == 300 == ledger_sum(owner)
    assert CreditLedgerEntry.objects.filter(user=owner, kind="expiry").count() == 1
    assert generate(owner_client, "4K").status_code == 202


def test_upgrade_mid_period_grants_the_difference_once(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    events = subscribe(owner_client, fake, "starter")
    deliver(owner_client, fake, events)
    debit_credits(user=owner, amount=30, idempotency_key="spent", reason="test")
    sub_id = stripe_subscription_id(events)

    upgrade = fake.switch_price(sub_id, priced["advanced"], deliver=False)
    deliver(owner_client, fake, upgrade)
    assert get_balance(owner) == 70 + 200  # Advanced's 300 minus Starter's 100, at once
    deliver(owner_client, fake, fake.switch_price(sub_id, priced["starter"], deliver=False))
    assert get_balance(owner) == 270  # a downgrade takes nothing back
    deliver(owner_client, fake, fake.switch_price(sub_id, priced["advanced"], deliver=False))
    assert get_balance(owner) == 270  # this period was already granted Advanced's credits
    deliver(owner_client, fake, fake.switch_price(sub_id, priced["pro"], deliver=False))
    assert get_balance(owner) == 270 + 400
    assert effective_plan(owner).slug == "pro"


def test_the_renewal_after_a_mid_period_upgrade_grants_the_new_periods_credits(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    """The renewal invoice after a plan change mid-period lists that change's prorations first
    (Stripe's pending invoice items), whose period starts at the change: the grant looked only
    at the first line, took the invoice for another period's and granted nothing, so the
    creator paid for the new month and got none of its credits."""
    events = subscribe(owner_client, fake, "starter")
    deliver(owner_client, fake, events)
    sub_id = stripe_subscription_id(events)
    fake.clock_offset = 10 * 24 * 3600
    deliver(owner_client, fake, fake.switch_price(sub_id, priced["advanced"], deliver=False))
    assert get_balance(owner) == 300

    renewal = fake.renew(sub_id, deliver=False)
    invoice = renewal[-1]["data"]["object"]
    assert [line["amount"] < 0 for line in invoice["lines"]["data"]] == [True, False, False]
    deliver(owner_client, fake, renewal)
    grant = CreditLedgerEntry.objects.get(idempotency_key=f"grant:invoice:{invoice['id']}")
    assert grant.amount == 300
    assert get_balance(owner) == 300 == ledger_sum(owner)


def test_a_renewal_whose_new_period_is_past_the_first_page_of_lines_grants_its_credits(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    """Stripe embeds only the first 10 lines of an invoice (`has_more` says there are more), and
    lists a period's plan changes (two proration lines each) before the new period's line: after
    five changes the new period's line was on the second page, the grant never saw it and the
    creator paid for the month without its credits. The rest of the lines are now read through
    the SDK's auto-paging of `GET /v1/invoices/{id}/lines`."""
    events = subscribe(owner_client, fake, "starter")
    deliver(owner_client, fake, events)
    sub_id = stripe_subscription_id(events)
    fake.clock_offset = 10 * 24 * 3600
    for plan in ("advanced", "starter", "advanced", "starter", "advanced"):
        deliver(owner_client, fake, fake.switch_price(sub_id, priced[plan], deliver=False))
    renewal = fake.renew(sub_id, deliver=False)
    invoice = renewal[-1]["data"]["object"]
    assert len(invoice["lines"]["data"]) == 10 and invoice["lines"]["has_more"]
    assert invoice["lines"]["total_count"] == 11
    assert "_lines" not in invoice  # the fake's own bookkeeping stays out of events
    stripe_client = payments.client()
    first_page = stripe_client.v1.invoices.line_items.list(invoice["id"])
    assert [line.id for line in first_page.data] == [
        line["id"] for line in invoice["lines"]["data"]
    ]
    assert len(list(first_page.auto_paging_iter())) == 11

    deliver(owner_client, fake, renewal)
    grant = CreditLedgerEntry.objects.get(idempotency_key=f"grant:invoice:{invoice['id']}")
    assert grant.amount == 300
    assert get_balance(owner) == 300 == ledger_sum(owner)
    paged = [
        params
        for method, path, _, params in fake.requests
        if method == "GET" and path == f"/v1/invoices/{invoice['id']}/lines"
    ]
    assert {"limit": "100", "starting_after": invoice["lines"]["data"][-1]["id"]} in paged


def test_a_subscription_at_a_replaced_price_still_renews_with_its_plan_s_credits(
    fake: FakeStripe, priced: dict[str, str], owner: Any, owner_client: JSONClient
) -> None:
    """Starter's price raised in the admin and `stripe_prices --commit` run: Stripe keeps billing
    existing subscriptions at the old price, which no plan's `stripe_price_id` names any more.
    Their renewals were answered "ignored: no plan has price ...": the creator paid $19.99 and
    got no credits. The old price still names its plan (its metadata `slug`)."""
    events = subscribe(owner_client, fake, "starter")
    deliver(owner_client, fake, events)
    debit_credits(user=owner, amount=100, idempotency_key="spent", reason="test")
    Plan.objects.filter(slug="starter").update(price_cents=2499)
    payments.ensure_prices(dry_run=False)
    assert Plan.objects.get(slug="starter").stripe_price_id != priced["starter"]

    renewal = fake.renew(stripe_subscription_id(events), deliver=False)
    item = renewal[0]["data"]["object"]["items"]["data"][0]
    assert (item["price"]["id"], item["price"]["unit_amount"]) == (priced["starter"], 1999)
    deliver(owner_client, fake, renewal)
    sub = Subscription.objects.get(user=owner)
    assert (sub.plan.slug, sub.status) == ("starter", "active")
    assert get_balance(owner) == 100 == ledger_sum(owner)
    outcome = StripeEvent.objects.get(event_id=renewal[1]["id"]).outcome
    assert outcome == "starter active; granted 100"


def dashboard_subscription(
    fake: FakeStripe, owner: Any, name: str, cents: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(price, events): a monthly price made in Stripe's dashboard (no `slug` metadata: no plan
    has it) and the events of `owner` subscribing to it through a Checkout made outside the
    studio, not yet delivered."""
    product = fake.create_product({"name": name})
    price = fake.create_price(
        {"product": product["id"], "unit_amount": cents, "recurring": {"interval": "month"}}
    )
    outside = fake.create_checkout_session(
        {
            "mode": "subscription",
            "customer": payments.ensure_customer(user=owner),
            "success_url": "http://testserver/",
            "line_items": [{"price": price["id"]}],
        }
    )
    return price, fake.complete_checkout(outside["id"], deliver=False)


def test_a_subscription_at_a_price_no_plan_has_is_sent_again_not_ignored(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient, caplog: Any
) -> None:
    """A price made in Stripe's dashboard (no `slug` metadata) and sold there: the creator pays,
    so its events are not recorded as "ignored" (Stripe would never send them again). The webhook
    answers 503 `event_not_applied`, records nothing and logs an error; once the price names a
    plan, Stripe's next delivery applies it."""
    price, events = dashboard_subscription(fake, owner, "Starter (dashboard)", 1999)
    for event in events:
        response = post_event(owner_client, fake, event)
        assert response.status_code == 503, (event["type"], response.content)
        assert response.json()["code"] == "event_not_applied"
    assert not StripeEvent.objects.exists()
    assert "which no plan has" in caplog.text and price["id"] in caplog.text
    assert Subscription.objects.get(user=owner).plan.slug == "free"

    Plan.objects.filter(slug="starter").update(stripe_price_id=price["id"])  # in the admin
    invalidate_plan_table()
    deliver(owner_client, fake, events)  # Stripe's next attempts
    sub = Subscription.objects.get(user=owner)
    assert (sub.plan.slug, sub.status) == ("starter", "active")
    assert get_balance(owner) == 100 == ledger_sum(owner)


@pytest.mark.parametrize("deleted_first", [True, False], ids=["deleted-first", "other-first"])
def test_the_linked_subscription_ended_while_another_bills_a_price_no_plan_has_goes_free(
    fake: FakeStripe,
    priced: Any,
    owner: Any,
    owner_client: JSONClient,
    caplog: Any,
    deleted_first: bool,
) -> None:
    """A subscription at a dashboard price no plan has (its events answered 503 so far), then
    Starter, followed; Starter is cancelled at once. Following the other one raised
    EventNotApplied: the deleted event answered 503 until Stripe gave up three days later, and
    the account stayed on Starter, active. The account now goes back to Free, an error is
    logged, and the event is applied (200), whichever comes first of Starter's deleted event and
    the other one's; the other one's own events still answer 503 while the account is free."""
    price, unknown_events = dashboard_subscription(fake, owner, "Legacy (dashboard)", 1499)
    fake.clock_offset = 5 * 24 * 3600
    starter_events = _second_subscription(fake, owner, "starter")
    deliver(owner_client, fake, starter_events)
    starter = stripe_subscription_id(starter_events)
    assert Subscription.objects.get(user=owner).stripe_subscription_id == starter
    assert get_balance(owner) == 100

    deleted = fake.cancel_now(starter, deliver=False)
    created_again = resent(unknown_events[0], "evt_unknown_created_again")
    if deleted_first:
        deliver(owner_client, fake, deleted)
        response = post_event(owner_client, fake, created_again)
        assert response.status_code == 503, response.content
        assert response.json()["code"] == "event_not_applied"
    else:
        deliver(owner_client, fake, [created_again, *deleted])
    row = Subscription.objects.get(user=owner)
    assert (row.plan.slug, row.status, row.stripe_subscription_id) == ("free", "active", "")
    free = Plan.objects.get(slug="free").monthly_credits
    assert get_balance(owner) == free == ledger_sum(owner)
    assert "which no plan has: back to Free" in caplog.text and price["id"] in caplog.text
    applied = StripeEvent.objects.get(
        event_id=(deleted[0] if deleted_first else created_again)["id"]
    )
    assert f"no plan has price {price['id']}" in applied.outcome


# --- lifecycle --------------------------------------------------------------------------------
def test_payment_failure_locks_4k_and_2k_at_once_and_recovery_unlocks_them(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient, no_job_cap: None
) -> None:
    events = subscribe(owner_client, fake, "advanced")
    deliver(owner_client, fake, events)
    assert generate(owner_client, "4K").status_code == 202
    assert "Update payment method" not in owner_client.get("/studio/").content.decode()

    failed = fake.renew(stripe_subscription_id(events), pay=False, deliver=False)
    assert [e["type"] for e in failed] == [
        "customer.subscription.updated",
        "invoice.payment_failed",
    ]
    post_event(owner_client, fake, failed[1])  # the first event alone is enough
    sub = Subscription.objects.get(user=owner)
    assert (sub.plan.slug, sub.status) == ("advanced", "past_due")
    for resolution in ("4K", "2K"):
        refused = generate(owner_client, resolution)
        assert refused.status_code == 403, refused.content
        assert refused.json()["code"] == "plan_resolution_not_allowed"
    assert generate(owner_client, "1K").status_code == 202  # Free limits (and credits) apply
    studio = owner_client.get("/studio/").content.decode()
    assert "Your last payment for the <strong>Advanced</strong> plan failed" in studio
    assert 'action="/billing/portal"' in studio
    assert "Update payment method" in owner_client.get("/plans/").content.decode()
    balance_while_due = get_balance(owner)
    deliver(owner_client, fake, failed[:1])  # the other event of the pair changes nothing more
    assert get_balance(owner) == balance_while_due

    # The card is fixed in the portal: the invoice is paid, the period's credits arrive, once.
    invoice_id = failed[1]["data"]["object"]["id"]
    recovered = fake.pay_invoice(invoice_id, deliver=False)
    deliver(owner_client, fake, recovered + recovered)
    assert Subscription.objects.get(user=owner).status == "active"
    assert generate(owner_client, "4K").status_code == 202
    assert generate(owner_client, "2K").status_code == 202
    assert "Update payment method" not in owner_client.get("/studio/").content.decode()
    # While the payment was due the period had Free's 10; the paid invoice tops it up to 300.
    grants = CreditLedgerEntry.objects.filter(idempotency_key=f"grant:invoice:{invoice_id}")
    assert [g.amount for g in grants] == [290]
    boundary = CreditLedgerEntry.objects.filter(user=owner, kind="expiry").latest("id")
    period = CreditLedgerEntry.objects.filter(user=owner, kind="grant", id__gt=boundary.id)
    assert sum(g.amount for g in period) == 300


def test_renewal_expires_unused_plan_credits_but_keeps_pack_credits(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    events = subscribe(owner_client, fake, "starter")
    deliver(owner_client, fake, events)
    debit_credits(user=owner, amount=40, idempotency_key="spent", reason="test")
    pack_url = owner_client.post("/plans/packs/credits-50", {"operation_id": "1" * 32})
    deliver(
        owner_client, fake, fake.complete_checkout(session_id(pack_url["Location"]), deliver=False)
    )
    assert get_balance(owner) == 60 + 50

    renewal = fake.renew(stripe_subscription_id(events), deliver=False)
    deliver(owner_client, fake, renewal)
    expiry = CreditLedgerEntry.objects.filter(user=owner, kind="expiry").latest("id")
    assert expiry.amount == -60  # the Starter credits left; the pack's 50 do not expire
    assert get_balance(owner) == 50 + 100 == ledger_sum(owner)
    sub = Subscription.objects.get(user=owner)
    item = fake.objects["subscription"][sub.stripe_subscription_id]["items"]["data"][0]
    assert sub.current_period_start == dt.datetime.fromtimestamp(
        item["current_period_start"], dt.UTC
    )

    # The monthly command leaves Stripe-billed subscriptions to Stripe's invoices.
    later = sub.current_period_end + dt.timedelta(days=1)
    assert grant_due_monthly_credits(now=later, dry_run=False) == 0
    assert get_balance(owner) == 150


def test_cancel_at_period_end_keeps_the_plan_then_free(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    events = subscribe(owner_client, fake, "starter")
    deliver(owner_client, fake, events)
    sub_id = stripe_subscription_id(events)
    period_end = Subscription.objects.get(user=owner).current_period_end
    debit_credits(user=owner, amount=25, idempotency_key="spent", reason="test")

    deliver(owner_client, fake, fake.set_cancel_at_period_end(sub_id, deliver=False))
    sub = Subscription.objects.get(user=owner)
    assert (sub.plan.slug, sub.status, sub.cancel_at_period_end) == ("starter", "active", True)
    assert "Ends (then Free)" in owner_client.get("/plans/").content.decode()
    assert generate(owner_client, "2K").status_code == 202  # paid until the period ends

    ended = fake.renew(sub_id, deliver=False)
    assert [e["type"] for e in ended] == ["customer.subscription.deleted"]
    deliver(owner_client, fake, ended)
    sub = Subscription.objects.get(user=owner)
    assert (sub.plan.slug, sub.status, sub.stripe_subscription_id) == ("free", "active", "")
    assert sub.stripe_customer_id  # the customer stays: one per user
    assert sub.current_period_start == period_end
    assert effective_plan(owner).slug == "free"
    assert generate(owner_client, "2K").json()["code"] == "plan_resolution_not_allowed"
    # 100 - 25 - 2 left of Starter expire; the Free period brings its 10.
    assert [e.amount for e in CreditLedgerEntry.objects.filter(user=owner).order_by("id")][-2:] == [
        -73,
        10,
    ]
    assert get_balance(owner) == 10
    # A late, stale "updated" (active) for the ended subscription changes nothing.
    deliver(owner_client, fake, events[:1])
    assert effective_plan(owner).slug == "free"
    # From now on the monthly command grants the Free plan as usual.
    assert grant_due_monthly_credits(now=sub.current_period_end, dry_run=False) == 1
    assert get_balance(owner) == 10


# --- credit packs -----------------------------------------------------------------------------
def test_credit_pack_bought_twice_with_the_same_session_replayed(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    page = owner_client.get("/plans/").content.decode()
    assert "Buy 50 credits" in page and "$9.99" in page
    first = owner_client.post("/plans/packs/credits-50", {"operation_id": "2" * 32})
    first_id = session_id(first["Location"])
    session = fake.objects["checkout.session"][first_id]
    assert session["mode"] == "payment"
    assert session["_line_items"] == [
        {"price": CreditPack.objects.get(slug="credits-50").stripe_price_id, "quantity": 1}
    ]
    paid = fake.complete_checkout(first_id, deliver=False)
    assert [e["type"] for e in paid] == ["checkout.session.completed"]
    deliver(owner_client, fake, paid + paid)
    assert get_balance(owner) == 60

    deliver(owner_client, fake, [resent(paid[0], "evt_same_session_again")])
    owner_client.get(f"/billing/checkout/return?session_id={first_id}")
    assert get_balance(owner) == 60

    second = owner_client.post("/plans/packs/credits-50", {"operation_id": "3" * 32})
    second_id = session_id(second["Location"])
    assert second_id != first_id
    deliver(owner_client, fake, fake.complete_checkout(second_id, deliver=False))
    assert get_balance(owner) == 110 == ledger_sum(owner)
    purchases = CreditPackPurchase.objects.filter(user=owner)
    assert sorted(p.status for p in purchases) == ["paid", "paid"]
    assert CreditLedgerEntry.objects.filter(user=owner, kind="purchase").count() == 2


def test_an_unpaid_or_unknown_pack_session_grants_nothing(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    response = owner_client.post("/plans/packs/credits-150", {"operation_id": "4" * 32})
    event = fake.complete_checkout(session_id(response["Location"]), deliver=False)[0]
    unpaid = resent(event, "evt_unpaid", payment_status="unpaid")
    unknown = resent(event, "evt_unknown", id="cs_test_not_ours")
    deliver(owner_client, fake, [unpaid, unknown])
    assert get_balance(owner) == 10


def test_a_pack_paid_by_a_delayed_method_is_granted_when_the_payment_succeeds(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    """A bank debit: the session completes unpaid, and `async_payment_succeeded` follows."""
    response = owner_client.post("/plans/packs/credits-50", {"operation_id": "4" * 32})
    completed = fake.complete_checkout(session_id(response["Location"]), deliver=False)[0]
    deliver(owner_client, fake, [resent(completed, "evt_pending", payment_status="unpaid")])
    assert get_balance(owner) == 10
    succeeded = resent(completed, "evt_paid", type="checkout.session.async_payment_succeeded")
    deliver(owner_client, fake, [succeeded, succeeded])
    assert get_balance(owner) == 60


def test_the_return_from_a_pack_paid_by_a_delayed_method_says_it_is_not_there_yet(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    """Back from Checkout with a bank debit still pending (the session complete, unpaid): the
    studio said "Payment received: your credits were added." while none were, for days."""
    response = owner_client.post("/plans/packs/credits-50", {"operation_id": "5" * 32})
    checkout = session_id(response["Location"])
    fake.complete_checkout(checkout, deliver=False)
    fake.objects["checkout.session"][checkout]["payment_status"] = "unpaid"
    back = owner_client.get(f"/billing/checkout/return?session_id={checkout}", follow=True)
    page = back.content.decode()
    assert "your credits were added" not in page
    assert "Your payment is being confirmed" in page
    assert get_balance(owner) == 10


# --- refunds and disputes ----------------------------------------------------------------------
def buy_pack(client: JSONClient, fake: FakeStripe, pack: str, operation_id: str) -> str:
    """Buy `pack` through Checkout, paid and delivered; returns the payment's charge id."""
    response = client.post(f"/plans/packs/{pack}", {"operation_id": operation_id})
    paid = fake.complete_checkout(session_id(response["Location"]), deliver=False)
    deliver(client, fake, paid)
    return str(fake.charge_of(payment_intent=paid[0]["data"]["object"]["payment_intent"])["id"])


def reversals(user: Any) -> list[tuple[int, str]]:
    rows = CreditLedgerEntry.objects.filter(user=user, kind="reversal").order_by("id")
    return list(rows.values_list("amount", "reason"))


def test_a_refunded_pack_takes_its_credits_back_once_per_refund(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    """A pack's payment refunded in two parts: each refund takes back its share of the pack's
    credits once (the event replayed, or sent again under another id, takes nothing more), and
    the two together take back the whole pack. (Refunds were not handled: the creator kept
    the credits of a pack they were paid back for.)"""
    charge_id = buy_pack(owner_client, fake, "credits-50", "5" * 32)
    assert get_balance(owner) == 60
    purchase = CreditPackPurchase.objects.get(user=owner)
    assert purchase.stripe_payment_intent_id == fake.objects["charge"][charge_id]["payment_intent"]

    half = fake.refund(charge_id, 500, deliver=False)  # of $9.99
    assert [e["type"] for e in half] == ["refund.created", "charge.refunded"]
    deliver(owner_client, fake, half + half + [resent(half[1], "evt_refunded_again")])
    assert get_balance(owner) == 60 - 25
    assert reversals(owner) == [(-25, "Credit pack refunded: 50 credits (25 of 50 credits)")]
    outcome = StripeEvent.objects.get(event_id=half[1]["id"]).outcome
    assert outcome == "credit pack refunded: -25"

    deliver(owner_client, fake, fake.refund(charge_id, deliver=False))  # the other 499 cents
    assert get_balance(owner) == 10 == ledger_sum(owner)
    assert [amount for amount, _ in reversals(owner)] == [-25, -25]
    refund_ids = {r["id"] for r in fake.objects["refund"].values()}
    keys = set(
        CreditLedgerEntry.objects.filter(kind="reversal").values_list("idempotency_key", flat=True)
    )
    assert keys == {f"reversal:refund:{i}" for i in refund_ids}


def test_a_refunded_pack_whose_credits_were_spent_takes_back_what_is_left(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    charge_id = buy_pack(owner_client, fake, "credits-50", "6" * 32)
    debit_credits(user=owner, amount=45, idempotency_key="spent", reason="test")
    deliver(owner_client, fake, fake.refund(charge_id, deliver=False))
    assert get_balance(owner) == 0 == ledger_sum(owner)
    assert reversals(owner) == [
        (-15, "Credit pack refunded: 50 credits (15 of 50: the rest was already spent)")
    ]


def test_a_refund_that_fails_later_gives_back_what_it_took_once(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    """A pack's refund counted while it was pending, then turned down by the card network:
    the creator kept the money, so the credits it took come back, once for the three events
    Stripe sends and their re-deliveries. (They stayed taken: the creator paid for credits
    they no longer had.) A later refund of the same charge then takes back its full share."""
    charge_id = buy_pack(owner_client, fake, "credits-50", "b" * 32)
    half = fake.refund(charge_id, 500, deliver=False)
    deliver(owner_client, fake, half)
    assert get_balance(owner) == 60 - 25
    refund_id = half[0]["data"]["object"]["id"]

    failed = fake.fail_refund(refund_id, deliver=False)
    assert [e["type"] for e in failed] == [
        "refund.updated",
        "charge.refund.updated",
        "refund.failed",
    ]
    deliver(owner_client, fake, failed + failed + [resent(failed[2], "evt_failed_again")])
    assert get_balance(owner) == 60 == ledger_sum(owner)
    returned = CreditLedgerEntry.objects.get(idempotency_key=f"reversal-failed:refund:{refund_id}")
    assert (returned.kind, returned.amount) == ("purchase", 25)
    assert returned.reason == "Credit pack refund failed: 50 credits (the credits are yours again)"
    outcomes = {e["type"]: StripeEvent.objects.get(event_id=e["id"]).outcome for e in failed}
    assert outcomes == {
        "refund.updated": "ignored",
        "charge.refund.updated": "credit pack refund failed: +25",
        "refund.failed": "credit pack refund failed: already given back",
    }

    # charge.refunded sent again, and a new refund of the whole charge: the failed refund counts
    # for nothing, the new one takes back the whole pack.
    deliver(owner_client, fake, [resent(half[1], "evt_refunded_late")])
    assert get_balance(owner) == 60
    deliver(owner_client, fake, fake.refund(charge_id, deliver=False))
    assert get_balance(owner) == 10 == ledger_sum(owner)


def test_a_refund_cancelled_after_it_was_counted_gives_back_what_it_took(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    """A pending refund cancelled before the money went out (`charge.refund.updated`, status
    `canceled`, no refund.failed): it had taken the credits while pending, and they stayed
    taken ("ignored: refund canceled") though the creator kept the money."""
    charge_id = buy_pack(owner_client, fake, "credits-50", "d" * 32)
    half = fake.refund(charge_id, 500, deliver=False)
    deliver(owner_client, fake, half)
    assert get_balance(owner) == 60 - 25
    cancelled = fake.fail_refund(half[0]["data"]["object"]["id"], deliver=False, canceled=True)
    deliver(owner_client, fake, cancelled + cancelled)
    assert get_balance(owner) == 60 == ledger_sum(owner)


def test_a_refund_that_fails_before_it_was_counted_gives_nothing(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    """Out of order: the refund's failure arrives before its `charge.refunded`. Nothing had
    been taken, so nothing is given; the late `charge.refunded` then takes nothing either."""
    charge_id = buy_pack(owner_client, fake, "credits-50", "c" * 32)
    refunded = fake.refund(charge_id, deliver=False)
    failed = fake.fail_refund(refunded[0]["data"]["object"]["id"], deliver=False)
    deliver(owner_client, fake, failed + refunded)
    assert get_balance(owner) == 60 == ledger_sum(owner)
    assert StripeEvent.objects.get(event_id=failed[2]["id"]).outcome == (
        "credit pack refund failed: nothing had been taken back"
    )


def test_a_lost_dispute_takes_the_pack_back_and_a_won_one_does_not(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    won = buy_pack(owner_client, fake, "credits-50", "7" * 32)
    lost = buy_pack(owner_client, fake, "credits-150", "8" * 32)
    assert get_balance(owner) == 210
    deliver(owner_client, fake, fake.dispute(won, won=True, deliver=False))
    assert get_balance(owner) == 210
    closed = fake.dispute(lost, deliver=False)
    assert [e["type"] for e in closed] == ["charge.dispute.created", "charge.dispute.closed"]
    deliver(owner_client, fake, closed + closed)
    assert get_balance(owner) == 60 == ledger_sum(owner)
    dispute_id = closed[1]["data"]["object"]["id"]
    entry = CreditLedgerEntry.objects.get(idempotency_key=f"reversal:dispute:{dispute_id}")
    assert (entry.amount, entry.reason) == (
        -150,
        "Credit pack payment disputed and lost: 150 credits",
    )


def paid_pack(client: JSONClient, fake: FakeStripe, pack: str, operation_id: str) -> Any:
    """Buy `pack` through Checkout, paid but its events not delivered (Stripe's first delivery
    of checkout.session.completed failed, say): those events and the payment's charge id."""
    response = client.post(f"/plans/packs/{pack}", {"operation_id": operation_id})
    paid = fake.complete_checkout(session_id(response["Location"]), deliver=False)
    payment_intent = paid[0]["data"]["object"]["payment_intent"]
    return paid, str(fake.charge_of(payment_intent=payment_intent)["id"])


def test_a_refund_delivered_before_the_pack_s_grant_still_takes_the_pack_back(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    """Stripe keeps no order: the pack's checkout.session.completed is retried after its
    refund's charge.refunded. The refund was recorded "the credit pack was never granted" and
    the late grant then gave the whole pack: the creator kept 50 credits they were paid back
    for. The grant now takes back what the payment's refunds already paid back, under the keys
    the refunds' own events use, so a later delivery takes nothing more."""
    paid, charge_id = paid_pack(owner_client, fake, "credits-50", "5" * 32)
    refunded = fake.refund(charge_id, deliver=False)
    deliver(owner_client, fake, refunded)
    assert StripeEvent.objects.get(event_id=refunded[1]["id"]).outcome == payments.NOT_GRANTED_YET
    assert get_balance(owner) == 10

    deliver(owner_client, fake, paid)
    assert get_balance(owner) == 10 == ledger_sum(owner)
    refund_id = refunded[0]["data"]["object"]["id"]
    assert reversals(owner) == [(-50, "Credit pack refunded: 50 credits")]
    assert CreditLedgerEntry.objects.get(kind="reversal").idempotency_key == (
        f"reversal:refund:{refund_id}"
    )
    assert StripeEvent.objects.get(event_id=paid[0]["id"]).outcome == (
        "credit pack +50; refunded before the grant: -50"
    )
    deliver(owner_client, fake, [resent(refunded[1], "evt_refunded_after_the_grant"), *paid])
    assert get_balance(owner) == 10 == ledger_sum(owner)


def test_refunds_on_both_sides_of_a_late_grant_take_back_the_whole_pack_once(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    """Half refunded before the grant (here the return from Checkout, before any webhook), a
    refund that failed before it too, the rest after: the whole pack is taken back, once."""
    paid, charge_id = paid_pack(owner_client, fake, "credits-50", "e" * 32)
    half = fake.refund(charge_id, 500, deliver=False)
    failed = fake.refund(charge_id, 100, deliver=False)
    failed += fake.fail_refund(failed[0]["data"]["object"]["id"], deliver=False)
    deliver(owner_client, fake, half + failed)
    checkout = paid[0]["data"]["object"]["id"]
    owner_client.get(f"/billing/checkout/return?session_id={checkout}")
    assert get_balance(owner) == 60 - 25 == ledger_sum(owner)
    deliver(owner_client, fake, paid + half + failed)
    assert get_balance(owner) == 60 - 25

    deliver(owner_client, fake, fake.refund(charge_id, deliver=False))  # the other 499 cents
    assert get_balance(owner) == 10 == ledger_sum(owner)
    assert [amount for amount, _ in reversals(owner)] == [-25, -25]


def test_a_lost_dispute_delivered_before_the_pack_s_grant_still_takes_it_back(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    """As for a refund: a dispute lost before the grant was "never granted", then the whole pack
    was granted. A won one still takes nothing."""
    lost_paid, lost = paid_pack(owner_client, fake, "credits-150", "7" * 32)
    won_paid, won = paid_pack(owner_client, fake, "credits-50", "8" * 32)
    closed = fake.dispute(lost, deliver=False)
    deliver(owner_client, fake, closed + fake.dispute(won, won=True, deliver=False))
    assert StripeEvent.objects.get(event_id=closed[1]["id"]).outcome == payments.NOT_GRANTED_YET

    deliver(owner_client, fake, lost_paid + won_paid + closed)
    assert get_balance(owner) == 10 + 50 == ledger_sum(owner)
    dispute_id = closed[1]["data"]["object"]["id"]
    entry = CreditLedgerEntry.objects.get(kind="reversal")
    assert (entry.idempotency_key, entry.amount) == (f"reversal:dispute:{dispute_id}", -150)
    assert StripeEvent.objects.get(event_id=lost_paid[0]["id"]).outcome == (
        "credit pack +150; dispute lost before the grant: -150"
    )


def test_a_pack_bought_before_payment_intents_were_kept_is_found_through_its_session(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    charge_id = buy_pack(owner_client, fake, "credits-50", "9" * 32)
    CreditPackPurchase.objects.update(stripe_payment_intent_id="")
    deliver(owner_client, fake, fake.refund(charge_id, deliver=False))
    assert get_balance(owner) == 10
    assert CreditPackPurchase.objects.get().stripe_payment_intent_id


def test_a_refunded_subscription_payment_takes_no_credits(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    """The rule (README, Payments): a subscription's refund or lost dispute takes no plan
    credits back; ending the plan (cancelling in Stripe) expires them."""
    events = subscribe(owner_client, fake, "starter")
    deliver(owner_client, fake, events)
    invoice = next(e for e in events if e["type"] == "invoice.paid")["data"]["object"]
    charge_id = fake.charge_of(invoice=invoice["id"])["id"]
    refunded = fake.refund(charge_id, deliver=False)
    deliver(owner_client, fake, refunded + fake.dispute(charge_id, deliver=False))
    assert get_balance(owner) == 100 == ledger_sum(owner)
    assert StripeEvent.objects.get(event_id=refunded[1]["id"]).outcome == (
        "ignored: not a credit pack payment"
    )


# --- signatures and failures ------------------------------------------------------------------
def test_a_bad_signature_is_400_and_changes_nothing(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    events = subscribe(owner_client, fake, "pro")
    event = next(e for e in events if e["type"] == "invoice.paid")
    payload, header = fake.sign(event)
    tampered = payload.replace(b'"amount_paid": 9999', b'"amount_paid": 1')
    an_hour_ago = int(timezone.now().timestamp()) - 3600
    stale = stripe.WebhookSignature.generate_signature_header(
        payload.decode(), fake.webhook_secret, timestamp=an_hour_ago
    )
    attempts = [
        (payload, fake.sign(event, secret="whsec_someone_else")[1]),
        (tampered, header),
        (payload, ""),
        (payload, "garbage"),
        (payload, stale),  # a valid signature, but an hour old (a replay)
        (b"not json", header),
        (payload, f"t={an_hour_ago + 3600},v1=\u00e9\u00e9"),  # non-ASCII (compare_digest)
        # Signed, but not a usable event (only Stripe could send these: a 500 would make it
        # send them again for days).
        fake.sign({**event, "data": None}),
        fake.sign({**event, "created": "abc"}),
        fake.sign({**event, "created": 1e400}),
    ]
    for body, signature in attempts:
        extra = {"HTTP_STRIPE_SIGNATURE": signature} if signature else {}
        response = owner_client.post(WEBHOOK, body, content_type="application/json", **extra)
        assert response.status_code == 400, signature
        assert response.json()["code"] == "bad_webhook"
    assert StripeEvent.objects.count() == 0
    assert get_balance(owner) == 10
    assert Subscription.objects.get(user=owner).plan.slug == "free"
    assert post_event(owner_client, fake, event).status_code == 200  # the genuine one works


def test_stripe_unreachable_while_handling_rolls_back_and_the_retry_succeeds(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    events = subscribe(owner_client, fake, "starter")
    # stripe-python retries a 500 twice (max_network_retries=2): three failures in a row.
    fake.fail_next = [StripeError(500, "boom", type="api_error") for _ in range(3)]
    response = post_event(owner_client, fake, events[1])
    assert response.status_code == 503
    assert response.json() == {
        "error": "Payment service unavailable.",
        "code": "stripe_unavailable",
    }
    assert not StripeEvent.objects.exists()
    assert get_balance(owner) == 10
    deliver(owner_client, fake, events)
    assert get_balance(owner) == 100


def test_events_we_do_not_handle_are_recorded_and_ignored(
    fake: FakeStripe, priced: Any, owner_client: JSONClient
) -> None:
    event = {
        "id": "evt_other",
        "object": "event",
        "type": "payout.paid",
        "created": 1,
        "data": {"object": {"id": "po_1", "object": "payout"}},
    }
    assert post_event(owner_client, fake, event).status_code == 200
    assert StripeEvent.objects.get(event_id="evt_other").outcome == "ignored"


@pytest.mark.parametrize("object_id", [None, "", 7])
def test_a_signed_event_whose_object_has_no_id_is_refused_and_changes_nothing(
    fake: FakeStripe, priced: Any, owner_client: JSONClient, object_id: Any
) -> None:
    """Only the webhook secret's holder can send one; it was a 500 (a handler's KeyError)."""
    obj: dict[str, Any] = {"object": "subscription", "customer": "cus_x", "status": "active"}
    if object_id is not None:
        obj["id"] = object_id
    event = {
        "id": f"evt_noid_{object_id}",
        "object": "event",
        "type": "customer.subscription.updated",
        "created": 1,
        "data": {"object": obj},
    }
    response = post_event(owner_client, fake, event)
    assert response.status_code == 400
    assert response.json()["code"] == "bad_webhook"
    assert not StripeEvent.objects.exists()


# --- staff and the admin ----------------------------------------------------------------------
def test_staff_upgrade_through_services_grants_the_difference(owner: Any) -> None:
    change_plan(
        user=owner,
        plan=Plan.objects.get(slug="starter"),
        status="active",
        grant_upgrade_difference=True,
    )
    assert get_balance(owner) == 100
    change_plan(
        user=owner,
        plan=Plan.objects.get(slug="starter"),
        status="active",
        grant_upgrade_difference=True,
    )
    assert get_balance(owner) == 100


def test_admin_lists_subscriptions_events_and_packs_read_only(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient, staff: Any
) -> None:
    deliver(owner_client, fake, subscribe(owner_client, fake, "starter"))
    admin = JSONClient()
    admin.force_login(staff)
    # The ids are shown whole, with line-break opportunities (<wbr>) so the list fits at 1440 px.
    subs = admin.get("/admin/billing/subscription/").content.decode().replace("<wbr>", "")
    sub = Subscription.objects.get(user=owner)
    assert sub.stripe_subscription_id in subs and sub.stripe_customer_id in subs
    events = admin.get("/admin/billing/stripeevent/").content.decode()
    assert "invoice.paid" in events
    event = StripeEvent.objects.first()
    assert (
        admin.post(f"/admin/billing/stripeevent/{event.pk}/change/", {"outcome": "x"}).status_code
        == 403
    )
    assert "50 credits" in admin.get("/admin/billing/creditpack/").content.decode()

    # Staff change a plan in the admin: through billing.services, difference granted.
    change = admin.get(f"/admin/billing/subscription/{sub.pk}/change/")
    assert change.status_code == 200
    free_sub = Subscription.objects.get(user=staff)
    response = admin.post(
        f"/admin/billing/subscription/{free_sub.pk}/change/",
        {"plan": Plan.objects.get(slug="advanced").pk, "status": "active"},
    )
    assert response.status_code == 302, response.content
    assert get_balance(staff) == 300
    assert Job.objects.count() == 0
