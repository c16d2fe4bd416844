"""Ops management commands: dry run by default, idempotent with --commit."""

from __future__ import annotations

import datetime as dt
import io
import logging
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from billing.services import get_balance
from generation.models import Job, JobUnit
from studio.models import Thumbnail
from tests.conftest import make_user, set_plan
from tests.factories.studio import ThumbnailFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_fail_stale_jobs_refunds_unfinished_units(owner, owner_client, submit) -> None:
    set_plan(owner, "pro")
    job_id = submit(owner_client, {"title": "Stuck", "variations": 3}).json()["id"]
    assert get_balance(owner) == 7
    # A worker delivered unit 0, then died: its lease lapsed an hour ago.
    JobUnit.objects.filter(job_id=job_id, index=0).update(status="delivered")
    Job.objects.filter(pk=job_id).update(
        status="running", lease_expires_at=timezone.now() - dt.timedelta(hours=1)
    )
    assert "1 job(s) stale" in run("fail_stale_jobs")
    assert Job.objects.get(pk=job_id).status == "running"  # dry run changed nothing
    assert "1 job(s) failed and refunded" in run("fail_stale_jobs", "--commit")
    job = Job.objects.get(pk=job_id)
    assert (job.status, job.error_code) == ("partially_succeeded", "stale")
    assert get_balance(owner) == 9  # two unfinished units refunded
    assert "0 job(s)" in run("fail_stale_jobs", "--commit")
    assert get_balance(owner) == 9


