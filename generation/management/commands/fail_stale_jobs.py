from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from generation.models import Job
from generation.registry import JobOutcome, UnitFailure
from generation.services import finish_job

STALE_MESSAGE = "The job stopped unexpectedly. Your credits for unfinished images were refunded."


class Command(BaseCommand):
    help = (
        "Fail jobs stuck in running/queued past the job time limit (a worker died), refunding "
        "every unit that did not finish. Dry run unless --commit."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--commit", action="store_true")
        parser.add_argument(
            "--grace-seconds",
            type=int,
            default=300,
            help="added to JOB_TIME_LIMIT_SECONDS before a running job counts as stale",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        cutoff = timezone.now() - dt.timedelta(
            seconds=settings.JOB_TIME_LIMIT_SECONDS + options["grace_seconds"]
        )
        stale = Job.objects.filter(
            status__in=[Job.Status.RUNNING, Job.Status.QUEUED], created_at__lt=cutoff
        ).select_related("user")
        count = 0
        for job in stale.iterator():
            count += 1
            if not options["commit"]:
                continue
            # Past the actor's time limit Dramatiq has already aborted it, and refunds are keyed
            # per unit, so even a late finish by the worker could not refund twice.
            finish_job(
                job,
                JobOutcome(
                    [
                        UnitFailure(i, "stale", STALE_MESSAGE)
                        for i in range(job.units_succeeded, job.units)
                    ]
                ),
            )
        verb = "failed and refunded" if options["commit"] else "stale (dry run; pass --commit)"
        self.stdout.write(f"{count} job(s) {verb}")
