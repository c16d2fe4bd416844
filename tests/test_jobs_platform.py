"""The jobs platform: one submit pipeline for every job type, per-unit refunds on every path,
leases, re-queues on RetryInfo, the sweeper, cancel, the circuit breaker and the model catalog.

Jobs run in the test thread by draining the stub broker (`run_jobs`); provider behaviour comes
from the real google-genai client against tests/fake_gemini.py where it matters.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from typing import Any

import dramatiq
import pytest
from django.core.cache import cache
from django.db import connection
from django.db.models.functions import Now
from django.utils import timezone
from dramatiq.middleware.time_limit import TimeLimitExceeded

from billing.models import CreditLedgerEntry
from billing.services import get_balance
from generation import catalog
from generation.models import Job, JobUnit
from generation.providers.base import GeneratedImage, ImageRequest
from generation.providers.local import LocalRenderer
from generation.registry import JobOutcome, UnitFailure, job_types
from generation.resilience import CircuitBreaker
from generation.services import (
    JobContext,
    claim_job,
    execute_job,
    finish_job,
    sweep_jobs,
)
from studio.models import Face, Palette, Project, Style, Thumbnail
from tests import fake_gemini as fake_gemini_module
from tests.conftest import set_plan
from tests.db_faults import dropped_connection
from tests.factories.generation import JobFactory
from tests.factories.studio import ThumbnailFactory, generate_job
from tests.fake_gemini import FakeGemini

fake_gemini = fake_gemini_module.fake_gemini
gemini_settings = fake_gemini_module.gemini_settings

pytestmark = pytest.mark.usefixtures("clean_cache")


def body(**overrides: Any) -> dict[str, Any]:
    return {"title": "Platform test: it works", **overrides}


def debits(user: Any) -> list[int]:
    return list(
        CreditLedgerEntry.objects.filter(user=user, kind="debit").values_list("amount", flat=True)
    )


def refunds(user: Any) -> list[str]:
    return list(
        CreditLedgerEntry.objects.filter(user=user, kind="refund")
        .order_by("idempotency_key")
        .values_list("idempotency_key", flat=True)
    )


# --- one pipeline --------------------------------------------------------------------------


def test_jobs_endpoint_submits_generate_like_the_generate_endpoint(
    owner, owner_client, django_capture_on_commit_callbacks, run_jobs
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post_json(
            "/api/jobs",
            {"type": "generate_thumbnails", "input": body()},
            HTTP_IDEMPOTENCY_KEY="k1",
        )
    assert response.status_code == 202, response.content
    job = response.json()
    assert (job["type"], job["cost"], job["model"]) == ("generate_thumbnails", 1, "local")
    run_jobs()
    data = owner_client.get(f"/api/jobs/{job['id']}").json()
    assert data["status"] == "succeeded"
    assert len(data["thumbnails"]) == 1
    assert Job.objects.get(pk=job["id"]).model == "local"  # the offline renderer is recorded


def test_jobs_list_rows_carry_their_results_in_a_fixed_number_of_queries(
    owner, owner_client, django_assert_max_num_queries
) -> None:
    """A listed job shows what it made as its detail does (it read `"thumbnails": []` and
    `"result": null` for every job, a succeeded one included), and more jobs cost no more
    queries: one prefetch for all their thumbnails."""

    def made(title: str, variations: int) -> Job:
        job = generate_job(owner, title, "succeeded", units_succeeded=variations)
        for index in range(variations):
            ThumbnailFactory(owner=owner, job=job, title=title, variation_index=index)
        return job

    made("One", 1)
    with django_assert_max_num_queries(20) as one:
        assert owner_client.get("/api/jobs").status_code == 200
    made("Two", 2)
    made("Three", 3)
    Job.objects.create(
        user=owner, type="enhance_title", params={}, status="succeeded", result={"titles": ["A"]}
    )
    with django_assert_max_num_queries(len(one.captured_queries)):
        rows = owner_client.get("/api/jobs").json()["results"]
    for row in rows:
        detail = owner_client.get(f"/api/jobs/{row['id']}").json()
        assert (row["thumbnails"], row["result"]) == (detail["thumbnails"], detail["result"])
    assert [len(row["thumbnails"]) for row in rows] == [0, 3, 2, 1]
    assert rows[0]["result"] == {"titles": ["A"]}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"type": "generate_thumbnails", "input": {"variations": "many"}}, "variations"),
        ({"type": "generate_thumbnails", "input": {"face_ids": "1"}}, "face_ids"),
        ({"type": "generate_thumbnails", "input": {"title": ["x"]}}, "title"),
        ({"type": "generate_thumbnails", "input": {"expression": "<script>"}}, "expression"),
        ({"type": "generate_thumbnails", "input": {"pose": "bogus"}}, "pose"),
        ({"type": "analyse_palette", "input": {"thumbnail_id": -3}}, "thumbnail_id"),
    ],
)
def test_bad_input_is_a_400_with_field_errors(owner, owner_client, payload, field) -> None:
    set_plan(owner, "starter")
    response = owner_client.post_json("/api/jobs", payload)
    assert response.status_code == 400
    data = response.json()
    assert data["code"] == "invalid"
    assert field in data["fields"]
    assert get_balance(owner) == 10


def test_unknown_type_and_non_object_input_are_400(owner_client) -> None:
    assert owner_client.post_json("/api/jobs", {"type": "nope", "input": {}}).json()["code"] == (
        "invalid"
    )
    response = owner_client.post_json("/api/jobs", {"type": "analyse_palette", "input": [1]})
    assert (response.status_code, response.json()["code"]) == (400, "invalid")


def test_plan_feature_gate_is_403_with_the_plans_page(owner, owner_client) -> None:
    JobFactory(user=owner, status="succeeded", thumbnails=True)
    thumbnail = Thumbnail.objects.get(owner=owner)
    response = owner_client.post_json(
        "/api/jobs", {"type": "analyse_palette", "input": {"thumbnail_id": thumbnail.pk}}
    )
    assert response.status_code == 403
    data = response.json()
    assert (data["code"], data["required_plan"], data["plans_url"]) == (
        "plan_feature",
        "starter",
        "/plans/",
    )
    assert owner_client.get("/plans/").status_code == 200


def test_concurrent_job_cap_per_plan_refuses_without_charging(owner, owner_client, submit) -> None:
    assert [submit(owner_client, body(title=f"t{i}")).status_code for i in range(2)] == [202, 202]
    response = submit(owner_client, body(title="third"))
    assert (response.status_code, response.json()["code"]) == (429, "too_many_jobs")
    assert get_balance(owner) == 8
    assert Job.objects.filter(user=owner).count() == 2


# --- units, leases, refunds --------------------------------------------------------------------


# Types whose whole input is public (a public YouTube video's address), so a cached answer may
# go to any creator; every other cached type's input is a creator's own text or images.
SHARED_CACHES = {"analyse_video"}


def test_a_creators_cached_results_are_keyed_to_them_unless_the_input_is_public() -> None:
    """One creator's input must never find another's cached answer: a hit is free and says
    `cached: true`, so it told anyone who sent a rival's exact title or image that the rival
    had (security review). Caching is private unless a type declares `shared` (listed here)."""
    cached = {name: t for name, t in job_types().items() if t.cache is not None}
    assert {"enhance_title", "suggest_concepts", "analyse_style", "analyse_palette"} <= set(cached)
    assert {name for name, t in cached.items() if t.cache and t.cache.shared} == SHARED_CACHES
    for name, job_type in cached.items():
        keys = {
            job_type.result_cache_key(owner_id=owner, model="m", normalized_input={"x": 1})
            for owner in (1, 2)
        }
        assert len(keys) == (1 if name in SHARED_CACHES else 2), name


class CountingRenderer(LocalRenderer):
    calls: list[int] = []

    def generate_image(self, request: ImageRequest) -> GeneratedImage:
        CountingRenderer.calls.append(request.spec.seed)
        return super().generate_image(request)


@pytest.fixture
def counting(monkeypatch) -> type[CountingRenderer]:
    CountingRenderer.calls = []
    monkeypatch.setattr("generation.services.get_provider", CountingRenderer)
    return CountingRenderer


def test_expired_lease_is_claimed_again_and_keeps_delivered_units(
    owner, owner_client, submit, counting
) -> None:
    set_plan(owner, "pro")
    job_id = submit(owner_client, body(variations=3)).json()["id"]
    assert claim_job(job_id, "dead-worker")
    # The dead worker delivered unit 0 before it died; its lease then lapsed.
    JobUnit.objects.filter(job_id=job_id, index=0).update(status="delivered")
    assert execute_job(job_id) is None  # the lease is still held
    Job.objects.filter(pk=job_id).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    job = execute_job(job_id)
    assert job is not None and job.status == "succeeded"
    assert len(counting.calls) == 2  # only the two pending units ran
    assert sorted(
        Thumbnail.objects.filter(job_id=job_id).values_list("variation_index", flat=True)
    ) == [1, 2]
    assert debits(owner) == [-3] and refunds(owner) == []
    assert job.attempts == 2


def test_a_storage_fault_after_a_delivery_committed_does_not_say_it_was_refunded(
    owner, owner_client, submit, monkeypatch
) -> None:
    """The unit's row committed, then deleting an earlier attempt's leftover files failed: the
    engine listed the unit as a storage failure, and the finished job, which succeeded and
    refunded nothing, showed "The result could not be saved. Your credits were refunded."
    Its error now comes only from units that failed."""

    def storage_down(*args: Any) -> None:
        raise OSError("storage unavailable")

    job_id = submit(owner_client, body()).json()["id"]
    Job.objects.filter(pk=job_id).update(attempts=1)  # this run is the second attempt
    monkeypatch.setattr("studio.outputs._delete_unit_files", storage_down)
    job = execute_job(job_id)
    assert job is not None and job.status == "succeeded"
    assert Thumbnail.objects.filter(job_id=job_id).count() == 1
    assert (job.error, job.error_code, job.units_failed) == ("", "", 0)
    assert refunds(owner) == []


def test_a_late_worker_cannot_overwrite_a_finished_job(
    owner, owner_client, submit, run_jobs
) -> None:
    job_id = submit(owner_client, body()).json()["id"]
    run_jobs()
    job = Job.objects.get(pk=job_id)
    late = finish_job(job, JobOutcome([UnitFailure(0, "stale", "late")]))
    assert late.status == "succeeded"
    assert refunds(owner) == []


def test_refunds_are_keyed_by_unit_and_never_repeated(owner, owner_client, submit) -> None:
    set_plan(owner, "pro")
    job_id = submit(owner_client, body(variations=2)).json()["id"]
    job = Job.objects.get(pk=job_id)
    JobUnit.objects.filter(job=job, index=0).update(status="delivered")
    outcome = JobOutcome([UnitFailure(0, "x", "x"), UnitFailure(1, "x", "x")])
    finished = finish_job(job, outcome)
    finish_job(job, outcome)  # a second finish (sweeper, late worker) changes nothing
    assert finished.status == "partially_succeeded"
    assert refunds(owner) == [f"job:{job_id}:refund:1"]  # the delivered unit is not refunded
    assert get_balance(owner) == 10 - 1


def test_time_limit_fails_the_job_and_refunds_at_once(
    owner, owner_client, submit, monkeypatch
) -> None:
    set_plan(owner, "pro")

    class Slow(LocalRenderer):
        def generate_image(self, request: ImageRequest) -> GeneratedImage:
            raise TimeLimitExceeded

    monkeypatch.setattr("generation.services.get_provider", Slow)
    monkeypatch.setattr("studio.job_types.generate.JobContext.fan_out", _raise_time_limit)
    job_id = submit(owner_client, body(variations=2)).json()["id"]
    job = execute_job(job_id)
    assert job is not None
    assert (job.status, job.error_code) == ("failed", "time_limit")
    assert "refunded" in job.error
    assert get_balance(owner) == 10
    assert refunds(owner) == [f"job:{job_id}:refund:0", f"job:{job_id}:refund:1"]


def _raise_time_limit(*args: Any, **kwargs: Any) -> Any:
    # Dramatiq's TimeLimit middleware raises this asynchronously in the actor's thread.
    raise TimeLimitExceeded


def test_cancel_refunds_undelivered_units_and_the_worker_does_nothing(
    owner, owner_client, submit, run_jobs
) -> None:
    set_plan(owner, "pro")
    job_id = submit(owner_client, body(variations=3)).json()["id"]
    JobUnit.objects.filter(job_id=job_id, index=0).update(status="delivered")
    response = owner_client.post(f"/api/jobs/{job_id}/cancel")
    assert response.status_code == 200
    data = response.json()
    assert (data["status"], data["error_code"]) == ("cancelled", "cancelled")
    assert data["credits_remaining"] == 10 - 1
    # Not "Your credits were refunded.": one of the three was made and kept its credit.
    assert data["error"] == (
        "Cancelled after 1 of 3 were made: the 2 credits of the 2 not made were refunded."
    )
    run_jobs()
    assert Job.objects.get(pk=job_id).status == "cancelled"
    assert not Thumbnail.objects.filter(job_id=job_id).exists()
    again = owner_client.post(f"/api/jobs/{job_id}/cancel")
    assert (again.status_code, again.json()["code"]) == (409, "job_finished")


def test_a_job_that_finishes_while_its_cancel_is_on_the_way_answers_409(
    owner, owner_client, submit, monkeypatch
) -> None:
    from studio import services as studio_services

    job_id = submit(owner_client, body()).json()["id"]
    access_job = studio_services.access_job

    def finished_meanwhile(user: Any, pk: str) -> Job:
        job = access_job(user, pk)  # seen queued ...
        Job.objects.filter(pk=pk).update(status="succeeded")  # ... then the worker finishes it
        return job

    monkeypatch.setattr(studio_services, "access_job", finished_meanwhile)
    response = owner_client.post(f"/api/jobs/{job_id}/cancel")
    assert (response.status_code, response.json()["code"]) == (409, "job_finished")
    assert Job.objects.get(pk=job_id).status == "succeeded"


def test_cancel_of_a_strangers_job_is_404(owner_client, other_client, submit) -> None:
    job_id = submit(owner_client, body()).json()["id"]
    assert other_client.post(f"/api/jobs/{job_id}/cancel").status_code == 404
    assert Job.objects.get(pk=job_id).status == "queued"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_cancel_while_running_stops_the_worker_and_drops_its_results(
    owner, owner_client, submit, settings, monkeypatch
) -> None:
    """The worker learns of the cancel at its next lease renewal and drops what it makes."""
    set_plan(owner, "pro")
    settings.JOB_LEASE_SECONDS = 0.6  # renewals every 0.2 s
    job_id = submit(owner_client, body(variations=2)).json()["id"]

    class CancelledMeanwhile(LocalRenderer):
        def generate_image(self, request: ImageRequest) -> GeneratedImage:
            Job.objects.filter(pk=job_id).update(status="cancelled")
            time.sleep(0.8)
            return super().generate_image(request)

    monkeypatch.setattr("generation.services.get_provider", CancelledMeanwhile)
    monkeypatch.setattr("django.conf.settings.GENERATION_PROVIDER_CONCURRENCY", 1)
    execute_job(job_id)
    assert not Thumbnail.objects.filter(job_id=job_id).exists()
    assert Job.objects.get(pk=job_id).status == "cancelled"


def test_progress_publishes_without_database_queries(
    owner, owner_client, submit, django_assert_num_queries
) -> None:
    job_id = submit(owner_client, body()).json()["id"]
    job = Job.objects.get(pk=job_id)
    ctx = JobContext(job, "owner", None)  # type: ignore[arg-type]
    with django_assert_num_queries(0):
        for percent in range(20, 90, 10):
            ctx.progress("rendering", percent)
    assert job.progress == 80


def test_images_made_at_once_move_the_bar_before_the_first_is_delivered(
    owner, owner_client, submit, settings, monkeypatch
) -> None:
    """Four images drawn together (4K x 4 offline: 20 % for 9 s, then a jump) report their
    share as they draw; fan_out folds it into the job's progress on its 0.5 s ticks."""
    from generation import services

    settings.GENERATION_PROVIDER_CONCURRENCY = 4
    job = Job.objects.get(pk=submit(owner_client, body()).json()["id"])
    job.unit_cost = 0
    ctx = JobContext(job, "owner", None)  # type: ignore[arg-type]
    ctx.progress("rendering", 20)
    published: list[int] = []
    moved = threading.Event()

    def publish(job: Job, **_: Any) -> None:
        published.append(job.progress)
        moved.set()

    monkeypatch.setattr(services, "publish_job", publish)

    def produce(index: int) -> int:
        ctx.unit_progress(index, 0.3)  # e.g. the background of each drawn
        assert moved.wait(30), "the bar did not move while the images were being drawn"
        return index

    ctx.fan_out([0, 1, 2, 3], produce, lambda index, value: None)
    # Before any image was delivered: 20 + 75 x (4 x 0.3) / 4 = 42.5; the per-image steps are
    # 39, 58, 76 and 95.
    assert published[0] == 42, published
    assert published == sorted(published) and published[-1] == 95