def test_grant_monthly_credits_reports_its_result_once(
    owner: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Its count went to stdout and, through billing.services' INFO log line, to stderr too:
    cron mailed it twice. Now stdout only."""
    from billing.models import Subscription

    past = timezone.now() - dt.timedelta(hours=1)
    Subscription.objects.filter(user=owner).update(current_period_end=past)
    with caplog.at_level(logging.DEBUG):
        assert run("grant_monthly_credits") == "1 monthly grant(s) due (dry run; pass --commit)\n"
        assert run("grant_monthly_credits", "--commit") == "1 monthly grant(s) granted\n"
    assert [r.getMessage() for r in caplog.records if "grant" in r.getMessage()] == []
    assert get_balance(owner) == 10  # the Free plan's grant, the old period's 10 expired


def test_fail_stale_jobs_leaves_a_job_a_worker_claimed_after_the_scan(
    owner, owner_client, submit, monkeypatch
) -> None:
    from generation.management.commands import fail_stale_jobs
    from generation.registry import UnitFailure
    from generation.services import claim_job, refund_units

    set_plan(owner, "pro")
    job_id = submit(owner_client, {"title": "Taken back", "variations": 2}).json()["id"]
    Job.objects.filter(pk=job_id).update(
        status="running",
        lease_owner="dead-worker",
        lease_expires_at=timezone.now() - dt.timedelta(hours=1),
    )
    outcome = fail_stale_jobs.stale_outcome

    def claimed_meanwhile(job: Job, code: str, message: str) -> Any:
        assert claim_job(str(job.pk), "live-worker")  # between the scan and the finish
        return outcome(job, code, message)

    monkeypatch.setattr(fail_stale_jobs, "stale_outcome", claimed_meanwhile)
    assert "0 job(s) failed and refunded" in run("fail_stale_jobs", "--commit")
    job = Job.objects.get(pk=job_id)
    assert (job.status, job.lease_owner) == ("running", "live-worker")
    assert get_balance(owner) == 8  # nothing refunded: the live worker is making both

    # Cancelled by the creator between the scan and the lock: not counted as failed here.
    def cancelled_meanwhile(job: Job, code: str, message: str) -> Any:
        from generation.services import cancel_job

        cancel_job(Job.objects.get(pk=job.pk))
        return outcome(job, code, message)

    other = submit(owner_client, {"title": "Cancelled meanwhile"}).json()["id"]
    Job.objects.filter(pk=other).update(
        status="running", lease_expires_at=timezone.now() - dt.timedelta(hours=1)
    )
    monkeypatch.setattr(fail_stale_jobs, "stale_outcome", cancelled_meanwhile)
    assert "0 job(s) failed and refunded" in run("fail_stale_jobs", "--commit")
    assert Job.objects.get(pk=other).status == "cancelled"

    # The dead worker wakes up and, before noticing, refunds a unit: refused, as the lease says.
    stale = Job.objects.get(pk=job_id)
    assert (
        refund_units(stale, [UnitFailure(0, "rate_limited", "x")], lease_owner="dead-worker") == []
    )
    assert not JobUnit.objects.filter(job_id=job_id, status="failed").exists()
    assert get_balance(owner) == 8


def test_recent_running_job_is_left_alone(owner, owner_client, submit) -> None:
    job_id = submit(owner_client, {"title": "Fresh"}).json()["id"]
    Job.objects.filter(pk=job_id).update(
        status="running",
        created_at=timezone.now() - dt.timedelta(days=1),  # old, but its lease is fresh
        lease_expires_at=timezone.now() + dt.timedelta(seconds=30),
    )
    assert "0 job(s)" in run("fail_stale_jobs", "--commit")


def test_purge_expired_thumbnails(owner, django_capture_on_commit_callbacks) -> None:
    # Both kept for the Free plan's 30 days; "Old" is past it.
    new: Any = ThumbnailFactory(
        owner=owner, title="New", stored=True, expires_at=timezone.now() + dt.timedelta(days=30)
    )
    old: Any = ThumbnailFactory(
        owner=owner, title="Old", stored=True, expires_at=timezone.now() - dt.timedelta(days=1)
    )
    assert "1 expired thumbnail(s) (dry run" in run("purge_expired_thumbnails")
    with django_capture_on_commit_callbacks(execute=True):
        assert "1 expired thumbnail(s) deleted" in run("purge_expired_thumbnails", "--commit")
    assert list(Thumbnail.objects.values_list("title", flat=True)) == ["New"]
    assert not old.image.storage.exists(old.image.name)
    assert new.image.storage.exists(new.image.name)


def test_purge_spares_a_creator_now_on_a_plan_that_keeps_thumbnails(owner) -> None:
    """A thumbnail made on Free keeps its expiry in the row until the subscription is saved
    again (studio.retention): a creator who is Pro now, in good standing, never loses it, while
    one whose Pro payment is due does (Free's limits apply meanwhile)."""
    from billing.models import Plan, Subscription

    ThumbnailFactory(owner=owner, expires_at=timezone.now() - dt.timedelta(days=1))
    pro = Plan.objects.get(slug="pro")
    Subscription.objects.filter(user=owner).update(plan=pro)  # no save(): no receiver ran
    assert "0 expired thumbnail(s) (dry run" in run("purge_expired_thumbnails")
    Subscription.objects.filter(user=owner).update(status="past_due")
    assert "1 expired thumbnail(s) (dry run" in run("purge_expired_thumbnails")


def test_the_migration_clears_the_expiry_of_paid_creators_thumbnails(owner, other) -> None:
    """studio 0014: the rows from before studio.retention lose the expiry they got on Free
    when their owner is in good standing on a plan that keeps thumbnails (not a Free one's)."""
    import importlib

    from django.apps import apps

    from billing.models import Plan, Subscription

    when = timezone.now() + dt.timedelta(days=3)
    paid: Any = ThumbnailFactory(owner=owner, expires_at=when)
    free: Any = ThumbnailFactory(owner=other, expires_at=when)
    Subscription.objects.filter(user=owner).update(plan=Plan.objects.get(slug="pro"))
    migration = importlib.import_module("studio.migrations.0014_keep_paid_creators_thumbnails")
    migration.keep_paid_creators_thumbnails(apps, None)
    paid.refresh_from_db()
    free.refresh_from_db()
    assert paid.expires_at is None and free.expires_at == when


def test_seed_demo_gives_the_demo_creator_a_plan_face_projects_and_gallery(settings) -> None:
    from django.contrib.auth import get_user_model

    from billing.services import effective_plan
    from studio.models import Face, Project, Style

    settings.LOCAL_DEV = True  # a local run (tests/test_safe_defaults.py: refused otherwise)
    out = run("seed_demo", "--allow-database-url")
    assert "creator demo@viewbait.local (created)" in out
    demo = get_user_model().objects.get(email="demo@viewbait.local")
    assert effective_plan(demo).slug == "pro"  # every tool can be shown
    assert Face.objects.filter(owner=demo).count() == 1
    assert Project.objects.filter(owner=demo).count() == 3
    assert Project.objects.filter(owner=demo, share_mode="all").count() == 1  # a share link
    thumbnails = Thumbnail.objects.filter(owner=demo)
    assert thumbnails.count() == 8
    assert {t.aspect_ratio for t in thumbnails} == {"16:9", "9:16", "1:1", "4:3"}
    assert len({t.style_id for t in thumbnails}) == 7  # every built-in style
    assert not Style.objects.filter(owner=None, preview="").exists()  # the library's previews
    balance = get_balance(demo)
    # The plan's 700 monthly credits, less the eight demo pictures (1 credit each).
    assert balance == effective_plan(demo).monthly_credits - 8
    run("seed_demo", "--allow-database-url")  # idempotent: nothing more is made or charged
    assert Thumbnail.objects.filter(owner=demo).count() == 8
    assert get_balance(demo) == balance


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--queued-hours", "0"), "would fail every queued job"),
        (("--queued-hours", "0", "--allow-recent"), "would fail every queued job"),
        (("--queued-hours", "0.25"), "under 1 hour.*--allow-recent"),
    ],
)
def test_fail_stale_jobs_refuses_a_queued_age_that_takes_jobs_just_sent(
    args: tuple[str, ...], message: str, owner: Any, owner_client: Any, submit: Any
) -> None:
    """--queued-hours 0 was accepted and failed and refunded every queued job, one sent a
    second ago included; a fraction of an hour takes jobs that are only waiting for a worker
    or a provider's retry, so it needs --allow-recent. Nothing changes on a refusal."""
    job_id = submit(owner_client, {"title": "Just sent"}).json()["id"]
    assert Job.objects.get(pk=job_id).status == "queued"
    balance = get_balance(owner)
    with pytest.raises(CommandError, match=message):
        run("fail_stale_jobs", "--commit", *args)
    assert Job.objects.get(pk=job_id).status == "queued"
    assert get_balance(owner) == balance


