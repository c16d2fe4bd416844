from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from django.utils import timezone

from core.commands import bounded
from generation.models import Job
from generation.services import finish_job, stale_outcome

STALE_MESSAGE = "The job stopped unexpectedly."
# --queued-hours below this (or below JOB_MAX_WAIT_SECONDS, when longer) needs --allow-recent.
MIN_QUEUED_HOURS = 1.0


def queued_floor_hours() -> float:
    """The youngest queued job that may be taken for stuck without --allow-recent: an hour,
    or JOB_MAX_WAIT_SECONDS when longer, since a job the provider asked to wait stays queued
    (re-sent with a delay) up to that age before the engine itself fails it."""
    return max(MIN_QUEUED_HOURS, settings.JOB_MAX_WAIT_SECONDS / 3600)


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
        # Above 0 (0 failed and refunded every queued job, one sent a second ago included), and
        # at least queued_floor_hours() unless --allow-recent: younger jobs may simply be waiting.
        parser.add_argument("--queued-hours", type=bounded(float, 0, 10**5), default=6.0)
        parser.add_argument(
            "--allow-recent",
            action="store_true",
            help="accept a --queued-hours below an hour (or JOB_MAX_WAIT_SECONDS when longer)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        queued_hours = options["queued_hours"]
        if queued_hours <= 0:
            raise CommandError(
                f"--queued-hours {queued_hours:g} would fail every queued job, even one sent a "
                "second ago: give a number of hours above 0 (default 6)."
            )
        floor = queued_floor_hours()
        if queued_hours < floor and not options["allow_recent"]:
            raise CommandError(
                f"--queued-hours {queued_hours:g} is under {floor:g} hour(s): a job queued that "
                "recently may be waiting for a busy worker or for the provider's retry "
                f"(JOB_MAX_WAIT_SECONDS={settings.JOB_MAX_WAIT_SECONDS}). Pass --allow-recent "
                "to fail such jobs anyway."
            )
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