# --- snapshots ----------------------------------------------------------------------------------


def test_deleting_style_project_or_face_while_queued_still_delivers(
    owner, owner_client, submit, run_jobs, face_photo_bytes
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    set_plan(owner, "pro")
    face_id = owner_client.post(
        "/api/faces",
        {"name": "Me", "images": [SimpleUploadedFile("f.png", face_photo_bytes, "image/png")]},
    ).json()["id"]
    style = Style.objects.create(owner=owner, name="Mine", prompt="bold comic look")
    palette = Palette.objects.create(
        owner=owner, name="Hot", colors=["#FF0000", "#000000", "#FFFF00"]
    )
    project = Project.objects.create(owner=owner, name="Series")
    job_id = submit(
        owner_client,
        body(style_id=style.pk, palette_id=palette.pk, project_id=project.pk, face_ids=[face_id]),
    ).json()["id"]
    style.delete()
    palette.delete()
    project.delete()
    Face.objects.filter(pk=face_id).delete()
    run_jobs()
    job = Job.objects.get(pk=job_id)
    assert job.status == "succeeded", job.error
    thumbnail = Thumbnail.objects.get(job=job)
    assert (thumbnail.style_id, thumbnail.palette_id, thumbnail.project_id) == (None, None, None)
    assert job.params["palette"]["colors"] == ["#FF0000", "#000000", "#FFFF00"]


# --- the broker and the sweeper --------------------------------------------------------------


def test_broker_down_at_commit_still_answers_202_and_the_sweeper_resends(
    owner, owner_client, submit, run_jobs, monkeypatch
) -> None:
    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr("generation.actors.run_job.send_with_options", broker_down)
    response = submit(owner_client, body())
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.status, job.enqueued_at) == ("queued", None)
    assert get_balance(owner) == 9
    monkeypatch.undo()
    assert sweep_jobs() == 1
    assert sweep_jobs() == 0  # just sent: not again until JOB_RESEND_AFTER_SECONDS
    run_jobs()
    assert Job.objects.get(pk=job.pk).status == "succeeded"


