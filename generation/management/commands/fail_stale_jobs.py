from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Q
from django.utils import timezone

from core.commands import bounded
from generation.models import Job
from generation.services import finish_job, stale_outcome

STALE_MESSAGE = "The job stopped unexpectedly."


class Command(BaseCommand):
    help = (
        "Backstop for the sweeper: fail running jobs whose lease lapsed more than --grace-seconds "
        "ago (no worker took them back) and queued jobs never claimed for --queued-hours, "
        "refunding every unit not delivered. Dry run unless --commit."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--commit", action="store_true")
        # At least 0: a negative grace would fail jobs whose worker still holds the lease.
        parser.add_argument("--grace-seconds", type=bounded(int, 0, 10**8), default=600)
        parser.add_argument("--queued-hours", type=bounded(float, 0, 10**5), default=6.0)

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        lapsed = now - dt.timedelta(seconds=options["grace_seconds"])
        waited = now - dt.timedelta(hours=options["queued_hours"])
        condition = Q(status=Job.Status.RUNNING, lease_expires_at__lt=lapsed) | Q(
            status=Job.Status.QUEUED, created_at__lt=waited
        )
        stale = Job.objects.filter(condition).select_related("user")
        count = 0
        for job in stale.iterator():
            if not options["commit"]:
                count += 1
                continue
            # Judged again under the row lock: a worker may have claimed it since the scan.
            finished = finish_job(
                job, stale_outcome(job, "stale", STALE_MESSAGE), only_if=condition
            )
            count += finished.error_code == "stale"  # not one ended otherwise meanwhile
        verb = "failed and refunded" if options["commit"] else "stale (dry run; pass --commit)"
        self.stdout.write(f"{count} job(s) {verb}")
