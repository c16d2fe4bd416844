"""Jobs whose type is no longer registered (a release retired the tool while jobs of it were
queued or running). The engine ends them like any job that failed: every undelivered unit is
refunded and the job is `failed` with `job_type_retired`, whether a worker, the sweeper, a cancel
(API or admin) or `fail_stale_jobs` meets it first. Until then a look-up of the missing type
raised KeyError on each of those paths: the credits were never given back."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from billing.models import CreditLedgerEntry
from billing.services import get_balance
from generation.models import Job, JobUnit
from generation.registry import get_job_type
from generation.services import cancel_job, execute_job, sweep_jobs
from tests.factories.generation import JobFactory

RETIRED = "retired_tool"  # never registered: as a type a release removed


def retired_job(user: Any, **extra: Any) -> Job:
    """A charged two-unit job of the retired type (the owner's 10 credits become 8)."""
    job: Any = JobFactory(user=user, type=RETIRED, units=2, unit_cost=1, charged=True, **extra)
    assert get_balance(user) == 8
    return job


def refunds(job: Job) -> list[str]:
    return sorted(
        CreditLedgerEntry.objects.filter(kind="refund", reference=f"job:{job.pk}").values_list(
            "idempotency_key", flat=True
        )
    )


@pytest.mark.parametrize("status", ["queued", "running"])
def test_the_worker_fails_it_and_refunds_every_unit(owner, status) -> None:
    job = retired_job(owner, status=status)
    if status == "running":  # its worker died: the lease lapsed
        Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now())
    execute_job(str(job.pk))
    job.refresh_from_db()
    assert (job.status, job.error_code) == ("failed", "job_type_retired")
    assert job.error == "This tool is no longer available. Your credits were refunded."
    assert (job.units_succeeded, job.units_failed) == (0, 2)
    assert set(JobUnit.objects.filter(job=job).values_list("error_code", flat=True)) == {
        "job_type_retired"
    }
    assert get_balance(owner) == 10
    assert refunds(job) == [f"job:{job.pk}:refund:0", f"job:{job.pk}:refund:1"]
    assert execute_job(str(job.pk)) is None  # ended: a redelivered message does nothing
    assert get_balance(owner) == 10


def test_the_sweeper_sends_it_once_and_the_worker_ends_it(owner, run_jobs) -> None:
    job = retired_job(owner)
    Job.objects.filter(pk=job.pk).update(enqueued_at=None)  # as after a broker fault
    assert sweep_jobs() == 1
    assert run_jobs() == 1
    assert Job.objects.get(pk=job.pk).status == "failed"
    assert sweep_jobs(now=timezone.now() + dt.timedelta(days=1)) == 0
    assert get_balance(owner) == 10


def test_its_creator_cancels_it_over_the_api(owner, owner_client, other_client) -> None:
    job = retired_job(owner)
    assert other_client.post(f"/api/jobs/{job.pk}/cancel").status_code == 404
    response = owner_client.post(f"/api/jobs/{job.pk}/cancel")
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["status"], data["error_code"], data["credits_remaining"]) == (
        "cancelled",
        "cancelled",
        10,
    )
    again = owner_client.post(f"/api/jobs/{job.pk}/cancel")
    assert (again.status_code, again.json()["code"]) == (409, "job_finished")
    assert get_balance(owner) == 10


def test_staff_cancel_it_from_the_admin(owner, staff) -> None:
    job = retired_job(owner)
    admin = Client()
    admin.force_login(staff)
    response = admin.post(
        "/admin/generation/job/",
        {"action": "cancel_jobs", "_selected_action": [job.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Cancelled 1 job." in response.content.decode()
    assert Job.objects.get(pk=job.pk).status == "cancelled"
    assert get_balance(owner) == 10


def test_fail_stale_jobs_ends_it_and_the_jobs_after_it(owner, other) -> None:
    retired = retired_job(owner)
    later: Any = JobFactory(user=other, units=1, charged=True)
    assert get_balance(other) == 9
    hours_ago = timezone.now() - dt.timedelta(hours=7)
    Job.objects.filter(pk=retired.pk).update(created_at=hours_ago)
    Job.objects.filter(pk=later.pk).update(created_at=hours_ago + dt.timedelta(minutes=1))
    out = StringIO()
    call_command("fail_stale_jobs", "--commit", stdout=out)
    assert out.getvalue().strip() == "2 job(s) failed and refunded"
    assert set(Job.objects.values_list("status", "error_code")) == {("failed", "stale")}
    assert (get_balance(owner), get_balance(other)) == (10, 10)


def test_a_fault_discarding_an_ended_jobs_files_is_logged_not_raised(
    owner, monkeypatch, django_capture_on_commit_callbacks, caplog
) -> None:
    """The discards run after the refund committed: raised there, they answered the cancel with a
    500 and skipped the final state's publication."""
    job: Any = JobFactory(user=owner, units=2, charged=True)  # a registered type's
    generate = get_job_type(job.type)

    def storage_down(*args: Any) -> None:
        raise OSError("storage unreachable")

    monkeypatch.setattr(generate, "discard", storage_down)
    monkeypatch.setattr(generate, "discard_unit", storage_down)
    published: list[str] = []
    monkeypatch.setattr(
        "generation.services.publish_job", lambda job, **_: published.append(job.status)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert cancel_job(job).status == "cancelled"
    assert published == ["cancelled"]
    assert "could not discard unit 0's files" in caplog.text
    assert "could not discard its inputs" in caplog.text
    assert get_balance(owner) == 10