def test_sweeper_judges_by_lease_and_send_time_not_age(owner, owner_client, submit) -> None:
    queued_id = submit(owner_client, body(title="old but just sent")).json()["id"]
    running_id = submit(owner_client, body(title="running, fresh lease")).json()["id"]
    Job.objects.filter(pk=queued_id).update(created_at=timezone.now() - dt.timedelta(days=2))
    assert claim_job(running_id, "alive")
    Job.objects.filter(pk=running_id).update(created_at=timezone.now() - dt.timedelta(days=2))
    assert sweep_jobs() == 0
    later = timezone.now() + dt.timedelta(minutes=5)
    assert sweep_jobs(now=later) == 2  # the queued job's message and the lapsed lease


# --- retries, re-queues and the breaker against the fake Gemini --------------------------------


def test_a_429_with_retry_delay_is_requeued_with_at_least_that_delay(
    owner, owner_client, submit, run_jobs, gemini_settings: FakeGemini, settings, monkeypatch
) -> None:
    set_plan(owner, "pro")
    gemini_settings.script("429")  # RetryInfo retryDelay "30s"
    job_id = submit(owner_client, body()).json()["id"]
    started = time.time()
    broker = dramatiq.get_broker()
    message = dramatiq.Message.decode(broker.queues["jobs_high"].get_nowait())
    shown: list[int] = []
    monkeypatch.setattr(
        "generation.services.publish_job", lambda job, **_: shown.append(job.progress)
    )
    execute_job(*message.args)
    monkeypatch.undo()
    # The unit put back for later is not done: the bar did not jump to the end meanwhile.
    assert shown and max(shown) < 50, shown
    job = Job.objects.get(pk=job_id)
    assert (job.status, job.stage) == ("queued", "waiting")
    assert job.run_after is not None
    assert job.run_after.timestamp() >= started + 30
    [delayed] = [dramatiq.Message.decode(broker.queues[q].get_nowait()) for q in ("jobs_high.DQ",)]
    assert delayed.options["eta"] >= (started + 30) * 1000
    assert execute_job(job_id) is None  # delivered early: not claimable before run_after
    assert len(gemini_settings.generate_requests()) == 1
    Job.objects.filter(pk=job_id).update(run_after=Now())  # due by claim_job's clock
    assert execute_job(job_id).status == "succeeded"
    assert len(gemini_settings.generate_requests()) == 2
    assert debits(owner) == [-1] and refunds(owner) == []


