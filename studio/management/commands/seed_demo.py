from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from billing.services import open_account


class Command(BaseCommand):
    help = (
        "Create the demo creator and an ops superuser for a local run (idempotent). "
        "Built-in plans, styles and palettes come from migrations."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", default="demo@viewbait.local")
        parser.add_argument("--password", default="viewbait-demo")
        parser.add_argument("--admin-email", default="admin@viewbait.local")
        parser.add_argument("--admin-password", default="viewbait-admin")

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        for email, password, staff in (
            (options["email"], options["password"], False),
            (options["admin_email"], options["admin_password"], True),
        ):
            user, created = User.objects.get_or_create(
                username=email, defaults={"email": email, "is_staff": staff, "is_superuser": staff}
            )
            if created:
                user.set_password(password)
                user.save(update_fields=["password"])
            open_account(user=user)
            self._verify_email(user)
            state = "created" if created else "exists"
            self.stdout.write(
                f"{'admin' if staff else 'creator'} {email} ({state}); password {password}"
            )

    def _verify_email(self, user: Any) -> None:
        from allauth.account.models import EmailAddress

        EmailAddress.objects.get_or_create(
            user=user, email=user.email, defaults={"verified": True, "primary": True}
        )