def test_fail_stale_jobs_takes_recent_queued_jobs_only_when_allowed(
    settings: Any, owner: Any, owner_client: Any, submit: Any
) -> None:
    job_id = submit(owner_client, {"title": "Queued a while"}).json()["id"]
    Job.objects.filter(pk=job_id).update(created_at=timezone.now() - dt.timedelta(minutes=20))
    assert "0 job(s)" in run("fail_stale_jobs", "--commit", "--queued-hours", "1")
    settings.JOB_MAX_WAIT_SECONDS = 3 * 3600  # a provider's retry may keep it queued 3 h
    with pytest.raises(CommandError, match="under 3 hour"):
        run("fail_stale_jobs", "--commit", "--queued-hours", "2")
    out = run("fail_stale_jobs", "--commit", "--queued-hours", "0.25", "--allow-recent")
    assert "1 job(s) failed and refunded" in out
    assert Job.objects.get(pk=job_id).error_code == "stale"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("adjust_credits", "ops@example.com", "3000000000", "--reason", "typo"), "outside"),
        (("adjust_credits", "ops@example.com", "5", "--reason", "x", "--key", "k" * 186), "185"),
        (("purge_job_history", "--days", "100000000"), "outside"),
        (("purge_job_history", "--batch-size", "0"), "outside"),
        (("purge_expired_thumbnails", "--commit", "--batch", "-1"), "outside"),
        (("fail_stale_jobs", "--commit", "--grace-seconds", "-3600"), "outside"),
        (("fail_stale_jobs", "--queued-hours", "nan"), "outside"),
        (("fail_stale_jobs", "--grace-seconds", "ten"), "not an integer"),
    ],
)
def test_commands_refuse_numbers_out_of_range_and_change_nothing(
    args: tuple[str, ...], message: str, owner: Any, owner_client: Any, submit: Any
) -> None:
    """A CommandError naming the bound, not a database or datetime traceback; a negative grace
    would have failed (and refunded) a job whose worker still holds its lease."""
    make_user("ops@example.com")
    job_id = submit(owner_client, {"title": "Healthy"}).json()["id"]
    lease = timezone.now() + dt.timedelta(minutes=5)
    Job.objects.filter(pk=job_id).update(status="running", lease_expires_at=lease)
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert Job.objects.get(pk=job_id).status == "running"


