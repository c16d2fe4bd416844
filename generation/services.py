"""The job engine: submitting, claiming, running, re-queueing, finishing and cancelling jobs.

`submit_job` runs in the request (under the creator's balance lock); `execute_job` runs in a
Dramatiq worker (generation.actors). Every path that ends a unit goes through a conditional
UPDATE on its `JobUnit` row, and every path that ends a job through a row-locked conditional
UPDATE on the `Job`, so crashes, time limits, cancels, the sweeper and late workers can neither
refund a delivered unit, refund one twice, nor overwrite a finished job's status.

Lock order (billing.services, docs/architecture.md): the creator's balance row before their job
rows. Submits and account deletion take the balance row first, so every path here that may
refund while it holds a job (cancel, finish, a unit's refund, a JSON result's refund) locks the
balance row before the job: taken the other way round, a cancel during an account deletion
deadlocked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Coalesce, Now
from django.utils import timezone
from dramatiq.middleware.time_limit import TimeLimitExceeded

from billing.services import (
    debit_credits,
    lock_account,
    lock_existing_account,
    record_debit,
    refund_credits,
    take_credits,
)
from core.db_faults import drop_connection, is_database_fault, log_fault
from core.redis_faults import log_throttled
from core.shared_cache import cached, invalidate
from core.types import User
from generation import catalog, result_cache
from generation.errors import IdempotencyKeyReused, JobRefused, ProviderCircuitOpen
from generation.models import Job, JobEvent, JobUnit
from generation.progress import publish_job
from generation.providers import get_provider, local_renderer
from generation.providers.base import Provider, ProviderError
from generation.registry import (
    JobOutcome,
    JobType,
    PaidPartFailed,
    UnitFailure,
    get_job_type,
    job_types,
)
from generation.resilience import RequeueUnit, Stopped, call_with_retries

logger = logging.getLogger(__name__)

T = TypeVar("T")

UNFINISHED = (Job.Status.QUEUED, Job.Status.RUNNING)
PROGRESS_WRITE_SECONDS = 2.0
INTERNAL_ERROR = "Something went wrong on our side."
TIME_LIMIT_MESSAGE = "The job ran out of time."
GAVE_UP_MESSAGE = "The job could not be completed after several tries."
CANCELLED_MESSAGE = "Cancelled."
QUOTA_WAIT_MESSAGE = "The AI service stayed busy for too long."
CIRCUIT_OPEN_MESSAGE = "The AI service for this model is failing right now."
STORE_FAILED_MESSAGE = "The result could not be saved."
RETIRED_MESSAGE = "This tool is no longer available."


# --- memory bound of large images --------------------------------------------------------------
_image_slots: threading.BoundedSemaphore | None = None
_image_slots_size = 0
_image_slots_lock = threading.Lock()


def _large_image_slots() -> threading.BoundedSemaphore:
    """The process's semaphore of GENERATION_4K_CONCURRENCY slots (rebuilt if the setting
    changes, as tests do)."""
    global _image_slots, _image_slots_size
    size = max(1, settings.GENERATION_4K_CONCURRENCY)
    with _image_slots_lock:
        if _image_slots is None or _image_slots_size != size:
            _image_slots, _image_slots_size = threading.BoundedSemaphore(size), size
        return _image_slots


@contextmanager
def image_slot(image_size: str, stop: threading.Event | None = None) -> Iterator[None]:
    """Hold one of the worker process's GENERATION_4K_CONCURRENCY slots while a 4K image is
    rendered or decoded and encoded (nothing for 1K and 2K): each 4K image in flight costs
    about 0.1-0.2 GB of Pillow buffers (a 5504x3072 RGB image is 68 MB, and a render holds
    layers of it), so this bounds a worker's peak memory however many 4K jobs its threads run
    (benchmarks/worker_images.py). Waits in 0.5 s steps; raises Stopped once `stop` is set."""
    if image_size != "4K":
        yield
        return
    slots = _large_image_slots()
    while not slots.acquire(timeout=0.5):
        if stop is not None and stop.is_set():
            raise Stopped("stopped while waiting for a 4K image slot")
    try:
        yield
    finally:
        slots.release()


REFUNDED_SENTENCE = "Your credits were refunded."


def refunded(message: str, unit_cost: int) -> str:
    """The creator-facing message of a failed unit, saying it was refunded when it cost."""
    return f"{message} {REFUNDED_SENTENCE}" if unit_cost else message


# --- job types no longer registered --------------------------------------------------------


class RetiredJobType(JobType):
    """What the engine runs, finishes, cancels and refunds a job with when its type is no longer
    registered (a release retired it while jobs of it were queued or running): every pending
    unit fails with `job_type_retired` and is refunded like any failed unit, so the job ends
    `failed` with its credits back instead of crashing each worker, sweep and cancel that
    looks its type up. It stores nothing, so it discards nothing."""

    name = "job_type_retired"
    label = "Retired tool"
    rate_limit_route = ""

    def run(self, job: Job, ctx: JobContext) -> JobOutcome:
        return stale_outcome(job, "job_type_retired", RETIRED_MESSAGE)


RETIRED_JOB_TYPE = RetiredJobType()


def engine_job_type(job: Job) -> JobType:
    """`job`'s registered job type, or RETIRED_JOB_TYPE when its type is no longer registered:
    the look-up of every path here that runs, sends, ends or refunds a job."""
    try:
        return get_job_type(job.type)
    except KeyError:
        logger.warning("job %s: its type %r is no longer registered", job.pk, job.type)
        return RETIRED_JOB_TYPE


# --- submitting ----------------------------------------------------------------------------


def request_fingerprint(params: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the request parameters (64 hex chars)."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


# The two look-ups every accepted generate makes, written out: the ORM spends about 0.4 ms of
# CPU compiling each (its COUNT aggregate more), several times what PostgreSQL spends answering
# it on its indexes (the (user, idempotency_key) constraint; (user, status, -created_at)).
_KEY_FINGERPRINT_SQL = (
    "SELECT request_fingerprint, body_fingerprint FROM {job}"
    " WHERE user_id = %s AND idempotency_key = %s LIMIT 1"
)
_UNFINISHED_SQL = "SELECT COUNT(*) FROM {job} WHERE user_id = %s AND status IN ({statuses})"


def _job_sql(template: str) -> str:
    """`template` with the Job table's quoted name and one placeholder per UNFINISHED status."""
    return template.format(
        job=connection.ops.quote_name(Job._meta.db_table),
        statuses=", ".join(["%s"] * len(UNFINISHED)),
    )


