"""Accounts by the email they sign in with: one definition for the admin's user forms and the
management commands that name a creator by email."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet


def accounts_with_email(email: str) -> QuerySet[Any]:
    """The accounts whose email is `email`, case and surrounding spaces aside: the user's own
    `email`, or an allauth address of theirs (sign-up and the account's email page refuse an
    address another account has, ACCOUNT_UNIQUE_EMAIL, comparing without case). Empty for a
    blank `email`: accounts made in the admin without an email are no one's duplicate."""
    email = email.strip()
    User = get_user_model()
    if not email:
        return User.objects.none()
    match = Q(email__iexact=email) | Q(emailaddress__email__iexact=email)
    return User.objects.filter(pk__in=User.objects.filter(match).values("pk")).order_by("pk")
