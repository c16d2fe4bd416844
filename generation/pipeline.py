"""The one submit pipeline every job type goes through, from the JSON API and the htmx views.

Order (PRODUCT.md: authentication, rate limit, plan limits, credits): a retry of a keyed
request that sent the same returns the original job before validation (an input deleted since
does not matter) -> validate the input (its replay fingerprint, price and rate weight depend on
it) -> an idempotent replay returns the original job (counted against nothing, charged nothing)
-> rate limit -> plan feature gate and plan limits -> the model's circuit breaker -> the result
cache -> price and submit (credits, the creator's concurrent-job cap). Refusals are exceptions
that `generation.errors.refusal_for` maps to an HTTP status and `code`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from django.core.files.uploadedfile import UploadedFile
from django.http import Http404, HttpRequest
from django.urls import reverse
from rest_framework.exceptions import ValidationError

from billing.models import Plan
from billing.services import account_cache_namespaces, effective_plan, get_balance, plan_table
from core import ratelimits
from core.shared_cache import warm
from core.types import User
from generation import catalog, result_cache
from generation.errors import IdempotencyKeyReused, JobRefused
from generation.models import Job
from generation.registry import JobType, get_job_type
from generation.resilience import CircuitBreaker
from generation.services import find_keyed, keyed_job, request_fingerprint, submit_job

IDEMPOTENCY_KEY_MAX_CHARS = 200


@dataclass
class Submission:
    job: Job
    created: bool
    usages: list[ratelimits.Usage] = field(default_factory=list)
    # The balance after this job's debit; None when nothing was debited (replay, cached, free).
    credits_remaining: int | None = None

    @property
    def has_result(self) -> bool:
        """False for a job this request created and queued: it has no result to look up yet."""
        return not self.created or self.job.is_finished

    def balance(self, user: User) -> int:
        """The caller's credits now: known from the debit, else read (the account summary)."""
        if self.credits_remaining is not None:
            return self.credits_remaining
        return get_balance(user)


def lookup_job_type(name: Any) -> JobType:
    """Raises JobRefused 400 `invalid` for an unknown type."""
    try:
        return get_job_type(str(name))
    except KeyError:
        raise JobRefused("Unknown job type.", "invalid", 400) from None


def check_feature(job_type: JobType, plan: Plan) -> None:
    """Raises JobRefused 403 `plan_feature` (naming the first plan that has it) when `plan`
    lacks the job type's feature."""
    if job_type.feature is None or plan.has_feature(job_type.feature):
        return
    unlocking = next((p for p in plan_table() if p.has_feature(job_type.feature)), None)
    needed = f"the {unlocking.name} plan or higher" if unlocking else "a higher plan"
    raise JobRefused(
        f"{job_type.label} needs {needed}.",
        "plan_feature",
        403,
        feature=job_type.feature,
        required_plan=unlocking.slug if unlocking else None,
        plans_url=reverse("plans"),
    )


@contextmanager
def stored_files_must_exist() -> Iterator[None]:
    """Raises Http404 for a stored image the input names that is gone (FileNotFoundError from
    the storage: a delete's on-commit file removal that won the race, a lost file), as
    `GET /api/thumbnails/<id>/download` answers: to the caller the object is not there."""
    try:
        yield
    except FileNotFoundError:
        raise Http404 from None


def sent_fingerprint(job_type: JobType, data: Any, files: dict[str, list[UploadedFile]]) -> str:
    """SHA-256 (64 hex chars) of what a request sent, unvalidated: the job type, `data` as it
    came (the form's CSRF token and idempotency key already left out) and each upload's
    SHA-256. Kept with a keyed job (`Job.body_fingerprint`), so a retry with the same key that
    sends the same is answered with that job before validation, whatever happened to the faces,
    styles, palettes or thumbnails it names since. Reads each upload once (and rewinds it)."""
    uploads: dict[str, list[str]] = {}
    for name in sorted(files):
        for upload in files[name]:
            digest = hashlib.sha256()
            for chunk in upload.chunks():
                digest.update(chunk)
            upload.seek(0)  # validation reads it next
            uploads.setdefault(name, []).append(digest.hexdigest())
    return request_fingerprint({"type": job_type.name, "input": data, "files": uploads})


