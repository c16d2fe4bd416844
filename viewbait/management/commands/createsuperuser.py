"""`manage.py createsuperuser` (django.contrib.auth's) for accounts that sign in by email, as every
ViewBait account does (the studio's and the admin's sign-in forms ask for the email).

Given no username (no `--username`, no DJANGO_SUPERUSER_USERNAME), the username is the email,
lower-cased, as sign-up, the admin's Add user form and `seed_demo` make it
(`core.accounts.username_for_email`): Django's refused `--noinput` with only
DJANGO_SUPERUSER_EMAIL and DJANGO_SUPERUSER_PASSWORD ("You must use --username with --noinput"),
and asked a terminal for a username first (default: the system user's name), so the admin then
greeted "WELCOME, OPSWALK" and its users list showed that name where every other row shows an
email. A terminal is asked for the email first. The email is lower-cased and refused when another
account has it, case aside, as sign-up refuses it. A username given explicitly is kept.

viewbait is listed before django.contrib.auth in INSTALLED_APPS, so this command is the one
`manage.py` runs."""

from __future__ import annotations

import os
from typing import Any

from django.contrib.auth.management.commands.createsuperuser import Command as AuthCommand
from django.core.management.base import CommandError
from django.utils.text import capfirst

from core.accounts import accounts_with_email, username_for_email

EMAIL = "email"
NOT_A_USERNAME = (
    "this email cannot be the username (another account's username, longer than 150 "
    "characters, or characters a username may not have)"
)


class Command(AuthCommand):
    help = (
        "Create a superuser that signs in with its email. Without --username (or "
        "DJANGO_SUPERUSER_USERNAME) the username is the email, as sign-up makes it."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        user_model: Any = self.UserModel
        field = user_model.USERNAME_FIELD
        if EMAIL not in user_model.REQUIRED_FIELDS:
            super().handle(*args, **options)
            return
        if not options["interactive"]:
            given = options[EMAIL] or os.environ.get("DJANGO_SUPERUSER_EMAIL")
            if given:
                options[EMAIL] = self._email(given)
            username = options[field]
            if username is None:
                username = os.environ.get(f"DJANGO_SUPERUSER_{field.upper()}")
            if username is None and options[EMAIL]:
                options[field] = username_for_email(options[EMAIL])
                if not options[field]:
                    raise CommandError(f"{NOT_A_USERNAME.capitalize()}: use --{field}.")
        elif not hasattr(self.stdin, "isatty") or self.stdin.isatty():
            email = self._email(options[EMAIL])
            while not email:
                email = self._ask_email()
            options[EMAIL] = email
            if options[field] is None:
                options[field] = username_for_email(email) or None  # None: Django asks
                if options[field] is None:
                    self.stderr.write(f"Note: {NOT_A_USERNAME}; enter one.")
        super().handle(*args, **options)

    def _email(self, given: str | None) -> str:
        """`given` stripped and lower-cased; CommandError when another account has it."""
        email = (given or "").strip().lower()
        other = accounts_with_email(email).first()
        if other is not None:
            raise CommandError(
                f"Another account ({other.get_username()}) has the email {email} (case aside)."
            )
        return email

    def _ask_email(self) -> str:
        """The email, asked of the terminal: "" (asked again) when it is blank, not an email
        address or another account's."""
        field: Any = self.UserModel._meta.get_field(EMAIL)
        value = self.get_input_data(field, f"{capfirst(field.verbose_name)}: ")
        if value is None:
            return ""  # get_input_data said why
        if not value.strip():
            self.stderr.write("Error: Enter the email address the account signs in with.")
            return ""
        try:
            return self._email(value)
        except CommandError as taken:
            self.stderr.write(f"Error: {taken}")
            return ""
