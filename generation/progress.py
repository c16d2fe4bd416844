"""Job progress: stored as JobEvent rows and pushed to the owner's websocket group."""

from __future__ import annotations

import contextlib
import logging
from typing import Any, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from generation.models import Job, JobEvent
from generation.registry import get_job_type

logger = logging.getLogger(__name__)


class JobPayload(TypedDict, total=False):
    id: str
    type: str
    status: str
    stage: str
    progress: int
    error: str | None
    error_code: str | None
    cost: int
    units: int
    units_succeeded: int
    units_failed: int
    created_at: str
    finished_at: str | None
    thumbnails: list[dict[str, Any]]


def user_group(user_id: int) -> str:
    """The Channels group of one user's job events; only that user's sockets join it."""
    return f"jobs.user.{user_id}"


def job_payload(job: Job) -> JobPayload:
    """The job as the API and websocket show it: no prompt, no internal fields."""
    payload: JobPayload = {
        "id": str(job.id),
        "type": job.type,
        "status": job.status,
        "stage": job.stage,
        "progress": job.progress,
        "error": job.error or None,
        "error_code": job.error_code or None,
        "cost": job.cost,
        "units": job.units,
        "units_succeeded": job.units_succeeded,
        "units_failed": job.units_failed,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "thumbnails": [],
    }
    with contextlib.suppress(KeyError):  # a job type no longer registered shows no result
        payload.update(get_job_type(job.type).result(job))  # type: ignore[typeddict-item]
    return payload


def publish_job(job: Job) -> None:
    """Send `{"type": "job.updated", "job": payload}` to the owner's sockets. A channel-layer
    fault is logged, never raised: the job and the polling endpoint stay correct without it."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            user_group(job.user_id), {"type": "job.updated", "job": job_payload(job)}
        )
    except Exception:
        logger.warning("could not publish job %s event", job.id, exc_info=True)


class ProgressReporter:
    """Handed to a running job type: `update("rendering", 40)` stores an event and pushes it."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def update(self, stage: str, progress: int, message: str = "") -> None:
        progress = max(self.job.progress, min(progress, 99))
        Job.objects.filter(pk=self.job.pk).update(stage=stage, progress=progress)
        self.job.stage, self.job.progress = stage, progress
        JobEvent.objects.create(job=self.job, stage=stage, progress=progress, message=message)
        publish_job(self.job)


def record_event(job: Job, message: str = "") -> None:
    JobEvent.objects.create(job=job, stage=job.stage, progress=job.progress, message=message)