def test_transient_503s_are_retried_in_place(
    owner, owner_client, submit, run_jobs, gemini_settings: FakeGemini, monkeypatch
) -> None:
    stages: list[str] = []
    monkeypatch.setattr(
        "generation.services.publish_job", lambda job, **_: stages.append(job.stage)
    )
    gemini_settings.script("503", "503")
    job_id = submit(owner_client, body()).json()["id"]
    run_jobs()
    assert Job.objects.get(pk=job_id).status == "succeeded"
    assert len(gemini_settings.generate_requests()) == 3
    # The card says the service is being retried while it waits, then goes on rendering.
    retrying = stages.index("retrying")
    assert "rendering" in stages[retrying:]


def test_safety_refusal_is_refunded_with_a_message_that_says_so(
    owner, owner_client, submit, run_jobs, gemini_settings: FakeGemini
) -> None:
    gemini_settings.script("image_safety")
    job_id = submit(owner_client, body()).json()["id"]
    run_jobs()
    data = owner_client.get(f"/api/jobs/{job_id}").json()
    assert (data["status"], data["error_code"]) == ("failed", "safety_blocked")
    assert "refunded" in data["error"]
    assert get_balance(owner) == 10
    assert len(gemini_settings.generate_requests()) == 1  # a refusal is not retried


def test_breaker_opens_after_repeated_failures_and_refuses_fast(
    owner, owner_client, submit, run_jobs, gemini_settings: FakeGemini, settings
) -> None:
    settings.CIRCUIT_BREAKER_FAILURES = 3
    settings.GEMINI_RETRY_ATTEMPTS = 3
    gemini_settings.script("503", "503", "503")
    job_id = submit(owner_client, body()).json()["id"]
    run_jobs()
    assert Job.objects.get(pk=job_id).status == "failed"
    response = submit(owner_client, body(title="next"))
    assert (response.status_code, response.json()["code"]) == (503, "provider_unavailable")
    assert int(response["Retry-After"]) >= 1
    assert get_balance(owner) == 10  # the failed job refunded, the refused one never charged
    assert len(gemini_settings.generate_requests()) == 3


