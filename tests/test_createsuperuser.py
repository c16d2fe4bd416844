"""`manage.py createsuperuser` makes an account that signs in by email, named by it: without a
username (README: "give it an email address"), the username is the email, lower-cased, as sign-up
and the admin's Add user form make it (viewbait's override of django.contrib.auth's command).
Django's refused `--noinput` with only DJANGO_SUPERUSER_EMAIL and DJANGO_SUPERUSER_PASSWORD, and
with a username the admin greeted "WELCOME, OPSWALK" and listed that name among emails."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from tests.conftest import make_user
from tests.factories.accounts import PASSWORD

pytestmark = pytest.mark.django_db
User = get_user_model()


def create(*args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command("createsuperuser", *args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


def test_noinput_with_only_the_email_and_password_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", " Ops.Walk@Example.COM ")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    monkeypatch.delenv("DJANGO_SUPERUSER_USERNAME", raising=False)
    assert "Superuser created successfully." in create("--noinput")
    user = User.objects.get(is_superuser=True, email="ops.walk@example.com")
    assert user.username == "ops.walk@example.com"
    assert user.is_staff and user.check_password(PASSWORD)
    client = Client()
    client.force_login(user)
    admin = client.get("/admin/").content.decode()
    assert "<strong>ops.walk@example.com</strong>" in admin  # "Welcome, ops.walk@example.com"
    listed = client.get("/admin/auth/user/").content.decode()
    assert "ops.walk@" in listed


def test_noinput_with_email_option_and_an_explicit_username(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    create("--noinput", "--email", "First@Example.com")
    assert User.objects.get(email="first@example.com").username == "first@example.com"
    create("--noinput", "--email", "second@example.com", "--username", "support-desk")
    assert User.objects.get(email="second@example.com").username == "support-desk"  # kept


def test_an_email_another_account_has_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """As sign-up and the admin refuse it: two accounts with one email lock one of them out."""
    make_user("taken@example.com")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    with pytest.raises(CommandError, match=r"has the email taken@example.com \(case aside\)"):
        create("--noinput", "--email", "Taken@Example.com")
    make_user("someone@example.com", username="free@example.com")  # a username, not an email
    with pytest.raises(CommandError, match=r"cannot be the username.*use --username"):
        create("--noinput", "--email", "free@example.com")
    assert not User.objects.filter(is_superuser=True).exists()


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_is_asked_for_the_email_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Django asked for a username first (default: the system user's name)."""
    asked: list[str] = []
    answers = iter(["", "Admin@Example.com"])  # blank: asked again

    def answer(prompt: str) -> str:
        asked.append(prompt)
        return next(answers)

    monkeypatch.setattr("builtins.input", answer)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": PASSWORD)
    create(stdin=TTY())
    assert asked == ["Email address: ", "Email address: "]
    user = User.objects.get(is_superuser=True)
    assert (user.username, user.email) == ("admin@example.com", "admin@example.com")
