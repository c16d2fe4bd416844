from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from billing.models import Subscription
from core.commands import bounded
from studio.models import Thumbnail
from studio.services import do_delete_thumbnail


class Command(BaseCommand):
    help = (
        "Delete thumbnails past their plan's retention (Free: 30 days, PRODUCT.md) with their "
        "files, never those of a creator now in good standing on a plan that keeps them for "
        "good. Dry run unless --commit."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--commit", action="store_true")
        parser.add_argument("--batch", type=bounded(int, 1, 100_000), default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        # Never a thumbnail whose owner is now in good standing on a plan that keeps thumbnails
        # for good, whatever its expiry says (studio.retention clears it when the subscription
        # is saved; a row from before that, or a subscription changed by a queryset update,
        # would otherwise lose a paying creator's thumbnail).
        expired = (
            Thumbnail.objects.filter(expires_at__lte=timezone.now())
            .exclude(
                owner__subscription__status__in=Subscription.GOOD_STANDING,
                owner__subscription__plan__retention_days__isnull=True,
            )
            .order_by("expires_at")
        )
        if not options["commit"]:
            self.stdout.write(f"{expired.count()} expired thumbnail(s) (dry run; pass --commit)")
            return
        deleted = 0
        while batch := list(expired[: options["batch"]]):
            for thumbnail in batch:
                do_delete_thumbnail(thumbnail=thumbnail)
            deleted += len(batch)
        self.stdout.write(f"{deleted} expired thumbnail(s) deleted")
