"""allauth's pages speak as the rest of ViewBait: sentence case ("Sign in", "Remember me",
"Email addresses"), as in the header's "Sign in", "Sign up free" and "Sign out", not allauth's
Title Case ("Sign In", "Remember Me", "Email Addresses"). locale/en's .po says so."""

from __future__ import annotations

import gettext
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db

MESSAGES = Path(settings.BASE_DIR) / "locale" / "en" / "LC_MESSAGES"


def _text(html: str) -> str:
    """The page's words: tags dropped, white space squeezed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_sign_in_and_sign_up_pages_are_in_sentence_case() -> None:
    login = Client().get("/accounts/login/").content.decode()
    assert re.search(r"<title>\s*Sign in\s*· ViewBait</title>", login)
    assert re.search(r"<h1>\s*Sign in\s*</h1>", login)
    assert re.search(r"<button[^>]*>\s*Sign in\s*</button>", login)
    assert " Remember me " in _text(login)
    signup = Client().get("/accounts/signup/").content.decode()
    assert re.search(r"<title>\s*Sign up\s*· ViewBait</title>", signup)  # allauth: "Signup"
    assert re.search(r"<h1>\s*Sign up\s*</h1>", signup)
    assert re.search(r"<button[^>]*>\s*Sign up\s*</button>", signup)
    for page in (login, signup):
        assert not re.search(r"Sign In|Sign Up|Signup|Remember Me", _text(page))


def test_account_and_password_pages_are_in_sentence_case(owner_client: Any) -> None:
    account = _text(owner_client.get("/accounts/email/").content.decode())
    assert " Email addresses " in account
    assert " Add an email address " in account
    assert " Add email " in account
    password = owner_client.get("/accounts/password/change/").content.decode()
    assert re.search(r"<h1>\s*Change password\s*</h1>", password)
    assert " Current password " in _text(password) and " New password " in _text(password)
    reset = Client().get("/accounts/password/reset/").content.decode()
    assert re.search(r"<h1>\s*Password reset\s*</h1>", reset)
    assert " Reset my password " in _text(reset)
    logout = owner_client.get("/accounts/logout/").content.decode()
    assert re.search(r"<h1>\s*Sign out\s*</h1>", logout)
    for page in (account, password, reset, logout):
        assert not re.search(r"Email Address|Change Password|Password Reset|Sign Out", page)


def test_the_password_reset_page_names_a_way_to_get_help(settings: Any) -> None:
    """allauth's "Please contact us if you have any trouble resetting your password." named no
    way to (creator review 2026-12-05): the support address, when the studio has one, as a link;
    else no such sentence."""
    settings.SUPPORT_EMAIL = ""
    without = _text(Client().get("/accounts/password/reset/").content.decode())
    assert " Reset my password " in without
    assert "contact us" not in without and "Trouble resetting" not in without
    settings.SUPPORT_EMAIL = "help@studio.example"
    page = Client().get("/accounts/password/reset/").content.decode()
    assert re.search(
        r'Trouble resetting your password\? <a href="mailto:help@studio.example\?subject='
        r'ViewBait%20password%20reset">Email help@studio.example</a>\.',
        page,
    )
    assert "contact us" not in page


def test_the_compiled_catalog_says_what_the_po_file_says() -> None:
    """The pages read django.mo; a .po edited without `msgfmt` would change nothing."""
    po = (MESSAGES / "django.po").read_text(encoding="utf-8")
    pairs = re.findall(r'^msgid "(.+)"\nmsgstr "(.*)"$', po, re.MULTILINE)
    assert len(pairs) >= 10
    with (MESSAGES / "django.mo").open("rb") as mo:
        catalog = gettext.GNUTranslations(mo)
    assert {msgid: catalog.gettext(msgid) for msgid, _ in pairs} == dict(pairs)
    assert len(catalog._catalog) - 1 == len(pairs)  # type: ignore[attr-defined]  # no stale entry


def test_the_reset_email_sent_page_says_what_to_do_without_a_support_address(
    settings: Any,
) -> None:
    """allauth's "Otherwise contact us if you do not receive it in a few minutes." named no way
    to (creator review): without SUPPORT_EMAIL the page says what the creator can do themselves;
    with one, it links it."""
    settings.SUPPORT_EMAIL = ""
    without = Client().get("/accounts/password/reset/done/").content.decode()
    assert "contact us" not in _text(without)
    assert re.search(
        r'Make sure it went to the address you signed up with, then <a href="/accounts/password/'
        r'reset/">ask for another email</a>\.',
        without,
    )
    settings.SUPPORT_EMAIL = "help@studio.example"
    page = Client().get("/accounts/password/reset/done/").content.decode()
    assert re.search(
        r'Still nothing after a few minutes\? <a href="mailto:help@studio.example\?subject='
        r'ViewBait%20password%20reset">Email help@studio.example</a>\.',
        page,
    )
    assert "contact us" not in _text(page) and "ask for another email" not in page


def test_cancel_on_the_new_password_form_is_a_secondary_button(owner: Any) -> None:
    """The reset link's "Change password" form showed "Cancel" as the same red primary button
    as "Change password" (creator review); it is the studio's secondary button."""
    from allauth.account.forms import default_token_generator
    from allauth.account.utils import user_pk_to_url_str

    key = default_token_generator.make_token(owner)
    url = f"/accounts/password/reset/key/{user_pk_to_url_str(owner)}-{key}/"
    page = Client().get(url, follow=True).content.decode()
    found = re.findall(r'<button\s+class="([^"]*)"[^>]*>(.*?)</button>', page, re.S)
    buttons = {re.sub(r"\s+", " ", label).strip(): classes for classes, label in found}
    assert buttons == {"Change password": "button", "Cancel": "button secondary"}, buttons


def test_the_email_confirmation_page_names_the_address_once() -> None:
    """allauth asked to "confirm that creator.one@example.com is an email address for user
    creator.one@example.com.": a creator's name is their email."""
    from allauth.account.models import EmailAddress, EmailConfirmationHMAC

    from tests.conftest import make_user

    user = make_user("creator.one@example.com")
    address, _ = EmailAddress.objects.update_or_create(
        user=user, email=user.email, defaults={"primary": True, "verified": False}
    )
    key = EmailConfirmationHMAC(address).key
    client = Client(enforce_csrf_checks=True)
    html = client.get(f"/accounts/confirm-email/{key}/").content.decode()
    page = _text(html)
    assert " Please confirm that creator.one@example.com is your email address. " in page
    assert "for user" not in page
    assert " Confirm email address " in page
    form = re.search(r'<form method="post" action="([^"]+)">', html)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert form and token
    confirmed = client.post(form.group(1), {"csrfmiddlewaretoken": token.group(1)})
    assert confirmed.status_code == 302  # the page's form still confirms
    address.refresh_from_db()
    assert address.verified
