"""`manage.py purge_job_history`: old events and old finished jobs go, in batches; unfinished and
recent jobs, the credit ledger and thumbnails stay. Dry run by default."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from billing.models import CreditLedgerEntry
from generation.management.commands import purge_job_history
from generation.models import Job, JobEvent, JobUnit
from studio.models import Thumbnail
from tests.conftest import set_plan
from tests.factories.generation import JobFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("purge_job_history", *args, stdout=out)
    return out.getvalue()


def ago(days: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


def age(job_id: str, *, created: float, finished: float | None) -> None:
    """Moves the job (and its events) back in time: created `created` days ago, finished
    `finished` days ago (None: leave it unfinished)."""
    Job.objects.filter(pk=job_id).update(
        created_at=ago(created), finished_at=ago(finished) if finished is not None else None
    )
    JobEvent.objects.filter(job_id=job_id).update(created_at=ago(created))


def snapshot() -> dict[str, Any]:
    return {
        "jobs": set(Job.objects.values_list("pk", flat=True)),
        "units": JobUnit.objects.count(),
        "events": JobEvent.objects.count(),
        "ledger": list(CreditLedgerEntry.objects.values_list("pk", "reference", "amount")),
        "thumbnails": list(Thumbnail.objects.values_list("pk", "job_id").order_by("pk")),
    }


@pytest.fixture
def history(owner) -> dict[str, str]:
    """Jobs of every kind, aged, each with its units, events and ledger rows as a worker run
    leaves them (tests.factories.generation). Retention is 90 days (the default)."""
    set_plan(owner, "pro")

    def job(name: str, status: str, **fields: Any) -> str:
        made: Any = JobFactory(
            user=owner, title=f"History {name}", units=2, status=status, charged=True, **fields
        )
        return str(made.pk)

    # These three succeeded, with thumbnails; old_failed failed, both units refunded.
    ids = {
        name: job(name, "succeeded", thumbnails=True)
        for name in ("old_ok", "recent_ok", "late_finish")
    }
    ids["old_failed"] = job("old_failed", "failed")
    ids["old_queued"] = job("old_queued", "queued")  # never runs
    age(ids["old_ok"], created=200, finished=200)
    age(ids["old_failed"], created=120, finished=120)
    age(ids["old_queued"], created=150, finished=None)
    age(ids["recent_ok"], created=10, finished=10)
    age(ids["late_finish"], created=100, finished=30)  # created long ago, finished recently
    # The old queued job also has one recent event.
    JobEvent.objects.create(job_id=ids["old_queued"], stage="queued", message="still here")
    return ids


def test_dry_run_changes_nothing(history: dict[str, str]) -> None:
    before = snapshot()
    output = run()
    assert "(90 days)" in output
    # old_ok and old_failed, and the old queued job's old events.
    assert "2 finished job(s) would be deleted (with 4 unit(s)" in output
    assert "linked row(s) kept and unlinked" in output
    assert "dry run: nothing deleted" in output
    assert snapshot() == before


def test_commit_deletes_only_old_finished_jobs_and_old_events(history: dict[str, str]) -> None:
    ledger_before = list(CreditLedgerEntry.objects.values_list("pk", "reference", "amount"))
    old_ok_thumbnails = set(
        Thumbnail.objects.filter(job_id=history["old_ok"]).values_list("pk", flat=True)
    )
    assert len(old_ok_thumbnails) == 2
    kept_jobs = {history["recent_ok"], history["late_finish"], history["old_queued"]}
    recent_events = JobEvent.objects.filter(job_id=history["recent_ok"]).count()
    assert recent_events >= 3  # queued, running, succeeded

    output = run("--commit", "--batch-size", "1")  # one row per batch: many batches

    assert "2 finished job(s) deleted (with 4 unit(s)" in output
    assert "2 linked row(s) kept and unlinked" in output
    assert {str(pk) for pk in Job.objects.values_list("pk", flat=True)} == kept_jobs
    # The ledger is untouched and still names the deleted jobs.
    assert list(CreditLedgerEntry.objects.values_list("pk", "reference", "amount")) == (
        ledger_before
    )
    references = set(CreditLedgerEntry.objects.values_list("reference", flat=True))
    assert {f"job:{history['old_ok']}", f"job:{history['old_failed']}"} <= references
    assert (
        CreditLedgerEntry.objects.filter(
            reference=f"job:{history['old_failed']}", kind="refund"
        ).count()
        == 2
    )
    # The thumbnails stay, unlinked.
    for thumbnail in Thumbnail.objects.filter(pk__in=old_ok_thumbnails):
        assert thumbnail.job_id is None
        assert thumbnail.image.storage.exists(thumbnail.image.name)
    # Events go by their own age: the recent job keeps its events; the job created 100 days ago
    # (finished 30 days ago) stays but loses its 100-day-old events; the old unfinished job
    # keeps only its recent one.
    assert JobEvent.objects.filter(job_id=history["recent_ok"]).count() == recent_events
    assert not JobEvent.objects.filter(job_id=history["late_finish"]).exists()
    assert list(
        JobEvent.objects.filter(job_id=history["old_queued"]).values_list("message", flat=True)
    ) == ["still here"]
    assert JobUnit.objects.filter(job_id=history["old_queued"]).count() == 2
    assert not JobEvent.objects.filter(created_at__lt=ago(90)).exists()

    again = run("--commit")
    assert "0 job event(s)" in again and "0 finished job(s) deleted" in again


def test_days_defaults_to_the_setting_and_can_be_given(history: dict[str, str], settings) -> None:
    settings.JOB_HISTORY_RETENTION_DAYS = 20
    output = run()
    assert "(20 days)" in output
    assert "3 finished job(s) would be deleted" in output  # late_finish (30 days) too
    assert "(5 days)" in run("--days", "5")
    with pytest.raises(CommandError):
        run("--days", "0")


def test_refuses_when_deleting_jobs_would_delete_other_rows(monkeypatch) -> None:
    """A relation to Job that cascades (here: pretend JobEvent is not the job's own) stops it."""
    monkeypatch.setattr(purge_job_history, "OWNED_BY_JOB", (JobUnit,))
    with pytest.raises(CommandError, match=r"JobEvent\.job is CASCADE"):
        run("--commit")