def test_breaker_half_opens_for_exactly_one_probe(settings) -> None:
    settings.CIRCUIT_BREAKER_FAILURES = 2
    breaker = CircuitBreaker("gemini", "m")
    breaker.record_failure()
    breaker.check()
    breaker.record_failure()
    with pytest.raises(Exception, match="m"):
        breaker.check()
    cache.set("breaker:gemini:m:open-until", time.time() - 1, 60)
    breaker.refuse_if_open()  # half-open: requests are accepted
    breaker.check()  # the probe
    with pytest.raises(Exception, match="m"):
        breaker.check()  # a second caller while the probe runs
    breaker.record_success()
    breaker.check()


# --- the model catalog --------------------------------------------------------------------------


def test_a_model_the_plan_does_not_allow_is_403_and_hidden_from_the_form(
    owner, owner_client, submit, gemini_settings: FakeGemini, monkeypatch
) -> None:
    spec = catalog.get_model("gemini-3-pro-image")
    paid_only = type(spec)(**{**spec.__dict__, "plans": ("starter", "advanced", "pro")})
    monkeypatch.setattr(catalog, "MODELS", {**catalog.MODELS, spec.id: paid_only})
    response = submit(owner_client, body(model="gemini-3-pro-image"))
    assert (response.status_code, response.json()["code"]) == (403, "plan_model_not_allowed")
    html = owner_client.get("/studio/").content.decode()
    assert 'value="gemini-3-pro-image"' not in html
    assert 'name="model"' in html and "Offline renderer." not in html
    assert "instructions-hint" not in html and "expression-hint" not in html
    set_plan(owner, "pro")
    html = owner_client.get("/studio/").content.decode()
    assert 'value="gemini-3-pro-image"' in html


def test_a_size_the_model_cannot_make_is_refused_before_charging(
    owner, owner_client, submit, gemini_settings: FakeGemini, monkeypatch, settings
) -> None:
    set_plan(owner, "pro")
    settings.GEMINI_IMAGE_MODELS = ["gemini-3-pro-image", "gemini-3.1-flash-image"]
    spec = catalog.get_model("gemini-3.1-flash-image")
    only_1k = type(spec)(**{**spec.__dict__, "image_sizes": ("1K",)})
    monkeypatch.setattr(catalog, "MODELS", {**catalog.MODELS, spec.id: only_1k})
    response = submit(owner_client, body(model=spec.id, resolution="4K"))
    assert (response.status_code, response.json()["code"]) == (400, "resolution_not_supported")
    assert get_balance(owner) == 10


def test_with_only_a_key_generate_works_on_todays_models(
    owner, owner_client, submit, run_jobs, gemini_settings: FakeGemini
) -> None:
    job_id = submit(owner_client, body()).json()["id"]
    run_jobs()
    job = Job.objects.get(pk=job_id)
    assert job.status == "succeeded", job.error
    assert job.model == catalog.default_image_model("free").id
    [request] = gemini_settings.generate_requests()
    assert request.model == job.model
    assert json.dumps(request.body["generationConfig"]["imageConfig"])


def test_the_fast_model_google_names_as_nano_banana_2s_replacement_is_offered_and_used(
    owner, owner_client, submit, run_jobs, gemini_settings: FakeGemini
) -> None:
    """gemini-3.1-flash-image is deprecated (reported shut down 2026-10-29): by default a creator
    can still pick a fast model, its replacement gemini-nano-banana-2.1, on every plan."""
    fast = catalog.DEPRECATED_MODELS["gemini-3.1-flash-image"][1]
    html = owner_client.get("/studio/").content.decode()
    assert f'value="{fast}"' in html and 'value="gemini-3.1-flash-image"' not in html

    job_id = submit(owner_client, body(model=fast)).json()["id"]
    run_jobs()

    job = Job.objects.get(pk=job_id)
    assert (job.status, job.model) == ("succeeded", fast), job.error
    [request] = gemini_settings.generate_requests()
    assert request.model == fast


def test_a_worker_that_lost_its_lease_cannot_deliver(owner, owner_client, submit) -> None:
    from generation.services import UnitNotPending

    job_id = submit(owner_client, body()).json()["id"]
    assert claim_job(job_id, "first")
    job = Job.objects.get(pk=job_id)
    Job.objects.filter(pk=job_id).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert claim_job(job_id, "second")  # the first worker stalled; the job was taken over
    stale = JobContext(job, "first", None)  # type: ignore[arg-type]
    with pytest.raises(UnitNotPending), stale.delivering(0):
        pass
    with JobContext(job, "second", None).delivering(0):  # type: ignore[arg-type]
        pass
    assert JobUnit.objects.get(job_id=job_id, index=0).status == "delivered"


def test_waiting_for_the_provider_is_not_a_failed_try_but_has_a_limit(
    owner, owner_client, submit, gemini_settings: FakeGemini, settings
) -> None:
    gemini_settings.script("429", "429")
    job_id = submit(owner_client, body()).json()["id"]
    execute_job(job_id)
    job = Job.objects.get(pk=job_id)
    assert (job.status, job.attempts) == ("queued", 0)  # given back, not counted
    settings.JOB_MAX_WAIT_SECONDS = 10  # shorter than the next RetryInfo delay
    Job.objects.filter(pk=job_id).update(run_after=Now())  # due by claim_job's clock
    job = execute_job(job_id)
    assert (job.status, job.error_code) == ("failed", "quota_exceeded")
    assert "refunded" in job.error
    assert get_balance(owner) == 10


