"""Argument types for management commands: numbers within bounds, so edge input is a
CommandError naming the bound (argparse's error, which Django's CommandParser raises as one)
instead of a traceback from the database or datetime arithmetic; and the account a command
names by email."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from django.core.management.base import CommandError

from core.accounts import accounts_with_email


def bounded(kind: type[int] | type[float], low: float, high: float) -> Callable[[str], float]:
    """An argparse `type=` reading `kind` (int or float) in [low, high]; NaN and infinities
    are refused."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a{'n integer' if kind is int else ' number'}"
            ) from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is outside {low:g} to {high:g}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def user_by_email(email: str) -> Any:
    """The account with this email (`core.accounts.accounts_with_email`: case aside), or None.
    Two accounts with it (saved before the admin refused that) are a CommandError naming them:
    the command picked one of them silently."""
    found = list(accounts_with_email(email)[:10])
    if len(found) > 1:
        ids = ", ".join(str(user.pk) for user in found)
        raise CommandError(
            f"{len(found)} accounts have the email {email.strip()} (case aside): user ids {ids}. "
            "Give each its own email in the admin, then run this again."
        )
    return found[0] if found else None
