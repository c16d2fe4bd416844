"""The admin's sign-in shares allauth's per-account failed-login limit with the studio's.

The admin's form called django.contrib.auth.authenticate directly, so allauth's `login_failed`
limit (per address, whatever the client's IP) guarded only /accounts/login/: 50 wrong passwords
from 50 addresses, then the right one, signed in to the admin (security review, probe 4)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from allauth.account import app_settings
from django.test import Client

from tests.conftest import make_user
from tests.factories.accounts import PASSWORD

pytestmark = pytest.mark.django_db

EMAIL = "ops@example.com"
LOCKED = "Too many failed login attempts. Try again later."
WRONG = "Please enter the email and password of a staff account."
_ips = iter(f"203.0.{i // 250}.{i % 250 + 1}" for i in range(10_000))


def per_account_budget() -> int:
    """The failed guesses an address is allowed (the `/key` part of allauth's login_failed)."""
    rates = app_settings.RATE_LIMITS["login_failed"]
    return next(int(rate.split("/")[0]) for rate in rates.split(",") if rate.endswith("/key"))


def admin_login(email: str, password: str) -> Any:
    """One attempt from a fresh address each time, so no per-IP budget ever trips."""
    return Client(REMOTE_ADDR=next(_ips)).post(
        "/admin/login/?next=/admin/", {"username": email, "password": password}
    )


def studio_login(email: str, password: str) -> Any:
    return Client(REMOTE_ADDR=next(_ips)).post(
        "/accounts/login/", {"login": email, "password": password}
    )


def errornote(response: Any) -> list[str]:
    return re.findall(r'class="errornote">\s*(.*?)\s*</p>', response.content.decode(), re.S)


def guesses(login: Any, count: int) -> None:
    for i in range(count):
        response = login(EMAIL.upper() if i % 2 else EMAIL, f"wrong-{i}")  # one key, any case
        assert response.status_code == 200 and LOCKED not in response.content.decode()


@pytest.fixture
def ops(clean_cache: None) -> Any:
    return make_user(EMAIL, is_staff=True, is_superuser=True)


def test_the_admin_locks_an_account_after_its_budget_of_guesses_from_any_address(ops: Any) -> None:
    budget = per_account_budget()
    guesses(admin_login, budget)
    right = admin_login(EMAIL, PASSWORD)
    assert right.status_code == 200, "the right password still signed in after the budget"
    assert errornote(right) == [LOCKED]
    assert "_auth_user_id" not in right.client.session


@pytest.mark.parametrize(
    ("spent_on", "then"),
    [(studio_login, admin_login), (admin_login, studio_login)],
    ids=["studio-then-admin", "admin-then-studio"],
)
def test_a_lock_on_either_sign_in_page_holds_on_the_other(
    ops: Any, spent_on: Any, then: Any
) -> None:
    guesses(spent_on, per_account_budget())
    right = then(EMAIL, PASSWORD)
    assert right.status_code == 200 and LOCKED in right.content.decode()
    # Another account is untouched.
    make_user("other-ops@example.com", is_staff=True)
    assert then("other-ops@example.com", PASSWORD).status_code == 302


def test_one_budget_across_the_two_pages(ops: Any) -> None:
    budget = per_account_budget()
    guesses(studio_login, budget // 2)
    guesses(admin_login, budget - budget // 2)
    assert LOCKED in admin_login(EMAIL, PASSWORD).content.decode()


def test_a_successful_admin_sign_in_takes_back_its_own_attempt(ops: Any) -> None:
    """As allauth's: a right password does not count, the wrong ones before it still do."""
    guesses(admin_login, per_account_budget() - 1)
    for _ in range(3):
        signed_in = admin_login(EMAIL, PASSWORD)
        assert signed_in.status_code == 302 and signed_in["Location"] == "/admin/"
    assert errornote(admin_login(EMAIL, "wrong-again")) == [WRONG]
    assert errornote(admin_login(EMAIL, PASSWORD)) == [LOCKED]


def test_the_admin_says_the_same_to_a_right_and_a_wrong_password_of_a_non_staff_account(
    clean_cache: None,
) -> None:
    make_user("creator@example.com")
    make_user("gone@example.com", is_staff=True, is_active=False)
    for email in ("creator@example.com", "gone@example.com"):
        assert errornote(admin_login(email, PASSWORD)) == [WRONG], email
        assert errornote(admin_login(email, "nope")) == [WRONG], email
