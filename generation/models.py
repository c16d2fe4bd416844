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
    error = models.CharField(max_length=300, blank=True, help_text="Safe to show to the creator")
    error_code = models.CharField(max_length=40, blank=True)
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
        indexes = [models.Index(fields=["user", "status", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.type} {self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


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
