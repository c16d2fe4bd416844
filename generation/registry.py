"""Job types: the declaration of one kind of AI work.

A job type states everything the engine needs once: its input schema (a DRF serializer), the
plan feature it needs, its price in credits as a function of the validated input, its rate-limit
route and weight, its time limit, its result kind (thumbnails, or JSON kept in `Job.result`), its
result partial, and its cache policy. The engine (`generation.pipeline` for submitting,
`generation.services` for running) does the charging, refunds, retries, progress, caching and
error mapping the same way for all of them. `studio` registers its job types in its
AppConfig.ready().
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from django.core.files.uploadedfile import UploadedFile
from rest_framework import serializers

from core.types import User
from generation import catalog, result_cache

if TYPE_CHECKING:
    from billing.models import Plan
    from generation.models import Job
    from generation.services import JobContext


class PaidPartFailed(Exception):
    """Raised by a one-unit JSON job's `compute` (`JobContext.run_json`) when the free part of
    its answer is ready but the part the credits paid for failed after its retries (a thumbnail
    check's measurements, and Gemini's critique of them): the run delivers `result` (never
    cached, so the next request tries the paid part again) and refunds the unit's credits at
    once, `code` naming the failure in the ledger."""

    def __init__(self, result: dict[str, Any], code: str) -> None:
        super().__init__(code)
        self.result = result
        self.code = code


@dataclass(frozen=True)
class UnitFailure:
    """One failed billable unit (a variation). `message` is shown to the creator as is."""

    index: int
    code: str
    message: str


@dataclass
class JobOutcome:
    """What a run ended with: `failures` are refunded at once; `requeue_after` (seconds) puts
    the job back on its queue with a delay, its still-pending units to run again then."""

    failures: list[UnitFailure] = field(default_factory=list)
    requeue_after: float | None = None


@dataclass(frozen=True)
class CachePolicy:
    """Results keyed by the normalized input, the model id and `version` (bump it when the
    prompt or schema changes); kept `ttl_seconds`. Only for deterministic JSON job types.

    `shared`: whether one creator's cached answer is served to another. By default (False) the
    key holds the owner's id too, so a creator's own text and uploads are theirs: a shared key
    let any creator learn, for free (`cached: true`, 0 credits), that another had submitted an
    exact title or an exact image (security review). True only for an input that is public in
    full, where a hit tells nothing a stranger could not know anyway; the job type says why."""

    version: str
    ttl_seconds: int = 30 * 24 * 3600
    shared: bool = False


class JobType:
    """Base class of every job type; subclasses set the class attributes and override `run`.

    Class attributes:
        name: the `type` clients send (`POST /api/jobs`) and `Job.type`.
        label: what the studio calls it.
        input_serializer: validates `input` (400 `invalid` with field errors on bad input).
        upload_fields: the multipart file fields `validate` reads from `files`, each with the
            most files it may hold ({"image": 1}); the API schema's multipart shape of the job
            type lists them beside the input serializer's fields (`studio.api_schema`).
        feature: the `Plan.features` entry required, or None (every plan).
        rate_limit_route: the `settings.RATE_LIMITS` row the request counts against.
        cooldown: whether the plan's `generate_cooldown_seconds` applies between requests.
        result_kind: "thumbnails" (units become Thumbnail rows) or "json" (`Job.result`).
        result_template: the studio partial that shows a finished job's result.
        tool_template: the partial of its form on a thumbnail's large view ("" for none).
        retain_inputs: keep what `snapshot` stored (uploads) until the job is deleted
            (`purge_job_history`, the admin: `services.discard_retained_inputs_on_commit`),
            instead of discarding it when the job ends (a result that can be saved later with
            its images, e.g. analyse style).
        model_kind: which catalog models it runs on ("image" or "text").
        time_limit_seconds: Dramatiq's time limit for one run; past it the job fails and its
            unfinished units are refunded at once.
        cache: a CachePolicy, or None (never for image generation); its results are the
            owner's own unless it is `shared` (`result_cache_key`).
    """

    name: ClassVar[str]
    label: ClassVar[str]
    input_serializer: ClassVar[type[serializers.Serializer]]
    upload_fields: ClassVar[dict[str, int]] = {}
    feature: ClassVar[str | None] = None
    rate_limit_route: ClassVar[str]
    cooldown: ClassVar[bool] = False
    result_kind: ClassVar[Literal["thumbnails", "json"]] = "json"
    result_template: ClassVar[str] = ""
    tool_template: ClassVar[str] = ""
    retain_inputs: ClassVar[bool] = False
    model_kind: ClassVar[Literal["image", "text"]] = "text"
    time_limit_seconds: ClassVar[int] = 600
    cache: ClassVar[CachePolicy | None] = None

    def validate(
        self, *, user: User, data: Any, files: dict[str, list[UploadedFile]]
    ) -> dict[str, Any]:
        """The validated input. Raises rest_framework ValidationError (400) or Http404 (a
        stranger's object)."""
        serializer = self.input_serializer(
            data=data, context={"user": user, "files": files, "job_type": self}
        )
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def model(self, validated: dict[str, Any], plan: Plan) -> catalog.ModelSpec:
        """The catalog model the job runs on (`local` offline)."""
        if self.model_kind == "text":
            return catalog.text_model()
        return catalog.default_image_model(plan.slug)

    def check_plan(self, plan: Plan, validated: dict[str, Any], model: catalog.ModelSpec) -> None:
        """Plan limits beyond the feature gate. Raises generation.errors.JobRefused (403)."""

    def units(self, validated: dict[str, Any]) -> int:
        """Billable units: each is one provider call, refunded on its own if it fails."""
        return 1

    def unit_cost(self, validated: dict[str, Any], model: catalog.ModelSpec) -> int:
        """Credits per unit."""
        return 1

    def price(self, validated: dict[str, Any], model: catalog.ModelSpec) -> int:
        """Credits a request costs: its units times the credits per unit (what `submit_job`
        debits, before a result-cache hit makes it free)."""
        return self.units(validated) * self.unit_cost(validated, model)

    def rate_weight(self, validated: dict[str, Any], model: catalog.ModelSpec) -> int:
        """What one request draws from its rate-limit route's budget."""
        return 1

    def fingerprint_input(self, validated: dict[str, Any]) -> dict[str, Any]:
        """The input as the Idempotency-Key's fingerprint sees it (JSON-serializable)."""
        return validated

    def cache_input(self, validated: dict[str, Any]) -> Any:
        """The normalized input the result cache is keyed by (with `cache` set)."""
        return self.fingerprint_input(validated)

    def cached_result_usable(self, result: dict[str, Any]) -> bool:
        """Whether a result found in the result cache may be served (default: always). False
        for one that names something gone since it was cached (a stored file a purge deleted):
        the engine then takes it as a miss and computes again, caching the new result."""
        return True

    def result_cache_key(self, *, owner_id: int, model: str, normalized_input: Any) -> str:
        """The result cache's key of this input for this creator: the only way a key is made
        (the engine at submit time, a type's `run` re-keying what it read), so no key leaves
        the owner out unless the policy is `shared`."""
        assert self.cache is not None, f"{self.name} has no cache policy"
        return result_cache.cache_key(
            job_type=self.name,
            version=self.cache.version,
            model=model,
            normalized_input=normalized_input,
            owner=None if self.cache.shared else owner_id,
        )

    def snapshot(
        self,
        *,
        user: User,
        validated: dict[str, Any],
        plan: Plan,
        model: catalog.ModelSpec,
    ) -> dict[str, Any]:
        """`Job.params`: everything `run` needs, copied at submit time (JSON), so a style,
        palette, face or project deleted while the job waits does not change its text, prompt
        or colours. Image inputs are copied by file name: a face photo or style reference its
        owner deleted meanwhile stays in storage until the job ends (`discard` deletes it
        then; `studio.services.discard_unused_face_files`), and one gone all the same is left
        out of the job with a warning (`studio.job_types.generate._read`)."""
        return self.fingerprint_input(validated)

    def discard_unit(self, job: Job, index: int) -> None:
        """Delete what unit `index` may have stored before it failed or was cancelled (called
        after the refund commits)."""

    def discard(self, params: dict[str, Any]) -> None:
        """Delete inputs `snapshot` stored for the job (an upload): called once the job has
        ended (with `retain_inputs`: when the job is purged), or when the submit created no job
        from them."""

    def run(self, job: Job, ctx: JobContext) -> JobOutcome:
        """Do the work through `ctx` (fan-out, provider calls with retries, deliveries)."""
        raise NotImplementedError

    def result(self, job: Job) -> dict[str, Any]:
        """Fields the job's JSON payload adds, e.g. `{"thumbnails": [...]}` or
        `{"result": {...}}`."""
        return {"result": job.result}


_registry: dict[str, JobType] = {}


def register_job_type(job_type: JobType) -> JobType:
    _registry[job_type.name] = job_type
    return job_type


def get_job_type(name: str) -> JobType:
    """Raises KeyError for an unregistered name."""
    return _registry[name]


def job_types() -> dict[str, JobType]:
    return dict(_registry)
