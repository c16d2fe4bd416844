from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from billing.services import grant_due_monthly_credits


class Command(BaseCommand):
    help = (
        "Grant each plan's monthly credits to subscriptions whose period ended "
        "(dry run unless --commit)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--commit", action="store_true", help="Write the grants.")

    def handle(self, *args: Any, **options: Any) -> None:
        count = grant_due_monthly_credits(dry_run=not options["commit"])
        verb = "granted" if options["commit"] else "due (dry run; pass --commit)"
        self.stdout.write(f"{count} monthly grant(s) {verb}")
