"""Ops grant or take back a creator's credits from the admin (the "Adjust credits" page of a
credit account) or with `manage.py adjust_credits`: one ledger entry per form or key, through
billing.services, never below zero, and only for staff allowed to."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.test import Client

from billing.models import CreditAccount, CreditLedgerEntry
from billing.services import debit_credits, get_balance
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def creator() -> Any:
    """A creator with 5 credits (the sign-up grant taken back by a debit)."""
    user = make_user("adjust-me@example.com")
    debit_credits(user=user, amount=get_balance(user) - 5, idempotency_key="t:seed", reason="x")
    return user


def adjust_url(user: Any) -> str:
    return f"/admin/billing/creditaccount/{CreditAccount.objects.get(user=user).pk}/adjust/"


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form_key(page: str) -> str:
    found = re.search(r'name="key" value="([0-9a-f]{32})"', page)
    assert found, page[:500]
    return found.group(1)


def test_staff_adjust_from_the_account_page_once_per_form(staff: Any, creator: Any) -> None:
    client = signed_in(staff)
    account_page = client.get(adjust_url(creator).replace("adjust/", "change/")).content.decode()
    assert 'href="' + adjust_url(creator) + '"' in account_page  # the "Adjust credits" button
    page = client.get(adjust_url(creator)).content.decode()
    assert "Balance now: <strong>5 credits</strong>" in page
    form = {"amount": "20", "reason": "Goodwill: outage", "key": form_key(page)}
    response = client.post(adjust_url(creator), form, follow=True)
    assert "+20 credits: Goodwill: outage. The balance is now 25." in response.content.decode()
    client.post(adjust_url(creator), form)  # the same form again (a double click)
    assert get_balance(creator) == 25
    entry = CreditLedgerEntry.objects.get(user=creator, kind="adjustment")
    assert entry.amount == 20
    assert entry.reason == "Goodwill: outage (by staff@example.com)"
    assert LogEntry.objects.filter(user=staff, change_message__contains="+20 credits").count() == 1


def test_taking_back_more_than_the_balance_is_refused(staff: Any, creator: Any) -> None:
    client = signed_in(staff)
    key = form_key(client.get(adjust_url(creator)).content.decode())
    response = client.post(adjust_url(creator), {"amount": "-6", "reason": "x", "key": key})
    assert response.status_code == 200
    assert "That would take the balance below zero: it is 5." in response.content.decode()
    client.post(adjust_url(creator), {"amount": "0", "reason": "x", "key": key})
    assert get_balance(creator) == 5
    assert not CreditLedgerEntry.objects.filter(kind="adjustment").exists()
    client.post(adjust_url(creator), {"amount": "-5", "reason": "Chargeback", "key": key})
    assert get_balance(creator) == 0


def test_only_staff_with_the_permission_may_adjust(creator: Any) -> None:
    clerk = make_user("clerk@example.com", is_staff=True)
    url = adjust_url(creator)
    assert (
        signed_in(clerk).post(url, {"amount": "9", "reason": "x", "key": "k" * 32}).status_code
        == 403
    )
    assert signed_in(creator).get(url).status_code == 302  # to the admin's log-in
    clerk.user_permissions.add(Permission.objects.get(codename="adjust_credits"))
    clerk = type(clerk).objects.get(pk=clerk.pk)  # permissions are cached per instance
    response = signed_in(clerk).post(url, {"amount": "9", "reason": "x", "key": "k" * 32})
    assert response.status_code == 302
    assert get_balance(creator) == 14


def test_the_command_adjusts_once_per_key(creator: Any, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("adjust_credits", "Adjust-Me@example.com", "7", reason="Support", key="t1")
    call_command("adjust_credits", "adjust-me@example.com", "7", reason="Support", key="t1")
    out = capsys.readouterr().out
    assert "+7 credits for adjust-me@example.com recorded; balance 12; key t1" in out
    assert "already recorded (nothing changed)" in out
    assert get_balance(creator) == 12
    with pytest.raises(CommandError, match="below zero: it is 12"):
        call_command("adjust_credits", "adjust-me@example.com", "-13", reason="x")
    with pytest.raises(CommandError, match="No user"):
        call_command("adjust_credits", "nobody@example.com", "1", reason="x")


def test_the_command_refuses_a_reused_key_and_an_empty_reason(creator: Any) -> None:
    call_command("adjust_credits", "adjust-me@example.com", "7", reason="Support", key="t2")
    with pytest.raises(CommandError, match=r"already used for \+7 credits .* new --key"):
        call_command("adjust_credits", "adjust-me@example.com", "-3", reason="Oops", key="t2")
    with pytest.raises(CommandError, match="Give a --reason"):
        call_command("adjust_credits", "adjust-me@example.com", "2", reason="  ")
    assert get_balance(creator) == 12


def test_a_creator_in_the_users_admin_shows_plan_credits_and_their_records(
    staff: Any, creator: Any
) -> None:
    """Support starts from the user: the list says each one's plan and balance, and the change
    page links the credit account, Adjust credits, the ledger, thumbnails and jobs filtered to
    that creator (Django's user admin showed first and last names and led nowhere: ops
    walkthrough). A plan not in good standing says that Free's limits apply."""
    from billing.models import Subscription
    from generation.models import Job
    from tests.conftest import set_plan
    from tests.factories.studio import ThumbnailFactory

    set_plan(creator, "pro", status=Subscription.Status.PAST_DUE)
    ThumbnailFactory(owner=creator)
    Job.objects.create(user=creator, type="generate_thumbnails", status="failed", cost=1)
    other = make_user("someone-else@example.com")
    ThumbnailFactory(owner=other)
    client = signed_in(staff)

    listing = client.get("/admin/auth/user/?q=adjust-me").content.decode()
    [row] = [r for r in re.findall(r"<tr[^>]*>(.*?)</tr>", listing, re.S) if "adjust-me@" in r]
    cells = re.sub(r"<[^>]+>", "|", row)
    assert "Pro (Past Due: Free limits)" in cells and f"|{get_balance(creator)}|" in cells

    page = client.get(f"/admin/auth/user/{creator.pk}/change/").content.decode()
    account = CreditAccount.objects.get(user=creator)
    links = {
        text: href.replace("&amp;", "&")
        for href, text in re.findall(r'<a href="([^"]+)">([^<]+)</a>', page)
    }
    assert links["Adjust credits"] == adjust_url(creator)
    assert links["Credit account"] == f"/admin/billing/creditaccount/{account.pk}/change/"
    assert links["1 job, 1 failed"] == f"/admin/generation/job/?user__id__exact={creator.pk}"
    thumbnails = client.get(links["1 thumbnail"]).content.decode()
    assert "adjust-me@example.com" in thumbnails and "someone-else@example.com" not in thumbnails
    ledger = client.get(links["Ledger"])
    assert ledger.status_code == 200 and "someone-else" not in ledger.content.decode()


