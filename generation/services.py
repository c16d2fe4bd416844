"""Submitting and running jobs: idempotency, charging, refunds, status.

`submit_job` runs in the request; `execute_job` runs in a Dramatiq worker (generation.actors).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from billing.services import debit_credits, lock_account, refund_credits
from generation.models import Job
from generation.progress import ProgressReporter, publish_job, record_event
from generation.registry import JobOutcome, UnitFailure, get_job_type

logger = logging.getLogger(__name__)

INTERNAL_ERROR = UnitFailure(-1, "internal_error", "Something went wrong while generating.")


class IdempotencyKeyReused(Exception):
    """The Idempotency-Key was already used for a request with a different body."""


def request_fingerprint(params: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the request parameters (64 hex chars)."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def find_replay(
    *, user: AbstractBaseUser, idempotency_key: str | None, fingerprint: str
) -> Job | None:
    """The job an earlier request with this key created, or None. Lets a replay skip the checks
    a new request would face (rate limits, credits). `fingerprint` is `request_fingerprint` of
    the request as the client sent it. Raises IdempotencyKeyReused if the key was used with a
    different body."""
    if not idempotency_key:
        return None
    job = Job.objects.filter(user=user, idempotency_key=idempotency_key).first()
    if job is not None and job.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused
    return job


def submit_job(
    *,
    user: AbstractBaseUser,
    job_type: str,
    params: dict[str, Any],
    units: int,
    unit_cost: int,
    idempotency_key: str | None = None,
    priority: str = "normal",
    prompt: str = "",
    fingerprint: str | None = None,
) -> tuple[Job, bool]:
    """Record a job, debit `units * unit_cost` credits and queue it after commit.

    Returns (job, created). With an idempotency key already used for the same request (same
    `fingerprint`, by default that of `params`), returns the original job and charges nothing.
    Raises `billing.services.InsufficientCredits` (nothing written) or `IdempotencyKeyReused`.
    """
    cost = units * unit_cost
    fingerprint = fingerprint or request_fingerprint(params)
    with transaction.atomic():
        # Every submission of one user serialises on the balance row, so the idempotency
        # look-up below and the insert cannot interleave with a concurrent duplicate.
        lock_account(user)
        existing = find_replay(user=user, idempotency_key=idempotency_key, fingerprint=fingerprint)
        if existing is not None:
            return existing, False
        job = Job.objects.create(
            user=user,
            type=job_type,
            params=params,
            prompt=prompt,
            units=units,
            unit_cost=unit_cost,
            cost=cost,
            priority=priority,
            idempotency_key=idempotency_key or None,
            request_fingerprint=fingerprint,
        )
        if cost:
            debit_credits(
                user=user,
                amount=cost,
                idempotency_key=f"job:{job.id}:debit",
                reason=f"{job_type} x{units}",
                reference=f"job:{job.id}",
            )
        record_event(job, "queued")
        transaction.on_commit(lambda: _enqueue(job))
    return job, True


def _enqueue(job: Job) -> None:
    from generation.actors import enqueue_job

    enqueue_job(str(job.id), job.priority)
    publish_job(job)


def execute_job(job_id: str) -> Job | None:
    """Run a queued job once. Claims it with a conditional UPDATE, so a redelivered message or a
    second worker does nothing. Refunds each failed unit exactly once. Returns the finished job,
    or None if it was not claimable."""
    claimed = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, stage="running", progress=5, started_at=timezone.now()
    )
    if not claimed:
        return None
    job = Job.objects.select_related("user").get(pk=job_id)
    record_event(job, "running")
    publish_job(job)
    try:
        outcome = get_job_type(job.type).run(job, ProgressReporter(job))
    except Exception:
        logger.exception("job %s crashed", job.id)
        job.refresh_from_db(fields=["units_succeeded"])
        outcome = JobOutcome(
            failures=[
                UnitFailure(i, INTERNAL_ERROR.code, INTERNAL_ERROR.message)
                for i in range(job.units_succeeded, job.units)
            ]
        )
    return finish_job(job, outcome)


def finish_job(job: Job, outcome: JobOutcome) -> Job:
    """Refund failed units, set the final status and publish it."""
    failures = outcome.failures
    for failure in failures:
        if job.unit_cost:
            refund_credits(
                user=job.user,
                amount=job.unit_cost,
                idempotency_key=f"job:{job.id}:refund:{failure.index}",
                reason=f"{job.type} unit {failure.index} failed: {failure.code}",
                reference=f"job:{job.id}",
            )
    failed = len(failures)
    if failed == 0:
        status = Job.Status.SUCCEEDED
    elif failed >= job.units:
        status = Job.Status.FAILED
    else:
        status = Job.Status.PARTIALLY_SUCCEEDED
    job.status = status
    job.stage = status
    job.progress = 100
    job.units_failed = failed
    job.units_succeeded = job.units - failed
    job.error = failures[0].message if failures else ""
    job.error_code = failures[0].code if failures else ""
    job.finished_at = timezone.now()
    job.save(
        update_fields=[
            "status",
            "stage",
            "progress",
            "units_failed",
            "units_succeeded",
            "error",
            "error_code",
            "finished_at",
        ]
    )
    record_event(job, job.error)
    publish_job(job)
    return job