@pytest.mark.parametrize(
    "args",
    [
        ("adjust_credits", "Demo@viewbait.local", "5", "--reason", "goodwill"),
        ("seed_gallery", "--email", "Demo@viewbait.local", "--count", "1", "--quiet"),
    ],
)
def test_commands_refuse_an_email_two_accounts_have(args: tuple[str, ...], settings: Any) -> None:
    """Two accounts with one email, case aside (saved before the admin refused it): the command
    picked the first silently; now it names both and changes nothing."""
    settings.LOCAL_DEV = True  # seed_gallery's, else refused (tests/test_safe_defaults.py)
    first, second = make_user("demo@viewbait.local"), make_user("DEMO@viewbait.local")
    balances = get_balance(first), get_balance(second)
    with pytest.raises(CommandError, match=f"user ids {first.pk}, {second.pk}"):
        run(*args)
    assert (get_balance(first), get_balance(second)) == balances
    assert not Thumbnail.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--email", "notanemail", "--count", "1"), "'notanemail' is not an email address"),
        (("--email", "a@example.com", "--count", "500001"), "at most 500,000"),
        (("--email", "a@example.com", "--count", "0"), "at least 1"),
        (("--email", "a@example.com", "--count", "1", "--images", "65"), "at most 64"),
    ],
)
def test_seed_gallery_refuses_a_bad_email_and_counts_past_its_caps(
    args: tuple[str, ...], message: str, settings: Any
) -> None:
    """A CommandError before anything is drawn or made: no account, no thumbnails."""
    settings.LOCAL_DEV = True  # a local run (tests/test_safe_defaults.py: refused otherwise)
    with pytest.raises(CommandError, match=message):
        run("seed_gallery", *args, "--quiet")
    assert not get_user_model().objects.filter(email__in=["notanemail", "a@example.com"]).exists()
    assert not Thumbnail.objects.exists()


def test_every_model_change_has_its_migration() -> None:
    """`makemigrations --check` finds nothing to write: a model field changed without its
    migration would reach production databases only as errors."""
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_purge_orphan_files_deletes_old_files_nothing_names(owner, monkeypatch) -> None:
    """A file whose delete failed (storage down) or never ran (a crash after the commit) stayed
    for good. purge_orphan_files deletes, with --commit, a stored file older than the cutoff that
    no row and no job that may still read it names; a young one (an upload or job being
    written), a queued job's kept inputs, a job's whose type keeps them, a heatmap a job's result
    names and seed/ stay."""
    import os
    import time

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from tests.factories.generation import JobFactory
    from tests.factories.studio import uploaded_face_and_style

    def stored(name: str, *, hours_old: float = 48) -> str:
        name = default_storage.save(name, ContentFile(b"x" * 100))
        age(name, hours_old)
        return name

    def age(name: str, hours_old: float) -> None:
        then = time.time() - hours_old * 3600
        os.utime(default_storage.path(name), (then, then))

    thumbnail: Any = ThumbnailFactory(owner=owner, stored=True)
    face, style = uploaded_face_and_style(owner)
    rows = [
        *(getattr(thumbnail, f).name for f in ("image", "image_small", "image_medium", "download")),
        face.images.get().image.name,
        style.reference_images.get().image.name,
        style.preview.name,
    ]
    for name in rows:
        age(name, 48)
    queued_inputs = [stored("edits/queued-ref.png"), stored("faces/deleted-face.jpg")]
    JobFactory(
        user=owner,
        type="edit_thumbnail",
        params={"stored": [queued_inputs[0]], "faces": [{"images": [queued_inputs[1]]}]},
    )
    kept_analysis = stored("analysis/kept.png")  # analyse_style keeps its inputs (retain_inputs)
    JobFactory(
        user=owner,
        type="analyse_style",
        status="succeeded",
        params={"images": [{"name": kept_analysis, "uploaded": True}]},
    )
    undiscarded = stored("edits/ended.png")  # a finished edit whose discard failed
    JobFactory(
        user=owner, type="edit_thumbnail", status="succeeded", params={"stored": [undiscarded]}
    )
    stray = stored("faces/stray.jpg")
    young = stored("edits/young.png", hours_old=2)
    # thumbnail_check's heatmaps: kept while a job's result names one (as stored, or by the
    # /media/ URL results kept before private media); the others are orphans.
    heatmaps = [stored(f"checks/{n}.png") for n in ("named", "legacy", "unnamed")]
    for result in ({"heatmap_name": heatmaps[0]}, {"heatmap_url": f"/media/{heatmaps[1]}?s=1"}):
        JobFactory(user=owner, type="thumbnail_check", status="succeeded", result=result)
    shared = stored("seed/shared.png")
    orphans = {undiscarded, stray, heatmaps[2]}
    kept = [*rows, *queued_inputs, kept_analysis, young, shared, *heatmaps[:2]]

    dry = run("purge_orphan_files")
    assert "3 orphan file(s), 300 bytes, would be deleted (dry run" in dry
    assert {line.split()[1] for line in dry.splitlines() if "  orphan " in line} == orphans
    assert all(default_storage.exists(name) for name in [*orphans, *kept])

    out = run("purge_orphan_files", "--commit")
    assert "3 orphan file(s) deleted, 300 bytes freed" in out
    assert not any(default_storage.exists(name) for name in orphans)
    assert all(default_storage.exists(name) for name in kept)

    # The cutoff is the caller's: 1 hour takes the 2-hour-old stray too.
    run("purge_orphan_files", "--commit", "--older-than-hours", "1")
    assert not default_storage.exists(young)
    assert all(default_storage.exists(name) for name in kept if name != young)