def test_files_a_crash_left_for_a_unit_are_deleted_when_it_is_refunded(
    owner, owner_client, submit, django_capture_on_commit_callbacks, settings
) -> None:
    import os

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    set_plan(owner, "pro")
    job_id = submit(owner_client, body(variations=2)).json()["id"]
    Job.objects.filter(pk=job_id).update(attempts=2)
    job = Job.objects.get(pk=job_id)
    # Two workers in turn wrote unit 1's files, each killed before its row committed.
    # (Its file names are keyed per job, unit, attempt and file: studio.outputs._unit_files.)
    from studio.models import Thumbnail
    from studio.outputs import _unit_files

    leftovers = [
        default_storage.save(
            Thumbnail._meta.get_field(field).generate_filename(None, name), ContentFile(b"x")
        )
        for attempt in (1, 2)
        for field, name in _unit_files(job, 1, attempt)
    ]
    assert len(set(leftovers)) == 8
    assert all(os.path.exists(os.path.join(settings.MEDIA_ROOT, n)) for n in leftovers)
    with django_capture_on_commit_callbacks(execute=True):
        finish_job(job, JobOutcome([UnitFailure(1, "stale", "gone")]))
    assert not any(os.path.exists(os.path.join(settings.MEDIA_ROOT, n)) for n in leftovers)


def test_a_worker_that_lost_its_lease_never_touches_the_new_holders_files(
    owner, owner_client, submit, django_capture_on_commit_callbacks
) -> None:
    """Worker A's lease lapses while it renders; the sweeper re-sends the job and worker B
    delivers the unit. A's late delivery is refused and takes only its own files with it; B's
    delivery removed what A had written before B's row went in."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from PIL import Image

    from generation.registry import get_job_type
    from generation.services import UnitNotPending
    from studio.outputs import _unit_files, store_thumbnail

    set_plan(owner, "pro")
    job_id = submit(owner_client, body(variations=1)).json()["id"]
    job_type = get_job_type("generate_thumbnails")
    image = GeneratedImage(image=Image.new("RGB", (1376, 768), (10, 200, 30)))
    links = {"style_id": None, "palette_id": None, "project_id": None}

    def store(worker: str, job: Job) -> Any:
        ctx = JobContext(job, worker, job_type)
        return store_thumbnail(
            job=job,
            variation_index=0,
            data=image,
            retention_days=None,
            delivering=lambda: ctx.delivering(0),
            links=lambda: links,
        )

    assert claim_job(job_id, "worker-a")
    job_a = Job.objects.get(pk=job_id)
    # A had written its files when it stalled (killed, say, before its row).
    for field, name in _unit_files(job_a, 0, job_a.attempts):
        getattr(Thumbnail(owner=owner), field).save(name, ContentFile(b"a"), save=False)
    a_files = [
        Thumbnail._meta.get_field(field).generate_filename(None, name)  # type: ignore[union-attr]
        for field, name in _unit_files(job_a, 0, job_a.attempts)
    ]
    assert all(default_storage.exists(name) for name in a_files)
    Job.objects.filter(pk=job_id).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert claim_job(job_id, "worker-b")
    with django_capture_on_commit_callbacks(execute=True):
        delivered = store("worker-b", Job.objects.get(pk=job_id))
    b_files = [getattr(delivered, field).name for field, _ in _unit_files(job_a, 0, 1)]
    assert not any(default_storage.exists(name) for name in a_files)  # A's leftovers went

    with pytest.raises(UnitNotPending):
        store("worker-a", job_a)  # A wakes up: refused, as the lease says
    assert all(default_storage.exists(name) for name in b_files), "B's files were deleted"
    assert not any(default_storage.exists(name) for name in a_files)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_progress_reaches_the_database_within_seconds_for_polling_clients(
    owner, owner_client, submit
) -> None:
    job_id = submit(owner_client, body()).json()["id"]
    assert claim_job(job_id, "worker")
    ctx = JobContext(Job.objects.get(pk=job_id), "worker", None)  # type: ignore[arg-type]
    ctx.start_heartbeat()
    try:
        ctx.progress("rendering", 40)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            row = Job.objects.get(pk=job_id)
            if row.progress == 40:
                break
            time.sleep(0.2)
    finally:
        ctx.stop_heartbeat()
    assert (row.stage, row.progress) == ("rendering", 40)
    assert owner_client.get(f"/api/jobs/{job_id}").json()["progress"] == 40


def test_a_cancelled_card_reads_as_a_note_not_a_failure(owner, owner_client, submit) -> None:
    """The studio's card of a job the creator cancelled: no "100%" and no error styling."""
    job_id = submit(owner_client, body()).json()["id"]
    card = owner_client.post(f"/studio/jobs/{job_id}/cancel", headers={"HX-Request": "true"})
    html = card.content.decode()
    assert card.status_code == 200 and "status-cancelled" in html
    assert '<p class="job-note">Cancelled.' in html
    assert 'class="error"' not in html and "data-percent" not in html


def test_a_local_job_is_drawn_offline_even_with_a_gemini_key(owner, gemini_settings) -> None:
    """A job made for the offline renderer (the demo seed, or one queued before a key was set)
    went to Gemini as model "local": a 404, the breaker opened, and `make run` with a key seeded
    an empty demo library with a charge and a refund per picture."""
    from generation.providers.gemini import GeminiProvider
    from generation.services import JobContext

    assert not catalog.is_offline()
    spec = {"user": owner, "type": "generate_thumbnails", "params": {}, "units": 1}
    local = JobContext(Job.objects.create(model=catalog.LOCAL, **spec), "test", None)  # type: ignore[arg-type]
    model = catalog.default_image_model("pro").id
    remote = JobContext(Job.objects.create(model=model, **spec), "test", None)  # type: ignore[arg-type]
    assert isinstance(local.provider, LocalRenderer)
    assert isinstance(remote.provider, GeminiProvider)


