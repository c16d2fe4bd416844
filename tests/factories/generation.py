"""Jobs, their units and events. `JobFactory` writes a job as the engine leaves it in a given
status, without rendering or running anything: its unit rows, its events and (`charged=True`)
its debit and refunds in the credit ledger through billing.services, keyed and referenced as
`generation.services` keys them; `thumbnails=True` adds a Thumbnail for each delivered unit of a
generate job, its four files stored (tests.factories.studio.stored_files, an eighth of the
image's pixels each way; the row has the size's real width and height). For tests whose subject is
what is done with jobs and their rows (history, the API's JSON, access rules, commands), not the
run itself: those submit and run real jobs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import factory
from django.utils import timezone

from billing.services import debit_credits
from generation.models import Job, JobEvent, JobUnit
from generation.services import debit_entry, refund_unit, unit_failed_reason
from tests.factories.accounts import UserFactory

FINISHED = {str(status) for status in Job.FINISHED}


def _finished(job: Any) -> bool:
    return job.status in FINISHED


class JobUnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = JobUnit

    job = factory.SubFactory("tests.factories.generation.JobFactory", units=0)
    index = factory.Sequence(int)
    status = JobUnit.Status.PENDING


class JobEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = JobEvent

    job = factory.SubFactory("tests.factories.generation.JobFactory")
    stage = factory.SelfAttribute("job.stage")
    progress = factory.SelfAttribute("job.progress")
    message = ""


class JobFactory(factory.django.DjangoModelFactory):
    """`JobFactory(user=u, units=2, status="succeeded")`: a 1K generate job of the offline model
    (`title=`, `aspect_ratio=`, `resolution=` fill its params as the studio's validation does).
    In a finished status its first `units_succeeded` units are delivered and the next
    `units_failed` failed (by default: all delivered when it succeeded, all failed when it
    failed or was cancelled); queued and running jobs' units are pending. Events: "queued",
    "running" once claimed, and the final status's. With `charged=True` its `cost` is debited
    and each failed unit's `unit_cost` refunded, as submit_job and refund_units do (the user
    needs the credits). With `thumbnails=True` each delivered unit of a generate job has a
    Thumbnail with small stored files (see above)."""

    class Meta:
        model = Job
        skip_postgeneration_save = True

    class Params:
        title = factory.Sequence(lambda n: f"Job {n}")
        aspect_ratio = "16:9"
        resolution = "1K"

    user = factory.SubFactory(UserFactory)
    type = "generate_thumbnails"
    status = Job.Status.QUEUED
    stage = factory.SelfAttribute("status")
    progress = factory.LazyAttribute(lambda job: 100 if _finished(job) else 0)
    units = 1
    unit_cost = 1
    cost = factory.LazyAttribute(lambda job: job.units * job.unit_cost)
    model = "local"
    params = factory.LazyAttribute(
        lambda job: {
            "title": job.title,
            "aspect_ratio": job.aspect_ratio,
            "resolution": job.resolution,
            "variations": job.units,
            "model": job.model,
            "style_id": None,
            "palette_id": None,
            "project_id": None,
            "face_ids": [],
            "expression": "",
            "pose": "",
            "instructions": "",
            "watermark": False,
        }
    )
    units_succeeded = factory.LazyAttribute(
        lambda job: job.units if job.status == Job.Status.SUCCEEDED else 0
    )
    units_failed = factory.LazyAttribute(
        lambda job: job.units if job.status in (Job.Status.FAILED, Job.Status.CANCELLED) else 0
    )
    attempts = factory.LazyAttribute(lambda job: 0 if job.status == Job.Status.QUEUED else 1)
    enqueued_at = factory.LazyFunction(timezone.now)
    started_at = factory.LazyAttribute(
        lambda job: None if job.status == Job.Status.QUEUED else timezone.now()
    )
    finished_at = factory.LazyAttribute(
        lambda job: timezone.now() + dt.timedelta(milliseconds=1) if _finished(job) else None
    )

    @factory.post_generation
    def unit_rows(job: Any, create: bool, extracted: Any, **_: Any) -> None:
        if not create:
            return
        delivered = [JobUnit.Status.DELIVERED] * job.units_succeeded
        failed = [JobUnit.Status.FAILED] * job.units_failed
        statuses = delivered + failed if _finished(job) else []
        statuses += [JobUnit.Status.PENDING] * (job.units - len(statuses))
        JobUnit.objects.bulk_create(
            JobUnit(
                job=job,
                index=index,
                status=status,
                error_code=(job.error_code or "x") if status == JobUnit.Status.FAILED else "",
            )
            for index, status in enumerate(statuses)
        )

    @factory.post_generation
    def events(job: Any, create: bool, extracted: Any, **_: Any) -> None:
        if not create:
            return
        rows = [JobEvent(job=job, stage="queued", progress=0, message="queued")]
        if job.attempts:
            rows.append(JobEvent(job=job, stage="running", progress=0, message="running"))
        if _finished(job):
            rows.append(JobEvent(job=job, stage=job.status, progress=100, message=job.error))
        JobEvent.objects.bulk_create(rows)

    @factory.post_generation
    def charged(job: Any, create: bool, extracted: Any, **_: Any) -> None:
        if not (create and extracted and job.cost):
            return
        debit_credits(user=job.user, amount=job.cost, **debit_entry(job))
        for unit in JobUnit.objects.filter(job=job, status=JobUnit.Status.FAILED):
            refund_unit(job, unit.index, unit_failed_reason(job, unit.index, unit.error_code))

    @factory.post_generation
    def thumbnails(job: Any, create: bool, extracted: Any, **_: Any) -> None:
        if not (create and extracted and job.type == "generate_thumbnails"):
            return
        from generation.sizes import pixel_size
        from studio.outputs import public_parameters
        from tests.factories.studio import ThumbnailFactory, stored_files

        params = job.params
        width, height = pixel_size(params["aspect_ratio"], params["resolution"])
        for unit in JobUnit.objects.filter(job=job, status=JobUnit.Status.DELIVERED):
            files = {**stored_files((width // 8, height // 8)), "width": width, "height": height}
            ThumbnailFactory(
                **files,
                owner=job.user,
                job=job,
                title=params.get("title", ""),
                # Set by Thumbnail.save() from the title, as the worker's rows get them.
                search_title="",
                sort_title="",
                aspect_ratio=params["aspect_ratio"],
                resolution=params["resolution"],
                variation_index=unit.index,
                parameters={**public_parameters(params), "layout": unit.index},
                created_at=job.finished_at or timezone.now(),
            )
