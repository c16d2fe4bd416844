"""Jobs and their events: the engine's record of every piece of background AI work."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Job(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        PARTIALLY_SUCCEEDED = "partially_succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    FINISHED = (Status.SUCCEEDED, Status.PARTIALLY_SUCCEEDED, Status.FAILED, Status.CANCELLED)
    # Every `stage` a job is in (the API's JobOut.stage enum): "queued" and "waiting" (queued
    # again until a provider's quota clears), "running" once claimed, the job types' steps
    # (`JobContext.progress`, `fan_out`), then its final status. tests/test_api_schema.py checks
    # that the source names no other.
    STAGES = (
        "queued",
        "waiting",
        "running",
        "preparing",
        "reading_channel",
        "analysing",
        "rendering",
        "retrying",
        *FINISHED,
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs"
    )
    type = models.CharField(max_length=40, db_index=True)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(max_length=24, default="queued")
    progress = models.PositiveSmallIntegerField(default=0, help_text="0-100")
    params = models.JSONField(default=dict, help_text="Validated request parameters (no prompt)")
    prompt = models.TextField(blank=True, help_text="Built on the server; never sent to browsers")
    units = models.PositiveSmallIntegerField(default=1, help_text="Billable units (variations)")
    unit_cost = models.PositiveIntegerField(default=0, help_text="Credits per unit")
    cost = models.PositiveIntegerField(default=0, help_text="Credits debited on acceptance")
    units_succeeded = models.PositiveSmallIntegerField(default=0)
    units_failed = models.PositiveSmallIntegerField(default=0)
    priority = models.CharField(max_length=10, default="normal")
    # NULL, not "", when absent: the unique constraint applies only to requests that sent a key.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    request_fingerprint = models.CharField(max_length=64, blank=True)
    # What the keyed request sent (JobType.body_fingerprint): a retry is recognised by it before
    # its input is validated, so an input deleted since does not turn the replay into a 404.
    body_fingerprint = models.CharField(max_length=64, blank=True, default="")
    error = models.CharField(max_length=300, blank=True, help_text="Safe to show to the creator")
    error_code = models.CharField(max_length=40, blank=True)
    model = models.CharField(
        max_length=60, blank=True, help_text='Catalog model id; "local" for the offline renderer'
    )
    result = models.JSONField(null=True, blank=True, help_text="JSON job types' result")
    cached = models.BooleanField(default=False, help_text="Answered from the AI result cache")
    # A claim is a lease: the worker running the job renews `lease_expires_at` while it works;
    # once it lapses (the worker died) the job may be claimed again.
    lease_owner = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Claims so far")
    enqueued_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sent to the broker; NULL: the send failed"
    )
    run_after = models.DateTimeField(
        null=True, blank=True, help_text="A delayed re-queue (provider RetryInfo) runs after this"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="job_unique_idempotency_key_per_user",
            )
        ]
        indexes = [
            models.Index(fields=["user", "status", "-created_at"]),
            # The sweeper's scan: unfinished jobs only.
            models.Index(
                fields=["status", "lease_expires_at"],
                condition=models.Q(status__in=["queued", "running"]),
                name="job_unfinished_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class JobUnit(models.Model):
    """One billable unit of a job (a variation, or a JSON job's single answer).

    `pending` -> `delivered` or `failed`, each by a conditional UPDATE, so no path (crash, time
    limit, cancel, sweeper, a late worker) can deliver a refunded unit or refund a delivered one;
    the refund's ledger key `job:<id>:refund:<index>` makes it happen at most once.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="unit_rows")
    index = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error_code = models.CharField(max_length=40, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="job_unit_unique_index")
        ]

    def __str__(self) -> str:
        return f"{self.job_id}#{self.index} {self.status}"


class JobEvent(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    stage = models.CharField(max_length=24)
    progress = models.PositiveSmallIntegerField(default=0)
    message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.stage} {self.progress}%"