@pytest.mark.parametrize("lease_lost", [True, False])
def test_a_job_whose_account_was_deleted_while_it_ran_ends_quietly(
    owner, owner_client, submit, monkeypatch, caplog, lease_lost
) -> None:
    """Deleting an account deletes its jobs. The worker running one then found it gone when it
    re-read it (after its heartbeat saw the lease lost, or when finishing it) and logged an
    ERROR "unhandled exception ... Job.DoesNotExist"; it now treats the job as done."""
    from generation.registry import get_job_type
    from studio.services import do_delete_account

    job_type = get_job_type("generate_thumbnails")

    def run(job: Job, ctx: JobContext) -> JobOutcome:
        do_delete_account(user=owner)
        if lease_lost:  # as the heartbeat does when its renewal finds no row
            ctx.lease_lost.set()
            ctx.stop.set()
        return JobOutcome([UnitFailure(0, "internal_error", "gone")])

    job_id = submit(owner_client, body()).json()["id"]
    monkeypatch.setattr(job_type, "run", run)
    caplog.set_level("INFO", logger="generation.services")
    assert execute_job(job_id) is None
    assert not Job.objects.filter(pk=job_id).exists()
    assert [r for r in caplog.records if r.levelno >= 40] == []
    assert any("no longer exists" in r.getMessage() for r in caplog.records)


# --- database faults while delivering ----------------------------------------------------------


class DeliveryFault:
    """A cursor wrapper (connection.execute_wrapper) raising OperationalError, as a dropped
    connection does, on the first `times` statements that mark a unit delivered (or, with
    `reading_pending`, that list the job's pending units)."""

    def __init__(self, times: int, *, reading_pending: bool = False) -> None:
        self.times = times
        self.reading_pending = reading_pending
        self.raised = 0

    def hits(self, sql: str, params: Any) -> bool:
        if self.reading_pending:
            return sql.startswith('SELECT "generation_jobunit"."index"') and "ORDER BY" in sql
        return sql.startswith('UPDATE "generation_jobunit"') and "delivered" in (params or ())

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:

        if self.hits(sql, params) and self.raised < self.times:
            self.raised += 1
            raise dropped_connection()
        return execute(sql, params, many, context)


def test_a_dropped_connection_while_delivering_is_retried_not_a_storage_error(
    owner, owner_client, submit
) -> None:
    """One connection drop at a delivery's first write failed the unit as a refunded
    storage_error ("The result could not be saved"), though the image was made and storage was
    fine. The delivery is now tried once more on a fresh connection."""
    from django.db import connection

    job_id = submit(owner_client, body()).json()["id"]
    fault = DeliveryFault(times=1)
    with connection.execute_wrapper(fault):
        job = execute_job(job_id)
    assert fault.raised == 1
    assert job is not None and (job.status, job.error_code) == ("succeeded", "")
    assert Thumbnail.objects.filter(job_id=job_id).count() == 1
    assert debits(owner) == [-1] and refunds(owner) == []


def test_a_dropped_connection_while_reading_the_pending_units_is_retried(
    owner, owner_client, submit
) -> None:
    """The same drop when the job listed its pending units ended the job internal_error."""
    from django.db import connection

    job_id = submit(owner_client, body()).json()["id"]
    fault = DeliveryFault(times=1, reading_pending=True)
    with connection.execute_wrapper(fault):
        job = execute_job(job_id)
    assert fault.raised == 1
    assert job is not None and (job.status, job.error_code) == ("succeeded", "")
    assert refunds(owner) == []


def test_a_database_that_stays_down_leaves_the_unit_pending_for_the_next_attempt(
    owner, owner_client, submit
) -> None:
    from django.db import connection

    set_plan(owner, "pro")
    job_id = submit(owner_client, body(variations=2)).json()["id"]
    fault = DeliveryFault(times=1000)
    with connection.execute_wrapper(fault):
        job = execute_job(job_id)
    assert fault.raised == 2  # the delivery and its one retry
    assert job is not None
    job = Job.objects.get(pk=job_id)
    assert (job.status, job.error_code, job.finished_at) == ("running", "", None)
    assert set(JobUnit.objects.filter(job_id=job_id).values_list("status", flat=True)) == {
        "pending"
    }
    assert refunds(owner) == [] and Thumbnail.objects.filter(job_id=job_id).count() == 0
    # The database is back; the lease lapses and the next attempt delivers both units, once.
    Job.objects.filter(pk=job_id).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    job = execute_job(job_id)
    assert job is not None and (job.status, job.attempts) == ("succeeded", 2)
    assert Thumbnail.objects.filter(job_id=job_id).count() == 2
    assert debits(owner) == [-2] and refunds(owner) == []


