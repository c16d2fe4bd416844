"""`manage.py purge_job_history`: delete job history older than the retention period, in batches.

Deletes `JobEvent` rows created before the cutoff (now - `--days`, default
settings.JOB_HISTORY_RETENTION_DAYS), then finished jobs (`Job.FINISHED`) that finished before it,
with their `JobUnit` and remaining `JobEvent` rows (CASCADE). What stays:

- the credit ledger: `CreditLedgerEntry.reference` is the text "job:<id>", not a foreign key, so
  debits and refunds keep naming the job after it is gone (the ledger is append-only);
- thumbnails: `Thumbnail.job` is SET_NULL, so the images stay in the creator's library,
  unlinked from the job;
- unfinished jobs (queued, running), whatever their age.

The command refuses to run if any other model's foreign key to `Job` would delete or block
(CASCADE / PROTECT) with the jobs, so a relation added later is noticed before it loses rows.
Each batch of `--batch-size` rows is its own short transaction: no single DELETE over the table.
Dry run unless --commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from core.commands import bounded
from generation.models import Job, JobEvent, JobUnit
from generation.services import discard_retained_inputs_on_commit

# The rows that go with a job; every other relation to Job must leave its rows (SET_NULL etc.).
OWNED_BY_JOB = (JobUnit, JobEvent)


def kept_relations() -> list[models.ForeignObjectRel]:
    """Foreign keys to Job whose rows stay (and are unlinked) when a job is deleted. Raises
    CommandError for one that would delete or block with it."""
    kept = []
    for relation in Job._meta.related_objects:
        if relation.related_model in OWNED_BY_JOB:
            continue
        if relation.on_delete in (models.CASCADE, models.PROTECT, models.RESTRICT):
            raise CommandError(
                f"{relation.related_model._meta.label}.{relation.field.name} is "
                f"{relation.on_delete.__name__}: deleting jobs would delete or block its rows; "
                "refusing (make it SET_NULL, or extend this command)"
            )
        kept.append(relation)
    return kept


def purgeable_jobs(cutoff: dt.datetime) -> QuerySet[Job]:
    """Finished before `cutoff`. A job finishes after it is created, so `created_at < cutoff`
    holds too and lets the created_at index narrow the scan. A finished job without
    `finished_at` (none are written so) counts by its creation time."""
    return Job.objects.filter(created_at__lt=cutoff, status__in=Job.FINISHED).filter(
        Q(finished_at__lt=cutoff) | Q(finished_at__isnull=True)
    )


def event_batches(cutoff: dt.datetime, size: int) -> Iterator[list[int]]:
    """Ids of events created before `cutoff`, `size` at a time, walking the primary key (events
    are inserted in time order, so the old ones come first)."""
    last = 0
    while True:
        ids = list(
            JobEvent.objects.filter(pk__gt=last, created_at__lt=cutoff)
            .order_by("pk")
            .values_list("pk", flat=True)[:size]
        )
        if not ids:
            return
        yield ids
        last = ids[-1]


def job_batches(cutoff: dt.datetime, size: int) -> Iterator[list[Any]]:
    """Ids of purgeable jobs, `size` at a time, walking (created_at, id)."""
    after: tuple[dt.datetime, Any] | None = None
    while True:
        rows = purgeable_jobs(cutoff)
        if after is not None:
            rows = rows.filter(Q(created_at__gt=after[0]) | Q(created_at=after[0], pk__gt=after[1]))
        batch = list(rows.order_by("created_at", "pk").values_list("created_at", "pk")[:size])
        if not batch:
            return
        yield [pk for _, pk in batch]
        after = batch[-1]


class Command(BaseCommand):
    help = (
        "Delete job events older than --days (default JOB_HISTORY_RETENTION_DAYS) and finished "
        "jobs that finished before then, in batches; ledger entries and thumbnails stay. "
        "Dry run unless --commit."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--commit", action="store_true")
        parser.add_argument(
            "--days",
            type=bounded(int, 1, 100_000),
            default=None,
            help="retention in days (default: settings.JOB_HISTORY_RETENTION_DAYS)",
        )
        parser.add_argument("--batch-size", type=bounded(int, 1, 100_000), default=1000)

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"]
        if days is None:
            days = settings.JOB_HISTORY_RETENTION_DAYS
        if days < 1:
            raise CommandError("--days must be at least 1")
        size = options["batch_size"]
        if size < 1:
            raise CommandError("--batch-size must be at least 1")
        kept = kept_relations()
        cutoff = timezone.now() - dt.timedelta(days=days)
        self.stdout.write(f"cutoff: {cutoff:%Y-%m-%d %H:%M:%S} UTC ({days} days)")
        if options["commit"]:
            self._purge(cutoff, size, kept)
        else:
            self._report(cutoff, kept)

    def _report(self, cutoff: dt.datetime, kept: list[models.ForeignObjectRel]) -> None:
        old_events = JobEvent.objects.filter(created_at__lt=cutoff).count()
        jobs = purgeable_jobs(cutoff)
        job_count = jobs.count()
        units = JobUnit.objects.filter(job__in=jobs).count()
        more_events = JobEvent.objects.filter(job__in=jobs, created_at__gte=cutoff).count()
        unlinked = sum(_linked(relation, jobs) for relation in kept)
        self.stdout.write(f"{old_events} job event(s) older than the cutoff would be deleted")
        self.stdout.write(
            f"{job_count} finished job(s) would be deleted "
            f"(with {units} unit(s) and {more_events} more event(s)); "
            f"{unlinked} linked row(s) kept and unlinked (thumbnails)"
        )
        self.stdout.write("dry run: nothing deleted (pass --commit)")

    def _purge(self, cutoff: dt.datetime, size: int, kept: list[models.ForeignObjectRel]) -> None:
        events = 0
        for ids in event_batches(cutoff, size):
            with transaction.atomic():
                deleted, _ = JobEvent.objects.filter(pk__in=ids).delete()
            events += deleted
        jobs = units = more_events = unlinked = 0
        for job_ids in job_batches(cutoff, size):
            with transaction.atomic():
                rows = Job.objects.filter(pk__in=job_ids, status__in=Job.FINISHED)
                unlinked += sum(_linked(relation, rows) for relation in kept)
                discard_retained_inputs_on_commit(rows)
                _, per_model = rows.delete()
            jobs += per_model.get(Job._meta.label, 0)
            units += per_model.get(JobUnit._meta.label, 0)
            more_events += per_model.get(JobEvent._meta.label, 0)
        self.stdout.write(f"{events} job event(s) older than the cutoff deleted")
        self.stdout.write(
            f"{jobs} finished job(s) deleted (with {units} unit(s) and {more_events} more "
            f"event(s)); {unlinked} linked row(s) kept and unlinked (thumbnails)"
        )


def _linked(relation: models.ForeignObjectRel, jobs: QuerySet[Job]) -> int:
    manager = relation.related_model._default_manager  # type: ignore[union-attr]
    return int(manager.filter(**{f"{relation.field.name}__in": jobs}).count())
