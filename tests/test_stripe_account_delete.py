"""Deleting an account of a Stripe customer (stripe-python against the fake): a Checkout left open
in another tab is expired first, a payment still on its way keeps the account, and a payment
that reaches Stripe for an account deleted all the same (paid the moment it went) is undone by
its webhook: the subscription cancelled, the credit pack refunded."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import DELETION, LogEntry

from billing.models import CreditPackPurchase, DeletedStripeCustomer, StripeEvent, Subscription
from billing.services import get_balance
from studio import admin, services
from tests import test_stripe_billing
from tests.conftest import JSONClient, make_user
from tests.factories.accounts import PASSWORD
from tests.fake_stripe import FakeStripe, StripeError
from tests.test_stripe_billing import deliver, paid_pack, resent, session_id, start_checkout

pytestmark = pytest.mark.django_db

# The fake Stripe and the priced plans, as in tests/test_stripe_billing.py.
fake = test_stripe_billing.fake
priced = test_stripe_billing.priced


def delete(client: JSONClient) -> Any:
    return client.post("/accounts/delete/", {"password": PASSWORD})


def pack_checkout(client: JSONClient, operation_id: str) -> str:
    response = client.post("/plans/packs/credits-50", {"operation_id": operation_id})
    assert response.status_code == 302, response.content
    return session_id(response["Location"])


def outcomes(events: list[dict[str, Any]]) -> list[str]:
    ids = [e["id"] for e in events]
    found = dict(StripeEvent.objects.filter(event_id__in=ids).values_list("event_id", "outcome"))
    return [found[i] for i in ids]


def test_checkouts_left_open_in_other_tabs_are_expired_with_the_account(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    plan = session_id(start_checkout(owner_client, "starter"))  # tab 1: the plan's Checkout
    pack = pack_checkout(owner_client, "1" * 32)  # tab 2: a pack's
    assert delete(owner_client).status_code == 302
    assert not type(owner).objects.filter(pk=owner.pk).exists()
    sessions = fake.objects["checkout.session"]
    assert sessions[plan]["status"] == sessions[pack]["status"] == "expired"
    for session in (plan, pack):  # tab 1 and 2 can no longer pay
        with pytest.raises(StripeError, match="no longer active"):
            fake.complete_checkout(session, deliver=False)
    assert not fake.objects["subscription"] and not fake.objects["charge"]


def test_a_pack_payment_still_on_its_way_keeps_the_account_until_it_lands(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    pack = pack_checkout(owner_client, "2" * 32)
    deliver(owner_client, fake, fake.complete_checkout(pack, deliver=False, delayed=True))
    refused = delete(owner_client)
    assert refused.status_code == 409
    assert "still on its way" in refused.content.decode()
    assert type(owner).objects.filter(pk=owner.pk).exists()
    deliver(owner_client, fake, fake.settle_delayed_payment(pack, deliver=False))
    assert get_balance(owner) == 60
    assert delete(owner_client).status_code == 302


def test_a_pack_payment_that_failed_no_longer_keeps_the_account(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    pack = pack_checkout(owner_client, "3" * 32)
    fake.complete_checkout(pack, deliver=False, delayed=True)
    assert delete(owner_client).status_code == 409
    fake.settle_delayed_payment(pack, succeed=False, deliver=False)
    assert delete(owner_client).status_code == 302


def test_a_plan_paid_in_another_tab_before_its_webhook_came_keeps_the_account(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    events = fake.complete_checkout(
        session_id(start_checkout(owner_client, "starter")), deliver=False
    )
    assert not services.renews_through_stripe(owner)  # its webhooks are still on their way
    refused = delete(owner_client)
    assert refused.status_code == 409 and "still renews" in refused.content.decode()
    deliver(owner_client, fake, events)
    assert services.renews_through_stripe(owner)


def test_a_past_due_plan_set_to_end_keeps_the_account_until_paid(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient, admin_client: Any
) -> None:
    """A renewal that failed (past due), then the plan set to end at the period end: it no
    longer renews, but Stripe still retries the unpaid invoice, which would charge a deleted
    account. Refused (409 payment_pending) by our row and, before its webhook came, by Stripe's;
    the admin too. Once paid, the account can go."""
    deliver(owner_client, fake, test_stripe_billing.subscribe(owner_client, fake, "starter"))
    [subscription] = fake.objects["subscription"].values()
    failed = fake.renew(subscription["id"], pay=False, deliver=False)
    deliver(owner_client, fake, failed)
    deliver(owner_client, fake, fake.set_cancel_at_period_end(subscription["id"], deliver=False))
    row = Subscription.objects.get(user=owner)
    assert (row.status, row.cancel_at_period_end) == ("past_due", True)
    assert not services.renews_through_stripe(owner)
    refused = delete(owner_client)
    assert refused.status_code == 409 and "last payment failed" in refused.content.decode()
    response = admin_client.post(
        f"/admin/auth/user/{owner.pk}/delete/", {"post": "yes"}, follow=True
    )
    assert "past-due plan" in response.content.decode()
    # Its webhooks not here yet: Stripe's own state refuses.
    Subscription.objects.filter(user=owner).update(status="active")
    refused = delete(owner_client)
    assert refused.status_code == 409 and "last payment failed" in refused.content.decode()
    assert type(owner).objects.filter(pk=owner.pk).exists()
    invoice = next(e for e in failed if e["type"] == "invoice.payment_failed")
    deliver(owner_client, fake, fake.pay_invoice(invoice["data"]["object"]["id"], deliver=False))
    assert delete(owner_client).status_code == 302
    assert not type(owner).objects.filter(pk=owner.pk).exists()


def test_stripe_unreachable_keeps_the_account(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    pack_checkout(owner_client, "4" * 32)
    # stripe-python retries a 500 twice (max_network_retries=2): three failures in a row.
    fake.fail_next = [StripeError(500, "boom", type="api_error") for _ in range(3)]
    refused = delete(owner_client)
    assert refused.status_code == 503 and "could not be reached" in refused.content.decode()
    assert type(owner).objects.filter(pk=owner.pk).exists()


def test_without_stripe_an_account_that_was_a_customer_is_deleted(
    db: None, client: Any, settings: Any
) -> None:
    settings.STRIPE_SECRET_KEY = ""  # payments off: nothing to ask Stripe, nothing asked
    owner = make_user("offline@example.com")
    Subscription.objects.filter(user=owner).update(stripe_customer_id="cus_offline")
    client.force_login(owner)
    assert delete(client).status_code == 302
    assert not type(owner).objects.filter(pk=owner.pk).exists()


def test_the_backstop_counts_payments_from_when_the_deletion_began_asking_stripe(
    db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plan switched or resumed in another tab while the deletion asks Stripe is paid before
    the rows go: the deleted customer's cutoff is when the deletion began, before Stripe was
    asked, so the backstop refunds that payment too (review: it was the moment of the delete)."""
    from django.utils import timezone

    from billing.models import DeletedStripeCustomer

    owner = make_user("switching@example.com")
    Subscription.objects.filter(user=owner).update(stripe_customer_id="cus_switching")
    asked = []
    monkeypatch.setattr(
        services, "close_stripe_for_deletion", lambda user: asked.append(timezone.now())
    )
    services.do_delete_account(user=owner)
    gone = DeletedStripeCustomer.objects.get(stripe_customer_id="cus_switching")
    assert asked and gone.deleted_at <= asked[0]