@dataclass(frozen=True)
class KeyedRequest:
    """What the request that first used an Idempotency-Key recorded: its input's `fingerprint`
    (`request_fingerprint` of the validated input) and its `body_fingerprint` (of what it sent,
    `JobType.body_fingerprint`; "" for a job recorded before it was kept)."""

    fingerprint: str
    body_fingerprint: str


def find_keyed(*, user: User, idempotency_key: str | None) -> KeyedRequest | None:
    """The fingerprints of the job an earlier request with this key created, or None (one
    indexed query; none without a key)."""
    if not idempotency_key:
        return None
    with connection.cursor() as cursor:
        cursor.execute(_job_sql(_KEY_FINGERPRINT_SQL), [user.pk, idempotency_key])
        row = cursor.fetchone()  # usually none
    return None if row is None else KeyedRequest(row[0], row[1])


def keyed_job(*, user: User, idempotency_key: str) -> Job:
    """The job `user` created with `idempotency_key` (raises Job.DoesNotExist)."""
    return Job.objects.get(user=user, idempotency_key=idempotency_key)


def find_replay(*, user: User, idempotency_key: str | None, fingerprint: str) -> Job | None:
    """The job an earlier request with this key created, or None (one indexed query, none
    without a key; a second loads the job when there is one). Raises IdempotencyKeyReused if
    the key was used with a different body."""
    keyed = find_keyed(user=user, idempotency_key=idempotency_key)
    if keyed is None or not idempotency_key:
        return None
    if keyed.fingerprint != fingerprint:
        raise IdempotencyKeyReused
    return keyed_job(user=user, idempotency_key=idempotency_key)