def test_purge_orphan_files_keeps_a_heatmap_a_check_named_during_its_walk(
    owner, monkeypatch
) -> None:
    """A check that finishes while the purge walks the storage may name an old heatmap (reused,
    not rewritten: its time is old) that the purge read as unnamed; the results of jobs
    finished since the walk began are read again before anything is deleted (review)."""
    import os
    import time

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from studio.management.commands import purge_orphan_files
    from tests.factories.generation import JobFactory

    name = default_storage.save("checks/reused.png", ContentFile(b"h" * 10))
    then = time.time() - 48 * 3600
    os.utime(default_storage.path(name), (then, then))
    walk = purge_orphan_files.stored_names
    checked = []

    def walking_while_a_check_finishes(storage: Any, path: str = "") -> Any:
        if not checked:
            checked.append(
                JobFactory(
                    user=owner,
                    type="thumbnail_check",
                    status="succeeded",
                    result={"heatmap_name": name, "notes": ["a sentence, not a name"]},
                    finished_at=timezone.now(),
                )
            )
        yield from walk(storage, path)

    monkeypatch.setattr(purge_orphan_files, "stored_names", walking_while_a_check_finishes)
    run("purge_orphan_files", "--commit")
    assert default_storage.exists(name)
    assert purge_orphan_files.names_in_job_results() == {name}  # the note is no name


def test_purge_orphan_files_walks_and_deletes_on_s3(owner, monkeypatch) -> None:
    """The same walk on django-storages' S3 backend (moto's in-process S3): nested prefixes
    listed through listdir, ages from the objects' LastModified, a referenced object kept."""
    import boto3
    from django.core.files.base import ContentFile
    from moto import mock_aws
    from storages.backends.s3 import S3Storage

    from studio.management.commands import purge_orphan_files
    from studio.models import Face, FaceImage

    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="media")
        s3 = S3Storage(bucket_name="media", region_name="us-east-1", location="vb")
        monkeypatch.setattr(purge_orphan_files, "default_storage", s3)
        photo = s3.save("faces/kept.jpg", ContentFile(b"k" * 10))
        face = Face.objects.create(owner=owner, name="S3")
        FaceImage.objects.create(face=face, image=photo, width=1, height=1)
        stray = s3.save("thumbnails/full/stray.png", ContentFile(b"s" * 30))
        assert sorted(purge_orphan_files.stored_names(s3)) == [photo, stray]

        # Just written: younger than the default 24 hours, so kept.
        assert "1 unreferenced file(s) younger than the cutoff kept" in run("purge_orphan_files")
        later = timezone.now() + dt.timedelta(hours=25)
        monkeypatch.setattr(purge_orphan_files.timezone, "now", lambda: later)
        out = run("purge_orphan_files", "--commit")
        assert "1 orphan file(s) deleted, 30 bytes freed" in out
        assert s3.exists(photo)
        assert not s3.exists(stray)
