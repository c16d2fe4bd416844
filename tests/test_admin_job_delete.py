"""Finished jobs deleted in the admin (one from its page, or "Delete selected"): a job type that
keeps its inputs with the job (`retain_inputs`: an analysis' uploads, kept so it can still be
saved as a style) has them deleted once the delete commits, as `purge_job_history` deletes
them (`generation.services.discard_retained_inputs_on_commit`); left, nothing named them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from generation.models import Job
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def finished_analysis(owner: Any) -> tuple[Job, str]:
    """A succeeded `analyse_style` job with one upload it keeps; the upload's stored name."""
    name = default_storage.save(f"analysis/{uuid.uuid4().hex}.png", ContentFile(b"png"))
    job = Job.objects.create(
        user=owner,
        type="analyse_style",
        status=Job.Status.SUCCEEDED,
        params={
            "images": [{"sha256": "0" * 64, "thumbnail_id": None, "name": name, "uploaded": True}]
        },
    )
    return job, name


def test_deleting_a_finished_analysis_from_its_page_deletes_its_kept_upload(
    admin_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    owner = make_user("analyst@example.com")
    job, name = finished_analysis(owner)
    _, kept = finished_analysis(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/generation/job/{job.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Job.objects.filter(pk=job.pk).exists()
    assert not default_storage.exists(name)
    assert default_storage.exists(kept)  # another job's, not deleted


def test_deleting_selected_finished_analyses_deletes_their_kept_uploads(
    admin_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    owner = make_user("analyst@example.com")
    (first, one), (second, two) = finished_analysis(owner), finished_analysis(owner)
    _, kept = finished_analysis(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/generation/job/",
            {
                "action": "delete_selected",
                "_selected_action": [str(first.pk), str(second.pk)],
                "post": "yes",
            },
        )
    assert response.status_code == 302
    assert not Job.objects.filter(pk__in=[first.pk, second.pk]).exists()
    assert not default_storage.exists(one) and not default_storage.exists(two)
    assert default_storage.exists(kept)