@pytest.fixture
def paid_as_it_went(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deletion asks Stripe before anything is paid: a Checkout paid just after (the other
    tab's Pay a moment later) is left to the webhooks."""
    monkeypatch.setattr(services, "close_stripe_for_deletion", lambda user: None)


def test_a_plan_paid_as_the_account_went_is_cancelled_and_refunded_by_its_webhook(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient, paid_as_it_went: None
) -> None:
    """Cancelling kept the first month's payment of an account that no longer exists: the
    invoices paid since the deletion are refunded too, once (later events find them refunded)."""
    checkout = session_id(start_checkout(owner_client, "starter"))
    gone = owner.pk
    services.do_delete_account(user=owner)
    events = fake.complete_checkout(checkout, deliver=False)
    deliver(owner_client, fake, events)
    [subscription] = fake.objects["subscription"].values()
    assert subscription["status"] == "canceled"
    [invoice] = fake.objects["invoice"].values()
    charge = fake.charge_of(invoice=invoice["id"])
    assert charge["amount_refunded"] == charge["amount"] == invoice["amount_paid"] > 0
    [refund] = fake.objects["refund"].values()
    assert refund["metadata"] == {"user_id": str(gone), "invoice": invoice["id"]}
    refunded = f"invoice {invoice['id']} already refunded"
    assert outcomes(events) == [
        # customer.subscription.created
        f"cancelled: account {gone} was deleted; refunded {charge['amount']} of invoice "
        f"{invoice['id']}",
        refunded,  # invoice.paid
        refunded,  # session completed
    ]
    deleted = fake.events_of("customer.subscription.deleted")
    deliver(owner_client, fake, deleted)
    assert outcomes(deleted) == [refunded]
    assert len(fake.objects["refund"]) == 1


def test_a_period_paid_before_the_deletion_is_kept(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    """A plan set to end at its period end lets the account go; the period it paid for before
    the deletion was delivered: its events after the deletion refund nothing."""
    fake.clock_offset = -60  # paid a minute before the deletion
    events = fake.complete_checkout(
        session_id(start_checkout(owner_client, "starter")), deliver=False
    )
    deliver(owner_client, fake, events)
    [subscription] = fake.objects["subscription"].values()
    deliver(owner_client, fake, fake.set_cancel_at_period_end(subscription["id"], deliver=False))
    fake.clock_offset = 0
    gone = owner.pk
    services.do_delete_account(user=owner)
    late = [resent(e, f"evt_late_{n}") for n, e in enumerate(events)]
    deliver(owner_client, fake, late)
    assert subscription["status"] == "canceled"
    assert not fake.objects["refund"]
    assert outcomes(late)[0] == f"cancelled: account {gone} was deleted"


def test_a_subscription_stripe_no_longer_has_is_done_not_retried(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient, paid_as_it_went: None
) -> None:
    """A deleted account's subscription event whose subscription Stripe no longer has
    (`resource_missing`): answered 200, nothing to cancel, not a 503 retried for three days."""
    checkout = session_id(start_checkout(owner_client, "starter"))
    gone = owner.pk
    services.do_delete_account(user=owner)
    events = fake.complete_checkout(checkout, deliver=False)
    [subscription] = fake.objects["subscription"].values()
    del fake.objects["subscription"][subscription["id"]]
    deliver(owner_client, fake, events[:1])
    assert outcomes(events[:1]) == [
        f"ignored: subscription {subscription['id']} of deleted account {gone} is gone"
    ]


def test_a_pack_paid_as_the_account_went_is_refunded_by_its_webhook_once(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient, paid_as_it_went: None
) -> None:
    pack = pack_checkout(owner_client, "5" * 32)
    completed = fake.complete_checkout(pack, deliver=False, delayed=True)
    gone = owner.pk
    services.do_delete_account(user=owner)
    deliver(owner_client, fake, completed)  # still processing: nothing to refund yet
    assert outcomes(completed) == ["ignored: payment unpaid"]
    succeeded = fake.settle_delayed_payment(pack, deliver=False)
    deliver(owner_client, fake, [*succeeded, resent(succeeded[0], "evt_again")])
    [charge] = fake.objects["charge"].values()
    assert charge["amount_refunded"] == charge["amount"] == 999
    assert len(fake.objects["refund"]) == 1
    assert outcomes(succeeded) == [f"refunded 999: account {gone} was deleted"]
    assert StripeEvent.objects.get(event_id="evt_again").outcome == (
        f"already refunded: account {gone} was deleted"
    )


def test_a_webhook_for_a_customer_of_no_deleted_account_is_still_ignored(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    """A subscription whose metadata names an account that exists (another customer id of
    theirs) is left alone."""
    events = fake.complete_checkout(
        session_id(start_checkout(owner_client, "starter")), deliver=False
    )
    Subscription.objects.filter(user=owner).update(stripe_customer_id="cus_newer")
    deliver(owner_client, fake, events)
    [subscription] = fake.objects["subscription"].values()
    assert subscription["status"] == "active"
    assert all(o.startswith("ignored: no account") for o in outcomes(events))


def test_another_app_s_payments_naming_an_account_id_we_do_not_have_are_left_alone(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    """Another app or environment sharing the Stripe account puts its own `user_id` in its
    metadata: one that no account here has is not a deleted account of ours. Only the customers
    of accounts deleted here (`DeletedStripeCustomer`) are cancelled or refunded, and for any
    other customer the webhook asks Stripe nothing."""
    plan = fake.complete_checkout(
        session_id(start_checkout(owner_client, "starter")), deliver=False
    )
    [subscription] = fake.objects["subscription"].values()
    subscription["metadata"]["user_id"] = "987654321"  # the other app's user
    pack = pack_checkout(owner_client, "7" * 32)
    paid = fake.complete_checkout(pack, deliver=False)
    CreditPackPurchase.objects.filter(stripe_checkout_session_id=pack).delete()  # not ours
    Subscription.objects.filter(user=owner).update(stripe_customer_id="cus_of_ours")
    others = [resent(e, f"evt_other_{n}") for n, e in enumerate([*plan, *paid])]
    for event in others:
        event["data"]["object"]["metadata"] = {"user_id": "987654321"}
    asked = len(fake.requests)
    deliver(owner_client, fake, others)
    assert subscription["status"] == "active"
    assert not fake.objects["refund"]
    assert len(fake.requests) == asked
    assert outcomes(others) == [
        *[f"ignored: no account for customer {subscription['customer']}"] * 3,
        "ignored: no credit pack recorded for this session",
    ]


def test_a_pack_granted_before_the_deletion_is_not_refunded_by_its_late_webhook(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient
) -> None:
    """Granted on the return from Checkout, then the account deleted (its purchase rows go with
    it): the pack's checkout.session.completed, late, finds no purchase row but the session is
    among the deleted customer's granted ones, so nothing is refunded. One paid after the
    deletion still is."""
    paid, _ = paid_pack(owner_client, fake, "credits-50", "8" * 32)
    granted = paid[0]["data"]["object"]["id"]
    owner_client.get(f"/billing/checkout/return?session_id={granted}")
    assert get_balance(owner) == 60
    late = pack_checkout(owner_client, "9" * 32)
    gone = owner.pk
    services.do_delete_account(user=owner)
    deliver(owner_client, fake, paid)
    assert not fake.objects["refund"]
    tombstone = DeletedStripeCustomer.objects.get()
    assert (tombstone.account_id, tombstone.granted_checkout_sessions) == (gone, [granted])
    assert outcomes(paid) == [f"ignored: credit pack granted before account {gone} was deleted"]
    # A Checkout open as the account went is expired by it; one paid that moment is refunded.
    fake.objects["checkout.session"][late]["status"] = "open"
    deliver(owner_client, fake, fake.complete_checkout(late, deliver=False))
    [refund] = fake.objects["refund"].values()
    assert refund["amount"] == 999


def test_the_admin_expires_open_checkouts_and_keeps_a_user_whose_payment_is_on_its_way(
    fake: FakeStripe, priced: Any, owner: Any, owner_client: JSONClient, admin_client: Any
) -> None:
    pending = pack_checkout(owner_client, "6" * 32)
    fake.complete_checkout(pending, deliver=False, delayed=True)
    left_open = session_id(start_checkout(owner_client, "starter"))
    page = admin_client.post(
        "/admin/auth/user/", {"action": "delete_selected", "_selected_action": [owner.pk]}
    )
    assert page.status_code == 200 and page.context["title"] == "Delete multiple objects"
    assert fake.objects["checkout.session"][left_open]["status"] == "open"  # only asked
    for response in (
        admin_client.post(f"/admin/auth/user/{owner.pk}/delete/", {"post": "yes"}, follow=True),
        admin_client.post(
            "/admin/auth/user/",
            {"action": "delete_selected", "_selected_action": [owner.pk], "post": "yes"},
            follow=True,
        ),
    ):
        assert "a payment of theirs is still on its way" in response.content.decode()
        assert type(owner).objects.filter(pk=owner.pk).exists()
    fake.settle_delayed_payment(pending, deliver=False)
    admin_client.post(f"/admin/auth/user/{owner.pk}/delete/", {"post": "yes"})
    assert not type(owner).objects.filter(pk=owner.pk).exists()
    assert fake.objects["checkout.session"][left_open]["status"] == "expired"


def test_the_admin_keeps_a_user_stripe_refuses_at_the_deletion_and_deletes_the_others(
    owner: Any, other: Any, admin_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The admin asks Stripe once confirmed, then the deletion asks again: a payment started in
    between (or Stripe down) refused the second time. That was an admin 500, and "Delete
    selected" stopped partway. Now that user is kept, said so, not logged as deleted, and the
    others go."""
    asked: dict[int, int] = {}

    def close_stripe_for_deletion(user: Any) -> None:
        asked[user.pk] = asked.get(user.pk, 0) + 1
        if user.pk == owner.pk and asked[user.pk] > 1:  # paid after the admin's check
            raise services.StudioError("on its way", "payment_pending", 409)

    monkeypatch.setattr(services, "close_stripe_for_deletion", close_stripe_for_deletion)
    response = admin_client.post(
        "/admin/auth/user/",
        {"action": "delete_selected", "_selected_action": [owner.pk, other.pk], "post": "yes"},
        follow=True,
    )
    said = [str(m) for m in response.context["messages"]]
    assert response.status_code == 200
    assert said[0].startswith(f"{owner} was not deleted: a payment of theirs is still on its way")
    assert said[1:] == ["Successfully deleted 1 user."]
    assert type(owner).objects.filter(pk=owner.pk).exists()
    assert not type(owner).objects.filter(pk=other.pk).exists()
    deletions = LogEntry.objects.filter(action_flag=DELETION)
    assert list(deletions.values_list("object_id", flat=True)) == [str(other.pk)]

    asked.clear()
    response = admin_client.post(
        f"/admin/auth/user/{owner.pk}/delete/", {"post": "yes"}, follow=True
    )
    said = [str(m) for m in response.context["messages"]]
    assert response.redirect_chain[-1][0] == f"/admin/auth/user/{owner.pk}/change/"
    assert said == [f"{owner}: {admin.REFUSALS['payment_pending']}"]
    assert type(owner).objects.filter(pk=owner.pk).exists()
    assert deletions.count() == 1
