"""What sign-up tells about an address that has an account (README, "Sign-in and sign-up"):
with optional email verification, allauth says it is taken (it cannot create a second account to
hide it); with mandatory verification a taken and a new address are answered alike."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.conftest import make_user

pytestmark = pytest.mark.django_db

TAKEN = "A user is already registered with this email address."


def sign_up(email: str, ip: str) -> Any:
    password = "Sturdy-pass-9911"
    return Client(REMOTE_ADDR=ip).post(
        "/accounts/signup/", {"email": email, "password1": password, "password2": password}
    )


def test_with_optional_verification_sign_up_says_an_address_is_taken(
    settings: Any, clean_cache: None
) -> None:
    assert settings.ACCOUNT_EMAIL_VERIFICATION == "optional"  # the documented default
    make_user("taken@example.com")
    taken = sign_up("taken@example.com", "198.51.100.3")
    assert taken.status_code == 200 and TAKEN in taken.content.decode()
    new = sign_up("new@example.com", "198.51.100.4")
    assert (new.status_code, new["Location"]) == (302, "/studio/")  # no confirmation step


def test_with_mandatory_verification_a_taken_address_reads_as_a_new_one(
    settings: Any, clean_cache: None, mailoutbox: list[Any]
) -> None:
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    make_user("taken@example.com")
    taken = sign_up("taken@example.com", "198.51.100.3")
    new = sign_up("new@example.com", "198.51.100.4")
    for response in (taken, new):
        assert (response.status_code, response["Location"]) == (302, "/accounts/confirm-email/")
        assert TAKEN not in response.content.decode()
    assert sorted((m.to[0], m.subject) for m in mailoutbox) == [
        ("new@example.com", "[ViewBait] Please Confirm Your Email Address"),
        ("taken@example.com", "[ViewBait] Account Already Exists"),
    ]
