"""The admin's "Add user" form asks for the email the account signs in with (both sign-in forms
are by email): required, lower-cased, refused when another account has it case aside (its
email or an allauth address of theirs, as sign-up refuses it). Django's form asked for a username
only, and the account it made could sign in nowhere."""

from __future__ import annotations

from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model

from tests.conftest import JSONClient, make_user
from tests.factories.accounts import PASSWORD

pytestmark = pytest.mark.django_db
ADD = "/admin/auth/user/add/"
User = get_user_model()


def add(client: Any, email: str, username: str = "") -> Any:
    return client.post(
        ADD,
        {
            "email": email,
            "username": username,
            "usable_password": "true",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )


def errors(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 200, response.status_code  # the form again, nothing saved
    return {k: list(v) for k, v in response.context["adminform"].form.errors.items()}


def test_the_add_user_form_asks_for_the_email_first(admin_client):
    page = admin_client.get(ADD).content.decode()
    field = page.split('name="email"', 1)[1].split(">", 1)[0]
    assert "required" in field and "autofocus" in field
    assert page.index('name="email"') < page.index('name="username"')


def test_an_account_added_in_the_admin_signs_in_with_its_email(admin_client):
    response = add(admin_client, "  New.Creator@Example.COM ")
    assert response.status_code == 302
    user = User.objects.get(email="new.creator@example.com")
    assert user.username == "new.creator@example.com"  # left blank: the email, as sign-up does
    assert user.check_password(PASSWORD)

    client = JSONClient()
    signed_in = client.post(
        "/accounts/login/", {"login": "New.Creator@example.com", "password": PASSWORD}
    )
    assert signed_in.status_code == 302 and signed_in["Location"] == "/studio/"
    assert client.get("/api/me").json()["email"] == "new.creator@example.com"

    # A username given is kept; the email is still the one signed in with.
    assert add(admin_client, "support@example.com", "support-desk").status_code == 302
    assert User.objects.get(email="support@example.com").username == "support-desk"


def test_the_add_user_form_refuses_no_email_or_a_bad_one(admin_client):
    before = User.objects.count()
    assert errors(add(admin_client, "", "nomail")) == {"email": ["This field is required."]}
    assert errors(add(admin_client, "not-an-address", "bad"))["email"] == [
        "Enter a valid email address."
    ]
    assert User.objects.count() == before


def test_the_add_user_form_refuses_an_email_another_account_has_case_aside(admin_client):
    owner = make_user("owner@example.com")
    other = make_user("other@example.com")
    EmailAddress.objects.create(user=other, email="second@example.com", verified=False)
    before = User.objects.count()
    for email, holder in (
        ("OWNER@example.com", owner),
        ("owner@EXAMPLE.com", owner),
        ("Second@Example.com", other),  # another account's allauth address
    ):
        assert errors(add(admin_client, email, "someone-new")) == {
            "email": [
                f"Another account ({holder.get_username()}) has this email (case aside); "
                "each account signs in with its own."
            ]
        }, email
    assert User.objects.count() == before


def test_a_username_the_email_would_take_asks_for_one(admin_client):
    """An account (made before, another email) has the address as its username: a blank
    username cannot be the email, so the form asks for one."""
    taken = make_user("someone@example.com")
    User.objects.filter(pk=taken.pk).update(username="fresh@example.com")
    assert errors(add(admin_client, "fresh@example.com")) == {
        "username": ["Enter a username: this email cannot be one (taken or too long)."]
    }
    assert add(admin_client, "fresh@example.com", "fresh").status_code == 302
    assert User.objects.get(username="fresh").email == "fresh@example.com"
