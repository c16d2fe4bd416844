from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.services import (
    MAX_ADJUSTMENT,
    InsufficientCredits,
    adjust_credits,
    get_balance,
)
from core.commands import bounded, user_by_email

# The ledger's idempotency key holds 200 characters, "command-adjust:" included.
MAX_KEY_LENGTH = 185


class Command(BaseCommand):
    help = (
        "Grant (positive AMOUNT) or take back (negative) credits of the creator with EMAIL: a "
        "ledger entry of kind `adjustment`, which never expires. Pass --key to make a retried "
        "command safe: a key already used records nothing more."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("amount", type=bounded(int, -MAX_ADJUSTMENT, MAX_ADJUSTMENT))
        parser.add_argument("--reason", required=True, help="Shown in the ledger.")
        parser.add_argument(
            "--key", help="Idempotency key (default: a new one, printed for a retry)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        amount: int = options["amount"]
        if amount == 0:
            raise CommandError("AMOUNT must not be 0.")
        reason = " ".join(options["reason"].split())
        if not reason:
            raise CommandError("Give a --reason: the creator sees it in their ledger.")
        user = user_by_email(options["email"])
        if user is None:
            raise CommandError(f"No user with the email {options['email']}.")
        key = options["key"] or uuid.uuid4().hex
        if len(key) > MAX_KEY_LENGTH:
            raise CommandError(f"--key must be at most {MAX_KEY_LENGTH} characters.")
        try:
            movement = adjust_credits(
                user=user,
                amount=amount,
                idempotency_key=f"command-adjust:{key}",
                reason=reason,
            )
        except InsufficientCredits as refused:
            raise CommandError(
                f"That would take the balance below zero: it is {refused.balance}."
            ) from refused
        entry = movement.entry
        if movement.created:
            self.stdout.write(
                f"{amount:+d} credits for {user.email} recorded; balance {movement.balance}; "
                f"key {key}"
            )
            return
        # A retried command: say what the key recorded, and refuse a key reused for another
        # adjustment instead of printing the new amount as if it had been recorded.
        if (entry.user_id, entry.amount) != (user.pk, amount):
            raise CommandError(
                f"The key {key} was already used for {entry.amount:+d} credits on "
                f"{entry.created_at:%Y-%m-%d %H:%M} UTC (ledger entry {entry.pk}); nothing "
                "changed. Pass a new --key for a different adjustment."
            )
        self.stdout.write(
            f"{amount:+d} credits for {user.email} already recorded (nothing changed); "
            f"balance {get_balance(user)}; key {key}"
        )
