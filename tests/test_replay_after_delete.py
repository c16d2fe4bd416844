"""An idempotent retry is the original job even when an input it names was deleted since: the
first request was accepted and charged, so the same key and body answer that job (nothing
charged again), not a 404; the same key with another body stays a 409."""

from __future__ import annotations

from typing import Any

import pytest

from billing.models import CreditLedgerEntry
from billing.services import get_balance
from generation.models import Job
from studio import services
from studio.models import Face, Palette, Style, Thumbnail
from tests.conftest import set_plan
from tests.factories.studio import ThumbnailFactory, uploaded_face_and_style

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def inputs(owner: Any) -> tuple[Face, Style, Palette]:
    set_plan(owner, "pro")  # custom styles and palettes
    face, style = uploaded_face_and_style(owner)
    palette = services.do_create_palette(
        owner=owner, name="Mine", colors=["#112233", "#445566"], is_public=False
    )
    return face, style, palette


def generate_body(face: Face, style: Style, palette: Palette, **overrides: Any) -> dict[str, Any]:
    return {
        "title": "Replay me",
        "style_id": style.pk,
        "palette_id": palette.pk,
        "face_ids": [face.pk],
        **overrides,
    }


def debits(owner: Any) -> int:
    return CreditLedgerEntry.objects.filter(user=owner, kind="debit").count()


@pytest.mark.parametrize("deleted", ["face", "style", "palette"])
def test_an_api_retry_after_its_input_was_deleted_is_the_original_job(
    owner: Any, owner_client: Any, submit: Any, inputs: tuple[Face, Style, Palette], deleted: str
) -> None:
    face, style, palette = inputs
    body = generate_body(face, style, palette)
    first = submit(owner_client, body, key="replay-1")
    assert first.status_code == 202, first.content
    balance = get_balance(owner)
    if deleted == "face":
        services.do_delete_face(face=face)
    elif deleted == "style":
        services.do_delete_style(style=style)
    else:
        services.do_delete_palette(palette=palette)

    again = submit(owner_client, body, key="replay-1")

    assert again.status_code == 202, again.content
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["credits_remaining"] == balance
    assert get_balance(owner) == balance
    assert Job.objects.filter(user=owner).count() == 1
    assert debits(owner) == 1
    # Another body under the key is still refused, deleted input or not.
    other = submit(owner_client, {**body, "title": "Another title"}, key="replay-1")
    assert other.status_code == 409, other.content
    assert other.json()["code"] == "idempotency_key_reused"
    assert get_balance(owner) == balance


def test_a_retry_of_another_body_that_still_validates_is_the_job_when_the_same(
    owner: Any, owner_client: Any, submit: Any, inputs: tuple[Face, Style, Palette]
) -> None:
    """Sent otherwise (a number as text, spaces the schema strips), but the same input once
    validated: still the job, as before."""
    face, style, palette = inputs
    first = submit(owner_client, generate_body(face, style, palette), key="replay-2")
    again = submit(
        owner_client,
        generate_body(face, style, palette, variations="1", title=" Replay me "),
        key="replay-2",
    )
    assert again.status_code == 202, again.content
    assert again.json()["id"] == first.json()["id"]
    assert debits(owner) == 1


def test_a_jobs_api_retry_after_its_thumbnail_was_deleted_is_the_original_job(
    owner: Any, owner_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    set_plan(owner, "pro")
    thumbnail: Any = ThumbnailFactory(owner=owner, stored=True)
    other_thumbnail: Any = ThumbnailFactory(owner=owner, stored=True)

    def edit(thumbnail_id: int, title: str = "A new title") -> Any:
        body = {"thumbnail_id": thumbnail_id, "changes": {"title": title}}
        with django_capture_on_commit_callbacks(execute=True):
            return owner_client.post_json(
                "/api/jobs",
                {"type": "edit_thumbnail", "input": body},
                HTTP_IDEMPOTENCY_KEY="edit-1",
            )

    first = edit(thumbnail.pk)
    assert first.status_code == 202, first.content
    assert first.json()["cost"] == 2
    balance = get_balance(owner)
    services.do_delete_thumbnail(thumbnail=Thumbnail.objects.get(pk=thumbnail.pk))

    again = edit(thumbnail.pk)

    assert again.status_code == 202, again.content
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert get_balance(owner) == balance
    assert Job.objects.filter(user=owner).count() == 1
    assert edit(thumbnail.pk, "Another title").json()["code"] == "idempotency_key_reused"
    assert edit(other_thumbnail.pk).json()["code"] == "idempotency_key_reused"
    assert get_balance(owner) == balance


def test_a_studio_form_retry_after_its_style_was_deleted_is_the_original_job(
    owner: Any, owner_client: Any, inputs: tuple[Face, Style, Palette]
) -> None:
    face, style, palette = inputs
    form = {
        "idempotency_key": "f" * 32,
        "title": "Replay me",
        "instructions": "",
        "style_id": str(style.pk),
        "palette_id": str(palette.pk),
        "face_ids": [str(face.pk)],
        "aspect_ratio": "16:9",
        "resolution": "1K",
        "variations": "1",
    }
    first = owner_client.post("/studio/generate", form, **HTMX)
    assert first.status_code == 202, first.content
    job = Job.objects.get(user=owner)
    balance = get_balance(owner)
    services.do_delete_style(style=style)

    again = owner_client.post("/studio/generate", form, **HTMX)

    assert again.status_code == 202, again.content.decode()
    assert again.headers["HX-Reswap"] == "none"  # the replay adds no second card
    assert f">{balance} credits</a>" in again.content.decode()
    assert list(Job.objects.filter(user=owner)) == [job]
    assert get_balance(owner) == balance
    other = owner_client.post("/studio/generate", {**form, "title": "Another"}, **HTMX)
    assert other.status_code == 409
    assert "already sent with other values" in other.content.decode()
    assert Job.objects.filter(user=owner).count() == 1
