from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing import payments


class Command(BaseCommand):
    help = (
        "Give every paid plan and active credit pack a Stripe price (monthly / one-time), "
        "creating those Stripe does not know (dry run unless --commit)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--commit", action="store_true", help="Create prices, store ids.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not payments.configured():
            raise CommandError("STRIPE_SECRET_KEY is not set")
        for line in payments.ensure_prices(dry_run=not options["commit"]):
            self.stdout.write(line)