def unfinished_jobs(user: User) -> int:
    """How many of `user`'s jobs are queued or running (one COUNT on the (user, status)
    index)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _job_sql(_UNFINISHED_SQL), [user.pk, *(status.value for status in UNFINISHED)]
        )
        return int(cursor.fetchone()[0])


# Bounds how long a missed invalidation could go unseen; every job that enters or leaves
# UNFINISHED invalidates at once (`submit_job`, `_set_final`).
UNFINISHED_CACHE_SECONDS = 300


def unfinished_namespace(user_id: int) -> str:
    """The shared-cache namespace (core.shared_cache) of `cached_unfinished_jobs`."""
    return f"generation:unfinished:{user_id}"


def cached_unfinished_jobs(user: User) -> int:
    """`unfinished_jobs(user)` for a page to show (the studio's cards of jobs in flight), from the
    shared cache: a visit with no job in flight then needs no query. A new job and a job's end
    invalidate it when their transaction commits. Never for a decision that must hold under the
    account lock: `submit_job` counts in the database."""
    return cached(
        unfinished_namespace(user.pk),
        lambda: unfinished_jobs(user),
        timeout=UNFINISHED_CACHE_SECONDS,
    )


class _Replayed(Exception):
    """Rolls back what was written before a duplicate's original job was found."""

    def __init__(self, job: Job) -> None:
        self.job = job


def _duplicate_of(
    error: IntegrityError, *, user: User, idempotency_key: str | None, fingerprint: str
) -> Job:
    """The job an insert that broke the (user, idempotency_key) constraint duplicated, read
    after the rollback. Raises IdempotencyKeyReused for another body, and re-raises `error`
    when it was another constraint (no job holds the key)."""
    existing = find_replay(user=user, idempotency_key=idempotency_key, fingerprint=fingerprint)
    if existing is None:
        raise error
    return existing


def job_reference(job: Job) -> str:
    """The ledger reference of every credit movement of `job`: "job:<id>"."""
    return f"job:{job.id}"


def debit_entry(job: Job) -> dict[str, str]:
    """The ledger fields of `job`'s debit, for billing.services.debit_credits / record_debit
    with the user and amount: its idempotency key "job:<id>:debit" (one debit per job), its
    reason ("generate_thumbnails x4") and reference."""
    return {
        "idempotency_key": f"{job_reference(job)}:debit",
        "reason": f"{job.type} x{job.units}",
        "reference": job_reference(job),
    }


def unit_failed_reason(job: Job, index: int, code: str) -> str:
    """A failed unit's refund reason: "generate_thumbnails unit 2 failed: provider_error"."""
    return f"{job.type} unit {index} failed: {code}"


def refund_unit(job: Job, index: int, reason: str) -> None:
    """Refund unit `index` of `job` (its unit cost) with `reason`, once: the idempotency key
    "job:<id>:refund:<index>" makes a second refund of the unit a no-op."""
    refund_credits(
        user=job.user,
        amount=job.unit_cost,
        idempotency_key=f"{job_reference(job)}:refund:{index}",
        reason=reason,
        reference=job_reference(job),
    )


def submit_job(
    *,
    user: User,
    job_type: str,
    params: dict[str, Any],
    units: int,
    unit_cost: int,
    model: str = "",
    idempotency_key: str | None = None,
    priority: str = "normal",
    fingerprint: str | None = None,
    body_fingerprint: str = "",
    max_concurrent: int | None = None,
    cached_result: dict[str, Any] | None = None,
) -> tuple[Job, bool, int | None]:
    """Record a job, debit `units * unit_cost` credits and queue it after commit.

    Returns (job, created, credits_remaining): the balance after this job's debit, or None when
    nothing was debited (a replay, a cached or free job). With an idempotency key already used
    for the same request (same `fingerprint`, by default that of `params`), returns the original
    job and charges nothing; `body_fingerprint` (of what the request sent) is kept with the job
    for a retry's look-up before validation (`generation.pipeline.submit`). With
    `cached_result`, the job is recorded as already succeeded from the result cache and costs
    nothing. Raises `billing.services.InsufficientCredits` (nothing
    written), `IdempotencyKeyReused`, or JobRefused 429 `too_many_jobs` when the creator already
    has `max_concurrent` jobs queued or running.

    Callers check for a replay first (`find_keyed`, before their rate limits); a duplicate
    that raced past that check is caught here by the (user, idempotency_key) unique
    constraint: its insert fails, everything this call wrote rolls back, and the original job
    is returned (or IdempotencyKeyReused raised), before any refusal it would otherwise get
    (too_many_jobs, insufficient credits).
    """
    fingerprint = fingerprint or request_fingerprint(params)
    now = timezone.now()
    cost = units * unit_cost if cached_result is None else 0
    try:
        with transaction.atomic():
            # Every submission of one user serialises on the balance row, so the concurrency
            # count and the insert cannot interleave with another submission's. With enough
            # credits one UPDATE both locks the row and takes the cost (rolled back by a
            # refusal below); otherwise the row is locked and the refusals keep their order
            # (a duplicate key, then too_many_jobs, then insufficient credits).
            taken = take_credits(user=user, amount=cost) if cost else None
            if taken is None:
                lock_account(user)
            common = {
                "user": user,
                "type": job_type,
                "params": params,
                "units": units,
                "model": model,
                "priority": priority,
                "idempotency_key": idempotency_key or None,
                "request_fingerprint": fingerprint,
                "body_fingerprint": body_fingerprint if idempotency_key else "",
            }
            if cached_result is not None:
                job = Job.objects.create(
                    **common,
                    unit_cost=0,
                    cost=0,
                    status=Job.Status.SUCCEEDED,
                    stage=Job.Status.SUCCEEDED,
                    progress=100,
                    result=cached_result,
                    cached=True,
                    units_succeeded=units,
                    finished_at=now,
                )
                JobUnit.objects.bulk_create(
                    JobUnit(job=job, index=i, status=JobUnit.Status.DELIVERED) for i in range(units)
                )
                transaction.on_commit(lambda: publish_job(job))
                return job, True, None
            if max_concurrent is not None and unfinished_jobs(user) >= max_concurrent:
                # Rare: whether a duplicate raced here is worth a look-up (it is answered first).
                existing = find_replay(
                    user=user, idempotency_key=idempotency_key, fingerprint=fingerprint
                )
                if existing is not None:
                    raise _Replayed(existing)
                raise JobRefused(
                    f"Your plan runs {max_concurrent} jobs at once; wait for one to finish.",
                    "too_many_jobs",
                    429,
                    limit=max_concurrent,
                )
            job = Job.objects.create(**common, unit_cost=unit_cost, cost=cost, enqueued_at=now)
            JobUnit.objects.bulk_create(JobUnit(job=job, index=i) for i in range(units))
            invalidate(unfinished_namespace(user.pk))  # with the credits', in one round trip
            balance = None
            if cost:
                debit: dict[str, Any] = {"user": user, "amount": cost, **debit_entry(job)}
                movement = (
                    record_debit(taken, **debit) if taken is not None else debit_credits(**debit)
                )
                balance = movement.balance
            record_event(job, "queued")
            transaction.on_commit(lambda: _send_and_publish(job))
    except _Replayed as replayed:
        return replayed.job, False, None
    except IntegrityError as error:
        if not idempotency_key:
            raise
        duplicated = _duplicate_of(
            error, user=user, idempotency_key=idempotency_key, fingerprint=fingerprint
        )
        return duplicated, False, None
    return job, True, balance


def _send_and_publish(job: Job) -> None:
    send_job(job)
    publish_job(job, with_result=False)  # a new job has no result yet: no query for one


def send_job(job: Job, *, delay_seconds: float | None = None) -> bool:
    """Put the job's message on its queue. A broker fault is logged and `enqueued_at` cleared,
    so the sweeper sends it again; never raised (the request already committed the charge)."""
    from generation.actors import enqueue_job

    try:
        enqueue_job(
            str(job.id),
            job.priority,
            time_limit_seconds=engine_job_type(job).time_limit_seconds,
            delay_seconds=delay_seconds,
        )
    except Exception:
        log_throttled(
            logger,
            "broker-send",
            "could not send job %s to the broker; the sweeper will retry",
            job.id,
            level=logging.ERROR,
            exc_info=True,
        )
        Job.objects.filter(pk=job.pk, status__in=UNFINISHED).update(enqueued_at=None)
        return False
    return True


# --- running -------------------------------------------------------------------------------


class UnitNotPending(Exception):
    """The unit was already delivered, failed, refunded or cancelled."""


@dataclass
class _Tick:
    stage: str
    progress: int


class JobContext:
    """What a running job type works through: progress, provider calls with retries, the
    per-unit fan-out, deliveries and the result cache. Holds the job's lease and renews it on a
    heartbeat thread; `stop` is set when the job is cancelled or the lease is lost."""

    def __init__(self, job: Job, lease_owner: str, job_type: JobType) -> None:
        self.job = job
        self.job_type = job_type
        self.lease_owner = lease_owner
        self.stop = threading.Event()
        self.lease_lost = threading.Event()
        self._tick = _Tick(job.stage, job.progress)
        self._partial: dict[int, float] = {}  # unit index -> share done, while it is made
        self._heartbeat: threading.Thread | None = None
        self._done = threading.Event()
        self._provider: Provider | None = None

    # progress ----------------------------------------------------------------------------
    def progress(self, stage: str, percent: int) -> None:
        """Publish progress to the creator's sockets. No database query: the heartbeat
        stores the latest stage and percentage with the lease."""
        percent = max(self._tick.progress, min(percent, 99))
        self._tick = _Tick(stage, percent)
        self.job.stage, self.job.progress = stage, percent
        publish_job(self.job, with_result=False)

    def unit_progress(self, index: int, share: float) -> None:
        """How much of unit `index` is made (0-1), from a `fan_out` producer's thread (e.g. a
        renderer's `ImageRequest.progress`). `fan_out` folds it into the job's progress on its
        next tick (at most every 0.5 s), so several images made at once move the bar
        together instead of holding it until the first is delivered."""
        self._partial[index] = max(self._partial.get(index, 0.0), min(1.0, share))

    # lease -------------------------------------------------------------------------------
    def start_heartbeat(self) -> None:
        """Start renewing the lease on a thread with its own database connection. Not inside an
        enclosing transaction (a test's `TestCase`-style transaction; workers never run a job in
        one): that connection could not see the job's uncommitted row and would take every
        renewal for a lost lease."""
        if connection.in_atomic_block:
            return
        self._heartbeat = threading.Thread(
            target=self._renew, name=f"lease-{self.job.pk}", daemon=True
        )
        self._heartbeat.start()

    def stop_heartbeat(self) -> None:
        self._done.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=5)

    def _renew(self) -> None:
        """Renew the lease every third of JOB_LEASE_SECONDS, and store the latest progress at
        most every PROGRESS_WRITE_SECONDS while it changes (for `GET /api/jobs/<id>` and page
        reloads; the websocket gets every tick without a query)."""
        renew_every = max(0.2, settings.JOB_LEASE_SECONDS / 3)
        wake = min(renew_every, PROGRESS_WRITE_SECONDS)
        written, renewed_at = self._tick, time.monotonic()
        try:
            while not self._done.wait(wake):
                due = time.monotonic() - renewed_at >= renew_every
                if not due and self._tick == written:
                    continue
                written, renewed_at = self._tick, time.monotonic()
                try:
                    renewed = Job.objects.filter(
                        pk=self.job.pk, lease_owner=self.lease_owner, status=Job.Status.RUNNING
                    ).update(
                        lease_expires_at=Now() + dt.timedelta(seconds=settings.JOB_LEASE_SECONDS),
                        stage=self._tick.stage,
                        progress=self._tick.progress,
                    )
                except Exception as exc:
                    log_fault(
                        logger, "lease", exc, "could not renew the lease of job %s", self.job.pk
                    )
                    continue
                if not renewed:
                    logger.info("job %s: lease lost or job cancelled; stopping", self.job.pk)
                    self.lease_lost.set()
                    self.stop.set()
                    return
        finally:
            connection.close()

    # providers ---------------------------------------------------------------------------
    @property
    def provider(self) -> Provider:
        """The configured provider (`get_provider`); for a job made for the offline renderer
        (model "local": the demo seed, or a job queued before a key was set) the offline
        renderer even where a Gemini key is set, which it would reach as model "local": a 404
        that opens the breaker."""
        if self._provider is None:
            offline_job = (self.job.model or catalog.LOCAL) == catalog.LOCAL
            use_local = offline_job and not catalog.is_offline()
            self._provider = local_renderer() if use_local else get_provider()
        return self._provider

    @property
    def model(self) -> catalog.ModelSpec:
        return catalog.get_model(self.job.model or catalog.LOCAL)

    def call(self, fn: Callable[[Provider], T], *, image_size: str = "") -> T:
        """`fn(provider)` with retries, the model's breaker and concurrency slot. Raises
        ProviderError, ProviderCircuitOpen, RequeueUnit or Stopped (see resilience)."""
        provider = self.provider
        resume = self._tick.stage if self._tick.stage != "retrying" else "rendering"
        retried = threading.Event()

        def on_retry() -> None:  # the card says so while the call waits to try again
            retried.set()
            self.progress("retrying", self._tick.progress)

        value = call_with_retries(
            lambda: fn(provider),
            provider=provider.name,
            model=self.job.model or catalog.LOCAL,
            hold_seconds=self.model.timeout_for(image_size) + 30,
            stop=self.stop,
            on_retry=on_retry,
        )
        if retried.is_set() and self._tick.stage == "retrying":
            self.progress(resume, self._tick.progress)
        return value

    # units -------------------------------------------------------------------------------
    def pending_units(self) -> list[int]:
        return retry_on_database_fault(
            lambda: list(
                JobUnit.objects.filter(job=self.job, status=JobUnit.Status.PENDING)
                .order_by("index")
                .values_list("index", flat=True)
            ),
            f"job {self.job.pk}: reading its pending units",
        )

    def _delivered(self, index: int) -> bool:
        """Whether unit `index` is delivered, under this worker's lease (after a fault as its
        delivery committed: the commit may have gone through)."""
        return JobUnit.objects.filter(
            job=self.job,
            index=index,
            status=JobUnit.Status.DELIVERED,
            job__lease_owner=self.lease_owner,
        ).exists()

    @contextmanager
    def delivering(self, index: int, *, refunding: bool = False) -> Iterator[None]:
        """A transaction in which unit `index` becomes delivered; write its rows inside. With
        `refunding` (the rows inside move credits) the balance row is locked before the job's,
        as the lock order asks. Raises UnitNotPending (nothing written) if the unit is no
        longer pending or this worker no longer holds the job's lease."""
        with transaction.atomic():
            if refunding:
                lock_existing_account(user_id=self.job.user_id)
            # Only while this worker holds the lease (a worker that lost it, and has not noticed
            # yet, cannot deliver a unit the new holder is also making), checked under the job's
            # row lock, which a cancel or a finish holds while it refunds: the unit's own UPDATE
            # then needs no join, whose subquery PostgreSQL would not re-check after waiting.
            holds_lease = (
                Job.objects.select_for_update()
                .filter(pk=self.job.pk, lease_owner=self.lease_owner, status=Job.Status.RUNNING)
                .exists()
            )
            marked = holds_lease and JobUnit.objects.filter(
                job=self.job, index=index, status=JobUnit.Status.PENDING
            ).update(status=JobUnit.Status.DELIVERED)
            if not marked:
                raise UnitNotPending(index)
            yield

    def fan_out(
        self,
        indexes: list[int],
        produce: Callable[[int], T],
        deliver: Callable[[int, T], None],
        *,
        stage: str = "rendering",
        first_percent: int = 20,
    ) -> JobOutcome:
        """Run `produce(index)` for each unit on a bounded thread pool (provider calls are
        network-bound) and `deliver(index, value)` on this thread as each finishes (database
        writes stay here). Per-unit failures are collected, never raised; a unit whose
        provider asked for a long wait stays pending and the outcome asks for a re-queue."""
        failures: list[UnitFailure] = []
        requeue: float | None = None
        total = max(1, len(indexes))
        done = 0
        cost = self.job.unit_cost
        workers = max(1, min(settings.GENERATION_PROVIDER_CONCURRENCY, total))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"job-{self.job.pk}")
        try:
            futures: dict[Future[T], int] = {pool.submit(produce, i): i for i in indexes}
            waiting = set(futures)
            while waiting and not self.stop.is_set():
                # A bounded wait, so Dramatiq's time limit (an async exception) lands promptly.
                finished, waiting = wait(waiting, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in finished:
                    index = futures[future]
                    failure, delay = self._deliver_one(future, index, deliver, cost)
                    if failure is not None:
                        failures.append(failure)
                    if delay is not None:  # runs again later: not done, for the progress bar
                        requeue = max(requeue or 0.0, delay)
                    else:
                        done += 1
                    self._partial.pop(index, None)
                # Units still being made count with the share their producers reported.
                made = done + sum(self._partial.get(futures[f], 0.0) for f in waiting)
                percent = first_percent + round((95 - first_percent) * made / total)
                if finished or percent > self._tick.progress:
                    self.progress(stage, percent)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return JobOutcome(sorted(failures, key=lambda f: f.index), requeue_after=requeue)

    def _deliver_one(
        self, future: Future[T], index: int, deliver: Callable[[int, T], None], cost: int
    ) -> tuple[UnitFailure | None, float | None]:
        try:
            value = future.result()
        except RequeueUnit as exc:
            logger.info("job %s unit %d: %s", self.job.pk, index, exc)
            return None, exc.delay
        except Stopped:
            return None, None
        except ProviderError as exc:
            logger.warning("job %s unit %d: %s (%s)", self.job.pk, index, exc.code, exc.detail)
            return UnitFailure(index, exc.code, refunded(exc.message, cost)), None
        except ProviderCircuitOpen:
            return UnitFailure(
                index, "provider_unavailable", refunded(CIRCUIT_OPEN_MESSAGE, cost)
            ), None
        except Exception:
            logger.exception("job %s unit %d crashed", self.job.pk, index)
            return UnitFailure(index, "internal_error", refunded(INTERNAL_ERROR, cost)), None
        if self.stop.is_set():
            return None, None
        try:
            # A database fault is not a storage fault: the delivery is tried once more on a
            # fresh connection, and if the database is still down it propagates (the unit stays
            # pending, `execute_job` ends the attempt and the next one delivers it).
            retry_on_database_fault(
                lambda: deliver(index, value),
                f"job {self.job.pk} unit {index}: delivering",
                done=lambda: self._delivered(index) or None,
            )
        except UnitNotPending:
            logger.info("job %s unit %d was no longer pending; result dropped", self.job.pk, index)
        except Exception as exc:
            if is_database_fault(exc):
                raise
            logger.exception("job %s unit %d: delivering failed", self.job.pk, index)
            return UnitFailure(index, "storage_error", refunded(STORE_FAILED_MESSAGE, cost)), None
        return None, None

    # JSON results ------------------------------------------------------------------------
    def run_json(self, compute: Callable[[], dict[str, Any]]) -> JobOutcome:
        """The one-unit JSON job: `compute()` through the result cache's single flight (when
        the job type has a CachePolicy), stored in `Job.result`. A result another job computed
        (or the cache held) is delivered and its credits refunded: `cached: true`. A `compute`
        that raises PaidPartFailed has its free part delivered (not cached) and its credits
        refunded too."""
        policy = self.job_type.cache
        key = self.job.params.get("cache_key")

        def produce(_index: int) -> tuple[dict[str, Any], bool, str]:
            try:
                if policy is None or not key:
                    return compute(), False, ""
                result, from_cache = result_cache.single_flight(
                    key,
                    compute,
                    ttl_seconds=policy.ttl_seconds,
                    stop=self.stop,
                    # A computation lasts at most the run's time limit (a video's three
                    # attempts of 180 s outlasted the default lock: a second job computed too).
                    lock_seconds=self.job_type.time_limit_seconds,
                    usable=self.job_type.cached_result_usable,
                )
                return result, from_cache, ""
            except PaidPartFailed as partial:
                logger.warning("job %s: paid part failed (%s)", self.job.pk, partial.code)
                # `refunded`, so a card or client reading the result knows the charge came back.
                return {**partial.result, "refunded": True}, False, partial.code

        def deliver(index: int, value: tuple[dict[str, Any], bool, str]) -> None:
            result, from_cache, failed = value
            refunding = bool((from_cache or failed) and self.job.unit_cost)
            with self.delivering(index, refunding=refunding):
                Job.objects.filter(pk=self.job.pk).update(result=result, cached=from_cache)
                if refunding:
                    why = (
                        f"{failed}, the rest delivered"
                        if failed
                        else "answered from the result cache"
                    )
                    refund_unit(self.job, index, f"{self.job.type}: {why}")
            self.job.result, self.job.cached = result, from_cache

        return self.fan_out(self.pending_units(), produce, deliver, stage="analysing")


def retry_on_database_fault(
    fn: Callable[[], T], what: str, *, done: Callable[[], T | None] | None = None
) -> T:
    """`fn()`, run once more on a fresh connection if it raised a database fault (a dropped
    connection: core.db_faults); a second fault propagates. `fn` must be safe to run again
    after a fault: its transaction rolled back (a delivery wrote nothing), or it only reads.
    A fault as a transaction commits leaves unknown whether it did: `done()`, asked first on
    the new connection, answers that (not None: what to return instead of running `fn`)."""
    try:
        return fn()
    except Exception as exc:
        if not is_database_fault(exc):
            raise
        logger.warning("%s: database fault (%s: %s); retrying once", what, type(exc).__name__, exc)
        drop_connection()
    if done is not None and (value := done()) is not None:
        logger.info("%s: it had committed before the fault", what)
        return value
    return fn()


def claim_job(job_id: str, lease_owner: str) -> bool:
    """Claim a queued job (past any `run_after`), or a running one whose lease lapsed (its
    worker died), in one conditional UPDATE. True if this caller now holds the lease. Lease
    times are the database's clock (`Now()`), so workers with skewed clocks agree."""
    now = Now()
    claimable = (
        Q(status=Job.Status.QUEUED) & (Q(run_after__isnull=True) | Q(run_after__lte=now))
    ) | Q(status=Job.Status.RUNNING, lease_expires_at__lt=now)
    return bool(
        Job.objects.filter(Q(pk=job_id) & claimable).update(
            status=Job.Status.RUNNING,
            stage="running",
            lease_owner=lease_owner,
            lease_expires_at=now + dt.timedelta(seconds=settings.JOB_LEASE_SECONDS),
            attempts=F("attempts") + 1,
            started_at=Coalesce(F("started_at"), Now()),
            run_after=None,
        )
    )


def execute_job(job_id: str) -> Job | None:
    """Run a job once in this worker. Returns the job, or None if it was not claimable (a
    duplicate message, a job already running elsewhere, finished, or cancelled) or no longer
    exists (its account was deleted while it ran: deleting an account deletes its jobs, so
    there is nothing left to finish, refund or publish).

    Dramatiq's TimeLimitExceeded ends the job `failed` with its unfinished units refunded at
    once; any other crash does the same with `internal_error`.
    """
    try:
        return _execute_job(job_id)
    except Job.DoesNotExist:
        # Every re-read of the job here (after the claim, after a lost lease, when finishing or
        # re-queueing it) raises this once the job is gone: an outcome, not a crash.
        logger.info("job %s no longer exists (its account was deleted); stopping", job_id)
        return None


# Waits between claims of a job while the database cannot be reached (about 15 s in all): a
# worker's pool that has just seen an outage waits 0.5 s for a connection
# (core.postgresql.base.FailFastPool) and reconnects within a few seconds of the database's return.
CLAIM_RETRY_SECONDS = (0.5, 1.0, 2.0, 4.0, 8.0)


def claim_when_reachable(job_id: str, lease_owner: str) -> bool:
    """`claim_job`, tried again after each of CLAIM_RETRY_SECONDS while it raises a database
    fault (core.db_faults), each on a fresh connection. Still unreachable after the last: False,
    the job left queued for the sweeper to send again, with a throttled WARNING and no
    traceback (a message that raised was logged as an ERROR with one and not retried: a job
    submitted as the database came back waited about a minute, fault test). A claim whose
    commit the fault hid lapses with its lease, and the sweeper sends it again too."""
    for pause in (*CLAIM_RETRY_SECONDS, None):
        try:
            # Called inside a transaction (a test's), the try gets a savepoint, so a fault
            # dooms only it; a worker claims in autocommit, one statement.
            with transaction.atomic() if connection.in_atomic_block else nullcontext():
                return claim_job(job_id, lease_owner)
        except Exception as exc:
            if not is_database_fault(exc):
                raise
            drop_connection()
            if pause is None:
                log_throttled(
                    logger,
                    "claim-database-fault",
                    "job %s: the database stayed unreachable (%s); left for the sweeper",
                    job_id,
                    type(exc).__name__,
                )
                return False
            log_throttled(
                logger,
                "claim-database-fault",
                "job %s: the database is unreachable (%s); claiming again in %.1f s",
                job_id,
                type(exc).__name__,
                pause,
            )
            time.sleep(pause)
    return False  # not reached: the loop returns or raises


def _execute_job(job_id: str) -> Job | None:
    owner = uuid.uuid4().hex
    if not claim_when_reachable(job_id, owner):
        return None
    job = Job.objects.select_related("user").get(pk=job_id)
    job_type = engine_job_type(job)
    record_event(job, "running" if job.attempts == 1 else f"running (try {job.attempts})")
    publish_job(job, with_result=False)
    if job.attempts > settings.JOB_MAX_ATTEMPTS:
        return finish_job(job, stale_outcome(job, "gave_up", GAVE_UP_MESSAGE), lease_owner=owner)
    ctx = JobContext(job, owner, job_type)
    ctx.start_heartbeat()
    database_down = False
    try:
        outcome = job_type.run(job, ctx)
    except TimeLimitExceeded:
        ctx.stop.set()
        logger.warning("job %s hit its time limit", job.pk)
        outcome = stale_outcome(job, "time_limit", TIME_LIMIT_MESSAGE)
    except Exception as exc:
        if is_database_fault(exc):
            ctx.stop.set()
            database_down = True
            logger.warning(
                "job %s: the database stayed unreachable (%s: %s); its pending units wait for "
                "the next attempt, once its lease lapses",
                job.pk,
                type(exc).__name__,
                exc,
            )
        else:
            logger.exception("job %s crashed", job.pk)
            outcome = stale_outcome(job, "internal_error", INTERNAL_ERROR)
    finally:
        ctx.stop_heartbeat()
    if database_down:
        # Nothing here can be written without the database: the job stays running with its
        # units pending (none failed, none refunded) and no heartbeat, so its lease lapses and
        # the sweeper sends it again (claim_job takes a lapsed lease; JOB_MAX_ATTEMPTS bounds
        # the tries). Units already delivered stay delivered and are not made again.
        drop_connection()
        return job
    if ctx.lease_lost.is_set():
        job.refresh_from_db()
        return job
    if outcome.requeue_after is not None:
        waited = (timezone.now() - job.created_at).total_seconds()
        if waited + outcome.requeue_after > settings.JOB_MAX_WAIT_SECONDS:
            outcome.failures += stale_outcome(job, "quota_exceeded", QUOTA_WAIT_MESSAGE).failures
        else:
            refund_units(job, outcome.failures, lease_owner=owner)
            if requeue_job(job, owner, outcome.requeue_after):
                return job
    return finish_job(job, outcome, lease_owner=owner)


def stale_outcome(job: Job, code: str, message: str) -> JobOutcome:
    """Every still-pending unit of `job` as a failure with `code` (its refund noted)."""
    pending = JobUnit.objects.filter(job=job, status=JobUnit.Status.PENDING).values_list(
        "index", flat=True
    )
    return JobOutcome([UnitFailure(i, code, refunded(message, job.unit_cost)) for i in pending])


def requeue_job(job: Job, lease_owner: str, delay_seconds: float) -> bool:
    """Give the job back to its queue to run its pending units after `delay_seconds` (a
    provider's RetryInfo), freeing this worker meanwhile. The claim it gives back does not
    count against JOB_MAX_ATTEMPTS (waiting is not failing). False if the lease was lost."""
    released = Job.objects.filter(
        pk=job.pk, lease_owner=lease_owner, status=Job.Status.RUNNING
    ).update(
        status=Job.Status.QUEUED,
        stage="waiting",
        lease_owner="",
        lease_expires_at=None,
        attempts=F("attempts") - 1,
        run_after=Now() + dt.timedelta(seconds=delay_seconds),
        enqueued_at=Now(),
    )
    if not released:
        return False
    job.refresh_from_db()
    record_event(job, f"the AI service asked to wait; retrying in {round(delay_seconds)} s")
    send_job(job, delay_seconds=delay_seconds)
    publish_job(job, with_result=False)
    return True


def refund_units(
    job: Job, failures: list[UnitFailure], *, lease_owner: str | None = None
) -> list[UnitFailure]:
    """Fail and refund each listed unit that is still pending; returns those refunded. The
    conditional UPDATE and the ledger key `job:<id>:refund:<index>` make each refund happen
    at most once and never for a delivered unit. With `lease_owner`, only while that worker
    holds the job's lease (its row locked meanwhile): a worker that lost the lease without
    noticing yet must not fail units the new holder is making."""
    done: list[UnitFailure] = []
    for failure in failures:
        with transaction.atomic():
            if job.unit_cost:  # the balance row before the job's and the unit's (lock order)
                lock_existing_account(user_id=job.user_id)
            if lease_owner is not None and not (
                Job.objects.select_for_update()
                .filter(pk=job.pk, lease_owner=lease_owner, status=Job.Status.RUNNING)
                .exists()
            ):
                break
            failed = JobUnit.objects.filter(
                job=job, index=failure.index, status=JobUnit.Status.PENDING
            ).update(status=JobUnit.Status.FAILED, error_code=failure.code)
            if not failed:
                continue
            if job.unit_cost:
                refund_unit(
                    job, failure.index, unit_failed_reason(job, failure.index, failure.code)
                )
        done.append(failure)
    if done:
        job_type = engine_job_type(job)
        indexes = [f.index for f in done]

        def discard_units() -> None:
            # After the refund committed: a fault here must not fail the caller's request.
            for index in indexes:
                try:
                    job_type.discard_unit(job, index)
                except Exception:
                    logger.exception("job %s: could not discard unit %d's files", job.pk, index)

        transaction.on_commit(discard_units)
    return done


def finish_job(
    job: Job, outcome: JobOutcome, *, lease_owner: str | None = None, only_if: Q | None = None
) -> Job:
    """Refund the outcome's failed units (and any unit left pending), set the final status
    from the units, and publish it. With `lease_owner`, only while that worker still holds
    the lease; with `only_if`, only while the locked row still matches it (e.g. a backstop's
    "lease lapsed" that a worker may have ended by claiming the job meanwhile). A job already
    finished or cancelled, or no longer matching, is returned unchanged."""
    with transaction.atomic():
        if job.unit_cost:  # it may refund: the balance row before the job's (lock order)
            lock_existing_account(user_id=job.user_id)
        rows = Job.objects.select_for_update().filter(pk=job.pk, status__in=UNFINISHED)
        if lease_owner is not None:
            rows = rows.filter(lease_owner=lease_owner)
        if only_if is not None:
            rows = rows.filter(only_if)
        if not rows.exists():
            job.refresh_from_db()
            return job
        failures = list(outcome.failures)
        listed = {f.index for f in failures}
        failures += [
            f
            for f in stale_outcome(job, "internal_error", INTERNAL_ERROR).failures
            if f.index not in listed
        ]
        refund_units(job, failures)
        units = list(JobUnit.objects.filter(job=job).values_list("index", "status"))
        counts = Counter(status for _, status in units)
        # The error speaks only for units that failed: a listed unit may have been delivered
        # after all (a storage fault after its row committed), and nothing was refunded for it.
        failed = {index for index, status in units if status == JobUnit.Status.FAILED}
        failures = [f for f in failures if f.index in failed]
        delivered = counts.get(JobUnit.Status.DELIVERED, 0)
        if delivered >= job.units:
            status = Job.Status.SUCCEEDED
        elif delivered == 0:
            status = Job.Status.FAILED
        else:
            status = Job.Status.PARTIALLY_SUCCEEDED
        first = min(failures, key=lambda f: f.index) if failures else None
        _set_final(
            job,
            status=status,
            delivered=delivered,
            failed=counts.get(JobUnit.Status.FAILED, 0),
            error=first.message if first else "",
            error_code=first.code if first else "",
        )
        record_event(job, job.error)
    job.refresh_from_db()
    transaction.on_commit(lambda: _ended(job))
    return job


def _ended(job: Job) -> None:
    """After a job's end committed: its inputs discarded (a fault is logged, never raised into
    the request or worker that ended it), then its final state published."""
    job_type = engine_job_type(job)
    if not job_type.retain_inputs:
        try:
            job_type.discard(job.params)
        except Exception:
            logger.exception("job %s: could not discard its inputs", job.pk)
    publish_job(job)


def discard_retained_inputs_on_commit(jobs: QuerySet[Job]) -> None:
    """Called in the transaction that deletes `jobs`, before the delete: once it commits, the
    stored inputs of those whose type keeps them with the job (`retain_inputs`: an analysis'
    uploads, until the job goes) are deleted, as every other type's were when its job ended
    (`_ended`). A rolled-back delete keeps them; a fault is logged, never raised. The one
    definition for `purge_job_history` and the admin's job deletes."""
    kept = [name for name, job_type in job_types().items() if job_type.retain_inputs]
    retained = list(jobs.filter(type__in=kept).values_list("pk", "type", "params"))
    if retained:
        transaction.on_commit(lambda: _discard_retained(retained))


def _discard_retained(retained: list[tuple[Any, str, dict[str, Any]]]) -> None:
    for pk, type_name, params in retained:
        try:
            get_job_type(type_name).discard(params)
        except Exception:
            logger.exception("job %s: could not discard its inputs", pk)


def _set_final(
    job: Job, *, status: str, delivered: int, failed: int, error: str, error_code: str
) -> None:
    job.status = status
    job.stage = status
    job.progress = 100
    job.units_succeeded = delivered
    job.units_failed = failed
    job.error = error[:300]
    job.error_code = error_code
    job.lease_owner = ""
    job.lease_expires_at = None
    job.finished_at = timezone.now()
    job.save(
        update_fields=[
            "status",
            "stage",
            "progress",
            "units_succeeded",
            "units_failed",
            "error",
            "error_code",
            "lease_owner",
            "lease_expires_at",
            "finished_at",
        ]
    )
    invalidate(unfinished_namespace(job.user_id))


def cancelled_message(job: Job, delivered: int) -> str:
    """What a cancelled job says: "Cancelled. Your credits were refunded." when nothing was
    delivered, else what came back for the units not made ("Cancelled after 2 of 4 were made:
    the 8 credits of the 2 not made were refunded."; it said its credits were refunded when
    only half were, walkthrough). Just "Cancelled." for a free job."""
    if not delivered or not job.unit_cost:
        return refunded(CANCELLED_MESSAGE, job.unit_cost)
    left = job.units - delivered
    credits = left * job.unit_cost
    return (
        f"Cancelled after {delivered} of {job.units} were made: the {credits} "
        f"credit{'s' if credits != 1 else ''} of the {left} not made "
        f"{'were' if credits != 1 else 'was'} refunded."
    )


def cancel_job(job: Job) -> Job:
    """Cancel a queued or running job: its undelivered units are refunded at once and its
    status becomes `cancelled`; a running worker notices at its next heartbeat and stops,
    and drops whatever it finishes later. A finished job is returned unchanged. Raises
    Job.DoesNotExist when the job went meanwhile (its account was deleted)."""
    with transaction.atomic():
        if job.unit_cost:  # it refunds: the balance row before the job's (lock order)
            lock_existing_account(user_id=job.user_id)
        if not Job.objects.select_for_update().filter(pk=job.pk, status__in=UNFINISHED).exists():
            job.refresh_from_db()
            return job
        refund_units(job, stale_outcome(job, "cancelled", CANCELLED_MESSAGE).failures)
        delivered = JobUnit.objects.filter(job=job, status=JobUnit.Status.DELIVERED).count()
        _set_final(
            job,
            status=Job.Status.CANCELLED,
            delivered=delivered,
            failed=job.units - delivered,
            error=cancelled_message(job, delivered) if delivered < job.units else "",
            error_code="cancelled",
        )
        record_event(job, "cancelled by the creator")
    transaction.on_commit(lambda: _ended(job))
    return job


# --- the sweeper -----------------------------------------------------------------------------


def sweep_jobs(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Send again every job whose message may be lost: queued jobs not sent (broker down) or
    sent more than JOB_RESEND_AFTER_SECONDS ago and still unclaimed (and past any delay), and
    running jobs whose lease lapsed (their worker died). Judged by leases and send times, never
    by age since creation. Duplicates are harmless: a claim takes a job once. Returns how many
    were sent."""
    clock: Any = now or Now()  # the database's clock, like the leases it judges
    cutoff = clock - dt.timedelta(seconds=settings.JOB_RESEND_AFTER_SECONDS)
    not_recent = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=cutoff)
    overdue = Job.objects.filter(not_recent).filter(
        (Q(status=Job.Status.QUEUED) & (Q(run_after__isnull=True) | Q(run_after__lt=cutoff)))
        | Q(status=Job.Status.RUNNING, lease_expires_at__lt=clock)
    )
    sent = 0
    for job in overdue.order_by("created_at")[:limit]:
        if not Job.objects.filter(pk=job.pk).filter(not_recent).update(enqueued_at=clock):
            continue  # another sweeper got it
        if send_job(job):
            sent += 1
            logger.info("sweeper re-sent job %s (%s)", job.pk, job.status)
    return sent


def record_event(job: Job, message: str = "") -> None:
    JobEvent.objects.create(job=job, stage=job.stage, progress=job.progress, message=message[:300])
