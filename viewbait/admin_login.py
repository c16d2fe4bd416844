"""The Django admin's sign-in form, by email like the studio's (ACCOUNT_LOGIN_METHODS = {"email"}).

The field stays Django's `username` (AdminSite.login posts it); the form hands the address to
allauth's adapter as the `email` credential, so every staff account signs in with the email it
signs in to the studio with, whatever its username. Installed by viewbait.urls.

Going through `get_adapter().authenticate` rather than `django.contrib.auth.authenticate` puts
the admin under allauth's per-account failed-login limit (ACCOUNT_RATE_LIMITS["login_failed"],
keyed on the lower-cased address): guesses on either sign-in page count against one budget, a
locked account is refused on both with allauth's "Too many failed login attempts" (even with the
right password), and a successful sign-in takes back its own attempt as allauth's does."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import get_adapter
from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError


class EmailAdminAuthenticationForm(AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": "Please enter the email and password of a staff account.",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["username"]
        field.label = "Email"
        field.widget = forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})

    def clean(self) -> dict[str, Any]:
        email = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if email is not None and password:
            # Raises allauth's too_many_login_attempts once the address's budget is spent.
            self.user_cache = get_adapter(self.request).authenticate(
                self.request, email=email, password=password
            )
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data

    def confirm_login_allowed(self, user: Any) -> None:
        """A deactivated account is refused as a wrong password is, as Django's own admin
        sign-in does (allauth's adapter returns it so the studio can show its inactive page;
        here "This account is inactive" would confirm the password)."""
        if not user.is_active:
            raise ValidationError(self.error_messages["invalid_login"], code="invalid_login")
        super().confirm_login_allowed(user)
