"""The Django admin's sign-in form, by email like the studio's (ACCOUNT_LOGIN_METHODS = {"email"}).

The field stays Django's `username` (AdminSite.login posts it to `authenticate`); allauth's
authentication backend takes the address in it, so every staff account signs in with the email
it signs in to the studio with, whatever its username. Installed by viewbait.urls."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm


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