def test_a_storage_fault_while_delivering_is_still_a_refunded_storage_error(
    owner, owner_client, submit, monkeypatch
) -> None:
    def storage_down(*args: Any, **kwargs: Any) -> None:
        raise OSError("storage unavailable")

    job_id = submit(owner_client, body()).json()["id"]
    monkeypatch.setattr("django.core.files.storage.Storage.save", storage_down)
    job = execute_job(job_id)
    assert job is not None and (job.status, job.error_code) == ("failed", "storage_error")
    assert job.error == "The result could not be saved. Your credits were refunded."
    assert refunds(owner) == [f"job:{job_id}:refund:0"]


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL)")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_backend_killed_at_delivery_is_delivered_on_a_new_connection(owner, submit) -> None:
    """The same with a real drop: the worker's PostgreSQL backend is terminated (from a second
    connection) just before the delivery's write, which then fails on the dead connection."""
    import psycopg
    from django.db import connection

    from tests.conftest import JSONClient

    client = JSONClient()
    client.force_login(owner)
    job_id = submit(client, body()).json()["id"]
    killed: list[int] = []

    def kill_backend(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if not killed and sql.startswith('UPDATE "generation_jobunit"'):
            pid = context["connection"].connection.info.backend_pid
            params_ = connection.get_connection_params()
            with psycopg.connect(**params_, autocommit=True) as other:
                other.execute("SELECT pg_terminate_backend(%s)", [pid])
            killed.append(pid)
        return execute(sql, params, many, context)

    connection.execute_wrappers.append(kill_backend)
    try:
        job = execute_job(job_id)
    finally:
        connection.execute_wrappers.remove(kill_backend)
    assert killed
    assert job is not None and (job.status, job.error_code) == ("succeeded", "")
    assert Thumbnail.objects.filter(job_id=job_id).count() == 1
    assert refunds(owner) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_drop_after_the_deliverys_commit_landed_keeps_the_thumbnail_and_its_files(
    owner, submit, monkeypatch
) -> None:
    """The connection drops as the delivery commits, after PostgreSQL committed it (the answer
    is lost): the worker cannot know whether the row went in. It used to delete the unit's
    files as for a rolled-back delivery, leaving the delivered thumbnail without its images
    (and a retry would have redone the unit and dropped them again). The files stay, and the
    retry sees the unit delivered and leaves it."""
    import os

    from django.conf import settings
    from django.db import connection

    from tests.conftest import JSONClient

    client = JSONClient()
    client.force_login(owner)
    job_id = submit(client, body()).json()["id"]
    wrapper = type(connection._connections[connection._alias])  # type: ignore[attr-defined]
    commit = wrapper._commit
    dropped: list[bool] = []

    def commit_then_drop(self: Any) -> None:
        commit(self)
        if not dropped and JobUnit.objects.filter(job_id=job_id, status="delivered").exists():
            dropped.append(True)
            raise dropped_connection()

    monkeypatch.setattr(wrapper, "_commit", commit_then_drop)
    job = execute_job(job_id)
    assert dropped
    assert job is not None and (job.status, job.error_code) == ("succeeded", "")
    [thumbnail] = Thumbnail.objects.filter(job_id=job_id)
    for field in (thumbnail.image, thumbnail.image_small, thumbnail.image_medium):
        assert os.path.exists(os.path.join(settings.MEDIA_ROOT, field.name)), field.name
    assert refunds(owner) == []


class ClaimFault:
    """A cursor wrapper failing the first `times` claims of a job (its conditional UPDATE
    setting `lease_owner`) as a dropped connection does."""

    def __init__(self, times: int) -> None:
        self.times = times
        self.raised = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        claim = sql.startswith('UPDATE "generation_job"') and '"lease_owner"' in sql
        if claim and self.raised < self.times:
            self.raised += 1
            raise dropped_connection()
        return execute(sql, params, many, context)


def test_a_claim_as_the_database_comes_back_is_tried_again_not_left_a_minute(
    owner, owner_client, submit, monkeypatch, caplog
) -> None:
    """A job taken by a worker just after an outage, whose pool still failed fast: the claim
    raised, Dramatiq logged an ERROR with its traceback and did not retry, and the job waited a
    minute for the sweeper (fault test). The claim is tried again after 0.5 s, 1 s, ... on a
    fresh connection; one WARNING line, no traceback."""
    from django.db import connection

    from generation import services

    pauses: list[float] = []
    monkeypatch.setattr(services.time, "sleep", pauses.append)
    job_id = submit(owner_client, body()).json()["id"]
    caplog.set_level("WARNING")
    with connection.execute_wrapper(ClaimFault(times=2)):
        job = execute_job(job_id)
    assert job is not None and job.status == "succeeded"
    assert pauses == [0.5, 1.0]
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and not lines[0].exc_info  # throttled: one line per minute
    assert "the database is unreachable" in lines[0].getMessage()


def test_a_claim_while_the_database_stays_down_leaves_the_job_for_the_sweeper(
    owner, owner_client, submit, monkeypatch, caplog
) -> None:
    from django.db import connection

    from generation import services

    pauses: list[float] = []
    monkeypatch.setattr(services.time, "sleep", pauses.append)
    job_id = submit(owner_client, body()).json()["id"]
    caplog.set_level("WARNING")
    with connection.execute_wrapper(ClaimFault(times=1000)):
        assert execute_job(job_id) is None
    assert pauses == list(services.CLAIM_RETRY_SECONDS)
    assert Job.objects.get(pk=job_id).status == "queued"  # the sweeper sends it again
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_background_loops_log_an_outage_once_without_a_traceback_and_a_bug_with_one(
    caplog,
) -> None:
    """The sweeper and a job's lease renewal (core.db_faults.log_fault): every 15 s an ERROR
    with a 40-line traceback through a database outage (fault test). A database fault: one
    WARNING line per minute per loop, no traceback; anything else: an ERROR with it."""
    from core.db_faults import log_fault
    from core.redis_faults import reset_breakers

    reset_breakers()  # forget what was logged when
    log = logging.getLogger("tests.loops")
    caplog.set_level("WARNING", logger="tests.loops")
    for _ in range(3):
        log_fault(log, "test-sweep", dropped_connection(), "job sweep failed")
    log_fault(log, "test-sweep", RuntimeError("a bug"), "job sweep failed")
    [outage, bug] = [r for r in caplog.records if r.name == "tests.loops"]
    assert outage.levelname == "WARNING" and not outage.exc_info
    assert outage.getMessage() == "job sweep failed: the database is unreachable (OperationalError)"
    assert bug.levelname == "ERROR" and bug.exc_info and bug.getMessage() == "job sweep failed"


def test_the_sweeper_logs_an_outage_as_one_line(settings, monkeypatch, caplog) -> None:
    """The sweeper's loop goes on through an outage, logging it through log_fault (above)."""
    from core.redis_faults import reset_breakers
    from generation import sweeper

    reset_breakers()
    settings.JOB_SWEEP_INTERVAL_SECONDS = 0.01
    middleware = sweeper.JobSweeper()
    calls: list[int] = []

    def database_down() -> int:
        calls.append(1)
        if len(calls) == 3:
            middleware._stop.set()
        raise dropped_connection()

    monkeypatch.setattr(sweeper, "sweep_once", database_down)
    caplog.set_level("WARNING", logger="generation.sweeper")
    middleware._loop()  # returns once stopped
    lines = [r for r in caplog.records if r.name == "generation.sweeper"]
    assert len(calls) == 3 and len(lines) == 1 and not lines[0].exc_info
    assert "the database is unreachable" in lines[0].getMessage()