def studio_links(client: Client, user: Any) -> dict[str, str]:
    """The users admin change page's "Studio" links: text -> href."""
    page = client.get(f"/admin/auth/user/{user.pk}/change/").content.decode()
    field = page[page.index("Plan: ") :]
    return {
        text: href.replace("&amp;", "&")
        for href, text in re.findall(
            r'<a href="([^"]+)">([^<]+)</a>', field[: field.index("</div>")]
        )
    }


def test_the_users_admin_links_only_what_the_staff_user_may_open(creator: Any) -> None:
    """A staff user who may view users but not adjust credits saw "Adjust credits" and got a
    403: each Studio link shows only with the permission its page needs, and the counts stay
    as text. With `billing.adjust_credits`, Adjust credits (and the account, which that
    permission opens too) is linked and opens."""
    from generation.models import Job

    Job.objects.create(user=creator, type="generate_thumbnails", status="failed", cost=1)
    clerk = make_user("users-clerk@example.com", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_user"))
    client = signed_in(clerk)
    page = client.get(f"/admin/auth/user/{creator.pk}/change/").content.decode()
    assert "Plan: Free · Balance: 5 credits" in page
    assert "Adjust credits" not in page and adjust_url(creator) not in page
    links = studio_links(client, creator)
    assert not {"Credit account", "Ledger", "Subscription", "0 thumbnails"} & set(links)
    assert "0 thumbnails · 1 job, 1 failed" in page  # counts, unlinked
    for href in links.values():  # whatever is linked opens
        assert client.get(href).status_code == 200, href

    clerk.user_permissions.add(Permission.objects.get(codename="adjust_credits"))
    client = signed_in(type(clerk).objects.get(pk=clerk.pk))  # permissions cached per instance
    links = studio_links(client, creator)
    assert links["Adjust credits"] == adjust_url(creator)
    assert links["Credit account"] == adjust_url(creator).replace("adjust/", "change/")
    for href in links.values():
        assert client.get(href).status_code == 200, href
    assert "Ledger" not in links  # still no view permission on the ledger


def test_a_form_sent_again_with_another_amount_says_what_its_key_recorded(
    staff: Any, creator: Any
) -> None:
    """The page restored by Back and sent again with a new amount: its key already recorded
    +20, so nothing moves, and the page says so instead of "Already recorded: +50 credits"
    (staff took the +50 for done while the creator was 30 short)."""
    client = signed_in(staff)
    key = form_key(client.get(adjust_url(creator)).content.decode())
    client.post(adjust_url(creator), {"amount": "20", "reason": "Goodwill", "key": key})
    response = client.post(
        adjust_url(creator), {"amount": "50", "reason": "Goodwill", "key": key}, follow=True
    )
    page = response.content.decode()
    assert "Already recorded: +50" not in page
    assert "This form was already sent for +20 credits" in page
    assert get_balance(creator) == 25
    again = form_key(page)  # a new form, with a key of its own, to send the +50 with
    assert again != key
    client.post(adjust_url(creator), {"amount": "50", "reason": "Goodwill", "key": again})
    assert get_balance(creator) == 75