def submit(
    request: HttpRequest,
    *,
    type_name: str,
    data: Any,
    files: dict[str, list[UploadedFile]] | None = None,
    idempotency_key: str | None = None,
) -> Submission:
    """Submit one job of `type_name` for the signed-in caller. Raises what
    `generation.errors.refusal_for` maps: JobRefused, ValidationError, Http404, RateLimited,
    LimiterUnavailable, ProviderCircuitOpen, InsufficientCredits, IdempotencyKeyReused.

    With an `idempotency_key` already used, the original job is returned (charged nothing)
    when this request sent the same (`sent_fingerprint`), before validation, or when its
    validated input is the same; otherwise IdempotencyKeyReused, also when its input no longer
    validates (a job recorded before sent inputs were fingerprinted: the validation error)."""
    user = cast(User, request.user)  # views call this after authentication
    warm(*account_cache_namespaces(user.pk))  # the plan look-ups below: one Redis round trip
    job_type = lookup_job_type(type_name)
    if idempotency_key is not None and not idempotency_key.strip():
        # A header sent blank was taken for no key: a client that meant one got no replay.
        raise JobRefused(
            "Idempotency-Key is blank: send a key, or leave the header out.", "invalid"
        )
    if idempotency_key is not None and len(idempotency_key) > IDEMPOTENCY_KEY_MAX_CHARS:
        raise JobRefused(
            f"Idempotency-Key is longer than {IDEMPOTENCY_KEY_MAX_CHARS} characters.", "invalid"
        )
    if idempotency_key is not None and not idempotency_key.isprintable():
        # A NUL reached PostgreSQL's text column as a 500 (the forms' input guard refuses it
        # before this; a header did not); other control characters are no key either.
        raise JobRefused("Idempotency-Key must be printable characters.", "invalid")
    files = files or {}
    keyed = find_keyed(user=user, idempotency_key=idempotency_key)
    body_fingerprint = sent_fingerprint(job_type, data, files) if idempotency_key else ""
    if keyed is not None and idempotency_key and keyed.body_fingerprint == body_fingerprint:
        # The same request again: its job, whatever happened to its inputs since.
        return Submission(keyed_job(user=user, idempotency_key=idempotency_key), False)
    try:
        with stored_files_must_exist():
            validated = job_type.validate(user=user, data=data, files=files)
    except (ValidationError, Http404, JobRefused):
        if keyed is not None and keyed.body_fingerprint:
            raise IdempotencyKeyReused from None  # another body, and no valid one either
        raise
    fingerprint = request_fingerprint(
        {"type": job_type.name, "input": job_type.fingerprint_input(validated)}
    )
    if keyed is not None and idempotency_key:
        # Sent otherwise but the same input once validated (e.g. "2" for 2): the job; else 409.
        if keyed.fingerprint != fingerprint:
            raise IdempotencyKeyReused
        return Submission(keyed_job(user=user, idempotency_key=idempotency_key), False)
    plan = effective_plan(user)
    model = job_type.model(validated, plan)
    usages = ratelimits.check_weighted(
        request,
        job_type.rate_limit_route,
        plan_slug=plan.slug,
        cost=job_type.rate_weight(validated, model),
        cooldown_seconds=plan.generate_cooldown_seconds if job_type.cooldown else 0,
    )
    try:
        return _admit(
            job_type,
            user=user,
            validated=validated,
            plan=plan,
            model=model,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            body_fingerprint=body_fingerprint,
            usages=usages,
        )
    except BaseException:
        # Refused for its plan limits or credits (or any other reason): no job, so no cooldown;
        # the rate-limit budget still counts the request.
        if job_type.cooldown:
            ratelimits.end_cooldown(request, job_type.rate_limit_route)
        raise


def _admit(
    job_type: JobType,
    *,
    user: User,
    validated: Any,
    plan: Plan,
    model: catalog.ModelSpec,
    idempotency_key: str | None,
    fingerprint: str,
    body_fingerprint: str,
    usages: list[ratelimits.Usage],
) -> Submission:
    """The checks after the rate limit (plan feature and limits, circuit breaker, result cache)
    and the charge; raises what `submit` documents."""
    check_feature(job_type, plan)
    job_type.check_plan(plan, validated, model)
    if model.id != catalog.LOCAL:
        CircuitBreaker("gemini", model.id).refuse_if_open()
    with stored_files_must_exist():
        params = job_type.snapshot(user=user, validated=validated, plan=plan, model=model)
    cached = None
    if job_type.cache is not None:
        key = job_type.result_cache_key(
            owner_id=user.pk, model=model.id, normalized_input=job_type.cache_input(validated)
        )
        params["cache_key"] = key
        cached = result_cache.get(key, job_type.cached_result_usable)
    try:
        job, created, credits_remaining = submit_job(
            user=user,
            job_type=job_type.name,
            params=params,
            units=job_type.units(validated),
            unit_cost=job_type.unit_cost(validated, model),
            model=model.id,
            idempotency_key=idempotency_key,
            priority=plan.queue_priority,
            fingerprint=fingerprint,
            body_fingerprint=body_fingerprint,
            max_concurrent=plan.max_concurrent_jobs,
            cached_result=cached,
        )
    except BaseException:
        job_type.discard(params)
        raise
    # A job answered from the result cache is finished already: its inputs go now, unless its
    # type keeps them with the job (`retain_inputs`: until `purge_job_history` deletes it, as a
    # job that ran keeps them), or "Save as my style" of a cached analysis had no images.
    if not created or (job.is_finished and not job_type.retain_inputs):
        job_type.discard(params)
    return Submission(job, created, usages, credits_remaining)
