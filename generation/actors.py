"""Dramatiq actors. They take ids, never objects; the lease claim in `execute_job` makes them
idempotent, so a redelivered or re-sent message does nothing unless the job needs running.

Plans with high queue priority (PRODUCT.md: Advanced, Pro) go to `jobs_high`, which workers take
first (lower Dramatiq priority number). Each message carries its job type's time limit.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import dramatiq
from django.conf import settings
from django_guid.context import guid

from generation.services import execute_job

logger = logging.getLogger(__name__)

DEFAULT_TIME_LIMIT_MS = settings.JOB_TIME_LIMIT_SECONDS * 1000


@dramatiq.actor(queue_name="jobs", max_retries=0, time_limit=DEFAULT_TIME_LIMIT_MS, priority=10)
def run_job(job_id: str) -> None:
    _run(job_id)


@dramatiq.actor(queue_name="jobs_high", max_retries=0, time_limit=DEFAULT_TIME_LIMIT_MS, priority=0)
def run_job_high(job_id: str) -> None:
    _run(job_id)


def _run(job_id: str) -> None:
    """Run the job with its id as the request id of its log lines (core.logs.RequestId), and
    log how its run ended: one line per run (a duplicate message that claims nothing logs
    none)."""
    token = guid.set(job_id)
    started = time.monotonic()
    try:
        job = execute_job(job_id)
        if job is not None:
            logger.info(
                "job %s (%s, %d units of %d credits) %s after %.1f s",
                job.pk,
                job.type,
                job.units,
                job.unit_cost,
                job.status,
                time.monotonic() - started,
            )
    finally:
        guid.reset(token)


_inline_worker: dramatiq.Worker | None = None
_inline_lock = threading.Lock()


def _ensure_inline_worker() -> None:
    """Without a broker service (no REDIS_URL), run a Dramatiq worker on threads in this process."""
    global _inline_worker
    with _inline_lock:
        if _inline_worker is None:
            _inline_worker = dramatiq.Worker(dramatiq.get_broker(), worker_threads=2)
            _inline_worker.start()


def enqueue_job(
    job_id: str,
    priority: str = "normal",
    *,
    time_limit_seconds: int | None = None,
    delay_seconds: float | None = None,
) -> None:
    """Send the job's message. Raises whatever the broker raises (callers handle it)."""
    if settings.JOBS_RUN_INLINE:
        _ensure_inline_worker()
    actor = run_job_high if priority == "high" else run_job
    options: dict[str, Any] = {}
    if time_limit_seconds:
        options["time_limit"] = time_limit_seconds * 1000
    if delay_seconds:
        options["delay"] = int(delay_seconds * 1000)
    actor.send_with_options(args=(job_id,), **options)
