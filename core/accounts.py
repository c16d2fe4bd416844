"""Accounts by the email they sign in with: one definition for the admin's user forms and the
management commands that name a creator by email; the username an account made by email gets;
and the addresses an account signs in with after staff change its email."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import transaction
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


def username_for_email(email: str) -> str:
    """The username of an account made with `email` and no username: the email itself (as given:
    callers lower-case it), so the admin's greeting and users list and `str(user)` show who it is.
    Sign-up (viewbait.account_adapter.AccountAdapter.populate_username), the admin's Add user
    form and `createsuperuser` (viewbait's) make it so. "" when the email cannot be one: blank,
    longer than 150 characters, characters Django's username validator refuses, or another
    account's username (case aside)."""
    if not email or len(email) > 150:
        return ""
    try:
        UnicodeUsernameValidator()(email)
    except ValidationError:
        return ""
    if get_user_model()._default_manager.filter(username__iexact=email).exists():
        return ""
    return email


def replace_email_addresses(user: Any) -> None:
    """Make `user.email` the one address `user` signs in with: their allauth addresses are
    replaced by it, primary and verified (staff made the change), in one transaction; none
    for a blank email. allauth signs in and sends password resets to any of a user's
    addresses, so an address left behind still opened the account after staff changed it."""
    from allauth.account.models import EmailAddress

    email = (user.email or "").strip()
    with transaction.atomic():
        EmailAddress.objects.filter(user=user).delete()
        if email:
            EmailAddress.objects.create(user=user, email=email.lower(), primary=True, verified=True)
